// The webhook configurations' CEL matchConditions, evaluated as the API
// server evaluates them: `object` and `oldObject` untyped (dyn), `request`
// typed like the API server's AdmissionRequest, every expression type-checked
// first (the API server refuses a configuration whose expressions do not
// compile). Around them, the rest of the API server's choice of webhook:
// rules (with matchPolicy Equivalent), the namespaceSelector, then the
// conditions, where false skips the call and an error, with failurePolicy
// Fail, refuses the object.
//
// The evaluator is @marcbachmann/cel-js, not the API server's cel-go. Where
// they differ, cel-js is the more lenient: has() on a value that is not a map
// is false there, an error in cel-go. The expressions check a value's type
// before has() on it, so the difference does not matter to them.
//
// Against the code: every case is also sent to the real server, and whatever
// the server changes or denies must reach it (the conditions may let through
// more than needs it, never less); the TaskRun condition is compared with the
// code's own inlinableTaskRef on arbitrary taskRefs.

import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Environment } from '@marcbachmann/cel-js'
import fc from 'fast-check'
import t from 'tap'
import { parse } from 'yaml'
import type { ResolvedTask, TaskReference, TaskResolution } from '../src/definitions/reference.ts'
import { stepsAnnotation } from '../src/pods/annotation.ts'
import type { Catalog } from '../src/resolution/catalog.ts'
import { LayeredCatalog } from '../src/resolution/layered.ts'
import { inlinableTaskRef } from '../src/runs/inline.ts'
import type { KubeObject } from '../src/types/k8s.ts'
import { deployDir, find, parseManifests, type WebhookView, webhooksOf } from './helpers/deploy.ts'
import { loadExampleCatalog, reviewOf, root, startTestServer } from './helpers/server.ts'

const configurations = parseManifests(await readFile(join(deployDir, 'base/webhooks.yaml'), 'utf8'), 'webhooks.yaml')
const mutating = find(configurations, 'MutatingWebhookConfiguration')
const validating = find(configurations, 'ValidatingWebhookConfiguration')
const webhooks: WebhookView[] = [...webhooksOf(mutating), ...webhooksOf(validating)]
const ownNamespace = webhooks[0]?.clientConfig.service.namespace ?? ''

const groupVersionKind = { group: 'string', version: 'string', kind: 'string' }
const groupVersionResource = { group: 'string', version: 'string', resource: 'string' }

/** The variables the API server declares for matchConditions (k8s.io/apiserver's admission CEL environment). */
const env = new Environment({ unlistedVariablesAreDyn: false })
  .registerVariable('object', 'dyn')
  .registerVariable('oldObject', 'dyn')
  .registerVariable({
    name: 'request',
    schema: {
      kind: groupVersionKind,
      resource: groupVersionResource,
      subResource: 'string',
      requestKind: groupVersionKind,
      requestResource: groupVersionResource,
      requestSubResource: 'string',
      name: 'string',
      namespace: 'string',
      operation: 'string',
      userInfo: { username: 'string', uid: 'string', groups: 'list<string>', extra: 'map<string, list<string>>' },
      dryRun: 'bool',
      options: 'dyn',
    },
  })

interface Request {
  kind: { group: string; version: string; kind: string }
  resource: { group: string; version: string; resource: string }
  namespace: string
  operation: string
  object: KubeObject | null
  oldObject: KubeObject | null
  [field: string]: unknown
}

type Decision = { call: true; request: Request } | { call: false; why: string }

