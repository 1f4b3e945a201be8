// Past its deadline the webhook answers with a decision (deny with 504, or
// allow unexpanded with a warning) instead of letting the API server's call
// time out, and it counts every such answer.

import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { loadExampleCatalog, reviewOf, root, sample, SlowCatalog, startTestServer, type TestServer } from './helpers/server.ts'

const example = JSON.parse(await readFile(join(root, 'examples/admission/taskrun-review.json'), 'utf8')) as { request: { uid: string } }
const deadlineExceeded = 'stepsplice_admission_deadline_exceeded_total'
/**
 * Long enough for a warmed worker to reach the catalog on a loaded host (make test runs files side by side on two
 * cores): at 500 ms, and once at 2 s, a run's deadline passed before the worker asked anything, and the answer was
 * worded as a timeout of expansion. The catalog never answers, so the tests wait this long and no longer.
 */
const timedDeadlineMs = 5000

/**
 * The worker's first request compiles the admission code: a TaskRun with no ref (no lookup) is that one, so a
 * timed request then reaches the catalog long before its deadline even on a loaded machine (once it did not, and
 * a timeout before any lookup is worded as one of expansion).
 */
async function warmUp(t: Test, server: TestServer, catalog: SlowCatalog): Promise<void> {
  const object = {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { name: 'warm' },
    spec: { taskSpec: { steps: [{ name: 'a', image: 'alpine', script: 'true' }] } },
  }
  const warm = await server.review('/mutate', reviewOf(object))
  t.equal(warm.body.response.allowed, true, 'the warm-up is admitted')
  t.equal(catalog.calls, 0, 'and asks the catalog nothing')
}

t.test('deny on timeout: 504 naming the deadline, counted, catalog told to stop', async (t) => {
  // Far longer than the deadline; the test never waits for it, because the signal cuts it short.
  const catalog = new SlowCatalog(await loadExampleCatalog(), 60_000)
  const server = await startTestServer(t, { catalog, deadlineMs: timedDeadlineMs, onTimeout: 'deny' })
  await warmUp(t, server, catalog)
  const before = sample(await server.metrics(), deadlineExceeded, { resource: 'taskruns' })
  t.equal(before, undefined, 'no timeouts counted yet')

  const reply = await server.review('/mutate', example)
  t.equal(reply.status, 200)
  const response = reply.body.response
  t.equal(response.uid, example.request.uid)
  t.equal(response.allowed, false)
  t.equal(response.status?.code, 504)
  t.equal(response.status?.reason, 'Timeout')
  t.match(response.status?.message, new RegExp(`^TaskRun default/build-\\*: step definitions could not be resolved within ${timedDeadlineMs} ms$`))
  t.notOk(response.patch)

  t.ok(catalog.calls > 0, 'the catalog was asked')
  t.equal(catalog.aborted, catalog.calls, 'every pending resolution was aborted through options.signal')

  const metrics = await server.metrics()
  t.equal(sample(metrics, deadlineExceeded, { resource: 'taskruns' }), 1, 'deadline counter incremented')
  t.equal(sample(metrics, 'stepsplice_admission_requests_total', { endpoint: 'mutate', resource: 'taskruns', outcome: 'timeout' }), 1)
  t.equal(sample(metrics, 'stepsplice_admission_denials_total', { endpoint: 'mutate', resource: 'taskruns' }), 1, 'a timeout denial is a denial')

  const [line, ...more] = server.logs.admissionLines().filter((l) => l.uid === example.request.uid)
  t.equal(more.length, 0, 'one admission log line for it')
  t.match(line, { outcome: 'timeout', allowed: false, uid: example.request.uid })

  await server.review('/mutate', example)
  t.equal(sample(await server.metrics(), deadlineExceeded, { resource: 'taskruns' }), 2, 'counted again')
})

t.test('allow on timeout: admitted unexpanded, with a warning', async (t) => {
  const catalog = new SlowCatalog(await loadExampleCatalog(), 60_000)
  const server = await startTestServer(t, { catalog, deadlineMs: timedDeadlineMs, onTimeout: 'allow' })
  await warmUp(t, server, catalog)
  const reply = await server.review('/mutate', example)
  t.equal(reply.status, 200)
  const response = reply.body.response
  t.equal(response.uid, example.request.uid)
  t.equal(response.allowed, true)
  t.notOk(response.patch, 'no patch')
  t.notOk(response.patchType, 'no patchType')
  t.notOk(response.status)
  t.equal(response.warnings?.length, 1, 'one warning')
  t.match(response.warnings?.[0], new RegExp(`could not be resolved within ${timedDeadlineMs} ms; admitted without expansion`))
  t.ok((response.warnings?.[0] ?? '').length <= 256, 'warning short enough to survive the API server')
  t.equal(catalog.aborted, catalog.calls)

  const metrics = await server.metrics()
  t.equal(sample(metrics, deadlineExceeded, { resource: 'taskruns' }), 1, 'deadline counter incremented')
  t.equal(sample(metrics, 'stepsplice_admission_denials_total', { endpoint: 'mutate', resource: 'taskruns' }), undefined, 'not a denial')
  t.match(server.logs.admissionLines().at(-1), { outcome: 'timeout', allowed: true, uid: example.request.uid })
})

t.test('a slow catalog inside the deadline still expands', async (t) => {
  const catalog = new SlowCatalog(await loadExampleCatalog(), 20)
  const server = await startTestServer(t, { catalog, deadlineMs: 10_000, onTimeout: 'deny' })
  const reply = await server.review('/mutate', example)
  t.equal(reply.body.response.allowed, true)
  t.equal(reply.body.response.patchType, 'JSONPatch')
  t.equal(catalog.aborted, 0, 'nothing aborted')
  t.equal(sample(await server.metrics(), deadlineExceeded, { resource: 'taskruns' }), undefined, 'no timeout counted')
})

t.test('a timeout names the request whatever its size: the worker sends a large body’s fields, the server reads a small one’s', async (t) => {
  const catalog = new SlowCatalog(await loadExampleCatalog(), 60_000)
  const server = await startTestServer(t, { catalog, deadlineMs: 200, onTimeout: 'deny' })
  const large = structuredClone(example) as { request: { uid: string; object: { metadata: { annotations?: Record<string, string> } } } }
  large.request.uid = 'large-review'
  // Past the 16 KiB the server's thread reads itself (server/worker-protocol.ts#decodedByServerBytes).
  large.request.object.metadata.annotations = { ...large.request.object.metadata.annotations, 'example.com/notes': 'n'.repeat(100 * 1024) }
  for (const [what, review, uid] of [
    ['small', example, example.request.uid],
    ['large', large, 'large-review'],
  ] as const) {
    const reply = await server.review('/mutate', review)
    t.equal(reply.body.response.uid, uid, `${what}: answered with its uid`)
    t.equal(reply.body.response.status?.code, 504, `${what}: the deadline's answer`)
  }
  t.same(
    server.logs.admissionLines().map((l) => (l as { uid?: string }).uid),
    [example.request.uid, 'large-review'],
    'each logged with its uid',
  )
})
