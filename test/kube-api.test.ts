// The fake API server (helpers/kube-api.ts) is only worth what it proves, so
// these tests hold it to the real @kubernetes/client-node: its API clients,
// Watch and ListWatch informers talk to it over verified TLS with a bearer
// token and must see what they would see from a cluster: lists then watches,
// bookmarks, 410 Gone after compaction, 404 before a CRD exists, 401/403,
// dropped connections and an outage.

import {
  ApiException,
  ApisApi,
  CoreApi,
  CustomObjectsApi,
  type Informer,
  KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  makeInformer,
  type ObjectCache,
  Watch,
} from '@kubernetes/client-node'
import t from 'tap'
import type { KubeObject } from '../src/types/k8s.ts'
import { defaultUser, type KubeApi, startKubeApi, tektonResources } from './helpers/kube-api.ts'
import { httpsRequest, mintCerts, sleep, type TapTest, tempDir, until } from './helpers/server.ts'

const certs = await mintCerts(t)
const { stepActions, tasks } = tektonResources
const stepActionsPath = '/apis/tekton.dev/v1beta1/stepactions'

/** listClusterCustomObject for StepActions: the list an informer starts from. */
const listStepActions = (kc: KubeConfig, version = 'v1beta1'): Promise<KubernetesListObject<KubernetesObject>> =>
  kc.makeApiClient(CustomObjectsApi).listClusterCustomObject({ group: 'tekton.dev', version, plural: 'stepactions' })

const stepAction = (name: string, image = 'alpine:3', namespace?: string): KubeObject => ({
  apiVersion: 'tekton.dev/v1beta1',
  kind: 'StepAction',
  metadata: namespace === undefined ? { name } : { name, namespace },
  spec: { image, script: 'true' },
})

type Cached = Informer<KubernetesObject> & ObjectCache<KubernetesObject>

interface Observed<I extends Cached = Cached> {
  informer: I
  /** "add NAME", "update NAME", "delete NAME" in the order the informer reported them. */
  seen: string[]
  errors: unknown[]
}

function observe<I extends Cached>(t: TapTest, informer: I): Observed<I> {
  const seen: string[] = []
  const errors: unknown[] = []
  informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`))
  informer.on('update', (o) => seen.push(`update ${o.metadata?.name}`))
  informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`))
  informer.on('error', (e) => errors.push(e))
  t.teardown(() => informer.stop())
  return { informer, seen, errors }
}

/** The informer stepsplice's cluster catalog will run: what makeInformer builds, a ListWatch over listClusterCustomObject. */
function stepActionInformer(t: TapTest, kc: KubeConfig, version = 'v1beta1'): Observed<ListWatch<KubernetesObject>> {
  return observe(t, new ListWatch(`/apis/tekton.dev/${version}/stepactions`, new Watch(kc), () => listStepActions(kc, version), false))
}

const watchesOf = (kube: KubeApi, path = stepActionsPath) => kube.requests().filter((r) => r.path === path && r.query.watch === 'true')
const listsOf = (kube: KubeApi, path = stepActionsPath) => kube.requests().filter((r) => r.path === path && r.query.watch === undefined)

/** The HTTP code an error from the client carries: ApiException.code, or statusCode from Watch. */
function codeOf(e: unknown): number | undefined {
  if (e instanceof ApiException) return e.code
  const s = (e as { statusCode?: unknown }).statusCode
  return typeof s === 'number' ? s : undefined
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (e) {
    return e
  }
  throw new Error('expected a rejection')
}

/** The Status an ApiException carries (its body is the response text). */
async function statusOf(e: unknown): Promise<Record<string, unknown>> {
  if (!(e instanceof ApiException)) throw new Error(`not an ApiException: ${String(e)}`)
  return JSON.parse(String(await e.body)) as Record<string, unknown>
}

