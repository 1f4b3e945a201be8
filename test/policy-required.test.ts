// The requiredSteps rule through spliceObject, the path render and the
// webhook take: required steps injected First or Last into TaskRuns, every
// inline task of a PipelineRun and Pods, spliced like the object's own,
// never duplicated, idempotent on stepsplice's own output; a step shadowing
// a required one and runs that reference their Task denied (Enforce) or
// warned about (Audit); Audit never injects.

import t from 'tap'
import { spliceObject } from '../src/pipeline/splice.ts'
import { validatePolicyObject } from '../src/policy/load.ts'
import type { LoadedPolicy } from '../src/policy/types.ts'
import { formatProblem } from '../src/problems/problem.ts'
import type { Catalog } from '../src/resolution/catalog.ts'
import type { Expansion } from '../src/steps/expansion.ts'
import type { KubeObject } from '../src/types/k8s.ts'
import { catalogOf, pipelineRun, pipelineStepsOf, stepAction, stepsOf, taskRun, policiesOf } from './helpers/catalog.ts'
import { podWith, resolvedKey, stepsKey } from './helpers/pod.ts'

const scanner = stepAction('scanner', {
  image: 'registry.example.com/scanner:1',
  params: [{ name: 'level', default: 'high' }],
  command: ['scan'],
  args: ['--level', '$(params.level)'],
})
const preflight = stepAction('preflight', { image: 'registry.example.com/preflight:1', command: ['check'] })
const build = stepAction('build', { image: 'registry.example.com/build:1', command: ['make'] })
const catalog = catalogOf(scanner, preflight, build)

const enforce = policiesOf(`
apiVersion: stepsplice.dev/v1alpha1
kind: ClusterStepPolicy
metadata: {name: scan-last}
spec:
  requiredSteps:
    - name: scan
      ref: {name: scanner}
      params: [{name: level, value: critical}]
---
apiVersion: stepsplice.dev/v1alpha1
kind: StepPolicy
metadata: {name: preflight-first, namespace: default}
spec:
  requiredSteps:
    - name: preflight
      ref: {name: preflight}
      position: First
`)

const audit = policiesOf(`
apiVersion: stepsplice.dev/v1alpha1
kind: ClusterStepPolicy
metadata: {name: scan-audit}
spec:
  mode: Audit
  requiredSteps:
    - {name: scan, ref: {name: scanner}}
`)

const splice = (obj: KubeObject, ps: readonly LoadedPolicy[]): Promise<Expansion> => spliceObject(obj, 'default', { catalog, policies: ps })
const names = (steps: readonly Record<string, unknown>[]): unknown[] => steps.map((s) => s.name)
const messages = (e: Expansion): string[] => e.problems.map(formatProblem)
const provenance = (e: Expansion): { path: string; step: string; definition: string }[] => JSON.parse(e.object.metadata?.annotations?.[resolvedKey] ?? '[]')

t.test('a TaskRun gets the required steps First and Last, spliced', async (t) => {
  const run = taskRun({ steps: [{ name: 'build', ref: { name: 'build' } }] })
  const e = await splice(run, enforce)
  t.strictSame(messages(e), [])
  t.equal(e.changed, true)
  t.strictSame(names(stepsOf(e)), ['preflight', 'build', 'scan'])
  const scan = stepsOf(e)[2] ?? {}
  t.equal(scan.ref, undefined, 'spliced: no ref left')
  t.equal(scan.image, 'registry.example.com/scanner:1')
  t.strictSame(scan.args, ['--level', 'critical'], 'the required params are passed')
  t.strictSame(
    provenance(e).map((p) => [p.path, p.step, p.definition]),
    [
      ['spec.taskSpec.steps[0]', 'preflight', 'default/preflight'],
      ['spec.taskSpec.steps[1]', 'build', 'default/build'],
      ['spec.taskSpec.steps[2]', 'scan', 'default/scanner'],
    ],
  )
  t.strictSame(run.spec, { taskSpec: { steps: [{ name: 'build', ref: { name: 'build' } }] } }, 'the input is not mutated')

  // Reinvocation: stepsplice's own output goes through again unchanged.
  const again = await splice(e.object, enforce)
  t.strictSame(messages(again), [])
  t.equal(again.changed, false, 'idempotent on the expanded output')
  t.strictSame(names(stepsOf(again)), ['preflight', 'build', 'scan'])
})

t.test('a TaskRun with only inline steps is changed by the injection alone', async (t) => {
  const run = taskRun({ steps: [{ name: 'hello', image: 'registry.example.com/alpine:3', script: 'echo hi' }] })
  const e = await splice(run, enforce)
  t.strictSame(messages(e), [])
  t.equal(e.changed, true)
  t.strictSame(names(stepsOf(e)), ['preflight', 'hello', 'scan'])
  t.equal(stepsOf(e)[1]?.script, 'echo hi')
  const again = await splice(e.object, enforce)
  t.equal(again.changed, false)
  t.strictSame(messages(again), [])
})

