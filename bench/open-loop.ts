// An open-loop load generator: requests are due at a fixed rate, each at its
// own time, and each one's latency is measured from when it was due, not from
// when it could be sent. autocannon's fixed rate sends each second's quota as
// a burst and times requests from when they leave, so a server that stalls
// is sent less and its stall is hidden (coordinated omission); here a stall
// shows as the latency of every request that fell due during it.

import https from 'node:https'

export interface OpenLoopOptions {
  port: number
  path: string
  body: string
  /** Requests per second. */
  rate: number
  seconds: number
  /** Most connections open at once; a request due while all are busy waits, and its wait counts. */
  connections: number
  /**
   * Seconds at the same rate before measuring, on the same connections: a
   * generator that starts cold opens its connections in a burst of TLS
   * handshakes, and their queue is the generator's doing, not the server's.
   */
  warmup?: number
}

export interface OpenLoopResult {
  sent: number
  /** Answers other than 200, and connection errors. */
  failed: number
  /** Milliseconds from due time to the whole answer. */
  p50: number
  p99: number
  max: number
  /**
   * The generator's own lateness, ms: how long after its due time each
   * request was handed to a connection, p99. Its event loop pauses too (GC,
   * reading answers, the host taking the core away); a server's p99 no
   * larger than this says the tail was the generator's or the machine's.
   */
  lateP99: number
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number
}

export async function openLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: options.connections, rejectUnauthorized: false })
  try {
    if (options.warmup !== undefined && options.warmup > 0) await run(agent, { ...options, seconds: options.warmup })
    return await run(agent, options)
  } finally {
    agent.destroy()
  }
}

async function run(agent: https.Agent, options: OpenLoopOptions): Promise<OpenLoopResult> {
  const interval = 1000 / options.rate
  const total = Math.max(1, Math.round(options.rate * options.seconds))
  const latencies: number[] = []
  const lateness: number[] = []
  let failed = 0
  let finished = 0
  const start = performance.now() + 5
  const body = Buffer.from(options.body)

  await new Promise<void>((resolve) => {
    const send = (due: number): void => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: options.port,
          path: options.path,
          method: 'POST',
          agent,
          servername: 'localhost',
          headers: { 'content-type': 'application/json', 'content-length': body.length },
        },
        (res) => {
          res.resume()
          res.on('end', () => {
            latencies.push(performance.now() - due)
            if (res.statusCode !== 200) failed++
            if (++finished === total) resolve()
          })
        },
      )
      req.on('error', () => {
        failed++
        if (++finished === total) resolve()
      })
      req.end(body)
    }
    let next = 0
    const tick = (): void => {
      const now = performance.now()
      while (next < total && start + next * interval <= now) {
        const due = start + next++ * interval
        // When it is handed over: a burst's last request waits for the ones sent before it.
        lateness.push(performance.now() - due)
        send(due)
      }
      if (next >= total) return
      const wait = start + next * interval - now
      // Timers fire a millisecond late or so; the last stretch is waited for on the event loop, which this core has to itself.
      if (wait > 2) setTimeout(tick, wait - 1.5)
      else setImmediate(tick)
    }
    tick()
  })
  latencies.sort((a, b) => a - b)
  lateness.sort((a, b) => a - b)
  const round = (ms: number): number => Math.round(ms * 100) / 100
  return {
    sent: total,
    failed,
    p50: round(quantile(latencies, 0.5)),
    p99: round(quantile(latencies, 0.99)),
    max: round(latencies.at(-1) ?? Number.NaN),
    lateP99: round(quantile(lateness, 0.99)),
  }
}
