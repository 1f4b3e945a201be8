// What the admission worker pool costs and what it buys, through the real
// HTTPS server (startServer) on a loopback port with minted certificates and
// the example catalog. Three servers run side by side: `workers: 0` (admission
// on the server's own thread), `workers: 1` and `workers: 2` (the pool).
//
// 1. Throughput and latency: autocannon posts one AdmissionReview over a
//    fixed number of connections for a fixed time, per payload and mode.
//    Rounds alternate the order of the modes, so a noisy machine weighs on
//    each alike. Prints figures only; nothing here asserts on time.
// 2. /healthz under load: while autocannon keeps the server busy with
//    TaskRun admissions, a probe on its own thread asks /healthz one request
//    at a time; the pool's point is that this stays fast.
//
// autocannon runs on a worker thread of its own (its `workers` option): on
// the server's thread it would compete with the very event loop being
// measured. It does not verify the server's certificate (it always connects
// with rejectUnauthorized: false); the probe and the input checks do.
//
//   npm run bench                  (or: node bench/admission.ts)
//   BENCH_QUICK=1 npm run bench    one short round, to see that it runs

import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import https from 'node:https'
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Worker } from 'node:worker_threads'
import autocannon, { type Result } from 'autocannon'
import { pino } from 'pino'
import { DirectoryCatalog } from '../src/resolution/directory.ts'
import { connectionLimits } from '../src/server/limits.ts'
import { type RunningServer, startServer } from '../src/server/serve.ts'
import type { ProbeSettings } from './healthz-probe.ts'
import { largeTaskRun } from './large-taskrun.ts'

const quick = process.env.BENCH_QUICK === '1'
const seconds = quick ? 1 : 3
const warmupSeconds = quick ? 0.5 : 1
const rounds = quick ? 1 : 2
const connections = 8
const probeGapMs = 5
const deadlineMs = 4000

const root = fileURLToPath(new URL('../', import.meta.url))

interface Mode {
  label: string
  workers: number
}

const modes: Mode[] = [
  { label: 'inline (workers: 0)', workers: 0 },
  { label: 'pool (workers: 1)', workers: 1 },
  { label: 'pool (workers: 2)', workers: 2 },
]

interface Payload {
  label: string
  body: string
  /** The answer must carry a patch (something was expanded) or must not (passed through). */
  patched: boolean
}

async function payloads(): Promise<Payload[]> {
  const taskRun = await readFile(join(root, 'examples/admission/taskrun-review.json'), 'utf8')
  const pod = await readFile(join(root, 'examples/admission/pod-review.json'), 'utf8')
  const plain = JSON.parse(pod) as { request: { uid: string; object: { metadata: { annotations?: Record<string, string> } } } }
  const meta = plain.request.object.metadata
  delete meta.annotations?.['stepsplice.dev/steps']
  if (meta.annotations !== undefined && Object.keys(meta.annotations).length === 0) delete meta.annotations
  plain.request.uid = '5d0c1f3a-8e2b-4c6d-9f10-000000000001'
  const large = JSON.parse(taskRun) as { request: { uid: string; object: unknown } }
  large.request.uid = '5d0c1f3a-8e2b-4c6d-9f10-000000000002'
  large.request.object = largeTaskRun()
  return [
    { label: 'TaskRun, 3 refs', body: taskRun, patched: true },
    { label: 'Pod, 2 refs', body: pod, patched: true },
    { label: 'Pod, pass-through', body: JSON.stringify(plain), patched: false },
    { label: 'TaskRun, 60 steps', body: JSON.stringify(large), patched: true },
  ]
}

function post(url: string, ca: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(new URL('/mutate', url), { method: 'POST', ca, headers: { 'content-type': 'application/json' }, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Refuses to measure a payload the server does not answer as intended: figures for a 400 or a denial would mean nothing. */
async function checkPayload(server: RunningServer, ca: string, payload: Payload): Promise<void> {
  const res = await post(server.url, ca, payload.body)
  const review = JSON.parse(res.text) as { response?: { allowed?: boolean; patch?: string } }
  const patched = review.response?.patch !== undefined
  if (res.status !== 200 || review.response?.allowed !== true || patched !== payload.patched) {
    throw new Error(`benchmark input "${payload.label}" is not answered as intended (HTTP ${res.status}): ${res.text.slice(0, 500)}`)
  }
}

/** `warmUp` first runs the same load untimed: the first run of each payload on each server, before its code is compiled hot. */
function load(server: RunningServer, ca: string, body: string, warmUp: boolean): Promise<Result> {
  return autocannon({
    url: `${server.url}/mutate`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections,
    duration: seconds,
    ...(warmUp ? { warmup: { connections, duration: warmupSeconds } } : {}),
    workers: 1,
    // autocannon ignores `Connection: close`: past the server's requests per connection it kept sending on
    // the same connection, and Node answered each with a 503 (50,000 in a 3 s run). The API server's client
    // opens a new connection there, and so does this.
    reconnectRate: connectionLimits(deadlineMs).maxRequestsPerSocket,
    servername: 'localhost',
    tlsOptions: { ca },
  })
}

function probe(settings: ProbeSettings): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./healthz-probe.ts', import.meta.url), { workerData: settings })
    worker.once('message', (latencies: number[]) => resolve(latencies))
    worker.once('error', reject)
    worker.once('exit', (code) => reject(new Error(`the /healthz probe exited with code ${code} before reporting`)))
  })
}

function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
/** Admissions answered per second; only 200s count. */
const rate = (r: Result): number => r['2xx'] / r.duration
const failures = (r: Result): number => r.errors + r.timeouts + r.non2xx

