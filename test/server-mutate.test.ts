// POST /mutate on the real HTTPS server: the patch it returns, applied to what
// was sent, must give exactly what `stepsplice render` prints for the same object.

import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { parseDocuments } from '../src/json/documents.ts'
import { toDefinition } from '../src/definitions/definition.ts'
import type { StepReference } from '../src/definitions/reference.ts'
import { MemoryCatalog } from '../src/resolution/memory.ts'
import type { KubeObject } from '../src/types/k8s.ts'
import type { StepAction } from '../src/types/tekton.ts'
import { applyEncodedPatch, decodePatch, renderObject, reviewOf, root, startTestServer, type TapTest, type TestServer } from './helpers/server.ts'

const exampleReview = JSON.parse(await readFile(join(root, 'examples/admission/taskrun-review.json'), 'utf8')) as {
  request: { uid: string; object: KubeObject }
}

async function pipelineRun(): Promise<KubeObject> {
  const parsed = parseDocuments(await readFile(join(root, 'examples/taskruns/image-pipeline.yaml'), 'utf8'), 'image-pipeline.yaml')
  if (parsed.errors.length > 0) throw new Error(parsed.errors.join('\n'))
  return parsed.documents[0] as KubeObject
}

let server: TestServer
t.before(async () => {
  server = await startTestServer(t)
})

/** Posts `review`, checks the envelope, and returns the response. */
async function mutate(t: TapTest, review: unknown) {
  const reply = await server.review('/mutate', review)
  t.equal(reply.status, 200, 'HTTP 200')
  t.equal(reply.body.apiVersion, 'admission.k8s.io/v1', 'answers in the request version')
  t.equal(reply.body.kind, 'AdmissionReview')
  return reply
}

t.test('the example TaskRun review is patched into exactly what render prints', async (t) => {
  const reply = await mutate(t, exampleReview)
  const response = reply.body.response
  t.equal(response.uid, exampleReview.request.uid, 'uid echoed')
  t.equal(response.allowed, true)
  t.equal(response.patchType, 'JSONPatch')
  t.type(response.patch, 'string')
  t.match(response.patch, /^[A-Za-z0-9+/]+={0,2}$/, 'patch is base64')
  t.notOk(response.status, 'no status on an allowed response')

  const object = exampleReview.request.object
  const patched = applyEncodedPatch(object, response.patch ?? '')
  const rendered = await renderObject(t, object)
  t.equal(rendered.code, 0, `render succeeds: ${rendered.err}`)
  t.equal(JSON.stringify(patched), JSON.stringify(JSON.parse(rendered.out)), 'patched object is byte-identical to render output')
  t.notMatch(JSON.stringify(patched), /"ref":/, 'no step references left')
  t.same(
    object,
    JSON.parse(await readFile(join(root, 'examples/admission/taskrun-review.json'), 'utf8')).request.object,
    'the request object itself was not changed by applying',
  )
})

t.test('a PipelineRun review built from image-pipeline.yaml matches render too', async (t) => {
  const object = await pipelineRun()
  const reply = await mutate(t, reviewOf(object, { uid: 'pr-1' }))
  const response = reply.body.response
  t.equal(response.uid, 'pr-1')
  t.equal(response.allowed, true)
  t.equal(response.patchType, 'JSONPatch')
  const patched = applyEncodedPatch(object, response.patch ?? '')
  const rendered = await renderObject(t, object)
  t.equal(rendered.code, 0, `render succeeds: ${rendered.err}`)
  t.equal(JSON.stringify(patched), JSON.stringify(JSON.parse(rendered.out)), 'patched object is byte-identical to render output')
  t.notMatch(JSON.stringify(patched), /"ref":/, 'no step references left')
})

