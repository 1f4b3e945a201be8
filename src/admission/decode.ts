// Turns an HTTP body into an AdmissionRequest, or says exactly what is wrong
// with it. Everything here is the caller's mistake (HTTP 400): the API server
// never sends these, so they come from misconfigured clients and tests. What
// the caller wrote is repeated only truncated (problems/truncate.ts).

import { isJsonObject as isObject } from '../json/values.ts'
import { quoteValue, truncateText } from '../problems/truncate.ts'
import type { AdmissionRequest, GroupVersionKind } from '../types/admission.ts'

export type Decoded = { request: AdmissionRequest } | { error: string }

const supportedVersion = 'admission.k8s.io/v1'

function isGvk(v: unknown): v is GroupVersionKind {
  return isObject(v) && typeof v.group === 'string' && typeof v.version === 'string' && typeof v.kind === 'string'
}

export function decodeReview(body: unknown): Decoded {
  if (!isObject(body)) return { error: 'body must be a JSON object: an AdmissionReview' }
  if (body.kind !== 'AdmissionReview') return { error: `kind must be AdmissionReview, got ${quoteValue(body.kind)}` }
  if (body.apiVersion !== supportedVersion) {
    return {
      error: `unsupported AdmissionReview version ${quoteValue(body.apiVersion)}: this webhook speaks ${supportedVersion}; set admissionReviewVersions: ["v1"]`,
    }
  }
  const request = body.request
  if (!isObject(request)) return { error: 'request is missing' }
  if (typeof request.uid !== 'string' || request.uid === '') return { error: 'request.uid is missing' }
  // The answer must repeat the uid whole, so its length is bounded here: the API server's are UUIDs (36 characters).
  if (request.uid.length > 256) return { error: `request.uid is ${request.uid.length} characters; a uid is at most 256` }
  if (!isGvk(request.kind)) return { error: 'request.kind must be {group, version, kind}' }
  if (typeof request.operation !== 'string') return { error: 'request.operation is missing' }
  for (const field of ['object', 'oldObject'] as const) {
    const value = request[field]
    if (value !== undefined && value !== null && !isObject(value)) return { error: `request.${field} must be an object` }
  }
  const object = request.object
  if (isObject(object)) {
    const declared = request.kind
    const apiVersion = declared.group === '' ? declared.version : `${declared.group}/${declared.version}`
    if (object.kind !== declared.kind || object.apiVersion !== apiVersion) {
      return {
        error: `request.object is ${truncateText(String(object.apiVersion))} ${truncateText(String(object.kind))} but request.kind declares ${truncateText(apiVersion)} ${truncateText(declared.kind)}`,
      }
    }
  }
  return { request: request as unknown as AdmissionRequest }
}
