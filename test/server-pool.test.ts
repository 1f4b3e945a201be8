// The admission pool keeps the deadline for work that never ends: a request
// computing forever on a worker is answered at its deadline from the
// server's thread, which keeps running meanwhile, and the worker is replaced.
// The worker here (test/fixtures/spinning-worker.ts) speaks the real
// protocol and spins on the body "spin", as a pathological input would.

import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import t from 'tap'
import type { Catalog } from '../src/resolution/catalog.ts'
import { MemoryCatalog } from '../src/resolution/memory.ts'
import { AdmissionPool, type PoolAnswer, sendAheadFor } from '../src/server/pool.ts'
import { monotonicMs } from '../src/server/worker-protocol.ts'

const workerUrl = new URL('./fixtures/spinning-worker.ts', import.meta.url)

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const spin = (ms: number): void => {
  for (const until = Date.now() + ms; Date.now() < until; );
}

/** Which worker thread answered a request of the fixture's "whoami". */
const threadOf = (a: PoolAnswer): number | undefined => ('handled' in a ? (JSON.parse(a.handled.body) as { thread: number }).thread : undefined)

function pool(t: { teardown(fn: () => unknown): void }, size = 1, maxQueue?: number): AdmissionPool {
  const p = new AdmissionPool({
    size,
    catalog: MemoryCatalog.of('test', []),
    settings: { deadlineMs: 200, onTimeout: 'deny' },
    workerUrl,
    ...(maxQueue === undefined ? {} : { maxQueue }),
  })
  t.teardown(() => p.close())
  return p
}

t.test('a request that computes forever is answered at its deadline, and its worker replaced', async (t) => {
  const p = pool(t)
  await p.started()
  const events: string[] = []
  const spinning = p.run('mutate', 'spin', 200).then((answer) => {
    events.push('answered')
    return answer
  })
  // The server's own thread keeps turning while the worker spins.
  await new Promise<void>((resolve) =>
    setTimeout(() => {
      events.push('timer')
      resolve()
    }, 20),
  )
  const answer = await spinning
  t.same(events, ['timer', 'answered'], 'the event loop ran before the answer came')
  t.match(answer, { timedOut: true, resolving: false, fields: { uid: 'uid-0', kind: 'TaskRun' } })
  const next = await p.run('mutate', 'hello', 5000)
  t.match(next, { handled: { status: 200, body: '{"answered":"hello"}' } }, 'a fresh worker answers the next request')
})

t.test('a request sent ahead to a busy worker gets its answer from the next one when that worker is replaced', async (t) => {
  const p = pool(t)
  await p.started()
  const spinning = p.run('mutate', 'spin', 200)
  const waiting = p.run('mutate', 'after', 10_000)
  t.match(await spinning, { timedOut: true })
  t.match(await waiting, { handled: { body: '{"answered":"after"}' } })
})

t.test('what a replaced worker held and had not started goes at once to a worker that is free, not to its successor', async (t) => {
  const p = pool(t, 2)
  await p.started()
  t.equal(sendAheadFor(2), 2, 'each of two workers is sent one request ahead')
  // The first worker spins; the second answers (and says who it is) and is then idle. The third request is sent
  // ahead to the first worker, behind the spinning one, since the second was busy when it came.
  const spinning = p.run('mutate', 'spin', 300)
  const second = p.run('mutate', 'whoami:50', 10_000)
  const third = p.run('mutate', 'whoami', 10_000)
  const free = await second
  t.match(await spinning, { timedOut: true })
  const threadOf = (a: Awaited<typeof second>): number | undefined => ('handled' in a ? (JSON.parse(a.handled.body) as { thread: number }).thread : undefined)
  t.equal(threadOf(await third), threadOf(free), 'the free worker took it, without waiting for the spinning one to be replaced')
})

