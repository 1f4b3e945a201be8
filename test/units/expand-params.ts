// StepAction params (reference section 6): resolution order, reference
// forms, object merging, step-result references, and the errors Tekton's
// applyStepActionParameters and validateStepHasStepActionParameters give.
// Expected values follow Tekton's TestGetStepActionsData* cases where one
// exists, and its documented behaviour otherwise.

import t, { type Test } from 'tap'
import { applyList, applyString, ParamKeys, replacementsFromParams } from '../../src/variables/replacements.ts'
import { formatProblem, type Problem } from '../../src/problems/problem.ts'
import { expand, stepAction, stepOf, taskRun } from '../helpers/catalog.ts'

const probe = (params: unknown[], args: string[], extra: Record<string, unknown> = {}) =>
  stepAction('probe', { image: 'myimage', params: params as never, args, ...extra })

/** Expands one ref step to `probe` and returns its args. */
async function argsOf(
  t: Test,
  sa: ReturnType<typeof probe>,
  stepParams: unknown[] | undefined,
  taskSpecExtra: Record<string, unknown> = {},
  runParams?: unknown[],
): Promise<unknown> {
  const step: Record<string, unknown> = { ref: { name: 'probe' } }
  if (stepParams !== undefined) step.params = stepParams
  const e = await expand(taskRun({ ...taskSpecExtra, steps: [step] }, runParams), sa)
  t.strictSame(e.problems, [], 'no problems')
  return stepOf(e).args
}

async function problemsOf(sa: ReturnType<typeof probe>, step: Record<string, unknown>, taskSpecExtra: Record<string, unknown> = {}, runParams?: unknown[]) {
  const e = await expand(taskRun({ ...taskSpecExtra, steps: [{ ref: { name: 'probe' }, ...step }] }, runParams), sa)
  t.equal(e.changed, false)
  return e.problems
}

const threeParams = [
  { name: 'string-param', type: 'string' },
  { name: 'array-param', type: 'array' },
  { name: 'object-param', type: 'object', properties: { key: { type: 'string' } } },
]
const threeArgs = ['$(params.string-param)', '$(params.array-param[0])', '$(params.array-param[1])', '$(params.array-param[*])', '$(params.object-param.key)']
const passThrough = [
  { name: 'string-param', value: '$(params.stringparam)' },
  { name: 'array-param', value: '$(params.arrayparam[*])' },
  { name: 'object-param', value: '$(params.objectparam[*])' },
]

t.test("an empty object a TaskRun passes adds nothing to the task's params, as Tekton merges it member by member", async (t) => {
  // Tekton's getTaskParameters: a run's object value is copied key by key, so `{}` never makes `params.obj` a key.
  const passed = [{ name: 's', value: '$(params.obj[*])' }]
  t.strictSame(await argsOf(t, probe([{ name: 's' }], ['$(params.s)']), passed, {}, [{ name: 'obj', value: {} }]), ['$(params.obj[*])'])
  t.strictSame(await argsOf(t, probe([{ name: 's' }], ['$(params.s)']), passed, { params: [{ name: 'obj', type: 'object' }] }, [{ name: 'obj', value: {} }]), [
    '$(params.obj[*])',
  ])
  // With a default the key is there already: the empty value merges over it, changing nothing.
  const withDefault = { params: [{ name: 'obj', type: 'object', properties: { k: {} }, default: { k: 'd' } }] }
  t.strictSame(
    await argsOf(t, probe([{ name: 'o', type: 'object', properties: { k: {} } }], ['$(params.o.k)']), [{ name: 'o', value: '$(params.obj[*])' }], withDefault, [
      { name: 'obj', value: {} },
    ]),
    ['d'],
  )
})

