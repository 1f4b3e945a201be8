// `serve --kube` end to end: the real webhook, its cluster catalog filled by
// the real @kubernetes/client-node from the fake API server
// (helpers/kube-api.ts). Readiness waits for the sync; a StepAction applied
// with kubectl reaches admission within a second; admission makes no API
// call; an outage keeps the last known definitions serving; a shared
// namespace is reachable through the cluster resolver and another is not;
// a TaskRun's taskRef is written out and expanded.

import t from 'tap'
import { ClusterCatalog } from '../src/resolution/cluster.ts'
import { DirectoryCatalog } from '../src/resolution/directory.ts'
import { type Layer, LayeredCatalog } from '../src/resolution/layered.ts'
import { startServer } from '../src/server/serve.ts'
import type { KubeObject } from '../src/types/k8s.ts'
import { type KubeApi, startKubeApi, tektonResources } from './helpers/kube-api.ts'
import { applyEncodedPatch, captureLogs, exampleCatalogDir, httpsRequest, mintCerts, reviewOf, type TapTest, plainGet, until } from './helpers/server.ts'

const certs = await mintCerts(t)

const stepActionOf = (name: string, namespace: string, image: string): KubeObject => ({
  apiVersion: 'tekton.dev/v1beta1',
  kind: 'StepAction',
  metadata: { name, namespace },
  spec: { image, params: [{ name: 'msg', default: 'hi' }], env: [{ name: 'MSG', value: '$(params.msg)' }], command: ['echo'] },
})

interface Cluster {
  kube: KubeApi
  port: number
  metricsPort: number
  mutate(object: KubeObject): Promise<{ allowed: boolean; message: string; warnings: string[]; patched: KubeObject }>
}

async function startCluster(t: TapTest, options: { shared?: string[]; withDirectory?: boolean; requireResolution?: string[] } = {}): Promise<Cluster> {
  const kube = await startKubeApi(t, { certs, resources: [tektonResources.stepActions, tektonResources.tasks, tektonResources.taskGroups] })
  const cluster = new ClusterCatalog({ kubeConfig: kube.kubeConfig(), backoff: { initialMs: 20, maxMs: 200 } })
  const layers: Layer[] = [{ catalog: cluster, origin: 'the cluster' }]
  if (options.withDirectory) layers.push({ catalog: await DirectoryCatalog.load([exampleCatalogDir]), origin: 'examples' })
  const catalog = new LayeredCatalog(layers, { shared: options.shared ?? [] })
  const running = await startServer({
    host: '127.0.0.1',
    port: 0,
    certFile: certs.certFile,
    keyFile: certs.keyFile,
    catalog,
    logger: captureLogs().logger,
    deadlineMs: 5000,
    onTimeout: 'deny',
    workers: 1,
    metricsPort: 0,
    ...(options.requireResolution === undefined ? {} : { requireResolution: options.requireResolution }),
  })
  t.teardown(async () => {
    await running.close()
    await cluster.stop()
  })
  const metricsPort = running.metricsPort ?? 0
  // Not ready before the cluster catalog has listed everything it watches.
  t.equal((await plainGet(metricsPort, '/readyz')).status, 503, '/readyz is 503 before the sync')
  cluster.start()
  await until('the catalog synced', async () => (await plainGet(metricsPort, '/readyz')).status === 200)
  return {
    kube,
    port: running.port,
    metricsPort,
    async mutate(object) {
      const res = await httpsRequest(running.url, certs.ca, '/mutate', { body: reviewOf(object) })
      const r = (JSON.parse(res.text) as { response: { allowed: boolean; status?: { message: string }; warnings?: string[]; patch?: string } }).response
      return {
        allowed: r.allowed,
        message: r.status?.message ?? '',
        warnings: r.warnings ?? [],
        patched: (r.patch === undefined ? object : applyEncodedPatch(object, r.patch)) as KubeObject,
      }
    },
  }
}

const runIn = (namespace: string, step: Record<string, unknown>): KubeObject => ({
  apiVersion: 'tekton.dev/v1',
  kind: 'TaskRun',
  metadata: { name: 'run', namespace },
  spec: { taskSpec: { steps: [{ name: 's', ...step }] } },
})

const stepImage = (o: KubeObject): unknown => (o.spec as { taskSpec: { steps: { image?: string }[] } }).taskSpec.steps[0]?.image

