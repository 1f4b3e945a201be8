// Pods through the real HTTPS webhook (certs minted by certs/mint.sh): a Pod
// admitted gets the containers `render` gives the Job template it came from,
// is left alone when admitted again, and is only ever mutated at CREATE.

import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { parseDocuments } from '../src/json/documents.ts'
import { stepsAnnotation } from '../src/pods/annotation.ts'
import type { KubeObject, PodSpec } from '../src/types/k8s.ts'
import {
  applyEncodedPatch,
  decodePatch,
  exampleCatalogDir,
  loadExampleCatalog,
  renderObject,
  reviewOf,
  root,
  SlowCatalog,
  startTestServer,
  type TapTest,
  type TestServer,
  until,
} from './helpers/server.ts'

const exampleJob = parseDocuments(await readFile(join(root, 'examples/pods/build-job.yaml'), 'utf8'), 'build-job.yaml').documents[0] as KubeObject

interface Template {
  metadata: { annotations: Record<string, string> }
  spec: PodSpec
}

const templateOf = (job: KubeObject): Template => (job.spec as { template: Template }).template

/** The Pod the Job controller creates from `template`. */
function podFrom(template: Template): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...structuredClone(template.metadata), generateName: 'build-app-', namespace: 'default' },
    spec: structuredClone(template.spec),
  }
}

const podKind = { group: '', version: 'v1', kind: 'Pod' }
const podResource = { group: '', version: 'v1', resource: 'pods' }

let server: TestServer
t.before(async () => {
  server = await startTestServer(t)
})

async function admit(t: TapTest, pod: KubeObject, operation = 'CREATE') {
  const reply = await server.review('/mutate', reviewOf(pod, { kind: podKind, resource: podResource, operation }))
  t.equal(reply.status, 200, 'HTTP 200')
  return reply.body.response
}

/** The outcome the server logged for the admission with `uid`. */
function outcomeOf(uid: string): unknown {
  return server.logs.admissionLines().find((l) => l.uid === uid)?.outcome
}

t.test('a Job template rendered and the same Pod admitted give the same containers', async (t) => {
  const rendered = await renderObject(t, exampleJob)
  t.equal(rendered.code, 0, rendered.err)
  const renderedTemplate = templateOf(JSON.parse(rendered.out) as KubeObject)

  const pod = podFrom(templateOf(exampleJob))
  const sent = structuredClone(pod)
  const response = await admit(t, pod)
  t.equal(response.allowed, true)
  t.equal(response.patchType, 'JSONPatch')
  t.ok(response.patch, 'a patch')
  t.equal(outcomeOf(response.uid), 'patched')
  const ops = decodePatch(response.patch ?? '')
  t.ok(
    ops.every((op) => op.path.startsWith('/spec/') || op.path.startsWith('/metadata/annotations')),
    'the patch touches spec and annotations only',
  )

  const patched = applyEncodedPatch(pod, response.patch ?? '') as KubeObject
  t.same(pod, sent, 'applied to a copy')
  const spec = patched.spec as PodSpec
  t.same(spec.initContainers, renderedTemplate.spec.initContainers, 'init containers')
  t.same(spec.containers, renderedTemplate.spec.containers, 'containers')
  t.same(spec.volumes, renderedTemplate.spec.volumes, 'volumes')
  t.same(
    spec.initContainers?.map((c) => c.name),
    ['stepsplice-prepare', 'step-clone', 'step-build'],
  )
  t.equal(patched.metadata?.annotations?.['stepsplice.dev/resolved'], renderedTemplate.metadata.annotations['stepsplice.dev/resolved'], 'the same provenance')

  // Reinvocation: the patched Pod comes back through the webhook.
  const again = await admit(t, patched)
  t.equal(again.allowed, true)
  t.notOk(again.patch, 'no patch for a Pod already spliced')
  t.equal(outcomeOf(again.uid), 'unchanged')
})

