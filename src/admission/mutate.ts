// POST /mutate for one decoded request: the same splice `render` runs, then
// the difference as a JSON patch. Pure apart from catalog lookups.

import type { LoadedPolicy, PolicyReport } from '../policy/types.ts'
import type { Catalog } from '../resolution/catalog.ts'
import { describeObject } from '../problems/describe.ts'
import { isJsonObject } from '../json/values.ts'
import { limits } from '../limits/limits.ts'
import { boundWarnings, problemLines } from '../limits/report.ts'
import { judgeImageUpdate, leftAsSent, namespaceOf, type SpliceDeps, spliceObject } from '../pipeline/splice.ts'
import type { AdmissionRequest, AdmissionResponse } from '../types/admission.ts'
import type { KubeObject } from '../types/k8s.ts'
import { withDeadline } from './deadline.ts'
import { diffPatch, encodePatch } from './patch.ts'

export type OnTimeout = 'deny' | 'allow'

export interface MutateOptions {
  /** Milliseconds to answer within; keep it below the webhook's timeoutSeconds. */
  deadlineMs: number
  onTimeout: OnTimeout
  /** Image of the init container that writes Pod step scripts (see src/pods/prepare.ts). */
  prepareImage?: string
  /** Write TaskRuns' taskRefs out as their Tasks' specs when the catalog holds Tasks (default true). */
  inlineTaskRefs?: boolean
  /** Kinds of reference that must resolve at admission (see pipeline/splice.ts#SpliceDeps); an array, to cross to workers. */
  requireResolution?: readonly string[]
  /** Step policies (plain data, so they cross to workers). */
  policies?: readonly LoadedPolicy[]
  /**
   * Users the Tekton controller runs as (`--tekton-controller`): a TaskRun one
   * of them creates for a PipelineRun carries provenance stepsplice recorded
   * when it admitted that PipelineRun (pipeline/provenance.ts).
   */
  tektonControllers?: readonly string[]
  /** A namespace's labels, for policies that select namespaces by label (a worker asks the server's thread). */
  namespaceLabels?: SpliceDeps['namespaceLabels']
}

export type Outcome = 'patched' | 'unchanged' | 'denied' | 'timeout' | 'skipped'

export interface Admission {
  response: AdmissionResponse
  outcome: Outcome
  /** Lower-case plural resource, for logs and metric labels. */
  resource: string
  expandedSteps: number
  /** What the step policies did, when any governs the object: for metrics. */
  policyReport?: PolicyReport
}

const mutableKinds = new Map([
  ['tekton.dev/TaskRun', 'taskruns'],
  ['tekton.dev/PipelineRun', 'pipelineruns'],
  ['/Pod', 'pods'],
])

/** Pods are immutable once created, so they are only ever spliced at CREATE. */
function mutableOperation(request: AdmissionRequest): boolean {
  if (request.kind.kind === 'Pod') return request.operation === 'CREATE'
  return request.operation === 'CREATE' || request.operation === 'UPDATE'
}

export function resourceOf(request: AdmissionRequest): string {
  return request.resource?.resource || mutableKinds.get(`${request.kind.group}/${request.kind.kind}`) || request.kind.kind.toLowerCase()
}

/**
 * The answer when the deadline passes: a 504 denial, or with `--on-timeout
 * allow` admission unexpanded with a warning. `phase` says what was still
 * going on: waiting for definitions (`resolved`) or working on them (`expanded`).
 */
export function timeoutResponse(
  uid: string,
  label: string,
  options: Pick<MutateOptions, 'deadlineMs' | 'onTimeout'>,
  phase: 'resolved' | 'expanded',
): AdmissionResponse {
  const what = phase === 'resolved' ? 'step definitions could not be resolved' : 'steps could not be expanded'
  const message = `${label}: ${what} within ${options.deadlineMs} ms`
  if (options.onTimeout === 'allow') return { uid, allowed: true, warnings: boundWarnings([`stepsplice: ${message}; admitted without expansion`]) }
  return { uid, allowed: false, status: { code: 504, reason: 'Timeout', message } }
}

/** A TaskRun the Tekton controller creates for a PipelineRun: who asks is the API server's word, not the object's. */
function createdByTekton(request: AdmissionRequest, object: KubeObject, options: MutateOptions): boolean {
  const user = request.userInfo?.username
  if (typeof user !== 'string' || !(options.tektonControllers ?? []).includes(user) || object.kind !== 'TaskRun') return false
  const owners = Array.isArray(object.metadata?.ownerReferences) ? object.metadata.ownerReferences : []
  return owners.some(
    (o: unknown) =>
      typeof o === 'object' &&
      o !== null &&
      (o as { kind?: unknown }).kind === 'PipelineRun' &&
      (o as { controller?: unknown }).controller === true &&
      String((o as { apiVersion?: unknown }).apiVersion).startsWith('tekton.dev/'),
  )
}

