// Reading StepPolicy and ClusterStepPolicy objects: the structural schema the
// CRDs carry (deploy/crds/), checked with ajv, then the rules a schema cannot
// say. Every problem of every document is reported at once, each naming the
// object and the field, so a policy author fixes a file in one round.

import { Ajv, type ErrorObject } from 'ajv'
import { isJsonObject } from '../json/values.ts'
import { jsonPointerToPath } from '../problems/path.ts'
import { globError } from './glob.ts'
import { type LoadedPolicy, policyGroupVersion, type StepPolicy } from './types.ts'

/** At most this many patterns in one list, and this many characters in one pattern: evaluation stays bounded. */
const maxPatterns = 256
const maxPatternLength = 512

const patternList = (what: string) => ({
  type: 'array',
  maxItems: maxPatterns,
  description: `${what} Globs: \`*\` matches within one path segment (no \`/\`), \`**\` across segments, every other character itself.`,
  items: { type: 'string', minLength: 1, maxLength: maxPatternLength },
})

const patternRule = (what: string, allow: string, deny: string, digest: string) => ({
  type: 'object',
  description: what,
  properties: {
    allow: patternList(allow),
    deny: patternList(deny),
    requireDigest: { type: 'boolean', description: digest },
  },
})

const labelSelector = {
  type: 'object',
  description:
    'ClusterStepPolicy only: the namespaces the policy applies to, by their labels (a Kubernetes LabelSelector). Unset: every namespace. The terms are ANDed.',
  properties: {
    matchLabels: {
      type: 'object',
      description: 'Labels the namespace must have, with these values.',
      additionalProperties: { type: 'string' },
    },
    matchExpressions: {
      type: 'array',
      maxItems: 64,
      description: 'Label requirements the namespace must meet.',
      items: {
        type: 'object',
        required: ['key', 'operator'],
        properties: {
          key: { type: 'string', minLength: 1, description: 'The label key.' },
          operator: { type: 'string', enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'], description: 'In, NotIn, Exists or DoesNotExist.' },
          values: {
            type: 'array',
            maxItems: 256,
            description: 'In and NotIn: the values (at least one). Exists and DoesNotExist: none.',
            items: { type: 'string' },
          },
        },
      },
    },
  },
}

/** At most this many required steps in one policy, and this many params in one list. */
const maxRequiredSteps = 32
const maxParams = 64

/**
 * A param's value is a string, a list of strings or a map of strings: a
 * structural schema cannot say "one of these types", so the CRD keeps the
 * value as written and requiredStepProblems below checks it.
 */
const paramList = (what: string) => ({
  type: 'array',
  maxItems: maxParams,
  description: what,
  items: {
    type: 'object',
    required: ['name', 'value'],
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 256, description: 'The param name.' },
      value: { 'x-kubernetes-preserve-unknown-fields': true, description: 'A string, a list of strings or a map of strings.' },
    },
  },
})

const requiredSteps = {
  type: 'array',
  maxItems: maxRequiredSteps,
  description:
    'Steps every TaskRun and PipelineRun task with an inline task spec, and every Pod, must run: injected when missing (Enforce) or reported missing (Audit). A step of the same name must be that reference.',
  items: {
    type: 'object',
    required: ['name', 'ref'],
    properties: {
      name: {
        type: 'string',
        minLength: 1,
        maxLength: 63,
        pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
        description: 'The step name (an RFC 1123 label); in a Pod its init container is step-<name>.',
      },
      ref: {
        type: 'object',
        description: "The step definition, as a Tekton step's ref: a StepAction by name, or a resolver with its params.",
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 253, description: 'A StepAction in the namespace of the object.' },
          resolver: { type: 'string', minLength: 1, maxLength: 63, description: 'A resolver: git, http, bundles, cluster, …' },
          params: paramList("The resolver's params."),
        },
      },
      params: paramList("The step's params."),
      position: {
        type: 'string',
        enum: ['First', 'Last'],
        description: 'First: before every other step. Last (the default): after them. Several: in the order of the policies and of this list.',
      },
    },
  },
}

/**
 * The schema of a policy's `spec`, exactly as the CRDs carry it under
 * `openAPIV3Schema.properties.spec` (test/policy-core.test.ts compares them).
 * The CRDs' structural subset: types, properties, items, enums and bounds.
 * Unknown fields are refused by closeObjects below, as the API server's
 * strict field validation refuses them.
 */
