// StepAction param and result declarations: defaulting (reference section 2),
// the declaration rules of admission (section 3), the v1alpha1-only checks of
// defaults that reference other params, and what Tekton deliberately does not
// check.

import t from 'tap'
import { validateStepAction } from '../../src/definitions/definition.ts'
import { defaultParamSpec, defaultStepActionSpec, defaultStepResult } from '../../src/definitions/defaults.ts'
import type { Problem } from '../../src/problems/problem.ts'
import type { ParamSpec, StepActionSpec } from '../../src/types/tekton.ts'
import { resolveStepActionParams } from '../../src/steps/params.ts'
import { parseParamValue } from '../../src/variables/param-value.ts'
import { applyLayers, replacementsFromParams } from '../../src/variables/replacements.ts'

const V1BETA1 = 'tekton.dev/v1beta1'
const V1ALPHA1 = 'tekton.dev/v1alpha1'

function check(spec: StepActionSpec, apiVersion = V1BETA1): Problem[] {
  return validateStepAction({ apiVersion, kind: 'StepAction', metadata: { name: 'sa' }, spec })
}

function params(...ps: ParamSpec[]): StepActionSpec {
  return { image: 'alpine', params: ps }
}

t.test('param type inference (section 2)', (t) => {
  const typeOf = (p: ParamSpec): unknown => defaultParamSpec(p).type
  t.equal(typeOf({ name: 'p', type: 'array', default: 'x' }), 'array', 'an explicit type is kept, even against the default')
  t.equal(typeOf({ name: 'p', type: 'nonsense' }), 'nonsense', 'an explicit unknown type is kept for validation to reject')
  t.equal(typeOf({ name: 'p', properties: { k: {} }, default: ['a'] }), 'object', 'properties win over the default')
  t.equal(typeOf({ name: 'p', properties: {} }), 'object', 'empty properties are still properties')
  t.equal(typeOf({ name: 'p' }), 'string', 'no default')
  t.equal(typeOf({ name: 'p', default: 'x' }), 'string', 'string default')
  t.equal(typeOf({ name: 'p', default: ['a', 'b'] }), 'array', 'list default')
  t.equal(typeOf({ name: 'p', default: [] }), 'array', 'empty list default')
  t.equal(typeOf({ name: 'p', default: { k: 'v' } }), 'object', 'map default')
  t.equal(typeOf({ name: 'p', default: 3 }), 'string', 'a number decodes as a string')
  t.equal(typeOf({ name: 'p', default: [1, 2] }), 'string', 'a list of numbers decodes as a string')
  t.equal(typeOf({ name: 'p', default: { k: 1 } }), 'string', 'a map of numbers decodes as a string')
  t.equal(typeOf({ name: 'p', type: '', default: ['a'] }), 'array', 'an empty type is unset')
  t.end()
})

t.test('a null default is no default (Go decodes null into a nil *ParamValue)', (t) => {
  const d = defaultParamSpec({ name: 'p', type: 'array', default: null })
  t.equal(d.type, 'array')
  t.notOk('default' in d, 'the default is gone')
  t.equal(defaultParamSpec({ name: 'p', default: null }).type, 'string')
  t.strictSame(check(params({ name: 'p', type: 'array', default: null })), [], 'no type mismatch')
  t.strictSame(check(params({ name: 'p', type: 'object', properties: { k: {} }, default: null })), [], 'object')
  t.end()
})

t.test('property and result defaulting (section 2)', (t) => {
  t.strictSame(
    defaultParamSpec({ name: 'p', properties: { a: {}, b: { type: 'string' }, c: { type: 'array' }, d: { type: '' } } }).properties,
    { a: { type: 'string' }, b: { type: 'string' }, c: { type: 'array' }, d: { type: 'string' } },
    'unset property types become string, set ones are kept',
  )
  t.strictSame(defaultParamSpec({ name: 'p', type: 'object', properties: { a: {} } }).properties, { a: { type: 'string' } }, 'also with an explicit type')
  t.strictSame(defaultStepResult({ name: 'r' }), { name: 'r', type: 'string' }, 'unset result type is string')
  t.strictSame(
    defaultStepResult({ name: 'r', properties: { a: {} } }),
    { name: 'r', type: 'object', properties: { a: { type: 'string' } } },
    'properties make an object',
  )
  t.strictSame(defaultStepResult({ name: 'r', type: 'array' }), { name: 'r', type: 'array' }, 'an explicit type is kept')
  t.strictSame(defaultStepResult({ name: 'r', type: '' }), { name: 'r', type: 'string' }, 'an empty type is unset')

  const spec: StepActionSpec = {
    image: 'alpine',
    workingDir: '/w',
    params: [{ name: 'p', properties: { a: {} } }],
    results: [{ name: 'r' }],
  }
  const before = JSON.stringify(spec)
  const defaulted = defaultStepActionSpec(spec)
  t.equal(JSON.stringify(spec), before, 'the input is not changed')
  t.strictSame(
    defaulted,
    {
      image: 'alpine',
      workingDir: '/w',
      params: [{ name: 'p', type: 'object', properties: { a: { type: 'string' } } }],
      results: [{ name: 'r', type: 'string' }],
    },
    'only params and results are defaulted',
  )
  t.end()
})

