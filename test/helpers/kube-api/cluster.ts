// The cluster's state behind the fake API server: which custom resources are
// installed, their objects, one global resourceVersion (etcd's revision) and,
// per resource, a bounded event history (the watch cache) that watches resume
// from. No HTTP here: routes.ts and watch-stream.ts put it on the wire.

import { randomBytes, randomUUID } from 'node:crypto'
import { isDeepStrictEqual } from 'node:util'
import type { KubeObject } from '../../../src/types/k8s.ts'
import type { Predicate } from './selectors.ts'

/**
 * A resource as its CRD declares it; every version is served, with conversion
 * None (same schema). Group '' is the core group (namespaces are served that
 * way); `scope: 'Cluster'` a cluster-scoped resource (no namespace).
 */
export interface KubeResource {
  group: string
  scope?: 'Namespaced' | 'Cluster'
  versions: string[]
  plural: string
  kind: string
  singular?: string
  shortNames?: string[]
  categories?: string[]
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'

/** An open watch as the cluster sees it: where it looks and how to reach it. */
export interface Watcher {
  namespace: string | undefined
  accepts: Predicate
  bookmarks: boolean
  send(type: EventType, object: KubeObject): void
  /** Ends the stream the way the server ends a watch whose time is up. */
  end(): void
}

interface Change {
  type: 'ADDED' | 'MODIFIED' | 'DELETED'
  object: KubeObject
  rv: number
}

interface Installed {
  resource: KubeResource
  /** By "namespace/name", in etcd's key order when sorted. */
  objects: Map<string, KubeObject>
  history: Change[]
  /** Watches from a resourceVersion below this have missed events: 410 Gone. */
  floor: number
  watchers: Set<Watcher>
}

/** An accepted watch and how to deregister it, or the oldest resourceVersion still available (for a 410). */
export type WatchStart = { ok: true; stop: () => void } | { ok: false; oldest: number }

const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`

/** `group/version`, or just `version` for the core group. */
export const apiVersionOf = (group: string, version: string): string => (group === '' ? version : `${group}/${version}`)
const now = (): string => `${new Date().toISOString().slice(0, 19)}Z`

export class Cluster {
  private revision: number
  private readonly historyLimit: number
  private readonly installed = new Map<string, Installed>()

  constructor(historyLimit: number) {
    this.historyLimit = historyLimit
    // Real resourceVersions are large and opaque; starting high keeps tests from relying on small numbers.
    this.revision = 1000
  }

  get resourceVersion(): string {
    return String(this.revision)
  }

  resources(): KubeResource[] {
    return [...this.installed.values()].map((i) => i.resource)
  }

  /** The installed resource serving group/version/plural, if any. */
  lookup(group: string, version: string, plural: string): KubeResource | undefined {
    const found = this.installed.get(`${group}/${plural}`)
    return found?.resource.versions.includes(version) ? found.resource : undefined
  }

  /** Installs a CRD, or changes the versions an installed one serves; objects stay. */
  install(resource: KubeResource): void {
    const key = `${resource.group}/${resource.plural}`
    const existing = this.installed.get(key)
    if (existing) {
      existing.resource = structuredClone(resource)
      return
    }
    // A fresh watch cache starts at the current revision: nothing older can be resumed.
    this.installed.set(key, { resource: structuredClone(resource), objects: new Map(), history: [], floor: this.revision, watchers: new Set() })
  }

  /** Deletes a CRD: its objects go (watches see them deleted), then its watches end and its paths answer 404. */
  uninstall(group: string, plural: string): void {
    const entry = this.entry(group, plural)
    for (const object of [...entry.objects.values()]) this.remove(object)
    for (const w of entry.watchers) w.end()
    this.installed.delete(`${group}/${plural}`)
  }

  /** Whether a list begun at resourceVersion `rv` can still be continued: not once history before it was compacted (expireHistory). */
  continuable(resource: KubeResource, rv: number): boolean {
    return rv >= this.entry(resource.group, resource.plural).floor
  }

  list(resource: KubeResource, namespace: string | undefined, accepts: Predicate): KubeObject[] {
    const entry = this.entry(resource.group, resource.plural)
    return [...entry.objects.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => o)
      .filter((o) => (namespace === undefined || o.metadata?.namespace === namespace) && accepts(o))
  }

  get(resource: KubeResource, namespace: string, name: string): KubeObject | undefined {
    return this.entry(resource.group, resource.plural).objects.get(keyOf(namespace, name))
  }

  create(object: KubeObject): KubeObject {
    const { entry, namespace } = this.locate(object)
    const metadata = { ...object.metadata }
    if (metadata.name === undefined && metadata.generateName !== undefined)
      metadata.name = `${metadata.generateName}${randomBytes(3).toString('hex').slice(0, 5)}`
    const name = metadata.name
    if (name === undefined) throw new Error(`create: ${object.kind} has neither metadata.name nor metadata.generateName`)
    if (entry.objects.has(keyOf(namespace, name)))
      throw new Error(`create: ${entry.resource.plural}.${entry.resource.group} "${name}" already exists in ${namespace}`)
    const stored: KubeObject = {
      ...structuredClone(object),
      metadata: {
        ...structuredClone(metadata),
        name,
        ...(namespace === '' ? {} : { namespace }),
        uid: randomUUID(),
        resourceVersion: this.next(),
        generation: 1,
        creationTimestamp: now(),
      },
    }
    entry.objects.set(keyOf(namespace, name), stored)
    this.record(entry, 'ADDED', stored)
    return structuredClone(stored)
  }

  /** Replaces an object's content; uid and creation time stay, generation moves when spec changes. */
  update(object: KubeObject): KubeObject {
    const { entry, namespace, name } = this.existing(object, 'update')
    const old = entry.objects.get(keyOf(namespace, name)) as KubeObject
    const oldMeta = old.metadata ?? {}
    const generation = Number(oldMeta.generation ?? 1) + (isDeepStrictEqual(old.spec, object.spec) ? 0 : 1)
    const stored: KubeObject = {
      ...structuredClone(object),
      metadata: {
        ...structuredClone(object.metadata),
        name,
        ...(namespace === '' ? {} : { namespace }),
        uid: oldMeta.uid,
        creationTimestamp: oldMeta.creationTimestamp,
        generation,
        resourceVersion: this.next(),
      },
    }
    entry.objects.set(keyOf(namespace, name), stored)
    this.record(entry, 'MODIFIED', stored)
    return structuredClone(stored)
  }

  /** Deletes an object (no finalizers): watches get its last state at the deletion's resourceVersion. */
  remove(object: KubeObject): void {
    const { entry, namespace, name } = this.existing(object, 'delete')
    const old = entry.objects.get(keyOf(namespace, name)) as KubeObject
    entry.objects.delete(keyOf(namespace, name))
    this.record(entry, 'DELETED', { ...old, metadata: { ...old.metadata, resourceVersion: this.next() } })
  }

  /**
   * Opens a watch from `from` ('' or '0': the current state first, as ADDED
   * events). A resourceVersion older than the history answers with the oldest
   * one still available, for a 410.
   */
  watch(resource: KubeResource, from: string, watcher: Watcher): WatchStart {
    const entry = this.entry(resource.group, resource.plural)
    const visible = (o: KubeObject): boolean => (watcher.namespace === undefined || o.metadata?.namespace === watcher.namespace) && watcher.accepts(o)
    if (from === '' || from === '0') {
      for (const o of this.list(resource, watcher.namespace, watcher.accepts)) watcher.send('ADDED', o)
    } else {
      const rv = Number(from)
      if (rv < entry.floor) return { ok: false, oldest: entry.floor }
      for (const c of entry.history) if (c.rv > rv && visible(c.object)) watcher.send(c.type, c.object)
    }
    const registered: Watcher = {
      ...watcher,
      send: (type, o) => {
        if (type === 'BOOKMARK' || visible(o)) watcher.send(type, o)
      },
    }
    entry.watchers.add(registered)
    return { ok: true, stop: () => entry.watchers.delete(registered) }
  }

  /** A BOOKMARK at the current revision to every watch that allowed bookmarks; returns how many got one. */
  bookmark(): number {
    let sent = 0
    for (const entry of this.installed.values()) {
      for (const w of entry.watchers) {
        if (!w.bookmarks) continue
        w.send('BOOKMARK', { kind: entry.resource.kind, apiVersion: '', metadata: { resourceVersion: this.resourceVersion } })
        sent++
      }
    }
    return sent
  }

  /**
   * As if the cluster moved on and compacted: the revision advances and every
   * history empties, so resuming from any resourceVersion handed out so far
   * is answered 410 Gone; a fresh list works.
   */
  expireHistory(): void {
    this.revision++
    for (const entry of this.installed.values()) {
      entry.history = []
      entry.floor = this.revision
    }
  }

  private next(): string {
    this.revision++
    return String(this.revision)
  }

  private record(entry: Installed, type: Change['type'], object: KubeObject): void {
    entry.history.push({ type, object, rv: this.revision })
    while (entry.history.length > this.historyLimit) entry.floor = (entry.history.shift() as Change).rv
    for (const w of entry.watchers) w.send(type, object)
  }

  private entry(group: string, plural: string): Installed {
    const entry = this.installed.get(`${group}/${plural}`)
    if (!entry) throw new Error(`${plural}.${group} is not installed`)
    return entry
  }

  private locate(object: KubeObject): { entry: Installed; namespace: string } {
    const apiVersion = object.apiVersion ?? ''
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion]
    const entry = [...this.installed.values()].find((e) => e.resource.group === group && e.resource.kind === object.kind)
    if (!entry || version === undefined || !entry.resource.versions.includes(version))
      throw new Error(`no installed resource serves ${object.apiVersion} ${object.kind}`)
    if (entry.resource.scope === 'Cluster') return { entry, namespace: '' }
    return { entry, namespace: object.metadata?.namespace ?? 'default' }
  }

  private existing(object: KubeObject, verb: string): { entry: Installed; namespace: string; name: string } {
    const { entry, namespace } = this.locate(object)
    const name = object.metadata?.name
    if (name === undefined || !entry.objects.has(keyOf(namespace, name)))
      throw new Error(`${verb}: ${entry.resource.plural}.${entry.resource.group} "${name}" not found in ${namespace}`)
    return { entry, namespace, name }
  }
}
