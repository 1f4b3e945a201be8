// The cluster catalog against the fake API server (helpers/kube-api.ts) with
// the real @kubernetes/client-node: it lists and watches StepActions and
// Tasks in every namespace, answers from memory, and rides out what clusters
// do: dropped watches, compaction (410), outages, RBAC refusals, a CRD not
// installed yet, a cluster that serves StepActions only at v1alpha1.

import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:https'
import { promisify } from 'node:util'
import v8 from 'node:v8'
import vm from 'node:vm'
import { KubeConfig } from '@kubernetes/client-node'
import t from 'tap'
import type { Definition } from '../src/definitions/definition.ts'
import { ClusterCatalog, type ResourceState, type ResourceStatus } from '../src/resolution/cluster.ts'
import { connectedOrStopped, defaultRewatchPause, nextRewatchPause } from '../src/resolution/cluster-informer.ts'
import type { KubeObject } from '../src/types/k8s.ts'
import { spliceObject } from '../src/pipeline/splice.ts'
import { defaultUser, type KubeApi, startKubeApi, tektonResources } from './helpers/kube-api.ts'
import { mintCerts, root, sleep, type TapTest, tempDir, until } from './helpers/server.ts'

const run = promisify(execFile)
const certs = await mintCerts(t)
const { stepActions, tasks } = tektonResources
const stepActionsPath = '/apis/tekton.dev/v1beta1/stepactions'

function stepAction(name: string, image = 'alpine:3', namespace?: string, apiVersion = 'tekton.dev/v1beta1'): KubeObject {
  return { apiVersion, kind: 'StepAction', metadata: namespace === undefined ? { name } : { name, namespace }, spec: { image, script: 'true' } }
}

function task(name: string, image = 'alpine:3', metadata: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'tekton.dev/v1', kind: 'Task', metadata: { name, ...metadata }, spec: { steps: [{ name: 'one', image, script: 'true' }] } }
}

interface Started {
  catalog: ClusterCatalog
  /** Every status onStatus reported, in order. */
  statuses: ResourceStatus[]
}

function startCatalog(t: TapTest, kube: KubeApi, token?: string, absentGraceMs?: number, backoff = { initialMs: 20, maxMs: 200 }): Started {
  const statuses: ResourceStatus[] = []
  const catalog = new ClusterCatalog({
    kubeConfig: kube.kubeConfig(token),
    backoff,
    onStatus: (s) => statuses.push(s),
    ...(absentGraceMs === undefined ? {} : { absentGraceMs }),
  })
  t.teardown(() => catalog.stop())
  catalog.start()
  return { catalog, statuses }
}

async function definitionOf(catalog: ClusterCatalog, name: string, namespace = 'default'): Promise<Definition | undefined> {
  const resolution = await catalog.resolve({ namespace, name })
  return 'definition' in resolution ? resolution.definition : undefined
}

async function imageOf(catalog: ClusterCatalog, name: string, namespace = 'default'): Promise<string | undefined> {
  return (await definitionOf(catalog, name, namespace))?.spec.image
}

const stateOf = (catalog: ClusterCatalog, plural: string): ResourceStatus | undefined => catalog.status().find((s) => s.resource.startsWith(`${plural}.`))
const inState = (catalog: ClusterCatalog, plural: string, state: ResourceState): boolean => stateOf(catalog, plural)?.state === state
/** The states one resource went through, repeats dropped. */
const historyOf = (statuses: ResourceStatus[], plural: string): string[] => statuses.filter((s) => s.resource.startsWith(`${plural}.`)).map((s) => s.state)
const listsOf = (kube: KubeApi, path = stepActionsPath) => kube.requests().filter((r) => r.path === path && r.query.watch === undefined)
const watchesOf = (kube: KubeApi, path = stepActionsPath) => kube.requests().filter((r) => r.path === path && r.query.watch === 'true')

