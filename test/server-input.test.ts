// What the server says to a caller that sends something other than an
// admission.k8s.io/v1 AdmissionReview: an HTTP status it can act on and a
// message that says what is wrong.

import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { bodyLimit } from '../src/server/app.ts'
import type { KubeObject } from '../src/types/k8s.ts'
import { decodePatch, root, startTestServer, type TestServer } from './helpers/server.ts'

let server: TestServer
t.before(async () => {
  server = await startTestServer(t)
})

const example = JSON.parse(await readFile(join(root, 'examples/admission/taskrun-review.json'), 'utf8')) as {
  request: Record<string, unknown> & { object: KubeObject }
}

function errorOf(text: string): string {
  const body = JSON.parse(text) as { error?: unknown }
  return typeof body.error === 'string' ? body.error : `(no error field in ${text})`
}

interface Case {
  name: string
  body: string | Buffer
  contentType?: string
  status: number
  message: RegExp
}

const withRequest = (change: (request: Record<string, unknown>) => void): string => {
  const review = structuredClone(example)
  change(review.request)
  return JSON.stringify(review)
}

const cases: Case[] = [
  { name: 'not JSON', body: '{"apiVersion": "admission.k8s.io/v1", kind: AdmissionReview', status: 400, message: /^body is not valid JSON: / },
  { name: 'a JSON array', body: '[{"kind": "AdmissionReview"}]', status: 400, message: /^body must be a JSON object: an AdmissionReview$/ },
  { name: 'a JSON number', body: '42', status: 400, message: /^body must be a JSON object/ },
  { name: 'JSON null', body: 'null', status: 400, message: /^body must be a JSON object/ },
  {
    name: 'the wrong kind',
    body: JSON.stringify({ ...example, kind: 'AdmissionRequest' }),
    status: 400,
    message: /^kind must be AdmissionReview, got "AdmissionRequest"$/,
  },
  { name: 'no request', body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), status: 400, message: /^request is missing$/ },
  { name: 'no uid', body: withRequest((r) => delete r.uid), status: 400, message: /^request\.uid is missing$/ },
  { name: 'an empty uid', body: withRequest((r) => (r.uid = '')), status: 400, message: /^request\.uid is missing$/ },
  {
    name: 'admission.k8s.io/v1beta1',
    body: JSON.stringify({ ...example, apiVersion: 'admission.k8s.io/v1beta1' }),
    status: 400,
    message: /unsupported AdmissionReview version "admission\.k8s\.io\/v1beta1".*admissionReviewVersions: \["v1"\]/,
  },
  {
    name: 'an object whose kind does not match request.kind',
    body: withRequest((r) => ((r.object as KubeObject).kind = 'PipelineRun')),
    status: 400,
    message: /^request\.object is tekton\.dev\/v1 PipelineRun but request\.kind declares tekton\.dev\/v1 TaskRun$/,
  },
  {
    name: 'an object whose apiVersion does not match request.kind',
    body: withRequest((r) => ((r.object as KubeObject).apiVersion = 'tekton.dev/v1beta1')),
    status: 400,
    message: /^request\.object is tekton\.dev\/v1beta1 TaskRun but request\.kind declares tekton\.dev\/v1 TaskRun$/,
  },
  {
    name: 'Content-Type text/plain',
    body: JSON.stringify(example),
    contentType: 'text/plain',
    status: 415,
    message: /^Content-Type must be application\/json$/,
  },
  {
    name: 'Content-Type application/x-yaml',
    body: JSON.stringify(example),
    contentType: 'application/x-yaml',
    status: 415,
    message: /^Content-Type must be application\/json$/,
  },
  { name: 'an empty body', body: '', status: 400, message: /^body is empty: expected an AdmissionReview$/ },
]

for (const endpoint of ['/mutate', '/validate']) {
  t.test(`${endpoint} refuses malformed input with a status and a clear message`, async (t) => {
    for (const c of cases) {
      const res = await server.request(endpoint, {
        method: 'POST',
        body: c.body,
        headers: { 'content-type': c.contentType ?? 'application/json', 'content-length': Buffer.byteLength(c.body) },
      })
      t.equal(res.status, c.status, `${c.name}: HTTP ${c.status}`)
      t.match(res.headers['content-type'], /^application\/json/, `${c.name}: the error is JSON`)
      t.match(errorOf(res.text), c.message, `${c.name}: message`)
    }
  })
}

