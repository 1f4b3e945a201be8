// The HTTP edge against hostile or broken clients: slow and idle ones are cut
// off well inside the API server's webhook timeout while others are served,
// the number of connections is bounded, metric labels come from a fixed set,
// and what a caller wrote is repeated only truncated.

import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { buildApp } from '../src/server/app.ts'
import { createMetrics } from '../src/server/metrics.ts'
import { startServer } from '../src/server/serve.ts'
import {
  captureLogs,
  httpsRequest,
  loadExampleCatalog,
  mintCerts,
  reviewOf,
  root,
  sample,
  sleep,
  startTestServer,
  type TapTest,
  type TestServer,
} from './helpers/server.ts'

const example = JSON.parse(await readFile(join(root, 'examples/admission/taskrun-review.json'), 'utf8')) as Record<string, unknown>

interface Ended {
  /** Everything the server wrote before the socket closed. */
  received: string
  /** Bytes we had trickled when it closed. */
  sent: number
  closed: boolean
}

/** One drop every 250 ms, 40 at most: the 10 s ceiling that bounds every wait below. */
const everyMs = 250
const maxDrops = 40

/**
 * Opens a connection (TLS unless `raw`), writes `prefix`, then `drip` every
 * `everyMs`, until the server closes the socket or `maxDrops` have gone out.
 */
function trickle(port: number, ca: Buffer, options: { prefix?: string; drip?: string; raw?: boolean } = {}): Promise<Ended> {
  const { prefix = '', drip = ' ' } = options
  return new Promise((resolve) => {
    let received = ''
    let sent = 0
    let timer: NodeJS.Timeout | undefined
    const start = (): void => {
      if (prefix !== '') socket.write(prefix)
      timer = setInterval(() => {
        if (sent >= maxDrops) {
          clearInterval(timer)
          resolve({ received, sent, closed: false })
          socket.destroy()
          return
        }
        if (!socket.destroyed && socket.writable) {
          socket.write(drip)
          sent++
        }
      }, everyMs)
    }
    const socket: net.Socket = options.raw
      ? net.connect(port, '127.0.0.1', start)
      : tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, start)
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')))
    socket.on('error', () => undefined)
    socket.on('close', () => {
      clearInterval(timer)
      resolve({ received, sent, closed: true })
    })
  })
}

// Two servers serve every test here but the connection-limit one: starting one per test (a worker thread,
// TLS) cost more CPU than the tests. A test that reads the logs reads only what was logged since it began.
const shortDeadline = await startTestServer(t, { deadlineMs: 1000 })
const plain = await startTestServer(t)

/** What `server` logs from now on. */
function logsFrom(server: TestServer) {
  const lines = server.logs.lines().length
  const text = server.logs.text().length
  return {
    lines: () => server.logs.lines().slice(lines),
    admissionLines: () =>
      server.logs
        .lines()
        .slice(lines)
        .filter((l) => l.msg === 'admission'),
    text: () => server.logs.text().slice(text),
  }
}

const bodyHeaders = 'POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n'

t.test('slow and silent clients are cut off with 408, while /healthz keeps answering', async (t) => {
  // --deadline 1s: the whole request must arrive within a second. All
  // clients run at once, so the ceiling (40 drops, 10 s) is waited out once.
  const server = shortDeadline
  const logs = logsFrom(server)
  const port = server.running.port
  const ca = server.certs.ca
  const bodies = Array.from({ length: 20 }, () => trickle(port, ca, { prefix: bodyHeaders, drip: '{' }))
  const headers = trickle(port, ca, { prefix: 'POST /mutate HTTP/1.1\r\nHost: localhost\r\n', drip: 'x' })
  // Node's own default waits 120 s for a ClientHello.
  const silentTcp = trickle(port, ca, { raw: true, drip: '' })
  const silentTls = trickle(port, ca, { drip: '' })
  const probes: number[] = []
  for (let i = 0; i < 3; i++) {
    probes.push((await server.request('/healthz')).status)
    await sleep(150)
  }
  t.same(probes, [200, 200, 200], '/healthz answers while twenty bodies trickle in')

  const ended = await Promise.all(bodies)
  t.ok(
    ended.every((e) => e.closed),
    `every trickled body was cut off before the ceiling (bytes sent: ${ended.map((e) => e.sent).join(', ')})`,
  )
  t.ok(
    ended.every((e) => e.received.startsWith('HTTP/1.1 408 ')),
    'each got 408 Request Timeout',
  )
  const header = await headers
  t.ok(header.closed, `headers that never finish are cut off (after ${header.sent} bytes)`)
  t.match(header.received, /^HTTP\/1\.1 408 /)
  t.ok((await silentTcp).closed, 'a TCP connection that never starts TLS is closed')
  const tlsOnly = await silentTls
  t.ok(tlsOnly.closed, 'a TLS connection that never sends a request is closed')
  t.match(tlsOnly.received, /^HTTP\/1\.1 408 /, 'with 408')

  t.equal((await server.request('/healthz')).status, 200, 'and the server is still serving')
  t.equal(logs.admissionLines().length, 0, 'no partial request reached admission')
})

