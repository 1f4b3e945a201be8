// A TaskRun's taskRef written out as its Task's spec, when the Task's steps
// reference definitions: the steps expanded, and the Task's labels and
// annotations propagated as Tekton's reconciler would (storeTaskSpecAndMergeMeta):
// the TaskRun's own win, kubectl's last-applied annotation is left out, and
// `tekton.dev/task` names the Task.

import t from 'tap'
import type { ResolvedTask, TaskReference, TaskResolution } from '../../src/definitions/reference.ts'
import { spliceObject } from '../../src/pipeline/splice.ts'
import type { Catalog } from '../../src/resolution/catalog.ts'
import { LayeredCatalog } from '../../src/resolution/layered.ts'
import type { KubeObject } from '../../src/types/k8s.ts'
import { catalogOf, stepAction } from '../helpers/catalog.ts'

const steps = catalogOf(
  stepAction('echo', { image: 'alpine', params: [{ name: 'msg', default: 'hi' }], command: ['echo', '$(params.msg)'] }, { namespace: 'team-a' }),
)

const buildTask: ResolvedTask = {
  namespace: 'team-a',
  name: 'build',
  labels: { 'app.kubernetes.io/version': '0.3', team: 'task-team' },
  annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', 'tekton.dev/displayName': 'Build' },
  spec: {
    params: [{ name: 'who', default: 'world' }],
    steps: [
      { name: 'greet', ref: { name: 'echo' }, params: [{ name: 'msg', value: 'hello $(params.who)' }] },
      { name: 'plain', image: 'busybox', script: 'true' },
    ],
  },
  location: '/apis/tekton.dev/v1/namespaces/team-a/tasks/build',
}
const plainTask: ResolvedTask = { ...buildTask, name: 'plain', spec: { steps: [{ name: 'plain', image: 'busybox', script: 'true' }] } }

/** The step catalog, plus Tasks by name, as a cluster catalog holds them. */
function withTasks(...tasks: ResolvedTask[]): Catalog {
  const byName = new Map(tasks.map((task) => [`${task.namespace}/${task.name}`, task]))
  const holder: Catalog = {
    size: 0,
    authoritative: true,
    resolve: (ref) => steps.resolve(ref),
    async resolveTask(ref: TaskReference): Promise<TaskResolution> {
      const task = byName.get(`${ref.namespace}/${ref.name}`)
      return task === undefined ? { error: `tasks.tekton.dev "${ref.name}" not found in namespace "${ref.namespace}"`, missing: true } : { task }
    },
  }
  return new LayeredCatalog([{ catalog: holder, origin: 'the cluster' }])
}

function taskRunOf(
  taskRef: Record<string, unknown>,
  extra: { apiVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): KubeObject {
  return {
    apiVersion: extra.apiVersion ?? 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: {
      name: 'run',
      namespace: 'team-a',
      labels: { team: 'run-team', ...extra.labels },
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
    },
    spec: { params: [{ name: 'who', value: 'tekton' }], taskRef, serviceAccountName: 'builder' },
  }
}

t.test('a Task whose steps reference definitions is written into the TaskRun and expanded', async (t) => {
  const e = await spliceObject(taskRunOf({ name: 'build' }, { annotations: { 'tekton.dev/displayName': 'Mine' } }), 'team-a', { catalog: withTasks(buildTask) })
  t.same(e.problems, [])
  t.equal(e.changed, true)
  const spec = e.object.spec as Record<string, unknown> & { taskSpec: { steps: Record<string, unknown>[] } }
  t.notOk('taskRef' in spec, 'the taskRef is replaced')
  t.equal(spec.serviceAccountName, 'builder', 'the rest of the spec stays')
  t.same(spec.taskSpec.steps[0], { name: 'greet', image: 'alpine', command: ['echo', 'hello tekton'] }, 'the run param reaches the step')
  t.same(spec.taskSpec.steps[1], { name: 'plain', image: 'busybox', script: 'true' })
  t.same(
    e.object.metadata?.labels,
    { 'app.kubernetes.io/version': '0.3', team: 'run-team', 'tekton.dev/task': 'build' },
    "the Task's labels, the TaskRun's winning",
  )
  t.match(e.object.metadata?.annotations, { 'tekton.dev/displayName': 'Mine' }, "the TaskRun's annotation wins")
  t.notOk(e.object.metadata?.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], "kubectl's last-applied annotation is not propagated")
  t.match(JSON.parse(e.object.metadata?.annotations?.['stepsplice.dev/resolved'] ?? '[]'), [{ path: 'spec.taskSpec.steps[0]', definition: 'team-a/echo' }])

  const again = await spliceObject(e.object, 'team-a', { catalog: withTasks(buildTask) })
  t.equal(again.changed, false, 'idempotent: an expanded TaskRun has nothing left to do')
})

t.test('TaskRuns left as they are', async (t) => {
  const catalog = withTasks(buildTask, plainTask)
  const cases: [string, KubeObject, Parameters<typeof spliceObject>[2]?][] = [
    ['a Task without step references', taskRunOf({ name: 'plain' })],
    ['a v1beta1 TaskRun (a v1 spec written into it would not mean the same)', taskRunOf({ name: 'build' }, { apiVersion: 'tekton.dev/v1beta1' })],
    ['a resolver', taskRunOf({ resolver: 'git', params: [{ name: 'url', value: 'x' }] })],
    ['a ClusterTask', taskRunOf({ name: 'build', kind: 'ClusterTask' })],
    ['a custom task', taskRunOf({ name: 'build', apiVersion: 'example.dev/v1', kind: 'Example' })],
    ['inlining switched off', taskRunOf({ name: 'build' }), { catalog, inlineTaskRefs: false }],
  ]
  for (const [why, obj, deps] of cases) {
    const e = await spliceObject(obj, 'team-a', deps ?? { catalog })
    t.same(e, { object: obj, changed: false, problems: [], warnings: [], expanded: [] }, why)
  }
})

t.test('a Task that cannot be found is left for Tekton, with a warning', async (t) => {
  const obj = taskRunOf({ name: 'missing' })
  const e = await spliceObject(obj, 'team-a', { catalog: withTasks(buildTask) })
  t.equal(e.changed, false)
  t.same(e.problems, [])
  t.same(e.warnings, ['spec.taskRef: tasks.tekton.dev "missing" not found in namespace "team-a"; left for Tekton to resolve'])
})

t.test('a step of the Task that cannot be expanded is a denial about the TaskRun as sent', async (t) => {
  const broken: ResolvedTask = { ...buildTask, name: 'broken', spec: { steps: [{ name: 'x', ref: { name: 'nope' } }] } }
  const obj = taskRunOf({ name: 'broken' })
  const e = await spliceObject(obj, 'team-a', { catalog: withTasks(broken) })
  t.equal(e.object, obj, 'the object as sent')
  t.match(e.problems, [{ path: 'spec.taskSpec.steps[0].ref', message: /stepactions\.tekton\.dev "nope" not found/ }])
})
