// Denials and warnings over the real server: /mutate lists every problem in
// one 422, with the same lines `render` prints; /validate refuses a broken
// StepAction with all of its problems at once. The server requires StepActions
// by name to resolve (--require-resolution local), so a missing one is a
// problem too; without that it is left for Tekton (test/units/resolution-layered.ts).

import t from 'tap'
import type { KubeObject } from '../src/types/k8s.ts'
import { renderObject, reviewOf, startTestServer, type TestServer } from './helpers/server.ts'

let server: TestServer
const required = ['--require-resolution', 'local']
t.before(async () => {
  server = await startTestServer(t, { requireResolution: ['local'] })
})

const threeProblems: KubeObject = {
  apiVersion: 'tekton.dev/v1',
  kind: 'TaskRun',
  metadata: { name: 'broken', namespace: 'default' },
  spec: {
    taskSpec: {
      steps: [
        // An extra param git-clone does not declare.
        {
          name: 'clone',
          ref: { name: 'git-clone' },
          params: [
            { name: 'url', value: 'https://example.com/r' },
            { name: 'colour', value: 'blue' },
          ],
        },
        // A StepAction that does not exist.
        { name: 'lint', ref: { name: 'golangci-lint' } },
        // A field Tekton forbids next to ref.
        { name: 'build', ref: { name: 'go-build' }, image: 'golang:1.25' },
      ],
    },
  },
}

t.test('a TaskRun with several problems is denied with all of them, as render reports them', async (t) => {
  const reply = await server.review('/mutate', reviewOf(threeProblems, { uid: 'deny-1' }))
  t.equal(reply.status, 200, 'a denial is still HTTP 200')
  const response = reply.body.response
  t.equal(response.uid, 'deny-1')
  t.equal(response.allowed, false)
  t.notOk(response.patch, 'no patch on a denial')
  t.notOk(response.patchType)
  t.equal(response.status?.code, 422)
  t.equal(response.status?.reason, 'Invalid')
  const lines = (response.status?.message ?? '').split('\n')
  t.equal(lines.length, 3, 'one line per problem')
  t.match(lines, [/^TaskRun default\/broken: /, /^TaskRun default\/broken: /, /^TaskRun default\/broken: /], 'every line names the object')
  const message = response.status?.message ?? ''
  t.match(message, /steps\[0\]\.params: extra params passed by Step to StepAction: \[colour\]/, 'extra param')
  t.match(message, /steps\[1\]\.ref: .*"golangci-lint" not found in namespace "default"; local references must resolve at admission/, 'missing StepAction')
  t.match(message, /steps\[2\]\.image: image cannot be used with Ref/, 'forbidden field')

  const rendered = await renderObject(t, threeProblems, required)
  t.equal(rendered.code, 1, 'render fails on the same object')
  t.equal(rendered.out, '', 'render prints nothing on stdout')
  t.same(lines, rendered.errors, 'the denial lists exactly the errors render prints')
})

t.test('a generateName-only object is named with its prefix in the denial', async (t) => {
  const object = structuredClone(threeProblems)
  object.metadata = { generateName: 'broken-', namespace: 'default' }
  const reply = await server.review('/mutate', reviewOf(object, { uid: 'deny-gen', name: '' }))
  const lines = (reply.body.response.status?.message ?? '').split('\n')
  t.equal(lines.length, 3)
  t.ok(
    lines.every((l) => l.startsWith('TaskRun default/broken-*: ')),
    'named by generateName',
  )
  t.same(lines, (await renderObject(t, object, required)).errors, 'same lines as render')
})

t.test('a PipelineRun step param that refers to a task result: its task is left for the TaskRun, with a warning', async (t) => {
  const object: KubeObject = {
    apiVersion: 'tekton.dev/v1',
    kind: 'PipelineRun',
    metadata: { name: 'warned', namespace: 'default' },
    spec: {
      pipelineSpec: {
        tasks: [
          { name: 'x', taskSpec: { results: [{ name: 'y' }], steps: [{ name: 'produce', image: 'busybox:1.37', script: 'printf u > $(results.y.path)' }] } },
          {
            name: 'consume',
            runAfter: ['x'],
            taskSpec: { steps: [{ name: 'clone', ref: { name: 'git-clone' }, params: [{ name: 'url', value: '$(tasks.x.results.y)' }] }] },
          },
        ],
      },
    },
  }
  const reply = await server.review('/mutate', reviewOf(object, { uid: 'warn-1' }))
  t.equal(reply.status, 200)
  const response = reply.body.response
  t.equal(response.allowed, true, 'a warning does not deny')
  t.equal(response.patch, undefined, 'nothing else to expand: no patch')
  t.type(response.warnings, Array, 'warnings present')
  const warnings = response.warnings ?? []
  t.equal(warnings.length, 1)
  t.match(
    warnings[0],
    /^spec\.pipelineSpec\.tasks\[1\] \(task "consume"\): steps left for the TaskRun Tekton creates, expanded when it is admitted: a step param uses \$\(tasks\.x\.results\.y\)/,
  )
  for (const w of warnings) t.ok(w.length <= 256, `warning within the 256 characters the API server keeps: ${w.length}`)

  const rendered = await renderObject(t, object, required)
  t.equal(rendered.code, 0)
  t.same(
    rendered.warnings,
    warnings.map((w) => `PipelineRun default/warned: ${w}`),
    'render warns the same, prefixed with the object',
  )
  t.equal(JSON.stringify(object), JSON.stringify(JSON.parse(rendered.out)), 'render prints it unchanged too')
})