/** POSTs `body` over `agent`; the result says whether the connection was reused. */
function post(server: TestServer, agent: https.Agent, body: unknown) {
  return httpsRequest(server.url, server.certs.ca, '/mutate', { body, agent })
}

t.test('a kept-alive connection serves requests after idling longer than the request timeout', async (t) => {
  const server = shortDeadline
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const first = await post(server, agent, example)
  t.equal(first.status, 200)
  // Idle, as the API server's pooled connections are between admissions:
  // past the request timeout (1 s) and a few of Node's checks.
  await sleep(2500)
  const second = await post(server, agent, example)
  t.equal(second.status, 200, 'answered')
  t.equal(second.reusedSocket, true, 'over the same connection')
  t.equal(JSON.parse(second.text).response.allowed, true)
  // The API server (Go's http.Transport) closes idle connections after 90 s;
  // closing ours first would race its next request on them.
  t.ok(
    server.running.app.server.keepAliveTimeout > 90_000,
    `keep-alive timeout ${server.running.app.server.keepAliveTimeout} ms outlasts the API server's 90 s`,
  )
})

t.test('request headers over 8 KiB get 431', async (t) => {
  const server = plain
  const res = await server.request('/healthz', { headers: { 'x-padding': 'p'.repeat(12 * 1024) } })
  t.equal(res.status, 431, 'Node would have taken 16 KiB')
  t.equal((await server.request('/healthz', { headers: { 'x-padding': 'p'.repeat(2 * 1024) } })).status, 200, 'ordinary headers pass')
})

/** A TLS connection that finished its handshake and stays open, or the error that ended it. */
function connect(port: number, ca: Buffer): Promise<{ socket?: tls.TLSSocket; error?: Error }> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => resolve({ socket }))
    socket.on('error', (error) => resolve({ error }))
    socket.on('close', () => resolve({ error: new Error('closed before the handshake finished') }))
  })
}

t.test('connections past --max-connections are closed on arrival; the others keep working', async (t) => {
  const certs = await mintCerts(t)
  const running = await startServer({
    workers: 1,
    host: '127.0.0.1',
    port: 0,
    certFile: certs.certFile,
    keyFile: certs.keyFile,
    catalog: await loadExampleCatalog(),
    logger: captureLogs().logger,
    deadlineMs: 5000,
    onTimeout: 'deny',
    maxConnections: 3,
  })
  t.teardown(() => running.close())
  const held = await Promise.all([1, 2, 3].map(() => connect(running.port, certs.ca)))
  t.ok(
    held.every((h) => h.socket),
    'three connections are accepted',
  )
  const fourth = await connect(running.port, certs.ca)
  t.ok(fourth.error, `the fourth is closed: ${fourth.error?.message}`)
  fourth.socket?.destroy()
  held[0]?.socket?.destroy()
  let again: { socket?: tls.TLSSocket; error?: Error } = {}
  for (let i = 0; i < 50 && !again.socket; i++) {
    again = await connect(running.port, certs.ca)
    if (!again.socket) await sleep(50)
  }
  t.ok(again.socket, 'once one closes, a new connection is accepted')
  again.socket?.destroy()
  for (const h of held) h.socket?.destroy()
})

/** Posts `reviews` `width` at a time. */
async function postAll(server: TestServer, reviews: unknown[], width = 25): Promise<number[]> {
  const statuses: number[] = []
  for (let i = 0; i < reviews.length; i += width) {
    const batch = await Promise.all(reviews.slice(i, i + width).map((r) => server.request('/mutate', { body: r })))
    statuses.push(...batch.map((b) => b.status))
  }
  return statuses
}

