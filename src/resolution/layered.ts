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
// env values) by naming its namespace. And it hands Tekton's remote
// resolvers (git, http, bundles) to the resolvers it was given.
//
// What it cannot or may not resolve (a resolver it does not run, a namespace
// not shared, params that still hold a variable known only at run time) is
// `unresolved`: left for Tekton, never a denial of its own.

import type { Resolution, StepReference, TaskReference, TaskResolution } from '../definitions/reference.ts'
import { quoteValue } from '../problems/truncate.ts'
import type { Param } from '../types/tekton.ts'
import type { Catalog, ResolveOptions } from './catalog.ts'
import { suggestionScope } from '../problems/nearest.ts'
import { notFound, taskNotFound } from './not-found.ts'
import type { DefinitionReport, ReportListener } from './reports.ts'

/** One of Tekton's remote resolvers, as stepsplice runs it (resolvers/). */
export interface StepResolver {
  readonly name: string
  resolve(ref: StepReference, options?: ResolveOptions): Promise<Resolution>
  /** A Task a TaskGroup uses, from the same place (issue #16); a resolver without it serves StepActions only. */
  resolveTask?(ref: StepReference, options?: ResolveOptions): Promise<TaskResolution>
}

export interface LayeredOptions {
  /** Namespaces whose StepActions the cluster resolver may reach from any namespace. */
  shared?: Iterable<string>
  /** The remote resolvers that run. */
  resolvers?: readonly StepResolver[]
  /** Resolvers stepsplice runs but was told not to (`--resolvers`): named so in the warning. */
  switchedOff?: Iterable<string>
}

/** Every resolver stepsplice can run. */
export const runnableResolvers = ['cluster', 'git', 'http', 'bundles'] as const

export interface Layer {
  catalog: Catalog
  /** Where its definitions come from, for messages: `the cluster`, `examples/stepactions`. */
  origin: string
}

function truncated(text: string): string {
  return text.length <= 60 ? text : `${text.slice(0, 60)}…`
}

function paramText(params: readonly Param[] | undefined, name: string): string | undefined {
  const value = (params ?? []).find((p) => p?.name === name)?.value
  return typeof value === 'string' ? value : undefined
}

export class LayeredCatalog implements Catalog {
  readonly #layers: readonly Layer[]
  readonly #shared: ReadonlySet<string>
  readonly #resolvers: ReadonlyMap<string, StepResolver>
  readonly #switchedOff: ReadonlySet<string>
  /** Present only when a layer holds Tasks: without any, a TaskRun's taskRef is simply not this catalog's business. */
  readonly resolveTask?: (ref: TaskReference, options?: ResolveOptions) => Promise<TaskResolution>

  constructor(layers: readonly Layer[], options: LayeredOptions = {}) {
    this.#layers = layers
    this.#shared = new Set(options.shared ?? [])
    this.#resolvers = new Map((options.resolvers ?? []).map((r) => [r.name, r]))
    this.#switchedOff = new Set(options.switchedOff ?? [])
    if (layers.some((l) => l.catalog.resolveTask !== undefined)) this.resolveTask = (ref, options = {}) => this.#resolveTask(ref, options)
  }

  /** A layer sees the cluster's StepActions as Tekton does: a name none holds is one Tekton would not find. */
  get authoritative(): boolean {
    return this.#layers.some((l) => l.catalog.authoritative === true)
  }

  get size(): number {
    return this.#layers.reduce((n, l) => n + l.catalog.size, 0)
  }

  /** Every layer's together; undefined when a layer cannot say. */
  get generation(): number | undefined {
    let sum = 0
    for (const { catalog } of this.#layers) {
      if (catalog.generation === undefined) return undefined
      sum += catalog.generation
    }
    return sum
  }

  get ready(): boolean {
    return this.#layers.every((l) => l.catalog.ready ?? true)
  }

  async resolve(ref: StepReference, options: ResolveOptions = {}): Promise<Resolution> {
    const resolver = ref.resolver
    if (resolver === undefined || resolver === '') return this.#byName(ref, options)
    const later = this.#notNow(resolver, ref.params)
    if (later !== undefined) return { unresolved: later, resolver }
    if (resolver === 'cluster') return this.#clusterResolver(ref, options)
    const remote = this.#resolvers.get(resolver)
    if (remote !== undefined) return remote.resolve(ref, options)
    const runs = [...runnableResolvers].filter((r) => r === 'cluster' || this.#resolvers.has(r))
    return { unresolved: `stepsplice does not run the ${quoteValue(resolver, 40)} resolver (it runs ${runs.join(', ')})`, resolver }
  }

  /**
   * Why a resolver reference, of a step or a TaskGroup's uses, is not resolved
   * now: its resolver is switched off, or a param holds a value known only at
   * run time (Tekton fills resolver params from task params first). Undefined
   * when it may be.
   */
  #notNow(resolver: string, params: readonly Param[] | undefined): string | undefined {
    if (this.#switchedOff.has(resolver)) return `the ${resolver} resolver is switched off here (--resolvers)`
    for (const p of params ?? []) {
      const at = typeof p?.value === 'string' ? p.value.indexOf('$(') : -1
      if (at >= 0) return `param ${quoteValue(p.name, 60)} holds ${truncated(String(p.value).slice(at))}, which has no value at admission`
    }
    return undefined
  }

  async #resolveTask(ref: TaskReference, options: ResolveOptions): Promise<TaskResolution> {
    const resolver = ref.resolver
    if (resolver !== undefined && resolver !== '') return this.#taskByResolver(ref, resolver, options)
    let first: TaskResolution | undefined
    for (const { catalog } of this.#layers) {
      if (catalog.resolveTask === undefined) continue
      const answer = await catalog.resolveTask(ref, options)
      if (!('missing' in answer && answer.missing)) return answer
      first ??= answer
    }
    return first ?? taskNotFound(ref)
  }

