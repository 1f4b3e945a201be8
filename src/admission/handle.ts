// One admission request, from the body's text to the answer's text: parse,
// decode, mutate or validate, and the AdmissionReview back. Everything the
// server does per request apart from HTTP itself, so it can run on a worker
// thread that can be stopped when the deadline passes (see server/pool.ts),
// or in the server's own thread when there is no pool.

import { parseJson } from '../json/parse-json.ts'
import { truncateText } from '../problems/truncate.ts'
import type { Catalog } from '../resolution/catalog.ts'
import type { PolicyReport } from '../policy/types.ts'
import type { AdmissionRequest, AdmissionResponse, AdmissionReview } from '../types/admission.ts'
import { decodeReview } from './decode.ts'
import { envelopeOf } from './envelope.ts'
import { type MutateOptions, mutate, resourceOf, timeoutResponse } from './mutate.ts'
import { validateStepActionRequest } from './validate.ts'

export type Endpoint = 'mutate' | 'validate'

/** What the log line of an admission says; every value the caller wrote is bounded. */
export interface AdmissionFields {
  endpoint: Endpoint
  /** For the log: bounded. */
  uid: string
  /** For the answer, which must repeat it whole (decode.ts bounds its length). */
  uidWhole: string
  kind: string
  namespace: string | undefined
  name: string | undefined
  operation: string
  dryRun: boolean
  /** Lower-case plural resource, from a fixed set (metric labels). */
  resource: string
}

export interface Handled {
  /** 200 with an AdmissionReview, or 400 with `{error}`. */
  status: number
  /** The response body, JSON text. */
  body: string
  /** Set once the request was decoded: what the log line and the metrics say about it. */
  fields?: AdmissionFields
  outcome: string
  allowed: boolean
  expandedSteps: number
  /** What the step policies did (mutate only), for metrics. */
  policyReport?: PolicyReport
  /** Why the request was refused before it was decoded (status 400). */
  reason?: string
  /** With `reason`: the body was not JSON at all (a bad request), rather than JSON that is no AdmissionReview. */
  notJson?: boolean
  /** A failure of ours, for the error log; the caller got a readable denial. */
  failure?: { message: string; stack?: string }
}

export interface HandleOptions extends MutateOptions {
  /** Called as soon as the request is decoded, before any work: a deadline that passes later can still be answered. */
  onDecoded?: (fields: AdmissionFields) => void
}

// Strings only: String() of a caller's object can throw (`{"toString": 1}`), and a name that is not a string names nothing.
const bounded = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? truncateText(v) : undefined)

function objectName(request: AdmissionRequest): string | undefined {
  const meta = request.object?.metadata
  return bounded(request.name) ?? bounded(meta?.name) ?? (meta?.generateName ? `${bounded(meta.generateName)}*` : undefined)
}

export function fieldsOf(endpoint: Endpoint, request: AdmissionRequest): AdmissionFields {
  return {
    endpoint,
    uid: truncateText(request.uid),
    uidWhole: request.uid,
    kind: truncateText(request.kind.kind),
    namespace: bounded(request.namespace ?? request.object?.metadata?.namespace),
    name: objectName(request),
    operation: truncateText(request.operation),
    dryRun: request.dryRun === true,
    resource: resourceOf(request),
  }
}

/**
 * Where a response's empty patch stands in its JSON text. The quotes inside
 * string values are escaped, and the only member names are the response's
 * own and its status's (auditAnnotations, whose names are free, is taken the
 * long way), so nothing else reads so.
 */
const emptyPatch = '"patch":""'

export function reviewText(response: AdmissionResponse): string {
  const review: AdmissionReview = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }
  const patch = response.patch
  if (patch === undefined || response.auditAnnotations !== undefined) return JSON.stringify(review)
  // The patch is base64 (its type says encodePatch made it), which JSON writes as it is: put in whole, not scanned
  // for escapes by JSON.stringify, a twentieth of a TaskRun's admission.
  const text = JSON.stringify({ ...review, response: { ...response, patch: '' } })
  const at = text.indexOf(emptyPatch) + emptyPatch.length - 1
  return text.slice(0, at) + patch + text.slice(at)
}

function badRequest(reason: string, notJson: boolean): Handled {
  return { status: 400, body: JSON.stringify({ error: reason }), outcome: 'bad-request', allowed: false, expandedSteps: 0, reason, notJson }
}

/** The fields of the request in `body`, for an answer at the deadline; undefined when it is not an AdmissionReview. */
export function decodeFields(endpoint: Endpoint, body: string): AdmissionFields | undefined {
  const decoded = decodeBody(body)
  return 'request' in decoded ? fieldsOf(endpoint, decoded.request) : undefined
}

/** How far into a body envelopeFields reads: the API server's envelope before the objects is well within it. */
const envelopeChars = 64 * 1024

/**
 * decodeFields for a body the server's thread must not parse (too large):
 * the envelope alone, read from the text up to the objects (envelope.ts);
 * undefined when it is not there.
 */
