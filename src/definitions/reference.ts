// What a step's `ref` asks for, and what asking gave. Both sides meet here:
// resolution answers a StepReference with a Resolution, and expansion reads
// the Resolution without knowing who answered, so neither imports the other.

import type { Param, Step } from '../types/tekton.ts'
import type { Definition } from './definition.ts'

/** What a step's `ref` asks for, in the namespace of the object that holds the step. */
export interface StepReference {
  namespace: string
  name?: string
  resolver?: string
  params?: Param[]
}

/** A failed lookup is a value with a message for the user, never an exception. */
export type Resolution = { definition: Definition } | { error: string }

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
