// Step policies (stepsplice.dev/v1alpha1 StepPolicy and ClusterStepPolicy):
// what a platform team allows of the steps, sources and images of the
// objects stepsplice admits. The shapes follow the CRDs in deploy/crds/.

import type { KubeObject } from '../types/k8s.ts'

export const policyGroupVersion = 'stepsplice.dev/v1alpha1'

export type PolicyMode = 'Enforce' | 'Audit'

export interface PatternRule {
  /** Globs: `*` within a path segment (no `/`), `**` across segments. Empty or unset: everything is allowed. */
  allow?: string[]
  deny?: string[]
  /** Sources: remote definitions must be pinned (commit or digest). Images: `@sha256:` required. */
  requireDigest?: boolean
}

export interface SecurityContextRule {
  privileged?: 'Deny'
  allowPrivilegeEscalation?: 'Deny'
  runAsNonRoot?: 'Require'
  capabilities?: { allow?: string[] }
}

export interface StepPolicySpec {
  mode?: PolicyMode
  /** ClusterStepPolicy only: which namespaces it applies to (a Kubernetes LabelSelector); unset: all. */
  namespaceSelector?: LabelSelector
  sources?: PatternRule
  images?: PatternRule
  inlineSteps?: 'Allow' | 'Deny'
  securityContext?: SecurityContextRule
  /** Steps every TaskRun, PipelineRun task and Pod must run: injected when missing (policy/required.ts). */
  requiredSteps?: RequiredStep[]
}

/** A parameter of a required step or of its resolver: as in Tekton, a string, a list of strings or a map of strings. */
export interface RequiredStepParam {
  name: string
  value: string | string[] | Record<string, string>
}

/** A step a policy requires: a step definition by reference, with its params, first or last among the steps. */
export interface RequiredStep {
  /** The step's name: an RFC 1123 label. A step of this name must be this reference. */
  name: string
  /** As a Tekton step's `ref`: a StepAction by `name`, or a `resolver` with its `params`. */
  ref: { name?: string; resolver?: string; params?: RequiredStepParam[] }
  params?: RequiredStepParam[]
  /** Where it is injected: before every other step (First) or after them (Last, the default). */
  position?: 'First' | 'Last'
}

export interface LabelSelector {
  matchLabels?: Record<string, string>
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[]
}

export interface StepPolicy {
  apiVersion: typeof policyGroupVersion
  kind: 'StepPolicy' | 'ClusterStepPolicy'
  metadata: { name: string; namespace?: string; [key: string]: unknown }
  spec: StepPolicySpec
}

/** A policy read and validated, ready to evaluate: `id` names it in messages (`StepPolicy team-a/only-platform`). */
export interface LoadedPolicy {
  id: string
  kind: 'StepPolicy' | 'ClusterStepPolicy'
  /** StepPolicy: the namespace it governs. */
  namespace?: string
  mode: PolicyMode
  spec: StepPolicySpec
}

/**
 * The policies in force at one moment. `generation` moves with every change,
 * so a worker thread holding a copy knows when it is stale; the array is
 * replaced on change, never mutated, so a request keeps the set it began with.
 */
export interface PolicySnapshot {
  generation: number
  policies: readonly LoadedPolicy[]
}

/** Where the policies in force come from: files read once (`--policy`), or the cluster, kept current (`--kube`). */
export interface PolicySource {
  current(): PolicySnapshot
}

/** One thing a policy found wrong. */
export interface Violation {
  policy: string
  mode: PolicyMode
  /** `sources.allow`, `images.requireDigest`, `inlineSteps`, `securityContext.privileged`, … */
  rule: string
  /** Field path of the step or container concerned. */
  path: string
  step?: string
  container?: string
  /** The canonical source of the step's definition, when it has one. */
  source?: string
  message: string
}

/** What the policies did with one object, for metrics: which were evaluated, and each violation's rule and mode. */
export interface PolicyReport {
  evaluated: readonly string[]
  violations: readonly { policy: string; rule: string; mode: PolicyMode }[]
}

/** What the policies are asked about: the object as stepsplice would admit it, and what it spliced in. */
export interface PolicyInput {
  /** The expanded object (or the input, when nothing changed). */
  object: KubeObject
  namespace: string
  /** The namespace's labels, when known (cluster mode); a selector needing them does not match when unknown. */
  namespaceLabels?: Record<string, string>
  /** The provenance of every step stepsplice spliced (steps/expansion.ts ProvenanceEntry). */
  expanded: readonly {
    path: string
    step: string
    definition: string
    source: string
    sourceDigest?: string
    written?: Record<string, unknown>
    /** The resolver params as the resolver was asked (task params substituted), when they differ from those written. */
    resolverParams?: readonly { name: string; value: unknown }[]
  }[]
}