t.test('not ready until every resource is listed; then it answers from memory alone', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions, tasks, tektonResources.taskGroups] })
  kube.create(stepAction('git-clone', 'alpine/git:2'))
  kube.create(stepAction('go-build', 'golang:1.25', 'team-a'))
  kube.create(stepAction('git-clone', 'team/git:1', 'team-a'))
  kube.create(task('build'))
  const liftFault = kube.fail({ group: 'tekton.dev', resource: 'stepactions', verbs: ['list'], code: 500 })
  const { catalog, statuses } = startCatalog(t, kube)

  await until('the Tasks listed and the StepActions list failing', () => inState(catalog, 'tasks', 'synced') && inState(catalog, 'stepactions', 'failing'))
  t.notOk(catalog.ready, 'not ready while a resource has never been listed')
  t.match(stateOf(catalog, 'stepactions'), {
    resource: 'stepactions.tekton.dev/v1beta1',
    objects: 0,
    lastError: 'cannot list stepactions.tekton.dev/v1beta1: HTTP 500: Internal error occurred: injected failure for stepactions.tekton.dev',
  })
  t.equal(stateOf(catalog, 'stepactions')?.lastSyncedAt, undefined)
  t.same(await catalog.resolve({ namespace: 'default', name: 'git-clone' }), {
    error: 'stepactions.tekton.dev "git-clone" not found in namespace "default"',
    missing: true,
  })

  liftFault()
  await until('ready', () => catalog.ready)
  await until('watching', () => kube.openWatches() === 3)
  t.equal(catalog.size, 3)
  t.same(historyOf(statuses, 'stepactions'), ['syncing', 'failing', 'synced'])
  t.same(historyOf(statuses, 'tasks'), ['syncing', 'synced'])
  const synced = stateOf(catalog, 'stepactions')
  t.match(synced, { resource: 'stepactions.tekton.dev/v1beta1', state: 'synced', objects: 3, lastSyncedAt: Number })
  t.equal(synced?.lastError, undefined, 'the error is cleared')

  t.match(await definitionOf(catalog, 'git-clone'), {
    name: 'git-clone',
    namespace: 'default',
    apiVersion: 'tekton.dev/v1beta1',
    source: { kind: 'cluster', location: '/apis/tekton.dev/v1beta1/namespaces/default/stepactions/git-clone' },
    spec: { image: 'alpine/git:2', script: 'true' },
    problems: [],
  })
  t.equal(await imageOf(catalog, 'git-clone', 'team-a'), 'team/git:1', 'by name in the namespace asked for')
  t.equal(await imageOf(catalog, 'go-build', 'team-a'), 'golang:1.25')
  t.same(await catalog.resolve({ namespace: 'default', name: 'go-build' }), {
    error: 'stepactions.tekton.dev "go-build" not found in namespace "default"',
    missing: true,
  })
  t.same(
    await catalog.resolve({ namespace: 'default', name: 'git-clone', resolver: 'git' }),
    { error: 'stepactions.tekton.dev "git-clone" not found in namespace "default"', missing: true },
    'a resolver reference is left to another catalog',
  )

  const before = kube.requests().length
  for (let i = 0; i < 50; i++) {
    await catalog.resolve({ namespace: 'team-a', name: 'git-clone' })
    await catalog.resolveTask({ namespace: 'default', name: 'build' })
  }
  await sleep(50)
  t.equal(kube.requests().length, before, 'resolving makes no request')
  t.ok(
    kube.requests().every((r) => r.user === defaultUser),
    'every request with the configured credentials',
  )
  t.equal(watchesOf(kube).at(-1)?.query.allowWatchBookmarks, 'true', 'the watch asks for bookmarks')
  t.equal(listsOf(kube).at(-1)?.query.limit, '500', 'lists are paged')
})

t.test('adds, updates and deletes reach resolve; a list is read in pages', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions, tasks] })
  for (let i = 0; i < 501; i++) kube.create(stepAction(`step-${i}`, 'alpine:3', `ns-${i % 7}`))
  const { catalog } = startCatalog(t, kube)
  await until('ready', () => catalog.ready)
  t.equal(catalog.size, 501)
  t.same(
    listsOf(kube).map((r) => r.query.continue === undefined),
    [true, false],
    'two pages',
  )
  t.equal(await imageOf(catalog, 'step-500', 'ns-3'), 'alpine:3')

  kube.create(stepAction('echo', 'alpine:1'))
  await until('the addition', async () => (await imageOf(catalog, 'echo')) === 'alpine:1')
  kube.update(stepAction('echo', 'alpine:2'))
  await until('the update', async () => (await imageOf(catalog, 'echo')) === 'alpine:2')
  kube.remove(stepAction('echo'))
  await until('the deletion', async () => (await imageOf(catalog, 'echo')) === undefined)
  t.equal(catalog.size, 501)
  t.equal(listsOf(kube).length, 2, 'changes come by the watch, not by listing again')
})

t.test('an invalid StepAction is kept and says why; fixed, it serves', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions, tasks] })
  kube.create({ apiVersion: 'tekton.dev/v1beta1', kind: 'StepAction', metadata: { name: 'broken' }, spec: { args: ['x'], imagePullPolicy: 'Always' } })
  const { catalog } = startCatalog(t, kube)
  await until('ready', () => catalog.ready)
  const broken = await definitionOf(catalog, 'broken')
  t.ok(broken, 'held, not dropped')
  t.ok((broken?.problems.length ?? 0) > 0, 'with its problems')
  t.match(broken?.problems, [{ path: 'spec.imagePullPolicy', message: 'unknown field' }])

  kube.update(stepAction('broken', 'alpine:3'))
  await until('the fix', async () => (await definitionOf(catalog, 'broken'))?.problems.length === 0)
  t.equal(await imageOf(catalog, 'broken'), 'alpine:3')
})

t.test('a dropped watch is restarted and resumes where it was, without listing again', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions, tasks] })
  kube.create(stepAction('git-clone'))
  const { catalog, statuses } = startCatalog(t, kube)
  await until('ready and watching', () => catalog.ready && kube.openWatches() === 2)
  const lists = listsOf(kube).length

  t.equal(kube.dropWatches(), 2)
  kube.create(stepAction('while-dropped'))
  await until('the object created meanwhile', async () => (await imageOf(catalog, 'while-dropped')) === 'alpine:3')
  await until('synced again', () => inState(catalog, 'stepactions', 'synced') && kube.openWatches() === 2)
  t.equal(listsOf(kube).length, lists, 'resumed from its resourceVersion')
  const failing = statuses.find((s) => s.state === 'failing' && s.resource.startsWith('stepactions.'))
  t.match(failing?.lastError, /^cannot watch stepactions\.tekton\.dev\/v1beta1: /, 'the drop was reported')
  t.ok(catalog.ready, 'ready throughout')
  t.equal(await imageOf(catalog, 'git-clone'), 'alpine:3')
})

