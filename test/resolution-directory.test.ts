// The directory catalog on real directories: plain ones, and ConfigMap
// volumes laid out and updated exactly as the kubelet's AtomicWriter does it
// (a hidden timestamped directory holding the files, `..data` linking to it
// and swapped by rename, a link per key), loaded once and then watched.

import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { lstat, mkdir, mkdtemp, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { getHeapSnapshot } from 'node:v8'
import { text } from 'node:stream/consumers'
import t from 'tap'
import { DirectoryCatalog } from '../src/resolution/directory.ts'
import type { CatalogReload } from '../src/resolution/directory-watch.ts'
import type { Definition } from '../src/definitions/definition.ts'
import { root, type TapTest, tempDir } from './helpers/server.ts'

const run = promisify(execFile)

function stepActionYaml(name: string, image: string): string {
  return `apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata:\n  name: ${name}\nspec:\n  image: ${image}\n  script: echo hi\n`
}

const invalidYaml = (name: string): string => `apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata:\n  name: ${name}\nspec:\n  args: ["x"]\n`
const unparseable = 'apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata: {name: [\n'

/**
 * A ConfigMap volume written as the kubelet's AtomicWriter writes one: the
 * payload into a new `..<timestamp>.<random>` directory, a `..data_tmp` link
 * to it renamed over `..data`, a `key -> ..data/key` link for each new top
 * path, the links of removed keys deleted, then the old directory.
 */
class ConfigMapVolume {
  readonly dir: string
  #topPaths = new Set<string>()

  constructor(dir: string) {
    this.dir = dir
  }

  /** `keepOldDirectory` stops before the last step: what a reader sees in the middle of an update. */
  async write(payload: Record<string, string>, options: { keepOldDirectory?: boolean } = {}): Promise<void> {
    const dataLink = join(this.dir, '..data')
    const old = await readlink(dataLink).catch(() => undefined)
    const stamp = new Date().toISOString().slice(0, 19).replace(/[-T:]/g, '_')
    const timestamped = await mkdtemp(join(this.dir, `..${stamp}.`))
    for (const [key, text] of Object.entries(payload)) {
      await mkdir(dirname(join(timestamped, key)), { recursive: true })
      await writeFile(join(timestamped, key), text)
    }
    await symlink(basename(timestamped), join(this.dir, '..data_tmp'))
    await rename(join(this.dir, '..data_tmp'), dataLink)
    const topPaths = new Set(Object.keys(payload).map((key) => key.split('/')[0] ?? key))
    for (const top of topPaths) {
      const exists = await lstat(join(this.dir, top)).then(
        () => true,
        () => false,
      )
      if (!exists) await symlink(join('..data', top), join(this.dir, top))
    }
    for (const top of this.#topPaths) if (!topPaths.has(top)) await rm(join(this.dir, top))
    this.#topPaths = topPaths
    if (old !== undefined && options.keepOldDirectory !== true) await rm(join(this.dir, old), { recursive: true })
  }
}

async function found(catalog: DirectoryCatalog, name: string): Promise<Definition | undefined> {
  const r = await catalog.resolve({ namespace: 'default', name })
  return 'definition' in r ? r.definition : undefined
}

async function imageOf(catalog: DirectoryCatalog, name: string): Promise<string | undefined> {
  return (await found(catalog, name))?.spec.image
}

/** Polls `check` until it holds, for at most ~20 s; the ceiling is generous, nothing here is timed. */
async function eventually(check: () => boolean | Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 800; i++) {
    if (await check()) return true
    await sleep(25)
  }
  return false
}

/** Watches `catalog` with prompt reloads, recording every callback; closed when the test ends. */
function watchRecorded(t: TapTest, catalog: DirectoryCatalog, rescanMs = 3_600_000) {
  const reloads: CatalogReload[] = []
  const errors: Error[] = []
  const watch = catalog.watch({ debounceMs: 20, rescanMs, onReload: (r) => reloads.push(r), onError: (e) => errors.push(e) })
  t.teardown(() => watch.close())
  return { watch, reloads, errors }
}

t.test('a ConfigMap volume in the middle of an update: every definition once, at its key', async (t) => {
  const volume = new ConfigMapVolume(await tempDir(t))
  await volume.write({ 'echo.yaml': stepActionYaml('echo', 'alpine:1'), 'build.yml': stepActionYaml('build', 'golang:1') })
  await volume.write(
    {
      'echo.yaml': stepActionYaml('echo', 'alpine:2'),
      'build.yml': stepActionYaml('build', 'golang:1'),
      'team/notify.json': JSON.stringify({ apiVersion: 'tekton.dev/v1beta1', kind: 'StepAction', metadata: { name: 'notify' }, spec: { image: 'curl' } }),
    },
    { keepOldDirectory: true },
  )
  const timestamped = (await readdir(volume.dir)).filter((name) => /^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\./.test(name))
  t.equal(timestamped.length, 2, 'two timestamped directories, as mid-update')

  const catalog = await DirectoryCatalog.load([volume.dir])
  t.same(catalog.loadWarnings, [], 'nothing defined more than once, nothing skipped')
  t.equal(catalog.size, 3)
  t.equal(await imageOf(catalog, 'echo'), 'alpine:2', 'the version ..data points to')
  t.equal((await found(catalog, 'echo'))?.source.location, join(volume.dir, 'echo.yaml'), 'named by its key, not the hidden directory')
  t.equal((await found(catalog, 'notify'))?.source.location, join(volume.dir, 'team', 'notify.json'), 'an item path with a directory')
})

t.test('hidden entries are skipped at any depth; links are followed, each place read once, loops end', async (t) => {
  const dir = await tempDir(t)
  await mkdir(join(dir, '.git'))
  await mkdir(join(dir, 'sub', '.cache'), { recursive: true })
  await writeFile(join(dir, 'echo.yaml'), stepActionYaml('echo', 'alpine:1'))
  await writeFile(join(dir, '.echo.yaml'), stepActionYaml('echo', 'hidden'))
  await writeFile(join(dir, '.git', 'echo.yaml'), stepActionYaml('echo', 'hidden'))
  await writeFile(join(dir, 'sub', '.cache', 'echo.yaml'), stepActionYaml('echo', 'hidden'))
  await writeFile(join(dir, 'sub', 'build.yaml'), stepActionYaml('build', 'golang:1'))
  await symlink('sub', join(dir, 'a-link'))
  await symlink('.', join(dir, 'loop'))
  await symlink('..', join(dir, 'sub', 'up'))
  await symlink('echo.yaml', join(dir, 'alias.yaml'))
  await symlink('self.yaml', join(dir, 'self.yaml'))
  await symlink('nowhere.yaml', join(dir, 'dangling.yaml'))

  const catalog = await DirectoryCatalog.load([dir])
  t.equal(catalog.size, 2)
  t.equal(await imageOf(catalog, 'echo'), 'alpine:1', 'no hidden file read')
  t.equal((await found(catalog, 'build'))?.source.location, join(dir, 'sub', 'build.yaml'), 'read at its own path, not through the link')
  const warnings = catalog.loadWarnings.join('\n')
  t.notMatch(warnings, /defined more than once/)
  t.match(warnings, /alias\.yaml: skipped: the same as .*echo\.yaml/)
  t.match(warnings, /a-link: skipped: the same as .*sub/)
  t.match(warnings, /loop: skipped: the same as/)
  t.match(warnings, /up: skipped: the same as/)
  t.match(warnings, /self\.yaml: cannot read: ELOOP/)
  t.match(warnings, /dangling\.yaml: skipped: a link to nothing/)
})

t.test('a watched ConfigMap follows updates: changed, added and deleted keys', async (t) => {
  const volume = new ConfigMapVolume(await tempDir(t))
  await volume.write({ 'echo.yaml': stepActionYaml('echo', 'alpine:1'), 'build.yaml': stepActionYaml('build', 'golang:1') })
  const catalog = await DirectoryCatalog.load([volume.dir])
  const { reloads, errors } = watchRecorded(t, catalog)

  await volume.write({ 'echo.yaml': stepActionYaml('echo', 'alpine:2'), 'notify.yaml': stepActionYaml('notify', 'curl') })
  const settled = async (): Promise<boolean> =>
    (await imageOf(catalog, 'echo')) === 'alpine:2' && (await found(catalog, 'notify')) !== undefined && (await found(catalog, 'build')) === undefined
  t.ok(await eventually(settled), 'echo updated, notify added, build deleted')
  t.equal(catalog.size, 2)
  t.ok(
    reloads.some((r) => r.changed),
    'reported through onReload',
  )
  t.same(errors, [])

  await volume.write({ 'echo.yaml': stepActionYaml('echo', 'alpine:3'), 'notify.yaml': stepActionYaml('notify', 'curl') })
  t.ok(await eventually(async () => (await imageOf(catalog, 'echo')) === 'alpine:3'), 'and the next update too')
})

t.test('a key that breaks keeps its last good definition, and the reload says so', async (t) => {
  const volume = new ConfigMapVolume(await tempDir(t))
  const echo = join(volume.dir, 'echo.yaml')
  const build = stepActionYaml('build', 'golang:1')
  await volume.write({ 'echo.yaml': stepActionYaml('echo', 'alpine:1'), 'build.yaml': build })
  const catalog = await DirectoryCatalog.load([volume.dir])
  const { reloads } = watchRecorded(t, catalog)

  await volume.write({ 'echo.yaml': unparseable, 'build.yaml': build })
  t.ok(await eventually(() => reloads.some((r) => r.keptLastGood.includes(echo))), 'an unparseable key is reported')
  const broken = reloads.find((r) => r.keptLastGood.includes(echo))
  t.ok(
    broken?.warnings.some((w) => w.startsWith(`${echo}: `) && !w.includes('keeping')),
    'with the parse error',
  )
  t.ok(broken?.warnings.includes(`${echo}: keeping its last good version until it is fixed (*/echo)`))
  t.equal(await imageOf(catalog, 'echo'), 'alpine:1', 'and served as it last was')
  t.same((await found(catalog, 'echo'))?.problems, [])

  await volume.write({ 'echo.yaml': invalidYaml('echo'), 'build.yaml': build })
  const invalid = (r: CatalogReload): boolean => r.warnings.some((w) => /echo\.yaml: StepAction \*\/echo is invalid: spec\.image: missing field/.test(w))
  t.ok(await eventually(() => reloads.some(invalid)), 'an invalid StepAction is reported with its problems')
  t.same(reloads.find(invalid)?.keptLastGood, [echo])
  t.equal(await imageOf(catalog, 'echo'), 'alpine:1', 'still the last good version')
  t.match(catalog.loadWarnings.join('\n'), /is invalid[\s\S]*keeping its last good version/, 'loadWarnings say the same')

  await volume.write({ 'echo.yaml': stepActionYaml('echo', 'alpine:3'), 'build.yaml': build })
  t.ok(await eventually(async () => (await imageOf(catalog, 'echo')) === 'alpine:3'), 'fixed, the new version is served')
  t.same(catalog.loadWarnings, [])
})

t.test('without a last good version a broken file is served as today: invalid, reported when referenced', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'echo.yaml')
  await writeFile(file, invalidYaml('echo'))
  const catalog = await DirectoryCatalog.load([dir])
  t.match((await found(catalog, 'echo'))?.problems, [{ message: /missing field/ }], 'the first load keeps it as invalid')
  t.same(catalog.loadWarnings, [], 'and says nothing until a step references it, as before')

  await writeFile(file, stepActionYaml('echo', 'alpine:1'))
  t.same((await catalog.reload()).keptLastGood, [])
  t.equal(await imageOf(catalog, 'echo'), 'alpine:1')

  await writeFile(file, unparseable)
  const kept = await catalog.reload()
  t.same(kept.keptLastGood, [file])
  t.ok(kept.changed)
  t.equal(await imageOf(catalog, 'echo'), 'alpine:1')
  t.notOk((await catalog.reload()).changed, 'the same broken file again is no change')

  await rm(file)
  const deleted = await catalog.reload()
  t.equal(deleted.definitions, 0, 'deleting the file forgets it, last good version and all')
  t.equal(await found(catalog, 'echo'), undefined)

  await writeFile(file, invalidYaml('echo'))
  t.same((await catalog.reload()).keptLastGood, [])
  t.match((await found(catalog, 'echo'))?.problems, [{ message: /missing field/ }], 'made again broken, it has no last good version')
})

