// POST /validate: StepAction objects checked as Tekton's own admission checks
// them, so a cluster without Tekton still refuses a broken definition at
// `kubectl apply`, with every problem listed at once.

import { describeObject } from '../problems/describe.ts'
import { problemLines } from '../limits/report.ts'
import { validateStepAction } from '../definitions/definition.ts'
import type { AdmissionRequest, AdmissionResponse } from '../types/admission.ts'

export function validateStepActionRequest(request: AdmissionRequest): { response: AdmissionResponse; problems: number } {
  const object = request.object
  const relevant = request.kind.group === 'tekton.dev' && request.kind.kind === 'StepAction'
  if (!relevant || (request.operation !== 'CREATE' && request.operation !== 'UPDATE') || !object) {
    return { response: { uid: request.uid, allowed: true }, problems: 0 }
  }
  const problems = validateStepAction(object)
  if (problems.length === 0) return { response: { uid: request.uid, allowed: true }, problems: 0 }
  const label = describeObject(object, request.namespace)
  return {
    response: {
      uid: request.uid,
      allowed: false,
      status: { code: 422, reason: 'Invalid', message: problemLines(problems, label).join('\n') },
    },
    problems: problems.length,
  }
}