/** Whether the API server calls `webhook` for `request`, with the request it would send; throws where it would refuse the object for a CEL error. */
function decide(webhook: WebhookView, original: Request): Decision {
  let request = original
  const rule = webhook.rules.find(
    (r) =>
      (r.operations.includes(request.operation) || r.operations.includes('*')) &&
      r.apiGroups.includes(request.resource.group) &&
      r.resources.includes(request.resource.resource),
  )
  if (rule === undefined) return { call: false, why: 'no rule matches' }
  if (!rule.apiVersions.includes(request.resource.version)) {
    // matchPolicy Equivalent: the object is converted to a version the rule names, and sent as that.
    if (webhook.matchPolicy !== 'Equivalent') return { call: false, why: 'another version' }
    const version = rule.apiVersions[0] ?? ''
    const group = request.kind.group
    const convert = (o: KubeObject | null): KubeObject | null => (o === null ? null : { ...o, apiVersion: `${group}/${version}` })
    request = {
      ...request,
      kind: { ...request.kind, version },
      resource: { ...request.resource, version },
      object: convert(request.object),
      oldObject: convert(request.oldObject),
    }
  }
  const labels: Record<string, string> = { 'kubernetes.io/metadata.name': request.namespace }
  for (const e of webhook.namespaceSelector?.matchExpressions ?? []) {
    const value = labels[e.key]
    const ok =
      e.operator === 'In'
        ? value !== undefined && e.values.includes(value)
        : e.operator === 'NotIn'
          ? value === undefined || !e.values.includes(value)
          : e.operator === 'Exists'
            ? value !== undefined
            : value === undefined
    if (!ok) return { call: false, why: `namespace ${request.namespace} is not selected` }
  }
  const { object, oldObject, ...rest } = request
  const errors: string[] = []
  for (const c of webhook.matchConditions ?? []) {
    let result: unknown
    try {
      result = env.evaluate(c.expression, { object, oldObject, request: rest })
    } catch (err) {
      errors.push(`${c.name}: ${(err as Error).message}`)
      continue
    }
    if (result === false) return { call: false, why: `matchCondition ${c.name} is false` }
    if (result !== true) errors.push(`${c.name} gave ${String(result)}, not a bool`)
  }
  if (errors.length > 0)
    throw new Error(`${webhook.name}: the API server would refuse the object (failurePolicy ${webhook.failurePolicy}): ${errors.join('; ')}`)
  return { call: true, request }
}

function annotated(object: KubeObject, provenance: string): KubeObject {
  return { ...object, metadata: { ...object.metadata, annotations: { ...object.metadata?.annotations, 'stepsplice.dev/resolved': provenance } } }
}

function pipelineRunOf(): KubeObject {
  return { apiVersion: 'tekton.dev/v1', kind: 'PipelineRun', metadata: { name: 'pr', namespace: 'team-a' }, spec: { pipelineRef: { name: 'p' } } }
}

/** An UPDATE review whose stored object is `old`. */
function withOld(review: Record<string, unknown>, old: KubeObject): Record<string, unknown> {
  return { ...review, request: { ...(review.request as object), oldObject: old } }
}

/** The webhooks the API server calls for this review, by name. */
function reached(review: Record<string, unknown>): string[] {
  const request = review.request as Request
  return webhooks.filter((w) => decide(w, request).call).map((w) => w.name)
}

const yamlFile = async (path: string): Promise<KubeObject> => parse(await readFile(join(root, path), 'utf8')) as KubeObject
const jsonFile = async (path: string): Promise<Record<string, unknown>> => JSON.parse(await readFile(join(root, path), 'utf8')) as Record<string, unknown>

const taskRun = (spec: Record<string, unknown>, extra: Partial<KubeObject> = {}): KubeObject => ({
  apiVersion: 'tekton.dev/v1',
  kind: 'TaskRun',
  metadata: { generateName: 'run-', namespace: 'default' },
  spec,
  ...extra,
})
const pipelineRun = (spec: Record<string, unknown>): KubeObject => ({
  apiVersion: 'tekton.dev/v1',
  kind: 'PipelineRun',
  metadata: { generateName: 'p-', namespace: 'default' },
  spec,
})
const pod = (annotations?: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'default', ...(annotations ? { annotations } : {}) },
  spec: { containers: [{ name: 'c', image: 'busybox' }] },
})
/** A Pod with an init container: what an UPDATE may change of it are the images. */
const podWith = (annotations: Record<string, string>, image = 'busybox', initImage = 'git:1'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'default', annotations },
  spec: { initContainers: [{ name: 'i', image: initImage }], containers: [{ name: 'c', image }] },
})
const refStep = { name: 'build', ref: { name: 'go-build' }, params: [{ name: 'packages', value: './...' }] }
const inlineStep = { name: 'plain', image: 'busybox', script: 'true' }
const stepAction = (apiVersion = 'tekton.dev/v1beta1'): KubeObject => ({
  apiVersion,
  kind: 'StepAction',
  metadata: { name: 'hello', namespace: 'default' },
  spec: { image: 'busybox', script: 'echo hello' },
})
const taskGroup = (): KubeObject => ({
  apiVersion: 'custom.tekton.dev/v1alpha1',
  kind: 'TaskGroup',
  metadata: { name: 'ci', namespace: 'default' },
  spec: { steps: [{ name: 'get', uses: { taskRef: { name: 'git-clone' } } }] },
})