t.test('string and array param name format (section 3)', (t) => {
  t.strictSame(check(params({ name: 'a' }, { name: '_a' }, { name: 'A.b-c_9' }, { name: 'l', default: ['x'] })), [], 'valid names')
  t.strictSame(
    check(params({ name: 'ok' }, { name: '9b' }, { name: '-a', type: 'array' }, { name: '1a' }, { name: 'a b' }, { name: '9b' })),
    [
      { path: 'spec.params[5].name', message: 'parameter appears more than once: "9b"' },
      { path: 'spec.params', message: 'The format of following array and string variable names is invalid: [-a 1a 9b a b]' },
    ],
    'sorted, each name once',
  )
  t.strictSame(
    check(params({ name: 'a$', type: 'integer' })),
    [
      { path: 'spec.params[0].type', message: 'invalid value: integer' },
      { path: 'spec.params', message: 'The format of following array and string variable names is invalid: [a$]' },
    ],
    'a param of unknown type is checked as a string param',
  )
  t.end()
})

t.test('object param name and key format (section 3)', (t) => {
  t.strictSame(check(params({ name: '_o-1', properties: { 'k-1': {}, _k: {} } })), [], 'valid')
  t.strictSame(
    check(params({ name: 'a.b', properties: { k: {} } })),
    [{ path: 'spec.params', message: 'Object param name and key name format is invalid: map[a.b:[]]' }],
    'dots are allowed in string names but not in object names',
  )
  t.strictSame(
    check(params({ name: 'o', properties: { 'k.2': {}, good: {}, '1k': {} } })),
    [{ path: 'spec.params', message: 'Object param name and key name format is invalid: map[o:[1k k.2]]' }],
    'bad keys',
  )
  // Go prints a map sorted by key: "x" before "x-y", although "x-y:" < "x:".
  t.strictSame(
    check(params({ name: 'x-y', properties: { 'a.b': {} } }, { name: 'x', properties: { 'c.d': {} } }, { name: '9z', properties: { 'e.f': {} } })),
    [{ path: 'spec.params', message: 'Object param name and key name format is invalid: map[9z:[e.f] x:[c.d] x-y:[a.b]]' }],
    'several objects, sorted by name',
  )
  t.strictSame(check(params({ name: 'a.b', default: 'x' }, { name: 'l.m', default: ['x'] })), [], 'the same dotted names are fine for strings and arrays')
  t.end()
})

t.test('duplicate param names (section 3)', (t) => {
  t.strictSame(check(params({ name: 'a' }, { name: 'b' }, { name: 'a', type: 'array' })), [
    { path: 'spec.params[2].name', message: 'parameter appears more than once: "a"' },
  ])
  t.strictSame(
    check(params({ name: 'a' }, { name: 'a' }, { name: 'a' })),
    [
      { path: 'spec.params[1].name', message: 'parameter appears more than once: "a"' },
      { path: 'spec.params[2].name', message: 'parameter appears more than once: "a"' },
    ],
    'every repeat',
  )
  t.end()
})

t.test('param types and defaults (section 3)', (t) => {
  t.strictSame(check(params({ name: 'p', type: 'integer' })), [{ path: 'spec.params[0].type', message: 'invalid value: integer' }], 'unknown type')
  t.strictSame(check(params({ name: 'p', type: 'String' })), [{ path: 'spec.params[0].type', message: 'invalid value: String' }], 'types are case-sensitive')
  t.strictSame(
    check(params({ name: 'p', type: 'integer', default: ['a'], properties: { k: { type: 'array' } } })),
    [{ path: 'spec.params[0].type', message: 'invalid value: integer' }],
    'an unknown type hides the other type problems',
  )
  const mismatch = (i: number, type: string, dtype: string): Problem => ({
    path: `spec.params[${i}].default`,
    message: `"${type}" type does not match default value's type: "${dtype}"`,
  })
  t.strictSame(check(params({ name: 'p', type: 'string', default: ['a'] })), [mismatch(0, 'string', 'array')], 'string with a list')
  t.strictSame(check(params({ name: 'p', type: 'string', default: { k: 'v' } })), [mismatch(0, 'string', 'object')], 'string with a map')
  t.strictSame(check(params({ name: 'x' }, { name: 'p', type: 'array', default: 'a' })), [mismatch(1, 'array', 'string')], 'array with a string')
  t.strictSame(check(params({ name: 'p', type: 'array', default: [1, 2] })), [mismatch(0, 'array', 'string')], 'array with a list of numbers')
  t.strictSame(check(params({ name: 'p', type: 'array', default: { k: 'v' } })), [mismatch(0, 'array', 'object')], 'array with a map')
  t.strictSame(check(params({ name: 'p', type: 'object', properties: { k: {} }, default: 'x' })), [mismatch(0, 'object', 'string')], 'object with a string')
  t.strictSame(
    check(params({ name: 'p', properties: { k: {} }, default: ['a'] })),
    [mismatch(0, 'object', 'array')],
    'properties make an object, whatever the default',
  )
  t.strictSame(
    check(params({ name: 'p', type: 'object', default: ['a'], properties: { k: { type: 'array' } } })),
    [mismatch(0, 'object', 'array')],
    'a mismatch hides property problems',
  )
  t.strictSame(check(params({ name: 'p', type: 'string', default: 3 }, { name: 'q', type: 'string', default: true })), [], 'scalars decode as strings')
  t.strictSame(check(params({ name: 'p', type: 'array', default: [] }, { name: 'q', type: 'object', properties: {}, default: {} })), [], 'empty list and map')
  t.end()
})