export const stepPolicySpecSchema = {
  type: 'object',
  description: 'What the policy allows of the steps, step definitions and images of the TaskRuns, PipelineRuns and Pods stepsplice admits.',
  properties: {
    mode: {
      type: 'string',
      enum: ['Enforce', 'Audit'],
      description: 'Enforce (the default): a violation denies the object. Audit: a violation is a warning and the object is admitted.',
    },
    namespaceSelector: labelSelector,
    sources: patternRule(
      'Where spliced step definitions may come from, by canonical source: `directory:<namespace>/<name>`, `cluster:<namespace>/<name>`, or for a remote definition its pinned URL (`git+https://host/repo@<commit>#<path>`, `https://host/file.yaml`, `oci://registry/repo@sha256:<digest>#stepaction/<name>`).',
      'When set, every spliced step must come from a source matching one of these.',
      'No spliced step may come from a source matching one of these; deny wins over allow.',
      'Remote definitions (git, http, bundles) must be identified by content: a commit, a body digest, or an image manifest digest. Directory and cluster definitions are not remote and pass.',
    ),
    images: patternRule(
      'The images of every step (inline or spliced) and, for Pods, of every container and init container.',
      'When set, every image must match one of these (Docker Hub short names are matched in full, e.g. `docker.io/library/alpine:3`).',
      'No image may match one of these, written or in full; deny wins over allow.',
      'Every image must be pinned by digest: `@sha256:` and 64 hex digits.',
    ),
    inlineSteps: {
      type: 'string',
      enum: ['Allow', 'Deny'],
      description: 'Deny: every step of a TaskRun or PipelineRun must come from a step definition (`ref`). Allow (the default): inline steps are fine.',
    },
    securityContext: {
      type: 'object',
      description: "What steps and containers may ask for in their securityContext (a Task's stepTemplate counts).",
      properties: {
        privileged: { type: 'string', enum: ['Deny'], description: 'Deny: no step or container may set privileged: true.' },
        allowPrivilegeEscalation: {
          type: 'string',
          enum: ['Deny'],
          description: 'Deny: no step or container may set allowPrivilegeEscalation: true (or privileged: true, which implies it).',
        },
        runAsNonRoot: {
          type: 'string',
          enum: ['Require'],
          description: "Require: every step and container must run with runAsNonRoot: true, set on it or on the pod's securityContext.",
        },
        capabilities: {
          type: 'object',
          description: 'Which Linux capabilities steps and containers may add.',
          properties: {
            allow: {
              type: 'array',
              maxItems: 64,
              description: 'Every capabilities.add entry must be one of these (`NET_ADMIN` and `CAP_NET_ADMIN` are the same). Empty: none may be added.',
              items: { type: 'string', minLength: 1 },
            },
          },
        },
      },
    },
    requiredSteps,
  },
}

/** Adds `additionalProperties: false` to every object schema with properties: unknown fields are errors. */
export function closeObjects(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closeObjects)
  if (!isJsonObject(schema)) return schema
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(schema))
    out[k] = k === 'properties' && isJsonObject(v) ? Object.fromEntries(Object.entries(v).map(([p, s]) => [p, closeObjects(s)])) : closeObjects(v)
  if (isJsonObject(schema.properties) && schema.additionalProperties === undefined) out.additionalProperties = false
  return out
}

/** The whole object: the spec as above, and the metadata a policy needs. */
export const stepPolicySchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: policyGroupVersion },
    kind: { enum: ['StepPolicy', 'ClusterStepPolicy'] },
    metadata: {
      type: 'object',
      required: ['name'],
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' },
        namespace: { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
      },
    },
    spec: closeObjects(stepPolicySpecSchema),
  },
}

const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, verbose: true })
// The CRDs' marker for a value kept as written: no validation of its own (requiredStepProblems checks it).
ajv.addKeyword('x-kubernetes-preserve-unknown-fields')
const validate = ajv.compile(stepPolicySchema)

