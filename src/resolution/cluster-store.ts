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

export class ObjectStore<V> {
  readonly #convert: Convert<V>
  readonly #held = new Map<string, Held<V>>()

  constructor(convert: Convert<V>) {
    this.#convert = convert
  }

  /** Adds or replaces an object, unless the same version of it is held already. */
  put(object: KubeObject, version: string): void {
    const key = objectKey(object)
    const resourceVersion = String(object.metadata?.resourceVersion ?? '')
    const held = this.#held.get(key)
    if (held !== undefined && resourceVersion !== '' && held.resourceVersion === resourceVersion && held.version === version) return
    this.#held.set(key, { resourceVersion, version, value: this.#convert(object, version) })
  }

  remove(object: KubeObject): void {
    this.#held.delete(objectKey(object))
  }

  /** After a complete list: forgets every object it did not hold. */
  retainOnly(keys: ReadonlySet<string>): void {
    for (const key of this.#held.keys()) if (!keys.has(key)) this.#held.delete(key)
  }

  get(namespace: string, name: string): V | undefined {
    return this.#held.get(keyOf(namespace, name))?.value
  }

  get size(): number {
    return this.#held.size
  }
}