t.test('caller-chosen resource and kind names never become metric labels', async (t) => {
  const server = plain
  const taskRun = (example as { request: { object: Parameters<typeof reviewOf>[0] } }).request.object
  const padding = 'x'.repeat(200)
  const reviews = [
    // A unique resource for a kind we handle: it still expands, and counts as `other`.
    ...Array.from({ length: 150 }, (_, i) => reviewOf(taskRun, { resource: { group: 'tekton.dev', version: 'v1', resource: `r${i}-${padding}` } })),
    // A unique kind with no resource: skipped, and `other` too.
    ...Array.from({ length: 150 }, (_, i) => {
      const review = reviewOf(null, { operation: 'DELETE', kind: { group: 'example.com', version: 'v1', kind: `K${i}${padding}` } }) as {
        request: Record<string, unknown>
      }
      delete review.request.resource
      return review
    }),
  ]
  const statuses = await postAll(server, reviews)
  t.ok(
    statuses.every((s) => s === 200),
    'all 300 answered',
  )
  const m = await server.metrics()
  // stepsplice's own series; the process and Node.js metrics beside them are a fixed set of their own.
  const ours = m.split('\n').filter((l) => l.startsWith('stepsplice_'))
  t.ok(ours.length < 120, `${ours.length} series`)
  const oursText = ours.join('\n')
  t.ok(oursText.length < 32 * 1024, `stepsplice's metrics are ${oursText.length} bytes`)
  t.notMatch(m, padding, 'no caller string in any label')
  t.equal(sample(m, 'stepsplice_admission_requests_total', { endpoint: 'mutate', resource: 'other', outcome: 'patched' }), 150)
  t.equal(sample(m, 'stepsplice_admission_requests_total', { endpoint: 'mutate', resource: 'other', outcome: 'skipped' }), 150)
  t.equal(sample(m, 'stepsplice_expanded_steps_total', { resource: 'other' }), 450, 'three steps each')
})

const MiB = 1024 * 1024

async function badReview(t: TapTest, server: TestServer, review: unknown): Promise<string> {
  const res = await server.request('/mutate', { body: review })
  t.equal(res.status, 400)
  t.ok(res.text.length < 1024, `a small body: ${res.text.length} bytes`)
  return (JSON.parse(res.text) as { error: string }).error
}

