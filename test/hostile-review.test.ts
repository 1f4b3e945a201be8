// The second round of hostile inputs, found by a review of the hardening:
// small requests that still cost seconds of work, ways around the reserved
// names and the provenance check, sizes counted in the wrong unit, and
// crafted fields that gave a 500. The server's deadline here is 3 s, far
// above what any of these needs now (milliseconds) and far below what each
// took before (4 to 48 s): a regression shows as a timeout.

import t from 'tap'
import { parseDocuments } from '../src/json/documents.ts'
import type { KubeObject } from '../src/types/k8s.ts'
import { catalogOf, stepAction, taskRun } from './helpers/catalog.ts'
import { podWith } from './helpers/pod.ts'
import { decodePatch, reviewOf, startTestServer, type TestServer } from './helpers/server.ts'

const catalog = catalogOf(
  stepAction('echo', { image: 'alpine', params: [{ name: 'msg', default: 'hi' }], env: [{ name: 'MSG', value: '$(params.msg)' }], command: ['echo'] }),
  stepAction('list', { image: 'alpine', params: [{ name: 'items', type: 'array', default: ['a'] }], args: ['$(params.items[*])'] }),
  stepAction('root', { image: 'alpine', securityContext: { runAsUser: 0 }, command: ['id'] }),
  stepAction('write', { image: 'alpine', script: 'echo hi > /workspace/x' }),
)

let server: TestServer
t.before(async () => {
  server = await startTestServer(t, { catalog, deadlineMs: 3000 })
})

interface Answer {
  status: number
  allowed: boolean
  message: string
  warnings: string[]
  patch: unknown[] | undefined
  size: number
}

async function send(body: string): Promise<Answer> {
  const res = await server.request('/mutate', { body })
  const r = (JSON.parse(res.text) as { response?: { allowed: boolean; status?: { message?: string }; warnings?: string[]; patch?: string } }).response
  return {
    status: res.status,
    allowed: r?.allowed ?? false,
    message: r?.status?.message ?? '',
    warnings: r?.warnings ?? [],
    patch: r?.patch === undefined ? undefined : decodePatch(r.patch),
    size: res.text.length,
  }
}

const admit = (object: unknown, overrides: Parameters<typeof reviewOf>[1] = {}): Promise<Answer> =>
  send(JSON.stringify(reviewOf(object as KubeObject, overrides)))
const pod = { kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' } }
const notTimedOut = (t: Tap, a: Answer): void => {
  t.notMatch(a.message, /within 3000 ms/, 'answered, not timed out')
}
type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

t.test('a task default with 20,000 references to another default', async (t) => {
  const a = await admit(
    taskRun({
      params: [
        { name: 'a', default: 'x' },
        { name: 'b', default: '$(params.a)'.repeat(20_000) },
      ],
      steps: [{ name: 'e', ref: { name: 'echo' } }],
    }),
  )
  notTimedOut(t, a)
  t.equal(a.allowed, true)
})

t.test('a 20,000-element array passed to 50 steps, and one of 100,000 to one', async (t) => {
  const items = Array.from({ length: 20_000 }, (_, i) => `i${i}`)
  const steps = Array.from({ length: 50 }, (_, i) => ({ name: `s${i}`, ref: { name: 'list' }, params: [{ name: 'items', value: '$(params.big[*])' }] }))
  const a = await admit(taskRun({ params: [{ name: 'big', type: 'array', default: items }], steps }))
  notTimedOut(t, a)
  t.equal(a.allowed, true)
  const one = await admit(
    taskRun({ steps: [{ name: 's', ref: { name: 'list' }, params: [{ name: 'items', value: Array.from({ length: 100_000 }, (_, i) => `i${i}`) }] }] }),
  )
  notTimedOut(t, one)
  t.equal(one.allowed, true)
})

t.test('a PipelineRun with a 50,000-element default and 100 tasks', async (t) => {
  const tasks = Array.from({ length: 100 }, (_, i) => ({ name: `t${i}`, taskSpec: { steps: [{ name: 'a', image: 'x' }] } }))
  const a = await admit({
    apiVersion: 'tekton.dev/v1',
    kind: 'PipelineRun',
    metadata: { name: 'p', namespace: 'default' },
    spec: { pipelineSpec: { params: [{ name: 'big', type: 'array', default: Array.from({ length: 50_000 }, (_, i) => `v${i}`) }], tasks } },
  })
  notTimedOut(t, a)
  t.equal(a.allowed, true)
})

t.test('an UPDATE whose object and oldObject carry 2,000 provenance entries beside a 1 MB field', async (t) => {
  const entries = JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ path: 'spec', step: `s${i}`, definition: 'x/y', source: 'directory', digest: 'd' })))
  const obj = taskRun({ steps: [{ name: 'e', ref: { name: 'echo' } }] })
  obj.metadata = { ...obj.metadata, annotations: { 'stepsplice.dev/resolved': entries, big: 'z'.repeat(1024 * 1024) } }
  const a = await admit(obj, { operation: 'UPDATE' })
  notTimedOut(t, a)
  t.equal(a.allowed, true)
})