t.test('a watch the API server closes is opened again at once, then after a pause; an event resets the pause', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions] })
  kube.create(stepAction('git-clone'))
  // A pause no test waits out: a watch opened while one is due shows the pause was skipped.
  const catalog = new ClusterCatalog({ kubeConfig: kube.kubeConfig(), backoff: { initialMs: 20, maxMs: 200 }, rewatch: { initialMs: 60_000, maxMs: 60_000 } })
  t.teardown(() => catalog.stop())
  catalog.start()
  await until('ready and watching', () => catalog.ready && kube.openWatches() === 1)
  const first = watchesOf(kube).length

  t.equal(kube.endWatches(), 1)
  await until('the first close: watching again at once', () => watchesOf(kube).length === first + 1 && kube.openWatches() === 1)
  kube.create(stepAction('while-watching'))
  await until('the event arrived', async () => (await imageOf(catalog, 'while-watching')) === 'alpine:3')
  t.equal(kube.endWatches(), 1)
  await until('after an event: watching again at once', () => watchesOf(kube).length === first + 2 && kube.openWatches() === 1)

  // Closed again with nothing received since it opened: the pause.
  t.equal(kube.endWatches(), 1)
  await sleep(400)
  t.equal(watchesOf(kube).length, first + 2, 'no watch opened during the pause')
  t.equal(listsOf(kube).length, 1, 'and nothing listed again')
  t.ok(catalog.ready && inState(catalog, 'stepactions', 'synced'), 'still ready and synced: a close is no failure')
  t.equal(await imageOf(catalog, 'while-watching'), 'alpine:3', 'still serving')
})

t.test('a list page the API server never answers fails within the idle timeout, is said, and is asked again', async (t) => {
  // An API server, a proxy or a half-open connection that takes a request and never answers: without a time of its
  // own the list waited on undici's 300 s, with no retry planned and the resource shown as syncing.
  const lists: string[] = []
  const kubeConfig = await answeringServer(t, (req) => {
    lists.push(req.url ?? '')
  })
  const statuses: ResourceStatus[] = []
  const catalog = new ClusterCatalog({ kubeConfig, backoff: { initialMs: 20, maxMs: 50 }, idleTimeoutMs: 300, onStatus: (s) => statuses.push(s) })
  catalog.start()
  t.teardown(() => catalog.stop())
  await until('a failing status', () => statuses.some((s) => s.state === 'failing'))
  t.match(
    statuses.find((s) => s.state === 'failing'),
    { resource: /^(stepactions|tasks|taskgroups)\./, lastError: /no list page within 300 ms/ },
    'the status says why',
  )
  await until('the list asked again', () => lists.filter((u) => u.includes('/stepactions')).length >= 2)
  t.equal(catalog.ready, false, 'not ready: nothing was listed')
})

t.test('a session holds nothing of the watches it opened before: each reopen is collected', async (t) => {
  // A session lives as long as the server and reopens its watch every time the API server ends one (every 30 s on a
  // quiet resource). Waiting for a watch to connect or the session to stop was a race with a promise of the session's
  // whole life, which kept every race's result, the watch's AbortController, until shutdown.
  v8.setFlagsFromString('--expose-gc')
  const gc = vm.runInNewContext('gc') as () => void
  const session = new AbortController()
  let collected = 0
  const registry = new FinalizationRegistry(() => void collected++)
  const opened = 2000
  let wrong = 0
  for (let i = 0; i < opened; i++) {
    const request = new AbortController()
    registry.register(request, null)
    if ((await connectedOrStopped(Promise.resolve(request), session.signal)) !== request) wrong++
  }
  t.equal(wrong, 0, 'each answered with its own watch')
  for (let i = 0; i < 10 && collected < opened; i++) {
    gc()
    await sleep(20)
  }
  t.ok(collected >= opened - 1, `${collected} of ${opened} watches' controllers collected while the session lives`)
  // And what it answers: undefined once stopped, whether before or while connecting; a failure to connect is thrown.
  const pending = connectedOrStopped(new Promise<AbortController>(() => {}), session.signal)
  session.abort()
  t.equal(await pending, undefined, 'stopped while connecting')
  t.equal(await connectedOrStopped(Promise.resolve(new AbortController()), session.signal), undefined, 'stopped before')
  await t.rejects(connectedOrStopped(Promise.reject(new Error('no credentials')), new AbortController().signal), /no credentials/)
})

t.test('a watch that sends nothing for the idle timeout is opened again at once, where it was, without a list', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions] })
  kube.create(stepAction('git-clone'))
  const statuses: ResourceStatus[] = []
  // A pause after a close that brought nothing, which no test waits out: a timeout must not take it.
  const catalog = new ClusterCatalog({
    kubeConfig: kube.kubeConfig(),
    backoff: { initialMs: 20, maxMs: 200 },
    rewatch: { initialMs: 60_000, maxMs: 60_000 },
    idleTimeoutMs: 300,
    onStatus: (s) => statuses.push(s),
  })
  t.teardown(() => catalog.stop())
  catalog.start()
  await until('ready and watching', () => catalog.ready && kube.openWatches() === 1)
  const first = watchesOf(kube).length
  // Three quiet watches in a row, each ended by the client after 300 ms of nothing: the second and third followed one that brought nothing.
  await until('watching again after three timeouts', () => watchesOf(kube).length >= first + 3 && kube.openWatches() === 1)
  t.equal(listsOf(kube).length, 1, 'never listed again')
  t.same(
    new Set(watchesOf(kube).map((r) => r.query.resourceVersion)),
    new Set([watchesOf(kube)[0]?.query.resourceVersion]),
    'each watch resumed from the same resourceVersion: nothing happened in between',
  )
  t.notOk(historyOf(statuses, 'stepactions').includes('failing'), 'a timeout is no failure')
  t.ok(catalog.ready && inState(catalog, 'stepactions', 'synced'), 'ready and synced throughout')
  kube.create(stepAction('after-timeouts'))
  await until('an event after the timeouts arrives', async () => (await imageOf(catalog, 'after-timeouts')) === 'alpine:3')

  // A timeout that would have a session ask a silent server again hundreds of times a second, or that no timer holds, is refused when given.
  for (const idleTimeoutMs of [0, 50, 1.5, Number.POSITIVE_INFINITY, 2 ** 31]) {
    t.throws(
      () => new ClusterCatalog({ kubeConfig: kube.kubeConfig(), idleTimeoutMs }),
      /^idleTimeoutMs must be a whole number of milliseconds from 100 to 2147483647, got /,
    )
  }
})

