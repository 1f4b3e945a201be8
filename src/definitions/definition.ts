// A step definition as the catalog holds it: the StepAction as written, its
// defaulted spec, its digest, and the problems validation found. A definition
// with problems is kept, not dropped, so a step that references it is told why
// it cannot be used instead of being told it does not exist.

import { sha256Digest } from '../json/canonical.ts'
import { isJsonObject } from '../json/values.ts'
import { limits } from '../limits/limits.ts'
import { checkCount, checkSizeAndDepth } from '../limits/measure.ts'
import { problem, type Problem } from '../problems/problem.ts'
import { quoteValue } from '../problems/truncate.ts'
import type { StepAction, StepActionSpec } from '../types/tekton.ts'
import { checkStepActionSchema, unknownField } from './schema.ts'
import { defaultStepActionSpec } from './defaults.ts'
import { validateStepActionSpec } from './validate.ts'
import { decodedAsTekton } from './go-decoded.ts'

/** Where a definition came from: a directory, the cluster's API, or one of Tekton's remote resolvers. */
export type SourceKind = 'directory' | 'cluster' | 'git' | 'http' | 'bundles'

export interface DefinitionSource {
  kind: SourceKind
  /**
   * Where it came from: a file path, an API path, or for a remote the
   * canonical source, pinned: `git+https://host/repo@<commit>#<path>`,
   * `https://host/file.yaml`, `oci://registry/repo@sha256:…#<kind>/<name>`.
   */
  location: string
  /** Remote only: the digest of what was fetched (`sha1:<commit>`, `sha256:<body>`, the manifest's digest). */
  sourceDigest?: string
}

const remoteKinds: ReadonlySet<SourceKind> = new Set(['git', 'http', 'bundles'])

export interface Definition {
  name: string
  /** Unset for a file definition without a namespace: it serves every namespace. */
  namespace?: string
  apiVersion: string
  source: DefinitionSource
  /** The spec with Tekton's defaults applied; what expansion uses. */
  spec: StepActionSpec
  digest: string
  problems: Problem[]
}

/** The counts a definition's validation and expansion grow with: params, and the length of their names and keys. */
function checkDefinitionLimits(doc: unknown): Problem[] {
  const params = (doc as { spec?: { params?: unknown } } | null)?.spec?.params
  if (!Array.isArray(params)) return []
  const out = checkCount(params.length, 'params', 'spec.params', 'params')
  for (const [i, p] of (params as unknown[]).entries()) {
    if (!isJsonObject(p)) continue
    const names = [p.name, ...Object.keys(isJsonObject(p.properties) ? p.properties : {})]
    if (names.some((n) => typeof n === 'string' && n.length > limits.nameLength)) {
      out.push(problem(`spec.params[${i}]`, `a name or key longer than ${limits.nameLength} characters (limit nameLength)`, { limit: 'nameLength' }))
    }
  }
  return out
}

export function isStepActionDocument(doc: unknown): boolean {
  return typeof doc === 'object' && doc !== null && (doc as { kind?: unknown }).kind === 'StepAction'
}

/** Validates a StepAction exactly as Tekton's admission would: schema, defaults, then semantic rules. */
export function validateStepAction(doc: unknown): Problem[] {
  return checked(doc).problems
}

/** The document as Tekton decodes it (go-decoded.ts), once its size and depth allow walking it, and its problems. */
function checked(doc: unknown): { decoded: unknown; problems: Problem[] } {
  // Size and depth first: decoding, the schema check and every rule after them walk the whole document.
  const measured = checkSizeAndDepth(doc, '', 'the StepAction')
  if (measured.length > 0) return { decoded: doc, problems: measured }
  const decoded = decodedAsTekton(doc)
  const counted = checkDefinitionLimits(decoded)
  if (counted.length > 0) return { decoded, problems: counted }
  const structural = checkStepActionSchema(decoded)
  if (structural.length > 0) return { decoded, problems: structural }
  const sa = decoded as StepAction
  return { decoded, problems: validateStepActionSpec(defaultStepActionSpec(sa.spec ?? {}), sa.apiVersion ?? '') }
}

/**
 * What is validated of a fetched StepAction: Tekton dry-run creates it under
 * a generated name in the run's namespace (DryRunValidate), so whatever name
 * and namespace it was written with, even none, never fail it.
 */
function asDryRun(doc: StepAction): StepAction {
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
function strictlyDecoded(doc: StepAction): Problem[] {
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

const qualifiedName = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/

/** Kubernetes' qualified name (a label or annotation key): an optional DNS subdomain prefix and `/`, then a name of at most 63. */
function isQualifiedName(key: string): boolean {
  const slash = key.indexOf('/')
  const name = slash < 0 ? key : key.slice(slash + 1)
  const prefix = slash < 0 ? undefined : key.slice(0, slash)
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !dnsSubdomain.test(prefix))) return false
  return name.length <= 63 && qualifiedName.test(name)
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
      } else if (field === 'labels' && typeof value === 'string' && (value.length > 63 || !labelValue.test(value))) {
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

export function toDefinition(written: StepAction, source: DefinitionSource): Definition {
  const fetched = remoteKinds.has(source.kind) && isJsonObject(written)
  const dryRun = fetched ? asDryRun(written) : written
  const { decoded, problems: found } = checked(dryRun)
  const doc = decoded as StepAction
  const problems = fetched && found.length === 0 ? strictlyDecoded(dryRun) : found
  // Named as written all the same: a fetched definition is known by where it was fetched from (definitionId).
  const meta = (fetched ? written.metadata : doc.metadata) ?? {}
  const rawSpec = typeof doc.spec === 'object' && doc.spec !== null ? doc.spec : {}
  const definition: Definition = {
    name: typeof meta.name === 'string' ? meta.name : '',
    apiVersion: String(doc.apiVersion ?? ''),
    source,
    spec: problems.length === 0 ? defaultStepActionSpec(rawSpec) : rawSpec,
    digest: sha256Digest(rawSpec),
    problems,
  }
  if (typeof meta.namespace === 'string' && meta.namespace !== '') definition.namespace = meta.namespace
  return definition
}

export function definitionId(d: Pick<Definition, 'name' | 'namespace' | 'source'>, namespace: string): string {
  if (remoteKinds.has(d.source.kind)) return d.source.location
  return `${d.namespace ?? namespace}/${d.name}`
}