function describe(e: ErrorObject): string {
  const at = jsonPointerToPath(e.instancePath)
  const join = (field: string): string => (at === '' ? field : `${at}.${field}`)
  const p = e.params as Record<string, unknown>
  switch (e.keyword) {
    case 'required':
      return `${join(String(p.missingProperty))}: missing field`
    case 'additionalProperties':
      return `${join(String(p.additionalProperty))}: unknown field`
    case 'enum':
      return `${at}: must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, not ${JSON.stringify(e.data)}`
    case 'const':
      return `${at}: must be ${JSON.stringify(p.allowedValue)}`
    case 'pattern':
      return `${at}: must be a lowercase RFC 1123 ${/namespace$|requiredSteps\[\d+\]\.name$/.test(at) ? 'label' : 'subdomain'}`
    default:
      return `${at === '' ? '(object)' : at}: ${e.message ?? e.keyword}`
  }
}

const policyKinds = new Set(['StepPolicy', 'ClusterStepPolicy'])

/** Whether `doc` is meant as a policy: one of our kinds in our group (any version, so a wrong one is reported, not skipped). */
/** A StepPolicy or ClusterStepPolicy of any stepsplice.dev version (an unserved one is a problem, not another kind). */
export function isPolicyDocument(doc: unknown): doc is Record<string, unknown> {
  return isJsonObject(doc) && policyKinds.has(doc.kind as string) && typeof doc.apiVersion === 'string' && doc.apiVersion.startsWith('stepsplice.dev/')
}

/** How messages name the object: `StepPolicy team-a/x`, `ClusterStepPolicy x`. */
export function idOf(doc: Record<string, unknown>): string {
  const meta = isJsonObject(doc.metadata) ? doc.metadata : {}
  const name = typeof meta.name === 'string' && meta.name !== '' ? meta.name : '(unnamed)'
  const ns = typeof meta.namespace === 'string' && meta.namespace !== '' ? `${meta.namespace}/` : ''
  return `${String(doc.kind)} ${doc.kind === 'StepPolicy' ? ns : ''}${name}`
}

function checkPatterns(list: unknown, path: string, out: string[]): void {
  if (!Array.isArray(list)) return
  for (const [i, p] of list.entries()) {
    if (typeof p !== 'string') continue
    const error = p === '' ? undefined : globError(p) // empty: the schema's minLength says so
    if (error !== undefined) out.push(`${path}[${i}]: ${error}`)
  }
}

/** What the schema cannot say. Read defensively: it runs beside the schema, so every problem is reported at once. */
function semanticProblems(doc: Record<string, unknown>): string[] {
  const out: string[] = []
  const metadata = isJsonObject(doc.metadata) ? doc.metadata : {}
  const spec = isJsonObject(doc.spec) ? doc.spec : {}
  const kind = doc.kind
  if (kind === 'StepPolicy' && metadata.namespace === undefined) out.push('metadata.namespace: a StepPolicy governs one namespace: set it')
  if (kind === 'ClusterStepPolicy' && metadata.namespace !== undefined) out.push('metadata.namespace: a ClusterStepPolicy is cluster-scoped: remove it')
  if (kind === 'StepPolicy' && spec.namespaceSelector !== undefined)
    out.push('spec.namespaceSelector: only a ClusterStepPolicy selects namespaces; a StepPolicy governs its own')
  const selector = isJsonObject(spec.namespaceSelector) ? spec.namespaceSelector : {}
  for (const [i, e] of (Array.isArray(selector.matchExpressions) ? (selector.matchExpressions as unknown[]) : []).entries()) {
    if (!isJsonObject(e)) continue
    const count = Array.isArray(e.values) ? e.values.length : 0
    if ((e.operator === 'In' || e.operator === 'NotIn') && count === 0)
      out.push(`spec.namespaceSelector.matchExpressions[${i}].values: ${e.operator} needs at least one value`)
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && count > 0)
      out.push(`spec.namespaceSelector.matchExpressions[${i}].values: ${e.operator} takes no values`)
  }
  for (const rule of ['sources', 'images'] as const) {
    const r = isJsonObject(spec[rule]) ? spec[rule] : {}
    checkPatterns(r.allow, `spec.${rule}.allow`, out)
    checkPatterns(r.deny, `spec.${rule}.deny`, out)
  }
  requiredStepProblems(spec.requiredSteps, out)
  return out
}