t.test('list requests say who asks: stepsplice, and its version when given', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions] })
  kube.create(stepAction('git-clone'))
  const named = new ClusterCatalog({ kubeConfig: kube.kubeConfig(), backoff: { initialMs: 20, maxMs: 200 }, userAgent: 'stepsplice/1.2.3' })
  t.teardown(() => named.stop())
  named.start()
  await until('listed', () => named.ready)
  t.same(new Set(listsOf(kube).map((r) => r.userAgent)), new Set(['stepsplice/1.2.3']))
  await named.stop()
  const before = listsOf(kube).length
  const { catalog } = startCatalog(t, kube)
  await until('listed again', () => catalog.ready)
  t.same(
    new Set(
      listsOf(kube)
        .slice(before)
        .map((r) => r.userAgent),
    ),
    new Set(['stepsplice']),
    'stepsplice alone by default',
  )
})

t.test('the pause before watching again doubles from its start to its cap', async (t) => {
  const pauses: number[] = []
  let pause = 0
  for (let i = 0; i < 8; i++) {
    pause = nextRewatchPause(pause, defaultRewatchPause)
    pauses.push(pause)
  }
  t.same(pauses, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000])
  t.equal(nextRewatchPause(0, { initialMs: 50, maxMs: 120 }), 50)
  t.equal(nextRewatchPause(100, { initialMs: 50, maxMs: 120 }), 120)
})

t.test('after compaction (410) it lists again: nothing lost, nothing twice', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions, tasks] })
  kube.create(stepAction('kept', 'alpine:1'))
  kube.create(stepAction('gone'))
  const { catalog } = startCatalog(t, kube)
  await until('ready and watching', () => catalog.ready && kube.openWatches() === 2)

  // In one tick, as in a cluster: the watches end, changes land that no watch sees, and history is compacted.
  kube.endWatches()
  kube.create(stepAction('late'))
  kube.update(stepAction('kept', 'alpine:2'))
  kube.remove(stepAction('gone'))
  kube.expireHistory()
  await until('the re-list', () => listsOf(kube).length === 2)
  await until('the state after it', async () => (await imageOf(catalog, 'late')) === 'alpine:3' && (await imageOf(catalog, 'kept')) === 'alpine:2')
  t.ok(
    watchesOf(kube).some((w) => w.errorEvent === 410),
    'a resume was refused with 410',
  )
  t.equal(await imageOf(catalog, 'gone'), undefined, 'the deletion missed by the watch is seen in the list')
  t.equal(catalog.size, 2)
  t.equal(stateOf(catalog, 'stepactions')?.objects, 2)

  // And the re-listed objects are watched on from there.
  kube.update(stepAction('late', 'alpine:4'))
  await until('a change after the re-list', async () => (await imageOf(catalog, 'late')) === 'alpine:4')
  t.equal(catalog.size, 2)
})

t.test('a watch refused with HTTP 410 (not an ERROR event) lists again, reporting no failure', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions, tasks] })
  kube.create(stepAction('kept', 'alpine:1'))
  const { catalog, statuses } = startCatalog(t, kube)
  await until('ready and watching', () => catalog.ready && kube.openWatches() === 2)
  const before = statuses.length

  // A proxy, or an API server older than watch-cache ERROR events, answers a resume from a compacted resourceVersion with the status itself.
  kube.fail({ group: 'tekton.dev', resource: 'stepactions', verbs: ['watch'], code: 410, times: 1 })
  kube.endWatches()
  kube.update(stepAction('kept', 'alpine:2'))
  await until('the re-list', () => listsOf(kube).length === 2)
  await until('watching again', () => kube.openWatches() === 2)
  t.equal(await imageOf(catalog, 'kept'), 'alpine:2')
  t.same(
    statuses.slice(before).filter((s) => s.state === 'failing'),
    [],
    'a 410 is the protocol, not a failure',
  )
})

t.test('an outage: the last known definitions keep serving, failing, until the API server is back', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions, tasks] })
  kube.create(stepAction('git-clone'))
  kube.create(task('build'))
  const { catalog, statuses } = startCatalog(t, kube)
  await until('ready and watching', () => catalog.ready && kube.openWatches() === 2)

  await kube.stop()
  await until('both failing', () => inState(catalog, 'stepactions', 'failing') && inState(catalog, 'tasks', 'failing'))
  const failing = stateOf(catalog, 'stepactions')
  t.match(failing, { state: 'failing', objects: 1, lastSyncedAt: Number })
  t.match(failing?.lastError, /^cannot (watch|list) stepactions\.tekton\.dev\/v1beta1: /)
  t.ok(catalog.ready, 'still ready: the last known definitions serve')
  t.equal(await imageOf(catalog, 'git-clone'), 'alpine:3')
  t.match(await catalog.resolveTask({ namespace: 'default', name: 'build' }), { task: { name: 'build' } })
  // Long enough for several restarts to fail while it is down (back-off 20 to 200 ms).
  await sleep(500)
  kube.create(stepAction('during-outage'))
  kube.remove(stepAction('git-clone'))

  await kube.restart()
  await until('the changes made during the outage', async () => (await imageOf(catalog, 'during-outage')) === 'alpine:3')
  await until('synced', () => inState(catalog, 'stepactions', 'synced') && inState(catalog, 'tasks', 'synced'))
  t.equal(await imageOf(catalog, 'git-clone'), undefined)
  t.same(historyOf(statuses, 'stepactions'), ['syncing', 'synced', 'failing', 'synced'], 'one failing state for the whole outage')
})