export function envelopeFields(endpoint: Endpoint, body: string): AdmissionFields | undefined {
  const review = envelopeOf(body, envelopeChars)
  if (review === undefined) return undefined
  const decoded = decodeReview(review)
  return 'request' in decoded ? fieldsOf(endpoint, decoded.request) : undefined
}

/** The AdmissionRequest in `body`, or the 400 that says what is wrong with it. */
function decodeBody(body: string): { request: AdmissionRequest } | { error: string; notJson: boolean } {
  if (body.trim() === '') return { error: 'body is empty: expected an AdmissionReview', notJson: true }
  let parsed: unknown
  try {
    parsed = parseJson(body)
  } catch (err) {
    return { error: `body is not valid JSON: ${truncateText(err instanceof Error ? err.message : String(err))}`, notJson: true }
  }
  const decoded = decodeReview(parsed)
  return 'error' in decoded ? { error: decoded.error, notJson: false } : decoded
}

export async function handleAdmission(endpoint: Endpoint, body: string, catalog: Catalog, options: HandleOptions): Promise<Handled> {
  const decoded = decodeBody(body)
  if ('error' in decoded) return badRequest(decoded.error, decoded.notJson)
  return answer(endpoint, decoded.request, catalog, options)
}

/**
 * handleAdmission for a core Pod only (the server's thread takes Pods that
 * look as if they pass through, by their text): undefined for anything else,
 * once decoded and before any work, for a worker to answer.
 */
export async function handlePodAdmission(endpoint: Endpoint, body: string, catalog: Catalog, options: HandleOptions): Promise<Handled | undefined> {
  const decoded = decodeBody(body)
  if ('error' in decoded) return badRequest(decoded.error, decoded.notJson)
  const req = decoded.request
  if (!(req.kind.kind === 'Pod' && req.kind.group === '')) return undefined
  return answer(endpoint, req, catalog, options)
}

async function answer(endpoint: Endpoint, req: AdmissionRequest, catalog: Catalog, options: HandleOptions): Promise<Handled> {
  const fields = fieldsOf(endpoint, req)
  options.onDecoded?.(fields)
  try {
    if (endpoint === 'mutate') {
      const result = await mutate(req, catalog, options)
      return {
        status: 200,
        body: reviewText(result.response),
        fields,
        outcome: result.outcome,
        allowed: result.response.allowed,
        expandedSteps: result.expandedSteps,
        ...(result.policyReport === undefined ? {} : { policyReport: result.policyReport }),
      }
    }
    const result = validateStepActionRequest(req)
    return {
      status: 200,
      body: reviewText(result.response),
      fields,
      outcome: result.response.allowed ? 'valid' : 'denied',
      allowed: result.response.allowed,
      expandedSteps: 0,
    }
  } catch (err) {
    // A bug of ours must still reach the user as a decision they can read, not a bare 500.
    const message = err instanceof Error ? err.message : String(err)
    const response: AdmissionResponse = {
      uid: req.uid,
      allowed: false,
      status: {
        code: 500,
        reason: 'InternalError',
        message: `stepsplice failed on this request (uid ${fields.uid}): ${truncateText(message)}; the webhook's log has details`,
      },
    }
    const failure = err instanceof Error && err.stack !== undefined ? { message, stack: err.stack } : { message }
    return { status: 200, body: reviewText(response), fields, outcome: 'error', allowed: false, expandedSteps: 0, failure }
  }
}

/** How a decoded request's object is named in messages, from its log fields (as describeObject names it). */
function labelOf(fields: AdmissionFields): string {
  const namespace = fields.namespace ?? 'default'
  return fields.name === undefined ? `${fields.kind} in namespace ${namespace}` : `${fields.kind} ${namespace}/${fields.name}`
}

/**
 * The answer to a request whose deadline passed while it was on a worker
 * (see server/pool.ts); `resolving` when it was waiting for definitions.
 */
export function deadlineAnswer(fields: AdmissionFields, options: Pick<MutateOptions, 'deadlineMs' | 'onTimeout'>, resolving: boolean): Handled {
  const response = timeoutResponse(fields.uidWhole, labelOf(fields), options, resolving ? 'resolved' : 'expanded')
  return { status: 200, body: reviewText(response), fields, outcome: 'timeout', allowed: response.allowed, expandedSteps: 0 }
}

/** The answer when the work on a decoded request failed outside handleAdmission (its worker stopped). */
export function failureAnswer(fields: AdmissionFields, reason: string): Handled {
  const response: AdmissionResponse = {
    uid: fields.uidWhole,
    allowed: false,
    status: { code: 500, reason: 'InternalError', message: `stepsplice failed on this request (uid ${fields.uid}): ${reason}; the webhook's log has details` },
  }
  return { status: 200, body: reviewText(response), fields, outcome: 'error', allowed: false, expandedSteps: 0, failure: { message: reason } }
}
