// The step policies of `serve --kube`: the cluster's StepPolicy and
// ClusterStepPolicy objects, and the labels of its namespaces (for
// ClusterStepPolicies' namespaceSelector), kept current by list and watch as
// the step definitions are (resolution/cluster-watch.ts), and combined with
// any `--policy` files. Through an outage the last known policies stay in
// force; a replica is not ready until every policy resource has been listed,
// so it never admits before it knows what to enforce.
//
// An object that fails validation (possible only when /validate was not in
// the way: the webhook was down or not installed) is not in force: what it
// would enforce is unknown. It is logged with every error, and listed on
// /metrics as invalid, so the mistake is seen rather than guessed at.

import type { KubeConfig } from '@kubernetes/client-node'
import { isJsonObject } from '../json/values.ts'
import { idOf, loadPolicy } from '../policy/load.ts'
import type { LoadedPolicy, PolicySnapshot } from '../policy/types.ts'
import { ObjectStore } from '../resolution/cluster-store.ts'
import { type Backoff, ResourceWatch, type ResourceStatus, WatchSet } from '../resolution/cluster-watch.ts'
import type { KubeObject } from '../types/k8s.ts'
import type { ListedPolicy } from './metrics.ts'
import { listedOf, type PolicyFeed } from './policy-feed.ts'

const policyHint = "are stepsplice's CRDs installed (deploy/crds)?"
const stepPolicies = { group: 'stepsplice.dev', plural: 'steppolicies', versions: ['v1alpha1'], installHint: policyHint }
const clusterStepPolicies = { group: 'stepsplice.dev', plural: 'clustersteppolicies', versions: ['v1alpha1'], installHint: policyHint }
const namespaces = { group: '', plural: 'namespaces', versions: ['v1'], installHint: 'the API server serves no namespaces.' }

/** A policy object as read: in force, or invalid with its errors. */
type Held = { policy: LoadedPolicy } | { invalid: ListedPolicy; errors: string[] }

export interface InvalidPolicyReport {
  policy: string
  /** Empty when the policy was fixed or deleted. */
  errors: string[]
}

export interface ClusterPoliciesOptions {
  kubeConfig: KubeConfig
  /** Policies of `--policy` files, in force alongside the cluster's. */
  files?: readonly LoadedPolicy[]
  onStatus?: (status: ResourceStatus) => void
  /** Told when a policy object turns invalid, changes its errors, or is fixed or deleted. */
  onInvalid?: (report: InvalidPolicyReport) => void
  backoff?: Backoff
  /** The User-Agent of list requests; `stepsplice` when unset. */
  userAgent?: string
  /** How long the policies listed are still in force while their resource answers 404 (cluster-watch.ts). 60 s when unset. */
  absentGraceMs?: number
}

/** Only what a policy is: the server's bookkeeping (managedFields, uid, …) is not validated or held. */
function policyObject(object: KubeObject): Record<string, unknown> {
  const { name, namespace } = object.metadata ?? {}
  const metadata = namespace === undefined || namespace === '' ? { name } : { name, namespace }
  return { apiVersion: object.apiVersion, kind: object.kind, metadata, spec: object.spec }
}

function readPolicy(object: KubeObject): Held {
  const doc = policyObject(object)
  const loaded = loadPolicy(doc)
  if ('policy' in loaded) return loaded
  const mode = isJsonObject(object.spec) && typeof object.spec.mode === 'string' ? object.spec.mode : 'Enforce'
  return { invalid: { id: idOf(doc), kind: String(object.kind), mode, state: 'invalid' }, errors: loaded.problems }
}

function labelsOf(object: KubeObject): Record<string, string> {
  const out: Record<string, string> = {}
  const labels = object.metadata?.labels
  if (isJsonObject(labels)) for (const [k, v] of Object.entries(labels)) if (typeof v === 'string') out[k] = v
  return out
}