interface Case {
  name: string
  review: Record<string, unknown>
  /** The webhooks that must be called, in order; [] for none. */
  reaches: string[]
}

const cases: Case[] = [
  // Must reach.
  {
    name: 'the example TaskRun review (step refs in its taskSpec)',
    review: await jsonFile('examples/admission/taskrun-review.json'),
    reaches: ['steps.stepsplice.dev'],
  },
  { name: 'examples/taskruns/build.yaml', review: reviewOf(await yamlFile('examples/taskruns/build.yaml')), reaches: ['steps.stepsplice.dev'] },
  {
    name: 'a v1beta1 TaskRun with a step ref',
    review: reviewOf(taskRun({ taskSpec: { steps: [refStep] } }, { apiVersion: 'tekton.dev/v1beta1' })),
    reaches: ['steps.stepsplice.dev'],
  },
  {
    name: 'examples/taskruns/image-pipeline.yaml',
    review: reviewOf(await yamlFile('examples/taskruns/image-pipeline.yaml')),
    reaches: ['steps.stepsplice.dev'],
  },
  {
    name: 'a PipelineRun with a step ref only in a finally task',
    review: reviewOf(
      pipelineRun({ pipelineSpec: { tasks: [{ name: 'a', taskSpec: { steps: [inlineStep] } }], finally: [{ name: 'f', taskSpec: { steps: [refStep] } }] } }),
    ),
    reaches: ['steps.stepsplice.dev'],
  },
  { name: 'a TaskRun with a taskRef by name', review: reviewOf(taskRun({ taskRef: { name: 'build-task' } })), reaches: ['taskrefs.stepsplice.dev'] },
  {
    name: 'a TaskRun with a taskRef of kind Task and apiVersion tekton.dev/v1',
    review: reviewOf(taskRun({ taskRef: { name: 'build-task', kind: 'Task', apiVersion: 'tekton.dev/v1' } })),
    reaches: ['taskrefs.stepsplice.dev'],
  },
  {
    name: 'a v1beta1 TaskRun with a taskRef, converted to v1 (matchPolicy Equivalent)',
    review: reviewOf(taskRun({ taskRef: { name: 'build-task' } }, { apiVersion: 'tekton.dev/v1beta1' })),
    reaches: ['taskrefs.stepsplice.dev'],
  },
  { name: 'the example Pod review (steps annotation)', review: await jsonFile('examples/admission/pod-review.json'), reaches: ['pods.stepsplice.dev'] },
  { name: 'examples/pods/pod.yaml', review: reviewOf(await yamlFile('examples/pods/pod.yaml')), reaches: ['pods.stepsplice.dev'] },
  {
    name: 'a TaskRun that references a TaskGroup',
    review: reviewOf(taskRun({ taskRef: { apiVersion: 'custom.tekton.dev/v1alpha1', kind: 'TaskGroup', name: 'clone-and-build' } })),
    reaches: ['steps.stepsplice.dev'],
  },
  {
    name: 'a PipelineRun whose finally task has a taskRef to a TaskGroup the catalog lacks (left for Tekton)',
    review: reviewOf(
      pipelineRun({ pipelineSpec: { finally: [{ name: 'f', taskRef: { apiVersion: 'custom.tekton.dev/v1alpha1', kind: 'TaskGroup', name: 'g' } }] } }),
    ),
    reaches: ['steps.stepsplice.dev'],
  },
  {
    name: 'a TaskRun with uses written inline',
    review: reviewOf(taskRun({ taskSpec: { steps: [{ name: 'get', uses: { taskRef: { name: 'git-clone' } } }] } })),
    reaches: ['steps.stepsplice.dev'],
  },
  {
    name: 'a PipelineRun task with uses written inline',
    review: reviewOf(
      pipelineRun({ pipelineSpec: { tasks: [{ name: 'a', taskSpec: { steps: [{ name: 'get', uses: { taskRef: { name: 'git-clone' } } }] } }] } }),
    ),
    reaches: ['steps.stepsplice.dev'],
  },
  { name: 'a TaskGroup created', review: reviewOf(taskGroup()), reaches: ['taskgroups.stepsplice.dev'] },
  { name: 'a StepAction created (v1beta1)', review: reviewOf(stepAction()), reaches: ['stepactions.stepsplice.dev'] },
  { name: 'a StepAction created (v1alpha1)', review: reviewOf(stepAction('tekton.dev/v1alpha1')), reaches: ['stepactions.stepsplice.dev'] },
  { name: 'a StepAction updated', review: reviewOf(stepAction(), { operation: 'UPDATE' }), reaches: ['stepactions.stepsplice.dev'] },

  // Must not reach.
  { name: 'a TaskRun with only inline steps', review: reviewOf(taskRun({ taskSpec: { steps: [inlineStep] } })), reaches: [] },
  {
    name: 'a PipelineRun with only inline steps',
    review: reviewOf(pipelineRun({ pipelineSpec: { tasks: [{ name: 'a', taskSpec: { steps: [inlineStep] } }] } })),
    reaches: [],
  },
  { name: 'a PipelineRun with a pipelineRef only', review: reviewOf(pipelineRun({ pipelineRef: { name: 'release' } })), reaches: [] },
  {
    name: 'a PipelineRun whose tasks have taskRefs',
    review: reviewOf(pipelineRun({ pipelineSpec: { tasks: [{ name: 'a', taskRef: { name: 'build-task' } }] } })),
    reaches: [],
  },
  {
    name: 'a TaskRun with a resolver taskRef',
    review: reviewOf(taskRun({ taskRef: { resolver: 'git', params: [{ name: 'url', value: 'https://example.com/x.git' }] } })),
    reaches: [],
  },
  {
    name: 'a TaskRun with a cluster resolver taskRef that also has a name',
    review: reviewOf(taskRun({ taskRef: { name: 'x', resolver: 'cluster', params: [{ name: 'kind', value: 'task' }] } })),
    reaches: [],
  },
  { name: 'a TaskRun with a ClusterTask ref', review: reviewOf(taskRun({ taskRef: { name: 'build', kind: 'ClusterTask' } })), reaches: [] },
  {
    name: 'a TaskRun with a custom task ref',
    review: reviewOf(taskRun({ taskRef: { name: 'wait', kind: 'Wait', apiVersion: 'custom.example.dev/v1' } })),
    reaches: [],
  },
  { name: 'a TaskRun with an empty taskRef name', review: reviewOf(taskRun({ taskRef: { name: '' } })), reaches: [] },
  { name: 'a Pod without annotations', review: reviewOf(pod()), reaches: [] },
  { name: 'a Pod with other annotations', review: reviewOf(pod({ 'example.com/owner': 'team-a', 'stepsplice.dev/placement': 'first' })), reaches: [] },
  {
    name: 'a TaskRun with a step ref in kube-system',
    review: reviewOf(taskRun({ taskSpec: { steps: [refStep] } }), { namespace: 'kube-system' }),
    reaches: [],
  },
  { name: `a Pod asking for steps in ${ownNamespace}`, review: reviewOf(pod({ [stepsAnnotation]: '[]' }), { namespace: ownNamespace }), reaches: [] },
  { name: 'a TaskRun with a step ref, updated', review: reviewOf(taskRun({ taskSpec: { steps: [refStep] } }), { operation: 'UPDATE' }), reaches: [] },
  // A Pod's UPDATE reaches the webhook when it changes an image: step policies judge it (a server without policies admits it).
  {
    name: 'a Pod asking for steps, updated to change an image (Pod UPDATE)',
    review: withOld(reviewOf(podWith({ [stepsAnnotation]: '[]' }, 'busybox:2'), { operation: 'UPDATE' }), podWith({ [stepsAnnotation]: '[]' })),
    reaches: ['pods.stepsplice.dev'],
  },
  {
    name: 'a Pod asking for steps, updated to change an init container’s image (Pod UPDATE)',
    review: withOld(
      reviewOf(podWith({ [stepsAnnotation]: '[]' }, 'busybox', 'git:2'), { operation: 'UPDATE' }),
      podWith({ [stepsAnnotation]: '[]' }, 'busybox', 'git:1'),
    ),
    reaches: ['pods.stepsplice.dev'],
  },
  {
    name: 'a Pod asking for steps, updated without changing an image',
    review: withOld(reviewOf(podWith({ [stepsAnnotation]: '[]', note: 'x' }), { operation: 'UPDATE' }), podWith({ [stepsAnnotation]: '[]' })),
    reaches: [],
  },
  {
    name: 'a Pod updated to drop its steps annotation and change an image (Pod UPDATE)',
    review: withOld(reviewOf(podWith({}, 'busybox', 'git:2'), { operation: 'UPDATE' }), podWith({ [stepsAnnotation]: '[]' })),
    reaches: ['pods.stepsplice.dev'],
  },
  {
    name: 'a Pod whose annotation an earlier update dropped, updated to change a spliced step’s image (Pod UPDATE)',
    review: withOld(
      reviewOf(
        { ...podWith({}), spec: { initContainers: [{ name: 'step-build', image: 'evil:1' }], containers: [{ name: 'c', image: 'busybox' }] } },
        {
          operation: 'UPDATE',
        },
      ),
      { ...podWith({}), spec: { initContainers: [{ name: 'step-build', image: 'go:1' }], containers: [{ name: 'c', image: 'busybox' }] } },
    ),
    reaches: ['pods.stepsplice.dev'],
  },
  {
    name: 'a Pod that does not ask for steps, updated to change an image',
    review: withOld(reviewOf(podWith({}, 'busybox:2'), { operation: 'UPDATE' }), podWith({})),
    reaches: [],
  },
  {
    name: 'a TaskRun updated to change its provenance annotation',
    review: withOld(
      reviewOf(annotated(taskRun({ taskSpec: { steps: [{ name: 's', image: 'alpine' }] } }), '[{"forged":true}]'), { operation: 'UPDATE' }),
      annotated(taskRun({ taskSpec: { steps: [{ name: 's', image: 'alpine' }] } }), '[]'),
    ),
    reaches: ['runs.stepsplice.dev'],
  },
  {
    name: 'a PipelineRun updated to add a provenance annotation it had none of',
    review: withOld(reviewOf(annotated(pipelineRunOf(), '[]'), { operation: 'UPDATE' }), pipelineRunOf()),
    reaches: ['runs.stepsplice.dev'],
  },
  { name: 'a TaskRun deleted', review: reviewOf(null, { operation: 'DELETE', kind: { group: 'tekton.dev', version: 'v1', kind: 'TaskRun' } }), reaches: [] },
  {
    name: 'a StepAction deleted',
    review: reviewOf(null, { operation: 'DELETE', kind: { group: 'tekton.dev', version: 'v1beta1', kind: 'StepAction' } }),
    reaches: [],
  },

  // Malformed objects: the conditions say no, without an evaluation error (which would refuse the object here, before Tekton's own validation could say what is wrong).
  {
    name: 'a TaskRun without a spec',
    review: reviewOf({ apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { name: 'x', namespace: 'default' } }),
    reaches: [],
  },
  { name: 'a TaskRun whose spec is a string', review: reviewOf(taskRun('nope' as unknown as Record<string, unknown>)), reaches: [] },
  { name: 'a TaskRun whose steps are a string', review: reviewOf(taskRun({ taskSpec: { steps: 'nope' } })), reaches: [] },
  { name: 'a TaskRun whose steps hold a string', review: reviewOf(taskRun({ taskSpec: { steps: ['nope'] } })), reaches: [] },
  { name: 'a TaskRun whose taskSpec is null', review: reviewOf(taskRun({ taskSpec: null })), reaches: [] },
  { name: 'a TaskRun whose taskRef is a string', review: reviewOf(taskRun({ taskRef: 'build-task' })), reaches: [] },
  { name: 'a TaskRun whose taskRef kind is a number', review: reviewOf(taskRun({ taskRef: { name: 'g', kind: 3 } })), reaches: [] },
  { name: 'a TaskRun whose taskRef name is a number', review: reviewOf(taskRun({ taskRef: { name: 7 } })), reaches: [] },
  // Go reads null and "" as a field left out: a Task by name, which Tekton runs.
  {
    name: 'a TaskRun whose taskRef apiVersion is null',
    review: reviewOf(taskRun({ taskRef: { name: 'build-task', apiVersion: null } })),
    reaches: ['taskrefs.stepsplice.dev'],
  },
  {
    name: 'a TaskRun whose taskRef resolver and kind are empty',
    review: reviewOf(taskRun({ taskRef: { name: 'build-task', resolver: '', kind: '' } })),
    reaches: ['taskrefs.stepsplice.dev'],
  },
  // params without a resolver: Tekton refuses the TaskRun, so it is not written out for it.
  { name: 'a TaskRun whose taskRef by name has params', review: reviewOf(taskRun({ taskRef: { name: 'build-task', params: [] } })), reaches: [] },
  {
    name: 'a PipelineRun whose tasks are a map',
    review: reviewOf(pipelineRun({ pipelineSpec: { tasks: { a: { taskSpec: { steps: [refStep] } } } } })),
    reaches: [],
  },
  {
    name: 'a PipelineRun whose task has a taskSpec of null',
    review: reviewOf(pipelineRun({ pipelineSpec: { finally: [{ name: 'f', taskSpec: null }] } })),
    reaches: [],
  },
]