t.test('a required step already written as that reference is not duplicated', async (t) => {
  const run = taskRun({
    steps: [
      { name: 'preflight', ref: { name: 'preflight' } },
      { name: 'scan', ref: { name: 'scanner' }, params: [{ name: 'level', value: 'critical' }] },
      { name: 'build', ref: { name: 'build' } },
    ],
  })
  const e = await splice(run, enforce)
  t.strictSame(messages(e), [])
  t.strictSame(names(stepsOf(e)), ['preflight', 'scan', 'build'], 'kept where the author put them, once each')
})

t.test('a step shadowing a required one is denied, naming the policy, the path and the step', async (t) => {
  const shadows = [
    { name: 'scan', image: 'registry.example.com/alpine:3', script: 'true' },
    { name: 'scan', ref: { name: 'build' } },
    { name: 'scan', ref: { name: 'scanner' }, params: [{ name: 'level', value: 'low' }] },
  ]
  for (const shadow of shadows) {
    const run = taskRun({ steps: [{ name: 'build', ref: { name: 'build' } }, shadow] })
    const e = await splice(run, enforce)
    t.equal(e.changed, false)
    t.equal(e.object, run, 'returned as sent')
    t.equal(e.problems.length, 1)
    t.match(e.problems[0], {
      path: 'spec.taskSpec.steps[1]',
      step: 'scan',
      message: /^policy ClusterStepPolicy scan-last: requiredSteps: step "scan" must be the required step StepAction scanner/,
    })
  }
  // A forged provenance entry naming another definition does not make an inline step the scanner.
  const forged = taskRun({ steps: [{ name: 'scan', image: 'registry.example.com/alpine:3', script: 'true' }] })
  forged.metadata = {
    ...forged.metadata,
    annotations: {
      [resolvedKey]: JSON.stringify([{ path: 'spec.taskSpec.steps[0]', step: 'scan', definition: 'default/build', source: 'directory', digest: 'x' }]),
    },
  }
  const e = await splice(forged, enforce)
  t.strictSame(
    e.problems.map((p) => p.path),
    ['spec.taskSpec.steps[0]'],
  )
})

t.test('every inline task of a PipelineRun, tasks and finally', async (t) => {
  const run = pipelineRun({
    tasks: [
      { name: 'a', taskSpec: { steps: [{ name: 'build', ref: { name: 'build' } }] } },
      { name: 'b', taskSpec: { steps: [{ name: 'hello', image: 'registry.example.com/alpine:3', script: 'echo hi' }] } },
    ],
    finally: [{ name: 'f', taskSpec: { steps: [{ name: 'scan', ref: { name: 'scanner' }, params: [{ name: 'level', value: 'critical' }] }] } }],
  })
  const e = await splice(run, enforce)
  t.strictSame(messages(e), [])
  t.equal(e.changed, true)
  t.strictSame(names(pipelineStepsOf(e, 0)), ['preflight', 'build', 'scan'])
  t.strictSame(names(pipelineStepsOf(e, 1)), ['preflight', 'hello', 'scan'])
  t.strictSame(names(pipelineStepsOf(e, 0, 'finally')), ['preflight', 'scan'], 'present already: not added again')
  t.equal(pipelineStepsOf(e, 1)[2]?.image, 'registry.example.com/scanner:1')
  const again = await splice(e.object, enforce)
  t.strictSame(messages(again), [])
  t.equal(again.changed, false, 'idempotent on the expanded output')
})

t.test('a TaskRun created for a spliced pipeline task keeps its required steps', async (t) => {
  const run = pipelineRun({ tasks: [{ name: 'a', taskSpec: { steps: [{ name: 'build', ref: { name: 'build' } }] } }] })
  const e = await splice(run, enforce)
  t.strictSame(messages(e), [])
  // What Tekton creates: the task's spec as spec.taskSpec, the PipelineRun's annotations carried over.
  const child: KubeObject = {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { name: 'prun-a', namespace: 'default', annotations: { ...e.object.metadata?.annotations } },
    spec: { taskSpec: (e.object.spec as { pipelineSpec: { tasks: { taskSpec: unknown }[] } }).pipelineSpec.tasks[0]?.taskSpec },
  }
  const c = await splice(child, enforce)
  t.strictSame(messages(c), [])
  t.strictSame(names(stepsOf(c)), ['preflight', 'build', 'scan'])
})

