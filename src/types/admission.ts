// admission.k8s.io/v1 AdmissionReview, with the API's field names.

import type { KubeObject } from './k8s.ts'

export interface GroupVersionKind {
  group: string
  version: string
  kind: string
}

export interface GroupVersionResource {
  group: string
  version: string
  resource: string
}

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT'

export interface AdmissionRequest {
  uid: string
  kind: GroupVersionKind
  resource: GroupVersionResource
  subResource?: string
  requestKind?: GroupVersionKind
  name?: string
  namespace?: string
  operation: Operation
  userInfo?: Record<string, unknown>
  object?: KubeObject | null
  oldObject?: KubeObject | null
  dryRun?: boolean
  options?: Record<string, unknown>
}

export interface AdmissionStatus {
  code: number
  message: string
  reason?: string
}

/**
 * Base64 text, made only by admission/patch.ts#encodePatch: its alphabet
 * needs no escaping in JSON, which reviewText relies on.
 */
export type Base64 = string & { readonly base64: unique symbol }

export interface AdmissionResponse {
  uid: string
  allowed: boolean
  status?: AdmissionStatus
  patchType?: 'JSONPatch'
  /** base64 of an RFC 6902 JSON patch. */
  patch?: Base64
  warnings?: string[]
  auditAnnotations?: Record<string, string>
}

export interface AdmissionReview {
  apiVersion: 'admission.k8s.io/v1'
  kind: 'AdmissionReview'
  request?: AdmissionRequest
  response?: AdmissionResponse
}
