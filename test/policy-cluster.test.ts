// Step policies from the cluster (`serve --kube`): StepPolicy and
// ClusterStepPolicy objects, and namespaces' labels, read by the real
// @kubernetes/client-node from the in-process API server and enforced by the
// real webhook on a worker thread. Policies arrive, change and leave while it
// serves; a ClusterStepPolicy follows its namespaces' labels; an invalid
// object is reported and not enforced; an outage keeps the last known
// policies in force; a replica is not ready before it knows them.

import t from 'tap'
import { DirectoryCatalog } from '../src/resolution/directory.ts'
import { ClusterPolicies, type InvalidPolicyReport } from '../src/server/cluster-policies.ts'
import { startServer } from '../src/server/serve.ts'
import type { KubeObject } from '../src/types/k8s.ts'
import { policyResources, startKubeApi } from './helpers/kube-api.ts'
import { captureLogs, exampleCatalogDir, httpsRequest, mintCerts, reviewOf, sample, plainGet, until } from './helpers/server.ts'

const certs = await mintCerts(t)

// The policy CRDs are not installed at first: a cluster without them has no policies, and the replica is ready all the same.
const kube = await startKubeApi(t, { certs, resources: [policyResources.namespaces] })
const invalid: InvalidPolicyReport[] = []
const policies = new ClusterPolicies({ kubeConfig: kube.kubeConfig(), backoff: { initialMs: 20, maxMs: 100 }, onInvalid: (r) => invalid.push(r) })
const logs = captureLogs()
const server = await startServer({
  host: '127.0.0.1',
  port: 0,
  certFile: certs.certFile,
  keyFile: certs.keyFile,
  catalog: await DirectoryCatalog.load([exampleCatalogDir]),
  logger: logs.logger,
  deadlineMs: 5000,
  onTimeout: 'deny',
  workers: 1,
  metricsPort: 0,
  policies,
})
t.teardown(async () => {
  await server.close()
  await policies.watches.stop()
})
const metricsPort = server.metricsPort ?? 0

const namespace = (name: string, labels: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } },
})
kube.create(namespace('team-a'))
kube.create(namespace('team-b'))

const taskRun = (ns: string): KubeObject => ({
  apiVersion: 'tekton.dev/v1',
  kind: 'TaskRun',
  metadata: { name: 'run', namespace: ns },
  spec: {
    taskSpec: {
      steps: [
        { name: 'build', ref: { name: 'go-build' }, params: [{ name: 'packages', value: './...' }] },
        { name: 'inline', image: 'docker.io/library/busybox:1.37', script: 'true' },
      ],
    },
  },
})

async function admit(ns: string): Promise<{ allowed: boolean; message: string; warnings: string[] }> {
  const res = await httpsRequest(server.url, certs.ca, '/mutate', { body: reviewOf(taskRun(ns)) })
  const r = (JSON.parse(res.text) as { response: { allowed: boolean; status?: { message?: string }; warnings?: string[] } }).response
  return { allowed: r.allowed, message: r.status?.message ?? '', warnings: r.warnings ?? [] }
}

const noInline = (name: string, ns: string, mode: 'Enforce' | 'Audit' = 'Enforce'): KubeObject => ({
  apiVersion: 'stepsplice.dev/v1alpha1',
  kind: 'StepPolicy',
  metadata: { name, namespace: ns },
  spec: { mode, inlineSteps: 'Deny' },
})