t.test('a Pod gets the required steps in its annotation, as init containers', async (t) => {
  const pod = podWith([{ name: 'build', ref: { name: 'build' } }])
  const e = await splice(pod, enforce)
  t.strictSame(messages(e), [])
  t.equal(e.changed, true)
  const steps = JSON.parse(e.object.metadata?.annotations?.[stepsKey] ?? '[]')
  t.strictSame(steps, [
    { name: 'preflight', ref: { name: 'preflight' } },
    { name: 'build', ref: { name: 'build' } },
    { name: 'scan', ref: { name: 'scanner' }, params: [{ name: 'level', value: 'critical' }] },
  ])
  const init = (e.object.spec as { initContainers: { name: string; args?: string[] }[] }).initContainers
  t.strictSame(
    init.map((c) => c.name),
    ['step-preflight', 'step-build', 'step-scan'],
  )
  t.strictSame(init[2]?.args, ['--level', 'critical'])
  const again = await splice(e.object, enforce)
  t.strictSame(messages(again), [])
  t.equal(again.changed, false, 'idempotent on the spliced Pod')

  // Without the annotation, it is created.
  const plain = podWith(undefined)
  const p = await splice(plain, enforce)
  t.strictSame(messages(p), [])
  t.strictSame(
    JSON.parse(p.object.metadata?.annotations?.[stepsKey] ?? '[]').map((s: { name: string }) => s.name),
    ['preflight', 'scan'],
  )
  t.strictSame(
    (p.object.spec as { initContainers: { name: string }[] }).initContainers.map((c) => c.name),
    ['step-preflight', 'step-scan'],
  )

  // A Pod step of that name that is another reference is denied.
  const shadow = await splice(podWith([{ name: 'scan', ref: { name: 'build' } }]), enforce)
  t.strictSame(
    shadow.problems.map((p) => [p.path, p.step]),
    [[`metadata.annotations["${stepsKey}"][0]`, 'scan']],
  )
})

t.test('runs that reference their Task or Pipeline: denied by Enforce, warned by Audit', async (t) => {
  const byRef: KubeObject = { apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { name: 'r', namespace: 'default' }, spec: { taskRef: { name: 'x' } } }
  const e = await splice(byRef, enforce)
  t.equal(e.changed, false)
  t.strictSame(
    e.problems.map((p) => [p.path, p.step]),
    [
      ['spec.taskRef', 'scan'],
      ['spec.taskRef', 'preflight'],
    ],
  )
  t.match(
    e.problems[0]?.message,
    /^policy ClusterStepPolicy scan-last: requiredSteps: required step "scan" \(StepAction scanner\) cannot be added to a TaskRun that references its Task/,
  )

  const a = await splice(byRef, audit)
  t.strictSame(a.problems, [])
  t.equal(a.changed, false)
  t.equal(a.warnings.length, 1)
  t.match(a.warnings[0], /^policy ClusterStepPolicy scan-audit \(Audit\): spec\.taskRef: requiredSteps: required step "scan" .* cannot be added to a TaskRun/)

  const pipeline: KubeObject = {
    apiVersion: 'tekton.dev/v1',
    kind: 'PipelineRun',
    metadata: { name: 'p', namespace: 'default' },
    spec: { pipelineRef: { name: 'x' } },
  }
  t.strictSame(
    (await splice(pipeline, enforce)).problems.map((p) => p.path),
    ['spec.pipelineRef', 'spec.pipelineRef'],
  )
})

