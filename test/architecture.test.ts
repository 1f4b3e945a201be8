// The layer rules and the formatter bite. Each case copies src/ into a
// scratch tree, makes one edit, and runs the same commands `npm run lint`
// runs (read from package.json), through the real dependency-cruiser and
// Biome binaries. The map in docs/architecture.md must name the same layers
// and folders, in the same order, as the rule set.

import { execFile } from 'node:child_process'
import { appendFile, cp, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { root, type TapTest, tempDir } from './helpers/server.ts'

const run = promisify(execFile)

/** What .dependency-cruiser.mjs exports besides its configuration. */
interface LayerTable {
  layers: { layer: string; folders: string[] }[]
  apart: { from: string[]; to: string; why: string }[]
}
const { layers, apart } = (await import(pathToFileURL(join(root, '.dependency-cruiser.mjs')).href)) as LayerTable

interface Ran {
  code: number
  output: string
  /** The output with every run of white space as one space: reporters wrap long lines. */
  flat: string
}

/** The `lint` script's command that starts with `tool`, split into its words. */
async function lintCommand(tool: string): Promise<string[]> {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  const found = pkg.scripts.lint
    ?.split('&&')
    .map((c) => c.trim().split(/\s+/))
    .find((words) => words[0] === tool)
  if (found === undefined) throw new Error(`npm run lint does not run ${tool}`)
  return found
}

async function runIn(dir: string, command: string[]): Promise<Ran> {
  const [tool = '', ...args] = command
  try {
    const { stdout, stderr } = await run(join(root, 'node_modules/.bin', tool), args, { cwd: dir, env: { ...process.env, NO_COLOR: '1' } })
    return { code: 0, output: stdout + stderr, flat: (stdout + stderr).replace(/\s+/g, ' ') }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    const output = `${e.stdout ?? ''}${e.stderr ?? ''}`
    return { code: typeof e.code === 'number' ? e.code : -1, output, flat: output.replace(/\s+/g, ' ') }
  }
}

/** A copy of src/ with the configuration the lint commands read, and the project's node_modules. */
async function scratchTree(t: TapTest): Promise<string> {
  const dir = await tempDir(t, 'stepsplice-layers-')
  await cp(join(root, 'src'), join(dir, 'src'), { recursive: true })
  for (const file of ['package.json', '.dependency-cruiser.mjs', 'biome.jsonc', 'tsconfig.json']) await cp(join(root, file), join(dir, file))
  await symlink(join(root, 'node_modules'), join(dir, 'node_modules'))
  return dir
}

const depcruise = await lintCommand('depcruise')

async function cruise(t: TapTest, edit: (dir: string) => Promise<void>): Promise<Ran> {
  const dir = await scratchTree(t)
  await edit(dir)
  return runIn(dir, depcruise)
}

const importLine = (what: string, from: string): string => `\nimport ${what} from '${from}'\nexport const scratch = [${what.replace(/[{}]/g, '')}]\n`

// One run of the lint over a scratch copy of src/ (a cruise parses every file; `make lint` already cruises the
// tree as committed): an import pointing down that must pass, beside every kind of violation, each of which must be named.
t.test('every kind of violation is rejected, each naming the file and the rule; an import pointing down is not', async (t) => {
  const result = await cruise(t, async (dir) => {
    // Pointing down (and apart from the cycle below): allowed.
    await appendFile(join(dir, 'src/pipeline/splice.ts'), importLine('{ quoteValue }', '../problems/truncate.ts'))
    // An import pointing up.
    await appendFile(join(dir, 'src/variables/scan.ts'), importLine('{ spliceObject }', '../pipeline/splice.ts'))
    // A type-only one.
    await appendFile(join(dir, 'src/definitions/definition.ts'), "\nimport type { Expansion } from '../steps/expansion.ts'\nexport type Scratch = Expansion\n")
    // Expansion looking definitions up itself: down, but apart.
    await appendFile(join(dir, 'src/steps/reference.ts'), importLine('{ resolveReferences }', '../resolution/resolve.ts'))
    // A folder missing from the layer table.
    await mkdir(join(dir, 'src/extra'))
    await writeFile(join(dir, 'src/extra/thing.ts'), importLine('{ problem }', '../problems/problem.ts'))
    // A cycle between two files of one folder.
    await writeFile(join(dir, 'src/json/a.ts'), importLine('{ b }', './b.ts').replace('scratch', 'a'))
    await writeFile(join(dir, 'src/json/b.ts'), importLine('{ a }', './a.ts').replace('scratch', 'b'))
  })
  t.not(result.code, 0, 'lint fails')
  t.match(result.output, /error layer-variables: src\/variables\/scan\.ts → src\/pipeline\/splice\.ts/, 'an upward import')
  t.match(result.flat, /src\/variables \(shared leaves\) imports only folders below it: types, problems, json/, 'says what is allowed')
  t.match(result.output, /error layer-definitions: src\/definitions\/definition\.ts → src\/steps\/expansion\.ts/, 'a type-only upward import')
  t.match(result.output, /error layer-steps: src\/steps\/reference\.ts → src\/resolution\/resolve\.ts/, 'expansion importing resolution')
  t.match(result.flat, /never resolution: expansion is given what was resolved/)
  t.match(result.output, /error unlisted-folder: src\/extra\/thing\.ts/, 'an unlisted folder')
  t.match(result.output, /error no-circular: src\/json\/a\.ts →\s+src\/json\/b\.ts →\s+src\/json\/a\.ts/, 'a file cycle')
  t.notMatch(result.output, /src\/pipeline\/splice\.ts → src\/problems\/truncate\.ts/, 'the import pointing down is not reported')
})

t.test('a misformatted file fails the lint, named; formatted, it passes', async (t) => {
  // The scratch tree is no git checkout, so Biome is told not to read .gitignore; `make lint` checks the whole tree as committed.
  const file = 'src/json/values.ts'
  // The lint's own biome command, on the one file instead of the whole tree (`.`).
  const biome = [...(await lintCommand('biome')).filter((w) => w !== '.'), '--vcs-enabled=false', file]
  const dir = await scratchTree(t)
  const path = join(dir, file)
  const original = await readFile(path, 'utf8')
  await writeFile(path, original.replace('export function cloneJson<T>(value: T): T {', 'export function cloneJson<T>( value: T ): T {'))
  const result = await runIn(dir, biome)
  t.not(result.code, 0, 'lint fails')
  t.match(result.output, /src\/json\/values\.ts format/)
  await writeFile(path, original)
  t.equal((await runIn(dir, biome)).code, 0, 'passes again')
})

t.test('docs/architecture.md maps the same layers and folders, in order', async (t) => {
  const doc = await readFile(join(root, 'docs/architecture.md'), 'utf8')
  // Rows of the map: | layer | `src/folder/` | holds | … |
  const rows = [...doc.matchAll(/^\| *([a-z ]+?) *\| *`src\/([a-z-]+)\/` *\|/gm)].map((m) => ({ layer: m[1], folder: m[2] }))
  const expected = layers.flatMap(({ layer, folders }) => folders.map((folder) => ({ layer, folder })))
  t.same(rows, expected, 'one row per folder, bottom to top, under its layer')
  const folders = (await readdir(join(root, 'src'), { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name)
  t.same(folders.sort(), expected.map((e) => e.folder).sort(), 'every folder of src/ is in the map and the rule set')
  const prose = doc.replace(/\s+/g, ' ')
  for (const a of apart) t.ok(prose.includes(a.why), `the doc gives the reason ${a.from.join(', ')} never import ${a.to}`)
})
