// The real binary, end to end: `stepsplice serve` starts, answers, and on
// SIGTERM stops accepting, finishes the request in flight, and exits 0.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import https from 'node:https'
import net from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import t from 'tap'
import { main } from '../src/cli/main.ts'
import { captureIO, type Certs, decodePatch, mintCerts, root, sleep, type TapTest } from './helpers/server.ts'

const bin = join(root, 'bin/stepsplice.js')

interface Spawned {
  child: ChildProcess
  /** Log lines (stdout, JSON) seen so far. */
  lines: Record<string, unknown>[]
  stderr(): string
  /** Resolves with the first line matching, or rejects when the process exits or `ms` pass. */
  waitForLine(match: (l: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** serve on a free loopback port with the example catalog and the test certificates. */
const localServe = (): string[] => [
  '--host',
  '127.0.0.1',
  '--port',
  '0',
  '--catalog',
  'examples/stepactions',
  '--tls-cert',
  certs.certFile,
  '--tls-key',
  certs.keyFile,
]

/** A process's children, as Linux lists them; none where it does not. */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .split(' ')
      .map(Number)
      .filter((n) => n > 0)
  } catch {
    return []
  }
}

function spawnServe(t: TapTest, args: string[], node = process.execPath): Spawned {
  // In the test's own process group, so a Ctrl-C of the run reaches it too. On an older Node the server is the
  // command's child: a test that fails midway must not leave it running, so the teardown ends it as well.
  const child = spawn(node, [bin, 'serve', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    if (child.pid === undefined) return
    for (const pid of [...childrenOf(child.pid), child.pid]) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // Ended already.
      }
    }
  })
  const lines: Record<string, unknown>[] = []
  const waiters: { match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = []
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
  if (child.stdout === null) throw new Error('spawned with stdout piped, but it has no stdout')
  createInterface({ input: child.stdout }).on('line', (text) => {
    let line: Record<string, unknown>
    try {
      line = JSON.parse(text) as Record<string, unknown>
    } catch {
      line = { unparsed: text }
    }
    lines.push(line)
    for (const w of waiters.filter((w) => w.match(line))) {
      waiters.splice(waiters.indexOf(w), 1)
      w.resolve(line)
    }
  })
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }))
  return {
    child,
    lines,
    stderr: () => stderr,
    exited,
    waitForLine(match, ms = 10_000) {
      const seen = lines.find(match)
      if (seen) return Promise.resolve(seen)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching log line within ${ms} ms; stderr: ${stderr}`)), ms)
        waiters.push({
          match,
          resolve: (l) => {
            clearTimeout(timer)
            resolve(l)
          },
        })
        void exited.then(({ code, signal }) => {
          clearTimeout(timer)
          reject(new Error(`serve exited (${code ?? signal}) before the expected log line; stderr: ${stderr}`))
        })
      })
    },
  }
}

/** Resolves with the error code of a plain TCP connection attempt, or 'connected'. */
function tcpConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy()
      resolve('connected')
    })
    socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message))
  })
}

/** Waits for the process to exit, at most `ms`; kills it (and reports) otherwise. */
async function exitWithin(s: Spawned, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'still running'> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), ms)))
  const result = await Promise.race([s.exited, late])
  clearTimeout(timer)
  if (result === 'still running') s.child.kill('SIGKILL')
  return result
}

let certs: Certs
t.before(async () => {
  certs = await mintCerts(t)
})

t.test('SIGTERM: the request in flight is answered, new connections are refused, exit 0', async (t) => {
  const s = spawnServe(
    t,
    // Bounds the test: a drain that hangs ends in exit 1 after this, not in a stuck test.
    [...localServe(), '--grace-period', '5s'],
  )
  const listening = await s.waitForLine((l) => l.msg === 'stepsplice webhook listening')
  t.match(listening, { url: /^https:\/\/127\.0\.0\.1:\d+$/, definitions: 5, deadlineMs: 4000, onTimeout: 'deny' })
  const url = new URL(String(listening.url))
  const port = Number(url.port)
  t.ok(port > 0, `listening on port ${port}`)

  const body = Buffer.from(await readFile(join(root, 'examples/admission/taskrun-review.json')))
  const half = Math.floor(body.length / 2)
  // Keep-alive, like the API server's client: the drain must not wait for idle connections.
  const agent = new https.Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())
  const req = https.request(new URL('/mutate', url), {
    method: 'POST',
    ca: certs.ca,
    agent,
    headers: { 'content-type': 'application/json', 'content-length': body.length },
  })
  const response = new Promise<{ status: number; text: string; headers: Record<string, unknown> }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }))
      res.on('error', reject)
    })
    req.on('error', reject)
  })
  await new Promise<void>((resolve, reject) => req.write(body.subarray(0, half), (err) => (err ? reject(err) : resolve())))
  // Let the server read the headers before it is told to stop: a request it
  // has not seen yet would rightly get a 503.
  await sleep(150)

  const signalled = Date.now()
  s.child.kill('SIGTERM')
  await s.waitForLine((l) => l.msg === 'shutting down: finishing in-flight requests')

  let refused = ''
  for (let i = 0; i < 40 && refused !== 'ECONNREFUSED'; i++) {
    refused = await tcpConnect(port)
    if (refused !== 'ECONNREFUSED') await sleep(50)
  }
  t.equal(refused, 'ECONNREFUSED', 'a new connection is refused while draining')

  await sleep(Math.max(0, 200 - (Date.now() - signalled)))
  t.equal(s.child.exitCode, null, 'still running while the request is incomplete')
  req.end(body.subarray(half))

  const res = await response
  t.equal(res.status, 200, 'the in-flight request is answered')
  t.equal(res.headers.connection, 'close', 'and the client is told not to reuse the connection')
  const review = JSON.parse(res.text) as { apiVersion: string; kind: string; response: { uid: string; allowed: boolean; patchType?: string; patch?: string } }
  t.equal(review.apiVersion, 'admission.k8s.io/v1')
  t.equal(review.kind, 'AdmissionReview')
  t.equal(review.response.uid, '0b6f2f5e-3c1a-4f57-9d0e-6b1f7b3c9a11')
  t.equal(review.response.allowed, true)
  t.equal(review.response.patchType, 'JSONPatch')
  t.ok(decodePatch(review.response.patch ?? '').length > 0, 'with a patch')

  const exit = await exitWithin(s, 10_000)
  t.same(exit, { code: 0, signal: null }, `exits 0; stderr: ${s.stderr()}`)
  t.equal(await tcpConnect(port), 'ECONNREFUSED', 'refused after exit')
  t.ok(
    s.lines.some((l) => l.msg === 'stopped'),
    'logged stopped',
  )
  t.notOk(
    s.lines.some((l) => l.msg === 'grace period over with requests still in flight'),
    'did not need the grace period',
  )
  t.match(
    s.lines.filter((l) => l.msg === 'admission'),
    [{ uid: '0b6f2f5e-3c1a-4f57-9d0e-6b1f7b3c9a11', outcome: 'patched' }],
    'the request was logged',
  )
  t.equal(s.stderr(), '', 'nothing on stderr')
})

t.test('a second signal a second or more after the first stops waiting for the request in flight: exit 1', async (t) => {
  const s = spawnServe(t, [...localServe(), '--grace-period', '20s'])
  const listening = await s.waitForLine((l) => l.msg === 'stepsplice webhook listening')
  const url = new URL(String(listening.url))
  // Half a request: in flight until the drain gives up on it.
  const req = https.request(new URL('/mutate', url), { method: 'POST', ca: certs.ca, headers: { 'content-type': 'application/json', 'content-length': 1000 } })
  req.on('error', () => {})
  req.write('{"apiVersion":')
  await sleep(150)
  s.child.kill('SIGTERM')
  await s.waitForLine((l) => l.msg === 'shutting down: finishing in-flight requests')
  // At once again: the same signal twice (a terminal and a wrapper), ignored.
  s.child.kill('SIGTERM')
  await sleep(1200)
  t.equal(s.child.exitCode, null, 'still draining after the repeat')
  s.child.kill('SIGINT')
  t.same(await exitWithin(s, 10_000), { code: 1, signal: null }, 'exits 1 long before the 20 s grace period')
  t.ok(s.lines.some((l) => l.msg === 'signalled again while shutting down: not waiting for requests in flight'))
  req.destroy()
})

t.test('SIGTERM with an idle server exits 0 at once', async (t) => {
  const s = spawnServe(t, [...localServe(), '--grace-period', '5s'])
  await s.waitForLine((l) => l.msg === 'stepsplice webhook listening')
  s.child.kill('SIGTERM')
  t.same(await exitWithin(s, 10_000), { code: 0, signal: null })
})

/** A Node older than 24 outside node_modules (the system's), on which bin/stepsplice.js runs itself again on Node 24. */
function olderNode(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir === '' || dir.includes('node_modules')) continue
    const candidate = join(dir, 'node')
    const version = spawnSync(candidate, ['--version'], { encoding: 'utf8' })
    const major = Number(/^v(\d+)\./.exec(version.stdout ?? '')?.[1])
    if (version.status === 0 && major < 24) return candidate
  }
  return undefined
}

const older = olderNode()
t.test(
  'on an older Node, the command run again on Node 24 gets the signals sent to it, and a repeat is calm',
  { skip: older === undefined ? 'no Node older than 24 on PATH outside node_modules' : false },
  async (t) => {
    const node = older as string
    const s = spawnServe(t, localServe(), node)
    const listening = await s.waitForLine((l) => l.msg === 'stepsplice webhook listening')
    const port = Number(new URL(String(listening.url)).port)
    t.equal(await tcpConnect(port), 'connected')
    // As a supervisor stops it, and a second signal while it stops: the server finishes, stopped, not killed.
    s.child.kill('SIGTERM')
    await s.waitForLine((l) => l.msg === 'shutting down: finishing in-flight requests')
    s.child.kill('SIGINT')
    t.same(await exitWithin(s, 10_000), { code: 0, signal: null })
    t.ok(
      s.lines.some((l) => l.msg === 'stopped'),
      'the server stopped itself',
    )
    t.equal(await tcpConnect(port), 'ECONNREFUSED', 'nothing left listening')
  },
)

async function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  const [code] = (await once(child, 'close')) as [number | null]
  clearTimeout(timer)
  return { code, stdout, stderr }
}

t.test('serve --help lists every flag and exits 0', async (t) => {
  const { code, stdout, stderr } = await runCli(['serve', '--help'])
  t.equal(code, 0)
  t.equal(stderr, '')
  const flags = [
    '--catalog',
    '--port',
    '--host',
    '--tls-cert',
    '--tls-key',
    '--client-ca',
    '--deadline',
    '--max-connections',
    '--workers',
    '--kube',
    '--kubeconfig',
    '--shared-namespace',
    '--no-inline-task-refs',
    '--tekton-controller',
    '--metrics-port',
    '--on-timeout',
    '--grace-period',
    '--log-level',
    '--prepare-image',
    '--resolvers',
    '--require-resolution',
    '--remote-host',
    '--remote-ca',
    '--remote-plain-http',
    '--remote-timeout',
    '--remote-ttl',
    '--remote-cache-dir',
    '--remote-cache-size',
    '--remote-fetches',
    '--git-default-revision',
    '--git-default-url',
    '--policy',
    '--help',
    '-h',
  ]
  for (const flag of flags) t.match(stdout, new RegExp(`(^|\\s|,)${flag}\\b`), `lists ${flag}`)
  // And every flag the help documents is one the command accepts (no stale entries).
  const documented = [...stdout.matchAll(/^\s+(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1] ?? '')
  t.same(documented.toSorted(), flags.filter((f) => f.startsWith('--')).toSorted(), 'the options section documents exactly these')
  for (const flag of documented.filter((f) => f !== '--help')) {
    // A bad --port after it stops serve before it reads or starts anything, whatever the flag (a kubeconfig
    // and certs/tls.crt, which `make run` mints, would otherwise let `serve --kube` start and wait for SIGTERM).
    const io = captureIO()
    t.equal(await main(['serve', flag, '--port=bad'], io), 2, `${flag}: a usage error, nothing started`)
    t.notMatch(io.err, /unknown flag/, `${flag} is accepted by the parser`)
  }
})

t.test('bad flags exit 2 with a message', async (t) => {
  const common = ['serve', '--catalog', 'examples/stepactions', '--tls-cert', certs.certFile, '--tls-key', certs.keyFile, '--port', '0', '--host', '127.0.0.1']
  const check = (t: TapTest, name: string, r: { code: number | null; stdout: string; stderr: string }, message: RegExp): void => {
    t.equal(r.code, 2, `${name}: exit 2`)
    t.match(r.stderr, message, `${name}: says why`)
    t.notMatch(r.stderr, /Usage: stepsplice serve/, `${name}: not the whole help`)
    t.match(r.stderr, /^error: [^\n]*\nRun 'stepsplice serve --help' for usage\.\n$/, `${name}: one line and a pointer to --help`)
    t.equal(r.stdout, '', `${name}: nothing on stdout`)
  }
  // Through the real binary.
  const binary: [string[], RegExp][] = [
    [['--on-timeout', 'maybe'], /error: --on-timeout must be deny or allow, not "maybe"/],
    [['--deadline', '5'], /error: --deadline must be a duration such as 4s or 750ms, not "5"/],
  ]
  const results = await Promise.all(binary.map(([extra]) => runCli([...common, ...extra])))
  for (const [i, [extra, message]] of binary.entries()) check(t, extra.join(' '), results[i] ?? { code: -1, stdout: '', stderr: '' }, message)

  // The rest in-process: flags are checked before anything starts, the same code the binary runs.
  const inProcess: [string[], RegExp][] = [
    [['--deadline', '0s'], /error: --deadline must be a duration/],
    [['--deadline', '600h'], /error: --deadline must be at most 2147483647 ms/],
    [['--grace-period', 'soon'], /error: --grace-period must be a duration/],
    [['--grace-period', '1000h'], /error: --grace-period must be at most/],
    [['--port', '70000'], /error: --port must be 0 to 65535/],
    [['--port', ''], /error: --port must be 0 to 65535, not ""/],
    [['--port', '1e3'], /error: --port must be 0 to 65535, not "1e3"/],
    [['--log-level', 'loud'], /error: --log-level must be one of/],
    [['--frobnicate'], /error: unknown flag --frobnicate\n/],
  ]
  for (const [extra, message] of inProcess) {
    const io = captureIO()
    const code = await main([...common, ...extra], io)
    check(t, extra.join(' ') || '(empty)', { code, stdout: io.out, stderr: io.err }, message)
  }
})

t.test(
  'on an older Node, the command ended by a signal ends the wrapper by that signal, not with an exit status',
  { skip: older === undefined ? 'no Node older than 24 on PATH outside node_modules' : false },
  async (t) => {
    const s = spawnServe(t, localServe(), older as string)
    await s.waitForLine((l) => l.msg === 'stepsplice webhook listening')
    const wrapper = s.child.pid as number
    // The server is the wrapper's one child (Linux lists a process's children under /proc).
    const [server] = childrenOf(wrapper)
    if (server === undefined) return t.fail('the wrapper has no child process to signal')
    process.kill(server, 'SIGKILL')
    t.same(await exitWithin(s, 10_000), { code: null, signal: 'SIGKILL' })
  },
)