t.test('a name defined in two files is still an error after a reload', async (t) => {
  const dir = await tempDir(t)
  await writeFile(join(dir, 'a.yaml'), stepActionYaml('echo', 'alpine:1'))
  const catalog = await DirectoryCatalog.load([dir])
  await writeFile(join(dir, 'b.yaml'), stepActionYaml('echo', 'alpine:2'))
  const reload = await catalog.reload()
  t.match(reload.warnings, [/StepAction \*\/echo is defined more than once: .*a\.yaml and .*b\.yaml/])
  t.match((await found(catalog, 'echo'))?.problems, [{ message: /defined more than once/ }])
})

t.test('a reload that cannot read the directory keeps the set in use and reports it', async (t) => {
  const parent = await tempDir(t)
  const dir = join(parent, 'catalog')
  await mkdir(dir)
  await writeFile(join(dir, 'echo.yaml'), stepActionYaml('echo', 'alpine:1'))
  const catalog = await DirectoryCatalog.load([dir])
  const { reloads, errors } = watchRecorded(t, catalog, 50)

  await rename(dir, join(parent, 'moved'))
  await t.rejects(catalog.reload(), { code: 'ENOENT' })
  t.equal(await imageOf(catalog, 'echo'), 'alpine:1', 'still served')
  t.ok(await eventually(() => errors.length > 0), 'the watch reports through onError')
  t.match(errors[0]?.message, /catalog reload failed, keeping the definitions loaded before: ENOENT/)

  await mkdir(dir)
  await writeFile(join(dir, 'echo.yaml'), stepActionYaml('echo', 'alpine:2'))
  const before = reloads.length
  t.ok(await eventually(async () => reloads.length > before && (await imageOf(catalog, 'echo')) === 'alpine:2'), 'back, and watched again')
})

