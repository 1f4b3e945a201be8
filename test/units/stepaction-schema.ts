// The structural schema of a StepAction (reference section 2: the fields that
// exist), Tekton's metadata rule (validate.ObjectMetadata: a DNS-1123
// subdomain of at most 63 characters), and how a document becomes a catalog
// Definition.

import t from 'tap'
import { parse } from 'yaml'
import { toDefinition, validateStepAction, type DefinitionSource } from '../../src/definitions/definition.ts'
import { checkStepActionSchema } from '../../src/definitions/schema.ts'
import { jsonPointerToPath } from '../../src/problems/path.ts'
import type { Problem } from '../../src/problems/problem.ts'
import type { StepAction } from '../../src/types/tekton.ts'

function doc(spec: unknown, metadata: unknown = { name: 'sa' }): Record<string, unknown> {
  return { apiVersion: 'tekton.dev/v1beta1', kind: 'StepAction', metadata, spec }
}

const RFC1123 = 'must be a lowercase RFC 1123 subdomain (letters, digits, "-" and ".", each dot-separated part starting and ending with a letter or digit)'
const RFC1123_LABEL = 'must be a lowercase RFC 1123 label (letters, digits and "-", starting and ending with a letter or digit)'
const unknown = (path: string): Problem => ({ path, message: 'unknown field' })
const missing = (path: string): Problem => ({ path, message: 'missing field' })

t.test('required top-level fields', (t) => {
  t.strictSame(validateStepAction({}), [missing('apiVersion'), missing('kind'), missing('metadata'), missing('spec')], 'all four')
  t.strictSame(validateStepAction({ apiVersion: 'tekton.dev/v1beta1', kind: 'StepAction', metadata: { name: 'a' } }), [missing('spec')], 'spec')
  t.strictSame(validateStepAction(doc({ image: 'i' }, {})), [missing('metadata.name')], 'metadata.name')
  for (const bad of [null, 'StepAction', 3, []]) {
    t.strictSame(validateStepAction(bad), [{ path: '', message: 'must be object' }], `document ${JSON.stringify(bad)}`)
  }
  t.end()
})

t.test('apiVersion and kind', (t) => {
  t.strictSame(validateStepAction({ ...doc({ image: 'i' }), apiVersion: 'tekton.dev/v1alpha1' }), [], 'v1alpha1 is served')
  // Section 1: there is no v1 StepAction.
  t.strictSame(validateStepAction({ ...doc({ image: 'i' }), apiVersion: 'tekton.dev/v1' }), [
    { path: '', message: 'apiVersion tekton.dev/v1 has no StepAction (tektoncd/pipeline#10219): use tekton.dev/v1beta1' },
  ])
  t.strictSame(validateStepAction({ ...doc({ image: 'i' }), kind: 'Task' }), [{ path: 'kind', message: 'must be "StepAction"' }])
  t.end()
})

t.test('metadata.name is a DNS-1123 subdomain of at most 63 characters', (t) => {
  for (const name of ['a', '0', 'my-action', 'a.b', 'v1.2-x', 'a'.repeat(63), `${'a'.repeat(30)}.${'b'.repeat(32)}`]) {
    t.strictSame(validateStepAction(doc({ image: 'i' }, { name })), [], `valid ${name}`)
  }
  for (const name of ['My-Action', 'a_b', '-a', 'a-', '.a', 'a.', 'a..b', 'a.-b', 'a-.b', 'a b']) {
    t.strictSame(validateStepAction(doc({ image: 'i' }, { name })), [{ path: 'metadata.name', message: RFC1123 }], `invalid ${name}`)
  }
  t.strictSame(
    validateStepAction(doc({ image: 'i' }, { name: 'a'.repeat(64) })),
    [{ path: 'metadata.name', message: 'must NOT have more than 63 characters' }],
    '64 characters',
  )
  t.strictSame(
    validateStepAction(doc({ image: 'i' }, { name: '' })),
    [
      { path: 'metadata.name', message: 'must NOT have fewer than 1 characters' },
      { path: 'metadata.name', message: RFC1123 },
    ],
    'empty',
  )
  t.strictSame(validateStepAction(doc({ image: 'i' }, { name: 5 })), [{ path: 'metadata.name', message: 'must be string' }], 'not a string')
  t.strictSame(
    validateStepAction(doc({ image: 'i' }, { name: 'ok', namespace: 'a.b' })),
    [{ path: 'metadata.namespace', message: RFC1123_LABEL }],
    'a namespace is a label: no dots',
  )
  t.strictSame(
    validateStepAction(doc({ image: 'i' }, { name: 'ok', namespace: 'ns', labels: { a: 'b' }, uid: 'x', resourceVersion: '1', generation: 2 })),
    [],
    'other metadata is open',
  )
  t.strictSame(
    validateStepAction(doc({ image: 'i' }, { name: 'ok', labels: { a: 1 } })),
    [{ path: 'metadata.labels.a', message: 'must be string' }],
    'label values are strings',
  )
  t.end()
})