t.test('not ready until every policy resource is listed; without the CRDs there are no policies', async (t) => {
  t.equal((await plainGet(metricsPort, '/readyz')).status, 503, 'the policies are not known yet')
  policies.watches.start()
  await until('ready', async () => (await plainGet(metricsPort, '/readyz')).status === 200)
  t.match(
    policies.watches.status().find((s) => s.resource.startsWith('steppolicies')),
    { state: 'absent', lastError: /steppolicies\.stepsplice\.dev is not installed .*are stepsplice's CRDs installed/ },
  )
  t.equal((await admit('team-a')).allowed, true)
})

t.test('a StepPolicy arrives, changes mode and leaves; admission follows each change', async (t) => {
  kube.install(policyResources.stepPolicies)
  kube.install(policyResources.clusterStepPolicies)
  const created = kube.create(noInline('no-inline', 'team-a'))
  await until('the policy in force', async () => !(await admit('team-a')).allowed)
  const denied = await admit('team-a')
  t.match(denied.message, /policy StepPolicy team-a\/no-inline: inlineSteps: /)
  t.equal((await admit('team-b')).allowed, true, 'a StepPolicy governs its own namespace only')
  const m = (await plainGet(metricsPort, '/metrics')).text
  t.equal(sample(m, 'stepsplice_policies', { policy: 'StepPolicy team-a/no-inline', kind: 'StepPolicy', mode: 'Enforce', state: 'active' }), 1)
  t.ok((sample(m, 'stepsplice_policy_violations_total', { policy: 'StepPolicy team-a/no-inline', rule: 'inlineSteps', mode: 'Enforce' }) ?? 0) >= 1)

  kube.update({ ...created, spec: { mode: 'Audit', inlineSteps: 'Deny' } })
  await until('the policy in Audit', async () => (await admit('team-a')).allowed)
  t.match((await admit('team-a')).warnings, [/^policy StepPolicy team-a\/no-inline \(Audit\): spec\.taskSpec\.steps\[1\]: inlineSteps: /])

  kube.remove(created)
  await until('the policy gone', async () => (await admit('team-a')).warnings.length === 0)
  const after = (await plainGet(metricsPort, '/metrics')).text
  t.notOk(/stepsplice_policies\{[^}]*no-inline/.test(after), 'its listing is gone')
  t.notOk(/stepsplice_policy_violations_total\{[^}]*no-inline/.test(after), 'and its counters with it')
})

t.test('a ClusterStepPolicy follows the labels of namespaces as they change', async (t) => {
  const prodOnly: KubeObject = {
    apiVersion: 'stepsplice.dev/v1alpha1',
    kind: 'ClusterStepPolicy',
    metadata: { name: 'prod-no-inline' },
    spec: { namespaceSelector: { matchLabels: { tier: 'prod' } }, inlineSteps: 'Deny' },
  }
  const policy = kube.create(prodOnly)
  await until('the policy known', () => policies.current().policies.some((p) => p.id === 'ClusterStepPolicy prod-no-inline'))
  t.equal((await admit('team-b')).allowed, true, 'team-b is not labelled tier=prod')
  const labelled = kube.update(namespace('team-b', { tier: 'prod' }))
  await until('team-b selected', async () => !(await admit('team-b')).allowed)
  t.match((await admit('team-b')).message, /policy ClusterStepPolicy prod-no-inline: inlineSteps/)
  t.equal((await admit('team-a')).allowed, true, 'team-a still is not')
  kube.update({ ...labelled, metadata: { ...labelled.metadata, labels: { 'kubernetes.io/metadata.name': 'team-b' } } })
  await until('team-b no longer selected', async () => (await admit('team-b')).allowed)
  kube.remove(policy)
})

t.test('a namespace the watch has not delivered yet is waited for; one that never comes is a denial, not a pass', async (t) => {
  const policy = kube.create({
    apiVersion: 'stepsplice.dev/v1alpha1',
    kind: 'ClusterStepPolicy',
    metadata: { name: 'prod-no-inline' },
    spec: { namespaceSelector: { matchLabels: { tier: 'prod' } }, inlineSteps: 'Deny' },
  })
  t.teardown(() => kube.remove(policy))
  await until('the policy known', () => policies.current().policies.some((p) => p.id === 'ClusterStepPolicy prod-no-inline'))
  // The API server admits objects only into namespaces that exist: a miss is the watch a moment behind.
  const pending = admit('fresh')
  setTimeout(() => kube.create(namespace('fresh', { tier: 'prod' })), 100)
  t.match((await pending).message, /policy ClusterStepPolicy prod-no-inline: inlineSteps/, 'judged with the labels that arrived')
  const never = await admit('never-created')
  t.equal(never.allowed, false)
  t.match(never.message, /policy ClusterStepPolicy prod-no-inline: namespaceSelector: the labels of namespace "never-created" are not known to stepsplice yet/)
})

t.test('an invalid policy object is reported and not in force until it is fixed', async (t) => {
  // As if /validate had been bypassed: the fake API server stores what it is given.
  const bad = kube.create({
    apiVersion: 'stepsplice.dev/v1alpha1',
    kind: 'StepPolicy',
    metadata: { name: 'broken', namespace: 'team-a' },
    spec: { mode: 'Sometimes', inlineSteps: 'Deny' },
  })
  await until('reported', () => invalid.some((r) => r.policy === 'StepPolicy team-a/broken' && r.errors.length > 0))
  t.match(invalid.find((r) => r.policy === 'StepPolicy team-a/broken')?.errors, [/spec\.mode/])
  t.equal((await admit('team-a')).allowed, true, 'not enforced: what it would enforce is unknown')
  const m = (await plainGet(metricsPort, '/metrics')).text
  t.equal(sample(m, 'stepsplice_policies', { policy: 'StepPolicy team-a/broken', kind: 'StepPolicy', mode: 'Sometimes', state: 'invalid' }), 1)
  kube.update({ ...bad, spec: { inlineSteps: 'Deny' } })
  await until('fixed and enforced', async () => !(await admit('team-a')).allowed)
  t.match(invalid.at(-1), { policy: 'StepPolicy team-a/broken', errors: [] }, 'the fix is reported too')
  t.equal(
    sample((await plainGet(metricsPort, '/metrics')).text, 'stepsplice_policies', {
      policy: 'StepPolicy team-a/broken',
      kind: 'StepPolicy',
      mode: 'Enforce',
      state: 'active',
    }),
    1,
  )
})

t.test('through an outage of the API server the last known policies stay in force', async (t) => {
  await kube.stop()
  await until('a watch failing', () => policies.watches.status().some((s) => s.state === 'failing'))
  t.equal((await admit('team-a')).allowed, false, 'still enforced')
  t.equal((await plainGet(metricsPort, '/readyz')).status, 200, 'still ready')
  await kube.restart()
  await until('synced again', () => policies.watches.status().every((s) => s.state === 'synced'))
  t.equal((await admit('team-a')).allowed, false)
})

t.test('namespaces are listed in pages: one past the first 500 has its labels known', async (t) => {
  // The client's generated namespace list named the continue token `_continue`, and only the first page was read.
  const many = await startKubeApi(t, { certs, resources: [policyResources.namespaces] })
  for (let i = 0; i < 520; i++) many.create(namespace(`ns-${String(i).padStart(3, '0')}`, i === 519 ? { tier: 'prod' } : {}))
  const paged = new ClusterPolicies({ kubeConfig: many.kubeConfig(), backoff: { initialMs: 20, maxMs: 100 } })
  t.teardown(() => paged.watches.stop())
  paged.watches.start()
  await until('ready', () => paged.ready)
  const lists = many.requests().filter((r) => r.path === '/api/v1/namespaces' && r.query.watch === undefined)
  t.same(
    lists.map((r) => r.query.limit),
    ['500', '500'],
    'two pages of at most 500',
  )
  t.same(await paged.namespaceLabels('ns-519', 0), { 'kubernetes.io/metadata.name': 'ns-519', tier: 'prod' })
  t.same(await paged.namespaceLabels('ns-000', 0), { 'kubernetes.io/metadata.name': 'ns-000' })
})