t.test('task params reach the StepAction through step params', async (t) => {
  t.test('from TaskRun params (Tekton: params propagated from taskrun)', async (t) => {
    const args = await argsOf(t, probe(threeParams, threeArgs), passThrough, {}, [
      { name: 'stringparam', value: 'taskrun string param' },
      { name: 'arrayparam', value: ['taskrun', 'array', 'param'] },
      { name: 'objectparam', value: { key: 'taskrun object param' } },
    ])
    t.strictSame(args, ['taskrun string param', 'taskrun', 'array', 'taskrun', 'array', 'param', 'taskrun object param'])
  })
  t.test('from Task defaults (Tekton: params propagated from taskspec)', async (t) => {
    const params = [
      { name: 'stringparam', default: 'taskspec string param' },
      { name: 'arrayparam', default: ['taskspec', 'array', 'param'] },
      { name: 'objectparam', properties: { key: {} }, default: { key: 'taskspec object param' } },
    ]
    const args = await argsOf(t, probe(threeParams, threeArgs), passThrough, { params })
    t.strictSame(args, ['taskspec string param', 'taskspec', 'array', 'taskspec', 'array', 'param', 'taskspec object param'])
  })
  t.test('TaskRun values win over Task defaults', async (t) => {
    const args = await argsOf(
      t,
      probe([{ name: 'p' }], ['$(params.p)']),
      [{ name: 'p', value: '$(params.t)' }],
      { params: [{ name: 't', default: 'task default' }] },
      [{ name: 't', value: 'run value' }],
    )
    t.strictSame(args, ['run value'])
  })
  t.test('Task defaults that reference other Task params', async (t) => {
    const args = await argsOf(t, probe([{ name: 'p' }], ['$(params.p)']), [{ name: 'p', value: '$(params.b)' }], {
      params: [
        { name: 'a', default: 'A' },
        { name: 'b', default: '$(params.a)-b' },
      ],
    })
    t.strictSame(args, ['A-b'])
  })
  t.test('a step param value mixing text and references is string-substituted', async (t) => {
    const args = await argsOf(
      t,
      probe([{ name: 'p' }], ['$(params.p)']),
      [{ name: 'p', value: 'x-$(params.arr[1])-$(params.s)-$(params.obj.k)-$(params.unknown)' }],
      {},
      [
        { name: 'arr', value: ['a0', 'a1'] },
        { name: 's', value: 'S' },
        { name: 'obj', value: { k: 'K' } },
      ],
    )
    t.strictSame(args, ['x-a1-S-K-$(params.unknown)'])
  })
  t.test('array and object literals in step params are substituted too', async (t) => {
    const sa = probe(
      [
        { name: 'list', type: 'array' },
        { name: 'map', type: 'object', properties: { a: {}, b: {} } },
      ],
      ['$(params.list[*])', '$(params.map.a)', '$(params.map.b)'],
    )
    const args = await argsOf(
      t,
      sa,
      [
        { name: 'list', value: ['first', '$(params.arr[*])', '$(params.s)'] },
        { name: 'map', value: { a: '$(params.s)', b: 'literal' } },
      ],
      {},
      [
        { name: 'arr', value: ['x', 'y'] },
        { name: 's', value: 'S' },
      ],
    )
    t.strictSame(args, ['first', 'x', 'y', 'S', 'S', 'literal'])
  })
  t.test('a non-string scalar value is its JSON text', async (t) => {
    const args = await argsOf(t, probe([{ name: 'n' }, { name: 'b' }], ['$(params.n)', '$(params.b)']), [
      { name: 'n', value: 3 },
      { name: 'b', value: true },
    ])
    t.strictSame(args, ['3', 'true'])
  })
})

t.test('array params passed as $(params.x[*]) or $(params.x) become arrays', async (t) => {
  const sa = probe([{ name: 'flags', type: 'array' }], ['build', '$(params.flags[*])', '--', '$(params.flags)', '$(params.flags[2])'])
  for (const value of ['$(params.taskArray[*])', '$(params.taskArray)']) {
    const args = await argsOf(t, sa, [{ name: 'flags', value }], { params: [{ name: 'taskArray', type: 'array' }] }, [
      { name: 'taskArray', value: ['-a', '-b', '-c'] },
    ])
    t.strictSame(args, ['build', '-a', '-b', '-c', '--', '-a', '-b', '-c', '-c'], value)
  }
  const empty = await argsOf(t, sa, [{ name: 'flags', value: [] }])
  t.strictSame(empty, ['build', '--', '$(params.flags[2])'], 'an empty array removes whole-array elements; a missing index stays')
})

t.test('object params passed whole become objects; $(params.x) and $(params.x[*]) alike', async (t) => {
  const sa = probe([{ name: 'o', type: 'object', properties: { a: {}, b: {} } }], ['$(params.o.a)', '$(params.o.b)'])
  for (const value of ['$(params.cfg[*])', '$(params.cfg)']) {
    const args = await argsOf(t, sa, [{ name: 'o', value }], {}, [{ name: 'cfg', value: { a: 'A', b: 'B' } }])
    t.strictSame(args, ['A', 'B'], value)
  }
})

