// StepAction admission rules about the fields that may hold param references:
// image, script, command, args, env values and volumeMount names, and the
// result references a script may make. Expected messages follow Tekton's
// wording (reference: /work/shared/reference/tekton-stepaction.md, section 3);
// paths are ours and name the exact element.

import t from 'tap'
import { toDefinition, validateStepAction } from '../../src/definitions/definition.ts'
import type { Problem } from '../../src/problems/problem.ts'
import type { ParamSpec, StepAction, StepActionSpec } from '../../src/types/tekton.ts'

function check(spec: StepActionSpec, apiVersion = 'tekton.dev/v1beta1'): Problem[] {
  return validateStepAction({ apiVersion, kind: 'StepAction', metadata: { name: 'sa' }, spec })
}

const SCRIPT_PARAMS = 'param substitution in scripts is not allowed. Pass the value through env and read the variable in the script'
/** Go's %q for printable ASCII, which is what these tests use: `"` and `\` are escaped. */
const q = (s: string): string => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`
const nonExistent = (path: string, value: string): Problem => ({ path, message: `non-existent variable in ${q(value)}` })
const typeInvalid = (path: string, value: string): Problem => ({ path, message: `variable type invalid in ${q(value)}` })
const notIsolated = (path: string, value: string): Problem => ({ path, message: `variable is not properly isolated in ${q(value)}` })
const badMount = (i: number, name: string): Problem => ({
  path: `spec.volumeMounts[${i}].name`,
  message: `invalid value: ${name}: expect the Name to be a single param reference, such as $(params.volume-name)`,
})

const str: ParamSpec = { name: 's' }
const arr: ParamSpec = { name: 'arr', type: 'array' }
const obj: ParamSpec = { name: 'obj', type: 'object', properties: { key: {}, other: { type: 'string' } } }

t.test('valid StepActions have no problems', (t) => {
  t.strictSame(check({ image: 'alpine' }), [], 'image only')
  t.strictSame(
    check({
      description: 'uses $(params.nope) in prose, which is never scanned',
      image: 'registry/$(params.s):$(params["tag"])',
      command: ['$(params.arr)', '$(params.arr[*])', '$(params["arr"])', "--x=$(params['s'])", 'pre-$(params.arr[1])-post'],
      args: ['$(params.obj.key)', '$(params.obj.other) $(params.s)', '$(params.arr[0])'],
      env: [{ name: 'A', value: '$(params.s)' }, { name: 'B', value: 'key=$(params.obj.key) first=$(params.arr[0])' }, { name: 'C' }],
      params: [str, { name: 'tag', default: 'latest' }, arr, obj, { name: 'vol' }],
      results: [{ name: 'out' }, { name: 'list', type: 'array' }, { name: 'map', properties: { a: {} } }],
      volumeMounts: [
        { name: '$(params.vol)', mountPath: '/a' },
        { name: '$(params.arr[0])', mountPath: '/b' },
        { name: '$(params.obj.key)', mountPath: '/c' },
        { name: '$(params["s"])', mountPath: '/d' },
      ],
    }),
    [],
    'every kind of allowed reference',
  )
  t.strictSame(
    check({
      image: 'alpine',
      script: '#!/bin/sh\necho "$VAR" > $(step.results.out.path)\necho x > $(results.list.path)',
      results: [{ name: 'out' }, { name: 'list' }],
    }),
    [],
    'a script that reads env and writes declared results',
  )
  t.end()
})

t.test('image is required (section 3)', (t) => {
  const missing = [{ path: 'spec.image', message: 'missing field(s): image' }]
  t.strictSame(check({}), missing, 'empty spec')
  t.strictSame(check({ image: '' }), missing, 'empty image')
  t.strictSame(check({ script: 'echo hi' }), missing, 'script without image')
  t.end()
})

t.test('script and command are exclusive (section 3)', (t) => {
  t.strictSame(check({ image: 'alpine', script: 'echo', command: ['sh'] }), [{ path: 'spec.script', message: 'script cannot be used with command' }])
  // Tekton checks len(command) > 0, and only when the script is non-empty.
  t.strictSame(check({ image: 'alpine', script: 'echo', command: [] }), [], 'empty command')
  t.strictSame(check({ image: 'alpine', script: '', command: ['sh'] }), [], 'empty script')
  t.strictSame(check({ image: 'alpine', script: 'echo', args: ['-x'] }), [], 'script with args is fine')
  t.end()
})

t.test('a #!win script needs the alpha feature gate (section 3)', (t) => {
  const win = [{ path: 'spec.script', message: 'windows script support requires "enable-api-fields" feature gate to be "alpha" but it is "beta"' }]
  t.strictSame(check({ image: 'mcr/win', script: '#!win powershell.exe -File\nWrite-Host hi' }), win)
  t.strictSame(check({ image: 'mcr/win', script: '\n  \t#!win pwsh' }), win, 'leading whitespace is trimmed first')
  t.strictSame(check({ image: 'alpine', script: '#!/bin/sh\n#!win' }), [], 'only a leading #!win counts')
  // Trimmed as Go's strings.TrimSpace trims: a byte order mark stays, U+0085 (NEL) goes.
  t.strictSame(check({ image: 'mcr/win', script: '\uFEFF#!win pwsh' }), [], 'a byte order mark before it is not space to Go')
  t.strictSame(check({ image: 'mcr/win', script: '\u0085#!win pwsh' }), win, 'NEL is')
  t.end()
})

t.test('any $(params...) in a script is rejected (section 3)', (t) => {
  const params = [str, arr, obj]
  for (const ref of ['$(params.s)', '$(params["s"])', "$(params['s'])", '$(params.obj.key)', '$(params.arr[0])']) {
    t.strictSame(check({ image: 'alpine', script: `echo ${ref}`, params }), [{ path: 'spec.script', message: SCRIPT_PARAMS }], ref)
  }
  t.strictSame(
    check({ image: 'alpine', script: 'echo $(params.nope)' }),
    [{ path: 'spec.script', message: SCRIPT_PARAMS }, nonExistent('spec.script', 'echo $(params.nope)')],
    'an undeclared param in a script is also reported as non-existent',
  )
  t.strictSame(
    check({ image: 'alpine', script: 'echo $(params.s.a.b)', params }),
    [
      { path: 'spec.script', message: SCRIPT_PARAMS },
      {
        path: 'spec.script',
        message: 'Invalid referencing of parameters in "echo $(params.s.a.b)"! Only two dot-separated components after the prefix "params" are allowed.',
      },
    ],
    'a malformed reference is still a param reference',
  )
  t.strictSame(
    check({ image: 'alpine', script: 'echo $params.s ${params.s} $(context.taskRun.name) $(workspaces.w.path) $(steps.other.results.r)', params }),
    [],
    'things that are not $(params...) references pass',
  )
  t.end()
})

t.test('every referenced param must be declared, in every scanned field (section 3)', (t) => {
  const cases: [string, StepActionSpec, Problem][] = [
    ['image', { image: 'img:$(params.nope)' }, nonExistent('spec.image', 'img:$(params.nope)')],
    ['command', { image: 'i', command: ['ok', '--x=$(params.nope)'] }, nonExistent('spec.command[1]', '--x=$(params.nope)')],
    ['args', { image: 'i', args: ['$(params.nope)'] }, nonExistent('spec.args[0]', '$(params.nope)')],
    [
      'env value',
      {
        image: 'i',
        env: [
          { name: 'A', value: 'a' },
          { name: 'B', value: '$(params.nope)' },
        ],
      },
      nonExistent('spec.env[1].value', '$(params.nope)'),
    ],
    [
      'volumeMount name',
      { image: 'i', volumeMounts: [{ name: '$(params.nope)', mountPath: '/m' }] },
      nonExistent('spec.volumeMounts[0].name', '$(params.nope)'),
    ],
    ['double-quoted bracket form', { image: 'i', args: ['$(params["nope"])'] }, nonExistent('spec.args[0]', '$(params["nope"])')],
    ['single-quoted bracket form', { image: 'i', args: ["$(params['nope'])"] }, nonExistent('spec.args[0]', "$(params['nope'])")],
    ['index on an undeclared array', { image: 'i', args: ['$(params.nope[0])'] }, nonExistent('spec.args[0]', '$(params.nope[0])')],
  ]
  for (const [name, spec, expected] of cases) {
    t.strictSame(check({ ...spec, params: [str] }), [expected], name)
  }
  t.strictSame(
    check({ image: 'i', params: [str], args: ['$(params.s) $(params.a) $(params.b)'] }),
    [nonExistent('spec.args[0]', '$(params.s) $(params.a) $(params.b)')],
    'one problem per value, however many unknown names it has',
  )
  // The dot form names only its first component, so a dotted param name can
  // only be referenced in bracket form (Tekton's ExtractVariablesFromString).
  t.strictSame(
    check({ image: 'i', params: [{ name: 'a.b' }], args: ['$(params["a.b"])', "$(params['a.b'])", '$(params.a.b)'] }),
    [nonExistent('spec.args[2]', '$(params.a.b)')],
    'a dotted name',
  )
  t.strictSame(check({ image: 'i', params: [str], args: ['$(params.s.anything)'] }), [], 'a second component on a string param is not checked')
  t.strictSame(check({ image: 'i', params: [str], args: ['$(params.S)'] }), [nonExistent('spec.args[0]', '$(params.S)')], 'names are case-sensitive')
  t.end()
})

t.test('object keys must be declared properties (section 3)', (t) => {
  const params = [obj]
  t.strictSame(check({ image: 'img:$(params.obj.nokey)', params }), [nonExistent('spec.image', 'img:$(params.obj.nokey)')], 'image')
  t.strictSame(check({ image: 'i', command: ['$(params.obj.nokey)'], params }), [nonExistent('spec.command[0]', '$(params.obj.nokey)')], 'command')
  t.strictSame(
    check({ image: 'i', args: ['a', 'x $(params.obj.key) $(params.obj.nokey)'], params }),
    [nonExistent('spec.args[1]', 'x $(params.obj.key) $(params.obj.nokey)')],
    'args',
  )
  t.strictSame(
    check({ image: 'i', env: [{ name: 'E', value: '$(params.obj.nokey)' }], params }),
    [nonExistent('spec.env[0].value', '$(params.obj.nokey)')],
    'env',
  )
  t.strictSame(
    check({ image: 'i', volumeMounts: [{ name: '$(params.obj.nokey)', mountPath: '/m' }], params }),
    [nonExistent('spec.volumeMounts[0].name', '$(params.obj.nokey)')],
    'volumeMount name',
  )
  t.strictSame(check({ image: 'i', args: ['$(params.obj.key)', '$(params.obj.other)'], params }), [], 'declared keys pass')
  t.strictSame(
    check({ image: 'i', args: ['$(params.obj.key.more)'], params }),
    [
      {
        path: 'spec.args[0]',
        message: 'Invalid referencing of parameters in "$(params.obj.key.more)"! Only two dot-separated components after the prefix "params" are allowed.',
      },
    ],
    'more than two dot-separated components',
  )
  t.end()
})

t.test('whole-object references are forbidden in every field (section 3)', (t) => {
  const params = [obj, str]
  for (const ref of ['$(params.obj)', '$(params.obj[*])', '$(params["obj"])']) {
    t.strictSame(check({ image: `img:${ref}`, params }), [typeInvalid('spec.image', `img:${ref}`)], `image ${ref}`)
    t.strictSame(check({ image: 'i', command: [ref], params }), [typeInvalid('spec.command[0]', ref)], `command ${ref}`)
    t.strictSame(check({ image: 'i', args: ['x', ref], params }), [typeInvalid('spec.args[1]', ref)], `args ${ref}`)
    t.strictSame(check({ image: 'i', env: [{ name: 'E', value: ref }], params }), [typeInvalid('spec.env[0].value', ref)], `env ${ref}`)
    t.strictSame(
      check({ image: 'i', volumeMounts: [{ name: ref, mountPath: '/m' }], params }),
      [typeInvalid('spec.volumeMounts[0].name', ref)],
      `volumeMount ${ref}`,
    )
    t.strictSame(
      check({ image: 'i', script: `echo ${ref}`, params }),
      [{ path: 'spec.script', message: SCRIPT_PARAMS }, typeInvalid('spec.script', `echo ${ref}`)],
      `script ${ref}`,
    )
  }
  t.strictSame(
    check({ image: 'i', args: ['--o=$(params.obj) $(params.s)'], params }),
    [typeInvalid('spec.args[0]', '--o=$(params.obj) $(params.s)')],
    'embedded in text',
  )
  t.strictSame(check({ image: 'i', args: ['$(params.notobj)'], params: [{ name: 'notobj', default: 'x' }] }), [], 'a whole string param is fine')
  t.end()
})

t.test('whole-array references: forbidden in image/script/env/volumeMounts (section 3)', (t) => {
  const params = [arr, str]
  for (const ref of ['$(params.arr)', '$(params.arr[*])', '$(params["arr"])', "$(params['arr'])"]) {
    t.strictSame(check({ image: ref, params }), [typeInvalid('spec.image', ref)], `image ${ref}`)
    t.strictSame(
      check({
        image: 'i',
        env: [
          { name: 'A', value: 'x' },
          { name: 'E', value: `v=${ref}` },
        ],
        params,
      }),
      [typeInvalid('spec.env[1].value', `v=${ref}`)],
      `env ${ref}`,
    )
    t.strictSame(
      check({ image: 'i', volumeMounts: [{ name: ref, mountPath: '/m' }], params }),
      [typeInvalid('spec.volumeMounts[0].name', ref)],
      `volumeMount ${ref}`,
    )
    t.strictSame(
      check({ image: 'i', script: `echo ${ref}`, params }),
      [{ path: 'spec.script', message: SCRIPT_PARAMS }, typeInvalid('spec.script', `echo ${ref}`)],
      `script ${ref}`,
    )
  }
  t.end()
})

t.test('whole-array references must be isolated in command and args (section 3)', (t) => {
  const params = [arr, str]
  for (const ref of ['$(params.arr)', '$(params.arr[*])', '$(params["arr"])', "$(params['arr'])"]) {
    t.strictSame(check({ image: 'i', command: [ref], args: ['a', ref], params }), [], `isolated ${ref}`)
  }
  const bad = ['--flag=$(params.arr)', '$(params.arr[*]) ', '$(params.s)$(params.arr)', '$(params.arr)$(params.arr)', '$(params.arr) $(params.s)']
  for (const value of bad) {
    t.strictSame(check({ image: 'i', command: [value], params }), [notIsolated('spec.command[0]', value)], `command ${JSON.stringify(value)}`)
    t.strictSame(check({ image: 'i', args: ['ok', value], params }), [notIsolated('spec.args[1]', value)], `args ${JSON.stringify(value)}`)
  }
  // Type inference makes a param with a list default an array (section 2).
  t.strictSame(
    check({ image: 'i', args: ['-x $(params.list)'], params: [{ name: 'list', default: ['a', 'b'] }] }),
    [notIsolated('spec.args[0]', '-x $(params.list)')],
    'an inferred array',
  )
  t.end()
})

t.test('index references into arrays are allowed outside scripts (section 3)', (t) => {
  const params = [arr]
  t.strictSame(
    check({
      image: 'img:$(params.arr[0])',
      command: ['run-$(params.arr[1])'],
      args: ['--a=$(params.arr[0]) --b=$(params.arr[12])'],
      env: [{ name: 'E', value: '$(params.arr[2])' }],
      volumeMounts: [{ name: '$(params.arr[0])', mountPath: '/m' }],
      params,
    }),
    [],
  )
  t.strictSame(check({ image: 'i', script: 'echo $(params.arr[0])', params }), [{ path: 'spec.script', message: SCRIPT_PARAMS }], 'but never in a script')
  t.end()
})

t.test('volumeMount names are exactly one param reference (section 3)', (t) => {
  const params = [{ name: 'x' }, { name: 'a' }, { name: 'b' }]
  for (const name of ['params.x', '$(params.x)-foo', 'pre-$(params.x)', '$(params.a)$(params.b)', 'literal', '', '$(context.taskRun.name)']) {
    t.strictSame(check({ image: 'i', volumeMounts: [{ name, mountPath: '/m' }], params }), [badMount(0, name)], JSON.stringify(name))
  }
  t.strictSame(
    check({
      image: 'i',
      volumeMounts: [
        { name: 'one', mountPath: '/a' },
        { name: 'two', mountPath: '/b' },
      ],
      params,
    }),
    [badMount(0, 'one')],
    'Tekton stops at the first badly formed mount',
  )
  t.strictSame(
    check({
      image: 'i',
      volumeMounts: [
        { name: '$(params.x)', mountPath: '/a' },
        { name: 'two', mountPath: '/b' },
      ],
      params,
    }),
    [badMount(1, 'two')],
    'the bad mount is reported at its own index',
  )
  t.strictSame(
    check({
      image: 'i',
      volumeMounts: [
        { name: '$(params.nope)', mountPath: '/a' },
        { name: 'two', mountPath: '/b' },
      ],
      params,
    }),
    [nonExistent('spec.volumeMounts[0].name', '$(params.nope)'), badMount(1, 'two')],
    'an undeclared param does not stop the scan; the next bad mount is still reported',
  )
  t.strictSame(
    check({
      image: 'i',
      volumeMounts: [
        { name: '$(params.nope)', mountPath: '/a' },
        { name: '$(params.other)', mountPath: '/b' },
      ],
      params,
    }),
    [nonExistent('spec.volumeMounts[0].name', '$(params.nope)'), nonExistent('spec.volumeMounts[1].name', '$(params.other)')],
    'every undeclared mount name',
  )
  t.strictSame(
    check({ image: 'i', volumeMounts: [{ name: '$(params.x)', mountPath: '/tekton/x', subPath: '$(params.nope)', subPathExpr: '$(params.nope)' }], params }),
    [],
    'mountPath and subPath are not checked',
  )
  t.end()
})

t.test('results referenced in a script must be declared (section 3)', (t) => {
  const results = [{ name: 'out' }]
  t.strictSame(
    check({ image: 'i', script: 'echo > $(results.nope.path)', results }),
    [nonExistent('spec.script', 'echo > $(results.nope.path)')],
    '$(results.x.path)',
  )
  t.strictSame(
    check({ image: 'i', script: 'echo > $(step.results.nope.path)', results }),
    [nonExistent('spec.script', 'echo > $(step.results.nope.path)')],
    '$(step.results.x.path)',
  )
  t.strictSame(
    check({ image: 'i', script: 'echo > $(step-results.x.path)', results }),
    [nonExistent('spec.script', 'echo > $(step-results.x.path)')],
    "Tekton's pattern takes the prefix's dot for any character: $(step-results.…) is checked as a step result",
  )
  t.strictSame(check({ image: 'i', script: 'echo > $(step\nresults.x.path)', results }), [], 'but not a newline')
  t.strictSame(
    check({ image: 'i', script: 'echo > $(step.results.nope.path); echo > $(results.nope.path)' }),
    [nonExistent('spec.script', 'echo > $(step.results.nope.path); echo > $(results.nope.path)')],
    'both prefixes are checked; the identical problems are reported once (knative merges them too)',
  )
  t.strictSame(
    check({ image: 'i', script: 'echo > $(step.results.out.path); echo > $(results.nope.path)', results }),
    [nonExistent('spec.script', 'echo > $(step.results.out.path); echo > $(results.nope.path)')],
    'an undeclared $(results...) next to a declared $(step.results...)',
  )
  t.strictSame(check({ image: 'i', script: 'echo > $(step.results.out.path) $(results.out.path)', results }), [], 'declared results pass')
  t.strictSame(
    check({ image: 'i', args: ['$(results.nope.path)', '$(step.results.nope.path)'], env: [{ name: 'E', value: '$(results.nope.path)' }] }),
    [],
    'only the script is checked for result references',
  )
  t.end()
})

t.test('result declarations (section 3)', (t) => {
  const invalidName = (i: number, n: string): Problem => ({
    path: `spec.results[${i}].name`,
    message: `invalid key name "${n}": must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
  })
  t.strictSame(check({ image: 'i', results: [{ name: 'A' }, { name: 'a.b_c-1' }, { name: '9' }] }), [], 'valid names')
  for (const name of ['-a', 'a-', '_a', 'a b', 'a/b', '']) {
    t.strictSame(check({ image: 'i', results: [{ name: 'ok' }, { name }] }), [invalidName(1, name)], `name ${JSON.stringify(name)}`)
  }
  t.strictSame(
    check({ image: 'i', results: [{ name: 'bad name', type: 'integer' }] }),
    [invalidName(0, 'bad name')],
    'a bad name hides the other result problems, as in Tekton',
  )
  t.strictSame(
    check({ image: 'i', results: [{ name: 'r', type: 'integer' }] }),
    [{ path: 'spec.results[0].type', message: 'invalid value: integer' }],
    'unknown type',
  )
  t.strictSame(
    check({ image: 'i', results: [{ name: 'r', type: 'object' }] }),
    [{ path: 'spec.results[0]', message: 'missing field(s): r.properties' }],
    'object results need properties',
  )
  t.strictSame(check({ image: 'i', results: [{ name: 'r', type: 'object', properties: {} }] }), [], 'empty properties are present')
  t.strictSame(
    check({ image: 'i', results: [{ name: 'r', properties: { a: { type: 'string' }, b: { type: 'array' }, c: {}, d: { type: 'object' } } }] }),
    [{ path: 'spec.results[0].properties', message: 'the value type specified for these keys [b d] is invalid, the type must be string' }],
    'property types must be string (unset becomes string)',
  )
  t.strictSame(
    check({ image: 'i', results: [{ name: 'r', type: 'string', properties: { b: { type: 'array' } } }] }),
    [],
    'properties of a non-object result are not checked',
  )
  t.end()
})