t.test('unknown fields are errors that name the field', (t) => {
  // Section 2: a StepAction has no envFrom, resources, workspaces, timeout, onError, imagePullPolicy or when.
  const extra = ['envFrom', 'resources', 'computeResources', 'workspaces', 'timeout', 'onError', 'imagePullPolicy', 'when', 'steps', 'name', 'Image']
  t.strictSame(
    validateStepAction(doc({ image: 'i', ...Object.fromEntries(extra.map((f) => [f, 'x'])) })),
    extra.map((f) => unknown(`spec.${f}`)),
  )
  t.strictSame(
    validateStepAction(
      doc({
        image: 'i',
        env: [{ name: 'A', value: 'a', valueFrom: { anything: { goes: 1 } }, extra: 1 }],
        params: [{ name: 'p', value: 'x', properties: { k: { type: 'string', description: 'd' } } }],
        results: [{ name: 'r', value: 'x' }],
        volumeMounts: [{ name: '$(params.p)', mountPath: '/m', readonly: true }],
      }),
    ),
    [
      unknown('spec.env[0].extra'),
      unknown('spec.params[0].value'),
      unknown('spec.params[0].properties.k.description'),
      unknown('spec.results[0].value'),
      unknown('spec.volumeMounts[0].readonly'),
    ],
    'inside list items and property specs',
  )
  t.strictSame(validateStepAction(doc({ image: 'i', securityContext: { privileged: true, seLinuxOptions: { level: 's0' } } })), [], 'securityContext is open')
  t.end()
})

t.test('wrong types', (t) => {
  const cases: [string, Record<string, unknown>, Problem[]][] = [
    ['spec', { spec: 'image: alpine' }, [{ path: 'spec', message: 'must be object' }]],
    ['image', { image: 3 }, [{ path: 'spec.image', message: 'must be string' }]],
    ['command', { command: 'ls -l' }, [{ path: 'spec.command', message: 'must be array' }]],
    ['args element', { args: ['a', 2] }, [{ path: 'spec.args[1]', message: 'must be string' }]],
    ['script', { script: ['echo'] }, [{ path: 'spec.script', message: 'must be string' }]],
    ['workingDir', { workingDir: 1 }, [{ path: 'spec.workingDir', message: 'must be string' }]],
    ['description', { description: {} }, [{ path: 'spec.description', message: 'must be string' }]],
    ['securityContext', { securityContext: 'privileged' }, [{ path: 'spec.securityContext', message: 'must be object' }]],
    ['env', { env: { A: 'b' } }, [{ path: 'spec.env', message: 'must be array' }]],
    ['env item', { env: ['A=b'] }, [{ path: 'spec.env[0]', message: 'must be object' }]],
    ['env name missing', { env: [{ value: 'x' }] }, [missing('spec.env[0].name')]],
    ['env value', { env: [{ name: 'A', value: 1 }] }, [{ path: 'spec.env[0].value', message: 'must be string' }]],
    ['env valueFrom', { env: [{ name: 'A', valueFrom: 'x' }] }, [{ path: 'spec.env[0].valueFrom', message: 'must be object' }]],
    ['params', { params: { p: {} } }, [{ path: 'spec.params', message: 'must be array' }]],
    ['param name missing', { params: [{ type: 'string' }] }, [missing('spec.params[0].name')]],
    ['param name', { params: [{ name: 1 }] }, [{ path: 'spec.params[0].name', message: 'must be string' }]],
    ['param type', { params: [{ name: 'p', type: ['string'] }] }, [{ path: 'spec.params[0].type', message: 'must be string' }]],
    ['properties', { params: [{ name: 'p', properties: ['k'] }] }, [{ path: 'spec.params[0].properties', message: 'must be object' }]],
    ['property spec', { params: [{ name: 'p', properties: { k: 'string' } }] }, [{ path: 'spec.params[0].properties.k', message: 'must be object' }]],
    ['property type', { params: [{ name: 'p', properties: { k: { type: 1 } } }] }, [{ path: 'spec.params[0].properties.k.type', message: 'must be string' }]],
    ['enum', { params: [{ name: 'p', enum: ['a', 1] }] }, [{ path: 'spec.params[0].enum[1]', message: 'must be string' }]],
    ['results', { results: 'r' }, [{ path: 'spec.results', message: 'must be array' }]],
    ['result name missing', { results: [{ type: 'string' }] }, [missing('spec.results[0].name')]],
    [
      'result properties',
      { results: [{ name: 'r', properties: { k: { type: 2 } } }] },
      [{ path: 'spec.results[0].properties.k.type', message: 'must be string' }],
    ],
    ['volumeMount fields missing', { volumeMounts: [{}] }, [missing('spec.volumeMounts[0].name'), missing('spec.volumeMounts[0].mountPath')]],
    [
      'volumeMount readOnly',
      { volumeMounts: [{ name: '$(params.v)', mountPath: '/m', readOnly: 'yes' }] },
      [{ path: 'spec.volumeMounts[0].readOnly', message: 'must be boolean' }],
    ],
  ]
  for (const [name, fields, expected] of cases) {
    const d = 'spec' in fields ? doc(fields.spec) : doc({ image: 'i', ...fields })
    t.strictSame(validateStepAction(d), expected, name)
  }
  t.end()
})

