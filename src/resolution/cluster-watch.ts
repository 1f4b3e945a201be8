// Keeps one resource watched for as long as the catalog runs. The client's
// ListWatch handles 410 itself (it re-lists) and stops for good on any other
// error, so this restarts it with exponential back-off and jitter: a dropped
// watch, an outage, a 403 or a 500 all recover once the cause is gone, and the
// objects last seen keep serving meanwhile. Each start attempt takes the most
// preferred version the server serves (StepActions: v1beta1, else v1alpha1);
// 404 at every one is a CRD not installed (yet), retried the same way; it
// empties the resource, since no such object exists without its CRD.

import type { KubeConfig } from '@kubernetes/client-node'
import type { KubeObject } from '../types/k8s.ts'
import { httpStatusOf } from './cluster-errors.ts'
import { type GroupResource, InformerSession, type RewatchPause, resourceName } from './cluster-informer.ts'

export type ResourceState = 'syncing' | 'synced' | 'failing' | 'absent'

export interface ResourceStatus {
  /** e.g. stepactions.tekton.dev/v1beta1: the version watched, or the preferred one until one is. */
  resource: string
  state: ResourceState
  /** Objects held now. */
  objects: number
  /** Why it is failing or absent. */
  lastError?: string
  /** Epoch ms of the last successful list. */
  lastSyncedAt?: number
}

export interface Backoff {
  initialMs: number
  maxMs: number
}

export interface WatchedResource extends GroupResource {
  /** The versions to try, most preferred first. */
  versions: readonly string[]
  /** What to check when none is served, for the message: `is Tekton Pipelines installed?`. */
  installHint: string
}

/** Where the objects go: ObjectStore. */
export interface ResourceSink {
  put(object: KubeObject, version: string): void
  remove(object: KubeObject): void
  retainOnly(keys: ReadonlySet<string>): void
  readonly size: number
}

export interface ResourceWatchOptions {
  backoff: Backoff
  /** Called when the state or the version watched changes. */
  onStatus?: ((status: ResourceStatus) => void) | undefined
  /** The pause before re-opening a watch that closed (cluster-informer.ts); defaults 1000 / 30000. */
  rewatch?: RewatchPause | undefined
  /** The User-Agent of list requests; `stepsplice` when unset. */
  userAgent?: string | undefined
  /** How long a watch may send nothing before the client ends it and the next opens; the client's 30 s when unset. */
  idleTimeoutMs?: number | undefined
  /** How long what was listed is still served while every version answers 404 (absentGraceMs below, when unset). */
  absentGraceMs?: number | undefined
}

/**
 * A resource not served (404 at every version) may be so for a moment: its
 * CustomResourceDefinition being replaced, an API server starting, a proxy
 * in between. client-go's informers keep their store through any failure;
 * here what was listed is served for this long after the first 404 in a row,
 * and then dropped, since without its CRD no such object exists.
 */
export const absentGraceMs = 60_000

/** The pause before restart number `failures`: doubling from initialMs up to maxMs, then between half and all of it, so replicas spread out. */
function backoffDelay(failures: number, { initialMs, maxMs }: Backoff): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 30))
  return ceiling * (1 - Math.random() / 2)
}

export class ResourceWatch {
  readonly #kubeConfig: KubeConfig
  readonly #resource: WatchedResource
  readonly #sink: ResourceSink
  readonly #options: ResourceWatchOptions
  /** At most one per version; a session that answered 404 is dropped, any other keeps its resourceVersion to resume from. */
  readonly #sessions = new Map<string, InformerSession>()
  /** The session whose events count: the one being started or running. */
  #current: InformerSession | undefined
  #version: string
  #state: ResourceState = 'syncing'
  #lastError: string | undefined
  #lastSyncedAt: number | undefined
  /** The version last reported, so a switch of version is reported too. */
  #reported: string | undefined
  /** Listed once, or found not installed: what is held is known. */
  #known = false
  /** When the 404s at every version began, while they go on. */
  #absentSince: number | undefined
  #failures = 0
  #timer: NodeJS.Timeout | undefined
  #attempt: Promise<void> | undefined
  /** Sessions of other versions being stopped after an attempt found a better one. */
  readonly #retiring = new Set<Promise<void>>()
  #starting = false
  #startFailure: { error: unknown } | undefined
  #started = false
  #stopped = false