t.test('a file linked from outside the directories is picked up by the periodic re-scan', async (t) => {
  const outside = await tempDir(t)
  const dir = await tempDir(t)
  await writeFile(join(outside, 'echo.yaml'), stepActionYaml('echo', 'alpine:1'))
  await symlink(join(outside, 'echo.yaml'), join(dir, 'echo.yaml'))
  const catalog = await DirectoryCatalog.load([dir])
  watchRecorded(t, catalog, 50)
  await writeFile(join(outside, 'echo.yaml'), stepActionYaml('echo', 'alpine:2'))
  t.ok(await eventually(async () => (await imageOf(catalog, 'echo')) === 'alpine:2'))
})

t.test('close() stops watching', async (t) => {
  const dir = await tempDir(t)
  await writeFile(join(dir, 'echo.yaml'), stepActionYaml('echo', 'alpine:1'))
  const catalog = await DirectoryCatalog.load([dir])
  const { watch, reloads } = watchRecorded(t, catalog, 20)
  await writeFile(join(dir, 'echo.yaml'), stepActionYaml('echo', 'alpine:2'))
  t.ok(await eventually(async () => (await imageOf(catalog, 'echo')) === 'alpine:2'), 'watching before close')

  await watch.close()
  const seen = reloads.length
  await writeFile(join(dir, 'echo.yaml'), stepActionYaml('echo', 'alpine:3'))
  // Many debounce and re-scan periods: a watch still running would have reloaded by now.
  await sleep(500)
  t.equal(reloads.length, seen, 'no reload after close')
  t.equal(await imageOf(catalog, 'echo'), 'alpine:2')
})