t.test('a Pod created from the rendered Job template is admitted without a patch', async (t) => {
  const rendered = await renderObject(t, exampleJob)
  t.equal(rendered.code, 0, rendered.err)
  const response = await admit(t, podFrom(templateOf(JSON.parse(rendered.out) as KubeObject)))
  t.equal(response.allowed, true, response.status?.message ?? '')
  t.notOk(response.patch)
  t.notOk(response.status)
})

t.test('a Pod UPDATE is skipped: Pods are only spliced at CREATE', async (t) => {
  const response = await admit(t, podFrom(templateOf(exampleJob)), 'UPDATE')
  t.equal(response.allowed, true)
  t.notOk(response.patch)
  t.notOk(response.patchType)
  t.equal(outcomeOf(response.uid), 'skipped')
})

t.test('a Pod without the steps annotation gets no patch', async (t) => {
  const plain: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'plain', namespace: 'default', annotations: { 'stepsplice.dev/placement': 'first' } },
    spec: { containers: [{ name: 'c', image: 'busybox:1.37', command: ['echo', '$(steps.clone.results.commit.path)'] }] },
  }
  const response = await admit(t, plain)
  t.equal(response.allowed, true)
  t.notOk(response.patch)
  t.notOk(response.warnings)
  t.equal(outcomeOf(response.uid), 'unchanged')
})

t.test('a workload sent to /mutate is not touched: the webhook mutates Pods', async (t) => {
  const reply = await server.review(
    '/mutate',
    reviewOf(exampleJob, { kind: { group: 'batch', version: 'v1', kind: 'Job' }, resource: { group: 'batch', version: 'v1', resource: 'jobs' } }),
  )
  t.equal(reply.body.response.allowed, true)
  t.notOk(reply.body.response.patch)
  t.equal(outcomeOf(reply.body.response.uid), 'skipped')
})

t.test('a denied Pod: 422 with every problem, as render prints them', async (t) => {
  const bad: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'bad',
      namespace: 'default',
      annotations: {
        'stepsplice.dev/steps': `- name: clone
  ref: {name: git-clone}
- name: build
  ref: {name: go-build}
  params: [{name: colour, value: blue}]
- name: lint
  ref: {name: golangci-lint}
- name: report
  ref: {name: summarize}
  params: [{name: commit, value: "$(steps.clone.results.commit)"}]
`,
      },
    },
    spec: { initContainers: [{ name: 'step-clone', image: 'x' }], containers: [{ name: 'c', image: 'busybox:1.37' }] },
  }
  const response = await admit(t, bad)
  t.equal(response.allowed, false)
  t.notOk(response.patch)
  t.equal(response.status?.code, 422)
  t.equal(response.status?.reason, 'Invalid')
  const lines = (response.status?.message ?? '').split('\n')
  const at = 'Pod default/bad: metadata.annotations["stepsplice.dev/steps"]'
  const file = (name: string) => join(exampleCatalogDir, `${name}.yaml`)
  t.same(lines, [
    'Pod default/bad: spec.initContainers[0].name: container name "step-clone" is taken; stepsplice needs it for step "clone"',
    `${at}[0].params: non-existent params in Step: [url]; the StepAction requires url: pass it in params (step "clone", StepAction default/git-clone from ${file('git-clone')})`,
    `${at}[1].params: extra params passed by Step to StepAction: [colour]; the StepAction takes packages, flags, source-dir and cgo (step "build", StepAction default/go-build from ${file('go-build')})`,
    `${at}[2].ref: stepactions.tekton.dev "golangci-lint" not found in namespace "default" (step "lint")`,
    `${at}[3].params[0].value: $(steps.clone.results.commit) needs Tekton's entrypoint to read the value; read the file at $(steps.clone.results.commit.path) instead (step "report", StepAction default/summarize from ${file('summarize')})`,
  ])
  t.equal(outcomeOf(response.uid), 'denied')

  const rendered = await renderObject(t, bad)
  t.equal(rendered.code, 1)
  t.same(rendered.errors, lines, 'render prints the same lines')

  // With the steps fixed, the taken names are what is left: the step's, and the prepare container's.
  const fixed = structuredClone(bad)
  const annotations = fixed.metadata?.annotations ?? {}
  annotations['stepsplice.dev/steps'] = '- {name: clone, ref: {name: git-clone}, params: [{name: url, value: "https://example.com/r"}]}\n'
  ;(fixed.spec as PodSpec).containers = [{ name: 'stepsplice-prepare', image: 'busybox:1.37' }]
  const second = await admit(t, fixed)
  t.equal(second.status?.code, 422)
  t.same((second.status?.message ?? '').split('\n'), [
    'Pod default/bad: spec.initContainers[0].name: container name "step-clone" is taken; stepsplice needs it for step "clone"',
    'Pod default/bad: spec.containers[0].name: container name "stepsplice-prepare" is taken; stepsplice needs it for writing scripts',
  ])
})

