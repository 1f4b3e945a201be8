// Admission-time shape checks of steps (Tekton's Step.Validate for ref steps,
// reference section 4): what may stand next to `ref`, what a ref must hold,
// and that every problem of one object is reported in one answer.

import t from 'tap'
import { clusterCatalogOf, expand, expandWith, pipelineRun, stepAction, stepOf, taskRun } from '../helpers/catalog.ts'

const sa = stepAction('sa', { image: 'alpine:3', command: ['echo'], args: ['hi'] })

/** A TaskRun whose only step references `sa` and carries `extra`. */
function refStep(extra: Record<string, unknown>) {
  return taskRun({ steps: [{ name: 's', ref: { name: 'sa' }, ...extra }] })
}

t.test('each field Tekton forbids next to ref is reported with its message and path', async (t) => {
  const cases: [string, unknown, string][] = [
    ['image', 'busybox', 'image cannot be used with Ref'],
    ['command', ['sh'], 'command cannot be used with Ref'],
    ['args', ['-c'], 'args cannot be used with Ref'],
    ['script', 'echo hi', 'script cannot be used with Ref'],
    ['workingDir', '/src', 'working dir cannot be used with Ref'],
    ['env', [{ name: 'A', value: 'b' }], 'env cannot be used with Ref'],
    ['env', [], 'env cannot be used with Ref'],
    ['volumeMounts', [{ name: 'v', mountPath: '/v' }], 'volumeMounts cannot be used with Ref'],
    ['results', [{ name: 'r' }], 'results cannot be used with Ref'],
  ]
  for (const [field, value, message] of cases) {
    const obj = refStep({ [field]: value })
    const e = await expand(obj, sa)
    t.equal(e.changed, false, `${field}: ${JSON.stringify(value)} is not expanded`)
    t.equal(e.object, obj, `${field}: the input comes back as is`)
    t.strictSame(e.problems, [{ path: `spec.taskSpec.steps[0].${field}`, message, step: 's' }], `${field}: ${JSON.stringify(value)}`)
  }
})

t.test('empty command, args, volumeMounts and results and blank strings are allowed next to ref', async (t) => {
  // Tekton checks these with len(...) > 0 or != "", unlike env, which it checks for nil.
  const e = await expand(refStep({ command: [], args: [], volumeMounts: [], results: [], image: '', script: '', workingDir: '' }), sa)
  t.strictSame(e.problems, [])
  t.equal(e.changed, true)
  const step = stepOf(e)
  t.equal(step.image, 'alpine:3')
  t.strictSame(step.command, ['echo'])
  t.strictSame(step.args, ['hi'])
})

t.test('env: null is not env: []', async (t) => {
  const e = await expand(refStep({ env: null }), sa)
  t.strictSame(e.problems, [])
  t.equal(e.changed, true)
})

t.test('params on a step without ref', async (t) => {
  const obj = taskRun({ steps: [{ name: 'inline', image: 'busybox', params: [{ name: 'a', value: 'b' }] }] })
  const e = await expand(obj)
  t.equal(e.changed, false)
  t.strictSame(e.problems, [{ path: 'spec.taskSpec.steps[0].params', message: 'params cannot be used without Ref', step: 'inline' }])

  const empty = await expand(taskRun({ steps: [{ name: 'inline', image: 'busybox', params: [] }] }))
  t.strictSame(empty.problems, [], 'params: [] is not a problem (Tekton checks len > 0)')
})

t.test('ref with neither name nor resolver', async (t) => {
  const e = await expand(refStep({ ref: {} }), sa)
  t.equal(e.changed, false)
  t.strictSame(e.problems, [{ path: 'spec.taskSpec.steps[0].ref.name', message: 'missing field(s): name', step: 's' }])
})

t.test('ref that is not an object', async (t) => {
  const e = await expand(refStep({ ref: 'sa' }), sa)
  t.equal(e.changed, false)
  t.equal(e.problems.length, 1)
  t.equal(e.problems[0]?.path, 'spec.taskSpec.steps[0].ref')
})

t.test('ref with name and params', async (t) => {
  const e = await expand(refStep({ ref: { name: 'sa', params: [] } }), sa)
  t.equal(e.changed, false)
  // Tekton: ErrMultipleOneOf(name, params), and params need a resolver (even params: []).
  t.strictSame(e.problems.map((p) => p.message).sort(), ['expected exactly one, got both: name, params', 'missing field(s): resolver'])
  t.ok(e.problems.every((p) => p.path.startsWith('spec.taskSpec.steps[0].ref') && p.step === 's'))
})

t.test('ref params named twice, in any letter case: refused as Tekton refuses them', async (t) => {
  const params = [
    { name: 'url', value: 'https://example.com/a.yaml' },
    { name: 'URL', value: 'https://example.com/b.yaml' },
  ]
  const e = await expand(refStep({ ref: { resolver: 'http', params } }), sa)
  t.equal(e.changed, false)
  t.strictSame(
    e.problems.map((p) => [p.path, p.message]),
    [['spec.taskSpec.steps[0].ref.params[URL].name', 'expected exactly one, got both']],
  )
})

t.test('ref params without resolver', async (t) => {
  for (const params of [[], [{ name: 'url', value: 'https://example.com/x.yaml' }]]) {
    const e = await expand(refStep({ ref: { params } }), sa)
    t.equal(e.changed, false)
    t.strictSame(e.problems, [{ path: 'spec.taskSpec.steps[0].ref.resolver', message: 'missing field(s): resolver', step: 's' }], JSON.stringify(params))
  }
})