t.test('structural problems come alone', (t) => {
  // A document of the wrong shape cannot be decoded, so no semantic rule runs on it.
  t.strictSame(validateStepAction(doc({ script: 'echo $(params.nope)', command: ['sh'], onError: 'continue' })), [unknown('spec.onError')])
  t.strictSame(checkStepActionSchema(doc({ script: 'echo $(params.nope)' })), [], 'the schema itself knows nothing of the rules')
  t.end()
})

t.test('JSON pointers become field paths', (t) => {
  t.equal(jsonPointerToPath(''), '')
  t.equal(jsonPointerToPath('/spec'), 'spec')
  t.equal(jsonPointerToPath('/spec/env/1/value'), 'spec.env[1].value')
  t.equal(jsonPointerToPath('/spec/params/0/properties/a~1b~0c'), 'spec.params[0].properties.a/b~c')
  t.end()
})

const source: DefinitionSource = { kind: 'directory', location: 'catalog/sa.yaml' }

t.test('toDefinition of a valid StepAction', (t) => {
  const sa: StepAction = {
    apiVersion: 'tekton.dev/v1beta1',
    kind: 'StepAction',
    metadata: { name: 'build', namespace: 'ci' },
    spec: { image: 'alpine', params: [{ name: 'p', default: ['a'] }], results: [{ name: 'r' }] },
  }
  const d = toDefinition(sa, source)
  t.strictSame(d.problems, [])
  t.equal(d.name, 'build')
  t.equal(d.namespace, 'ci')
  t.equal(d.apiVersion, 'tekton.dev/v1beta1')
  t.equal(d.source, source)
  t.strictSame(
    d.spec,
    { image: 'alpine', params: [{ name: 'p', type: 'array', default: ['a'] }], results: [{ name: 'r', type: 'string' }] },
    'the spec is defaulted',
  )
  t.match(d.digest, /^sha256:[0-9a-f]{64}$/)
  t.notOk('namespace' in toDefinition({ ...sa, metadata: { name: 'build' } }, source), 'no namespace: serves every namespace')
  t.notOk('namespace' in toDefinition({ ...sa, metadata: { name: 'build', namespace: '' } }, source), 'an empty namespace is none')
  t.end()
})