t.test('unrelated problems are all reported together', (t) => {
  t.strictSame(
    check({
      script: 'echo $(params.s)',
      command: ['sh'],
      args: ['$(params.nope)'],
      params: [str, str],
    }),
    [
      { path: 'spec.image', message: 'missing field(s): image' },
      { path: 'spec.script', message: 'script cannot be used with command' },
      { path: 'spec.script', message: SCRIPT_PARAMS },
      nonExistent('spec.args[0]', '$(params.nope)'),
      { path: 'spec.params[1].name', message: 'parameter appears more than once: "s"' },
    ],
  )
  t.end()
})

t.test('null is no value, as Go decodes it for Tekton: a StepAction with empty YAML keys is valid and reads as written without them', async (t) => {
  const written = {
    apiVersion: 'tekton.dev/v1beta1',
    kind: 'StepAction',
    metadata: { name: 'sa', labels: { team: null }, annotations: null },
    spec: {
      description: null,
      image: 'alpine',
      script: null,
      command: ['echo', null],
      env: [{ name: 'A', value: null }],
      securityContext: null,
      params: [
        { name: 'req', description: null, default: null },
        { name: 'opts', type: 'object', properties: { k: null }, default: { k: null } },
        { name: 'list', type: 'array', default: ['x', null] },
      ],
      results: [{ name: 'out', description: null }],
    },
  }
  t.strictSame(validateStepAction(written), [])
  const d = toDefinition(written as unknown as StepAction, { kind: 'git', location: 'git+https://example.test/repo@abc#sa.yaml' })
  t.strictSame(d.problems, [])
  t.strictSame(d.spec.command, ['echo', ''], 'a null element of a list of strings is ""')
  t.equal(d.spec.script, undefined, 'a null field is absent')
  t.strictSame(d.spec.env, [{ name: 'A' }])
  t.equal('securityContext' in d.spec, false)
  t.match(d.spec.params, [
    { name: 'req', type: 'string' },
    { name: 'opts', type: 'object', properties: { k: { type: 'string' } }, default: { k: '' } },
    { name: 'list', type: 'array', default: ['x', ''] },
  ])
  t.equal(d.spec.params?.[0]?.default, undefined, 'a null default is no default: the param is required')
  // What null does not excuse is still refused: a required field has no value either way.
  t.match(validateStepAction({ ...written, spec: { ...written.spec, image: null } }), [{ path: 'spec.image', message: /missing field/ }])
})
