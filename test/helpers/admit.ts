// Admission in-process, through the same code the server runs per request
// (admission/handle.ts) with a real AdmissionReview's text, and render's
// pipeline beside it, for tests that compare the two.

import { handleAdmission } from '../../src/admission/handle.ts'
import { describeObject } from '../../src/problems/describe.ts'
import { problemLines } from '../../src/limits/report.ts'
import { spliceObject } from '../../src/pipeline/splice.ts'
import type { Catalog } from '../../src/resolution/catalog.ts'
import type { Expansion } from '../../src/steps/expansion.ts'
import type { KubeObject } from '../../src/types/k8s.ts'
import { type AdmissionResponseBody, applyEncodedPatch, type ReviewReply, reviewOf } from './server.ts'

export interface AdmitOptions {
  operation?: 'CREATE' | 'UPDATE'
  /** An UPDATE's stored object; reviewOf sends the object itself otherwise. */
  oldObject?: KubeObject
}

/** The AdmissionReview response `handleAdmission` answers for `object`. */
export async function admit(object: KubeObject, catalog: Catalog, options: AdmitOptions = {}): Promise<AdmissionResponseBody> {
  const review = reviewOf(object, { operation: options.operation ?? 'CREATE' })
  if (options.oldObject !== undefined) (review.request as Record<string, unknown>).oldObject = options.oldObject
  const handled = await handleAdmission('mutate', JSON.stringify(review), catalog, { deadlineMs: 60_000, onTimeout: 'deny' })
  if (handled.status !== 200) throw new Error(`handleAdmission answered ${handled.status}: ${handled.body}`)
  if (handled.failure !== undefined) throw new Error(`handleAdmission failed: ${handled.failure.message}`)
  return (JSON.parse(handled.body) as ReviewReply['body']).response
}

/** `object` with the response's patch applied (validated, as the API server does), or `object` itself when there is none. */
export function patched(object: KubeObject, response: AdmissionResponseBody): KubeObject {
  return response.patch === undefined ? object : (applyEncodedPatch(object, response.patch) as KubeObject)
}

/** What `stepsplice render` computes for `object`: the shared pipeline, Pods only (no workload templates), as admission does. */
export function render(object: KubeObject, catalog: Catalog): Promise<Expansion> {
  return spliceObject(object, object.metadata?.namespace ?? 'default', { catalog }, { includeWorkloads: false })
}

/** The denial text admission gives for render's problems. */
export function denialOf(object: KubeObject, expansion: Expansion): string {
  return problemLines(expansion.problems, describeObject(object, object.metadata?.namespace ?? 'default')).join('\n')
}