t.test('every expression compiles against the variables the API server declares', async (t) => {
  const conditions = webhooks.flatMap((w) => (w.matchConditions ?? []).map((c) => ({ webhook: w.name, ...c })))
  t.ok(conditions.length >= 3)
  for (const c of conditions) {
    const checked = env.check(c.expression)
    t.ok(checked.valid, `${c.webhook} ${c.name}: ${checked.error?.message ?? ''}`)
    t.equal(checked.type, 'bool', `${c.webhook} ${c.name} is a bool`)
  }
  // The typed request catches what the API server's compiler catches: a misspelt field, a wrong type.
  t.notOk(env.check("request.kind.knd == 'TaskRun'").valid)
  t.notOk(env.check("request.dryRun == 'yes'").valid)
  t.notOk(env.check('obj.spec == null').valid, 'no variable besides the API server’s')
})

t.test('the Pod condition names the annotation the code reads', async (t) => {
  const pods = webhooks.find((w) => w.name === 'pods.stepsplice.dev')
  t.match(pods?.matchConditions?.[0]?.expression, `'${stepsAnnotation}' in object.metadata.annotations`)
})

for (const c of cases) {
  t.test(`${c.name}: ${c.reaches.length === 0 ? 'reaches no webhook' : c.reaches.join(', ')}`, async (t) => {
    t.same(reached(c.review), c.reaches)
  })
}

