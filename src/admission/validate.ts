// POST /validate: StepAction objects checked as Tekton's own admission checks
// them, so a cluster without Tekton still refuses a broken definition at
// `kubectl apply`, with every problem listed at once; TaskGroups as written;
// stepsplice's own
// StepPolicy and ClusterStepPolicy objects, which the API server's schema
// checks only in part (globs, selectors, which kind may hold what); and the
// provenance annotation of runs, which stepsplice writes at creation and no
// update may change (the TaskRuns Tekton creates for a PipelineRun copy it).

import { describeObject } from '../problems/describe.ts'
import { problemLines } from '../limits/report.ts'
import { validateStepAction } from '../definitions/definition.ts'
import { validateTaskGroup } from '../groups/validate.ts'
import { validatePolicyObject } from '../policy/load.ts'
import { truncateText } from '../problems/truncate.ts'
import { provenanceAnnotation } from '../steps/expansion.ts'
import type { AdmissionRequest, AdmissionResponse } from '../types/admission.ts'

export function validateStepActionRequest(request: AdmissionRequest): { response: AdmissionResponse; problems: number } {
  const object = request.object
  if (request.kind.group === 'stepsplice.dev' && (request.kind.kind === 'StepPolicy' || request.kind.kind === 'ClusterStepPolicy')) {
    return validatePolicyRequest(request)
  }
  if (request.kind.group === 'tekton.dev' && (request.kind.kind === 'TaskRun' || request.kind.kind === 'PipelineRun')) return validateRunUpdate(request)
  if (request.kind.group === 'custom.tekton.dev' && request.kind.kind === 'TaskGroup') return validateTaskGroupRequest(request)
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

/** The provenance annotation as an object holds it; absent and empty are the same. */
function provenanceOf(object: unknown): string {
  const annotations = (object as { metadata?: { annotations?: Record<string, unknown> } } | undefined)?.metadata?.annotations
  const value = annotations?.[provenanceAnnotation]
  return typeof value === 'string' ? value : ''
}

function validateRunUpdate(request: AdmissionRequest): { response: AdmissionResponse; problems: number } {
  const allowed = { response: { uid: request.uid, allowed: true }, problems: 0 }
  if (request.operation !== 'UPDATE' || !request.object || provenanceOf(request.object) === provenanceOf(request.oldObject)) return allowed
  const label = describeObject(request.object, request.namespace)
  const message = `${label}: metadata.annotations["${provenanceAnnotation}"]: written by stepsplice when the run was created; an update may not change it`
  return { response: { uid: request.uid, allowed: false, status: { code: 422, reason: 'Invalid', message } }, problems: 1 }
}

/** A TaskGroup (custom.tekton.dev/v1alpha1) refused at `kubectl apply` with every problem it has as written. */
function validateTaskGroupRequest(request: AdmissionRequest): { response: AdmissionResponse; problems: number } {
  const object = request.object
  if ((request.operation !== 'CREATE' && request.operation !== 'UPDATE') || !object) return { response: { uid: request.uid, allowed: true }, problems: 0 }
  const problems = validateTaskGroup(object)
  if (problems.length === 0) return { response: { uid: request.uid, allowed: true }, problems: 0 }
  const label = describeObject(object, request.namespace)
  return {
    response: { uid: request.uid, allowed: false, status: { code: 422, reason: 'Invalid', message: problemLines(problems, label).join('\n') } },
    problems: problems.length,
  }
}
