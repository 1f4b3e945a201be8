// Definitions by namespace and name. A namespaced definition wins over a
// namespace-less one of the same name, so a team can override a shared step
// in its own namespace.

import type { Definition } from '../definitions/definition.ts'

const anyNamespace = ''

export class DefinitionIndex {
  readonly #byKey = new Map<string, Definition>()
  /** Names by namespace (`''` for namespace-less ones): what a namespace sees, without reading every key. */
  readonly #names = new Map<string, Set<string>>()

  static key(namespace: string | undefined, name: string): string {
    return `${namespace ?? anyNamespace}/${name}`
  }

  /** Returns the definition already held under the same key, if any. */
  put(definition: Definition): Definition | undefined {
    const key = DefinitionIndex.key(definition.namespace, definition.name)
    const previous = this.#byKey.get(key)
    this.#byKey.set(key, definition)
    const namespace = definition.namespace ?? anyNamespace
    let names = this.#names.get(namespace)
    if (names === undefined) {
      names = new Set()
      this.#names.set(namespace, names)
    }
    names.add(definition.name)
    return previous
  }

  delete(namespace: string | undefined, name: string): void {
    this.#byKey.delete(DefinitionIndex.key(namespace, name))
    this.#names.get(namespace ?? anyNamespace)?.delete(name)
  }

  lookup(namespace: string, name: string): Definition | undefined {
    return this.#byKey.get(DefinitionIndex.key(namespace, name)) ?? this.#byKey.get(DefinitionIndex.key(undefined, name))
  }

  /** The names a step in `namespace` can reference; undefined when there are more than `limit`. */
  names(namespace: string, limit: number): string[] | undefined {
    const own = namespace === anyNamespace ? undefined : this.#names.get(namespace)
    const shared = this.#names.get(anyNamespace)
    if ((own?.size ?? 0) + (shared?.size ?? 0) > limit) return undefined
    return [...new Set([...(own ?? []), ...(shared ?? [])])]
  }

  get size(): number {
    return this.#byKey.size
  }
}