/** A Task in the cluster whose steps reference the examples' StepActions, and one whose steps do not. */
const tasks: ResolvedTask[] = [
  {
    namespace: 'default',
    name: 'build-task',
    labels: {},
    annotations: {},
    spec: { steps: [{ name: 'build', ref: { name: 'go-build' }, params: [{ name: 'packages', value: './...' }] }] },
    location: '/apis/tekton.dev/v1/namespaces/default/tasks/build-task',
  },
]

async function catalogWithTasks(): Promise<Catalog> {
  const examples = await loadExampleCatalog()
  const holder: Catalog = {
    get size() {
      return examples.size
    },
    resolve: (ref) => examples.resolve(ref),
    async resolveTask(ref: TaskReference): Promise<TaskResolution> {
      const task = tasks.find((x) => x.namespace === ref.namespace && x.name === ref.name)
      return task === undefined ? { error: `tasks.tekton.dev "${ref.name}" not found`, missing: true } : { task }
    },
  }
  return new LayeredCatalog([{ catalog: holder, origin: 'the cluster' }])
}

t.test('whatever the server changes or refuses reaches it', async (t) => {
  const server = await startTestServer(t, { catalog: await catalogWithTasks() })
  for (const c of cases) {
    const request = c.review.request as Request
    if (request.object === null) continue
    // Cases kept away by rules or the namespaceSelector (kube-system, UPDATE) are a choice of scope, not of need.
    const path = request.kind.kind === 'StepAction' || (request.operation === 'UPDATE' && request.kind.group === 'tekton.dev') ? '/validate' : '/mutate'
    const decisions = webhooks.filter((w) => w.clientConfig.service.path === path).map((w) => decide(w, request))
    if (!decisions.some((d) => d.call || d.why.startsWith('matchCondition'))) continue
    // What the server would answer if it were called: the request as the API server sends it (converted, where Equivalent converts it).
    const converted = decisions.find((d) => d.call)
    const sent = converted?.call ? converted.request : request
    const reply = await server.review(path, { ...c.review, request: { ...(c.review.request as object), ...sent } })
    const acts = !reply.body.response.allowed || reply.body.response.patch !== undefined
    if (acts) t.not(c.reaches.length, 0, `${c.name}: the server ${reply.body.response.allowed ? 'patches' : 'denies'} it, so it must reach the server`)
    else if (path === '/mutate' && c.reaches.length > 0 && !c.name.includes('taskRef') && !c.name.includes('Pod UPDATE'))
      t.fail(`${c.name}: reaches the webhook, which leaves it unchanged`)
  }
})

