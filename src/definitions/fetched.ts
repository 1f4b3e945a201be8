// A StepAction a resolver fetched (git, http, bundles), checked as Tekton
// takes it: decoded strictly (its resolution codec refuses any field its
// types do not know, outside `spec` too), then dry-run created under a
// generated name, where the API server checks its metadata.

import { isJsonObject } from '../json/values.ts'
import { problem, type Problem } from '../problems/problem.ts'
import { quoteValue } from '../problems/truncate.ts'
import type { StepAction } from '../types/tekton.ts'
import { isLabelValue, isQualifiedName } from './kube-names.ts'
import { unknownField } from './schema.ts'

/**
 * What is validated of a fetched StepAction: Tekton dry-run creates it under
 * a generated name in the run's namespace (DryRunValidate), so whatever name
 * and namespace it was written with, even none, never fail it.
 */
export function asDryRun(doc: StepAction): StepAction {
  // What Tekton's strict decoder cannot read (metadata that is no object, a name or namespace that is no string) still
  // fails it; a null is no value to it (go-decoded.ts).
  if (doc.metadata != null && !isJsonObject(doc.metadata)) return doc
  const meta: Record<string, unknown> = doc.metadata ?? {}
  if ((meta.name != null && typeof meta.name !== 'string') || (meta.namespace != null && typeof meta.namespace !== 'string')) return doc
  const { name: _name, namespace: _namespace, ...rest } = meta
  return { ...doc, metadata: { ...rest, name: 'dry-run' } }
}

/** The fields of a StepAction object and of its metadata (Kubernetes' ObjectMeta) as Tekton's types know them. */
const objectFields = new Set(['apiVersion', 'kind', 'metadata', 'spec'])
const metadataFields = new Set([
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
])

/**
 * Tekton decodes what a resolver fetched strictly (its resolution codec): a
 * field its types do not know fails it anywhere, also outside `spec`, where
 * the schema is open because an object applied to the cluster may carry
 * them (the API server keeps what it is given there; Tekton's lister drops
 * it). Then it dry-run creates it, and the API server checks its metadata.
 */
export function strictlyDecoded(doc: StepAction): Problem[] {
  const out: Problem[] = []
  // Read as written: an unknown key fails the strict decoder whatever its value, null included.
  for (const key of Object.keys(doc)) if (!objectFields.has(key)) out.push(problem(key, unknownField))
  const meta = isJsonObject(doc.metadata) ? doc.metadata : {}
  for (const [key, value] of Object.entries(meta)) {
    if (!metadataFields.has(key)) out.push(problem(`metadata.${key}`, unknownField))
    else if (value !== null && !metadataTypes[key]?.(value))
      out.push(problem(`metadata.${key}`, `cannot be decoded: ${metadataTypeNames[key] ?? 'wrong type'}`))
  }
  out.push(...dryRunMetadata(meta))
  return out
}

const isString = (v: unknown): boolean => typeof v === 'string'
const isInteger = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v)
// Go's time.RFC3339, as metav1.Time reads it.
const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/
const isTime = (v: unknown): boolean => typeof v === 'string' && rfc3339.test(v)
const listOf =
  (item: (v: unknown) => boolean) =>
  (v: unknown): boolean =>
    Array.isArray(v) && v.every((e) => e === null || item(e))
const objectWith =
  (fields: readonly string[]) =>
  (v: unknown): boolean =>
    isJsonObject(v) && Object.keys(v).every((k) => fields.includes(k))

/** How Kubernetes' ObjectMeta types its fields, for what a strict decode refuses (labels and annotations: the schema). */
const metadataTypes: Record<string, (v: unknown) => boolean> = {
  name: isString,
  generateName: isString,
  namespace: isString,
  selfLink: isString,
  uid: isString,
  resourceVersion: isString,
  generation: isInteger,
  creationTimestamp: isTime,
  deletionTimestamp: isTime,
  deletionGracePeriodSeconds: isInteger,
  labels: isJsonObject,
  annotations: isJsonObject,
  ownerReferences: listOf(objectWith(['apiVersion', 'kind', 'name', 'uid', 'controller', 'blockOwnerDeletion'])),
  finalizers: listOf(isString),
  managedFields: listOf(objectWith(['manager', 'operation', 'apiVersion', 'time', 'fieldsType', 'fieldsV1', 'subresource'])),
}
const metadataTypeNames: Record<string, string> = {
  generation: 'an integer',
  deletionGracePeriodSeconds: 'an integer',
  creationTimestamp: 'an RFC 3339 time',
  deletionTimestamp: 'an RFC 3339 time',
  ownerReferences: 'a list of owner references',
  finalizers: 'a list of strings',
  managedFields: 'a list of managed fields entries',
  labels: 'an object',
  annotations: 'an object',
}

/**
 * What the API server refuses of the metadata when Tekton dry-run creates a
 * fetched StepAction (ValidateObjectMeta): label and annotation keys that
 * are no qualified names, label values that are no valid label values.
 */
function dryRunMetadata(meta: Record<string, unknown>): Problem[] {
  const out: Problem[] = []
  for (const field of ['labels', 'annotations'] as const) {
    const map = meta[field]
    if (!isJsonObject(map)) continue
    for (const [key, value] of Object.entries(map)) {
      if (!isQualifiedName(key)) {
        out.push(
          problem(
            `metadata.${field}`,
            `invalid key ${quoteValue(key, 80)}: a qualified name, an optional DNS subdomain prefix and '/', then at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character`,
          ),
        )
      } else if (field === 'labels' && typeof value === 'string' && !isLabelValue(value)) {
        out.push(
          problem(
            `metadata.labels.${key}`,
            `invalid value ${quoteValue(value, 80)}: a label value is empty or at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character`,
          ),
        )
      }
    }
  }
  return out
}