t.test('discovery follows the CRDs; a resource not installed is a 404 Status until it is', async (t) => {
  const kube = await startKubeApi(t, { certs })
  const kc = kube.kubeConfig()
  const custom = kc.makeApiClient(CustomObjectsApi)

  t.same((await kc.makeApiClient(CoreApi).getAPIVersions()).versions, ['v1'])
  t.same((await kc.makeApiClient(ApisApi).getAPIVersions()).groups, [], 'no API groups before any CRD')
  const missing = await rejection(listStepActions(kc))
  t.equal(codeOf(missing), 404)
  t.match(await statusOf(missing), {
    kind: 'Status',
    status: 'Failure',
    reason: 'NotFound',
    code: 404,
    message: 'the server could not find the requested resource',
  })
  t.equal(codeOf(await rejection(custom.getAPIResources({ group: 'tekton.dev', version: 'v1beta1' }))), 404)

  kube.install(stepActions)
  kube.install(tasks)
  const groups = (await kc.makeApiClient(ApisApi).getAPIVersions()).groups
  t.same(
    groups.map((g) => [g.name, g.versions.map((v) => v.version), g.preferredVersion?.version]),
    [['tekton.dev', ['v1', 'v1beta1', 'v1alpha1'], 'v1']],
    'versions in Kubernetes priority order',
  )
  const v1beta1 = await custom.getAPIResources({ group: 'tekton.dev', version: 'v1beta1' })
  t.match(v1beta1.resources, [{ name: 'stepactions', singularName: 'stepaction', namespaced: true, kind: 'StepAction', verbs: ['get', 'list', 'watch'] }])
  t.same(
    (await custom.getAPIResources({ group: 'tekton.dev', version: 'v1' })).resources.map((r) => r.name),
    ['tasks'],
  )

  const created = kube.create(stepAction('git-clone'))
  t.match(created.metadata, { name: 'git-clone', namespace: 'default', resourceVersion: kube.resourceVersion(), generation: 1 })
  const list = await listStepActions(kc)
  t.equal(list.kind, 'StepActionList')
  t.equal(list.metadata?.resourceVersion, kube.resourceVersion())
  t.same(
    list.items.map((o: KubernetesObject) => [o.apiVersion, o.metadata?.name]),
    [['tekton.dev/v1beta1', 'git-clone']],
  )
  const alpha = await listStepActions(kc, 'v1alpha1')
  t.equal(alpha.items[0]?.apiVersion, 'tekton.dev/v1alpha1', 'the same object, served at the version asked for')
  const one = await custom.getNamespacedCustomObject({
    group: 'tekton.dev',
    version: 'v1beta1',
    namespace: 'default',
    plural: 'stepactions',
    name: 'git-clone',
  })
  t.equal(one.metadata.uid, created.metadata?.uid)
  const absent = await rejection(
    custom.getNamespacedCustomObject({ group: 'tekton.dev', version: 'v1beta1', namespace: 'default', plural: 'stepactions', name: 'nope' }),
  )
  t.match(await statusOf(absent), { reason: 'NotFound', message: 'stepactions.tekton.dev "nope" not found', details: { name: 'nope', kind: 'stepactions' } })

  const dir = await tempDir(t)
  const fromFile = new KubeConfig()
  fromFile.loadFromFile(await kube.writeKubeconfig(dir))
  t.equal((await listStepActions(fromFile)).items.length, 1, 'a kubeconfig file works too')

  const stranger = await mintCerts(t)
  const untrusting = new KubeConfig()
  untrusting.loadFromOptions({
    clusters: [{ name: 'c', server: kube.url, caData: stranger.ca.toString('base64'), skipTLSVerify: false }],
    users: [{ name: 'u', token: kube.token }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  })
  const tlsError = await rejection(listStepActions(untrusting))
  t.notOk(tlsError instanceof ApiException, 'a client trusting another CA does not get an answer')

  kube.uninstall(stepActions)
  t.equal(codeOf(await rejection(listStepActions(kc))), 404, 'gone again with its CRD')
  t.same(
    (await kc.makeApiClient(ApisApi).getAPIVersions()).groups[0]?.versions.map((v) => v.version),
    ['v1'],
  )
})

t.test('an informer lists, then watches ADDED, MODIFIED and DELETED', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions] })
  kube.create(stepAction('git-clone'))
  kube.create(stepAction('team-step', 'alpine:3', 'team-a'))
  const kc = kube.kubeConfig()
  const all = stepActionInformer(t, kc)
  const api = kc.makeApiClient(CustomObjectsApi)
  const teamList = (): Promise<KubernetesListObject<KubernetesObject>> =>
    api.listNamespacedCustomObject({ group: 'tekton.dev', version: 'v1alpha1', namespace: 'team-a', plural: 'stepactions' })
  const team = observe(t, makeInformer(kc, '/apis/tekton.dev/v1alpha1/namespaces/team-a/stepactions', teamList))
  const raw: Array<[string, string | undefined, number]> = []
  const rawWatch = await new Watch(kc).watch(
    stepActionsPath,
    { resourceVersion: kube.resourceVersion() },
    (phase, o: KubernetesObject) => raw.push([phase, o.metadata?.name, Number(o.metadata?.resourceVersion)]),
    () => {},
  )
  t.teardown(() => rawWatch.abort())
  await all.informer.start()
  await team.informer.start()
  await until('three watches open', () => kube.openWatches() === 3)
  t.same(all.seen, ['add git-clone', 'add team-step'], 'the list fills the cache')
  t.same(team.seen, ['add team-step'], 'a namespaced informer sees its namespace only')
  const log = kube.requests()
  const listAt = log.findIndex((r) => r.path === stepActionsPath && r.query.watch === undefined)
  const watch = log.slice(listAt).find((r) => r.path === stepActionsPath && r.query.watch === 'true')
  t.ok(listAt >= 0 && watch, 'the informer lists, then watches')
  t.equal(watch?.query.resourceVersion, (await listStepActions(kc)).metadata?.resourceVersion)
  t.equal(watch?.user, defaultUser)

  kube.create(stepAction('go-build'))
  kube.update(stepAction('git-clone', 'alpine:3.21'))
  kube.create(stepAction('team-two', 'alpine:3', 'team-a'))
  await until('the three changes', () => all.seen.length === 5)
  kube.remove(stepAction('go-build'))
  await until('the deletion', () => all.seen.length === 6)
  t.same(all.seen.slice(2), ['add go-build', 'update git-clone', 'add team-two', 'delete go-build'])
  await until('the raw watch', () => raw.length === 4)
  t.same(
    raw.map(([phase, name]) => [phase, name]),
    [
      ['ADDED', 'go-build'],
      ['MODIFIED', 'git-clone'],
      ['ADDED', 'team-two'],
      ['DELETED', 'go-build'],
    ],
    'the event types on the wire',
  )
  t.ok(
    raw.every(([, , rv], i) => i === 0 || rv > (raw[i - 1]?.[2] ?? 0)),
    'each event at a higher resourceVersion, the deletion included',
  )
  t.match(all.informer.get('git-clone', 'default'), { spec: { image: 'alpine:3.21' }, metadata: { generation: 2 } })
  t.same(
    all.informer
      .list()
      .map((o) => o.metadata?.name)
      .sort(),
    ['git-clone', 'team-step', 'team-two'],
  )
  await until('the team informer', () => team.seen.length === 2)
  t.equal(team.informer.get('team-two', 'team-a')?.apiVersion, 'tekton.dev/v1alpha1')
  t.same([...all.errors, ...team.errors], [])
})