t.test('a CRD not installed is absent, and synced once it is; deleting it empties the catalog', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [tasks] })
  const { catalog, statuses } = startCatalog(t, kube, undefined, 600)
  await until('absent', () => inState(catalog, 'stepactions', 'absent'))
  const absent = stateOf(catalog, 'stepactions')
  t.match(absent, { resource: 'stepactions.tekton.dev/v1beta1', objects: 0 })
  t.match(absent?.lastError, /stepactions\.tekton\.dev is not installed .*tekton\.dev\/v1beta1 or tekton\.dev\/v1alpha1.*Retrying/)
  await until('ready', () => catalog.ready)
  t.pass('ready: no StepActions is a known answer')
  t.match(await catalog.resolve({ namespace: 'default', name: 'git-clone' }), { missing: true })
  const listsWhileAbsent = listsOf(kube).length
  await until('retried', () => listsOf(kube).length > listsWhileAbsent)

  kube.install(stepActions)
  kube.create(stepAction('git-clone'))
  await until('the StepAction of the new CRD', async () => (await imageOf(catalog, 'git-clone')) === 'alpine:3')
  await until('synced', () => inState(catalog, 'stepactions', 'synced'))
  t.same(historyOf(statuses, 'stepactions'), ['syncing', 'absent', 'synced'])

  await until('watching', () => kube.openWatches() === 2)
  kube.uninstall(stepActions)
  await until('absent again', () => inState(catalog, 'stepactions', 'absent'))
  t.equal(catalog.size, 0, 'its objects were deleted with it')
  t.match(await catalog.resolve({ namespace: 'default', name: 'git-clone' }), { missing: true })
  t.ok(catalog.ready)

  // Deleted while the watch was down, so no DELETED event came: absent still means none.
  kube.install(stepActions)
  kube.create(stepAction('git-clone'))
  await until('synced again', async () => inState(catalog, 'stepactions', 'synced') && (await imageOf(catalog, 'git-clone')) === 'alpine:3')
  await until('watching', () => kube.openWatches() === 2)
  kube.dropWatches()
  kube.uninstall(stepActions)
  await until('absent', () => inState(catalog, 'stepactions', 'absent'))
  t.match(stateOf(catalog, 'stepactions')?.lastError, /serving the 1 objects last listed until it has been missing for 1 s/, 'kept for the grace')
  t.equal(await imageOf(catalog, 'git-clone'), 'alpine:3', 'still served: a 404 may be a moment’s')
  await until('past the grace', async () => catalog.size === 0)
  t.match(await catalog.resolve({ namespace: 'default', name: 'git-clone' }), { missing: true }, 'then nothing kept of a resource that is not installed')
  t.notMatch(stateOf(catalog, 'stepactions')?.lastError, /serving/)
  t.match(statuses.at(-1), { state: 'absent', objects: 0 }, 'and the drop is reported, in the same state')
  t.notMatch(statuses.at(-1)?.lastError, /serving/)
})

t.test('the 404 grace ends on time: the retry after a 404 comes by its end, however long the back-off', async (t) => {
  // StepActions served at v1beta1 alone, and every watch of them answered 404 (a CRD going away between the list and its
  // watch): each start attempt lists the object, then meets a 404 at both versions, so the grace starts with no
  // back-off before it, and a retry before the CRD is gone only lists the object again.
  const kube = await startKubeApi(t, { certs, resources: [{ ...stepActions, versions: ['v1beta1'] }, tasks] })
  kube.create(stepAction('git-clone'))
  kube.fail({ group: 'tekton.dev', resource: 'stepactions', verbs: ['watch'], code: 404 })
  // A back-off of 10 to 20 s: a retry it alone timed would drop the object long after the wait below gives up.
  const { catalog, statuses } = startCatalog(t, kube, undefined, 1000, { initialMs: 20_000, maxMs: 20_000 })
  await until('absent, the object kept', () => inState(catalog, 'stepactions', 'absent'))
  t.equal(catalog.size, 1, 'kept for the grace')
  t.match(stateOf(catalog, 'stepactions')?.lastError, /serving the 1 objects last listed until it has been missing for 1 s/)

  kube.uninstall(stepActions)
  // The grace is 1 s; 5 s leaves a loaded machine room, and is still half the shortest back-off.
  await until('dropped at the grace’s end, not a back-off later', () => catalog.size === 0, 5000)
  t.match(await catalog.resolve({ namespace: 'default', name: 'git-clone' }), { missing: true })
  t.match(statuses.at(-1), { resource: 'stepactions.tekton.dev/v1beta1', state: 'absent', objects: 0 }, 'the drop is reported')
})

