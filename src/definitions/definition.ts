// A step definition as the catalog holds it: the StepAction as written, its
// defaulted spec, its digest, and the problems validation found. A definition
// with problems is kept, not dropped, so a step that references it is told why
// it cannot be used instead of being told it does not exist.

import { sha256Digest } from '../json/canonical.ts'
import { isJsonObject } from '../json/values.ts'
import { limits } from '../limits/limits.ts'
import { checkCount, checkSizeAndDepth } from '../limits/measure.ts'
import { problem, type Problem } from '../problems/problem.ts'
import type { StepAction, StepActionSpec } from '../types/tekton.ts'
import { checkStepActionSchema } from './schema.ts'
import { defaultStepActionSpec } from './defaults.ts'
import { validateStepActionSpec } from './validate.ts'
import { decodedAsTekton } from './go-decoded.ts'
import { asDryRun, strictlyDecoded } from './fetched.ts'

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
