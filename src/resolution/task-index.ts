// Tasks and TaskGroups by kind, namespace and name, as the directory and
// memory catalogs hold them. As for StepActions, a namespaced one wins over
// a namespace-less one of the same name, so a team can override a shared
// Task in its own namespace.

import type { ResolvedTask, TaskKind, TaskReference, TaskResolution } from '../definitions/reference.ts'
import { taskId } from '../definitions/task.ts'
import { taskNotFound } from './not-found.ts'

const key = (kind: TaskKind | undefined, namespace: string, name: string): string => `${kind ?? 'Task'}\0${namespace}\0${name}`

export class TaskIndex {
  readonly #byKey = new Map<string, ResolvedTask>()
  readonly #names = new Map<string, Set<string>>()

  /** Returns the one already held under the same kind, namespace and name, if any. */
  put(task: ResolvedTask): ResolvedTask | undefined {
    const k = key(task.kind, task.namespace, task.name)
    const previous = this.#byKey.get(k)
    this.#byKey.set(k, task)
    const scope = `${task.kind ?? 'Task'}\0${task.namespace}`
    let names = this.#names.get(scope)
    if (names === undefined) {
      names = new Set()
      this.#names.set(scope, names)
    }
    names.add(task.name)
    return previous
  }

  get size(): number {
    return this.#byKey.size
  }

  /** The one a reference by name finds; what makes it unusable is the error. */
  resolve(ref: TaskReference): TaskResolution {
    const found = this.#byKey.get(key(ref.kind, ref.namespace, ref.name)) ?? this.#byKey.get(key(ref.kind, '', ref.name))
    if (found === undefined) {
      const kind = ref.kind ?? 'Task'
      const names = [...(this.#names.get(`${kind}\0${ref.namespace}`) ?? []), ...(this.#names.get(`${kind}\0`) ?? [])]
      return taskNotFound(ref, names.length > 1000 ? undefined : names)
    }
    return found.error === undefined ? { task: found } : { error: `${taskId(found)} in ${found.location}: ${found.error}` }
  }
}