t.test('resolver with a name that is not a URL', async (t) => {
  const e = await expand(refStep({ ref: { resolver: 'git', name: 'sa' } }), sa)
  t.equal(e.changed, false)
  t.strictSame(e.problems, [{ path: 'spec.taskSpec.steps[0].ref.name', message: 'invalid value: invalid URI for request: sa', step: 's' }])
})

t.test('a ref name that is not a qualified name', async (t) => {
  for (const name of ['_foo', 'foo_', 'a b', 'x/y/z', `${'a'.repeat(64)}`, '/x']) {
    const e = await expand(refStep({ ref: { name } }), sa)
    t.equal(e.changed, false, name)
    t.equal(e.problems.length, 1, name)
    t.equal(e.problems[0]?.path, 'spec.taskSpec.steps[0].ref.name', name)
    t.match(e.problems[0]?.message, /^invalid value: /, name)
  }
  for (const name of ['_foo', 'foo_', 'a b']) {
    const e = await expand(refStep({ ref: { name } }), sa)
    t.match(
      e.problems[0]?.message,
      /name part must consist of alphanumeric characters, '-', '_' or '\.', and must start and end with an alphanumeric character/,
      name,
    )
  }
})

t.test('qualified names Tekton accepts are looked up, not rejected', async (t) => {
  // Uppercase and dots pass IsQualifiedName (Tekton's own fixtures use `stepAction`).
  for (const name of ['stepAction', 'my.step', 'example.com/step']) {
    // Against the cluster's StepActions, where a missing name is definite.
    const e = await expandWith(refStep({ ref: { name } }), clusterCatalogOf(sa))
    t.equal(e.problems.length, 1, name)
    t.match(e.problems[0]?.message, /not found/, `${name} is well formed, only missing`)
  }
})

t.test('a step name that is not a DNS label', async (t) => {
  const e = await expand(taskRun({ steps: [{ name: 'Bad_Step', ref: { name: 'sa' } }] }), sa)
  t.equal(e.changed, false)
  t.equal(e.problems.length, 1)
  t.equal(e.problems[0]?.path, 'spec.taskSpec.steps[0].name')
  t.match(e.problems[0]?.message, /^invalid value "Bad_Step".*DNS Label/)
  t.equal(e.problems[0]?.step, 'Bad_Step')
})

t.test('a step param without a name', async (t) => {
  const e = await expand(refStep({ params: [{ value: 'x' }] }), sa)
  t.equal(e.changed, false)
  t.strictSame(e.problems, [{ path: 'spec.taskSpec.steps[0].params[0].name', message: 'missing field(s): name', step: 's' }])
})

t.test('a step whose shape is wrong is neither resolved nor expanded', async (t) => {
  // The reference to a missing definition is not reported: the step is rejected before lookup.
  const e = await expand(taskRun({ steps: [{ name: 's', ref: { name: 'missing' }, image: 'x' }] }), sa)
  t.strictSame(
    e.problems.map((p) => p.message),
    ['image cannot be used with Ref'],
  )
})

t.test('every problem of one object is reported together', async (t) => {
  const obj = taskRun({
    steps: [
      { name: 'one', ref: { name: 'sa' }, image: 'x', command: ['sh'], env: [] },
      { name: 'two', image: 'busybox', params: [{ name: 'p', value: 'v' }] },
      { name: 'Three', ref: {} },
      { name: 'four', ref: { name: 'missing' } },
      { name: 'five', ref: { name: 'sa' } },
    ],
  })
  const e = await expandWith(obj, clusterCatalogOf(sa))
  t.equal(e.changed, false)
  t.equal(e.object, obj)
  t.strictSame(
    e.problems.map((p) => [p.path, p.step]).sort(),
    [
      ['spec.taskSpec.steps[0].command', 'one'],
      ['spec.taskSpec.steps[0].env', 'one'],
      ['spec.taskSpec.steps[0].image', 'one'],
      ['spec.taskSpec.steps[1].params', 'two'],
      ['spec.taskSpec.steps[2].name', 'Three'],
      ['spec.taskSpec.steps[2].ref.name', 'Three'],
      ['spec.taskSpec.steps[3].ref', 'four'],
    ].sort(),
  )
  t.match(e.problems.find((p) => p.path === 'spec.taskSpec.steps[3].ref')?.message, /not found/)
  t.strictSame(e.expanded, [], 'the valid step is not expanded alone')
})

t.test('problems across the tasks of a PipelineRun are reported together', async (t) => {
  const obj = pipelineRun({
    tasks: [
      { name: 'a', taskSpec: { steps: [{ name: 's', ref: { name: 'sa' }, script: 'x' }] } },
      { name: 'b', taskSpec: { steps: [{ name: 's', ref: { name: 'sa' }, params: [{ name: 'nope', value: '1' }] }] } },
    ],
    finally: [{ name: 'c', taskSpec: { steps: [{ name: 's', ref: { name: 'sa' }, workingDir: '/w' }] } }],
  })
  const e = await expand(obj, sa)
  t.equal(e.changed, false)
  t.strictSame(e.problems.map((p) => `${p.path}: ${p.message}`).sort(), [
    'spec.pipelineSpec.finally[0].taskSpec.steps[0].workingDir: working dir cannot be used with Ref',
    'spec.pipelineSpec.tasks[0].taskSpec.steps[0].script: script cannot be used with Ref',
    'spec.pipelineSpec.tasks[1].taskSpec.steps[0].params: extra params passed by Step to StepAction: [nope]; the StepAction takes no params',
  ])
})