t.test('object params need string-typed properties (section 3)', (t) => {
  t.strictSame(check(params({ name: 'o', type: 'object' })), [{ path: 'spec.params[0]', message: 'missing field(s): o.properties' }], 'explicit object')
  t.strictSame(
    check(params({ name: 's' }, { name: 'o', default: { k: 'v' } })),
    [{ path: 'spec.params[1]', message: 'missing field(s): o.properties' }],
    'a map default infers an object, which still needs properties',
  )
  t.strictSame(check(params({ name: 'o', type: 'object', properties: {} })), [], 'empty properties are enough')
  t.strictSame(
    check(params({ name: 'o', properties: { a: { type: 'array' }, b: {}, c: { type: 'object' }, d: { type: 'string' } } })),
    [{ path: 'spec.params[0].properties', message: 'The value type specified for these keys [a c] is invalid' }],
    'non-string property types',
  )
  t.strictSame(
    check(params({ name: 's', type: 'string', properties: { a: { type: 'array' } } })),
    [{ path: 'spec.params[0].properties', message: 'The value type specified for these keys [a] is invalid' }],
    'Tekton checks property types whatever the param type',
  )
  t.end()
})

t.test('v1alpha1 checks references in defaults (section 3)', (t) => {
  const undef = (p: string, q: string): Problem => ({ path: 'spec.params', message: `param "${p}" default value references param "${q}" which is not defined` })
  const circular = (p: string): Problem => ({ path: 'spec.params', message: `param "${p}" default value has a circular dependency` })

  const cases: [string, ParamSpec[], Problem[]][] = [
    ['undefined reference', [{ name: 'p2', default: '$(params.p1)' }], [undef('p2', 'p1')]],
    ['every undefined reference', [{ name: 'p', default: '$(params.a)-$(params.b)' }], [undef('p', 'a'), undef('p', 'b')]],
    ['self reference', [{ name: 'p', default: 'x$(params.p)' }], [circular('p')]],
    [
      'cycle',
      [
        { name: 'a', default: '$(params.b)' },
        { name: 'b', default: '$(params.a)' },
        { name: 'c', default: 'c' },
      ],
      [circular('a'), circular('b')],
    ],
    [
      'depending on a cycle',
      [
        { name: 'a', default: '$(params.a)' },
        { name: 'd', default: '$(params.a)' },
      ],
      [circular('a'), circular('d')],
    ],
    // A param whose default has an undefined reference never resolves, so Tekton
    // calls the params depending on it circular too.
    [
      'depending on an undefined reference',
      [
        { name: 'a', default: '$(params.nope)' },
        { name: 'b', default: '$(params.a)' },
      ],
      [undef('a', 'nope'), circular('b')],
    ],
    // Only the dot form is trimmed to a name; Tekton reports the rest verbatim.
    [
      'bracket form',
      [{ name: 'p1' }, { name: 'p2', default: '$(params["p1"])' }],
      [{ path: 'spec.params', message: 'param "p2" default value references param "$(params[\\"p1\\"]" which is not defined' }],
    ],
    [
      'index form',
      [
        { name: 'arr', type: 'array' },
        { name: 'p', default: '$(params.arr[0])' },
      ],
      [undef('p', 'arr[0]')],
    ],
  ]
  for (const [name, ps, expected] of cases) {
    t.strictSame(check(params(...ps), V1ALPHA1), expected, `v1alpha1: ${name}`)
    t.strictSame(check(params(...ps), V1BETA1), [], `v1beta1 does not check: ${name}`)
  }

  t.strictSame(
    check(
      params({ name: 'c', default: '$(params.b)/$(params.a)' }, { name: 'b', default: '$(params.a)-b' }, { name: 'a', default: 'a' }, { name: 'n' }),
      V1ALPHA1,
    ),
    [],
    'a chain resolves in any declaration order, and a param without a default counts as resolved',
  )
  t.strictSame(
    check(params({ name: 'l', default: ['$(params.nope)'] }, { name: 'o', properties: { k: {} }, default: { k: '$(params.nope)' } }), V1ALPHA1),
    [],
    'only string defaults are inspected',
  )
  t.end()
})

