// The one interface between the pipeline and wherever definitions live. Every
// catalog answers from memory or its own cache: resolution sits on the
// admission path, and a webhook that calls the API server per request is a
// webhook that times out under load.

import type { Resolution, StepReference } from '../definitions/reference.ts'

export interface ResolveOptions {
  /** Aborted when the caller's deadline passes; a catalog that fetches remotely should stop then. */
  signal?: AbortSignal
}

export interface Catalog {
  resolve(ref: StepReference, options?: ResolveOptions): Promise<Resolution>
  /** Definitions held, for metrics and readiness. */
  readonly size: number
}
