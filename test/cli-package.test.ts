// The package as users get it: `npm pack`, installed into a directory of its
// own, away from the repository (so from under node_modules, where Node
// strips no types), and run: --version, render, lint, and serve with its
// worker threads. On a Node older than engines allows, one line says so.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { delimiter, join } from 'node:path'
import { createInterface } from 'node:readline'
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { main } from '../src/cli/main.ts'
import { captureIO } from './helpers/cli.ts'
import { httpsRequest, mintCerts, root, tempDir } from './helpers/server.ts'

// Installing takes seconds of extracting, and in a fresh CI a round trip to the registry: more than tap's 30 s default.
t.setTimeout(240_000)

const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string; engines: { node: string } }

// Node 24 first, as the Makefile has it; npm's own settings from an outer `npm test` stay out.
const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')))
env.PATH = [join(root, 'node_modules/.bin'), process.env.PATH ?? ''].join(delimiter)

/**
 * `command args` as a user runs it: tap puts its process-tracking loader
 * into NODE_OPTIONS of everything a test spawns, which would follow npm into
 * tsc and the installed CLI into the repository's node_modules; `env -u`
 * takes it out again.
 */
function clean(command: string, args: string[]): [string, string[]] {
  return ['env', ['-u', 'NODE_OPTIONS', command, ...args]]
}

function npm(args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(...clean('npm', [...args, '--no-audit', '--no-fund', '--loglevel=warn']), { cwd, env, encoding: 'utf8', timeout: 240_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

const work = await tempDir(t, 'stepsplice-package-')
const packed = npm(['pack', '--json', '--pack-destination', work], root)
const files =
  packed.status === 0 ? ((JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[])[0] ?? { filename: '', files: [] }) : undefined
const prefix = join(work, 'installed')
// The cache holds every dependency after `npm ci`, but a fresh CI's cache lacks the registry's metadata: then ask the registry.
let installed = files === undefined ? undefined : npm(['install', '--prefix', prefix, join(work, files.filename), '--offline'], work)
if (installed?.status !== 0 && /ENOTCACHED/.test(installed?.stderr ?? ''))
  installed = npm(['install', '--prefix', prefix, join(work, files?.filename ?? ''), '--prefer-offline'], work)
const bin = join(prefix, 'node_modules/.bin/stepsplice')
const home = join(prefix, 'node_modules/stepsplice')
const run = (args: string[]) => spawnSync(...clean(bin, args), { env, encoding: 'utf8', timeout: 30_000 })

t.test('npm pack ships compiled JavaScript, and no sources or tests', async (t) => {
  t.equal(packed.status, 0, packed.stderr)
  const paths = (files?.files ?? []).map((f) => f.path)
  for (const p of [
    'bin/stepsplice.js',
    'dist/cli/main.js',
    'dist/server/worker.js',
    // Loaded by a URL, as the worker is: kube-config.js hands it to the client in place of its generated API barrel.
    'dist/resolution/kube-client-api.js',
    'schemas/stepaction.json',
    'examples/stepactions/git-clone.yaml',
    'package.json',
    'README.md',
  ])
    t.ok(paths.includes(p), `ships ${p}`)
  t.same(
    paths.filter((p) => /\.ts$|^src\/|^test\/|^bin\/build/.test(p)),
    [],
    'no TypeScript, no tests, no build script',
  )
})

t.test('installed outside the repository, it runs', async (t) => {
  t.equal(installed?.status, 0, installed?.stderr ?? 'not installed: npm pack failed')
  t.notMatch(installed?.stderr ?? '', /EBADENGINE/, 'no engine warnings on this Node')

  const version = run(['--version'])
  t.same([version.status, version.stdout, version.stderr], [0, `${pkg.version}\n`, ''], '--version')

  const args = ['--catalog', join(home, 'examples/stepactions'), '-f', join(home, 'examples/taskruns/build.yaml')]
  const rendered = run(['render', ...args])
  t.equal(rendered.status, 0, rendered.stderr)
  const io = captureIO()
  t.equal(await main(['render', ...args], io), 0, io.err)
  t.equal(rendered.stdout, io.out, 'render prints what the repository’s render prints')
  t.match(rendered.stdout, /image: golang:1\.25/)

  const linted = run(['lint', '--catalog', join(home, 'examples/stepactions')])
  t.same([linted.status, linted.stdout], [0, 'stepsplice lint: 5 StepActions, 0 Tasks and 0 Pipelines in 5 files: no problems\n'], 'lint')
})

t.test('installed, serve starts its workers and answers', async (t) => {
  const certs = await mintCerts(t)
  const args = ['serve', '--catalog', join(home, 'examples/stepactions'), '--tls-cert', certs.certFile, '--tls-key', certs.keyFile]
  const child: ChildProcess = spawn(...clean(bin, [...args, '--host', '127.0.0.1', '--port', '0', '--workers', '1']), {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = once(child, 'exit')
  let url: string | undefined
  for await (const line of createInterface({ input: child.stdout as NodeJS.ReadableStream })) {
    const entry = JSON.parse(line) as { url?: string; msg?: string }
    if (entry.msg === 'stepsplice webhook listening') {
      url = entry.url
      break
    }
  }
  t.ok(url, `it listens; stderr: ${stderr}`)
  if (url === undefined) return
  // Ready means every worker thread loaded its module: dist/server/worker.js, not a .ts file Node would refuse here.
  let ready = await httpsRequest(url, certs.ca, '/readyz')
  for (let i = 0; i < 100 && ready.status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 100))
    ready = await httpsRequest(url, certs.ca, '/readyz')
  }
  t.equal(ready.status, 200, `/readyz: ${ready.text}`)
  child.kill('SIGTERM')
  const [code] = (await exited) as [number | null]
  t.equal(code, 0, `stops cleanly; stderr: ${stderr}`)
})

const floor = /^>=(\d+)\.(\d+)\.(\d+)$/.exec(pkg.engines.node)?.slice(1).map(Number)
/** Any node on PATH (not node_modules/.bin's) older than engines allows. */
const older = (process.env.PATH ?? '')
  .split(delimiter)
  .filter((dir) => dir !== '' && !dir.startsWith(join(root, 'node_modules')))
  .map((dir) => join(dir, 'node'))
  .map((node) => ({ node, version: spawnSync(...clean(node, ['--version']), { encoding: 'utf8' }).stdout?.trim() ?? '' }))
  .find(({ version }) => {
    const v = /^v(\d+)\.(\d+)\.(\d+)$/.exec(version)?.slice(1).map(Number)
    const first = v === undefined || floor === undefined ? -1 : v.findIndex((n, i) => n !== floor[i])
    return v !== undefined && floor !== undefined && first >= 0 && (v[first] ?? 0) < (floor[first] ?? 0)
  })

t.test('engines.node is a floor bin/stepsplice.js can read', async (t) => {
  t.ok(floor, `>=X.Y.Z: ${pkg.engines.node}`)
})

t.test(
  'on a Node older than engines allows, one line says which it needs',
  { skip: older === undefined && 'no Node older than engines allows on PATH' },
  async (t) => {
    const r = spawnSync(...clean(older?.node ?? 'node', [join(home, 'bin/stepsplice.js'), '--version']), { encoding: 'utf8', timeout: 20_000 })
    t.same([r.status, r.stdout, r.stderr], [2, '', `stepsplice needs Node.js ${floor?.join('.')} or later (this is ${older?.version})\n`], older?.version ?? '')
  },
)
