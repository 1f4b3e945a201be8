// Definitions by namespace and name. A namespaced definition wins over a
// namespace-less one of the same name, so a team can override a shared step
// in its own namespace.

import type { Definition } from '../definitions/definition.ts'

const anyNamespace = ''

export class DefinitionIndex {
  readonly #byKey = new Map<string, Definition>()

  static key(namespace: string | undefined, name: string): string {
    return `${namespace ?? anyNamespace}/${name}`
  }

  /** Returns the definition already held under the same key, if any. */
  put(definition: Definition): Definition | undefined {
    const key = DefinitionIndex.key(definition.namespace, definition.name)
    const previous = this.#byKey.get(key)
    this.#byKey.set(key, definition)
    return previous
  }

  delete(namespace: string | undefined, name: string): void {
    this.#byKey.delete(DefinitionIndex.key(namespace, name))
  }

  lookup(namespace: string, name: string): Definition | undefined {
    return this.#byKey.get(DefinitionIndex.key(namespace, name)) ?? this.#byKey.get(DefinitionIndex.key(undefined, name))
  }

  get size(): number {
    return this.#byKey.size
  }
}
