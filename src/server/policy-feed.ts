// The step policies a running server enforces, wherever they come from:
// `--policy` files read once at start, or the cluster's StepPolicy and
// ClusterStepPolicy objects kept current by watches (cluster-policies.ts).
// The server reads `current()` for every request, so a change applies to the
// next request on every thread, and lists what it knows on /metrics.

import type { LoadedPolicy, PolicySource } from '../policy/types.ts'
import type { ListedPolicy } from './metrics.ts'

export interface PolicyFeed extends PolicySource {
  /** Every policy known, with its state, for /metrics and the log. */
  listed(): ListedPolicy[]
  /** Told after every change of what current() or listed() return; returns the unsubscribe. */
  subscribe(listener: () => void): () => void
  /** False until the policies in force are known: a replica must not admit before its cluster's policies are listed. */
  readonly ready: boolean
  /**
   * A namespace's labels, when the feed watches namespaces (ClusterStepPolicy
   * namespaceSelector). One the watch has not delivered yet (created a moment
   * ago: the API server admits nothing into a namespace that does not exist)
   * is waited for, up to `waitMs`.
   */
  namespaceLabels?(namespace: string, waitMs: number): Promise<Record<string, string> | undefined>
}

export function listedOf(policies: readonly LoadedPolicy[]): ListedPolicy[] {
  return policies.map((p) => ({ id: p.id, kind: p.kind, mode: p.mode, state: 'active' }))
}

/** Policies that never change: `serve --policy`. */
export function fixedFeed(policies: readonly LoadedPolicy[]): PolicyFeed {
  const snapshot = { generation: 0, policies }
  return { current: () => snapshot, listed: () => listedOf(policies), subscribe: () => () => {}, ready: true }
}