t.test('an answer the worker sent before the deadline, read late because this thread was held up, is taken', async (t) => {
  const p = pool(t)
  await p.started()
  // The first request is done after 50 ms, its deadline at 400 (room for a loaded host); the second waits behind
  // it in the same worker.
  const first = p.run('mutate', 'whoami:50', 400)
  const second = p.run('mutate', 'whoami:200', 10_000)
  // This thread is held up from 20 ms to 620 ms (a long callback): the worker's answer waits unread past the deadline.
  setTimeout(() => setImmediate(() => spin(600)), 20)
  const [a, b] = await Promise.all([first, second])
  t.match(a, { handled: { status: 200 } }, 'its own answer, not the deadline’s')
  t.equal(threadOf(b), threadOf(a), 'and the worker was not stopped: the request behind it ran there')
})

t.test('a request still queued at its deadline is not handed to a worker the same turn frees, and no worker is stopped for it', async (t) => {
  const p = pool(t)
  await p.started()
  const before = threadOf(await p.run('mutate', 'whoami', 10_000))
  // The worker holds 16 (the first busy for 50 ms); the 17th waits in the pool's queue, its deadline 100 ms away.
  const held = [p.run('mutate', 'busy:50', 10_000), ...Array.from({ length: sendAheadFor(1) - 1 }, () => p.run('mutate', 'now', 10_000))]
  const queued = p.run('mutate', 'busy:5', 100)
  // This thread is held up past that deadline: the timer and the worker's answers come in the same turn.
  setTimeout(() => setImmediate(() => spin(400)), 20)
  t.match(await queued, { timedOut: true }, 'answered at its deadline')
  await Promise.all(held)
  t.equal(threadOf(await p.run('mutate', 'whoami', 10_000)), before, 'by the same worker: none was stopped')
})

t.test('a request moved to another worker in the turn its deadline came does not get that worker stopped', async (t) => {
  const p = pool(t, 2)
  await p.started()
  // The first worker spins (deadline 100 ms); the second answers at 50 ms, who it is, and is idle then. The third
  // waits behind the spinning one, its deadline at 150 ms.
  // This thread is held up from the first's deadline, right after its worker is told to stop (the answer is settled
  // just before), past the third's: that worker's exit and the third's deadline come in one turn, and the exit sends
  // the third to the idle second worker. Started from the answer, not from a timer of its own, the hold-up cannot
  // come a turn late and let the exit be read first (a loaded host did that once).
  const spinning = p.run('mutate', 'spin', 100).then((answer) => {
    spin(250)
    return answer
  })
  const second = p.run('mutate', 'whoami:50', 10_000)
  const third = p.run('mutate', 'whoami', 150)
  const survivor = threadOf(await second)
  t.match(await spinning, { timedOut: true })
  // At its deadline as a rule; twice in CI under full load the turns fell otherwise and it was not timed out. What
  // this test guards holds either way: the worker it was moved to is not stopped for it (below). The answer is shown
  // so a log says which way it went.
  const thirdAnswer = await third
  t.ok('timedOut' in thirdAnswer || 'handled' in thirdAnswer, `the third answered: ${JSON.stringify(thirdAnswer).slice(0, 200)}`)
  await sleep(50)
  const both = await Promise.all([p.run('mutate', 'whoami:100', 10_000), p.run('mutate', 'whoami:100', 10_000)])
  t.ok(both.map(threadOf).includes(survivor), 'the second worker still answers: it was not stopped')
})

t.test('a request still queued at its deadline is answered without having been read', async (t) => {
  const p = pool(t)
  await p.started()
  const spinning = p.run('mutate', 'spin', 1000)
  const queued = await p.run('mutate', 'late', 100)
  t.same(queued, { timedOut: true, resolving: false }, 'no fields: it was never decoded')
  t.match(await spinning, { timedOut: true })
})