t.test('a Pod annotation that does not parse is denied with every problem', async (t) => {
  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'x-',
      namespace: 'default',
      annotations: { 'stepsplice.dev/steps': '- {name: a, ref: {name: git-clone}, timeout: 1m}\n- {name: a, ref: {name: go-build}}\n' },
    },
    spec: { containers: [{ name: 'c', image: 'busybox:1.37' }] },
  }
  const response = await admit(t, pod)
  t.equal(response.status?.code, 422)
  t.same(
    (response.status?.message ?? '').split('\n'),
    [
      `Pod default/x-*: metadata.annotations["stepsplice.dev/steps"][0].timeout: timeout needs Tekton's entrypoint and cannot be used in a Pod (step "a")`,
      'Pod default/x-*: metadata.annotations["stepsplice.dev/steps"][1].name: duplicate step name "a" (step "a")',
    ],
    'the duplicate too, in the same round',
  )
})

t.test('the server uses its --prepare-image for the prepare container', async (t) => {
  const custom = await startTestServer(t, { prepareImage: `registry.example.com/tools/sh:1@sha256:${'a'.repeat(64)}` })
  const pod = podFrom(templateOf(exampleJob))
  const reply = await custom.review('/mutate', reviewOf(pod, { kind: podKind, resource: podResource, operation: 'CREATE' }))
  const patched = applyEncodedPatch(pod, reply.body.response.patch ?? '') as { spec: PodSpec }
  const prepare = patched.spec.initContainers?.find((c) => c.name === 'stepsplice-prepare')
  t.equal(prepare?.image, `registry.example.com/tools/sh:1@sha256:${'a'.repeat(64)}`)
})

t.test('a Pod that asks for nothing is answered while the worker is busy; one that asks for steps waits its turn', async (t) => {
  const slow = new SlowCatalog(await loadExampleCatalog(), 400)
  const busy = await startTestServer(t, { catalog: slow })
  const order: string[] = []
  const send = (label: string, object: KubeObject) =>
    busy.review('/mutate', reviewOf(object)).then((reply) => {
      order.push(label)
      return reply
    })
  const run: KubeObject = {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { name: 'r', namespace: 'default' },
    spec: { taskSpec: { steps: [{ name: 's', ref: { name: 'go-build' }, params: [{ name: 'packages', value: './...' }] }] } },
  }
  const pod = (annotations?: Record<string, string>): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', ...(annotations === undefined ? {} : { annotations }) },
    spec: { containers: [{ name: 'main', image: 'busybox' }] },
  })
  const slowRun = send('taskrun', run)
  // The worker is waiting on the catalog now.
  await until('the worker asked the catalog', () => slow.calls > 0)
  const plain = send('plain pod', pod())
  const asking = send('pod with steps', pod({ [stepsAnnotation]: JSON.stringify([{ name: 'b', ref: { name: 'go-build' } }]) }))
  const replies = await Promise.all([slowRun, plain, asking])
  t.same(order, ['plain pod', 'taskrun', 'pod with steps'])
  t.same(replies[1].body.response, { uid: replies[1].body.response.uid, allowed: true }, 'allowed, unchanged')
  t.equal(replies[2].body.response.allowed, true)
})