t.test('object params merge key by key: TaskRun, then Task default, then StepAction default', async (t) => {
  t.test('Tekton: params propagated partially from taskrun taskspec and stepaction', async (t) => {
    const sa = probe(
      [
        { name: 'string-param', type: 'string', default: 'step action string param' },
        { name: 'array-param', type: 'array', default: ['step action', 'array', 'param'] },
        {
          name: 'object-param',
          type: 'object',
          properties: { key: {}, key2: {}, key3: {} },
          default: { key: 'step action key1', key2: 'step action key2', key3: 'step action key3' },
        },
      ],
      [...threeArgs, '$(params.object-param.key2)', '$(params.object-param.key3)'],
    )
    const args = await argsOf(
      t,
      sa,
      passThrough,
      {
        params: [
          { name: 'arrayparam', default: ['taskspec', 'array', 'param'] },
          { name: 'objectparam', properties: { key: {}, key2: {} }, default: { key: 'key1', key2: 'taskspec key2' } },
        ],
      },
      [
        { name: 'stringparam', value: 'taskrun string param' },
        { name: 'objectparam', value: { key: 'taskrun key' } },
      ],
    )
    t.strictSame(args, ['taskrun string param', 'taskspec', 'array', 'taskspec', 'array', 'param', 'taskrun key', 'taskspec key2', 'step action key3'])
  })

  t.test("Tekton's example stepaction-params.yaml", async (t) => {
    const objectKeys = { key1: { type: 'string' }, key2: { type: 'string' }, key3: { type: 'string' } }
    const enumKeys = { v1: { type: 'string' }, v2: { type: 'string' }, v3: { type: 'string' } }
    const sa = stepAction('step-action', {
      params: [
        { name: 'string-param', default: 'a string param' },
        { name: 'array-param', type: 'array', default: ['an', 'array', 'param'] },
        {
          name: 'object-param',
          type: 'object',
          properties: objectKeys,
          default: { key1: 'step-action default key1', key2: 'step-action default key2', key3: 'step-action default key3' },
        },
        { name: 'enum-param', type: 'object', properties: enumKeys, default: { v1: 'enum1', v2: 'enum2', v3: 'enum3' } },
      ],
      env: [
        { name: 'arrayparam0', value: '$(params.array-param[0])' },
        { name: 'arrayparam1', value: '$(params.array-param[1])' },
        { name: 'arrayparam2', value: '$(params.array-param[2])' },
        { name: 'stringparam', value: '$(params.string-param)' },
        { name: 'objectparamkey1', value: '$(params.object-param.key1)' },
        { name: 'objectparamkey2', value: '$(params.object-param.key2)' },
        { name: 'objectparamkey3', value: '$(params.object-param.key3)' },
        { name: 'enumparamkey1', value: '$(params.enum-param.v1)' },
        { name: 'enumparamkey2', value: '$(params.enum-param.v2)' },
        { name: 'enumparamkey3', value: '$(params.enum-param.v3)' },
      ],
      image: 'ubuntu',
      script: '#!/bin/bash\necho "${arrayparam0}"\n',
    })
    const obj = taskRun(
      {
        params: [
          {
            name: 'objectparam',
            properties: { key1: { type: 'string' }, key2: { type: 'string' } },
            default: { key1: 'taskspec default key1', key2: 'taskspec default key2' },
          },
        ],
        steps: [
          {
            name: 'action-runner',
            ref: { name: 'step-action' },
            params: [
              { name: 'string-param', value: '$(params.stringparam)' },
              { name: 'array-param', value: '$(params.arrayparam[*])' },
              { name: 'object-param', value: '$(params.objectparam[*])' },
              { name: 'enum-param', value: '$(params.enumparam[*])' },
            ],
          },
        ],
      },
      [
        { name: 'stringparam', value: 'taskrun stringparam' },
        { name: 'arrayparam', value: ['taskrun', 'array', 'param'] },
        { name: 'objectparam', value: { key2: 'taskrun key2' } },
        { name: 'enumparam', value: 'enum1' },
      ],
    )
    const e = await expand(obj, sa)
    t.strictSame(e.problems, [])
    const env = stepOf(e).env as { name: string; value: string }[]
    // The example's own script checks for exactly these values.
    t.strictSame(
      env.map((v) => v.value),
      ['taskrun', 'array', 'param', 'taskrun stringparam', 'taskspec default key1', 'taskrun key2', 'step-action default key3', 'enum1', 'enum2', 'enum3'],
    )
  })

  t.test('a partial object literal keeps the other StepAction default keys', async (t) => {
    const sa = probe(
      [{ name: 'o', type: 'object', properties: { a: {}, b: {} }, default: { a: 'default a', b: 'default b' } }],
      ['$(params.o.a)', '$(params.o.b)'],
    )
    t.strictSame(await argsOf(t, sa, [{ name: 'o', value: { b: 'given b' } }]), ['default a', 'given b'])
  })
})

t.test('resolution order inside the StepAction', async (t) => {
  t.test('defaults (Tekton: params from step action defaults)', async (t) => {
    const sa = probe(
      [
        { name: 'string-param', type: 'string', default: 'step action string param' },
        { name: 'array-param', type: 'array', default: ['step action', 'array', 'param'] },
        { name: 'object-param', type: 'object', properties: { key: { type: 'string' } }, default: { key: 'step action object param' } },
      ],
      threeArgs,
    )
    t.strictSame(await argsOf(t, sa, undefined), [
      'step action string param',
      'step action',
      'array',
      'step action',
      'array',
      'param',
      'step action object param',
    ])
  })
  t.test('the step value wins over the default', async (t) => {
    const sa = probe(
      [
        { name: 'p', default: 'default' },
        { name: 'q', default: '$(params.p)!' },
      ],
      ['$(params.p)', '$(params.q)'],
    )
    t.strictSame(await argsOf(t, sa, [{ name: 'p', value: 'given' }]), ['given', 'given!'], 'a referencing default sees the step value')
    t.strictSame(await argsOf(t, sa, [{ name: 'q', value: 'own' }]), ['default', 'own'], 'a step value replaces a referencing default')
  })
  t.test('chained defaults (Tekton: chained parameter references in defaults)', async (t) => {
    const sa = probe(
      [
        { name: 'param1', type: 'string', default: 'hello' },
        { name: 'param2', type: 'string', default: '$(params.param1) world' },
        { name: 'param3', type: 'string', default: '$(params.param2)!' },
      ],
      ['$(params.param1)', '$(params.param2)', '$(params.param3)'],
    )
    t.strictSame(await argsOf(t, sa, undefined), ['hello', 'hello world', 'hello world!'])
  })
  t.test('chains declared in any order', async (t) => {
    const sa = probe(
      [{ name: 'c', default: '$(params.b)/c' }, { name: 'b', default: '$(params.a)/b' }, { name: 'a', default: '$(params.root)/a' }, { name: 'root' }],
      ['$(params.a)', '$(params.b)', '$(params.c)'],
    )
    t.strictSame(await argsOf(t, sa, [{ name: 'root', value: 'r' }]), ['r/a', 'r/a/b', 'r/a/b/c'])
  })
  t.test('a default with several references', async (t) => {
    const sa = probe(
      [{ name: 'host', default: 'example.com' }, { name: 'port' }, { name: 'url', default: 'https://$(params.host):$(params.port)/$(params.host)' }],
      ['$(params.url)'],
    )
    t.strictSame(await argsOf(t, sa, [{ name: 'port', value: '8443' }]), ['https://example.com:8443/example.com'])
  })
  t.test('a StepAction default referencing a Task param fails unless the step gives a value', async (t) => {
    const sa = probe([{ name: 'message', type: 'string', default: '$(params.task-param)' }], ['$(params.message)'])
    const task = { params: [{ name: 'task-param', type: 'string', default: 'task-default' }] }
    const run = [{ name: 'task-param', value: 'task-override' }]
    // Tekton: parameter substitution with task param reference.
    t.strictSame(await argsOf(t, sa, [{ name: 'message', value: 'override' }], task, run), ['override'])
    const problems = await problemsOf(sa, {}, task, run)
    t.strictSame(
      problems.map((p) => p.message),
      ['parameter "message" references non-existent parameter "task-param"'],
    )
  })
})