const validStepAction = (apiVersion: string, name: string): KubeObject => ({
  apiVersion,
  kind: 'StepAction',
  metadata: { name, namespace: 'default' },
  spec: {
    image: 'alpine:3.22',
    params: [{ name: 'message', default: 'hello' }],
    env: [{ name: 'MESSAGE', value: '$(params.message)' }],
    script: 'echo "$MESSAGE"',
  },
})

const brokenStepAction = (apiVersion: string): KubeObject => ({
  apiVersion,
  kind: 'StepAction',
  metadata: { name: 'broken', namespace: 'default' },
  spec: {
    image: 'alpine:3.22',
    command: ['sh'],
    script: 'echo hello',
    params: [
      { name: 'flags', type: 'array', default: 'not-an-array' },
      { name: 'count', type: 'string', default: ['a'] },
    ],
    args: ['$(params.missing)'],
  },
})

for (const version of ['v1alpha1', 'v1beta1']) {
  const kind = { group: 'tekton.dev', version, kind: 'StepAction' }
  const resource = { group: 'tekton.dev', version, resource: 'stepactions' }

  t.test(`POST /validate allows a valid ${version} StepAction`, async (t) => {
    const reply = await server.review('/validate', reviewOf(validStepAction(`tekton.dev/${version}`, 'echo'), { uid: `ok-${version}`, kind, resource }))
    t.equal(reply.status, 200)
    t.equal(reply.body.apiVersion, 'admission.k8s.io/v1')
    t.equal(reply.body.kind, 'AdmissionReview')
    t.same(reply.body.response, { uid: `ok-${version}`, allowed: true }, 'allowed, no patch, no status')
  })

  t.test(`POST /validate denies a ${version} StepAction with every problem listed`, async (t) => {
    const reply = await server.review(
      '/validate',
      reviewOf(brokenStepAction(`tekton.dev/${version}`), { uid: `bad-${version}`, kind, resource, operation: 'UPDATE' }),
    )
    t.equal(reply.status, 200)
    const response = reply.body.response
    t.equal(response.uid, `bad-${version}`)
    t.equal(response.allowed, false)
    t.equal(response.status?.code, 422)
    t.notOk(response.patch, '/validate never patches')
    const lines = (response.status?.message ?? '').split('\n')
    t.ok(
      lines.every((l) => l.startsWith('StepAction default/broken: ')),
      'every line names the StepAction',
    )
    const expected = [
      /spec\.script: script cannot be used with command/,
      /spec\.args\[0\]: non-existent variable in "\$\(params\.missing\)"/,
      /spec\.params\[0\]\.default: "array" type does not match default value's type: "string"/,
      /spec\.params\[1\]\.default: "string" type does not match default value's type: "array"/,
    ]
    t.equal(lines.length, expected.length, 'one line per problem, no more')
    for (const re of expected)
      t.ok(
        lines.some((l) => re.test(l)),
        `lists ${re}`,
      )
  })
}

t.test('POST /validate denies a StepAction that fails the schema', async (t) => {
  const object = validStepAction('tekton.dev/v1beta1', 'typo')
  ;(object.spec as Record<string, unknown>).imagePullPolicy = 'Always'
  const reply = await server.review('/validate', reviewOf(object, { uid: 'schema' }))
  t.equal(reply.body.response.allowed, false)
  t.equal(reply.body.response.status?.code, 422)
  t.match(reply.body.response.status?.message, /imagePullPolicy/)
})

t.test('POST /validate passes what it does not check', async (t) => {
  const del = reviewOf(brokenStepAction('tekton.dev/v1beta1'), { uid: 'sa-del', operation: 'DELETE', name: 'broken' })
  t.same((await server.review('/validate', del)).body.response, { uid: 'sa-del', allowed: true }, 'DELETE of a StepAction')
  const taskRun: KubeObject = { apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { name: 'r', namespace: 'default' }, spec: {} }
  t.same((await server.review('/validate', reviewOf(taskRun, { uid: 'tr' }))).body.response, { uid: 'tr', allowed: true }, 'another kind')
})

t.test('POST /validate refuses a TaskGroup with every problem it has as written, and admits a valid one', async (t) => {
  const group: KubeObject = {
    apiVersion: 'custom.tekton.dev/v1alpha1',
    kind: 'TaskGroup',
    metadata: { name: 'clone-and-build', namespace: 'default' },
    spec: {
      steps: [
        { name: 'fetch', image: 'git', uses: { taskRef: { name: 'git-clone' } } },
        { name: 'fetch', uses: {} },
      ],
    },
  }
  const reply = await server.review('/validate', reviewOf(group, { uid: 'tg' }))
  t.equal(reply.body.response.allowed, false)
  t.equal(reply.body.response.status?.code, 422)
  const lines = (reply.body.response.status?.message ?? '').split('\n')
  t.match(lines, [
    /^TaskGroup default\/clone-and-build: spec\.steps\[1\]\.name: the name of spec\.steps\[0\] too/,
    /^TaskGroup default\/clone-and-build: spec\.steps\[0\]: a step with uses takes its steps from the used Task: it cannot also set image/,
    /^TaskGroup default\/clone-and-build: spec\.steps\[1\]\.uses\.taskRef: uses needs a taskRef/,
  ])
  const fixed = { ...group, spec: { steps: [{ name: 'fetch', uses: { taskRef: { name: 'git-clone' } } }] } }
  t.equal((await server.review('/validate', reviewOf(fixed, { uid: 'tg-ok' }))).body.response.allowed, true)
})
