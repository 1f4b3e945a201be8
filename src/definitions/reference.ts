// What a step's `ref` asks for, and what asking gave. Both sides meet here:
// resolution answers a StepReference with a Resolution, and expansion reads
// the Resolution without knowing who answered, so neither imports the other.

import type { Param, Step, TaskSpec } from '../types/tekton.ts'
import type { Definition, SourceKind } from './definition.ts'

/** What a step's `ref` asks for, in the namespace of the object that holds the step. */
export interface StepReference {
  namespace: string
  name?: string
  resolver?: string
  params?: Param[]
}

/**
 * A lookup that could not be made, through no fault of the object: a resolver
 * stepsplice does not run or was told not to, a remote that did not answer in
 * time, a name its catalogs do not hold when they are not the cluster's. A
 * TaskRun or PipelineRun keeps such a step for Tekton to resolve (with a
 * warning); a Pod has no Tekton behind it and is refused.
 */
export interface Unresolved {
  unresolved: string
  /** Which kind of reference: the resolver's name, or `local` for a StepAction by name. */
  resolver: string
}

/**
 * What asking gave, as a value, never an exception. `error` is a definite
 * mistake of the object's author (an invalid definition, a digest that does
 * not match, params a resolver refuses) and denies. `missing` says a catalog
 * holds nothing by that name, so another catalog may answer instead (see
 * resolution/layered.ts); its `notes` say what else the catalog knows that
 * bears on it (files that do not parse and may define the name), so the
 * catalog that answers last can repeat them.
 */
export type Resolution = { definition: Definition } | { error: string; missing?: true; notes?: string[] } | Unresolved

/** What a Task-like object is: a Tekton Task, or a TaskGroup (custom.tekton.dev/v1alpha1, issue #16). */
export type TaskKind = 'Task' | 'TaskGroup'

/**
 * A Task (or TaskGroup) by name, in the namespace of the object that
 * references it; or, for a TaskGroup's `uses`, through a resolver with params.
 */
export interface TaskReference {
  namespace: string
  name: string
  /** Default Task. */
  kind?: TaskKind
  resolver?: string
  params?: Param[]
}

/** A Task as a catalog holds it: what writing it into a TaskRun, or merging it into a TaskGroup, needs. */
export interface ResolvedTask {
  /** Default Task. */
  kind?: TaskKind
  /** Empty for a file's Task without a namespace: it serves every namespace. */
  namespace: string
  name: string
  labels: Record<string, string>
  annotations: Record<string, string>
  /** A Task's spec as tekton.dev/v1 reads it (a v1beta1 Task converted), or a TaskGroup's spec. */
  spec: TaskSpec
  /** Where it came from, e.g. its API path or file. */
  location: string
  /** Which kind of catalog held it (default cluster), for provenance and policies. */
  source?: SourceKind
  /** Remote only: the digest of what was fetched (the commit, the body, the bundle's manifest). */
  sourceDigest?: string
  /** What makes it unusable (a v1beta1 Task with PipelineResources, two files defining it), as one line. */
  error?: string
}

/**
 * `unresolved`: a reference stepsplice cannot follow (a resolver it does not
 * run for Tasks); a PipelineRun leaves it for Tekton, as it leaves steps.
 */
export type TaskResolution = { task: ResolvedTask } | { error: string; missing?: true } | { unresolved: string }

/**
 * What a ref step asks the catalog for. `params`, when given, are the
 * resolver params after Tekton's substitution of task params (see
 * runs/sites.ts); otherwise the step's own.
 */
export function referenceOf(step: Step, namespace: string, params?: Param[]): StepReference {
  const ref = step.ref ?? {}
  const out: StepReference = { namespace }
  if (typeof ref.name === 'string' && ref.name !== '') out.name = ref.name
  if (typeof ref.resolver === 'string' && ref.resolver !== '') out.resolver = ref.resolver
  if (params !== undefined) out.params = params
  else if (Array.isArray(ref.params)) out.params = ref.params
  return out
}

/** The kind of reference, as `--require-resolution` names it: a resolver, or `local` for a StepAction by name. */
export function resolverOf(ref: Pick<StepReference, 'resolver'>): string {
  return ref.resolver === undefined || ref.resolver === '' ? 'local' : ref.resolver
}

/**
 * Equal references have equal keys: each distinct reference is resolved once
 * per request. A StepAction by name, as most are, gets a key without
 * JSON.stringify (each step builds its key twice): the namespace's length
 * first, so no two such keys collide, and a digit first, so none collides
 * with the others' JSON text.
 */
export function referenceKey(ref: StepReference): string {
  if ((ref.resolver === undefined || ref.resolver === '') && (ref.params === undefined || ref.params.length === 0)) {
    return `${ref.namespace.length}/${ref.namespace}/${ref.name ?? ''}`
  }
  return JSON.stringify([ref.namespace, ref.name ?? '', ref.resolver ?? '', ref.params ?? []])
}