t.test('reference forms', async (t) => {
  const sa = probe(
    [
      { name: 'str', default: 'S' },
      { name: 'arr', type: 'array', default: ['a0', 'a1', 'a2'] },
      { name: 'obj', type: 'object', properties: { key: {}, other: {} }, default: { key: 'K', other: 'O' } },
    ],
    [
      '$(params.str)',
      '$(params["str"])',
      "$(params['str'])",
      '$(inputs.params.str)',
      '$(params.arr[1])',
      '$(params["arr"][2])',
      "$(params['arr'][0])",
      '$(params.obj.key)',
      '$(params.obj.other)',
      'mixed $(params.str)/$(params.arr[0])/$(params.obj.key) $(params["str"])',
      '$(params.arr[*])',
      '$(params["arr"][*])',
      "$(params['arr'])",
      '$(params.arr)',
    ],
  )
  t.strictSame(await argsOf(t, sa, undefined), [
    'S',
    'S',
    'S',
    'S',
    'a1',
    'a2',
    'a0',
    'K',
    'O',
    'mixed S/a0/K S',
    'a0',
    'a1',
    'a2',
    'a0',
    'a1',
    'a2',
    'a0',
    'a1',
    'a2',
    'a0',
    'a1',
    'a2',
  ])
})

t.test('a whole array expands only as an entire command/args element', async (t) => {
  // StepAction validation keeps other uses out of catalogs, so this checks the substitution itself.
  const r = replacementsFromParams([{ name: 'a', value: { type: 'array', array: ['x', 'y'] } }])
  t.strictSame(
    applyList(['$(params.a[*])', '$(params.a)', '$(params["a"][*])', 'pre-$(params.a[*])', '$(params.a[*]) $(params.a[*])', '$(params.a[1])$(params.a[0])'], r),
    ['x', 'y', 'x', 'y', 'x', 'y', 'pre-$(params.a[*])', '$(params.a[*]) $(params.a[*])', 'yx'],
  )
  t.equal(applyString('$(params.a)', r.strings), '$(params.a)', 'outside command/args a whole array is not a string')
})

t.test('whole arrays and objects in every substituted field', async (t) => {
  const sa = stepAction('probe', {
    image: 'img:$(params.arr[0])',
    command: ['$(params.arr[*])', 'x$(params.arr[1])'],
    env: [{ name: 'E', value: '$(params.arr[1])-$(params.obj.k)' }],
    workingDir: '/w/$(params.obj.k)',
    volumeMounts: [{ name: '$(params.obj.k)', mountPath: '/m/$(params.arr[0])' }],
    params: [
      { name: 'arr', type: 'array' },
      { name: 'obj', type: 'object', properties: { k: {} } },
    ],
  })
  const e = await expand(
    taskRun({
      steps: [
        {
          ref: { name: 'probe' },
          params: [
            { name: 'arr', value: ['one', 'two'] },
            { name: 'obj', value: { k: 'kay' } },
          ],
        },
      ],
    }),
    sa,
  )
  t.strictSame(e.problems, [])
  t.strictSame(stepOf(e), {
    image: 'img:one',
    command: ['one', 'two', 'xtwo'],
    env: [{ name: 'E', value: 'two-kay' }],
    workingDir: '/w/kay',
    volumeMounts: [{ name: 'kay', mountPath: '/m/one' }],
  })
})

t.test('substitution is a single pass', async (t) => {
  t.test('a step value that looks like a reference is not rescanned', async (t) => {
    const sa = probe([{ name: 'a' }, { name: 'b', default: 'B' }], ['$(params.a)', '$(params.b)'])
    t.strictSame(await argsOf(t, sa, [{ name: 'a', value: '$(params.b)' }]), ['$(params.b)', 'B'])
  })
  t.test('a Task value holding a reference is passed on as written', async (t) => {
    const sa = probe([{ name: 'a' }], ['$(params.a)'])
    const args = await argsOf(t, sa, [{ name: 'a', value: '$(params.x)' }], {}, [
      { name: 'x', value: '$(params.y)' },
      { name: 'y', value: 'Y' },
    ])
    t.strictSame(args, ['$(params.y)'])
  })
  t.test('a default holding a reference-looking value of another param is not resolved twice', async (t) => {
    const sa = probe([{ name: 'a', default: '$(params.b)' }, { name: 'b' }, { name: 'c', default: 'C' }], ['$(params.a)'])
    t.strictSame(await argsOf(t, sa, [{ name: 'b', value: '$(params.c)' }]), ['$(params.c)'])
  })
})