t.test('toDefinition keeps an invalid StepAction with its problems and never throws', (t) => {
  const semantic = toDefinition(
    { apiVersion: 'tekton.dev/v1beta1', kind: 'StepAction', metadata: { name: 'bad' }, spec: { script: 'echo', params: [{ name: 'p', default: ['a'] }] } },
    source,
  )
  t.equal(semantic.name, 'bad')
  t.strictSame(semantic.problems, [{ path: 'spec.image', message: 'missing field(s): image' }])
  t.strictSame(semantic.spec, { script: 'echo', params: [{ name: 'p', default: ['a'] }] }, 'the spec is kept as written')

  const weird: unknown[] = [
    { kind: 'StepAction' },
    { kind: 'StepAction', metadata: null, spec: null },
    { kind: 'StepAction', metadata: 'x', spec: 'y' },
    { kind: 'StepAction', apiVersion: 7, metadata: { name: 5, namespace: 6 }, spec: [1, 2] },
    { kind: 'StepAction', metadata: { name: 'p' }, spec: { params: 'all of them', results: [null], env: [7] } },
    // A null property is a property of no type, as Go decodes it (go-decoded.ts); a string is no property at all.
    { kind: 'StepAction', apiVersion: 'tekton.dev/v1beta1', metadata: { name: 'x' }, spec: { image: 'i', params: [{ name: 'o', properties: { k: 'x' } }] } },
  ]
  for (const w of weird) {
    let d: ReturnType<typeof toDefinition> | undefined
    t.doesNotThrow(() => {
      d = toDefinition(w as StepAction, source)
    }, JSON.stringify(w))
    t.ok(d !== undefined && d.problems.length > 0, `has problems: ${JSON.stringify(w)}`)
    t.equal(typeof d?.name, 'string')
    t.equal(typeof d?.apiVersion, 'string')
    t.notOk(d !== undefined && 'namespace' in d, 'a namespace that is not a string is dropped')
  }
  t.end()
})

t.test('the digest is stable across key order and format, and follows the content', (t) => {
  const a = toDefinition(
    {
      apiVersion: 'tekton.dev/v1beta1',
      kind: 'StepAction',
      metadata: { name: 'a' },
      spec: { image: 'alpine', params: [{ name: 'o', type: 'object', properties: { x: { type: 'string' }, y: {} } }], env: [{ name: 'E', value: 'v' }] },
    },
    source,
  )
  const b = toDefinition(
    {
      spec: { env: [{ value: 'v', name: 'E' }], params: [{ properties: { y: {}, x: { type: 'string' } }, type: 'object', name: 'o' }], image: 'alpine' },
      metadata: { name: 'a' },
      kind: 'StepAction',
      apiVersion: 'tekton.dev/v1beta1',
    },
    source,
  )
  t.equal(a.digest, b.digest, 'key order at every level')

  const yamlText = `
apiVersion: tekton.dev/v1beta1
kind: StepAction
metadata:
  name: a
spec:
  params:
    - name: o
      properties:
        y: {}
        x: {type: string}
      type: object
  image: alpine
  env:
    - {value: v, name: E}
`
  t.equal(toDefinition(parse(yamlText) as StepAction, source).digest, a.digest, 'YAML and JSON')

  const changed = toDefinition(
    {
      apiVersion: 'tekton.dev/v1beta1',
      kind: 'StepAction',
      metadata: { name: 'a' },
      spec: { image: 'alpine', params: [{ name: 'o', type: 'object', properties: { x: { type: 'string' }, y: {} } }], env: [{ name: 'E', value: 'w' }] },
    },
    source,
  )
  t.not(changed.digest, a.digest, 'a different value')
  const reordered = toDefinition(
    { apiVersion: 'tekton.dev/v1beta1', kind: 'StepAction', metadata: { name: 'a' }, spec: { image: 'alpine', args: ['1', '2'] } },
    source,
  )
  const swapped = toDefinition(
    { apiVersion: 'tekton.dev/v1beta1', kind: 'StepAction', metadata: { name: 'a' }, spec: { image: 'alpine', args: ['2', '1'] } },
    source,
  )
  t.not(reordered.digest, swapped.digest, 'list order matters')
  t.end()
})