  /**
   * A TaskGroup's `uses` through a resolver: Tekton's cluster resolver form
   * (`kind: task`, `name`, `namespace`, shared namespaces only, as for
   * StepActions) from the same catalogs; git, http and bundles through the
   * same remote resolvers, caches and fetches as StepActions.
   */
  async #taskByResolver(ref: TaskReference, resolver: string, options: ResolveOptions): Promise<TaskResolution> {
    const later = this.#notNow(resolver, ref.params)
    if (later !== undefined) return { unresolved: later }
    if (resolver !== 'cluster') {
      const remote = this.#resolvers.get(resolver)
      if (remote?.resolveTask !== undefined) return remote.resolveTask({ namespace: ref.namespace, resolver, params: ref.params ?? [] }, options)
      const runs = [...runnableResolvers].filter((r) => r === 'cluster' || this.#resolvers.has(r))
      return { unresolved: `stepsplice does not run the ${quoteValue(resolver, 40)} resolver (it runs ${runs.join(', ')})` }
    }
    const kind = paramText(ref.params, 'kind') ?? 'task'
    const name = paramText(ref.params, 'name')
    const namespace = paramText(ref.params, 'namespace') ?? ref.namespace
    if (kind !== 'task') return { error: `cluster resolver: kind must be "task" for a used Task, not ${quoteValue(kind)}` }
    if (name === undefined || name === '') return { error: 'cluster resolver: missing param "name"' }
    if (namespace !== ref.namespace && !this.#shared.has(namespace))
      return { unresolved: `cluster: namespace ${quoteValue(namespace, 60)} is not shared with stepsplice (--shared-namespace ${truncated(namespace)})` }
    const found = await this.#resolveTask({ namespace, name, kind: 'Task' }, options)
    return 'missing' in found && found.missing === true && !this.authoritative ? { unresolved: found.error } : found
  }

  /** Every layer's names, together; undefined when they are more than `limit`, or a layer cannot say. */
  names(namespace: string, limit: number): string[] | undefined {
    const all = new Set<string>()
    for (const { catalog } of this.#layers) {
      if (catalog.names === undefined) continue
      const names = catalog.names(namespace, limit - all.size)
      if (names === undefined) return undefined
      for (const name of names) all.add(name)
    }
    return [...all]
  }

  brokenDefinitions(): DefinitionReport[] {
    return this.#layers.flatMap((l) => l.catalog.brokenDefinitions?.() ?? [])
  }

  watchBroken(listener: ReportListener): () => void {
    const stops = this.#layers.flatMap((l) => (l.catalog.watchBroken === undefined ? [] : [l.catalog.watchBroken(listener)]))
    return () => {
      for (const stop of stops) stop()
    }
  }

  /** The first layer that holds the name answers; when none does, the miss suggests names from all of them and keeps what each noted. */
  async #byName(ref: StepReference, options: ResolveOptions): Promise<Resolution> {
    const notes: string[] = []
    for (const { catalog } of this.#layers) {
      const answer = await catalog.resolve(ref, options)
      if (!('missing' in answer && answer.missing)) return answer
      for (const note of answer.notes ?? []) if (!notes.includes(note)) notes.push(note)
    }
    return notFound(ref.name ?? '', ref.namespace, this.names(ref.namespace, suggestionScope), notes)
  }

  /**
   * Tekton's cluster resolver params: kind (stepaction), name, namespace. An empty or missing kind or namespace takes
   * default-kind or default-namespace from the cluster-resolver-config ConfigMap, which stepsplice does not read: left.
   */
  async #clusterResolver(ref: StepReference, options: ResolveOptions): Promise<Resolution> {
    const kind = paramText(ref.params, 'kind') ?? ''
    const name = paramText(ref.params, 'name')
    const namespace = paramText(ref.params, 'namespace') ?? ''
    if (name === undefined || name === '') return { error: 'cluster resolver: missing param "name"' }
    const configured = (param: string): Resolution => ({
      unresolved: `cluster: no ${param}, and the default-${param} Tekton uses (cluster-resolver-config) is not known here`,
      resolver: 'cluster',
    })
    if (kind === '') return configured('kind')
    if (kind !== 'stepaction') return { error: `cluster resolver: kind must be "stepaction" for a step, not ${quoteValue(kind)}` }
    if (namespace === '') return configured('namespace')
    if (namespace !== ref.namespace && !this.#shared.has(namespace)) {
      // Tekton's own cluster resolver has its own rules on namespaces: not ours to deny.
      return {
        unresolved: `cluster: namespace ${quoteValue(namespace, 60)} is not shared with stepsplice (--shared-namespace ${truncated(namespace)})`,
        resolver: 'cluster',
      }
    }
    const found = await this.#byName({ namespace, name }, options)
    return 'missing' in found && found.missing === true && !this.authoritative ? { unresolved: found.error, resolver: 'cluster' } : found
  }
}