t.test('dryRun: true gets exactly the same answer', async (t) => {
  const wet = structuredClone(exampleReview) as unknown as { request: Record<string, unknown> }
  const dry = structuredClone(exampleReview) as unknown as { request: Record<string, unknown> }
  dry.request.dryRun = true
  const [a, b] = [await mutate(t, wet), await mutate(t, dry)]
  t.equal(b.text, a.text, 'identical response bodies')
  t.ok(b.body.response.patch, 'dry run is patched too')
})

t.test('posting the patched object again is allowed with no patch (reinvocation is a no-op)', async (t) => {
  const first = await mutate(t, exampleReview)
  const patched = applyEncodedPatch(exampleReview.request.object, first.body.response.patch ?? '') as KubeObject
  const again = await mutate(t, reviewOf(patched, { uid: 'again', operation: 'CREATE' }))
  t.same(again.body.response, { uid: 'again', allowed: true }, 'allowed, nothing else')

  // The same for the PipelineRun, and for an UPDATE carrying an expanded object.
  const pr = await pipelineRun()
  const prFirst = await mutate(t, reviewOf(pr, { uid: 'pr-first' }))
  const prPatched = applyEncodedPatch(pr, prFirst.body.response.patch ?? '') as KubeObject
  const prAgain = await mutate(t, reviewOf(prPatched, { uid: 'pr-again', operation: 'UPDATE' }))
  t.same(prAgain.body.response, { uid: 'pr-again', allowed: true })
})

t.test('an object without step references gets no patch', async (t) => {
  const object: KubeObject = {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { name: 'plain', namespace: 'team-a' },
    spec: { taskSpec: { steps: [{ name: 'hello', image: 'busybox:1.37', script: 'echo hi' }] } },
  }
  const reply = await mutate(t, reviewOf(object, { uid: 'plain' }))
  t.same(reply.body.response, { uid: 'plain', allowed: true })

  const byRef: KubeObject = {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { name: 'by-ref', namespace: 'team-a' },
    spec: { taskRef: { name: 'build' } },
  }
  t.same((await mutate(t, reviewOf(byRef, { uid: 'by-ref' }))).body.response, { uid: 'by-ref', allowed: true }, 'a TaskRun of a referenced Task')
})

t.test('DELETE and other kinds pass untouched', async (t) => {
  const object = exampleReview.request.object
  const del = await mutate(t, reviewOf(object, { uid: 'del', operation: 'DELETE', name: 'build-abcde' }))
  t.same(del.body.response, { uid: 'del', allowed: true }, 'DELETE: allowed, no patch')

  const connect = await mutate(t, reviewOf(object, { uid: 'connect', operation: 'CONNECT' }))
  t.same(connect.body.response, { uid: 'connect', allowed: true }, 'CONNECT: allowed, no patch')

  // A Task (not a run) with a ref step: not ours to mutate.
  const task: KubeObject = {
    apiVersion: 'tekton.dev/v1',
    kind: 'Task',
    metadata: { name: 'build', namespace: 'default' },
    spec: { steps: [{ name: 'clone', ref: { name: 'git-clone' }, params: [{ name: 'url', value: 'https://example.com/r' }] }] },
  }
  t.same((await mutate(t, reviewOf(task, { uid: 'task' }))).body.response, { uid: 'task', allowed: true }, 'Task: allowed, no patch')

  const configMap: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default' }, data: { image: 'x' } }
  t.same(
    (await mutate(t, reviewOf(configMap, { uid: 'cm', kind: { group: '', version: 'v1', kind: 'ConfigMap' } }))).body.response,
    { uid: 'cm', allowed: true },
    'core ConfigMap: allowed, no patch',
  )
})

