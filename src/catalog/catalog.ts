// The one interface between expansion and wherever definitions live. Every
// catalog answers from memory or its own cache: resolution sits on the
// admission path, and a webhook that calls the API server per request is a
// webhook that times out under load.

import type { Definition } from '../stepaction/definition.ts'
import type { Param } from '../types/tekton.ts'

/** What a step's `ref` asks for, in the namespace of the object that holds the step. */
export interface StepReference {
  namespace: string
  name?: string
  resolver?: string
  params?: Param[]
}

/** A failed lookup is a value with a message for the user, never an exception. */
export type Resolution = { definition: Definition } | { error: string }

export interface ResolveOptions {
  /** Aborted when the caller's deadline passes; a catalog that fetches remotely should stop then. */
  signal?: AbortSignal
}

export interface Catalog {
  resolve(ref: StepReference, options?: ResolveOptions): Promise<Resolution>
  /** Definitions held, for metrics and readiness. */
  readonly size: number
}

export function referenceKey(ref: StepReference): string {
  return JSON.stringify([ref.namespace, ref.name ?? '', ref.resolver ?? '', ref.params ?? []])
}