t.test('StepAction and Task param names are isolated', async (t) => {
  t.test('Tekton: params in step propagated to stepaction only', async (t) => {
    const sa = probe([{ name: 'stringparam', type: 'string' }], ['echo', '$(params.stringparam)'])
    const e = await expand(
      taskRun(
        {
          steps: [
            {
              ref: { name: 'probe' },
              params: [{ name: 'stringparam', value: 'step string param' }],
              onError: '$(params.stringparam)',
              stdoutConfig: { path: '$(params.stringparam)' },
              stderrConfig: { path: '$(params.stringparam)' },
            },
          ],
        },
        [{ name: 'stringparam', value: 'taskrun string param' }],
      ),
      sa,
    )
    t.strictSame(stepOf(e), {
      image: 'myimage',
      args: ['echo', 'step string param'],
      onError: '$(params.stringparam)',
      stdoutConfig: { path: '$(params.stringparam)' },
      stderrConfig: { path: '$(params.stringparam)' },
    })
  })
  t.test('a StepAction default is used even when the Task has a param of the same name', async (t) => {
    const sa = probe([{ name: 'shared', default: 'stepaction default' }], ['$(params.shared)'])
    const args = await argsOf(t, sa, undefined, { params: [{ name: 'shared', default: 'task default' }] }, [{ name: 'shared', value: 'run value' }])
    t.strictSame(args, ['stepaction default'])
  })
})

t.test('step-result references in step params', async (t) => {
  t.test('string (Tekton: step result reference in parameter)', async (t) => {
    const sa = probe([{ name: 'message', type: 'string' }], ['$(params.message)', 'pre-$(params["message"])'])
    t.strictSame(await argsOf(t, sa, [{ name: 'message', value: '$(steps.step1.results.output)' }]), [
      '$(steps.step1.results.output)',
      'pre-$(steps.step1.results.output)',
    ])
  })
  t.test('array (Tekton: step result reference with array type)', async (t) => {
    const sa = probe([{ name: 'items', type: 'array' }], ['$(params.items[*])', '$(params.items[0])'])
    t.strictSame(await argsOf(t, sa, [{ name: 'items', value: '$(steps.step1.results.items)' }]), [
      '$(steps.step1.results.items[*])',
      '$(steps.step1.results.items[0])',
    ])
  })
  t.test('object (Tekton: step result reference with object type)', async (t) => {
    const sa = probe(
      [{ name: 'config', type: 'object', properties: { key1: { type: 'string' }, key2: { type: 'string' } } }],
      ['$(params.config.key1)', '$(params.config.key2)'],
    )
    t.strictSame(await argsOf(t, sa, [{ name: 'config', value: '$(steps.step1.results.config)' }]), [
      '$(steps.step1.results.config.key1)',
      '$(steps.step1.results.config.key2)',
    ])
  })
  t.test('all three, in command, args and env (Tekton: propagating step result substitution strings)', async (t) => {
    // Tekton's fixture calls it stepAction, which is not a valid object name.
    const sa = stepAction('step-action', {
      image: 'myimage',
      args: ['$(params.string-param)', '$(params.array-param[0])', '$(params.array-param[1])', '$(params.array-param[*])', '$(params.object-param.key)'],
      command: ['$(params["string-param"])', '$(params["array-param"][0])'],
      env: [
        { name: 'env1', value: "$(params['array-param'][0])" },
        { name: 'env2', value: "$(params['string-param'])" },
      ],
      params: [
        { name: 'string-param', type: 'string' },
        { name: 'array-param', type: 'array' },
        { name: 'object-param', type: 'object', properties: { key: { type: 'string' } } },
      ],
    })
    const inline = {
      name: 'inlined-step',
      image: 'ubuntu',
      results: [{ name: 'result1' }, { name: 'result2', type: 'array' }, { name: 'result3', type: 'object' }],
    }
    const e = await expand(
      taskRun({
        steps: [
          inline,
          {
            ref: { name: 'step-action' },
            params: [
              { name: 'string-param', value: '$(steps.inlined-step.results.result1)' },
              { name: 'array-param', value: '$(steps.inlined-step.results.result2[*])' },
              { name: 'object-param', value: '$(steps.inlined-step.results.result3[*])' },
            ],
          },
        ],
      }),
      sa,
    )
    t.strictSame(e.problems, [])
    t.strictSame(stepOf(e, 0), inline)
    t.strictSame(stepOf(e, 1), {
      image: 'myimage',
      args: [
        '$(steps.inlined-step.results.result1)',
        '$(steps.inlined-step.results.result2[0])',
        '$(steps.inlined-step.results.result2[1])',
        '$(steps.inlined-step.results.result2[*])',
        '$(steps.inlined-step.results.result3.key)',
      ],
      command: ['$(steps.inlined-step.results.result1)', '$(steps.inlined-step.results.result2[0])'],
      env: [
        { name: 'env1', value: '$(steps.inlined-step.results.result2[0])' },
        { name: 'env2', value: '$(steps.inlined-step.results.result1)' },
      ],
    })
  })
  t.test('a step-result reference wins over a default (it is applied last)', async (t) => {
    const sa = probe([{ name: 'm', default: 'default' }], ['$(params.m)'])
    t.strictSame(await argsOf(t, sa, [{ name: 'm', value: '$(steps.a.results.b)' }]), ['$(steps.a.results.b)'])
  })
  t.test('a malformed step-result reference (Tekton: InvalidStepResultReference)', async (t) => {
    const sa = probe([{ name: 'param1', type: 'string' }], ['$(params.param1)'])
    const problems = await problemsOf(sa, { name: 'step1', params: [{ name: 'param1', value: '$(steps.invalid.step)' }] })
    t.equal(problems.length, 1)
    t.match(problems[0], {
      path: 'spec.taskSpec.steps[0].params[0].value',
      step: 'step1',
      definition: 'default/probe',
      message:
        /must be one of the form 1\)\. "steps\.<stepName>\.results\.<resultName>"; 2\)\. "steps\.<stepName>\.results\.<objectResultName>\.<individualAttribute>"/,
    })
    // Named at the value it is in: the second of the step's params here.
    const second = probe(
      [
        { name: 'a', type: 'string' },
        { name: 'b', type: 'string' },
      ],
      ['$(params.a)', '$(params.b)'],
    )
    const at = await problemsOf(second, {
      name: 'step1',
      params: [
        { name: 'a', value: '$(steps.fine.results.out)' },
        { name: 'b', value: '$(steps.build.outputs.x)' },
      ],
    })
    t.equal(at.length, 1)
    t.match(at[0], {
      path: 'spec.taskSpec.steps[0].params[1].value',
      message: /^invalid step result reference "\$\(steps\.build\.outputs\.x\)" in param "b": must be one of the form/,
    })
    // Shaped like a step result's but with six parts: Tekton's parser lists all four forms it knows.
    const long = await problemsOf(sa, { name: 'step1', params: [{ name: 'param1', value: '$(steps.a.results.b.c.d)' }] })
    t.match(long, [
      {
        message:
          'invalid step result reference "$(steps.a.results.b.c.d)" in param "param1": must be one of the form 1). "tasks.<taskName>.results.<resultName>"; 2). "tasks.<taskName>.results.<objectResultName>.<individualAttribute>"; 3). "steps.<stepName>.results.<resultName>"; 4). "steps.<stepName>.results.<objectResultName>.<individualAttribute>"',
      },
    ])
  })
})