t.test('a watch does not keep the process alive, closed or not', async (t) => {
  const dir = await tempDir(t)
  await writeFile(join(dir, 'echo.yaml'), stepActionYaml('echo', 'alpine:1'))
  const module = new URL('src/resolution/directory.ts', `file://${root}`).href
  for (const close of [false, true]) {
    const script = [
      `const { DirectoryCatalog } = await import(${JSON.stringify(module)})`,
      `const catalog = await DirectoryCatalog.load([${JSON.stringify(dir)}])`,
      'const watch = catalog.watch({ debounceMs: 10, rescanMs: 20 })',
      close ? 'await watch.close()' : '',
      'console.log(catalog.size)',
    ].join('\n')
    // The ceiling only stops a hung child; a child that exits on its own is done long before.
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 })
    t.equal(stdout.trim(), '1', close ? 'exits after close()' : 'exits without close()')
  }
})

t.test('what the catalog keeps holds nothing of the text it read', async (t) => {
  // A parser's strings may be slices of the text: one kept would keep the whole file alive, for as long as it is served.
  const dir = await tempDir(t, 'stepsplice-detached-')
  const mark = randomUUID()
  const long = (what: string): string => `registry.example/${what}-${mark}:1.0`
  await writeFile(
    join(dir, 'steps.yaml'),
    `# keep-out ${mark}\n${stepActionYaml('held-step-with-a-long-name', long('image'))}---\n${stepActionYaml('other', long('other'))}`,
  )
  // A file that does not parse is reported by the names it holds: those are copies too.
  await writeFile(join(dir, 'broken.yaml'), `# keep-out ${mark} broken\nkind: StepAction\nmetadata: {name: a-broken-step-with-a-long-name}\nspec: [\n`)
  const catalog = await DirectoryCatalog.load([dir])
  const held = await catalog.resolve({ namespace: 'default', name: 'held-step-with-a-long-name' })
  t.equal('definition' in held && held.definition.spec.image, long('image'))
  // A heap snapshot collects garbage first; the comment is in the file's text and nowhere else (a snapshot names
  // a string by its first thousand characters or so: it comes first). A slice is named as such, not by its text.
  const snapshot = await text(getHeapSnapshot())
  t.notOk(snapshot.includes(`keep-out ${mark}`), 'the file text is not in the heap')
  t.ok(snapshot.includes(`other-${mark}`), 'the definitions are')
})

