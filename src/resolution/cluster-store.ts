// What the cluster catalog holds of one watched resource: each object's
// conversion (a Definition, a ResolvedTask) by namespace and name, and the
// resourceVersion and version it was converted from, so an object seen again
// unchanged (a re-list after 410, a restart) is not converted again.

import type { KubeObject } from '../types/k8s.ts'

/** The conversion of an object as it arrives, given the API version it was read at. */
export type Convert<V> = (object: KubeObject, version: string) => V

interface Held<V> {
  resourceVersion: string
  version: string
  value: V
}

const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`

/** The key an object is held under. */
export function objectKey(object: KubeObject): string {
  return keyOf(object.metadata?.namespace ?? '', object.metadata?.name ?? '')
}

/** Told of each object converted anew (`value`) or forgotten (undefined), by its key and namespace and name. */
export type StoreChange<V> = (key: string, object: { namespace: string; name: string }, value: V | undefined) => void

export class ObjectStore<V> {
  readonly #convert: Convert<V>
  readonly #changed: StoreChange<V> | undefined
  readonly #held = new Map<string, Held<V> & { namespace: string; name: string }>()
  /** Names by namespace: what a namespace holds, without reading every key. */
  readonly #names = new Map<string, Set<string>>()
  #generation = 0

  constructor(convert: Convert<V>, changed?: StoreChange<V>) {
    this.#convert = convert
    this.#changed = changed
  }

  /** Adds or replaces an object, unless the same version of it is held already. */
  put(object: KubeObject, version: string): void {
    const key = objectKey(object)
    const resourceVersion = String(object.metadata?.resourceVersion ?? '')
    const held = this.#held.get(key)
    if (held !== undefined && resourceVersion !== '' && held.resourceVersion === resourceVersion && held.version === version) return
    const namespace = object.metadata?.namespace ?? ''
    const name = object.metadata?.name ?? ''
    const value = this.#convert(object, version)
    this.#held.set(key, { resourceVersion, version, value, namespace, name })
    this.#generation++
    let names = this.#names.get(namespace)
    if (names === undefined) {
      names = new Set()
      this.#names.set(namespace, names)
    }
    names.add(name)
    this.#changed?.(key, { namespace, name }, value)
  }

  remove(object: KubeObject): void {
    this.#forget(objectKey(object))
  }

  /** After a complete list: forgets every object it did not hold. */
  retainOnly(keys: ReadonlySet<string>): void {
    for (const key of [...this.#held.keys()]) if (!keys.has(key)) this.#forget(key)
  }

  get(namespace: string, name: string): V | undefined {
    return this.#held.get(keyOf(namespace, name))?.value
  }

  /** The names held in `namespace`; undefined when there are more than `limit`. */
  names(namespace: string, limit: number): string[] | undefined {
    const names = this.#names.get(namespace)
    if (names === undefined) return []
    return names.size > limit ? undefined : [...names]
  }

  #forget(key: string): void {
    const held = this.#held.get(key)
    if (held === undefined) return
    this.#held.delete(key)
    this.#generation++
    const names = this.#names.get(held.namespace)
    names?.delete(held.name)
    if (names?.size === 0) this.#names.delete(held.namespace)
    this.#changed?.(key, { namespace: held.namespace, name: held.name }, undefined)
  }

  get size(): number {
    return this.#held.size
  }

  /** Grows with every object added, replaced or forgotten. */
  get generation(): number {
    return this.#generation
  }
}