t.test("a large request still queued at its deadline is answered with its envelope's fields, its object never parsed", async (t) => {
  // The server's thread does not parse a body over 16 KiB; without its uid the answer would be a 503, not the
  // AdmissionReview --on-timeout says, and the API server would apply failurePolicy.
  const p = pool(t)
  await p.started()
  const spinning = p.run('mutate', 'spin', 1000)
  const body = JSON.stringify({
    kind: 'AdmissionReview',
    apiVersion: 'admission.k8s.io/v1',
    request: {
      uid: 'big-1',
      kind: { group: 'tekton.dev', version: 'v1', kind: 'TaskRun' },
      resource: { group: 'tekton.dev', version: 'v1', resource: 'taskruns' },
      name: 'tr',
      namespace: 'team',
      operation: 'CREATE',
      object: { apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { name: 'tr' }, spec: { x: 'y'.repeat(100_000) } },
    },
  })
  const queued = await p.run('mutate', body, 100)
  t.match(queued, { timedOut: true, resolving: false, fields: { uid: 'big-1', kind: 'TaskRun', name: 'tr', namespace: 'team' } })
  t.match(await spinning, { timedOut: true })
})

t.test('more waiting requests than the queue takes are answered as overloaded', async (t) => {
  t.equal(sendAheadFor(1), 16, 'one worker is sent up to 16 at once')
  t.equal(sendAheadFor(2), 2, 'several, 2 each')
  for (const size of [1, 2]) {
    const p = pool(t, size, 1)
    await p.started()
    const spinning = Array.from({ length: size }, () => p.run('mutate', 'spin', 400))
    // Sent ahead to the busy workers, which take them when they are done with the ones they run.
    const sentAhead = Array.from({ length: size * (sendAheadFor(size) - 1) }, (_, i) => p.run('mutate', `next ${i}`, 400))
    const queued = p.run('mutate', 'queued', 400)
    t.same(await p.run('mutate', 'one too many', 400), { overloaded: true }, `${size} worker(s): held ${sendAheadFor(size)} each, then one queued`)
    for (const s of spinning) t.match(await s, { timedOut: true })
    for (const a of await Promise.all(sentAhead)) t.notSame(a, { overloaded: true })
    t.notSame(await queued, { overloaded: true })
  }
})

t.test('close answers what is in flight and stops the workers', async (t) => {
  const p = new AdmissionPool({ size: 1, catalog: MemoryCatalog.of('test', []), settings: { deadlineMs: 200, onTimeout: 'deny' }, workerUrl })
  await p.started()
  const spinning = p.run('mutate', 'spin', 60_000)
  await new Promise((resolve) => setTimeout(resolve, 20))
  await p.close()
  t.match(await spinning, { timedOut: true })
})

t.test('a request the worker sets aside as past its deadline is answered as timed out, whoever sees it first', async (t) => {
  const p = pool(t)
  await p.started()
  t.match(await p.run('mutate', 'skip', 60_000), { timedOut: true, resolving: false, fields: { uid: 'uid-0' } }, 'not an answer of its own')
  t.match(await p.run('mutate', 'hello', 5000), { handled: { body: '{"answered":"hello"}' } }, 'the worker goes on')
})

t.test('a worker that runs a request answered while it waited there is replaced', async (t) => {
  const p = pool(t)
  await p.started()
  // The worker is busy for 300 ms; the request behind it is answered at its deadline while it waits, and then
  // the worker starts it anyway and computes forever (a pool timer a moment ahead of the worker's clock).
  const busy = p.run('mutate', 'busy:300', 5000)
  const stale = p.run('mutate', 'spin', 100)
  t.match(await stale, { timedOut: true }, 'answered at its deadline, still waiting in the worker')
  const after = p.run('mutate', 'after', 5000)
  t.match(await busy, { handled: { body: '{"answered":"busy:300"}' } })
  t.match(await after, { handled: { body: '{"answered":"after"}' } }, 'answered by a fresh worker, well before its own deadline')
})