t.test('malformed requests are logged as bad requests, never as admissions', async (t) => {
  const before = server.logs.admissionLines().length
  await server.request('/mutate', { body: withRequest((r) => delete r.uid) })
  await server.request('/mutate', { body: 'nope{' })
  t.equal(server.logs.admissionLines().length, before, 'no admission line')
  const lines = server.logs.lines()
  t.ok(
    lines.some((l) => l.msg === 'bad admission review' && l.reason === 'request.uid is missing'),
    'decode failure logged with its reason',
  )
  t.ok(
    lines.some((l) => l.msg === 'bad request' && l.status === 400 && /not valid JSON/.test(String(l.reason))),
    'parse failure logged with its reason',
  )
})

t.test('application/json with a charset is accepted', async (t) => {
  const res = await server.request('/mutate', { body: JSON.stringify(example), headers: { 'content-type': 'application/json; charset=utf-8' } })
  t.equal(res.status, 200)
  t.equal((JSON.parse(res.text) as { response: { allowed: boolean } }).response.allowed, true)
})

t.test('a body over 7 MiB is refused with 413', async (t) => {
  const body = Buffer.alloc(bodyLimit + 1024, ' ')
  body.write(JSON.stringify(example))
  t.equal(bodyLimit, 7 * 1024 * 1024, 'the limit is 7 MiB')
  const res = await server.request('/mutate', { body, headers: { 'content-length': body.length } })
  t.equal(res.status, 413)
  t.match(errorOf(res.text), /^body is larger than 7340032 bytes$/)

  // Without Content-Length (chunked), the limit holds while reading.
  const chunked = await server.request('/mutate', { body, headers: { 'transfer-encoding': 'chunked' } })
  t.equal(chunked.status, 413, 'chunked: 413')
  t.match(errorOf(chunked.text), /^body is larger than/)
})

t.test("a review of about 6 MiB (object and oldObject near the API server's limit) is accepted", async (t) => {
  const review = structuredClone(example)
  const object = review.request.object
  object.metadata = { ...object.metadata, annotations: { 'example.com/blob': 'x'.repeat(Math.floor(2.9 * 1024 * 1024)) } }
  review.request.operation = 'UPDATE'
  review.request.oldObject = structuredClone(object)
  const body = JSON.stringify(review)
  t.ok(body.length > 5.8 * 1024 * 1024 && body.length < bodyLimit, `body is ${body.length} bytes`)
  const res = await server.request('/mutate', { body })
  t.equal(res.status, 200)
  const response = (JSON.parse(res.text) as { response: { uid: string; allowed: boolean; patch?: string } }).response
  t.equal(response.uid, example.request.uid)
  t.equal(response.allowed, true)
  const ops = decodePatch(response.patch ?? '')
  t.ok(ops.length > 0, 'expanded')
  t.ok(JSON.stringify(ops).length < 64 * 1024, 'the patch does not carry the large annotation back')
  const annotations = (ops.find((op) => op.path === '/metadata/annotations/stepsplice.dev~1resolved') ?? {}) as { value?: unknown }
  t.type(annotations.value, 'string', 'only the provenance annotation is added')
})

t.test('a TaskRun larger than the API server stores is left for Tekton, with a warning naming the limit', async (t) => {
  const review = structuredClone(example)
  const object = review.request.object
  object.metadata = { ...object.metadata, annotations: { 'example.com/blob': 'x'.repeat(4 * 1024 * 1024) } }
  const res = await server.request('/mutate', { body: JSON.stringify(review) })
  t.equal(res.status, 200)
  const response = (JSON.parse(res.text) as { response: { allowed: boolean; patch?: string; warnings?: string[] } }).response
  t.equal(response.allowed, true)
  t.notOk(response.patch, 'not expanded')
  t.match(response.warnings, [/stepsplice left this TaskRun for Tekton to expand: the TaskRun is larger than 3145728 bytes as JSON \(limit objectBytes\)/])
})

t.test('a malformed request.kind or request.object is a decode error, not a crash', async (t) => {
  const res = await server.request('/mutate', { body: withRequest((r) => (r.kind = 'TaskRun')) })
  t.equal(res.status, 400)
  t.match(errorOf(res.text), /^request\.kind must be \{group, version, kind\}$/)
  const res2 = await server.request('/mutate', { body: withRequest((r) => (r.object = 'TaskRun')) })
  t.equal(res2.status, 400)
  t.match(errorOf(res2.text), /^request\.object must be an object$/)
})
