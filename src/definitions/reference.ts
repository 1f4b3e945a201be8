// What a step's `ref` asks for, and what asking gave. Both sides meet here:
// resolution answers a StepReference with a Resolution, and expansion reads
// the Resolution without knowing who answered, so neither imports the other.

import type { Param, Step, TaskSpec } from '../types/tekton.ts'
import type { Definition } from './definition.ts'

/** What a step's `ref` asks for, in the namespace of the object that holds the step. */
export interface StepReference {
  namespace: string
  name?: string
  resolver?: string
  params?: Param[]
}

/**
 * A failed lookup is a value with a message for the user, never an exception.
 * `missing` says the catalog holds nothing by that name, so another catalog
 * may answer instead (see resolution/layered.ts).
 */
export type Resolution = { definition: Definition } | { error: string; missing?: true }

/** A Task by name, in the namespace of the TaskRun that references it. */
export interface TaskReference {
  namespace: string
  name: string
}

/** A Task as a catalog holds it: what writing it into a TaskRun needs. */
export interface ResolvedTask {
  namespace: string
  name: string
  labels: Record<string, string>
  annotations: Record<string, string>
  spec: TaskSpec
  /** Where it came from, e.g. its API path. */
  location: string
}

export type TaskResolution = { task: ResolvedTask } | { error: string; missing?: true }

/** What a ref step asks the catalog for. */
export function referenceOf(step: Step, namespace: string): StepReference {
  const ref = step.ref ?? {}
  const out: StepReference = { namespace }
  if (typeof ref.name === 'string' && ref.name !== '') out.name = ref.name
  if (typeof ref.resolver === 'string' && ref.resolver !== '') out.resolver = ref.resolver
  if (Array.isArray(ref.params)) out.params = ref.params
  return out
}

/** Equal references have equal keys: each distinct reference is resolved once per request. */
export function referenceKey(ref: StepReference): string {
  return JSON.stringify([ref.namespace, ref.name ?? '', ref.resolver ?? '', ref.params ?? []])
}
