// One list and watch of one resource at one version, the way client-go's
// reflector does it: list in pages, then watch from the list's
// resourceVersion (asking for bookmarks, so a resumed watch is rarely too
// old); a watch that ends is opened again from the last resourceVersion seen,
// after a growing pause; a 410 (Gone) lists again. Each object goes to the
// hooks as it arrives and nothing of it is kept here, so a StepAction is not
// held twice.
//
// The requests are the client's: its KubeConfig authenticates them, its
// Watch streams the events and its HTTP library sends each list page. Not
// its ListWatch or its generated API classes: those import the serializer of
// every Kubernetes model (757 modules, about 17 MB of memory) to list one
// custom resource, and a ListWatch keeps a copy of every object's name and
// stops for good on any error but 410 anyway (ResourceWatch restarts it).
// A stopped session aborts its lists, closes a watch the moment it connects,
// and never ends its reconnect pause, so nothing opens after stop().

import type { KubeConfig } from '@kubernetes/client-node'
import { ApiException } from '@kubernetes/client-node/dist/gen/apis/exception.js'
import { HttpMethod, RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js'
import { IsomorphicFetchHttpLibrary } from '@kubernetes/client-node/dist/gen/http/isomorphic-fetch.js'
import { Watch } from '@kubernetes/client-node/dist/watch.js'
import { isJsonObject } from '../json/values.ts'
import type { KubeObject } from '../types/k8s.ts'
import { ClusterRequestError, httpStatusOf } from './cluster-errors.ts'
import { objectKey } from './cluster-store.ts'

export interface GroupResource {
  /** '' is Kubernetes' core group, of which only namespaces are watched. */
  group: string
  plural: string
}

/** `stepactions.tekton.dev/v1beta1`, `namespaces/v1`: how messages and metrics name a watched resource. */
export function resourceName(resource: GroupResource, version: string): string {
  return resource.group === '' ? `${resource.plural}/${version}` : `${resource.plural}.${resource.group}/${version}`
}

export interface SessionHooks {
  /** An object listed, added or modified. */
  put(object: KubeObject, version: string): void
  removed(object: KubeObject): void
  /** A complete list was read: exactly these objects exist now. */
  listed(keys: ReadonlySet<string>): void
  /** A watch is open: what the hooks were given is current. */
  connected(): void
  /** The ListWatch stopped on this error; nothing runs until start() again. */
  failed(error: unknown): void
}

/** Objects per list request: a large catalog is read in pages, as client-go's reflector does. */
const pageSize = 500

/**
 * The pause before re-opening a watch that closed with nothing received since
 * the last one opened: none after the first close, then initialMs, doubling
 * up to maxMs; an event or a bookmark resets it, and a watch that timed out
 * is re-opened at once (its timeout was the pause).
 */
export interface RewatchPause {
  initialMs: number
  maxMs: number
}

export const defaultRewatchPause: RewatchPause = { initialMs: 1000, maxMs: 30_000 }

/** The pause that follows one of `current` ms (0: none so far). */
export function nextRewatchPause(current: number, pause: RewatchPause): number {
  return Math.min(current > 0 ? current * 2 : pause.initialMs, pause.maxMs)
}

function isNamedObject(value: unknown): value is KubeObject {
  return isJsonObject(value) && isJsonObject(value.metadata) && typeof value.metadata.name === 'string'
}

function nonEmptyText(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

interface Page {
  objects: KubeObject[]
  resourceVersion: string | undefined
  continueToken: string | undefined
}

function readPage(page: unknown): Page | undefined {
  if (!isJsonObject(page) || !Array.isArray(page.items)) return undefined
  const metadata = isJsonObject(page.metadata) ? page.metadata : {}
  return { objects: page.items.filter(isNamedObject), resourceVersion: nonEmptyText(metadata.resourceVersion), continueToken: nonEmptyText(metadata.continue) }
}

function isTimeout(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === 'TimeoutError'
}

/** The shortest idle timeout taken: the timeout also bounds connecting, and a watch that times out opens the next at once. */
const minIdleTimeoutMs = 100
/** The longest a Node timer can wait. */
const maxIdleTimeoutMs = 2 ** 31 - 1

/** A list page's time when no idle timeout is given: the client's own for a silent watch. */
const defaultPageTimeoutMs = 30_000

/**
 * Refuses an idle timeout that would make the session spin (0, or anything
 * below 100 ms: a server that never answers would be asked again at once,
 * hundreds of times a second) or that no timer can hold.
 */
export function checkIdleTimeout(ms: number): void {
  if (!Number.isInteger(ms) || ms < minIdleTimeoutMs || ms > maxIdleTimeoutMs) {
    throw new RangeError(`idleTimeoutMs must be a whole number of milliseconds from ${minIdleTimeoutMs} to ${maxIdleTimeoutMs}, got ${ms}`)
  }
}

/**
 * Sets the client Watch's inactivity timeout, a field its types keep private
 * (`requestTimeoutMs`, 30 s). Asked for only by tests, which would otherwise
 * wait 30 s for it; a client that renamed the field is refused here, loudly,
 * rather than ignored.
 */
function setIdleTimeout(watch: Watch, ms: number): void {
  checkIdleTimeout(ms)
  const fields = watch as unknown as { requestTimeoutMs?: unknown }
  if (typeof fields.requestTimeoutMs !== 'number') throw new Error('this @kubernetes/client-node Watch has no requestTimeoutMs to set')
  fields.requestTimeoutMs = ms
}

export class InformerSession {
  readonly version: string
  /** e.g. stepactions.tekton.dev/v1beta1, for messages and status. */
  readonly resourceName: string
  readonly #kubeConfig: KubeConfig
  readonly #hooks: SessionHooks
  readonly #rewatch: RewatchPause
  /** How list requests name themselves to the API server (its audit log, its per-client metrics); the client's Watch sends undici's own. */
  readonly #userAgent: string
  /** The collection's URL, without a query. */
  readonly #url: string
  readonly #path: string
  readonly #watch: Watch
  readonly #http = new IsomorphicFetchHttpLibrary()
  readonly #abort = new AbortController()
  /** How long one list page may take: the watch's idle timeout, 30 s by default. */
  readonly #pageTimeoutMs: number
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #inFlight = new Set<Promise<unknown>>()
  /** Where a watch resumes; '' lists first. Kept across start() after a failure. */
  #resourceVersion = ''
  #reconnectDelayMs = 0
  #hasWatched = false
  #request: AbortController | undefined
  #stopped = false

  constructor(
    kubeConfig: KubeConfig,
    resource: GroupResource,
    version: string,
    hooks: SessionHooks,
    options: { rewatch?: RewatchPause | undefined; userAgent?: string | undefined; idleTimeoutMs?: number | undefined } = {},
  ) {
    if (resource.group === '' && resource.plural !== 'namespaces') throw new Error(`watching ${resource.plural} of the core group is not supported`)
    const cluster = kubeConfig.getCurrentCluster()
    if (cluster === null) throw new Error('No active cluster!')
    this.version = version
    this.resourceName = resourceName(resource, version)
    this.#kubeConfig = kubeConfig
    this.#hooks = hooks
    this.#rewatch = options.rewatch ?? defaultRewatchPause
    this.#userAgent = options.userAgent ?? 'stepsplice'
    this.#path = resource.group === '' ? `/api/${version}/${resource.plural}` : `/apis/${resource.group}/${version}/${resource.plural}`
    this.#url = cluster.server + this.#path
    this.#watch = new Watch(kubeConfig)
    // The client ends a watch that sends nothing for this long (30 s by default: a connection dropped without a
    // word is found that soon); the session opens the next one at once (#next).
    if (options.idleTimeoutMs !== undefined) setIdleTimeout(this.#watch, options.idleTimeoutMs)
    this.#pageTimeoutMs = options.idleTimeoutMs ?? defaultPageTimeoutMs
  }

  /**
   * Lists unless it has a resourceVersion to resume from, then watches;
   * resolves once the watch is open or the session failed, or when the watch
   * ended as it opened (a 410, a timeout) and the next round is under way.
   */
  start(): Promise<void> {
    this.#reconnectDelayMs = 0
    this.#hasWatched = false
    return this.#next(null)
  }

  /** Stops for good; resolves when no list of this session is left open (a watch still connecting is closed when it connects). */
  async stop(): Promise<void> {
    this.#stopped = true
    this.#abort.abort()
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    this.#request?.abort()
    this.#request = undefined
    await Promise.allSettled([...this.#inFlight])
  }

  /**
   * What follows a watch's end (`err` null when it simply closed, or at
   * start()): a 410 lists again, a timeout or a close watches again, any
   * other error stops the session and goes to the hooks, naming the watch.
   */
  async #next(err: unknown): Promise<void> {
    this.#request?.abort()
    this.#request = undefined
    if (this.#stopped) return
    if (err !== null && err !== undefined) {
      if (httpStatusOf(err) === 410) this.#resourceVersion = ''
      else if (isTimeout(err))
        this.#reconnectDelayMs = 0 // the timeout itself was the pause
      else return this.#hooks.failed(new ClusterRequestError('watch', this.resourceName, err))
    }
    if (this.#resourceVersion === '') {
      try {
        this.#resourceVersion = await this.#list()
      } catch (listError) {
        if (!this.#stopped) this.#hooks.failed(listError)
        return
      }
    }
    if (this.#reconnectDelayMs > 0 && this.#hasWatched) await this.#delay(this.#reconnectDelayMs)
    if (this.#hasWatched) this.#reconnectDelayMs = nextRewatchPause(this.#reconnectDelayMs, this.#rewatch)
    this.#hasWatched = true
    await this.#watchFrom(this.#resourceVersion)
  }

  async #watchFrom(resourceVersion: string): Promise<void> {
    if (this.#stopped) return
    let ended = false
    const done = (err: unknown): void => {
      if (ended) return
      ended = true
      void this.#next(err)
    }
    const connecting = this.#watch.watch(this.#path, { resourceVersion, allowWatchBookmarks: true }, (phase, object) => this.#event(phase, object), done)
    let request: AbortController | undefined
    try {
      request = await connectedOrStopped(connecting, this.#abort.signal)
    } catch (err) {
      // Thrown before the request was made (credentials could not be loaded): an error like any other.
      done(err)
      return
    }
    if (request === undefined) {
      // Stopped while connecting. The client's Watch can be aborted only once it has connected (its timeout ends it
      // after 30 s, or idleTimeoutMs, if it never does), and stop() does not wait for that: a shutdown would, for an API server that
      // does not answer. It is closed the moment it connects.
      connecting.then(
        (late) => late.abort(),
        () => {},
      )
      return
    }
    if (this.#stopped || ended) request.abort()
    else {
      this.#request = request
      this.#hooks.connected()
    }
  }

  #event(phase: string, object: unknown): void {
    if (this.#stopped) return
    if (phase === 'ERROR') {
      // The watch ends after it; a 410 means the resourceVersion is too old to resume from.
      if ((object as { code?: unknown } | null)?.code === 410) this.#resourceVersion = ''
      return
    }
    let metadata: Record<string, unknown>
    if (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED') {
      if (!isNamedObject(object)) return
      if (phase === 'DELETED') this.#hooks.removed(object)
      else this.#hooks.put(object, this.version)
      metadata = object.metadata as Record<string, unknown>
    } else if (phase === 'BOOKMARK' && isJsonObject(object) && isJsonObject(object.metadata)) metadata = object.metadata
    else return
    this.#reconnectDelayMs = 0
    this.#resourceVersion = nonEmptyText(metadata.resourceVersion) ?? ''
  }

  #track<T>(request: Promise<T>): Promise<T> {
    this.#inFlight.add(request)
    const forget = (): void => void this.#inFlight.delete(request)
    request.then(forget, forget)
    return request
  }

  /**
   * Reads every page, gives each object to the hooks, and answers the
   * resourceVersion to watch from. A continue token that expired mid-list
   * (the API server compacted the snapshot the first page came from: 410)
   * starts the list over in one request without paging, as client-go's
   * pager does, rather than failing the session.
   */
  async #list(): Promise<string> {
    let keys = new Set<string>()
    let resourceVersion: string | undefined
    let continueToken: string | undefined
    let paged = true
    for (;;) {
      let answer: unknown
      try {
        answer = await this.#track(this.#listPage(paged, continueToken))
      } catch (err) {
        if (continueToken !== undefined && httpStatusOf(err) === 410 && !this.#stopped) {
          keys = new Set()
          resourceVersion = undefined
          continueToken = undefined
          paged = false
          continue
        }
        throw new ClusterRequestError('list', this.resourceName, err)
      }
      const page = readPage(answer)
      if (page === undefined) throw new ClusterRequestError('list', this.resourceName, new Error('the answer is not a list'))
      if (this.#stopped) throw new Error('stopped')
      // Pages share the first one's resourceVersion: the watch resumes from there.
      resourceVersion ??= page.resourceVersion
      for (const object of page.objects) {
        keys.add(objectKey(object))
        this.#hooks.put(object, this.version)
      }
      continueToken = page.continueToken
      if (continueToken === undefined) break
    }
    this.#hooks.listed(keys)
    return resourceVersion ?? ''
  }

  /** One page, as the client's generated list call sends it and reads its answer (its errors included). */
  async #listPage(paged: boolean, continueToken: string | undefined): Promise<unknown> {
    const context = new RequestContext(this.#url, HttpMethod.GET)
    if (paged) context.setQueryParam('limit', String(pageSize))
    if (continueToken !== undefined) context.setQueryParam('continue', continueToken)
    context.setHeaderParam('Accept', 'application/json, */*;q=0.8')
    context.setHeaderParam('User-Agent', this.#userAgent)
    // Bounded like a watch's silence: an API server, a proxy or a half-open connection that never answers would
    // otherwise hold the list (undici waits 300 s for headers, a trickling body longer), with no retry planned
    // and nothing in the status, while a re-list after 410 keeps serving what it had as synced.
    const timeout = AbortSignal.timeout(this.#pageTimeoutMs)
    context.setSignal(AbortSignal.any([this.#abort.signal, timeout]))
    try {
      return await this.#page(context)
    } catch (err) {
      if (timeout.aborted && !this.#stopped) throw new Error(`no list page within ${this.#pageTimeoutMs} ms`)
      throw err
    }
  }

  async #page(context: RequestContext): Promise<unknown> {
    await this.#kubeConfig.applySecurityAuthentication(context)
    const response = await this.#http.send(context).toPromise()
    const status = response.httpStatusCode
    if (status === 401) throw new ApiException(status, 'Unauthorized', undefined, response.headers)
    if (status < 200 || status > 299) throw new ApiException(status, 'Unknown API Status Code!', await response.body.text(), response.headers)
    const text = await response.body.text()
    try {
      return JSON.parse(text)
    } catch {
      // A proxy's HTML page, say: not a list, and none of its text belongs in a status message.
      return undefined
    }
  }

  /** The pause before re-watching; a stopped session never ends it, so no watch opens after stop(). */
  #delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.#stopped) return
      const timer = setTimeout(() => {
        this.#timers.delete(timer)
        resolve()
      }, ms)
      timer.unref()
      this.#timers.add(timer)
    })
  }
}

/**
 * The connected watch, or undefined when `stopped` aborts first. Not a race
 * with a promise of the session's whole life: each race leaves a reaction
 * on it that holds that race's result, and a session reopens its watch
 * every time the API server ends one (every 30 s on a quiet resource), so
 * each kept about 5 KB until shutdown. The listener here goes when the
 * watch connects.
 */
export function connectedOrStopped(connecting: Promise<AbortController>, stopped: AbortSignal): Promise<AbortController | undefined> {
  if (stopped.aborted) return Promise.resolve(undefined)
  return new Promise((resolve, reject) => {
    const onStop = (): void => resolve(undefined)
    stopped.addEventListener('abort', onStop, { once: true })
    connecting.then(
      (request) => {
        stopped.removeEventListener('abort', onStop)
        resolve(request)
      },
      (err: unknown) => {
        stopped.removeEventListener('abort', onStop)
        reject(err)
      },
    )
  })
}