const isParamValue = (v: unknown): boolean =>
  typeof v === 'string' ||
  (Array.isArray(v) && v.every((x) => typeof x === 'string')) ||
  (isJsonObject(v) && Object.values(v).every((x) => typeof x === 'string'))

function checkParams(list: unknown, path: string, out: string[]): void {
  if (!Array.isArray(list)) return
  const seen = new Set<string>()
  for (const [i, p] of list.entries()) {
    if (!isJsonObject(p)) continue
    if (p.value !== undefined && !isParamValue(p.value)) out.push(`${path}[${i}].value: must be a string, a list of strings or a map of strings`)
    if (typeof p.name === 'string') {
      if (seen.has(p.name)) out.push(`${path}[${i}].name: duplicate param ${JSON.stringify(p.name)}`)
      seen.add(p.name)
    }
  }
}

/** requiredSteps: a ref names a StepAction or a resolver (not both), params are Tekton's values, names are unique. */
function requiredStepProblems(list: unknown, out: string[]): void {
  if (!Array.isArray(list)) return
  const names = new Set<string>()
  for (const [i, s] of list.entries()) {
    if (!isJsonObject(s)) continue
    const at = `spec.requiredSteps[${i}]`
    if (typeof s.name === 'string') {
      if (names.has(s.name)) out.push(`${at}.name: duplicate required step ${JSON.stringify(s.name)}`)
      names.add(s.name)
    }
    const ref = isJsonObject(s.ref) ? s.ref : undefined
    if (ref !== undefined) {
      if (ref.name === undefined && ref.resolver === undefined) out.push(`${at}.ref: set name (a StepAction) or resolver`)
      if (ref.name !== undefined && ref.resolver !== undefined) out.push(`${at}.ref: set name or resolver, not both`)
      if (ref.name !== undefined && ref.params !== undefined) out.push(`${at}.ref.params: only a resolver takes params`)
      checkParams(ref.params, `${at}.ref.params`, out)
    }
    checkParams(s.params, `${at}.params`, out)
  }
}

/** Problems of one policy object, each `field: message`; empty when it is valid. For the /validate webhook too. */
export function validatePolicyObject(obj: unknown): string[] {
  if (isJsonObject(obj) && typeof obj.apiVersion === 'string' && obj.apiVersion !== policyGroupVersion && obj.apiVersion.startsWith('stepsplice.dev/')) {
    return [`apiVersion: ${JSON.stringify(obj.apiVersion)} is not served: use ${policyGroupVersion}`]
  }
  const structural = validate(obj) ? [] : (validate.errors ?? []).map(describe)
  return [...new Set([...structural, ...(isJsonObject(obj) ? semanticProblems(obj) : [])])]
}

/**
 * The policies among `documents`; other documents are ignored. A policy with
 * problems is not loaded: the caller must treat any problem as fatal, since
 * a policy left out is a policy not enforced. `source` (a file, `the cluster`)
 * prefixes each problem when not empty.
 */
/** One policy object validated and ready, or every problem it has (`field: message`). */
export function loadPolicy(doc: Record<string, unknown>): { policy: LoadedPolicy } | { problems: string[] } {
  const found = validatePolicyObject(doc)
  if (found.length > 0) return { problems: found }
  const policy = doc as unknown as StepPolicy
  return {
    policy: {
      id: idOf(doc),
      kind: policy.kind,
      ...(policy.kind === 'StepPolicy' ? { namespace: policy.metadata.namespace as string } : {}),
      mode: policy.spec.mode ?? 'Enforce',
      spec: policy.spec,
    },
  }
}

export function readPolicies(documents: unknown[], source: string): { policies: LoadedPolicy[]; problems: string[] } {
  const policies: LoadedPolicy[] = []
  const problems: string[] = []
  const seen = new Set<string>()
  const prefix = source === '' ? '' : `${source}: `
  for (const doc of documents) {
    if (!isPolicyDocument(doc)) continue
    const id = idOf(doc)
    const loaded = loadPolicy(doc)
    if ('problems' in loaded) {
      for (const f of loaded.problems) problems.push(`${prefix}${id}: ${f}`)
      continue
    }
    if (seen.has(id)) {
      problems.push(`${prefix}${id}: defined more than once`)
      continue
    }
    seen.add(id)
    policies.push(loaded.policy)
  }
  return { policies, problems }
}
