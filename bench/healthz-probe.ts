// A worker thread for bench/admission.ts: asks GET /healthz one request at a
// time, a few milliseconds apart, for a while, and posts back each latency in
// milliseconds. It runs on its own thread so that the wait it measures is
// the server's, not a load generator's sharing the server's event loop.
// One kept-alive connection, TLS verified against the bench's CA: the probe
// measures how long the server's thread takes to get to a request, not the
// cost of a handshake.

import https from 'node:https'
import { setTimeout as sleep } from 'node:timers/promises'
import { parentPort, workerData } from 'node:worker_threads'

export interface ProbeSettings {
  url: string
  ca: string
  /** Start probing this long after the connection is open (while the load gets going). */
  delayMs: number
  durationMs: number
  gapMs: number
}

const port = parentPort
if (port === null) throw new Error('bench/healthz-probe.ts runs as a worker thread')
const settings = workerData as ProbeSettings
const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: settings.ca })

function healthz(): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now()
    const req = https.get(new URL('/healthz', settings.url), { agent }, (res) => {
      res.resume()
      res.on('error', reject)
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - start) : reject(new Error(`/healthz answered ${res.statusCode}`))))
    })
    req.on('error', reject)
  })
}

// The first request opens the connection: its handshake is not what is measured.
await healthz()
await sleep(settings.delayMs)
const latencies: number[] = []
const until = performance.now() + settings.durationMs
while (performance.now() < until) {
  latencies.push(await healthz())
  await sleep(settings.gapMs)
}
agent.destroy()
port.postMessage(latencies)