t.test('a 404 for a moment (a CRD being replaced) costs nothing listed: StepActions, Tasks and what is resolved stay', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions, tasks] })
  kube.create(stepAction('git-clone'))
  const { catalog, statuses } = startCatalog(t, kube)
  await until('synced', () => inState(catalog, 'stepactions', 'synced') && inState(catalog, 'tasks', 'synced'))
  await until('watching', () => kube.openWatches() >= 2)
  // The watches end, and each restart's list meets a 404, at both StepAction versions: every version answers 404 once.
  kube.fail({ group: 'tekton.dev', resource: 'stepactions', verbs: ['watch', 'list'], code: 404, times: 2 })
  kube.dropWatches()
  await until('absent for a moment', () => statuses.some((s) => s.resource.startsWith('stepactions.') && s.state === 'absent'))
  t.equal(await imageOf(catalog, 'git-clone'), 'alpine:3', 'still resolved while the resource answers 404')
  await until('synced again', () => inState(catalog, 'stepactions', 'synced'))
  t.equal(await imageOf(catalog, 'git-clone'), 'alpine:3')
  const absent = statuses.find((s) => s.resource.startsWith('stepactions.') && s.state === 'absent')
  t.match(absent, { objects: 1, lastError: /serving the 1 objects last listed until it has been missing for 60 s/ }, 'the status says what is served')
})

t.test('a cluster serving StepActions only at v1alpha1; each restart takes the best version served', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [{ ...stepActions, versions: ['v1alpha1'] }, tasks] })
  kube.create(stepAction('git-clone', 'alpine:3', undefined, 'tekton.dev/v1alpha1'))
  const { catalog, statuses } = startCatalog(t, kube)
  await until('ready', () => catalog.ready)
  t.match(stateOf(catalog, 'stepactions'), { resource: 'stepactions.tekton.dev/v1alpha1', state: 'synced', objects: 1 })
  t.match(await definitionOf(catalog, 'git-clone'), {
    apiVersion: 'tekton.dev/v1alpha1',
    source: { kind: 'cluster', location: '/apis/tekton.dev/v1alpha1/namespaces/default/stepactions/git-clone' },
    problems: [],
  })
  t.notOk(
    statuses.some((s) => s.resource.startsWith('stepactions.') && (s.state === 'absent' || s.state === 'failing')),
    'the 404 at v1beta1 is not a failure',
  )
  kube.create(stepAction('later', 'alpine:3', undefined, 'tekton.dev/v1alpha1'))
  await until('watched at v1alpha1', async () => (await imageOf(catalog, 'later')) === 'alpine:3')

  // Tekton upgraded: v1beta1 is served too. The next restart moves to it.
  kube.install(stepActions)
  kube.dropWatches()
  await until(
    'watching v1beta1',
    () => stateOf(catalog, 'stepactions')?.resource === 'stepactions.tekton.dev/v1beta1' && inState(catalog, 'stepactions', 'synced'),
  )
  await until('definitions re-read at v1beta1', async () => (await definitionOf(catalog, 'git-clone'))?.apiVersion === 'tekton.dev/v1beta1')
  t.equal((await definitionOf(catalog, 'later'))?.source.location, '/apis/tekton.dev/v1beta1/namespaces/default/stepactions/later')
  t.equal(catalog.size, 2)
  await until('one watch per resource', () => kube.openWatches() === 2)
})

t.test('403: failing with the API server’s message until access is granted', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions, tasks] })
  kube.create(stepAction('git-clone'))
  const grant = kube.forbid({ group: 'tekton.dev', resource: 'stepactions', verbs: ['list'] })
  const { catalog, statuses } = startCatalog(t, kube)
  await until('failing', () => inState(catalog, 'stepactions', 'failing'))
  t.equal(
    stateOf(catalog, 'stepactions')?.lastError,
    `cannot list stepactions.tekton.dev/v1beta1: HTTP 403: stepactions.tekton.dev is forbidden: User "${defaultUser}" cannot list resource "stepactions" in API group "tekton.dev" at the cluster scope (stepsplice needs get, list and watch on it in all namespaces)`,
  )
  t.notOk(catalog.ready)
  const tried = listsOf(kube).length
  await until('retried with back-off', () => listsOf(kube).length >= tried + 2)
  t.equal(historyOf(statuses, 'stepactions').filter((s) => s === 'failing').length, 1, 'the same failure is reported once')

  grant()
  await until('ready', () => catalog.ready)
  t.equal(await imageOf(catalog, 'git-clone'), 'alpine:3')

  // A watch refused after the list worked: the client keeps only the status line, so the message says what is needed.
  const denyWatch = kube.forbid({ group: 'tekton.dev', resource: 'stepactions', verbs: ['watch'] })
  kube.dropWatches()
  // First the drop, then the refused restarts.
  await until('the watch refused', () => inState(catalog, 'stepactions', 'failing') && /403/.test(stateOf(catalog, 'stepactions')?.lastError ?? ''))
  t.equal(
    stateOf(catalog, 'stepactions')?.lastError,
    'cannot watch stepactions.tekton.dev/v1beta1: HTTP 403 Forbidden (stepsplice needs get, list and watch on it in all namespaces)',
  )
  t.equal(await imageOf(catalog, 'git-clone'), 'alpine:3', 'serving what it has')
  denyWatch()
  await until('synced', () => inState(catalog, 'stepactions', 'synced'))

  const wrongToken = startCatalog(t, kube, 'not-a-token')
  await until('failing with 401', () => inState(wrongToken.catalog, 'stepactions', 'failing'))
  t.match(stateOf(wrongToken.catalog, 'stepactions')?.lastError, /^cannot list stepactions\.tekton\.dev\/v1beta1: HTTP 401 \(the API server does not accept/)
})