t.test('a catalog file with a !!binary value or a merge key on no mapping: read, and the rest of the directory too', async (t) => {
  const dir = await tempDir(t, 'stepsplice-tags-')
  await writeFile(join(dir, 'binary.yaml'), `${stepActionYaml('binary', 'alpine')}  params:\n    - name: p\n      default: !!binary aGk=\n`)
  await writeFile(join(dir, 'merge.yaml'), 'apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata:\n  name: merged\n  <<: 1\nspec:\n  image: alpine\n')
  await writeFile(join(dir, 'plain.yaml'), stepActionYaml('plain', 'alpine'))
  const catalog = await DirectoryCatalog.load([dir])
  const plain = await catalog.resolve({ namespace: 'default', name: 'plain' })
  t.ok('definition' in plain, 'the plain file is served')
  const binary = await catalog.resolve({ namespace: 'default', name: 'binary' })
  // As go-yaml reads it: the decoded bytes, as text.
  t.strictSame('definition' in binary && binary.definition.spec.params, [{ name: 'p', type: 'string', default: 'hi' }], 'the !!binary file is read')
  const merge = catalog.brokenDefinitions().find((r) => r.file?.endsWith('merge.yaml'))
  t.equal(merge?.kind, 'unparsable')
  t.strictSame(merge?.errors, ['Merge sources must be maps or map aliases at line 5, column 3'], 'the merge key is reported, where it is')
})
