// Whole objects: which ones are touched, what comes back unchanged, TaskRuns
// in both versions, PipelineRuns (tasks and finally, param propagation,
// values known only at run time), provenance, idempotency and resolution.

import { createHash } from 'node:crypto'
import t from 'tap'
import { MemoryCatalog } from '../../src/resolution/memory.ts'
import type { Catalog } from '../../src/resolution/catalog.ts'
import { spliceObject } from '../../src/pipeline/splice.ts'
import { provenanceAnnotation } from '../../src/steps/expansion.ts'
import { limits } from '../../src/limits/limits.ts'
import type { KubeObject } from '../../src/types/k8s.ts'
import { LayeredCatalog } from '../../src/resolution/layered.ts'
import { findRefSteps, findTaskSites } from '../../src/runs/sites.ts'
import { Budget } from '../../src/limits/budget.ts'
import { catalogOf, clusterCatalogOf, expand, expandWith, pipelineRun, pipelineStepsOf, stepAction, stepOf, stepsOf, taskRun } from '../helpers/catalog.ts'

const echo = stepAction('echo', { image: 'alpine', args: ['$(params.msg)'], params: [{ name: 'msg', default: 'hello' }] })

function provenance(obj: KubeObject): unknown {
  return JSON.parse(obj.metadata?.annotations?.[provenanceAnnotation] ?? 'null')
}

/** sha256 over JSON with object keys sorted at every level: what the digest is documented to be. */
function expectedDigest(spec: unknown): string {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sorted)
      : v !== null && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v)
              .sort(([a], [b]) => (a < b ? -1 : 1))
              .map(([k, x]) => [k, sorted(x)]),
          )
        : v
  return `sha256:${createHash('sha256')
    .update(JSON.stringify(sorted(spec)))
    .digest('hex')}`
}

t.test('objects without step references come back as they are', async (t) => {
  const objects: KubeObject[] = [
    taskRun({ steps: [{ name: 'a', image: 'busybox', script: 'echo $(params.x)' }] }),
    { apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { name: 'r' }, spec: { taskRef: { name: 'some-task' } } },
    { apiVersion: 'tekton.dev/v1', kind: 'PipelineRun', metadata: { name: 'p' }, spec: { pipelineRef: { name: 'some-pipeline' } } },
    pipelineRun({
      tasks: [
        { name: 't', taskRef: { name: 'x' } },
        { name: 'u', taskSpec: { steps: [{ image: 'busybox' }] } },
      ],
    }),
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { steps: 'ref: x' } },
    // Only Tekton's own kinds are looked into, whatever their shape.
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { taskSpec: { steps: [{ ref: { name: 'echo' } }] } } },
    { apiVersion: 'example.com/v1', kind: 'TaskRun', metadata: { name: 'imposter' }, spec: { taskSpec: { steps: [{ ref: { name: 'echo' } }] } } },
    { apiVersion: 'tekton.dev/v1', kind: 'Task', metadata: { name: 'task' }, spec: { steps: [{ ref: { name: 'echo' } }] } },
    { apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { name: 'odd' }, spec: { taskSpec: 'not an object' } },
    { apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { name: 'odd' }, spec: { taskSpec: { steps: 'not a list' } } },
  ]
  for (const obj of objects) {
    const before = structuredClone(obj)
    const e = await expand(obj, echo)
    t.equal(e.changed, false, `${obj.kind} ${obj.metadata?.name}`)
    t.equal(e.object, obj, 'the very same object')
    t.strictSame(e.problems, [])
    t.strictSame(e.expanded, [])
    t.strictSame(obj, before, 'not modified')
  }
})

t.test('unknown fields anywhere are preserved', async (t) => {
  const obj: KubeObject = {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { name: 'run', namespace: 'default', labels: { a: 'b' }, annotations: { keep: 'me' }, 'x-meta': [1, 2] },
    'x-top': { deep: { value: null } },
    spec: {
      serviceAccountName: 'sa',
      'x-spec': true,
      params: [{ name: 'p', value: 'v', 'x-param': 1 }],
      taskSpec: {
        'x-task': 'kept',
        stepTemplate: { env: [{ name: 'FROM_TEMPLATE', value: '1' }] },
        sidecars: [{ name: 'side', image: 'redis' }],
        volumes: [{ name: 'cache', emptyDir: {} }],
        steps: [{ name: 'e', ref: { name: 'echo', 'x-ref': 'dropped with the ref' }, 'x-step': { a: [1] } }],
      },
    },
    status: { podName: 'x' },
  }
  const e = await expand(obj, echo)
  t.equal(e.changed, true)
  const { metadata, ...rest } = e.object
  t.strictSame(rest, {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    'x-top': { deep: { value: null } },
    spec: {
      serviceAccountName: 'sa',
      'x-spec': true,
      params: [{ name: 'p', value: 'v', 'x-param': 1 }],
      taskSpec: {
        'x-task': 'kept',
        stepTemplate: { env: [{ name: 'FROM_TEMPLATE', value: '1' }] },
        sidecars: [{ name: 'side', image: 'redis' }],
        volumes: [{ name: 'cache', emptyDir: {} }],
        steps: [{ name: 'e', 'x-step': { a: [1] }, image: 'alpine', args: ['hello'] }],
      },
    },
    status: { podName: 'x' },
  })
  t.strictSame(
    { ...metadata, annotations: { ...metadata?.annotations, [provenanceAnnotation]: 'x' } },
    {
      name: 'run',
      namespace: 'default',
      labels: { a: 'b' },
      annotations: { keep: 'me', [provenanceAnnotation]: 'x' },
      'x-meta': [1, 2],
    },
  )
})

