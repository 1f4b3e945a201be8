// The envelope of a large AdmissionReview, read from its text without parsing
// its objects (src/admission/envelope.ts): what a deadline answer needs of a
// request no worker read.

import t from 'tap'
import { envelopeFields } from '../../src/admission/handle.ts'
import { envelopeOf } from '../../src/admission/envelope.ts'

const big = {
  apiVersion: 'tekton.dev/v1',
  kind: 'TaskRun',
  metadata: { name: 'tr', namespace: 'team' },
  spec: { x: 'y'.repeat(200_000), '"uid"': { uid: 'inside' } },
}
/** As the API server writes a review: kind and apiVersion first, the request's fields in its Go struct's order. */
const review = (request: Record<string, unknown>, first: Record<string, unknown> = { kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1' }) =>
  JSON.stringify({ ...first, request })
const request = {
  uid: 'a1b2',
  kind: { group: 'tekton.dev', version: 'v1', kind: 'TaskRun' },
  resource: { group: 'tekton.dev', version: 'v1', resource: 'taskruns' },
  name: 'tr',
  namespace: 'team',
  operation: 'CREATE',
  userInfo: { username: 'alice', extra: { note: ['"object": {"uid": "fake"}'] } },
  object: big,
  oldObject: null,
  dryRun: false,
}

t.test("a large review's envelope, its object never read", async (t) => {
  const text = review(request)
  t.ok(text.length > 200_000)
  t.match(envelopeFields('mutate', text), {
    uid: 'a1b2',
    uidWhole: 'a1b2',
    kind: 'TaskRun',
    namespace: 'team',
    name: 'tr',
    operation: 'CREATE',
    resource: 'taskruns',
  })
  t.notOk('object' in ((envelopeOf(text, 64 * 1024)?.request as object) ?? {}), 'the object is not built')
})

t.test('what a client wrote in another order is read while it is within the bound', async (t) => {
  // The object before the uid: stepped over while it fits in the first 64 KiB.
  const small = { ...request, object: { ...big, spec: {} } }
  const reordered = { object: small.object, uid: 'late-uid', kind: small.kind, operation: 'CREATE', name: 'tr', namespace: 'team' }
  t.match(envelopeFields('mutate', review(reordered)), { uid: 'late-uid', kind: 'TaskRun' })
  t.match(envelopeFields('mutate', review(request, {})), { uid: 'a1b2' }, 'no kind and apiVersion before the request')
  // Past the bound, nothing: the answer at the deadline is then the 503 it always was.
  t.equal(envelopeFields('mutate', review({ object: big, uid: 'too-late', kind: request.kind, operation: 'CREATE' })), undefined)
})

t.test('what is not a review is no envelope', async (t) => {
  for (const text of [
    '',
    'not json',
    '[1, 2]',
    '{"kind": "AdmissionReview"',
    review({ ...request, uid: 7 }),
    review(request, { kind: 'Other', apiVersion: 'v1' }),
  ]) {
    t.equal(envelopeFields('mutate', text), undefined, JSON.stringify(text.slice(0, 40)))
  }
})