t.test("a fetched StepAction's name and namespace do not make it invalid: Tekton dry-run creates it under a name of its own", (t) => {
  const spec = { image: 'alpine', command: ['true'] }
  const metas: unknown[] = [undefined, null, {}, { name: null }, { name: 'MyStep' }, { name: 'x'.repeat(64) }, { name: 'ok', namespace: 'Bad_NS' }]
  for (const metadata of metas) {
    const doc = { apiVersion: 'tekton.dev/v1beta1', kind: 'StepAction', ...(metadata === undefined ? {} : { metadata }), spec } as StepAction
    const fetched = toDefinition(doc, { kind: 'http', location: 'https://example.test/sa.yaml' })
    t.strictSame(fetched.problems, [], `fetched: ${JSON.stringify(metadata)}`)
    t.equal(fetched.name, typeof (metadata as { name?: unknown } | undefined)?.name === 'string' ? (metadata as { name: string }).name : '', 'named as written')
    const read = toDefinition(doc, { kind: 'directory', location: '/catalog/sa.yaml' })
    t.ok(read.problems.length > 0, `from a directory, a file Tekton would not accept applied: ${JSON.stringify(metadata)}`)
  }
  // What Tekton's strict decoder cannot read still fails it.
  for (const metadata of ['oops', { name: 5 }, { name: ['a'] }, { name: 'ok', namespace: { a: 'b' } }]) {
    const doc = { apiVersion: 'tekton.dev/v1beta1', kind: 'StepAction', metadata, spec } as unknown as StepAction
    t.ok(toDefinition(doc, { kind: 'http', location: 'https://example.test/sa.yaml' }).problems.length > 0, `fetched, undecodable: ${JSON.stringify(metadata)}`)
  }
  // Tekton decodes fetched data strictly: a field its types do not know fails it outside spec too.
  const fetchedWith = (extra: Record<string, unknown>, metadata: Record<string, unknown>) =>
    toDefinition({ apiVersion: 'tekton.dev/v1beta1', kind: 'StepAction', metadata, spec, ...extra } as StepAction, { kind: 'git', location: 'g' })
  t.strictSame(fetchedWith({ status: {} }, { name: 'x', bogus: 1 }).problems, [
    { path: 'status', message: 'unknown field' },
    { path: 'metadata.bogus', message: 'unknown field' },
  ])
  // And what the API server refuses of its metadata when Tekton dry-run creates it.
  t.match(
    fetchedWith({}, { name: 'x', labels: { 'bad key!': 'v', ok: 'has space', 'team.example/owner': 'a-b_c.d' }, annotations: { '/x': 'anything' } }).problems,
    [
      { path: 'metadata.labels', message: /^invalid key "bad key!"/ },
      { path: 'metadata.labels.ok', message: /^invalid value "has space"/ },
      { path: 'metadata.annotations', message: /^invalid key "\/x"/ },
    ],
  )
  t.equal(fetchedWith({}, { name: 'x', labels: { a: 'v'.repeat(64) } }).problems.length, 1, 'a label value of 64 characters')
  // An unknown key fails whatever its value, null included; ObjectMeta's fields must decode as their types.
  for (const [extra, metadata] of [
    [{ status: null }, { name: 'x' }],
    [{}, { name: 'x', bogus: null }],
    [{}, { name: 'x', generation: '1' }],
    [{}, { name: 'x', uid: 5 }],
    [{}, { name: 'x', creationTimestamp: 'yesterday' }],
    [{}, { name: 'x', ownerReferences: [{ bogus: 1 }] }],
  ] as const) {
    t.ok(fetchedWith(extra, metadata).problems.length > 0, `refused: ${JSON.stringify({ ...extra, metadata })}`)
  }
  t.strictSame(fetchedWith({}, { name: 'x', generation: null, creationTimestamp: '2026-01-01T00:00:00.5+01:00' }).problems, [], 'null and a valid time')
  const exported = {
    name: 'x',
    uid: 'u',
    resourceVersion: '1',
    generation: 1,
    creationTimestamp: '2026-01-01T00:00:00Z',
    labels: { a: 'b' },
    annotations: {},
    managedFields: [],
  }
  t.strictSame(fetchedWith({}, exported).problems, [], 'metadata as the API server writes it')
  t.strictSame(
    toDefinition({ apiVersion: 'tekton.dev/v1beta1', kind: 'StepAction', metadata: { name: 'x', bogus: 1 }, spec, status: {} } as StepAction, {
      kind: 'directory',
      location: 'd',
    }).problems,
    [],
    'read from a directory or the cluster, outside spec is open, as the lister decodes it',
  )
  // Everything else about it is still checked.
  t.match(
    toDefinition({ apiVersion: 'tekton.dev/v1beta1', kind: 'StepAction', spec: { command: ['true'] } } as StepAction, { kind: 'git', location: 'g' }).problems,
    [{ path: 'spec.image' }],
  )
  t.end()
})