t.test('errors', async (t) => {
  t.test('an unnamed step is named as such, its path saying which', async (t) => {
    const sa = probe([{ name: 'needed' }], ['$(params.needed)'], { securityContext: { runAsUser: 1000 } })
    const problems = await problemsOf(sa, { params: [{ name: 'x', value: '1' }] })
    t.equal(problems[0]?.step, '', 'the problem value keeps the name as written')
    t.match(
      formatProblem(problems[0] as Problem),
      /^spec\.taskSpec\.steps\[0\]\.params: extra params passed by Step to StepAction: \[x\].* \(the unnamed step, StepAction default\/probe\)$/,
    )
    const e = await expand(
      taskRun({ steps: [{ ref: { name: 'probe' }, params: [{ name: 'needed', value: 'v' }], securityContext: { runAsNonRoot: true } }] }),
      sa,
    )
    t.strictSame(e.problems, [])
    t.match(e.warnings, [/^spec\.taskSpec\.steps\[0\]: StepAction default\/probe replaces the securityContext of the unnamed step; lost: runAsNonRoot$/])
  })
  t.test('extra params are reported first, then missing ones (Tekton: params extra, params missing)', async (t) => {
    const sa = probe([{ name: 'needed' }], ['$(params.needed)'])
    const problems = await problemsOf(sa, {
      name: 'named',
      params: [
        { name: 'x', value: '1' },
        { name: 'y', value: '2' },
      ],
    })
    // `needed` is missing too: Tekton stops at the extra params; every problem of the step is said at once, in Tekton's order.
    t.strictSame(problems, [
      {
        path: 'spec.taskSpec.steps[0].params',
        message: 'extra params passed by Step to StepAction: [x y]; the StepAction takes needed',
        step: 'named',
        definition: 'default/probe',
      },
      {
        path: 'spec.taskSpec.steps[0].params',
        message: 'non-existent params in Step: [needed]; the StepAction requires needed: pass it in params',
        step: 'named',
        definition: 'default/probe',
      },
    ])
    const none = await problemsOf(probe([], ['a']), { params: [{ name: 'string-param', value: '$(params.stringparam)' }] })
    t.strictSame(
      none.map((p) => p.message),
      ['extra params passed by Step to StepAction: [string-param]; the StepAction takes no params'],
    )
  })
  t.test('an object value lacking keys the properties declare: run as Tekton runs it, the keys read said in a warning', async (t) => {
    // Tekton checks missing keys of a TaskRun's params against its Task, never of a step's params against the
    // StepAction (validateStepHasStepActionParameters: extra and missing params only), and runs the step.
    const sa = probe(
      [
        { name: 'endpoint', type: 'object', properties: { url: {}, token: {} } },
        { name: 'tls', type: 'object', properties: { ca: {}, verify: {} }, default: { verify: 'true' } },
      ],
      ['$(params.endpoint.url)', '$(params.tls.ca)', '$(params.tls.verify)'],
    )
    const call = (endpoint: Record<string, string>, tls: Record<string, string>) =>
      expand(
        taskRun({
          steps: [
            {
              name: 'call',
              ref: { name: 'probe' },
              params: [
                { name: 'endpoint', value: endpoint },
                { name: 'tls', value: tls },
              ],
            },
          ],
        }),
        sa,
      )
    const lacking = await call({ token: 't' }, { other: 'x' })
    t.same(lacking.problems, [], 'not refused')
    t.strictSame(stepOf(lacking).args, ['$(params.endpoint.url)', '$(params.tls.ca)', 'true'], 'a key nothing gives stays as written, as in Tekton')
    t.strictSame(lacking.warnings, [
      'spec.taskSpec.steps[0]: step "call" gives param "endpoint" no key "url", which StepAction default/probe declares and reads, and its default has none: $(params.endpoint.url) stays as written, as Tekton leaves it',
      'spec.taskSpec.steps[0]: step "call" gives param "tls" no key "ca", which StepAction default/probe declares and reads, and its default has none: $(params.tls.ca) stays as written, as Tekton leaves it',
    ])
    // token is lacking too, but nothing reads it: nothing to say.
    const unread = await call({ url: 'u' }, { ca: 'c' })
    t.same(unread.problems, [])
    t.same(unread.warnings, [])
    t.strictSame(stepOf(unread).args, ['u', 'c', 'true'])
  })
  t.test('missing required params (Tekton: params missing)', async (t) => {
    const sa = probe([{ name: 'a' }, { name: 'opt', default: 'o' }, { name: 'b', type: 'array' }], ['$(params.a)'])
    const problems = await problemsOf(sa, {})
    t.strictSame(problems, [
      {
        path: 'spec.taskSpec.steps[0].params',
        message: 'non-existent params in Step: [a b]; the StepAction requires a and b: pass them in params',
        step: '',
        definition: 'default/probe',
      },
    ])
  })
  t.test('type mismatch with a default (Tekton: param types not matching)', async (t) => {
    const sa = probe([{ name: 'commands', type: 'array', default: ['Hello, I am the default value'] }], ['$(params.commands)'], { script: 'echo $@' })
    const problems = await problemsOf(sa, { name: 'test', params: [{ name: 'commands', value: 'Hello, I am of type string' }] })
    t.strictSame(
      problems.map((p) => p.message),
      ['invalid parameter substitution: commands. Please check the types of the default value and the passed value'],
    )
    // Tekton names the param by its first key in sorted order, cut to the name only when that is all word characters.
    const dashed = probe([{ name: 'my-commands', type: 'array', default: ['d'] }], ['$(params.my-commands)'])
    t.strictSame(
      (await problemsOf(dashed, { params: [{ name: 'my-commands', value: 's' }] })).map((p) => p.message),
      ['invalid parameter substitution: inputs.params.my-commands. Please check the types of the default value and the passed value'],
    )
    const reverse = probe([{ name: 'flag', default: 'one' }], ['$(params.flag)'])
    const problems2 = await problemsOf(reverse, { params: [{ name: 'flag', value: ['a', 'b'] }] })
    t.strictSame(
      problems2.map((p) => p.message),
      ['invalid parameter substitution: flag. Please check the types of the default value and the passed value'],
    )
  })
  t.test('matching types with a default (Tekton: param types are matching)', async (t) => {
    const sa = probe([{ name: 'commands', type: 'array', default: ['Hello, I am the default value'] }], ['$(params.commands)'], { script: 'echo $@' })
    const e = await expand(
      taskRun({ steps: [{ name: 'test', ref: { name: 'probe' }, params: [{ name: 'commands', value: ['Hello, I am of type list'] }] }] }),
      sa,
    )
    t.strictSame(stepOf(e), { name: 'test', image: 'myimage', args: ['Hello, I am of type list'], script: 'echo $@' })
  })
  t.test('an unresolved reference in a TaskRun is a string, so a type mismatch with a default', async (t) => {
    // Only values known to be decided at run time (PipelineRun task results, matrix) are passed on as references.
    const sa = probe([{ name: 'list', type: 'array', default: ['d'] }], ['$(params.list[*])'])
    const problems = await problemsOf(sa, { params: [{ name: 'list', value: '$(params.nothere[*])' }] })
    t.strictSame(
      problems.map((p) => p.message),
      ['invalid parameter substitution: list. Please check the types of the default value and the passed value'],
    )
  })
  t.test('a mismatched type without a default is accepted, as in Tekton', async (t) => {
    const sa = probe([{ name: 'list', type: 'array' }], ['$(params.list[*])', '$(params.list)'])
    t.strictSame(await argsOf(t, sa, [{ name: 'list', value: 'just a string' }]), ['$(params.list[*])', 'just a string'])
  })
  t.test('a default referencing an undeclared param (Tekton: unresolvable parameter reference)', async (t) => {
    const sa = probe([{ name: 'param1', type: 'string', default: '$(params.nonexistent)' }], ['$(params.param1)'])
    const problems = await problemsOf(sa, {})
    t.strictSame(
      problems.map((p) => p.message),
      ['parameter "param1" references non-existent parameter "nonexistent"'],
    )
  })
  t.test('circular defaults (Tekton: circular dependency in params)', async (t) => {
    const sa = probe(
      [
        { name: 'param1', type: 'string', default: '$(params.param3)' },
        { name: 'param2', type: 'string', default: '$(params.param1)' },
        { name: 'param3', type: 'string', default: '$(params.param2)' },
      ],
      ['$(params.param1)', '$(params.param2)', '$(params.param3)'],
    )
    const problems = await problemsOf(sa, {})
    t.equal(problems.length, 1)
    t.match(problems[0]?.message, /^circular dependency detected in parameter references/)
    const self = await problemsOf(probe([{ name: 'me', default: 'x$(params.me)' }], ['$(params.me)']), {})
    t.match(
      self.map((p) => p.message),
      [/^circular dependency detected in parameter references/],
    )
    t.strictSame(await argsOf(t, sa, [{ name: 'param1', value: 'cut' }]), ['cut', 'cut', 'cut'], 'a step value breaks the cycle')
    // Tekton judges a stuck default by the first reference it cannot resolve: here a cycle, though a later one is undeclared.
    const both = probe(
      [
        { name: 'p', default: '$(params.q)$(params.zzz)' },
        { name: 'q', default: '$(params.p)' },
      ],
      ['$(params.p)'],
    )
    t.match(
      (await problemsOf(both, {})).map((p) => p.message),
      [/^circular dependency detected in parameter references/],
    )
    const undeclaredFirst = probe(
      [
        { name: 'p', default: '$(params.zzz)$(params.q)' },
        { name: 'q', default: '$(params.p)' },
      ],
      ['$(params.p)'],
    )
    t.strictSame(
      (await problemsOf(undeclaredFirst, {})).map((p) => p.message),
      ['parameter "p" references non-existent parameter "zzz"'],
    )
  })
  t.test('errors name the step and the definition', async (t) => {
    const sa = probe([{ name: 'a' }], ['$(params.a)'])
    const e = await expand(
      taskRun({
        steps: [
          { name: 'first', image: 'x' },
          { name: 'second', ref: { name: 'probe' } },
        ],
      }),
      sa,
    )
    t.strictSame(e.problems, [
      {
        path: 'spec.taskSpec.steps[1].params',
        message: 'non-existent params in Step: [a]; the StepAction requires a: pass it in params',
        step: 'second',
        definition: 'default/probe',
      },
    ])
  })
})

