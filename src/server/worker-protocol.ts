// The messages between the server's thread and an admission worker. A
// worker runs one request at a time (those sent ahead wait in it); step definitions stay in the server's
// thread (one catalog, however many workers), so a worker asks for each one
// it needs and waits for the answer.

import type { AdmissionFields, Endpoint, Handled } from '../admission/handle.ts'
import type { OnTimeout } from '../admission/mutate.ts'
import type { StepReference, TaskReference } from '../definitions/reference.ts'
import type { LoadedPolicy } from '../policy/types.ts'

export interface WorkerSettings {
  deadlineMs: number
  onTimeout: OnTimeout
  prepareImage?: string
  /** Whether the server's catalog holds Tasks, so TaskRuns' taskRefs can be written out. */
  tasks?: boolean
  inlineTaskRefs?: boolean
  requireResolution?: string[]
  tektonControllers?: string[]
  /** Whether the server's thread knows namespaces' labels (cluster mode), so a worker asks it for them. */
  askNamespaceLabels?: boolean
  /** Whether a name the server's catalog does not hold is one Tekton would not find either (resolution/catalog.ts). */
  authoritative?: boolean
}

/**
 * A body up to this size is decoded by the server's thread itself if it must
 * answer without the worker (its deadline passed, the worker stopped), so a
 * worker does not send its fields ahead: one message fewer per request. A
 * larger body's fields arrive as `decoded` as soon as the worker has them, so
 * the server's thread never parses a large body; one that no worker started
 * is answered from its envelope, read from its first 64 KiB with its objects
 * stepped over (admission/envelope.ts). 16 KiB holds most TaskRuns
 * and Pods; a burst of queued requests timing out together costs the
 * server's thread at most this much parsing each.
 */
export const decodedByServerBytes = 16 * 1024

/**
 * Milliseconds on the system's monotonic clock, which every thread of the
 * process reads alike and no wall-clock step moves: what the pool and a
 * worker compare a request's expiry on.
 */
export const monotonicMs = (): number => Number(process.hrtime.bigint() / 1_000_000n)

export type ToWorker =
  /**
   * The step policies in force, sent before a request whenever the worker's
   * copy is older than `generation`: sent once, not with every request, and
   * held by the worker until the next change.
   */
  | { type: 'policies'; generation: number; policies: readonly LoadedPolicy[] }
  /**
   * `catalog`: the catalog's generation now (resolution/catalog.ts), when it has one: answers by name a worker
   * kept from an earlier request of the same generation still hold, so it need not ask again.
   */
  | {
      type: 'run'
      id: number
      endpoint: Endpoint
      body: string
      /** When it must be answered, epoch ms: what catalogs that fetch give up before. */
      deadline: number
      /** The same moment on monotonicMs(): past it, the worker sets the request aside unread. */
      expires: number
      catalog?: number
    }
  /** As JSON text: a definition may hold integers past 2^53, kept exact as raw JSON, which postMessage cannot clone. */
  | { type: 'resolved'; id: number; rid: number; resolution: string }

export type FromWorker =
  /** Sent once, when the worker has loaded everything and takes requests. */
  | { type: 'ready' }
  | { type: 'decoded'; id: number; fields: AdmissionFields }
  | { type: 'resolve'; id: number; rid: number; ref: StepReference }
  | { type: 'resolveTask'; id: number; rid: number; ref: TaskReference }
  /** A namespace's labels; answered with `resolved`: `{"labels": {…} | null}`, or an error once the deadline passed. */
  | { type: 'labels'; id: number; rid: number; namespace: string }
  | { type: 'cancel'; id: number; rid: number }
  | { type: 'done'; id: number; handled: Handled }
  /** Not run: its deadline had passed when the worker came to it. The pool answers it as timed out, if it has not already. */
  | { type: 'skipped'; id: number }