t.test('Tasks resolve, change and disappear', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions, tasks] })
  kube.create(
    task('build', 'golang:1.25', {
      namespace: 'team-a',
      labels: { app: 'build' },
      annotations: { owner: 'platform', 'kubectl.kubernetes.io/last-applied-configuration': '{"a":"whole copy"}' },
      managedFields: [{ manager: 'kubectl' }],
    }),
  )
  const { catalog } = startCatalog(t, kube)
  await until('ready', () => catalog.ready)
  t.same(await catalog.resolveTask({ namespace: 'team-a', name: 'build' }), {
    task: {
      namespace: 'team-a',
      name: 'build',
      labels: { app: 'build' },
      annotations: { owner: 'platform' },
      spec: { steps: [{ name: 'one', image: 'golang:1.25', script: 'true' }] },
      location: '/apis/tekton.dev/v1/namespaces/team-a/tasks/build',
      kind: 'Task',
      source: 'cluster',
    },
  })
  t.same(await catalog.resolveTask({ namespace: 'default', name: 'build' }), {
    error: 'tasks.tekton.dev "build" not found in namespace "default"',
    missing: true,
  })
  t.equal(catalog.size, 0, 'size counts StepActions')
  t.match(stateOf(catalog, 'tasks'), { resource: 'tasks.tekton.dev/v1', state: 'synced', objects: 1 })

  const specOf = async (): Promise<unknown> => {
    const r = await catalog.resolveTask({ namespace: 'team-a', name: 'build' })
    return 'task' in r ? r.task.spec : undefined
  }
  kube.update(task('build', 'golang:1.26', { namespace: 'team-a' }))
  await until('the update', async () => JSON.stringify(await specOf()).includes('golang:1.26'))
  kube.remove(task('build', 'golang:1.26', { namespace: 'team-a' }))
  await until('the deletion', async () => (await specOf()) === undefined)
  t.match(await catalog.resolveTask({ namespace: 'team-a', name: 'build' }), { missing: true })
})

t.test('TaskGroups arrive, change and leave; a TaskRun that references one follows them', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions, tasks, tektonResources.taskGroups] })
  kube.create(task('clone', 'alpine/git:2', { namespace: 'team-a' }))
  const group = (image: string): KubeObject => ({
    apiVersion: 'custom.tekton.dev/v1alpha1',
    kind: 'TaskGroup',
    metadata: { name: 'ci', namespace: 'team-a' },
    spec: {
      steps: [
        { name: 'get', uses: { taskRef: { name: 'clone' } } },
        { name: 'test', image, script: 'make test' },
      ],
    },
  })
  const run: KubeObject = {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { name: 'r', namespace: 'team-a' },
    spec: { taskRef: { apiVersion: 'custom.tekton.dev/v1alpha1', kind: 'TaskGroup', name: 'ci' } },
  }
  const { catalog } = startCatalog(t, kube)
  await until('ready', () => catalog.ready)
  const stepsOf = async (): Promise<unknown> => {
    const e = await spliceObject(run, 'team-a', { catalog })
    return e.problems.length > 0 ? e.problems.map((p) => p.message) : (e.object.spec as { taskSpec?: { steps?: unknown } }).taskSpec?.steps
  }
  t.same(await stepsOf(), ['taskgroups.custom.tekton.dev "ci" not found in namespace "team-a"'], 'not there yet: a TaskRun naming it is denied')
  kube.create(group('golang:1.25'))
  await until('the TaskGroup arrives', async () => Array.isArray(await stepsOf()) && ((await stepsOf()) as unknown[]).length === 2)
  t.same(await stepsOf(), [
    { name: 'get-one', image: 'alpine/git:2', script: 'true' },
    { name: 'test', image: 'golang:1.25', script: 'make test' },
  ])
  t.match(stateOf(catalog, 'taskgroups'), { resource: 'taskgroups.custom.tekton.dev/v1alpha1', state: 'synced', objects: 1 })
  kube.update(group('golang:1.26'))
  await until('the change', async () => JSON.stringify(await stepsOf()).includes('golang:1.26'))
  kube.remove(group('golang:1.26'))
  await until('the deletion', async () => JSON.stringify(await stepsOf()).includes('not found'))
  t.match(await catalog.resolveTask({ namespace: 'team-a', name: 'ci', kind: 'TaskGroup' }), { missing: true })
})

t.test('a kubeconfig it cannot use is a failure to retry, never an exception', async (t) => {
  const catalog = new ClusterCatalog({ kubeConfig: new KubeConfig(), backoff: { initialMs: 20, maxMs: 40 } })
  t.teardown(() => catalog.stop())
  t.doesNotThrow(() => catalog.start())
  await until('failing', () => inState(catalog, 'stepactions', 'failing') && inState(catalog, 'tasks', 'failing'))
  t.match(stateOf(catalog, 'stepactions')?.lastError, /No active cluster/)
  t.notOk(catalog.ready)
  await catalog.stop()
})