t.test('what StepAction validation does not check passes (section 3)', (t) => {
  t.strictSame(
    check({
      image: 'alpine',
      workingDir: '$(params.nope)/$(params.arr)',
      securityContext: { runAsUser: '$(params.nope)', capabilities: { add: ['$(params.obj)'] } },
      env: [
        { name: '$(params.nope)', value: 'x' },
        { name: 'FROM', valueFrom: { secretKeyRef: { name: '$(params.nope)', key: '$(params.obj)' } } },
      ],
      params: [
        { name: 'e', enum: ['a', 'b'], default: 'c' },
        { name: 'arr', type: 'array', enum: ['a'] },
        { name: 'obj', properties: { k: {} } },
      ],
      results: [{ name: 'r', description: '$(params.nope)' }],
      volumeMounts: [{ name: '$(params.e)', mountPath: '/tekton/internal/$(params.nope)' }],
    }),
    [],
    'workingDir, securityContext, env names and valueFrom, enum, mountPath',
  )
  t.strictSame(
    check({
      image: 'alpine',
      args: ['$(workspaces.src.path)', '$(context.taskRun.name)', '$(steps.build.results.digest)', '$(inputs.params.x)'],
      script: 'cat $(workspaces.src.path)/$(context.task.name)',
    }),
    [],
    'only the params prefix is scanned',
  )
  t.end()
})

t.test('values are typed as Tekton decodes them', async (t) => {
  t.strictSame(parseParamValue('x'), { type: 'string', string: 'x' })
  t.strictSame(parseParamValue(null), { type: 'string', string: '' })
  t.strictSame(parseParamValue(['a', null]), { type: 'array', array: ['a', ''] }, "a null element is Go's empty string")
  t.strictSame(parseParamValue({ k: 'v', n: null }), { type: 'object', object: { k: 'v', n: '' } })
  t.strictSame(parseParamValue(['a', 1]), { type: 'string', string: '["a",1]' }, 'a list with a number is its JSON text')
  t.strictSame(parseParamValue({ k: { deep: 'x' } }), { type: 'string', string: '{"k":{"deep":"x"}}' })
  t.strictSame(parseParamValue(3), { type: 'string', string: '3' })
  const own = JSON.parse('{"__proto__": "member", "k": "v"}') as unknown
  const parsed = parseParamValue(own)
  t.equal(parsed.type, 'object')
  t.strictSame(parsed.type === 'object' && Object.keys(parsed.object), ['__proto__', 'k'], 'a member named __proto__ stays a member')
  t.equal(Object.getPrototypeOf(parsed.type === 'object' ? parsed.object : null), Object.prototype, 'and sets no prototype')
  // Through the task's tables, substituted or not, it stays a member.
  const task = replacementsFromParams([{ name: 't', value: { type: 'string', string: 'T' } }])
  for (const text of ['{"__proto__": "p", "k": "v"}', '{"__proto__": "p", "k": "$(params.t)"}']) {
    const value = applyLayers(parseParamValue(JSON.parse(text)), [task])
    t.strictSame(
      value.type === 'object' && Object.entries(value.object),
      [
        ['__proto__', 'p'],
        ['k', text.includes('$(') ? 'T' : 'v'],
      ],
      text,
    )
  }
})

t.test('a deferred object param’s member named __proto__ is left for Tekton like any other', async (t) => {
  const specs = [
    JSON.parse('{"name": "o", "type": "object", "properties": {"__proto__": {"type": "string"}, "k": {"type": "string"}}, "default": {"k": "d"}}'),
  ] as ParamSpec[]
  const resolved = resolveStepActionParams({}, [{ name: 'o', value: '$(params.x)' }], specs, [], [{ name: 'x', type: 'object' }], ['x'])
  if (!('replacements' in resolved)) throw new Error(JSON.stringify(resolved))
  t.equal(resolved.replacements.strings.get('params.o.__proto__'), '$(params.x.__proto__)', 'the run-time value’s member, not the prototype')
  // Which of the value and the default gives k is known only at run time: a pipeline task whose definition reads
  // it is left for its TaskRun before expansion (runs/pipeline-deferral.ts), so here it is a reference too.
  t.equal(resolved.replacements.strings.get('params.o.k'), '$(params.x.k)', 'a member the task does not declare: a reference, not a guess')
})