export async function mutate(request: AdmissionRequest, catalog: Catalog, options: MutateOptions): Promise<Admission> {
  const resource = resourceOf(request)
  const pass = (outcome: Outcome, warnings: readonly string[] = []): Admission => ({
    response: { uid: request.uid, allowed: true, ...(warnings.length > 0 ? { warnings: boundWarnings(warnings) } : {}) },
    outcome,
    resource,
    expandedSteps: 0,
  })
  const handled = mutableKinds.has(`${request.kind.group}/${request.kind.kind}`)
  const object = request.object
  // A Pod's UPDATE may change its images: judged by the policies in force, never spliced.
  const old = request.oldObject
  const imageUpdate = handled && request.kind.kind === 'Pod' && request.operation === 'UPDATE' && isJsonObject(old) && (options.policies?.length ?? 0) > 0
  if (!handled || !(mutableOperation(request) || imageUpdate) || !object) return pass('skipped')
  // Most Pods ask for nothing: answered without the pipeline's deadline timer and stages, as it would answer them.
  if (leftAsSent(object, options)) return pass('unchanged')

  const namespace = namespaceOf(object, request.namespace || 'default')
  const deadline = Date.now() + options.deadlineMs
  const deps: SpliceDeps = {
    catalog,
    ...(options.prepareImage ? { prepareImage: options.prepareImage } : {}),
    ...(options.inlineTaskRefs === undefined ? {} : { inlineTaskRefs: options.inlineTaskRefs }),
    ...(options.requireResolution === undefined ? {} : { requireResolution: new Set(options.requireResolution) }),
    ...(options.policies === undefined ? {} : { policies: options.policies }),
    ...(options.namespaceLabels === undefined ? {} : { namespaceLabels: options.namespaceLabels }),
  }
  const result = await withDeadline(options.deadlineMs, (signal) =>
    imageUpdate && isJsonObject(old)
      ? judgeImageUpdate(object, old as KubeObject, namespace, deps, { signal, deadline })
      : spliceObject(object, namespace, deps, {
          signal,
          deadline,
          ...(request.operation === 'UPDATE' && request.oldObject ? { oldObject: request.oldObject } : {}),
          ...(createdByTekton(request, object, options) ? { createdByTekton: true } : {}),
        }),
  )
  const label = describeObject(object, namespace)
  if ('timedOut' in result) return { response: timeoutResponse(request.uid, label, options, 'resolved'), outcome: 'timeout', resource, expandedSteps: 0 }
  const expansion = result.value
  const tally = expansion.policyReport === undefined ? {} : { policyReport: expansion.policyReport }
  if (expansion.problems.length > 0) {
    return {
      response: {
        uid: request.uid,
        allowed: false,
        status: { code: 422, reason: 'Invalid', message: problemLines(expansion.problems, label).join('\n') },
        ...(expansion.warnings.length > 0 ? { warnings: boundWarnings(expansion.warnings) } : {}),
      },
      outcome: 'denied',
      resource,
      expandedSteps: 0,
      ...tally,
    }
  }
  const ops = expansion.changed ? diffPatch(object, expansion.object) : []
  if (ops.length === 0) return { ...pass('unchanged', expansion.warnings), ...tally }
  const patch = encodePatch(ops)
  if (patch.bytes > limits.objectBytes) {
    // Bounded like everything we produce: the API server takes no larger request, and this would become one.
    const message = `the patch is ${patch.bytes} bytes of JSON: more than ${limits.objectBytes} (limit objectBytes)`
    if (request.kind.kind !== 'Pod') return { ...pass('unchanged', [`stepsplice left this ${request.kind.kind} for Tekton to expand: ${message}`]), ...tally }
    return {
      response: { uid: request.uid, allowed: false, status: { code: 422, reason: 'Invalid', message: `${label}: ${message}` } },
      outcome: 'denied',
      resource,
      expandedSteps: 0,
      ...tally,
    }
  }
  return {
    response: {
      uid: request.uid,
      allowed: true,
      patchType: 'JSONPatch',
      patch: patch.base64,
      ...(expansion.warnings.length > 0 ? { warnings: boundWarnings(expansion.warnings) } : {}),
    },
    outcome: 'patched',
    resource,
    expandedSteps: expansion.expanded.length,
    ...tally,
  }
}