t.test('a worker that computes on after its catalog questions were answered at the deadline is replaced', async (t) => {
  // A catalog that answers only when the request gives up on it.
  const hanging: Catalog = {
    size: 0,
    resolve: (_ref, options) => new Promise((resolve) => options?.signal?.addEventListener('abort', () => resolve({ error: 'cancelled' }), { once: true })),
  }
  const p = new AdmissionPool({ size: 1, catalog: hanging, settings: { deadlineMs: 100, onTimeout: 'deny' }, workerUrl })
  t.teardown(() => p.close())
  await p.started()
  t.match(await p.run('mutate', 'ask-then-spin', 100), { timedOut: true, resolving: true })
  t.match(await p.run('mutate', 'after', 5000), { handled: { body: '{"answered":"after"}' } }, 'answered by a fresh worker')
})

t.test('a lookup the worker gave up at its own deadline, read in the turn the deadline acts, is still one the request waited on', async (t) => {
  const hanging: Catalog = {
    size: 0,
    resolve: (_ref, options) => new Promise((resolve) => options?.signal?.addEventListener('abort', () => resolve({ error: 'cancelled' }), { once: true })),
  }
  const p = new AdmissionPool({ size: 1, catalog: hanging, settings: { deadlineMs: 300, onTimeout: 'deny' }, workerUrl })
  t.teardown(() => p.close())
  await p.started()
  // The worker gives its question up 300 ms after it started the request, past the pool's deadline; this thread is
  // held up from 50 ms to 650 ms, so the cancel and the deadline are read in one turn, the cancel first.
  const answer = p.run('mutate', 'ask-then-cancel:300', 300)
  setTimeout(() => setImmediate(() => spin(600)), 50)
  t.match(await answer, { timedOut: true, resolving: true }, 'answered as waiting on the catalog')
})

t.test('what a worker sends after it was told to stop does not change what it held', async (t) => {
  const p = pool(t)
  await p.started()
  // The request behind a busy one is answered at its deadline while it waits; the worker then sets it aside, but
  // this thread is held up for longer than the grace, so the pool stops the worker before it reads that. The one
  // behind, which the stopped worker had started, goes to the next worker, not answered as failed.
  const busy = p.run('mutate', 'busy:300', 5000).then((answer) => {
    setImmediate(() => {
      for (const until = Date.now() + 1300; Date.now() < until; );
    })
    return answer
  })
  const stale = p.run('mutate', 'skip-after:20', 100)
  const live = p.run('mutate', 'busy:2500', 20_000)
  t.match(await busy, { handled: {} })
  t.match(await stale, { timedOut: true })
  t.match(await live, { handled: { body: '{"answered":"busy:2500"}' } }, 'sent to the next worker')
})

t.test('the admission worker sets aside, unread, a request that reaches it past its deadline', async (t) => {
  const worker = new Worker(new URL('../src/server/worker.ts', import.meta.url), { workerData: { deadlineMs: 1000, onTimeout: 'deny' } })
  t.teardown(() => worker.terminate())
  t.same((await once(worker, 'message'))[0], { type: 'ready' })
  const run = (id: number, inMs: number) =>
    worker.postMessage({
      type: 'run',
      id,
      endpoint: 'mutate',
      body: 'not even JSON',
      deadline: Date.now() + inMs,
      expires: monotonicMs() + inMs,
    })
  run(1, -1)
  t.same((await once(worker, 'message'))[0], { type: 'skipped', id: 1 })
  // By the monotonic clock: a wall-clock deadline long past does not make the worker set a request aside.
  worker.postMessage({
    type: 'run',
    id: 3,
    endpoint: 'mutate',
    body: 'not even JSON',
    deadline: 0,
    expires: monotonicMs() + 60_000,
  })
  t.match((await once(worker, 'message'))[0], { type: 'done', id: 3 }, 'read, whatever the wall clock says')
  run(2, 60_000)
  t.match((await once(worker, 'message'))[0], { type: 'done', id: 2, handled: { status: 400 } }, 'one in time is read (and found not JSON)')
})