t.test('generateName-only objects are expanded', async (t) => {
  const object = structuredClone(exampleReview.request.object)
  t.equal(object.metadata?.name, undefined, 'the example has no name')
  t.equal(object.metadata?.generateName, 'build-')
  // The API server sends an empty request.name for these.
  const reply = await mutate(t, reviewOf(object, { uid: 'gen', name: '' }))
  t.equal(reply.body.response.allowed, true)
  const ops = decodePatch(reply.body.response.patch ?? '')
  t.ok(ops.length > 0, 'patched')
  t.notOk(
    ops.some((op) => op.path.startsWith('/metadata/name') || op.path.startsWith('/metadata/generateName')),
    'the name is left for the API server to generate',
  )
  const patched = applyEncodedPatch(object, reply.body.response.patch ?? '')
  const rendered = await renderObject(t, object)
  t.equal(JSON.stringify(patched), JSON.stringify(JSON.parse(rendered.out)))
})

t.test('the API server appends ?timeout= to the webhook URL; that is still /mutate', async (t) => {
  const res = await server.request('/mutate?timeout=10s', { body: exampleReview })
  t.equal(res.status, 200)
  const response = (JSON.parse(res.text) as { response: { uid: string; patchType?: string } }).response
  t.equal(response.uid, exampleReview.request.uid)
  t.equal(response.patchType, 'JSONPatch')
})

t.test('a worker keeps the catalog’s answers by name while the catalog is unchanged, and asks again once it changes', async (t) => {
  const stepAction = (image: string): StepAction => ({
    apiVersion: 'tekton.dev/v1beta1',
    kind: 'StepAction',
    metadata: { name: 'say' },
    spec: { image, script: 'echo hi' },
  })
  const catalog = MemoryCatalog.of('test', [stepAction('alpine:1')])
  let asked = 0
  const resolve = catalog.resolve.bind(catalog)
  catalog.resolve = (ref: StepReference) => {
    asked++
    return resolve(ref)
  }
  const own = await startTestServer(t, { catalog })
  const run = (name: string): KubeObject => ({
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { name, namespace: 'default' },
    spec: {
      taskSpec: {
        steps: [
          { name: 's', ref: { name: 'say' } },
          { name: 't', ref: { name: 'say' } },
        ],
      },
    },
  })
  const imageOf = async (name: string): Promise<unknown> => {
    const reply = await own.review('/mutate', reviewOf(run(name)))
    const patched = applyEncodedPatch(run(name), reply.body.response.patch ?? '') as { spec: { taskSpec: { steps: { image?: string }[] } } }
    return patched.spec.taskSpec.steps[1]?.image
  }
  t.equal(await imageOf('a'), 'alpine:1')
  t.equal(asked, 1, 'one reference, asked once')
  t.equal(await imageOf('b'), 'alpine:1')
  t.equal(asked, 1, 'the next request is answered from what the worker kept')
  catalog.put(toDefinition(stepAction('alpine:2'), { kind: 'directory', location: 'test' }))
  t.equal(await imageOf('c'), 'alpine:2', 'a changed catalog is asked again')
  t.equal(asked, 2)
})

t.test('an answer cut short by the deadline is not kept for the next request', async (t) => {
  const catalog = MemoryCatalog.of('test', [
    { apiVersion: 'tekton.dev/v1beta1', kind: 'StepAction', metadata: { name: 'say' }, spec: { image: 'alpine:1', script: 'echo hi' } },
  ])
  let calls = 0
  const resolve = catalog.resolve.bind(catalog)
  // The first lookup outlasts the request's deadline; the rest answer at once.
  catalog.resolve = async (ref: StepReference) => {
    if (calls++ === 0) await new Promise((r) => setTimeout(r, 1500))
    return resolve(ref)
  }
  const own = await startTestServer(t, { catalog, deadlineMs: 500 })
  const run: KubeObject = {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { name: 'r', namespace: 'default' },
    spec: { taskSpec: { steps: [{ name: 's', ref: { name: 'say' } }] } },
  }
  const first = await own.review('/mutate', reviewOf(run))
  t.equal(first.body.response.allowed, false, 'past the deadline')
  const second = await own.review('/mutate', reviewOf(run))
  t.equal(second.body.response.allowed, true, second.body.response.status?.message ?? '')
  t.ok(second.body.response.patch, 'spliced from what the catalog answers now')
})