/** A Watch that asks for bookmarks, as an informer must to receive them (ListWatch itself does not ask). */
class BookmarkWatch extends Watch {
  override watch(...[path, query, callback, done]: Parameters<Watch['watch']>) {
    return super.watch(path, { ...query, allowWatchBookmarks: true }, callback, done)
  }
}

t.test('BOOKMARKs go to watches that ask for them and move the informer on', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions, tasks] })
  kube.create(stepAction('git-clone'))
  const kc = kube.kubeConfig()
  const bookmarked = new ListWatch(stepActionsPath, new BookmarkWatch(kc), () => listStepActions(kc), false)
  observe(t, bookmarked)
  const plain = stepActionInformer(t, kc)
  const raw: Array<[string, KubernetesObject]> = []
  const rawWatch = await new Watch(kc).watch(
    stepActionsPath,
    { allowWatchBookmarks: true, resourceVersion: kube.resourceVersion() },
    (phase, object) => raw.push([phase, object]),
    () => {},
  )
  t.teardown(() => rawWatch.abort())
  await bookmarked.start()
  await plain.informer.start()
  await until('three watches open', () => kube.openWatches() === 3)
  const before = plain.informer.latestResourceVersion()

  kube.create({ apiVersion: 'tekton.dev/v1', kind: 'Task', metadata: { name: 'elsewhere' }, spec: {} })
  t.equal(kube.bookmark(), 2, 'only the watches that allowed bookmarks get one')
  const now = kube.resourceVersion()
  await until('the raw watch sees the bookmark', () => raw.length === 1)
  t.match(raw[0], ['BOOKMARK', { kind: 'StepAction', apiVersion: 'tekton.dev/v1beta1', metadata: { resourceVersion: now } }])
  await until('the informer takes the bookmark', () => bookmarked.latestResourceVersion() === now)
  t.equal(plain.informer.latestResourceVersion(), before, 'the informer that did not ask stays where it was')

  t.equal(kube.endWatches(), 3)
  await until('the bookmarked informer resumes', () => watchesOf(kube).some((w) => w.query.resourceVersion === now))
  t.equal(watchesOf(kube).find((w) => w.query.resourceVersion === now)?.query.allowWatchBookmarks, 'true')
})