t.test('a 1 MiB field in a bad review gives a small 400 that names the field', async (t) => {
  const server = plain
  const logs = logsFrom(server)
  const big = 'K'.repeat(MiB)

  const kind = await badReview(t, server, { apiVersion: 'admission.k8s.io/v1', kind: big, request: {} })
  t.match(kind, /^kind must be AdmissionReview, got "K+"…\(1048576 chars\)$/)

  const version = await badReview(t, server, { apiVersion: big, kind: 'AdmissionReview', request: {} })
  t.match(version, /^unsupported AdmissionReview version "K+"…\(1048576 chars\)/)

  const objectKind = reviewOf({ apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { name: 'x' } }) as { request: { object: { kind: string } } }
  objectKind.request.object.kind = big
  t.match(
    await badReview(t, server, objectKind),
    /^request\.object is tekton\.dev\/v1 K+…\(1048576 chars\) but request\.kind declares tekton\.dev\/v1 TaskRun$/,
  )

  const declared = reviewOf({ apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { name: 'x' } }) as { request: Record<string, unknown> }
  declared.request.kind = { group: 'tekton.dev', version: big, kind: big }
  const both = await badReview(t, server, declared)
  t.match(both, /request\.kind declares tekton\.dev\/K+…\(1048587 chars\) K+…\(1048576 chars\)$/)

  const objectValue = await badReview(t, server, { apiVersion: 'admission.k8s.io/v1', kind: { huge: big }, request: {} })
  t.match(objectValue, /^kind must be AdmissionReview, got \{"huge":"K+…\(1048587 chars\)$/, 'a non-string value is cut as JSON text')

  const logged = logs.lines().filter((l) => l.msg === 'bad admission review')
  t.equal(logged.length, 5, 'each logged once')
  t.ok(
    logged.every((l) => JSON.stringify(l).length < 2048),
    'with a small log line',
  )
})

t.test('bodies that are not JSON, and unknown routes, are answered small', async (t) => {
  const server = plain
  const logs = logsFrom(server)
  const notJson = await server.request('/mutate', { body: `{"a": ${'x'.repeat(MiB)}` })
  t.equal(notJson.status, 400)
  t.ok(notJson.text.length < 1024, `${notJson.text.length} bytes`)
  t.match(JSON.parse(notJson.text).error, /^body is not valid JSON/)

  const longPath = `/${'p'.repeat(6000)}`
  const missing = await server.request(longPath)
  t.equal(missing.status, 404)
  t.ok(missing.text.length < 1024, `404 body is ${missing.text.length} bytes, not a copy of the URL`)
  t.match(JSON.parse(missing.text).error, /^no route GET \/p+…\(6001 chars\)$/)

  t.ok(logs.text().length < 8 * 1024, `the log stayed small: ${logs.text().length} bytes`)
})

t.test('an admitted object with a 1 MiB name and namespace logs them truncated', async (t) => {
  const server = plain
  const logs = logsFrom(server)
  const big = 'n'.repeat(MiB)
  const object = {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { name: big, namespace: big },
    spec: { taskSpec: { steps: [{ name: 'a', image: 'x' }] } },
  }
  const reply = await server.review('/mutate', reviewOf(object, { uid: 'u-1' }))
  t.equal(reply.status, 200)
  const [line] = logs.admissionLines()
  t.ok(line, 'one admission line')
  t.ok(JSON.stringify(line).length < 2048, `the log line is ${JSON.stringify(line).length} bytes`)
  t.match(line, { name: /^n+…\(1048576 chars\)$/, namespace: /^n+…\(1048576 chars\)$/, uid: 'u-1' })
})

t.test('a uid longer than any the API server sends is refused: the answer would have to repeat it', async (t) => {
  const server = plain
  const object = { apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { name: 'x' }, spec: {} }
  const res = await server.request('/mutate', { body: reviewOf(object, { uid: `u-${'n'.repeat(MiB)}` }) })
  t.equal(res.status, 400)
  t.ok(res.text.length < 1024, `a small answer: ${res.text.length} bytes`)
  t.match(res.text, /request\.uid is 1048578 characters; a uid is at most 256/)
})

t.test("only a core Pod is answered on the server's thread: a TaskRun whose text looks like a Pod's goes to a worker", async (t) => {
  // The server's thread answers a Pod that mentions stepsplice nowhere without the worker's round trip, picking it
  // out by its text. An unknown field can make any object's text look so; it is decoded, found not to be a Pod, and
  // handed to the pool, where the deadline can stop it, before anything is resolved or expanded.
  const certs = await mintCerts(t)
  const asked: string[] = []
  const pool = {
    run: async (_endpoint: string, body: string) => {
      asked.push((JSON.parse(body) as { request: { kind: { kind: string } } }).request.kind.kind)
      return { overloaded: true as const }
    },
  }
  const app = buildApp(
    { catalog: await loadExampleCatalog(), metrics: createMetrics(() => 0), logger: captureLogs().logger, ready: () => true, pool: pool as never },
    { tls: { cert: await readFile(certs.certFile), key: await readFile(certs.keyFile) }, deadlineMs: 2000, onTimeout: 'deny' },
  )
  t.teardown(() => app.close())
  const post = (review: unknown) =>
    app.inject({ method: 'POST', url: '/mutate', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(review) })
  const taskRun = (example.request as { object: Record<string, unknown> }).object
  const disguised = { ...taskRun, spec: { ...(taskRun.spec as object), x: { kind: { kind: 'Pod' } } } }
  const fromPool = await post({ ...example, request: { ...(example.request as object), object: disguised } })
  t.same(asked, ['TaskRun'], 'the TaskRun went to the pool')
  t.equal(fromPool.statusCode, 503, "and got the pool's answer (here: overloaded)")

  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'alpine' }] } }
  const passed = await post(reviewOf(pod))
  t.equal(passed.statusCode, 200)
  t.match(JSON.parse(passed.body), { response: { allowed: true } })
  t.same(asked, ['TaskRun'], "a Pod that asks for nothing is answered on the server's thread")
})