t.test('what is left for Tekton', async (t) => {
  const sa = stepAction('later', {
    image: 'alpine',
    workingDir: '$(workspaces.src.path)',
    args: ['$(context.taskRun.name)', '$(context.task.retry-count)', '$(params.p)', '$(step.results.out.path)', '$(steps.other.results.x)'],
    env: [{ name: 'W', value: '$(workspaces.src.bound)' }],
    params: [{ name: 'p', default: 'P' }],
    results: [{ name: 'out' }],
  })
  const e = await expand(
    taskRun({ params: [{ name: 'x' }], steps: [{ name: 'later', ref: { name: 'later' }, onError: '$(params.x)', timeout: '$(params.x)' }] }, [
      { name: 'x', value: 'continue' },
    ]),
    sa,
  )
  t.strictSame(e.problems, [])
  t.strictSame(stepOf(e), {
    name: 'later',
    image: 'alpine',
    workingDir: '$(workspaces.src.path)',
    args: ['$(context.taskRun.name)', '$(context.task.retry-count)', 'P', '$(step.results.out.path)', '$(steps.other.results.x)'],
    env: [{ name: 'W', value: '$(workspaces.src.bound)' }],
    results: [{ name: 'out', type: 'string' }],
    // The step's own fields get Task params from Tekton later, not from us.
    onError: '$(params.x)',
    timeout: '$(params.x)',
  })
})