t.test('a watch the server ends is resumed; after compaction the resume gets 410 and the informer re-lists', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions] })
  kube.create(stepAction('git-clone'))
  const { informer, seen, errors } = stepActionInformer(t, kube.kubeConfig())
  await informer.start()
  await until('the watch', () => kube.openWatches() === 1)
  const listed = informer.latestResourceVersion()

  kube.endWatches()
  await until('a second watch from the same resourceVersion', () => watchesOf(kube).length === 2 && kube.openWatches() === 1)
  t.equal(watchesOf(kube)[1]?.query.resourceVersion, listed, 'resumed, not re-listed')
  t.equal(listsOf(kube).length, 1)

  // In one tick: the watch ends, a change lands the informer will not be watching for, and history is compacted.
  kube.endWatches()
  kube.create(stepAction('late'))
  kube.expireHistory()
  await until('the re-listed object', () => seen.includes('add late'))
  const expired = watchesOf(kube).find((w) => w.errorEvent === 410)
  t.ok(expired, 'a resume was answered with an ERROR event carrying 410')
  t.equal(expired?.query.resourceVersion, listed)
  t.equal(expired?.status, 200, 'as the real server does: the watch starts, then the ERROR event ends it')
  const log = kube.requests()
  const expiredAt = log.findIndex((r) => r.errorEvent === 410)
  t.ok(
    log.slice(expiredAt).some((r) => r.path === stepActionsPath && r.query.watch === undefined),
    'a list came after the 410',
  )
  t.equal(listsOf(kube).length, 2)
  await until('watching again', () => kube.openWatches() === 1)
  t.ok(Number(watchesOf(kube).at(-1)?.query.resourceVersion) >= Number(kube.resourceVersion()), 'from the new list')
  t.same(errors, [], '410 is handled inside the informer, not reported')
})

t.test('a dropped watch connection is an error; restarting the informer resumes from history', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions] })
  const { informer, seen, errors } = stepActionInformer(t, kube.kubeConfig())
  await informer.start()
  await until('the watch', () => kube.openWatches() === 1)
  t.equal(kube.dropWatches(), 1)
  await until('the error', () => errors.length === 1)
  kube.create(stepAction('while-stopped'))
  await sleep(50)
  t.same(seen, [], 'a ListWatch stops on a connection error until restarted')

  const before = kube.requests().length
  await informer.start()
  await until('the missed object', () => seen.includes('add while-stopped'))
  const after = kube.requests().slice(before)
  t.same(
    after.map((r) => r.query.watch),
    ['true'],
    'one watch from the last resourceVersion, no list',
  )
})