t.test('definitions applied in the cluster reach admission; admission asks the API server nothing', async (t) => {
  const c = await startCluster(t)
  const before = await c.mutate(runIn('team-a', { ref: { name: 'echo' } }))
  t.equal(before.allowed, false)
  t.match(before.message, /stepactions\.tekton\.dev "echo" not found in namespace "team-a"/)

  c.kube.create(stepActionOf('echo', 'team-a', 'alpine:1'))
  await until('the new StepAction reaches admission', async () => (await c.mutate(runIn('team-a', { ref: { name: 'echo' } }))).allowed)
  const requestsBefore = c.kube.requests().length
  const admitted = await c.mutate(runIn('team-a', { ref: { name: 'echo' } }))
  t.equal(stepImage(admitted.patched), 'alpine:1')
  t.equal(c.kube.requests().length, requestsBefore, 'no request to the API server during admission')

  // A TaskGroup applied in the cluster, using a Task of the cluster whose step is that StepAction: merged and spliced at admission.
  c.kube.create({
    apiVersion: 'tekton.dev/v1',
    kind: 'Task',
    metadata: { name: 'say', namespace: 'team-a' },
    spec: { steps: [{ name: 'it', ref: { name: 'echo' } }] },
  })
  c.kube.create({
    apiVersion: 'custom.tekton.dev/v1alpha1',
    kind: 'TaskGroup',
    metadata: { name: 'greet', namespace: 'team-a' },
    spec: { steps: [{ name: 'hello', uses: { taskRef: { name: 'say' } } }] },
  })
  const grouped: KubeObject = {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { name: 'grouped', namespace: 'team-a' },
    spec: { taskRef: { apiVersion: 'custom.tekton.dev/v1alpha1', kind: 'TaskGroup', name: 'greet' } },
  }
  await until('the TaskGroup reaches admission', async () => (await c.mutate(grouped)).allowed)
  const merged = await c.mutate(grouped)
  t.match((merged.patched.spec as { taskSpec: { steps: unknown[] } }).taskSpec.steps, [{ name: 'hello-it', image: 'alpine:1' }])
  t.equal(merged.patched.metadata?.labels?.['custom.tekton.dev/taskGroup'], 'greet')

  c.kube.update(stepActionOf('echo', 'team-a', 'alpine:2'))
  await until('the update reaches admission', async () => stepImage((await c.mutate(runIn('team-a', { ref: { name: 'echo' } }))).patched) === 'alpine:2')
  c.kube.remove(stepActionOf('echo', 'team-a', 'alpine:2'))
  await until('the delete reaches admission', async () => !(await c.mutate(runIn('team-a', { ref: { name: 'echo' } }))).allowed)

  const metrics = await plainGet(c.metricsPort, '/metrics')
  t.match(metrics.text, /stepsplice_build_info\{version="[^"]+",node="v\d+/)
  t.match(metrics.text, /process_resident_memory_bytes/)
})

t.test('an API outage keeps the last known definitions serving', async (t) => {
  const c = await startCluster(t)
  c.kube.create(stepActionOf('echo', 'team-a', 'alpine:1'))
  await until('synced', async () => (await c.mutate(runIn('team-a', { ref: { name: 'echo' } }))).allowed)
  await c.kube.stop()
  const during = await c.mutate(runIn('team-a', { ref: { name: 'echo' } }))
  t.equal(stepImage(during.patched), 'alpine:1', 'served from memory while the API server is down')
  t.equal((await plainGet(c.metricsPort, '/readyz')).status, 200, 'still ready: what it knows keeps serving')
  await c.kube.restart()
})

t.test('the cluster resolver reaches shared namespaces only; the cluster wins over a directory', async (t) => {
  const c = await startCluster(t, { shared: ['platform'], withDirectory: true })
  c.kube.create(stepActionOf('scan', 'platform', 'scanner:1'))
  c.kube.create(stepActionOf('scan', 'other-team', 'scanner:2'))
  c.kube.create(stepActionOf('go-build', 'team-a', 'golang:cluster'))
  const ref = (namespace: string) => ({
    ref: {
      resolver: 'cluster',
      params: [
        { name: 'kind', value: 'stepaction' },
        { name: 'name', value: 'scan' },
        { name: 'namespace', value: namespace },
      ],
    },
  })
  await until('shared scan reachable', async () => (await c.mutate(runIn('team-a', ref('platform')))).allowed)
  t.equal(stepImage((await c.mutate(runIn('team-a', ref('platform')))).patched), 'scanner:1')
  const asked = runIn('team-a', ref('other-team'))
  const notShared = await c.mutate(asked)
  t.equal(notShared.allowed, true, "Tekton's cluster resolver has its own rules on namespaces: left to it")
  t.equal(notShared.patched, asked, 'no patch')
  t.match(notShared.warnings, [/left for Tekton to resolve: cluster: namespace "other-team" is not shared with stepsplice \(--shared-namespace other-team\)/])
  await until('cluster go-build', async () => stepImage((await c.mutate(runIn('team-a', { ref: { name: 'go-build' } }))).patched) === 'golang:cluster')
  t.equal(
    stepImage((await c.mutate(runIn('team-b', { ref: { name: 'go-build' } }))).patched),
    'golang:1.25',
    'where the cluster has none, the directory answers',
  )
})