t.test('the TaskRun taskRef condition agrees with the code on arbitrary taskRefs', async (t) => {
  const taskRefs = webhooks.find((w) => w.name === 'taskrefs.stepsplice.dev')
  if (taskRefs === undefined) return t.fail('no taskrefs webhook')
  const text = fc.oneof(
    fc.constantFrom('', 'build', 'Task', 'ClusterTask', 'tekton.dev/v1', 'tekton.dev/v1beta1', 'example.dev/v1', 'git'),
    fc.string({ maxLength: 4 }),
  )
  const value = fc.oneof(text, fc.constant(null), fc.integer(), fc.constant({}), fc.constant(['x']))
  const params = fc.constantFrom([], null, [{ name: 'url', value: 'x' }])
  const taskRef = fc.record({ name: value, kind: value, apiVersion: value, resolver: value, params }, { requiredKeys: [] })
  const spec = fc.record({ taskRef: fc.oneof(taskRef, value), taskSpec: fc.constantFrom({ steps: [inlineStep] }, null) }, { requiredKeys: [] })
  fc.assert(
    fc.property(spec, (s) => {
      const object = taskRun(s as Record<string, unknown>)
      const decision = decide(taskRefs, reviewOf(object).request as Request)
      return decision.call === (inlinableTaskRef(object) !== undefined)
    }),
    { numRuns: 1000 },
  )
  t.pass('2000 taskRefs agree')
})

