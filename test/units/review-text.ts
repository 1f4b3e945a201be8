// reviewText puts a response's base64 patch into the review's JSON text
// itself instead of letting JSON.stringify scan it: the text must be exactly
// what JSON.stringify writes, whatever the uid, warnings and status say
// (text that spells the patch member included) and whichever members are set.

import assert from 'node:assert/strict'
import fc from 'fast-check'
import t from 'tap'
import { reviewText } from '../../src/admission/handle.ts'
import type { AdmissionResponse, Base64 } from '../../src/types/admission.ts'

const spelled = fc.oneof(fc.constantFrom('"patch":""', 'patch', '","patch":"', '\\"patch\\":\\"\\"', '', '\\'), fc.string({ maxLength: 12 }))
const patchText = fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString('base64') as Base64)
const anyResponse: fc.Arbitrary<AdmissionResponse> = fc.record(
  {
    uid: spelled,
    allowed: fc.boolean(),
    status: fc.record({ code: fc.integer({ min: 200, max: 599 }), message: spelled, reason: spelled }, { requiredKeys: ['code', 'message'] }),
    patchType: fc.constant('JSONPatch' as const),
    patch: patchText,
    warnings: fc.array(spelled, { maxLength: 3 }),
    auditAnnotations: fc.dictionary(spelled, spelled, { maxKeys: 2 }),
  },
  { requiredKeys: ['uid', 'allowed'] },
)

/**
 * Any response, or one with a patch and no audit annotations (the short way
 * the review text takes): half the runs each, so the short way is tried
 * hundreds of times by design, not by the chance of optional keys (47 of 500
 * in one run, under the 50 asked for below).
 */
const response: fc.Arbitrary<AdmissionResponse> = fc.oneof(
  anyResponse,
  fc.tuple(anyResponse, patchText).map(([r, patch]) => {
    const { auditAnnotations: _, ...rest } = r
    return { ...rest, patchType: 'JSONPatch' as const, patch }
  }),
)

t.test('the review text is what JSON.stringify writes', async (t) => {
  let patched = 0
  fc.assert(
    fc.property(response, (r) => {
      if (r.patch !== undefined && r.auditAnnotations === undefined) patched++
      assert.equal(reviewText(r), JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: r }))
    }),
    { numRuns: 500 },
  )
  t.pass('500 responses')
  t.ok(patched > 50, `${patched} responses took the patch's short way`)
  // The member spelled in a uid before the patch, and in a warning after it.
  const tricky: AdmissionResponse = { uid: '"patch":""', allowed: true, patchType: 'JSONPatch', patch: 'W10=' as Base64, warnings: ['"patch":""'] }
  t.equal(JSON.parse(reviewText(tricky)).response.patch, 'W10=')
})
