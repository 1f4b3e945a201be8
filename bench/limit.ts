// Performance near the limit (issue #13): stepsplice against the physical
// limit, a bare fastify 5 HTTPS route (bench/bare-server.ts) on the same key,
// body limit and payloads. Both servers run as their own processes pinned to
// core 0 (`taskset`), the load generator (autocannon, in this process) to
// core 1, so neither steals the other's CPU; with fewer than 2 cores or no
// taskset, nothing is pinned and the figures say so.
//
// 1. Throughput: for each payload, rounds alternate bare and stepsplice at a
//    fixed number of connections, after a warm-up long enough for V8 to
//    have optimized the admission (warmupSeconds); the ratio of their mean req/s is printed
//    with each server's p50/p99 at that load (autocannon's, median round),
//    and beside it each server's CPU time per request (its process's, from
//    /proc: every thread, GC included) and how much of its core it used: a
//    server that used less than all of it was held back by the load
//    generator, not by its own work, and its req/s understates it. A third
//    server rotates with them: the bare route answering with stepsplice's
//    own answer to the payload (recorded first), so the figures also say
//    what sending an answer that large costs before any work computes it.
// 2. Latency at half load: both are driven at a fixed rate, half of
//    stepsplice's measured maximum, by an open-loop generator that times
//    each request from when it was due (bench/open-loop.ts); the median
//    round's p50/p99 and the difference.
//
// Payloads: a Pod with no steps (passed through), a TaskRun with 5 steps
// referencing StepActions of 5 params each (strings, arrays, objects), and a
// Pod with 3 steps. Prints figures only; nothing asserts on time.
//
//   node bench/limit.ts            (BENCH_QUICK=1: one short round)

import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import https from 'node:https'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import autocannon, { type Result } from 'autocannon'
import { type OpenLoopResult, openLoop } from './open-loop.ts'
import { payloads, stepActions } from './payloads.ts'

const quick = process.env.BENCH_QUICK === '1'
const seconds = quick ? 1 : 4
const rounds = quick ? 1 : 3
/**
 * Load each server takes for each payload before its first measured round. A
 * long-running webhook is measured, not one still optimizing: after 3 s of
 * TaskRuns (~5,000 requests here) V8 was still compiling and deoptimizing
 * the admission's code, and its helper threads spent 60-110 us a request;
 * past ~15,000 requests, 15-25 us. The bare route settles at once; it is
 * warmed as long, for the same treatment.
 */
const warmupSeconds = quick ? 1 : 12
const connections = 16
const root = fileURLToPath(new URL('../', import.meta.url))
const node = process.execPath
const run = promisify(execFile)

const cores = availableParallelism()
const pinned =
  cores >= 2 &&
  (await run('taskset', ['-cp', '1', String(process.pid)]).then(
    () => true,
    () => false,
  ))
const onServerCore = (cmd: string[]): string[] => (pinned ? ['taskset', '-c', '0', ...cmd] : cmd)

/** A process's CPU time so far in ms (user and system, every thread), or undefined without /proc. */
async function cpuMs(pid: number | undefined): Promise<number | undefined> {
  const file = `/proc/${pid}/stat`
  if (pid === undefined || !existsSync(file)) return undefined
  // Past the command name (in parentheses, which may hold spaces): utime and stime are the 12th and 13th fields, in ticks of 10 ms.
  const fields = (await readFile(file, 'utf8')).replace(/^.*\) /s, '').split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