t.test('YAML aliases that multiply a steps annotation are refused before anything walks them', async (t) => {
  const params = Array.from({ length: 2000 }, (_, i) => `{name: p${i}, value: [1]}`).join(', ')
  const text = `- &s {name: a, ref: {name: echo}, params: [${params}]}\n${'- *s\n'.repeat(100)}`
  const a = await admit(podWith(text), pod)
  notTimedOut(t, a)
  t.equal(a.allowed, false)
  // Whichever bound trips first: the YAML parser's own alias count, or what the value expands to.
  t.match(a.message, /expands to more than \d+ bytes .*\(limit stepsAnnotationBytes\)|Excessive alias count/)
  t.ok(a.size < 4096)
})

t.test('a StepAction of 3 MB with a long object param name and "$(params." repeated validates in time', async (t) => {
  const name = `o${'x'.repeat(250)}`
  const sa = stepAction('big', { image: 'alpine', params: [{ name, type: 'object', properties: { k: {} } }], args: ['$(params.'.repeat(330_000)] })
  const res = await server.request('/validate', {
    body: reviewOf(sa as unknown as KubeObject, { kind: { group: 'tekton.dev', version: 'v1beta1', kind: 'StepAction' } }),
  })
  t.equal(res.status, 200)
  t.notMatch(res.text, /within 3000 ms/)
})

t.test('stepsplice volumes cannot become the workspace', async (t) => {
  const steps = [{ name: 'w', ref: { name: 'write' } }]
  const adopted = await admit(
    podWith(steps, {
      annotations: { 'stepsplice.dev/workspace': '/w' },
      spec: { containers: [{ name: 'c', image: 'x', volumeMounts: [{ name: 'stepsplice-scripts', mountPath: '/w' }] }] },
    }),
    pod,
  )
  t.equal(adopted.allowed, false)
  t.match(adopted.message, /mounts volume "stepsplice-scripts" at the workspace path "\/w": names starting with "stepsplice-" are reserved/)
  for (const path of ['/stepsplice', '/stepsplice/scripts']) {
    const under = await admit(podWith(steps, { annotations: { 'stepsplice.dev/workspace': path } }), pod)
    t.equal(under.allowed, false, path)
    t.match(under.message, /must not be \/stepsplice or below it/)
  }
})

t.test('a Pod that asks for no steps cannot carry a provenance record for its own containers', async (t) => {
  const forged = podWith('[]', {
    annotations: {
      'stepsplice.dev/resolved':
        '[{"path":"metadata.annotations[\\"stepsplice.dev/steps\\"][0]","step":"clone","definition":"default/git-clone","source":"directory","digest":"sha256:0"}]',
    },
    spec: { initContainers: [{ name: 'step-clone', image: 'evil' }], containers: [{ name: 'main', image: 'x' }] },
  })
  const a = await admit(forged, pod)
  t.equal(a.allowed, false)
  t.match(a.message, /stepsplice\.dev\/resolved.*lists steps this Pod's stepsplice\.dev\/steps does not ask for/)
})

t.test('sizes are counted as JSON bytes: control characters escape to six', async (t) => {
  const steps = Array.from({ length: 2 }, (_, i) => ({ name: `s${i}`, ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.v)' }] }))
  const a = await admit(taskRun({ params: [{ name: 'v' }], steps }, [{ name: 'v', value: '\u0001'.repeat(400_000) }]))
  t.equal(a.allowed, true)
  t.notOk(a.patch, "not expanded: the result would pass the API server's limit")
  t.match(a.warnings, [/limit objectBytes/])
  t.ok(a.size < 8192, `answer of ${a.size} bytes`)
})

t.test('a field whose value is an object with a non-function toString is a field, not a 500', async (t) => {
  const review = reviewOf(taskRun({ steps: [{ name: 'e', ref: { name: 'echo' } }] })) as { request: Record<string, unknown> }
  review.request.namespace = { toString: 1 }
  review.request.name = { toString: 1 }
  const a = await send(JSON.stringify(review))
  t.equal(a.status, 200)
  t.equal(a.allowed, true)
})

t.test('very deep JSON with a 16-digit number is still JSON', async (t) => {
  const deep = `${'['.repeat(10_000)}"x"${']'.repeat(10_000)}`
  const body = JSON.stringify(reviewOf(taskRun({ steps: [{ name: 'e', ref: { name: 'echo' }, params: [{ name: 'msg', value: 'DEEP' }] }] }))).replace(
    '"DEEP"',
    `${deep}, "n": 1234567890123456789`,
  )
  const a = await send(body)
  t.equal(a.status, 200, 'not "body is not valid JSON"')
  t.equal(a.allowed, true)
  t.match(a.warnings, [/limit depth/])
})

t.test("a securityContext that is not an object, replaced by the definition's, is said", async (t) => {
  const a = await admit(taskRun({ steps: [{ name: 'r', ref: { name: 'root' }, securityContext: 'runAsNonRoot' }] }))
  t.equal(a.allowed, true)
  t.match(a.warnings, [/replaces the securityContext of step "r"; lost: the whole securityContext/])
})

t.test('a YAML file full of errors on one line: a few errors said, the rest counted, read once', async (t) => {
  const text = `a: [${'{]'.repeat(40_000)}`
  const parsed = parseDocuments(text, 'broken.yaml')
  t.ok(parsed.errors.length <= 6, `${parsed.errors.length} lines`)
  t.match(parsed.errors[0], /^broken\.yaml: .* at line 1, column \d+$/)
  t.match(parsed.errors.at(-1), /^broken\.yaml: and \d+ more errors$/)
})
