// The one interface between the pipeline and wherever definitions live. Every
// catalog answers from memory or its own cache: resolution sits on the
// admission path, and a webhook that calls the API server per request is a
// webhook that times out under load.

import type { Resolution, StepReference, TaskReference, TaskResolution } from '../definitions/reference.ts'
import type { DefinitionReport, ReportListener } from './reports.ts'

export interface ResolveOptions {
  /** Aborted when the caller's deadline passes; a catalog that fetches remotely should stop then. */
  signal?: AbortSignal
  /**
   * When the request must have its answer (epoch ms). A catalog that fetches
   * gives up on a fetch a little before it, so the answer can still say what
   * it left for Tekton rather than time out.
   */
  deadline?: number
}

export interface Catalog {
  resolve(ref: StepReference, options?: ResolveOptions): Promise<Resolution>
  /** Tasks by name, for TaskRuns with a taskRef; a catalog that holds no Tasks leaves it out. */
  resolveTask?(ref: TaskReference, options?: ResolveOptions): Promise<TaskResolution>
  /** Definitions held, for metrics and readiness. */
  readonly size: number
  /**
   * Grows whenever what the catalog answers for a name may have changed; absent
   * when it cannot say. While it stays the same, an answer for a reference by
   * name (no resolver) stays the same: an admission worker keeps such answers
   * (server/worker.ts) instead of asking the server's thread again.
   */
  readonly generation?: number
  /** False until the catalog holds everything it serves (a cluster catalog's informers have synced). Absent: always ready. */
  readonly ready?: boolean
  /**
   * True when a name it does not hold is a name Tekton would not find either:
   * it sees the cluster's StepActions (the cluster catalog). A directory does
   * not, so a name missing there is left for Tekton.
   */
  readonly authoritative?: boolean
  /**
   * The names a step in `namespace` can reference by name, for the nearest
   * names a miss suggests; undefined when there are more than `limit`, so a
   * large catalog is not read whole for a message.
   */
  names?(namespace: string, limit: number): readonly string[] | undefined
  /** What it read but cannot serve now (files that do not parse, invalid StepActions), for metrics. */
  brokenDefinitions?(): readonly DefinitionReport[]
  /**
   * Calls `listener` at once with what is broken now, then with each change
   * (each report once, when it appears or changes, and when it clears);
   * returns how to stop. For the log.
   */
  watchBroken?(listener: ReportListener): () => void
}