t.test('401 for a missing or wrong token, 403 for what a user is forbidden, injected 500s', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions] })
  kube.create(stepAction('git-clone'))

  const bare = await httpsRequest(kube.url, certs.ca, stepActionsPath)
  t.equal(bare.status, 401)
  t.match(JSON.parse(bare.text), { kind: 'Status', reason: 'Unauthorized', code: 401 })
  t.equal(codeOf(await rejection(listStepActions(kube.kubeConfig('not-a-token')))), 401)
  t.equal(kube.requests().at(-1)?.user, undefined)
  const wrong = stepActionInformer(t, kube.kubeConfig('not-a-token'))
  await wrong.informer.start()
  await until('the informer error', () => wrong.errors.length === 1)
  t.equal(codeOf(wrong.errors[0]), 401)

  const reader = 'system:serviceaccount:other:reader'
  const liftList = kube.forbid({ group: 'tekton.dev', resource: 'stepactions', verbs: ['list'], user: defaultUser })
  const denied = await rejection(listStepActions(kube.kubeConfig()))
  t.equal(codeOf(denied), 403)
  t.match(await statusOf(denied), {
    reason: 'Forbidden',
    message: `stepactions.tekton.dev is forbidden: User "${defaultUser}" cannot list resource "stepactions" in API group "tekton.dev" at the cluster scope`,
    details: { group: 'tekton.dev', kind: 'stepactions' },
  })
  t.equal((await listStepActions(kube.kubeConfig(kube.issueToken(reader)))).items.length, 1, 'another user may')
  liftList()

  const liftWatch = kube.forbid({ group: 'tekton.dev', resource: 'stepactions', verbs: ['watch'] })
  const { informer, seen, errors } = stepActionInformer(t, kube.kubeConfig())
  await informer.start()
  await until('the watch refused', () => errors.length === 1)
  t.equal(codeOf(errors[0]), 403, 'the watch fails after the list worked')
  t.same(seen, ['add git-clone'])
  liftWatch()

  kube.fail({ group: 'tekton.dev', resource: 'stepactions', verbs: ['list'], code: 500, times: 1 })
  const failed = await rejection(listStepActions(kube.kubeConfig()))
  t.equal(codeOf(failed), 500)
  t.match(await statusOf(failed), { reason: 'InternalError', code: 500 })
  t.equal((await listStepActions(kube.kubeConfig())).items.length, 1, 'the fault lifted after one request')

  await informer.start()
  await until('watching after the 403 lifted', () => kube.openWatches() === 1)
})

t.test('an outage: errors while the server is down, recovery when the informer restarts', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions] })
  kube.create(stepAction('git-clone'))
  const kc = kube.kubeConfig()
  const { informer, seen, errors } = stepActionInformer(t, kc)
  await informer.start()
  await until('the watch', () => kube.openWatches() === 1)

  await kube.stop()
  await until('the informer error', () => errors.length === 1)
  const refused = await rejection(listStepActions(kc))
  t.notOk(refused instanceof ApiException, 'no answer at all while down')
  await informer.start()
  await until('the failed restart', () => errors.length === 2)
  kube.create(stepAction('during-outage'))

  await kube.restart()
  await informer.start()
  await until('the change made during the outage', () => seen.includes('add during-outage'))
  t.same(seen, ['add git-clone', 'add during-outage'])
  await until('watching again', () => kube.openWatches() === 1)
})

t.test('deleting the CRD deletes its objects for watchers, then the informer gets 404', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions] })
  kube.create(stepAction('git-clone'))
  const { informer, seen, errors } = stepActionInformer(t, kube.kubeConfig())
  await informer.start()
  await until('the watch', () => kube.openWatches() === 1)
  kube.uninstall(stepActions)
  await until('the error', () => errors.length === 1)
  t.same(seen, ['add git-clone', 'delete git-clone'])
  t.equal(codeOf(errors[0]), 404)
})