t.test("a Pod's UPDATE reaches the webhook exactly when it changes an image, whatever its containers hold", async (t) => {
  const podHook = webhooks.find((w) => w.name === 'pods.stepsplice.dev')
  if (podHook === undefined) return t.fail('no pods webhook')
  // Absent (not required below), a string, or not a string.
  const image = fc.oneof(fc.constantFrom('a', 'b', ''), fc.constant(3))
  const container = fc.oneof(fc.record({ name: fc.constantFrom('x', 'y'), image }, { requiredKeys: ['name'] }), fc.constant('nope'))
  const list = fc.option(fc.array(container, { maxLength: 3 }), { nil: undefined })
  const podOf = (containers: unknown, initContainers: unknown): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', annotations: { [stepsAnnotation]: '[]' } },
    spec: { ...(containers === undefined ? {} : { containers }), ...(initContainers === undefined ? {} : { initContainers }) },
  })
  // What the condition stands for: the images of each list, in order, an entry without a string image as ''.
  const imagesOf = (l: unknown): unknown[] => (Array.isArray(l) ? l.map((c) => (typeof c === 'object' && c !== null && 'image' in c ? c.image : '')) : [])
  const differ = (a: unknown, b: unknown): boolean => JSON.stringify(imagesOf(a)) !== JSON.stringify(imagesOf(b))
  fc.assert(
    fc.property(list, list, list, list, (c, i, oldC, oldI) => {
      const review = withOld(reviewOf(podOf(c, i), { operation: 'UPDATE' }), podOf(oldC, oldI))
      return decide(podHook, review.request as Request).call === (differ(c, oldC) || differ(i, oldI))
    }),
    { numRuns: 500 },
  )
  t.pass('500 updates agree')
})

t.test('the Pod condition agrees with the annotation on arbitrary annotations', async (t) => {
  const podHook = webhooks.find((w) => w.name === 'pods.stepsplice.dev')
  if (podHook === undefined) return t.fail('no pods webhook')
  const key = fc.oneof(fc.constantFrom(stepsAnnotation, 'stepsplice.dev/placement', 'stepsplice.dev/Steps', 'example.com/x'), fc.string({ maxLength: 6 }))
  fc.assert(
    fc.property(fc.option(fc.dictionary(key, fc.string({ maxLength: 3 })), { nil: undefined }), (annotations) => {
      const decision = decide(podHook, reviewOf(pod(annotations)).request as Request)
      return decision.call === (annotations !== undefined && Object.hasOwn(annotations, stepsAnnotation))
    }),
    { numRuns: 500 },
  )
  t.pass('1000 annotation sets agree')
})