t.test('an invalid StepAction in the cluster is left for Tekton, which takes it as its types decode it; a Pod or --require-resolution deny', async (t) => {
  // Written for a Tekton with a field this one lacks: its webhook would refuse it now, but its Go types drop the field and the step runs.
  const fine = stepActionOf('newer', 'team-a', 'alpine:1')
  const newer: KubeObject = { ...fine, spec: { ...(fine.spec as Record<string, unknown>), imagePullPolicy: 'Always' } }
  const left =
    /^spec\.taskSpec\.steps\[0\]\.ref \(step "s"\): left for Tekton to resolve: StepAction team-a\/newer in the cluster is invalid, and Tekton takes it as its types decode it: spec\.imagePullPolicy: unknown field/
  const viaResolver = runIn('team-a', {
    ref: {
      resolver: 'cluster',
      params: [
        { name: 'kind', value: 'stepaction' },
        { name: 'name', value: 'newer' },
        { name: 'namespace', value: 'team-a' },
      ],
    },
  })
  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'team-a', annotations: { 'stepsplice.dev/steps': JSON.stringify([{ name: 's', ref: { name: 'newer' } }]) } },
    spec: { containers: [{ name: 'main', image: 'app:1' }] },
  }
  for (const require of [undefined, ['local']]) {
    const c = await startCluster(t, { shared: ['team-a'], ...(require === undefined ? {} : { requireResolution: require }) })
    c.kube.create(newer)
    c.kube.create(stepActionOf('fine', 'team-a', 'alpine:2'))
    await until('the StepActions reach admission', async () => (await c.mutate(runIn('team-a', { ref: { name: 'fine' } }))).allowed)
    const byName = runIn('team-a', { ref: { name: 'newer' } })
    const named = await c.mutate(byName)
    if (require === undefined) {
      t.equal(named.allowed, true, 'by name: Tekton runs it, so it is not denied')
      t.equal(named.patched, byName, 'and not expanded: left as written')
      t.match(named.warnings, [left])
    } else {
      t.equal(named.allowed, false, 'with --require-resolution local, a step by name that is not expanded at admission denies')
      t.match(named.message, /spec\.taskSpec\.steps\[0\]\.ref: StepAction is invalid: spec\.imagePullPolicy: unknown field/)
    }
    // Tekton's cluster resolver reads it through the same types, then dry-run creates what is left: an unknown field alone passes.
    const resolved = await c.mutate(viaResolver)
    t.equal(
      resolved.allowed,
      true,
      `through resolver: cluster, left for Tekton${require === undefined ? '' : ' (--require-resolution local is about references by name)'}`,
    )
    t.equal(resolved.patched, viaResolver)
    t.match(resolved.warnings, [left])
    // A Pod has no Tekton to leave it to.
    const podAnswer = await c.mutate(pod)
    t.equal(podAnswer.allowed, false, 'a Pod naming it is denied')
    t.match(podAnswer.message, /StepAction is invalid: spec\.imagePullPolicy: unknown field/)
  }
})

t.test('a TaskRun naming a Task whose steps use step references is written out and expanded', async (t) => {
  const c = await startCluster(t)
  c.kube.create(stepActionOf('echo', 'team-a', 'alpine:1'))
  c.kube.create({
    apiVersion: 'tekton.dev/v1',
    kind: 'Task',
    metadata: { name: 'greet', namespace: 'team-a', labels: { owner: 'platform' } },
    spec: { steps: [{ name: 'hello', ref: { name: 'echo' }, params: [{ name: 'msg', value: 'hello' }] }] },
  })
  const run: KubeObject = { apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { name: 'r', namespace: 'team-a' }, spec: { taskRef: { name: 'greet' } } }
  await until('the Task is written out', async () => (await c.mutate(run)).patched !== run)
  const a = await c.mutate(run)
  t.equal(a.allowed, true)
  t.same(a.patched.metadata?.labels, { owner: 'platform', 'tekton.dev/task': 'greet' })
  t.same((a.patched.spec as { taskSpec: { steps: unknown[] } }).taskSpec.steps, [
    { name: 'hello', image: 'alpine:1', env: [{ name: 'MSG', value: 'hello' }], command: ['echo'] },
  ])
  const missing = await c.mutate({ ...run, spec: { taskRef: { name: 'nope' } } })
  t.equal(missing.allowed, true)
  t.match(missing.warnings, [/tasks\.tekton\.dev "nope" not found in namespace "team-a"; left for Tekton to resolve/])
})
