// A catalog held in memory and fed by someone else: files at startup, a watch
// on the cluster, or a test. Lookups never leave the process.

import type { Resolution, ResolvedTask, StepReference, TaskReference, TaskResolution } from '../definitions/reference.ts'
import type { Catalog } from './catalog.ts'
import { DefinitionIndex } from './definition-index.ts'
import { type Definition, type DefinitionSource, toDefinition } from '../definitions/definition.ts'
import type { StepAction } from '../types/tekton.ts'
import { suggestionScope } from '../problems/nearest.ts'
import { notFound } from './not-found.ts'
import { TaskIndex } from './task-index.ts'

export class MemoryCatalog implements Catalog {
  #index = new DefinitionIndex()
  #tasks = new TaskIndex()
  #generation = 0
  /** Says where definitions come from, in "not found" messages. */
  readonly origin: string
  /** Fed from the cluster's own StepActions: a name it lacks, Tekton lacks too (see Catalog). */
  readonly authoritative: boolean

  constructor(origin: string, options: { authoritative?: boolean } = {}) {
    this.origin = origin
    this.authoritative = options.authoritative === true
  }

  /** Builds a catalog from StepAction objects, e.g. in tests or from an inline list. */
  static of(
    origin: string,
    stepActions: readonly StepAction[],
    source: DefinitionSource = { kind: 'directory', location: origin },
    options: { authoritative?: boolean } = {},
  ): MemoryCatalog {
    const catalog = new MemoryCatalog(origin, options)
    for (const sa of stepActions) catalog.put(toDefinition(sa, source))
    return catalog
  }

  /** Grows with every change of what it holds. */
  get generation(): number {
    return this.#generation
  }

  /** Adds or replaces a definition; returns the one it replaced. */
  put(definition: Definition): Definition | undefined {
    this.#generation++
    return this.#index.put(definition)
  }

  /** Replaces every definition at once: a lookup sees the old set or the new one, never a mix. */
  replaceAll(index: DefinitionIndex): void {
    this.#generation++
    this.#index = index
  }

  /** Adds or replaces a Task or TaskGroup. */
  putTask(task: ResolvedTask): void {
    this.#generation++
    this.#tasks.put(task)
  }

  /** Replaces every Task and TaskGroup at once, as replaceAll does definitions. */
  replaceTasks(index: TaskIndex): void {
    this.#generation++
    this.#tasks = index
  }

  /** Tasks and TaskGroups by name; a resolver is not its business (`unresolved`, left to the layered catalog or Tekton). */
  async resolveTask(ref: TaskReference): Promise<TaskResolution> {
    if (ref.resolver !== undefined && ref.resolver !== '')
      return { unresolved: `resolver ${JSON.stringify(ref.resolver)} is not one ${this.origin} answers: its Tasks are found by name` }
    return this.#tasks.resolve(ref)
  }

  delete(namespace: string | undefined, name: string): void {
    this.#generation++
    this.#index.delete(namespace, name)
  }

  get size(): number {
    return this.#index.size
  }

  async resolve(ref: StepReference): Promise<Resolution> {
    if (ref.resolver !== undefined && ref.resolver !== '') {
      return {
        unresolved: `resolver ${JSON.stringify(ref.resolver)} is not one ${this.origin} answers: its StepActions are found by name`,
        resolver: ref.resolver,
      }
    }
    const name = ref.name ?? ''
    const definition = this.#index.lookup(ref.namespace, name)
    return definition === undefined ? this.missing(name, ref.namespace) : { definition }
  }

  names(namespace: string, limit: number): string[] | undefined {
    return this.#index.names(namespace, limit)
  }

  /** The answer for a name it does not hold: not found, with the nearest names it does hold. */
  protected missing(name: string, namespace: string, notes: readonly string[] = []): Resolution {
    return notFound(name, namespace, this.names(namespace, suggestionScope), notes)
  }
}
