// Several catalogs answered as one: the cluster's (when serving with --kube)
// first, then the directories. The cluster wins because it is what Tekton
// itself would resolve a step's `ref.name` against in the object's
// namespace; a directory supplies what the cluster lacks (steps for Pods, a
// cluster without Tekton, definitions shipped with the webhook).
//
// It also resolves Tekton's cluster resolver form, `ref: {resolver: cluster,
// params: [kind, name, namespace]}`: a StepAction of another namespace, from
// the same catalogs, but only from namespaces shared with --shared-namespace,
// so a team cannot reach into another team's definitions (and their literal
// env values) by naming its namespace.

import type { Resolution, StepReference, TaskReference, TaskResolution } from '../definitions/reference.ts'
import { quoteValue } from '../problems/truncate.ts'
import type { Param } from '../types/tekton.ts'
import type { Catalog, ResolveOptions } from './catalog.ts'

export interface Layer {
  catalog: Catalog
  /** Where its definitions come from, for messages: `the cluster`, `examples/stepactions`. */
  origin: string
}

function paramText(params: readonly Param[] | undefined, name: string): string | undefined {
  const value = (params ?? []).find((p) => p?.name === name)?.value
  return typeof value === 'string' ? value : undefined
}

export class LayeredCatalog implements Catalog {
  readonly #layers: readonly Layer[]
  readonly #shared: ReadonlySet<string>
  /** Present only when a layer holds Tasks: without any, a TaskRun's taskRef is simply not this catalog's business. */
  readonly resolveTask?: (ref: TaskReference, options?: ResolveOptions) => Promise<TaskResolution>

  constructor(layers: readonly Layer[], sharedNamespaces: Iterable<string> = []) {
    this.#layers = layers
    this.#shared = new Set(sharedNamespaces)
    if (layers.some((l) => l.catalog.resolveTask !== undefined)) this.resolveTask = (ref, options = {}) => this.#resolveTask(ref, options)
  }

  get size(): number {
    return this.#layers.reduce((n, l) => n + l.catalog.size, 0)
  }

  get ready(): boolean {
    return this.#layers.every((l) => l.catalog.ready ?? true)
  }

  async resolve(ref: StepReference, options: ResolveOptions = {}): Promise<Resolution> {
    if (ref.resolver === 'cluster') return this.#clusterResolver(ref, options)
    if (ref.resolver !== undefined && ref.resolver !== '') {
      const origins = this.#layers.map((l) => l.origin).join(' and ')
      return { error: `resolver ${quoteValue(ref.resolver)} is not available: StepActions come from ${origins}, by name or through the cluster resolver` }
    }
    return this.#byName(ref, options)
  }

  async #resolveTask(ref: TaskReference, options: ResolveOptions): Promise<TaskResolution> {
    let first: TaskResolution | undefined
    for (const { catalog } of this.#layers) {
      if (catalog.resolveTask === undefined) continue
      const answer = await catalog.resolveTask(ref, options)
      if (!('missing' in answer && answer.missing)) return answer
      first ??= answer
    }
    return first ?? { error: `tasks.tekton.dev ${quoteValue(ref.name)} not found in namespace ${quoteValue(ref.namespace)}`, missing: true }
  }

  async #byName(ref: StepReference, options: ResolveOptions): Promise<Resolution> {
    let first: Resolution | undefined
    for (const { catalog } of this.#layers) {
      const answer = await catalog.resolve(ref, options)
      if (!('missing' in answer && answer.missing)) return answer
      first ??= answer
    }
    return first ?? { error: `stepactions.tekton.dev ${quoteValue(ref.name ?? '')} not found in namespace ${quoteValue(ref.namespace)}`, missing: true }
  }

  /** Tekton's cluster resolver params: kind (stepaction), name, namespace (default: the object's). */
  async #clusterResolver(ref: StepReference, options: ResolveOptions): Promise<Resolution> {
    const kind = paramText(ref.params, 'kind') ?? 'task'
    const name = paramText(ref.params, 'name')
    const namespace = paramText(ref.params, 'namespace') ?? ref.namespace
    if (kind !== 'stepaction') return { error: `cluster resolver: kind must be "stepaction" for a step, not ${quoteValue(kind)}` }
    if (name === undefined || name === '') return { error: 'cluster resolver: missing param "name"' }
    if (namespace !== ref.namespace && !this.#shared.has(namespace)) {
      return {
        error: `cluster resolver: StepActions of namespace ${quoteValue(namespace)} are not shared with namespace ${quoteValue(ref.namespace)}; a platform team shares a namespace's StepActions by starting stepsplice with --shared-namespace ${namespace}`,
      }
    }
    return this.#byName({ namespace, name }, options)
  }
}