/** One line of a table: the first two cells (payload, mode) aligned left, the figures right. */
function row(widths: readonly number[], cells: readonly string[]): string {
  return cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('')
}

const dir = await mkdtemp(join(tmpdir(), 'stepsplice-bench-'))
const servers: RunningServer[] = []
try {
  await promisify(execFile)('bash', [join(root, 'certs/mint.sh'), dir], { env: { ...process.env, CERT_DAYS: '2' } })
  const ca = await readFile(join(dir, 'ca.crt'), 'utf8')
  const catalog = await DirectoryCatalog.load([join(root, 'examples/stepactions')])
  const logger = pino({ level: 'warn' }, { write: () => {} })
  for (const mode of modes) {
    servers.push(
      await startServer({
        host: '127.0.0.1',
        port: 0,
        certFile: join(dir, 'tls.crt'),
        keyFile: join(dir, 'tls.key'),
        catalog,
        logger,
        deadlineMs,
        onTimeout: 'deny',
        workers: mode.workers,
      }),
    )
  }
  const inputs = await payloads()
  for (const server of servers) for (const payload of inputs) await checkPayload(server, ca, payload)

  const cpuModel = cpus()[0]?.model ?? 'unknown CPU'
  // Whether something else was busy on the machine when the benchmark started: figures taken then are noisier.
  const load1 = (loadavg()[0] ?? 0).toFixed(2)
  console.log(`\nstepsplice admission benchmark: Node ${process.version}, ${availableParallelism()} CPUs (${cpuModel}), load average ${load1} at the start`)
  console.log(
    `${connections} connections, ${seconds} s per run (the first round after ${warmupSeconds} s of warm-up), ${rounds} round(s) with the modes' order alternating; req/s: mean of the rounds, and their range; latencies in whole ms (autocannon's resolution), mean of the rounds\n`,
  )

  // results[payload][mode]: one Result per round.
  const results: Result[][][] = inputs.map(() => modes.map(() => []))
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? modes.map((_, i) => i) : modes.map((_, i) => modes.length - 1 - i)
    for (const [p, payload] of inputs.entries()) {
      for (const m of order) {
        const server = servers[m] as RunningServer
        results[p]?.[m]?.push(await load(server, ca, payload.body, round === 0))
      }
    }
  }

  const throughputWidths = [20, 21, 8, 14, 7, 7, 17, 8]
  console.log(row(throughputWidths, ['payload', 'mode', 'req/s', 'rounds', 'p50', 'p99', 'req/s vs inline', 'failed']))
  for (const [p, payload] of inputs.entries()) {
    const inlineRate = mean((results[p]?.[0] ?? []).map(rate))
    for (const [m, mode] of modes.entries()) {
      const runs = results[p]?.[m] ?? []
      const rates = runs.map(rate)
      const r = mean(rates)
      const spread = `${Math.min(...rates).toFixed(0)}-${Math.max(...rates).toFixed(0)}`
      const p50 = mean(runs.map((x) => x.latency.p50))
      const p99 = mean(runs.map((x) => x.latency.p99))
      const failed = runs.reduce((a, x) => a + failures(x), 0)
      const cells = [
        m === 0 ? payload.label : '',
        mode.label,
        r.toFixed(0),
        spread,
        p50.toFixed(1),
        p99.toFixed(1),
        (r / inlineRate).toFixed(2),
        String(failed),
      ]
      console.log(row(throughputWidths, cells))
    }
  }

  // /healthz: idle, then under each TaskRun load, per mode.
  const loads = inputs.filter((p) => p.label.startsWith('TaskRun'))
  console.log(`\n/healthz latency (ms), one probe at a time ${probeGapMs} ms apart on its own thread, idle and while ${connections} connections post TaskRuns`)
  const healthzWidths = [20, 21, 7, 8, 8, 8, 14, 8]
  console.log(row(healthzWidths, ['load', 'mode', 'probes', 'p50', 'p99', 'max', 'admissions/s', 'failed']))
  const probeFor = (server: RunningServer, delayMs: number, durationMs: number): Promise<number[]> =>
    probe({ url: server.url, ca, delayMs, durationMs, gapMs: probeGapMs })
  const printProbe = (label: string, mode: Mode, latencies: number[], loaded?: Result): void => {
    const [p50, p99, max] = [percentile(latencies, 50), percentile(latencies, 99), Math.max(...latencies)].map((v) => v.toFixed(2))
    const admissions = loaded ? [rate(loaded).toFixed(0), String(failures(loaded))] : ['-', '-']
    console.log(row(healthzWidths, [label, mode.label, String(latencies.length), p50 ?? '', p99 ?? '', max ?? '', ...admissions]))
  }
  for (const [m, mode] of modes.entries()) printProbe(m === 0 ? 'idle' : '', mode, await probeFor(servers[m] as RunningServer, 0, quick ? 300 : 1000))
  for (const payload of loads) {
    for (const [m, mode] of modes.entries()) {
      const server = servers[m] as RunningServer
      // Every server is warm by now. The probe starts once autocannon's connections are up and stops before its run ends, so every probe meets the full load.
      const [loaded, latencies] = await Promise.all([load(server, ca, payload.body, false), probeFor(server, 500, seconds * 1000 - 700)])
      printProbe(m === 0 ? payload.label : '', mode, latencies, loaded)
    }
  }
} finally {
  await Promise.all(servers.map((s) => s.close()))
  await rm(dir, { recursive: true, force: true })
}
