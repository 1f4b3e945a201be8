// POST /validate: StepAction objects checked as Tekton's own admission checks
// them, so a cluster without Tekton still refuses a broken definition at
// `kubectl apply`, with every problem listed at once; and stepsplice's own
// StepPolicy and ClusterStepPolicy objects, which the API server's schema
// checks only in part (globs, selectors, which kind may hold what).

import { describeObject } from '../problems/describe.ts'
import { problemLines } from '../limits/report.ts'
import { validateStepAction } from '../definitions/definition.ts'
import { validatePolicyObject } from '../policy/load.ts'
import { truncateText } from '../problems/truncate.ts'
import type { AdmissionRequest, AdmissionResponse } from '../types/admission.ts'

export function validateStepActionRequest(request: AdmissionRequest): { response: AdmissionResponse; problems: number } {
  const object = request.object
  if (request.kind.group === 'stepsplice.dev' && (request.kind.kind === 'StepPolicy' || request.kind.kind === 'ClusterStepPolicy')) {
    return validatePolicyRequest(request)
  }
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

function validatePolicyRequest(request: AdmissionRequest): { response: AdmissionResponse; problems: number } {
  const object = request.object
  if ((request.operation !== 'CREATE' && request.operation !== 'UPDATE') || !object) return { response: { uid: request.uid, allowed: true }, problems: 0 }
  const problems = validatePolicyObject(object)
  if (problems.length === 0) return { response: { uid: request.uid, allowed: true }, problems: 0 }
  const label = describeObject(object, request.namespace)
  const lines = problems.slice(0, 100).map((p) => truncateText(`${label}: ${p}`, 1024))
  if (problems.length > 100) lines.push(`${label}: and ${problems.length - 100} more problems`)
  return {
    response: { uid: request.uid, allowed: false, status: { code: 422, reason: 'Invalid', message: lines.join('\n') } },
    problems: problems.length,
  }
}