t.test('a TaskRun naming a Task the catalog holds gets the Task written out with the required steps; one already complete keeps its taskRef', async (t) => {
  const tasks = new Map<string, Record<string, unknown>>([
    ['plain', { steps: [{ name: 'hello', image: 'registry.example.com/alpine:3', script: 'echo hi' }] }],
    [
      'complete',
      {
        steps: [
          { name: 'preflight', ref: { name: 'preflight' } },
          { name: 'scan', ref: { name: 'scanner' }, params: [{ name: 'level', value: 'critical' }] },
        ],
      },
    ],
    ['partial', { steps: [{ name: 'build', ref: { name: 'build' } }] }],
  ])
  let lookups = 0
  const holding: Catalog = {
    size: catalog.size,
    resolve: (ref) => catalog.resolve(ref),
    async resolveTask(ref) {
      lookups++
      const spec = tasks.get(ref.name)
      if (spec === undefined) return { error: `tasks.tekton.dev "${ref.name}" not found`, missing: true }
      return {
        task: {
          namespace: ref.namespace,
          name: ref.name,
          labels: {},
          annotations: {},
          spec,
          location: `/apis/tekton.dev/v1/namespaces/${ref.namespace}/tasks/${ref.name}`,
        },
      }
    },
  }
  const byRef = (name: string): KubeObject => ({
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { name: 'r', namespace: 'default' },
    spec: { taskRef: { name } },
  })
  const e = await spliceObject(byRef('plain'), 'default', { catalog: holding, policies: enforce })
  t.strictSame(messages(e), [])
  t.equal(e.changed, true)
  t.strictSame(names(stepsOf(e)), ['preflight', 'hello', 'scan'], 'the Task written out, with the required steps spliced')
  t.equal(e.object.metadata?.labels?.['tekton.dev/task'], 'plain', 'labelled as Tekton labels a TaskRun of a Task')

  const complete = await spliceObject(byRef('complete'), 'default', { catalog: holding, policies: enforce })
  t.strictSame(messages(complete), [])
  t.strictSame(names(stepsOf(complete)), ['preflight', 'scan'], 'expanded as before: its steps reference definitions')

  lookups = 0
  const partial = await spliceObject(byRef('partial'), 'default', { catalog: holding, policies: enforce })
  t.strictSame(messages(partial), [])
  t.strictSame(names(stepsOf(partial)), ['preflight', 'build', 'scan'], 'the Task written out, its own step and the required ones spliced')
  t.equal(lookups, 1, 'the Task is looked up once')

  const noTasks = await spliceObject(byRef('plain'), 'default', { catalog: holding, policies: enforce, inlineTaskRefs: false })
  t.match(messages(noTasks), [/cannot be added to a TaskRun that references its Task/, /cannot be added/], 'with inlining off, denied as before')
})

t.test('Audit never injects: it warns when a required step is missing', async (t) => {
  const run = taskRun({ steps: [{ name: 'build', ref: { name: 'build' } }] })
  const e = await splice(run, audit)
  t.strictSame(messages(e), [])
  t.strictSame(names(stepsOf(e)), ['build'])
  t.strictSame(e.warnings, ['policy ClusterStepPolicy scan-audit (Audit): spec.taskSpec: requiredSteps: required step "scan" (StepAction scanner) is missing'])

  const present = await splice(taskRun({ steps: [{ name: 'scan', ref: { name: 'scanner' } }] }), audit)
  t.strictSame(present.warnings, [])
  const shadowed = await splice(taskRun({ steps: [{ name: 'scan', ref: { name: 'build' } }] }), audit)
  t.strictSame(messages(shadowed), [])
  t.match(shadowed.warnings, [
    /^policy ClusterStepPolicy scan-audit \(Audit\): spec\.taskSpec\.steps\[0\]: requiredSteps: step "scan" is not the required step/,
  ])

  const pod = await splice(podWith(undefined), audit)
  t.equal(pod.changed, false)
  t.equal(pod.object.metadata?.annotations?.[stepsKey], undefined)
  t.equal(pod.warnings.length, 1)
})

t.test('loading: requiredSteps is validated', async (t) => {
  const base = { apiVersion: 'stepsplice.dev/v1alpha1', kind: 'ClusterStepPolicy', metadata: { name: 'x' } }
  const check = (requiredSteps: unknown): string[] => validatePolicyObject({ ...base, spec: { requiredSteps } })
  t.strictSame(check([{ name: 'scan', ref: { resolver: 'git', params: [{ name: 'url', value: 'https://g/r' }] }, position: 'First' }]), [])
  t.strictSame(check([{ name: 'Scan', ref: { name: 'scanner' } }]), ['spec.requiredSteps[0].name: must be a lowercase RFC 1123 label'])
  t.strictSame(check([{ name: 'scan' }]), ['spec.requiredSteps[0].ref: missing field'])
  t.strictSame(check([{ name: 'scan', ref: {} }]), ['spec.requiredSteps[0].ref: set name (a StepAction) or resolver'])
  t.strictSame(check([{ name: 'scan', ref: { name: 'a', resolver: 'git' } }]), ['spec.requiredSteps[0].ref: set name or resolver, not both'])
  t.strictSame(check([{ name: 'scan', ref: { name: 'a' }, position: 'Middle' }]), [
    'spec.requiredSteps[0].position: must be one of "First", "Last", not "Middle"',
  ])
  t.strictSame(check([{ name: 'scan', ref: { name: 'a' }, params: [{ name: 'p', value: 1 }] }]), [
    'spec.requiredSteps[0].params[0].value: must be a string, a list of strings or a map of strings',
  ])
  t.strictSame(check([{ name: 'scan', ref: { name: 'a' }, extra: 1 }]), ['spec.requiredSteps[0].extra: unknown field'])
  t.strictSame(
    check([
      { name: 'scan', ref: { name: 'a' } },
      { name: 'scan', ref: { name: 'b' } },
    ]),
    ['spec.requiredSteps[1].name: duplicate required step "scan"'],
  )
})