export class ClusterPolicies implements PolicyFeed {
  readonly #files: readonly LoadedPolicy[]
  readonly #listeners = new Set<() => void>()
  readonly #held = new Map<string, Held>()
  readonly #namespaces = new ObjectStore(labelsOf, (_key, { name }, labels) => {
    if (labels === undefined) return
    for (const wake of this.#awaited.get(name) ?? []) wake()
    this.#awaited.delete(name)
  })
  /** Lookups waiting for a namespace the watch has not delivered yet. */
  readonly #awaited = new Map<string, Set<() => void>>()
  /** The watches behind it: start() once the server can report their status, stop() at shutdown. */
  readonly watches: WatchSet
  #snapshot: PolicySnapshot
  /** Several changes in one tick (a re-list) make one new snapshot. */
  #pending = false

  constructor(options: ClusterPoliciesOptions) {
    this.#files = options.files ?? []
    this.#snapshot = { generation: 0, policies: this.#files }
    const onInvalid = options.onInvalid
    const changed = (key: string, _object: unknown, held: Held | undefined): void => {
      const before = this.#held.get(key)
      if (held === undefined) this.#held.delete(key)
      else this.#held.set(key, held)
      const wasInvalid = before !== undefined && 'invalid' in before ? before : undefined
      const isInvalid = held !== undefined && 'invalid' in held ? held : undefined
      if (isInvalid !== undefined && (wasInvalid === undefined || wasInvalid.errors.join('\n') !== isInvalid.errors.join('\n')))
        onInvalid?.({ policy: isInvalid.invalid.id, errors: isInvalid.errors })
      else if (wasInvalid !== undefined && isInvalid === undefined) onInvalid?.({ policy: wasInvalid.invalid.id, errors: [] })
      this.#changed()
    }
    // Keys carry the kind: a StepPolicy and a ClusterStepPolicy may share a name.
    const store = (kind: string): ObjectStore<Held> => new ObjectStore(readPolicy, (key, object, held) => changed(`${kind} ${key}`, object, held))
    const watchOptions = {
      backoff: options.backoff ?? { initialMs: 1000, maxMs: 60_000 },
      onStatus: options.onStatus,
      userAgent: options.userAgent,
      absentGraceMs: options.absentGraceMs,
    }
    this.watches = new WatchSet([
      new ResourceWatch(options.kubeConfig, stepPolicies, store('StepPolicy'), watchOptions),
      new ResourceWatch(options.kubeConfig, clusterStepPolicies, store('ClusterStepPolicy'), watchOptions),
      new ResourceWatch(options.kubeConfig, namespaces, this.#namespaces, watchOptions),
    ])
  }

  /** Every policy resource listed once (or found not installed), and the namespaces. */
  get ready(): boolean {
    return this.watches.known
  }

  current(): PolicySnapshot {
    return this.#snapshot
  }

  listed(): ListedPolicy[] {
    const cluster = [...this.#held.values()].map((h) => ('policy' in h ? listedOf([h.policy])[0] : h.invalid) as ListedPolicy)
    return [...listedOf(this.#files), ...cluster]
  }

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener)
    return () => void this.#listeners.delete(listener)
  }

  async namespaceLabels(namespace: string, waitMs: number): Promise<Record<string, string> | undefined> {
    const known = this.#namespaces.get('', namespace)
    if (known !== undefined || waitMs <= 0) return known
    await new Promise<void>((resolve) => {
      const waiting = this.#awaited.get(namespace) ?? new Set()
      this.#awaited.set(namespace, waiting)
      const done = (): void => {
        clearTimeout(timer)
        waiting.delete(done)
        if (waiting.size === 0 && this.#awaited.get(namespace) === waiting) this.#awaited.delete(namespace)
        resolve()
      }
      const timer = setTimeout(done, waitMs)
      waiting.add(done)
    })
    return this.#namespaces.get('', namespace)
  }

  #changed(): void {
    if (this.#pending) return
    this.#pending = true
    queueMicrotask(() => {
      this.#pending = false
      const cluster = [...this.#held.values()].flatMap((h) => ('policy' in h ? [h.policy] : []))
      // Sorted by id: the order policies are reported in does not depend on the order they arrived in.
      cluster.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      this.#snapshot = { generation: this.#snapshot.generation + 1, policies: [...this.#files, ...cluster] }
      for (const listener of this.#listeners) listener()
    })
  }
}