t.test('stop() leaves nothing running', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions, tasks] })
  kube.create(stepAction('git-clone'))
  const { catalog } = startCatalog(t, kube)
  await until('ready and watching', () => catalog.ready && kube.openWatches() === 2)
  await catalog.stop()
  await until('no watch open', () => kube.openWatches() === 0)
  const seen = kube.requests().length
  kube.create(stepAction('after-stop'))
  kube.endWatches()
  await sleep(300)
  t.equal(kube.requests().length, seen, 'no request after stop')
  t.equal(await imageOf(catalog, 'after-stop'), undefined)
  t.equal(await imageOf(catalog, 'git-clone'), 'alpine:3', 'what it held still answers')

  // The process can exit: a child stops catalogs caught in every phase, and must then end by itself.
  const dir = await tempDir(t)
  const kubeconfig = await kube.writeKubeconfig(dir)
  t.teardown(kube.forbid({ group: 'tekton.dev', resource: 'tasks', verbs: ['list'] }))
  const module = new URL('src/resolution/cluster.ts', `file://${root}`).href
  const script = [
    `const { KubeConfig } = await import('@kubernetes/client-node')`,
    `const { ClusterCatalog } = await import(${JSON.stringify(module)})`,
    'const kubeConfig = new KubeConfig()',
    `kubeConfig.loadFromFile(${JSON.stringify(kubeconfig)})`,
    'const started = () => { const c = new ClusterCatalog({ kubeConfig, backoff: { initialMs: 10, maxMs: 20 } }); c.start(); return c }',
    'const stateOf = (c, plural) => c.status().find((s) => s.resource.startsWith(plural))?.state',
    'const until = async (check) => { while (!check()) await new Promise((r) => setTimeout(r, 10)) }',
    // Its first lists under way.
    'await started().stop()',
    // StepActions synced and watched, Tasks refused and a restart pending.
    'const running = started()',
    `await until(() => stateOf(running, 'stepactions') === 'synced' && stateOf(running, 'tasks') === 'failing')`,
    'await new Promise((r) => setTimeout(r, 50))',
    'await running.stop()',
    'console.log(running.size)',
  ].join('\n')
  // The ceiling only stops a hung child; a child that exits on its own is done long before.
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000, cwd: root })
  t.equal(stdout.trim(), '2', 'the child exits after stop()')
})

t.test("a 200 that is not JSON (a proxy's page) is 'not a list', without the page's text", async (t) => {
  const kubeConfig = await answeringServer(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' })
    res.end('<html><body>Sign in to continue</body></html>')
  })
  const statuses: ResourceStatus[] = []
  const catalog = new ClusterCatalog({ kubeConfig, backoff: { initialMs: 20, maxMs: 200 }, onStatus: (s) => statuses.push(s) })
  catalog.start()
  t.teardown(() => catalog.stop())
  await until('a failure reported', () => statuses.some((s) => s.state === 'failing' && s.resource.startsWith('stepactions.')))
  const failing = statuses.find((s) => s.state === 'failing' && s.resource.startsWith('stepactions.'))
  t.equal(failing?.lastError, 'cannot list stepactions.tekton.dev/v1beta1: the answer is not a list')
})

t.test('a continue token that expires mid-list: the list starts over in one request, reporting no failure', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions, tasks] })
  for (let i = 0; i < 1200; i++) kube.create(stepAction(`step-${String(i).padStart(4, '0')}`))
  // Compacted right after the first page: the token it carries names a snapshot that is gone.
  const stop = kube.onAnswered((r) => {
    if (r.path === stepActionsPath && r.query.watch === undefined && r.query.continue === undefined && r.status === 200) {
      stop()
      kube.create(stepAction('created-meanwhile'))
      kube.expireHistory()
    }
  })
  const { catalog, statuses } = startCatalog(t, kube)
  await until('ready', () => catalog.ready)
  const lists = listsOf(kube)
  t.same(
    lists.map((r) => [r.query.limit, r.query.continue === undefined ? 'first' : 'continued', r.status]),
    [
      ['500', 'first', 200],
      ['500', 'continued', 410],
      [undefined, 'first', 200],
    ],
    'a page, its expired continuation, then the whole list at once',
  )
  t.equal(catalog.size, 1201, 'every StepAction, the one created meanwhile too')
  t.equal(await imageOf(catalog, 'created-meanwhile'), 'alpine:3')
  t.same(
    statuses.filter((s) => s.state === 'failing'),
    [],
    'an expired token is the protocol, not a failure',
  )
})

t.test('stop() does not wait for a watch the API server never answers', async (t) => {
  // An API server that lists but holds every watch request without answering, as one going down does.
  const held: ServerResponse[] = []
  const kubeConfig = await answeringServer(t, (req, res) => {
    if (new URL(req.url ?? '/', 'https://x').searchParams.get('watch') === 'true') return void held.push(res)
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: '7' }, items: [] }))
  })
  const catalog = new ClusterCatalog({ kubeConfig, backoff: { initialMs: 20, maxMs: 200 } })
  catalog.start()
  await until('every watch held', () => held.length === 3)
  let closed = 0
  const allClosed = Promise.all(held.map((res) => new Promise<void>((resolve) => res.on('close', () => resolve(void closed++)))))
  // Before, stop() waited for each watch until the client's 30 s timeout had closed it.
  await catalog.stop()
  t.equal(closed, 0, 'stop() resolved while the three watches were still open and unanswered')
  // Answered now: each is closed by stepsplice the moment it connects.
  for (const res of held) {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.flushHeaders()
  }
  await allClosed
  t.equal(closed, 3, 'each watch was closed once connected')
})

/** A KubeConfig for an HTTPS server on loopback that answers every request with `handler`: not an API server, or one misbehaving. */
async function answeringServer(t: TapTest, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<KubeConfig> {
  const server = createServer({ cert: await readFile(certs.certFile), key: await readFile(certs.keyFile) }, handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const kubeConfig = new KubeConfig()
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'plain', server: `https://127.0.0.1:${(server.address() as { port: number }).port}`, caData: certs.ca.toString('base64') }],
    users: [{ name: 'stepsplice', token: 'token' }],
    contexts: [{ name: 'plain', cluster: 'plain', user: 'stepsplice' }],
    currentContext: 'plain',
  })
  return kubeConfig
}
