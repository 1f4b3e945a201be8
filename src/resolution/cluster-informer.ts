// One list and watch of one resource at one version: the client's ListWatch,
// given a list function that pages and a Watch that asks for bookmarks. Each
// object goes to the hooks as it arrives; the ListWatch keeps only names and
// resourceVersions, all it needs to resume a watch and to tell what a re-list
// removed, so a StepAction is not held twice in full.
//
// What the client leaves to its caller, done here: a ListWatch stops for good
// on any error but 410 (ResourceWatch restarts it); its stop() cannot cancel a
// list, a watch still connecting, or its own reconnect delay, so a stopped
// session aborts its lists, closes a watch the moment it connects, and never
// ends that delay.

import {
  type ConfigurationOptions,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  Observable,
  type ObservableMiddleware,
  Watch,
} from '@kubernetes/client-node'
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

/** What the ListWatch keeps of an object. */
function bookkeeping(object: KubeObject): KubernetesObject {
  const { name, namespace, resourceVersion } = object.metadata ?? {}
  return { apiVersion: object.apiVersion, kind: object.kind, metadata: { name, namespace, resourceVersion: resourceVersion as string | undefined } }
}

function isNamedObject(value: unknown): value is KubeObject {
  return isJsonObject(value) && isJsonObject(value.metadata) && typeof value.metadata.name === 'string'
}

interface Page {
  objects: KubeObject[]
  resourceVersion: string | undefined
  continueToken: string | undefined
}

function readPage(page: unknown): Page | undefined {
  if (!isJsonObject(page) || !Array.isArray(page.items)) return undefined
  const metadata = isJsonObject(page.metadata) ? page.metadata : {}
  const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)
  return { objects: page.items.filter(isNamedObject), resourceVersion: text(metadata.resourceVersion), continueToken: text(metadata.continue) }
}

function isTimeout(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === 'TimeoutError'
}

/** A Watch that asks for bookmarks (fewer 410s on resume) and reports to its session. */
class SessionWatch extends Watch {
  readonly #session: InformerSession

  constructor(kubeConfig: KubeConfig, session: InformerSession) {
    super(kubeConfig)
    this.#session = session
  }

  override async watch(...[path, query, callback, done]: Parameters<Watch['watch']>): Promise<AbortController> {
    const session = this.#session
    if (session.stopped) return new AbortController()
    let ended = false
    const connecting = super.watch(
      path,
      { ...query, allowWatchBookmarks: true },
      (phase, object, raw) => {
        const kept = session.event(phase, object)
        if (kept !== undefined) callback(phase, kept, raw)
      },
      (err) => {
        ended = true
        done(session.ended(err))
      },
    )
    let request: AbortController
    try {
      request = await session.track(connecting)
    } catch (err) {
      // Thrown before the request was made (credentials could not be loaded): an error like any other, not a rejection no one awaits.
      if (!ended) {
        ended = true
        done(session.ended(err))
      }
      return new AbortController()
    }
    if (session.stopped) request.abort()
    else if (!ended) session.connectedNow()
    return request
  }
}

export class InformerSession {
  readonly version: string
  /** e.g. stepactions.tekton.dev/v1beta1, for messages and status. */
  readonly resourceName: string
  readonly #resource: GroupResource
  readonly #hooks: SessionHooks
  readonly #api: CustomObjectsApi
  readonly #core: CoreV1Api | undefined
  readonly #listWatch: ListWatch<KubernetesObject>
  readonly #abort = new AbortController()
  readonly #requestOptions: ConfigurationOptions
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #inFlight = new Set<Promise<unknown>>()
  #stopped = false

  constructor(kubeConfig: KubeConfig, resource: GroupResource, version: string, hooks: SessionHooks) {
    this.version = version
    this.resourceName = resourceName(resource, version)
    this.#resource = resource
    this.#hooks = hooks
    this.#api = kubeConfig.makeApiClient(CustomObjectsApi)
    if (resource.group === '' && resource.plural !== 'namespaces') throw new Error(`watching ${resource.plural} of the core group is not supported`)
    this.#core = resource.group === '' ? kubeConfig.makeApiClient(CoreV1Api) : undefined
    const signal = this.#abort.signal
    const abortable: ObservableMiddleware = {
      pre: (context) => {
        context.setSignal(signal)
        return new Observable(Promise.resolve(context))
      },
      post: (response) => new Observable(Promise.resolve(response)),
    }
    this.#requestOptions = { middleware: [abortable], middlewareMergeStrategy: 'append' }
    const path = resource.group === '' ? `/api/${version}/${resource.plural}` : `/apis/${resource.group}/${version}/${resource.plural}`
    this.#listWatch = new ListWatch(path, new SessionWatch(kubeConfig, this), () => this.#list(), false, undefined, undefined, {
      delayFn: (ms) => this.#delay(ms),
    })
    this.#listWatch.on('error', (err: unknown) => {
      if (!this.#stopped) this.#hooks.failed(err)
    })
  }

  get stopped(): boolean {
    return this.#stopped
  }

  /** Lists unless it has a resourceVersion to resume from, then watches; resolves once the watch is open or failed. */
  start(): Promise<void> {
    return this.#listWatch.start()
  }

  /** Stops for good; resolves when no request of this session is left open. */
  async stop(): Promise<void> {
    this.#stopped = true
    this.#abort.abort()
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    await this.#listWatch.stop()
    await Promise.allSettled([...this.#inFlight])
  }

  /** What the ListWatch is given of a watch event, after the hooks have the object; undefined drops the event. */
  event(phase: string, object: unknown): unknown {
    if (this.#stopped) return undefined
    if (phase !== 'ADDED' && phase !== 'MODIFIED' && phase !== 'DELETED') return object
    if (!isNamedObject(object)) return undefined
    if (phase === 'DELETED') this.#hooks.removed(object)
    else this.#hooks.put(object, this.version)
    return bookkeeping(object)
  }

  /** The error a watch ended with, as the ListWatch should see it: 410 and timeouts as they are, it handles those. */
  ended(err: unknown): unknown {
    if (err === null || err === undefined || this.#stopped || httpStatusOf(err) === 410 || isTimeout(err)) return err
    return new ClusterRequestError('watch', this.resourceName, err)
  }

  connectedNow(): void {
    if (!this.#stopped) this.#hooks.connected()
  }

  track<T>(request: Promise<T>): Promise<T> {
    this.#inFlight.add(request)
    const forget = (): void => void this.#inFlight.delete(request)
    request.then(forget, forget)
    return request
  }

  async #list(): Promise<KubernetesListObject<KubernetesObject>> {
    const keys = new Set<string>()
    const items: KubernetesObject[] = []
    let resourceVersion: string | undefined
    let continueToken: string | undefined
    do {
      let answer: unknown
      try {
        const { group, plural } = this.#resource
        const request: Promise<unknown> =
          this.#core !== undefined
            ? this.#core.listNamespace({ limit: pageSize, _continue: continueToken }, this.#requestOptions)
            : this.#api.listClusterCustomObject({ group, version: this.version, plural, limit: pageSize, _continue: continueToken }, this.#requestOptions)
        answer = await this.track(request)
      } catch (err) {
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
        items.push(bookkeeping(object))
      }
      continueToken = page.continueToken
    } while (continueToken !== undefined)
    this.#hooks.listed(keys)
    return { metadata: { resourceVersion }, items }
  }

  /** The ListWatch's pause before re-watching; a stopped session never ends it, so no watch opens after stop(). */
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