  constructor(kubeConfig: KubeConfig, resource: WatchedResource, sink: ResourceSink, options: ResourceWatchOptions) {
    if (resource.versions.length === 0) throw new Error(`no version to watch ${resource.plural}.${resource.group} at`)
    this.#kubeConfig = kubeConfig
    this.#resource = resource
    this.#sink = sink
    this.#options = options
    this.#version = resource.versions[0] as string
  }

  /** Listed at least once (or known not to be installed); stays true through later failures. */
  get known(): boolean {
    return this.#known
  }

  status(): ResourceStatus {
    const status: ResourceStatus = { resource: this.#name(this.#version), state: this.#state, objects: this.#sink.size }
    if (this.#lastError !== undefined) status.lastError = this.#lastError
    if (this.#lastSyncedAt !== undefined) status.lastSyncedAt = this.#lastSyncedAt
    return status
  }

  start(): void {
    if (this.#started || this.#stopped) return
    this.#started = true
    this.#emit()
    this.#run()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#timer = undefined
    const sessions = [...this.#sessions.values()]
    this.#sessions.clear()
    this.#current = undefined
    await Promise.allSettled([...sessions.map((s) => s.stop()), ...this.#retiring])
    await this.#attempt
  }

  #name(version: string): string {
    return resourceName(this.#resource, version)
  }

  #run(): void {
    if (this.#stopped || this.#attempt !== undefined) return
    // Never a rejection: whatever throws (a kubeconfig without a cluster, say) is a failure to retry like any other.
    this.#attempt = this.#startAttempt()
      .catch((error: unknown) => {
        if (!this.#stopped) this.#failing(error)
      })
      .finally(() => {
        this.#attempt = undefined
      })
  }

  async #startAttempt(): Promise<void> {
    const { versions } = this.#resource
    for (const [i, version] of versions.entries()) {
      if (this.#stopped) return
      const session = this.#sessionAt(version)
      this.#current = session
      this.#startFailure = undefined
      this.#starting = true
      try {
        await session.start()
      } catch (error) {
        this.#startFailure ??= { error }
      } finally {
        this.#starting = false
      }
      if (this.#stopped) return
      const failure = this.#startFailure
      if (failure === undefined) {
        // Not awaited: the attempt is over, and a failure of the new session from now on must plan a restart.
        this.#retireAllBut(session)
        return
      }
      if (httpStatusOf(failure.error) !== 404) return this.#failing(failure.error)
      // Not served at this version: the next one, or not installed at all.
      await this.#retire(session)
      if (i === versions.length - 1) return this.#absent()
    }
  }

  #sessionAt(version: string): InformerSession {
    const existing = this.#sessions.get(version)
    if (existing !== undefined) return existing
    const live = (): boolean => !this.#stopped && session === this.#current
    const session: InformerSession = new InformerSession(
      this.#kubeConfig,
      this.#resource,
      version,
      {
        put: (object, at) => {
          if (live()) this.#sink.put(object, at)
        },
        removed: (object) => {
          if (live()) this.#sink.remove(object)
        },
        listed: (keys) => {
          if (!live()) return
          this.#sink.retainOnly(keys)
          this.#known = true
          this.#lastSyncedAt = Date.now()
          this.#synced(session)
        },
        connected: () => {
          if (live()) this.#synced(session)
        },
        failed: (error) => {
          if (live()) this.#failed(error)
        },
      },
      { rewatch: this.#options.rewatch, userAgent: this.#options.userAgent, idleTimeoutMs: this.#options.idleTimeoutMs },
    )
    this.#sessions.set(version, session)
    return session
  }

  async #retire(session: InformerSession): Promise<void> {
    if (this.#sessions.get(session.version) === session) this.#sessions.delete(session.version)
    await session.stop()
  }

  #retireAllBut(keep: InformerSession): void {
    for (const session of [...this.#sessions.values()]) {
      if (session === keep) continue
      const retiring = this.#retire(session)
      this.#retiring.add(retiring)
      const forget = (): void => void this.#retiring.delete(retiring)
      retiring.then(forget, forget)
    }
  }

  #failed(error: unknown): void {
    if (this.#starting) {
      this.#startFailure ??= { error }
      return
    }
    // The ListWatch has stopped; a restart is already planned if one is under way.
    if (this.#attempt !== undefined || this.#timer !== undefined) return
    this.#failing(error)
  }

  #synced(session: InformerSession): void {
    this.#failures = 0
    this.#absentSince = undefined
    this.#version = session.version
    this.#set('synced', undefined)
  }

  #failing(error: unknown): void {
    this.#set('failing', error instanceof Error ? error.message : String(error))
    this.#schedule()
  }

  #absent(): void {
    const { group, plural, versions, installHint } = this.#resource
    const now = Date.now()
    this.#absentSince ??= now
    const grace = this.#options.absentGraceMs ?? absentGraceMs
    const kept = this.#sink.size
    const keeping = kept > 0 && now - this.#absentSince < grace
    // Without its CRD no such object exists (deleting a CRD deletes its objects): a watch that was down then missed the
    // deletions. Past the grace, what was listed goes.
    if (!keeping) this.#sink.retainOnly(new Set())
    this.#known = true
    this.#version = versions[0] as string
    const where = versions.map((v) => `${group}/${v}`).join(' or ')
    const serving = keeping ? `; serving the ${kept} objects last listed until it has been missing for ${Math.round(grace / 1000)} s` : ''
    const reported = this.#set(
      'absent',
      `${plural}.${group} is not installed (404 at ${where}): its CustomResourceDefinition is missing, ${installHint} Retrying until it is${serving}`,
    )
    // Dropping what was served is news even in the same state: the objects count, the metric and the log say so.
    if (kept > 0 && !keeping && !reported) this.#emit()
    // Kept: looked at again by the end of the grace at the latest, so nothing is served past it for a back-off's length.
    this.#schedule(keeping ? Math.max(0, this.#absentSince + grace - now) : undefined)
  }

  /** A restart after the back-off's pause, or after `atMostMs` when that is sooner. */
  #schedule(atMostMs?: number): void {
    if (this.#stopped) return
    this.#failures++
    clearTimeout(this.#timer)
    const pause = backoffDelay(this.#failures, this.#options.backoff)
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined
        this.#run()
      },
      atMostMs === undefined ? pause : Math.min(pause, atMostMs),
    )
    // A pending retry alone does not keep the process alive; stop() clears it anyway.
    this.#timer.unref()
  }

  /** Whether the change was reported. */
  #set(state: ResourceState, lastError: string | undefined): boolean {
    // A failure whose message changes from one retry to the next is still one failing state: reported once.
    const changed = state !== this.#state || this.#version !== this.#reported
    this.#state = state
    this.#lastError = lastError
    if (changed) this.#emit()
    return changed
  }

  #emit(): void {
    this.#reported = this.#version
    try {
      this.#options.onStatus?.(this.status())
    } catch {
      // A throwing status listener must not stop the watch.
    }
  }
}

/** Resources watched together: started and stopped as one, known once every one is. */
export class WatchSet {
  readonly #watches: readonly ResourceWatch[]

  constructor(watches: readonly ResourceWatch[]) {
    this.#watches = watches
  }

  /** Starts watching; failures are retried in the background and show in status(). */
  start(): void {
    for (const watch of this.#watches) watch.start()
  }

  /** Stops for good; resolves when no request, socket or timer of any watch is left. */
  async stop(): Promise<void> {
    await Promise.all(this.#watches.map((w) => w.stop()))
  }

  /** Every resource listed once (or found not installed); stays true through later failures. */
  get known(): boolean {
    return this.#watches.every((w) => w.known)
  }

  status(): ResourceStatus[] {
    return this.#watches.map((w) => w.status())
  }
}