t.test('TaskRun v1 and v1beta1', async (t) => {
  for (const apiVersion of ['tekton.dev/v1', 'tekton.dev/v1beta1']) {
    const obj = {
      ...taskRun({ steps: [{ name: 'e', ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.who)' }] }] }, [{ name: 'who', value: 'world' }]),
      apiVersion,
    }
    const e = await expand(obj, echo)
    t.equal(e.changed, true, apiVersion)
    t.equal(e.object.apiVersion, apiVersion)
    t.strictSame(stepsOf(e), [{ name: 'e', image: 'alpine', args: ['world'] }], apiVersion)
  }
  const alpha = { ...taskRun({ steps: [{ ref: { name: 'echo' } }] }), apiVersion: 'tekton.dev/v1alpha1' }
  t.equal((await expand(alpha, echo)).changed, false, 'v1alpha1 TaskRuns are not handled')
})

t.test('provenance annotation', async (t) => {
  const spec = { image: 'alpine', args: ['$(params.msg)'], params: [{ name: 'msg', default: 'hello' }] }
  const obj = taskRun({ steps: [{ name: 'plain', image: 'busybox' }, { ref: { name: 'echo' } }, { name: 'named', ref: { name: 'echo' } }] })
  const e = await expand(obj, stepAction('echo', spec))
  const digest = expectedDigest(spec)
  t.match(digest, /^sha256:[0-9a-f]{64}$/)
  t.strictSame(
    provenance(e.object),
    [
      { path: 'spec.taskSpec.steps[1]', step: '', definition: 'default/echo', source: 'directory', digest, written: { ref: { name: 'echo' } } },
      {
        path: 'spec.taskSpec.steps[2]',
        step: 'named',
        definition: 'default/echo',
        source: 'directory',
        digest,
        written: { name: 'named', ref: { name: 'echo' } },
      },
    ],
    'each entry keeps the step as written, to verify it by on re-admission',
  )
  t.strictSame(e.expanded, provenance(e.object))

  const reordered = { params: [{ default: 'hello', name: 'msg' }], args: ['$(params.msg)'], image: 'alpine' }
  const e2 = await expand(obj, stepAction('echo', reordered))
  t.equal((e2.expanded[0] as { digest: string }).digest, digest, 'key order does not change the digest')
  const e3 = await expand(obj, stepAction('echo', { ...spec, image: 'alpine:3' }))
  t.not((e3.expanded[0] as { digest: string }).digest, digest, 'a different spec has a different digest')

  const nsed = await expand(obj, stepAction('echo', spec, { namespace: 'default' }))
  t.equal(nsed.expanded[0]?.definition, 'default/echo')
})

t.test('provenance keeps other annotations; earlier entries only when the stored object holds them', async (t) => {
  const earlier = [{ path: 'spec.taskSpec.steps[0]', step: 'old', definition: 'default/old', source: 'directory', digest: 'sha256:00' }]
  const obj = taskRun({
    steps: [
      { name: 'old', image: 'busybox' },
      { name: 'e', ref: { name: 'echo' } },
    ],
  })
  obj.metadata = { ...obj.metadata, annotations: { other: 'x', [provenanceAnnotation]: JSON.stringify(earlier) } }
  const mine = { path: 'spec.taskSpec.steps[1]', step: 'e', definition: 'default/echo', source: 'directory' }
  const written = { written: { name: 'e', ref: { name: 'echo' } } }

  // CREATE: nothing stored, so the caller's entries are not taken on trust.
  const created = await expand(obj, echo)
  t.equal(created.object.metadata?.annotations?.other, 'x')
  t.strictSame(provenance(created.object), [{ ...mine, digest: created.expanded[0]?.digest, ...written }], 'an entry stepsplice did not compute is dropped')
  t.match(created.warnings, [/stepsplice\.dev\/resolved: dropped 1 entries that stepsplice did not record/])

  // UPDATE of an object stored with that entry and that step: the entry was ours, and stays.
  const updated = await spliceObject(obj, 'default', { catalog: catalogOf(echo) }, { oldObject: structuredClone(obj) })
  t.strictSame(provenance(updated.object), [...earlier, { ...mine, digest: updated.expanded[0]?.digest, ...written }])
  t.same(updated.warnings, [])

  // UPDATE where the step at the entry's path changed: the entry no longer describes it.
  const stored = structuredClone(obj)
  ;(stored.spec as { taskSpec: { steps: { image?: string }[] } }).taskSpec.steps[0] = { image: 'other' }
  const moved = await spliceObject(obj, 'default', { catalog: catalogOf(echo) }, { oldObject: stored })
  t.strictSame(provenance(moved.object), [{ ...mine, digest: moved.expanded[0]?.digest, ...written }])

  const garbled = taskRun({ steps: [{ name: 'e', ref: { name: 'echo' } }] })
  garbled.metadata = { ...garbled.metadata, annotations: { [provenanceAnnotation]: 'not json' } }
  const g = await expand(garbled, echo)
  t.strictSame(provenance(g.object), g.expanded, 'a garbled annotation is replaced')
})

t.test('expanding the output again changes nothing', async (t) => {
  const inputs = [
    taskRun({
      steps: [
        { name: 'e', ref: { name: 'echo' } },
        { name: 'i', image: 'busybox' },
      ],
    }),
    pipelineRun({
      tasks: [{ name: 't', taskSpec: { steps: [{ ref: { name: 'echo' } }] } }],
      finally: [{ name: 'f', taskSpec: { steps: [{ ref: { name: 'echo' } }] } }],
    }),
  ]
  for (const obj of inputs) {
    const first = await expand(obj, echo)
    t.equal(first.changed, true)
    const second = await expand(first.object, echo)
    t.equal(second.changed, false, `${obj.kind}: no second change`)
    t.equal(second.object, first.object)
    t.strictSame(second.problems, [])
  }
})

t.test('PipelineRun: tasks and finally with inline task specs', async (t) => {
  const obj = pipelineRun(
    {
      params: [
        { name: 'greeting', default: 'hi' },
        { name: 'target', default: 'default target' },
        { name: 'shadowed', default: 'pipeline value' },
        { name: 'over-task-default', default: 'pipeline wins' },
      ],
      tasks: [
        {
          name: 'through-task-param',
          params: [{ name: 'who', value: '$(params.target)' }],
          taskSpec: {
            params: [{ name: 'who' }],
            steps: [{ name: 's', ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.greeting), $(params.who)' }] }],
          },
        },
        {
          name: 'shadowing',
          params: [{ name: 'shadowed', value: 'task value' }],
          taskSpec: { params: [{ name: 'shadowed' }], steps: [{ ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.shadowed)' }] }] },
        },
        {
          name: 'task-default',
          taskSpec: {
            params: [
              { name: 'over-task-default', default: 'task default' },
              { name: 'own', default: 'own default' },
            ],
            steps: [{ ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.over-task-default)/$(params.own)' }] }],
          },
        },
        { name: 'untouched', taskRef: { name: 'elsewhere' } },
      ],
      finally: [{ name: 'last', taskSpec: { steps: [{ name: 'bye', ref: { name: 'echo' }, params: [{ name: 'msg', value: 'bye $(params.target)' }] }] } }],
    },
    [{ name: 'target', value: 'world' }],
  )
  const e = await expand(obj, echo)
  t.strictSame(e.problems, [])
  t.strictSame(pipelineStepsOf(e, 0), [{ name: 's', image: 'alpine', args: ['hi, world'] }], 'PipelineRun value through a pipeline task param')
  t.strictSame(pipelineStepsOf(e, 1), [{ image: 'alpine', args: ['task value'] }], 'a pipeline task param shadows the pipeline param')
  // docs/pipelineruns.md "Default Values": the propagated run-level value wins over the embedded task's default.
  t.strictSame(pipelineStepsOf(e, 2), [{ image: 'alpine', args: ['pipeline wins/own default'] }])
  t.strictSame(pipelineStepsOf(e, 0, 'finally'), [{ name: 'bye', image: 'alpine', args: ['bye world'] }])
  const tasks = (e.object.spec as { pipelineSpec: { tasks: unknown[] } }).pipelineSpec.tasks
  t.strictSame(tasks[3], { name: 'untouched', taskRef: { name: 'elsewhere' } })
  t.strictSame(
    e.expanded.map((x) => x.path),
    [
      'spec.pipelineSpec.tasks[0].taskSpec.steps[0]',
      'spec.pipelineSpec.tasks[1].taskSpec.steps[0]',
      'spec.pipelineSpec.tasks[2].taskSpec.steps[0]',
      'spec.pipelineSpec.finally[0].taskSpec.steps[0]',
    ],
  )
})

t.test("PipelineRun: a pipeline task's param shadows the pipeline's keys of its name only, as Tekton's propagateParams does", async (t) => {
  const arrays = stepAction('arrays', { image: 'alpine', args: ['$(params.xs[*])'], params: [{ name: 'xs', type: 'array' }] })
  const objects = stepAction('objects', {
    image: 'alpine',
    args: ['$(params.o.a)', '$(params.o.b)'],
    params: [{ name: 'o', type: 'object', properties: { a: {}, b: {} }, default: { a: 'SA-a', b: 'SA-b' } }],
  })
  const obj = pipelineRun({
    params: [
      { name: 'arr', type: 'array', default: ['P0', 'P1', 'P2'] },
      { name: 'o', type: 'object', properties: { a: {}, b: {} }, default: { a: 'P-a', b: 'P-b' } },
      { name: 's', default: 'S' },
    ],
    tasks: [
      {
        name: 'array',
        params: [{ name: 'arr', value: ['T0'] }],
        taskSpec: {
          params: [{ name: 'arr', type: 'array' }],
          steps: [
            // An element is not a key the task param spells: the pipeline's stays.
            { name: 'element', ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.arr[0])' }] },
            { name: 'whole', ref: { name: 'arrays' }, params: [{ name: 'xs', value: '$(params.arr[*])' }] },
          ],
        },
      },
      {
        name: 'object',
        params: [{ name: 'o', value: { a: 'T-a' } }],
        taskSpec: {
          params: [{ name: 'o', type: 'object', properties: { a: {}, b: {} }, default: { a: 'TD-a', b: 'TD-b' } }],
          steps: [
            // A member the task's value lacks stays the pipeline's; the whole object is the task's value as passed.
            { name: 'member', ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.o.a)/$(params.o.b)' }] },
            { name: 'whole', ref: { name: 'objects' }, params: [{ name: 'o', value: '$(params.o[*])' }] },
          ],
        },
      },
      {
        name: 'retyped',
        params: [{ name: 's', value: ['a', 'b'] }],
        taskSpec: {
          params: [{ name: 's', type: 'array' }],
          steps: [
            // The pipeline's string key takes the string part of an array: "".
            { name: 'as-string', ref: { name: 'echo' }, params: [{ name: 'msg', value: '<$(params.s)>' }] },
            { name: 'as-array', ref: { name: 'arrays' }, params: [{ name: 'xs', value: '$(params.s[*])' }] },
          ],
        },
      },
    ],
  })
  const e = await expandWith(obj, catalogOf(echo, arrays, objects))
  t.strictSame(e.problems, [])
  t.strictSame(
    pipelineStepsOf(e, 0).map((s) => s.args),
    [['P0'], ['T0']],
  )
  t.strictSame(
    pipelineStepsOf(e, 1).map((s) => s.args),
    [['T-a/P-b'], ['T-a', 'SA-b']],
  )
  t.strictSame(
    pipelineStepsOf(e, 2).map((s) => s.args),
    [['<>'], ['a', 'b']],
  )
})

t.test('resolver params take an empty object as no value, as Tekton merges them member by member', async (t) => {
  const ref = {
    resolver: 'git',
    params: [
      { name: 'cfg', value: '$(params.o[*])' },
      { name: 'full', value: '$(params.p[*])' },
    ],
  }
  const run = taskRun(
    {
      params: [
        { name: 'o', type: 'object', properties: {}, default: {} },
        { name: 'p', type: 'object', properties: { k: {} }, default: { k: 'v' } },
      ],
      steps: [{ name: 's', ref, params: [{ name: 'msg', value: '$(params.o[*])' }] }],
    },
    [{ name: 'o', value: {} }],
  )
  const [step] = findRefSteps(findTaskSites(run, new Budget()), new Budget())
  t.strictSame(step?.resolverParams, [
    { name: 'cfg', value: '$(params.o[*])' },
    { name: 'full', value: { k: 'v' } },
  ])
})

t.test(
  'PipelineRun: matrix params shadow no pipeline param; an empty object passed adds nothing; a run-time string pipeline param leaves the array of its name',
  async (t) => {
    const echoed = stepAction('echoed', { image: 'alpine', args: ['$(params.msg)'], params: [{ name: 'msg' }] })
    const items = stepAction('items', { image: 'alpine', args: ['$(params.items[*])', 'first=$(params.items[0])'], params: [{ name: 'items', type: 'array' }] })
    const obj = pipelineRun(
      {
        params: [{ name: 'platform', default: 'linux/amd64' }, { name: 'p' }],
        tasks: [
          {
            // Tekton's propagateParams reads the pipeline task's params, not its matrix: the pipeline's value reaches the step.
            name: 'matrixed',
            matrix: { params: [{ name: 'platform', value: ['linux/amd64', 'linux/arm64'] }] },
            taskSpec: {
              params: [{ name: 'platform' }],
              steps: [{ name: 's', ref: { name: 'echoed' }, params: [{ name: 'msg', value: 'on $(params.platform)' }] }],
            },
          },
          {
            // The TaskRun gets obj: {}, which its getTaskParameters merges member by member: nothing.
            name: 'empty',
            params: [{ name: 'obj', value: {} }],
            taskSpec: {
              params: [{ name: 'obj', type: 'object', properties: {} }],
              steps: [{ name: 's', ref: { name: 'echoed' }, params: [{ name: 'msg', value: '$(params.obj[*])' }] }],
            },
          },
          {
            // p is a string known only at run time: the pipeline pass fills $(params.p), never $(params.p[*]), which the TaskRun fills from its default.
            name: 'array',
            taskSpec: {
              params: [{ name: 'p', type: 'array', default: ['a', 'b'] }],
              steps: [{ name: 's', ref: { name: 'items' }, params: [{ name: 'items', value: ['$(params.p[*])'] }] }],
            },
          },
        ],
      },
      [{ name: 'p', value: '$(context.pipelineRun.name)' }],
    )
    const e = await expandWith(obj, catalogOf(echoed, items))
    t.strictSame(e.problems, [])
    t.strictSame(pipelineStepsOf(e, 0)[0]?.args, ['on linux/amd64'])
    t.strictSame(pipelineStepsOf(e, 1)[0]?.args, ['$(params.obj[*])'])
    t.strictSame(pipelineStepsOf(e, 2)[0]?.args, ['a', 'b', 'first=a'])
  },
)

t.test("PipelineRun: a step's resolver params see the task's params only, as the TaskRun does", async (t) => {
  const layered = new LayeredCatalog(
    [{ catalog: clusterCatalogOf({ ...echo, metadata: { name: 'echo-t' } }, { ...echo, metadata: { name: 'echo-p' } }), origin: 'the cluster' }],
    {
      shared: [],
    },
  )
  const ref = {
    resolver: 'cluster',
    params: [
      { name: 'kind', value: 'stepaction' },
      { name: 'name', value: '$(params.which)' },
      { name: 'namespace', value: 'default' },
    ],
  }
  const obj = pipelineRun({
    params: [{ name: 'which', default: 'echo-p' }],
    tasks: [{ name: 't', taskSpec: { params: [{ name: 'which', default: 'echo-t' }], steps: [{ name: 's', ref }] } }],
  })
  const e = await expandWith(obj, layered)
  t.strictSame(e.problems, [])
  // Tekton's pipeline pass leaves ref.params alone; the TaskRun fills them from the task's default.
  t.match(e.expanded, [{ definition: 'default/echo-t' }])
})

t.test('PipelineRun: array and object pipeline params', async (t) => {
  const sa = stepAction('probe', {
    image: 'alpine',
    args: ['$(params.list[*])', '$(params.map.a)'],
    params: [
      { name: 'list', type: 'array' },
      { name: 'map', type: 'object', properties: { a: {} } },
    ],
  })
  const obj = pipelineRun(
    {
      params: [
        { name: 'flags', type: 'array', default: ['-x'] },
        { name: 'cfg', properties: { a: {} }, default: { a: 'default a' } },
      ],
      tasks: [
        {
          name: 'direct',
          taskSpec: {
            steps: [
              {
                ref: { name: 'probe' },
                params: [
                  { name: 'list', value: '$(params.flags[*])' },
                  { name: 'map', value: '$(params.cfg[*])' },
                ],
              },
            ],
          },
        },
        {
          name: 'via-task',
          params: [
            { name: 'f', value: ['$(params.flags[*])', '-z'] },
            { name: 'c', value: '$(params.cfg[*])' },
          ],
          taskSpec: {
            params: [
              { name: 'f', type: 'array' },
              { name: 'c', properties: { a: {} } },
            ],
            steps: [
              {
                ref: { name: 'probe' },
                params: [
                  { name: 'list', value: '$(params.f[*])' },
                  { name: 'map', value: '$(params.c)' },
                ],
              },
            ],
          },
        },
      ],
    },
    [
      { name: 'flags', value: ['-a', '-b'] },
      { name: 'cfg', value: { a: 'run a' } },
    ],
  )
  const e = await expand(obj, sa)
  t.strictSame(e.problems, [])
  t.strictSame(pipelineStepsOf(e, 0), [{ image: 'alpine', args: ['-a', '-b', 'run a'] }])
  t.strictSame(pipelineStepsOf(e, 1), [{ image: 'alpine', args: ['-a', '-b', '-z', 'run a'] }])
})

t.test('PipelineRun: pipeline defaults are resolved as Tekton resolves them', async (t) => {
  // Tekton's pipeline-level ApplyParameters: run values first, then string
  // defaults resolved recursively against run values and other defaults, then
  // array and object defaults substituted with those strings.
  const obj = pipelineRun(
    {
      params: [
        { name: 'registry', default: 'docker.io' },
        { name: 'org', default: '$(params.registry)/$(params.team)' },
        { name: 'image', default: '$(params.org)/app:$(params.tag)' },
        { name: 'team' },
        { name: 'tag', default: 'latest' },
        { name: 'tags', type: 'array', default: ['$(params.tag)', 'stable'] },
        { name: 'cfg', properties: { host: {}, port: {} }, default: { host: '$(params.registry)', port: '5000' } },
        { name: 'given', properties: { host: {}, port: {} }, default: { host: 'default host', port: 'default port' } },
      ],
      tasks: [
        {
          name: 't',
          taskSpec: {
            steps: [
              { ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.image)' }] },
              { ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.tags[0]),$(params.tags[1])' }] },
              { ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.cfg.host):$(params.cfg.port)' }] },
              // The run's object replaces the default whole: Tekton does not merge them at pipeline level.
              { ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.given.host):$(params.given.port)' }] },
            ],
          },
        },
      ],
    },
    [
      { name: 'team', value: 'platform' },
      { name: 'tag', value: 'v2' },
      { name: 'given', value: { host: 'run host' } },
    ],
  )
  const e = await expand(obj, echo)
  t.strictSame(e.problems, [])
  t.strictSame(
    pipelineStepsOf(e, 0).map((s) => s.args),
    [['docker.io/platform/app:v2'], ['v2,stable'], ['docker.io:5000'], ['run host:$(params.given.port)']],
  )
})

t.test('PipelineRun: pipeline params without a value are left for Tekton to reject', async (t) => {
  const obj = pipelineRun({
    params: [
      { name: 'missing' },
      { name: 'uses-missing', default: '$(params.missing)-x' },
      { name: 'loop-a', default: '$(params.loop-b)' },
      { name: 'loop-b', default: '$(params.loop-a)' },
    ],
    tasks: [
      {
        name: 't',
        taskSpec: {
          steps: [
            { ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.missing)' }] },
            { ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.uses-missing)' }] },
            { ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.loop-a)' }] },
          ],
        },
      },
    ],
  })
  const e = await expand(obj, echo)
  t.strictSame(e.problems, [])
  t.strictSame(
    pipelineStepsOf(e, 0).map((s) => s.args),
    [['$(params.missing)'], ['$(params.uses-missing)'], ['$(params.loop-a)']],
  )
})

t.test('PipelineRun: values known only at run time stay references', async (t) => {
  const obj = pipelineRun({
    params: [{ name: 'ctx', default: '$(context.pipelineRun.name)' }],
    tasks: [
      {
        name: 'm',
        params: [{ name: 'commit', value: '$(tasks.clone.results.commit)' }],
        matrix: { params: [{ name: 'platform', value: ['linux', 'mac'] }], include: [{ name: 'extra', params: [{ name: 'flavor', value: 'x' }] }] },
        taskSpec: {
          params: [{ name: 'commit' }, { name: 'platform' }, { name: 'flavor', default: 'none' }],
          steps: [
            { name: 'a', ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.platform)' }] },
            { name: 'b', ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.flavor)' }] },
            { name: 'c', ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.commit)@$(params.ctx)' }] },
          ],
        },
      },
    ],
  })
  const e = await expand(obj, echo)
  t.strictSame(e.problems, [])
  t.strictSame(
    pipelineStepsOf(e, 0).map((s) => s.args),
    [['$(params.platform)'], ['$(params.flavor)'], ['$(params.commit)@$(params.ctx)']],
  )
  t.strictSame(e.warnings, [])
})

t.test('PipelineRun: arrays and objects known only at run time reach StepAction params as references', async (t) => {
  // Tekton expands the step when the TaskRun runs, with the task result in hand:
  // $(params.list[*]) becomes the result's elements. We cannot, so we must
  // leave references Tekton resolves to exactly that: $(params.f[*]), not the
  // StepAction-local $(params.list[*]), which nothing would ever fill in.
  const sa = stepAction('probe', {
    image: 'alpine',
    command: ['$(params.list[*])'],
    args: ['$(params.list)', '$(params.map.a)', '$(params.map.b)'],
    params: [
      { name: 'list', type: 'array', default: ['default'] },
      { name: 'map', type: 'object', properties: { a: {}, b: {} }, default: { a: 'default a', b: 'default b' } },
    ],
  })
  const obj = pipelineRun({
    tasks: [
      { name: 'produce', taskSpec: { results: [{ name: 'items', type: 'array' }], steps: [{ image: 'busybox' }] } },
      {
        name: 'consume',
        params: [
          { name: 'f', value: '$(tasks.produce.results.items[*])' },
          { name: 'o', value: '$(tasks.produce.results.obj[*])' },
        ],
        taskSpec: {
          // The task declares o's keys: Tekton guarantees them at run time.
          params: [
            { name: 'f', type: 'array' },
            { name: 'o', properties: { a: {}, b: {} } },
          ],
          steps: [
            {
              ref: { name: 'probe' },
              params: [
                { name: 'list', value: '$(params.f[*])' },
                { name: 'map', value: '$(params.o[*])' },
              ],
            },
          ],
        },
      },
    ],
  })
  const e = await expand(obj, sa)
  t.strictSame(e.problems, [], 'a run-time array is not a type mismatch with an array default')
  t.strictSame(pipelineStepsOf(e, 1), [
    {
      image: 'alpine',
      command: ['$(params.f[*])'],
      args: ['$(params.f[*])', '$(params.o.a)', '$(params.o.b)'],
    },
  ])
  // An element is another matter: how many the result has is known only then, and under a shorter value Tekton
  // keeps the default's element (or leaves the reference as written). Left for the TaskRun.
  const indexed = stepAction('probe', {
    image: 'alpine',
    args: ['first=$(params.list[0])'],
    params: [
      { name: 'list', type: 'array', default: ['default'] },
      { name: 'map', type: 'object', properties: { a: {}, b: {} }, default: { a: 'default a', b: 'default b' } },
    ],
  })
  const left = await expand(obj, indexed)
  t.strictSame(left.problems, [])
  t.match(left.warnings, [
    /^spec\.pipelineSpec\.tasks\[1\] \(task "consume"\): steps left for the TaskRun Tekton creates, expanded when it is admitted: step "": array param "list" gets \$\(params\.f\[\*\]\) only at run time, and the definition reads its element \[0\]/,
  ])
})

t.test('PipelineRun: a run-time value of the wrong declared type is still a type mismatch', async (t) => {
  // The task declares f a string: at run time the StepAction's array param gets a string, which Tekton rejects against the array default.
  const sa = stepAction('probe', { image: 'alpine', args: ['$(params.list[*])'], params: [{ name: 'list', type: 'array', default: ['d'] }] })
  const obj = pipelineRun({
    tasks: [
      {
        name: 'consume',
        params: [{ name: 'f', value: '$(tasks.produce.results.one)' }],
        taskSpec: { params: [{ name: 'f', type: 'string' }], steps: [{ ref: { name: 'probe' }, params: [{ name: 'list', value: '$(params.f)' }] }] },
      },
    ],
  })
  const e = await expand(obj, sa)
  t.equal(e.changed, false)
  t.match(e.problems, [{ message: 'invalid parameter substitution: list. Please check the types of the default value and the passed value' }])
})

t.test('PipelineRun: run-time object keys the task default provides are references too', async (t) => {
  const sa = stepAction('probe', {
    image: 'alpine',
    args: ['$(params.map.a)', '$(params.map.b)'],
    params: [{ name: 'map', type: 'object', properties: { a: {}, b: {}, c: {} }, default: { a: 'sa a', b: 'sa b' } }],
  })
  const obj = pipelineRun({
    tasks: [
      {
        name: 'consume',
        params: [{ name: 'o', value: '$(tasks.produce.results.obj[*])' }],
        taskSpec: {
          params: [{ name: 'o', properties: { a: {} }, default: { a: 'task a', b: 'task b' } }],
          steps: [{ ref: { name: 'probe' }, params: [{ name: 'map', value: '$(params.o[*])' }] }],
        },
      },
    ],
  })
  const e = await expand(obj, sa)
  t.strictSame(e.problems, [])
  // a: declared by the task; b: in the task default. c is declared by the StepAction but read by nothing.
  t.strictSame(pipelineStepsOf(e, 0)[0]?.args, ['$(params.o.a)', '$(params.o.b)'])
})

t.test('PipelineRun: a run-time object key the task does not promise leaves the task for its TaskRun', async (t) => {
  // Tekton merges the run-time object over the StepAction default key by key: a key the task param neither
  // declares nor defaults comes from the result if it holds one, else from the default, else stays as written.
  // Which, only the run knows: exact or hands-off.
  const probe = (read: string) =>
    stepAction('probe', {
      image: 'alpine',
      args: ['$(params.map.a)', `$(params.map.${read})`],
      params: [{ name: 'map', type: 'object', properties: { a: {}, method: {}, c: {} }, default: { method: 'POST' } }],
    })
  const obj = pipelineRun({
    tasks: [
      {
        name: 'consume',
        params: [{ name: 'o', value: '$(tasks.produce.results.obj[*])' }],
        taskSpec: {
          params: [{ name: 'o', properties: { a: {} } }],
          steps: [{ name: 'call', ref: { name: 'probe' }, params: [{ name: 'map', value: '$(params.o[*])' }] }],
        },
      },
    ],
  })
  for (const [read, why] of [
    ['method', 'a key the StepAction defaults'],
    ['c', 'a key with no default'],
  ] as const) {
    const e = await expand(obj, probe(read))
    t.equal(e.changed, false, why)
    t.strictSame(e.problems, [])
    t.strictSame(e.warnings, [
      `spec.pipelineSpec.tasks[0] (task "consume"): steps left for the TaskRun Tekton creates, expanded when it is admitted: step "call": object param "map" gets $(params.o) only at run time, and the definition reads key "${read}", which task param "o" does not declare`,
    ])
  }
})

t.test('PipelineRun: a step param that refers to a task result directly leaves its task for the TaskRun', async (t) => {
  const obj = pipelineRun({
    tasks: [{ name: 't', taskSpec: { steps: [{ ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(tasks.a.results.r)' }] }] } }],
  })
  const e = await expand(obj, echo)
  t.equal(e.changed, false, 'Tekton propagates the result into the param; the TaskRun it creates is expanded')
  t.same(e.warnings, [
    'spec.pipelineSpec.tasks[0] (task "t"): steps left for the TaskRun Tekton creates, expanded when it is admitted: a step param uses $(tasks.a.results.r), which Tekton fills in while the PipelineRun runs',
  ])
})

t.test('resolution', async (t) => {
  t.test('a definition that is not found: left for Tekton unless the catalog speaks for the cluster', async (t) => {
    const obj = taskRun({ steps: [{ name: 's', ref: { name: 'missing' } }] })
    const e = await expand(obj, echo)
    t.equal(e.changed, false)
    t.strictSame(e.problems, [], 'a directory is not all Tekton sees: not a denial')
    t.strictSame(e.warnings, [
      'spec.taskSpec.steps[0].ref (step "s"): left for Tekton to resolve: stepactions.tekton.dev "missing" not found in namespace "default"',
    ])
    const cluster = await expandWith(obj, clusterCatalogOf(echo))
    t.strictSame(
      cluster.problems,
      [{ path: 'spec.taskSpec.steps[0].ref', message: 'stepactions.tekton.dev "missing" not found in namespace "default"', step: 's' }],
      'the cluster lacks it, so Tekton would fail it too: denied now',
    )
    const required = await spliceObject(obj, 'default', { catalog: catalogOf(echo), requireResolution: new Set(['local']) })
    t.match(required.problems, [
      { path: 'spec.taskSpec.steps[0].ref', message: /not found in namespace "default"; local references must resolve at admission \(--require-resolution\)/ },
    ])
  })
  t.test('a remote reference the catalog does not answer is left for Tekton', async (t) => {
    const e = await expand(taskRun({ steps: [{ name: 's', ref: { resolver: 'git', params: [{ name: 'url', value: 'https://example.com/r.git' }] } }] }), echo)
    t.equal(e.changed, false)
    t.strictSame(e.problems, [])
    t.match(e.warnings, [/^spec\.taskSpec\.steps\[0\]\.ref \(step "s"\): left for Tekton to resolve: resolver "git" is not one test catalog answers/])
  })
  t.test('a definition with problems is reported with its validation errors', async (t) => {
    const broken = stepAction('broken', { args: ['$(params.nope)'] })
    const e = await expand(taskRun({ steps: [{ name: 's', ref: { name: 'broken' } }] }), broken)
    t.equal(e.changed, false)
    t.ok(e.problems.length >= 2)
    for (const p of e.problems)
      t.match(p, { path: 'spec.taskSpec.steps[0].ref', step: 's', definition: 'default/broken', message: /^StepAction is invalid: spec\./ })
    t.ok(
      e.problems.some((p) => /spec\.image/.test(p.message)),
      'the missing image',
    )
    t.ok(
      e.problems.some((p) => /spec\.args\[0\]: non-existent variable in "\$\(params\.nope\)"/.test(p.message)),
      'the undeclared param',
    )
  })
  t.test('namespaced definitions win over namespace-less ones, and stay in their namespace', async (t) => {
    const catalog = catalogOf(
      stepAction('echo', { image: 'shared' }),
      stepAction('echo', { image: 'team-a' }, { namespace: 'team-a' }),
      stepAction('only-b', { image: 'team-b' }, { namespace: 'team-b' }),
    )
    const inNamespace = (ns: string, name: string) => ({ ...taskRun({ steps: [{ ref: { name } }] }), metadata: { name: 'r', namespace: ns } })
    const a = await expandWith(inNamespace('team-a', 'echo'), catalog)
    t.equal(stepOf(a).image, 'team-a')
    t.equal(a.expanded[0]?.definition, 'team-a/echo')
    const other = await expandWith(inNamespace('other', 'echo'), catalog)
    t.equal(stepOf(other).image, 'shared')
    t.equal(other.expanded[0]?.definition, 'other/echo')
    const b = await expandWith(inNamespace('team-a', 'only-b'), catalog)
    t.match(b.warnings, [/left for Tekton to resolve: stepactions\.tekton\.dev "only-b" not found in namespace "team-a"/])
  })
  t.test('the namespace passed in is used for objects without one', async (t) => {
    const catalog = catalogOf(stepAction('echo', { image: 'team-a' }, { namespace: 'team-a' }))
    const obj = { ...taskRun({ steps: [{ ref: { name: 'echo' } }] }), metadata: { name: 'r' } }
    t.equal(stepOf(await expandWith(obj, catalog, 'team-a')).image, 'team-a')
    t.match((await expandWith(obj, catalog, 'default')).warnings, [/"echo" not found in namespace "default"/])
  })
  t.test('each distinct reference is resolved once', async (t) => {
    const seen: string[] = []
    const inner = catalogOf(echo)
    const counting: Catalog = {
      size: 1,
      resolve: async (ref) => {
        seen.push(ref.name ?? '')
        return inner.resolve(ref)
      },
    }
    await expandWith(taskRun({ steps: [{ ref: { name: 'echo' } }, { ref: { name: 'echo' } }, { ref: { name: 'missing' } }] }), counting)
    t.strictSame(seen.sort(), ['echo', 'missing'])
  })
  t.test('a catalog that throws is a problem, not a crash', async (t) => {
    const failing: Catalog = { size: 0, resolve: async () => Promise.reject(new Error('boom')) }
    const e = await expandWith(taskRun({ steps: [{ name: 's', ref: { name: 'echo' } }] }), failing)
    t.strictSame(e.problems, [{ path: 'spec.taskSpec.steps[0].ref', message: 'catalog failed: boom', step: 's' }])
  })
  t.test('a definition held twice by a memory catalog: the last one wins', async (t) => {
    const catalog = MemoryCatalog.of('test', [stepAction('echo', { image: 'first' }), stepAction('echo', { image: 'second' })])
    t.equal(stepOf(await expandWith(taskRun({ steps: [{ ref: { name: 'echo' } }] }), catalog)).image, 'second')
  })
})

t.test('a hand-edited provenance annotation with junk entries is cleaned, not a crash', async (t) => {
  const obj = taskRun({ steps: [{ name: 'a', ref: { name: 'echo' }, params: [{ name: 'msg', value: 'hi' }] }] })
  obj.metadata = { ...obj.metadata, annotations: { 'stepsplice.dev/resolved': '[null, 5, {"path": 3}, {"path": "spec.other", "step": "x"}]' } }
  const e = await expand(obj, echo)
  t.equal(e.problems.length, 0)
  const entries = JSON.parse(e.object.metadata?.annotations?.['stepsplice.dev/resolved'] ?? '[]') as { path: string }[]
  t.strictSame(
    entries.map((x) => x.path),
    ['spec.taskSpec.steps[0]'],
    'only what stepsplice computed: junk and unrecorded entries dropped',
  )
})

t.test('past writtenStepsBytes the steps as written are left out of the annotation, and the claims stay', async (t) => {
  const big = 'x'.repeat(limits.writtenStepsBytes)
  const e = await expand(taskRun({ steps: [{ name: 'e', ref: { name: 'echo' }, params: [{ name: 'msg', value: big }] }] }), echo)
  t.strictSame(e.problems, [])
  t.strictSame(
    (provenance(e.object) as Record<string, unknown>[]).map((p) => [p.path, p.written]),
    [['spec.taskSpec.steps[0]', undefined]],
  )
})