t.test('an unknown param names the nearest declared ones', async (t) => {
  const sa = probe([{ name: 'revision', default: 'main' }, { name: 'url' }, { name: 'depth', default: '1' }], ['$(params.url)'])
  const problems = await problemsOf(sa, {
    name: 'clone',
    params: [
      { name: 'url', value: 'u' },
      { name: 'revison', value: 'v1' },
    ],
  })
  t.strictSame(
    problems.map((p) => p.message),
    ['extra params passed by Step to StepAction: [revison]; revison: did you mean revision?; the StepAction takes revision, url and depth'],
  )
})

t.test('a param’s keys: the same strings for what the definition declares, built for anything else', async (t) => {
  const keys = new ParamKeys('target', ['os', 'arch'])
  t.same(keys.spellings, ['params.target', 'params["target"]', "params['target']", 'inputs.params.target'])
  t.equal(keys.member('os'), 'params.target.os')
  t.equal(keys.member('os'), keys.member('os'), 'a declared member is one string, kept')
  t.equal(keys.member('undeclared'), 'params.target.undeclared', 'a key a request brings is built, not kept')
  for (const i of [0, 1, 7, 8, 500]) {
    t.same(keys.indexed(i), [`params.target[${i}]`, `params["target"][${i}]`, `params['target'][${i}]`, `inputs.params.target[${i}]`], `index ${i}`)
  }
  t.equal(keys.indexed(1), keys.indexed(1), 'an early index of a short name is kept (they are kept in order, from 0)')
})