t.test('the wire: chunked watch events, timeoutSeconds, 410 as an ERROR event, selectors, pages, 405', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [stepActions] })
  const early = kube.resourceVersion()
  kube.create({ ...stepAction('labelled'), metadata: { name: 'labelled', labels: { team: 'build' } } })
  kube.create(stepAction('plain'))
  kube.create(stepAction('third', 'alpine:3', 'team-a'))
  const get = (path: string, method = 'GET') => httpsRequest(kube.url, certs.ca, path, { method, headers: { authorization: `Bearer ${kube.token}` } })

  const stream = await get(`${stepActionsPath}?watch=1&resourceVersion=0&timeoutSeconds=1`)
  t.equal(stream.status, 200)
  t.equal(stream.headers['transfer-encoding'], 'chunked')
  t.equal(stream.headers['content-type'], 'application/json')
  const events = stream.text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; object: KubeObject })
  t.same(
    events.map((e) => [e.type, e.object.metadata?.name]),
    [
      ['ADDED', 'labelled'],
      ['ADDED', 'plain'],
      ['ADDED', 'third'],
    ],
    'resourceVersion 0 starts with the current state, and timeoutSeconds ends the stream',
  )

  const gone = await get(`${stepActionsPath}?watch=true&resourceVersion=${Number(early) - 1}`)
  t.equal(gone.status, 200)
  t.match(JSON.parse(gone.text), { type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: /^too old resource version: / } })

  const kc = kube.kubeConfig()
  const custom = kc.makeApiClient(CustomObjectsApi)
  const selected = await custom.listClusterCustomObject({ group: 'tekton.dev', version: 'v1beta1', plural: 'stepactions', labelSelector: 'team=build' })
  t.same(
    selected.items.map((o: KubernetesObject) => o.metadata?.name),
    ['labelled'],
  )
  const byName = await custom.listClusterCustomObject({ group: 'tekton.dev', version: 'v1beta1', plural: 'stepactions', fieldSelector: 'metadata.name=plain' })
  t.same(
    byName.items.map((o: KubernetesObject) => o.metadata?.name),
    ['plain'],
  )
  t.equal(
    codeOf(await rejection(custom.listClusterCustomObject({ group: 'tekton.dev', version: 'v1beta1', plural: 'stepactions', labelSelector: 'team in (a)' }))),
    400,
  )

  const first = await custom.listClusterCustomObject({ group: 'tekton.dev', version: 'v1beta1', plural: 'stepactions', limit: 2 })
  t.equal(first.items.length, 2)
  t.equal(first.metadata.remainingItemCount, 1)
  const rest = await custom.listClusterCustomObject({
    group: 'tekton.dev',
    version: 'v1beta1',
    plural: 'stepactions',
    limit: 2,
    _continue: first.metadata.continue,
  })
  t.same(
    rest.items.map((o: KubernetesObject) => o.metadata?.name),
    ['third'],
  )
  t.equal(rest.metadata.continue, undefined)
  t.equal(rest.metadata.resourceVersion, first.metadata.resourceVersion, 'pages share the first page’s resourceVersion')
  // After a compaction the first page's snapshot is gone: continuing is 410 Expired, as etcd answers.
  kube.expireHistory()
  const expired = await rejection(
    custom.listClusterCustomObject({ group: 'tekton.dev', version: 'v1beta1', plural: 'stepactions', limit: 2, _continue: first.metadata.continue }),
  )
  t.equal(codeOf(expired), 410)
  t.match(JSON.parse(String((expired as { body?: unknown }).body)), { kind: 'Status', code: 410, reason: 'Expired', message: /continue parameter is too old/ })

  const post = await get(stepActionsPath, 'POST')
  t.equal(post.status, 405)
  t.match(JSON.parse(post.text), { kind: 'Status', reason: 'MethodNotAllowed' })
})