function post(port: number, ca: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, path: '/mutate', method: 'POST', ca, servername: 'localhost', headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          text += c
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

async function waitForPort(child: ChildProcess, pattern: RegExp): Promise<number> {
  return new Promise((resolve, reject) => {
    let seen = ''
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString()
      const m = pattern.exec(seen)
      if (m !== null) resolve(Number(m[1]))
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.on('exit', (code) => reject(new Error(`server exited (${code}): ${seen.slice(0, 2000)}`)))
  })
}

function load(port: number, body: string, options: { duration: number; rate?: number }): Promise<Result> {
  return autocannon({
    url: `https://127.0.0.1:${port}/mutate`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections,
    duration: options.duration,
    // The server closes a connection after 1000 requests (server/limits.ts, to spread the API server's connections
    // over replicas), as a client reconnecting would see it; autocannon would keep sending on the closing one.
    reconnectRate: 900,
    ...(options.rate === undefined ? {} : { overallRate: options.rate }),
  })
}

const dir = await mkdtemp(join(tmpdir(), 'stepsplice-limit-'))
const children: ChildProcess[] = []
try {
  await run('bash', [join(root, 'certs/mint.sh'), dir], { env: { ...process.env, CERT_DAYS: '2' } })
  const ca = await readFile(join(dir, 'ca.crt'), 'utf8')
  await writeFile(join(dir, 'steps.yaml'), stepActions())
  const cert = join(dir, 'tls.crt')
  const key = join(dir, 'tls.key')
  const [bareCmd, ...bareArgs] = onServerCore([node, join(root, 'bench/bare-server.ts'), '0', cert, key])
  const bare = spawn(bareCmd as string, bareArgs, { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(bare)
  const barePort = await waitForPort(bare, /listening (\d+)/)
  // The calibration: the same bare route spending 100 µs of CPU on each request.
  const calibrationUs = 100
  const [workCmd, ...workArgs] = onServerCore([node, join(root, 'bench/bare-server.ts'), '0', cert, key, String(calibrationUs)])
  const working = spawn(workCmd as string, workArgs, { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(working)
  const workingPort = await waitForPort(working, /listening (\d+)/)
  const free = await new Promise<number>((resolve) => {
    const s = https.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
  const [ssCmd, ...ssArgs] = onServerCore([
    node,
    join(root, 'bin/stepsplice.js'),
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    String(free),
    '--catalog',
    dir,
    '--tls-cert',
    cert,
    '--tls-key',
    key,
  ])
  // As the image runs it (Dockerfile): small young generation.
  const stepsplice = spawn(ssCmd as string, ssArgs, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '--max-semi-space-size=8' } })
  children.push(stepsplice)
  // Its log lines are read, as a container runtime reads them: a pipe nobody drains fills, and the server's next
  // write waits for it.
  stepsplice.stdout?.resume()
  stepsplice.stderr?.resume()
  for (let i = 0; i < 100; i++) {
    const up = await post(free, ca, payloads[0]?.body ?? '').then(
      (r) => r.status === 200,
      () => false,
    )
    if (up) break
    await new Promise((r) => setTimeout(r, 100))
  }
  const answers: Record<string, string> = {}
  for (const p of payloads) {
    const answer = await post(free, ca, p.body)
    const response = (JSON.parse(answer.text) as { response?: { uid?: string; allowed?: boolean; patch?: string } }).response
    if (answer.status !== 200 || response?.allowed !== true || (response.patch !== undefined) !== p.patched || response.uid === undefined)
      throw new Error(`benchmark input "${p.label}" is not answered as intended: ${answer.text.slice(0, 500)}`)
    answers[response.uid] = answer.text
  }
  // The bare route again, answering each payload with stepsplice's own answer to it, byte for byte: what sending
  // that answer costs any server, before computing it.
  await writeFile(join(dir, 'answers.json'), JSON.stringify(answers))
  const [sizedCmd, ...sizedArgs] = onServerCore([node, join(root, 'bench/bare-server.ts'), '0', cert, key, '0', join(dir, 'answers.json')])
  const sized = spawn(sizedCmd as string, sizedArgs, { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(sized)
  const sizedPort = await waitForPort(sized, /listening (\d+)/)

  console.log(
    `\nstepsplice near the limit: Node ${process.version}, ${cores} CPUs, ${pinned ? 'servers on core 0, load on core 1' : 'NOT pinned (figures are noisier)'}, ${connections} connections`,
  )
  console.log('\n1. throughput (mean of rounds, req/s), and CPU time per request (µs, all rounds together)')
  console.log('   "same answer": the bare route answering with stepsplice\'s own answer to the payload, byte for byte')
  console.log(
    'payload                          bare  same answer  stepsplice   ratio   target   to same answer   CPU µs/req bare, same answer, stepsplice   core used',
  )
  const pids = new Map([
    [barePort, bare.pid],
    [sizedPort, sized.pid],
    [free, stepsplice.pid],
    [workingPort, working.pid],
  ])
  /**
   * Mean req/s of each port over rounds that rotate which goes first (a noisy moment weighs on all alike), warmed
   * up first, and each server's CPU µs per request over the measured rounds (NaN without /proc).
   */
  const alternating = async (
    body: string,
    ports: number[],
    name: (port: number) => string,
    warmup = warmupSeconds,
  ): Promise<{ rate: number[]; cpu: number[]; p50: number[]; p99: number[] }> => {
    const rates: number[][] = ports.map(() => [])
    const p50s: number[][] = ports.map(() => [])
    const p99s: number[][] = ports.map(() => [])
    const cpu = ports.map(() => 0)
    const requests = ports.map(() => 0)
    for (let r = 0; r < rounds; r++) {
      const order = ports.map((_, i) => (i + r) % ports.length)
      for (const i of order) {
        const port = ports[i] as number
        if (r === 0) await load(port, body, { duration: warmup })
        const before = await cpuMs(pids.get(port))
        const res = await load(port, body, { duration: seconds })
        const after = await cpuMs(pids.get(port))
        if (res.non2xx > 0 || res.errors > 0)
          throw new Error(`${name(port)}: ${res.non2xx} non-2xx ${JSON.stringify(res.statusCodeStats)}, ${res.errors} errors`)
        rates[i]?.push(res.requests.average)
        p50s[i]?.push(res.latency.p50)
        p99s[i]?.push(res.latency.p99)
        cpu[i] = (cpu[i] ?? 0) + (before === undefined || after === undefined ? Number.NaN : after - before)
        requests[i] = (requests[i] ?? 0) + res.requests.total
      }
    }
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
    // Latency under full load is the median round's: one stalled round says more about the host than the server.
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN
    return {
      rate: rates.map(mean),
      cpu: cpu.map((c, i) => (c * 1000) / (requests[i] ?? 1)),
      p50: p50s.map(median),
      p99: p99s.map(median),
    }
  }
  const serverName = (port: number): string =>
    port === barePort ? 'bare' : port === sizedPort ? 'bare, same answer' : port === free ? 'stepsplice' : 'bare + work'
  const maxRate = new Map<string, number>()
  const atFullLoad: { label: string; p50: number[]; p99: number[] }[] = []
  for (const p of payloads) {
    const {
      rate: [b = 0, a = 0, s = 0],
      cpu: [cb = 0, ca = 0, cs = 0],
      p50,
      p99,
    } = await alternating(p.body, [barePort, sizedPort, free], (port) => `${p.label} (${serverName(port)})`)
    atFullLoad.push({ label: p.label, p50, p99 })
    maxRate.set(p.label, s)
    const target = p.label.includes('pass-through') ? '>= 0.9x' : '>= 0.6x'
    console.log(
      `${p.label.padEnd(30)} ${b.toFixed(0).padStart(6)} ${a.toFixed(0).padStart(12)} ${s.toFixed(0).padStart(11)} ${(s / b).toFixed(2).padStart(6)}x   ${target} ${(s / a).toFixed(2).padStart(12)}x` +
        `${cb.toFixed(1).padStart(16)} ${ca.toFixed(1).padStart(12)} ${cs.toFixed(1).padStart(12)}   ${((cb * b) / 1e6).toFixed(2)}, ${((ca * a) / 1e6).toFixed(2)}, ${((cs * s) / 1e6).toFixed(2)}`,
    )
  }

  console.log('\nlatency at full load, the same rounds (ms, p50/p99 as autocannon measures it, median round)')
  console.log('payload                              bare    same answer     stepsplice')
  for (const { label, p50, p99 } of atFullLoad) {
    const cell = (i: number): string => `${p50[i] ?? Number.NaN}/${p99[i] ?? Number.NaN}`.padStart(14)
    console.log(`${label.padEnd(30)} ${cell(0)} ${cell(1)} ${cell(2)}`)
  }

  // What a handler's CPU costs here, against 1 / (1/bare + 100 µs), what it would cost if each request's CPU simply
  // added up: caches, the scheduler and the load generator on the other core can make it cost more.
  {
    const {
      rate: [b = 0, w = 0],
    } = await alternating(payloads[1]?.body ?? '', [barePort, workingPort], serverName, 1)
    const additive = 1 / (1 / b + calibrationUs / 1e6)
    console.log(
      `calibration: the bare route + ${calibrationUs} µs of CPU per request: ${w.toFixed(0)} req/s, ${(w / b).toFixed(2)}x the bare route (${(additive / b).toFixed(2)}x if CPU time simply added up)`,
    )
  }

  console.log("\n2. latency at half of stepsplice's maximum, the same rate for both, open loop, from each request's due time (ms)")
  console.log('payload                          rate   bare p50/p99    stepsplice p50/p99   p99 diff   target   gen. late p99')
  for (const p of payloads) {
    const rate = Math.max(1, Math.round((maxRate.get(p.label) ?? 100) / 2))
    const fixed = { path: '/mutate', body: p.body, rate, connections, warmup: 2 }
    // Alternating, as above; each run warms its connections up at the rate first.
    const results: Record<'bare' | 'stepsplice', OpenLoopResult[]> = { bare: [], stepsplice: [] }
    for (let r = 0; r < rounds; r++) {
      const order: ['bare' | 'stepsplice', number][] =
        r % 2 === 0
          ? [
              ['bare', barePort],
              ['stepsplice', free],
            ]
          : [
              ['stepsplice', free],
              ['bare', barePort],
            ]
      for (const [name, port] of order) {
        const res = await openLoop({ ...fixed, port, seconds })
        if (res.failed > 0) throw new Error(`${p.label} (${name}) at ${rate}/s: ${res.failed} of ${res.sent} failed`)
        results[name].push(res)
      }
    }
    // The median round's figures: one noisy round on this machine should not decide.
    const mid = (xs: OpenLoopResult[], f: (r: OpenLoopResult) => number): number => {
      const sorted = xs.map(f).sort((a, b) => a - b)
      return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
    }
    const late = mid([...results.bare, ...results.stepsplice], (r) => r.lateP99)
    const b50 = mid(results.bare, (r) => r.p50)
    const b99 = mid(results.bare, (r) => r.p99)
    const s50 = mid(results.stepsplice, (r) => r.p50)
    const s99 = mid(results.stepsplice, (r) => r.p99)
    console.log(
      `${p.label.padEnd(30)} ${String(rate).padStart(6)} ${`${b50.toFixed(2)}/${b99.toFixed(2)}`.padStart(14)} ${`${s50.toFixed(2)}/${s99.toFixed(2)}`.padStart(20)} ${(s99 - b99).toFixed(2).padStart(10)}   <= 1 ms   ${late.toFixed(2).padStart(9)}`,
    )
  }
} finally {
  for (const c of children) c.kill('SIGTERM')
  await rm(dir, { recursive: true, force: true })
}
