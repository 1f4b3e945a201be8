// The cluster catalog of `stepsplice serve --kube`: Tekton's StepActions and
// Tasks in every namespace, kept current by list and watch, and answered from
// memory. A StepAction is validated when it arrives, and kept when invalid so
// a step that references it is told why; resolving never calls the API
// server. Through an outage the last known objects keep serving.

import type { KubeConfig } from '@kubernetes/client-node'
import { toDefinition, type Definition } from '../definitions/definition.ts'
import type { Resolution, ResolvedTask, StepReference, TaskReference, TaskResolution } from '../definitions/reference.ts'
import { taskId, toResolvedTask } from '../definitions/task.ts'
import type { KubeObject } from '../types/k8s.ts'
import type { StepAction } from '../types/tekton.ts'
import { formatProblem } from '../problems/problem.ts'
import { flatConcat } from '../json/values.ts'
import type { Catalog } from './catalog.ts'
import { ObjectStore } from './cluster-store.ts'
import { type Backoff, ResourceWatch, type ResourceStatus, WatchSet } from './cluster-watch.ts'
import { checkIdleTimeout, type RewatchPause } from './cluster-informer.ts'
import { suggestionScope } from '../problems/nearest.ts'
import { notFound, taskNotFound } from './not-found.ts'
import { boundedErrors, type DefinitionReport, ReportBoard, type ReportListener } from './reports.ts'

export type { ResourceState, ResourceStatus } from './cluster-watch.ts'

export interface ClusterCatalogOptions {
  kubeConfig: KubeConfig
  /** Called on every state change of a watched resource, for logs and metrics. */
  onStatus?: (status: ResourceStatus) => void
  /** Back-off between restarts of a failed list/watch: grows from initialMs to maxMs, with jitter. Defaults 1000 / 60000. */
  backoff?: Backoff
  /** The pause before re-opening a watch the API server closed with nothing sent (cluster-informer.ts). Defaults 1000 / 30000. */
  rewatch?: RewatchPause
  /** The User-Agent of list requests; `stepsplice` when unset. */
  userAgent?: string
  /** How long a watch may send nothing before it is ended and opened again; the Kubernetes client's 30 s when unset. */
  idleTimeoutMs?: number
  /** How long what was listed is still served while a resource answers 404 at every version (cluster-watch.ts). 60 s when unset. */
  absentGraceMs?: number
}

const defaultBackoff: Backoff = { initialMs: 1000, maxMs: 60_000 }

const tektonHint = 'is Tekton Pipelines installed?'
const stepActions = { group: 'tekton.dev', plural: 'stepactions', versions: ['v1beta1', 'v1alpha1'], installHint: tektonHint }
const tasks = { group: 'tekton.dev', plural: 'tasks', versions: ['v1'], installHint: tektonHint }
/** TaskGroups (issue #16): optional, from stepsplice's CRD or TaskGroup's own; without either, TaskGroups come from directories only. */
const taskGroups = {
  group: 'custom.tekton.dev',
  plural: 'taskgroups',
  versions: ['v1alpha1'],
  installHint: 'is the TaskGroup CRD installed (deploy/components/taskgroups)?',
}

function apiPath(version: string, plural: string, object: KubeObject, group = 'tekton.dev'): string {
  return flatConcat('/apis/', group, '/', version, '/namespaces/', object.metadata?.namespace ?? '', '/', plural, '/', object.metadata?.name ?? '')
}

/** Validated as the directory catalog validates a file's StepAction; only what a StepAction defines is read, not the server's bookkeeping. */
function stepActionDefinition(object: KubeObject, version: string): Definition {
  const { name, namespace } = object.metadata ?? {}
  const stepAction: StepAction = { apiVersion: object.apiVersion, kind: object.kind, metadata: namespace === undefined ? { name } : { name, namespace } }
  if (object.spec !== undefined) stepAction.spec = object.spec as StepAction['spec']
  return toDefinition(stepAction, { kind: 'cluster', location: apiPath(version, 'stepactions', object) })
}

/** The API server sends the version watched: a v1 Task, or a TaskGroup; toResolvedTask reads both. */
function resolvedTask(object: KubeObject, version: string): ResolvedTask {
  const kind = object.kind === 'TaskGroup' ? 'TaskGroup' : 'Task'
  const location = kind === 'Task' ? apiPath(version, 'tasks', object) : apiPath(version, 'taskgroups', object, 'custom.tekton.dev')
  const typed = { ...object, apiVersion: kind === 'Task' ? `tekton.dev/${version}` : `custom.tekton.dev/${version}`, kind }
  return toResolvedTask(typed, 'cluster', location) as ResolvedTask
}

/** An invalid StepAction as the log and the metric report it; undefined for a valid one. */
function invalidReport(object: { namespace: string; name: string }, definition: Definition | undefined): DefinitionReport | undefined {
  if (definition === undefined || definition.problems.length === 0) return undefined
  return { source: 'cluster', kind: 'invalid', namespace: object.namespace, name: object.name, errors: boundedErrors(definition.problems.map(formatProblem)) }
}

export class ClusterCatalog implements Catalog {
  /** Invalid StepActions, reported as they arrive: a MODIFIED event with the same problems is not reported again. */
  readonly #board = new ReportBoard()
  readonly #stepActions = new ObjectStore(stepActionDefinition, (key, object, definition) => this.#board.set(key, invalidReport(object, definition)))
  readonly #tasks = new ObjectStore(resolvedTask)
  readonly #taskGroups = new ObjectStore(resolvedTask)
  readonly #watches: WatchSet

  constructor(options: ClusterCatalogOptions) {
    // Refused here, where it is given, rather than by each watch as it starts (where a failure is retried).
    if (options.idleTimeoutMs !== undefined) checkIdleTimeout(options.idleTimeoutMs)
    const watchOptions = {
      backoff: options.backoff ?? defaultBackoff,
      onStatus: options.onStatus,
      rewatch: options.rewatch,
      userAgent: options.userAgent,
      idleTimeoutMs: options.idleTimeoutMs,
      absentGraceMs: options.absentGraceMs,
    }
    this.#watches = new WatchSet([
      new ResourceWatch(options.kubeConfig, stepActions, this.#stepActions, watchOptions),
      new ResourceWatch(options.kubeConfig, tasks, this.#tasks, watchOptions),
      new ResourceWatch(options.kubeConfig, taskGroups, this.#taskGroups, watchOptions),
    ])
  }

  /** Starts watching; failures are retried in the background and show in status(). */
  start(): void {
    this.#watches.start()
  }

  /** Stops for good; resolves when no request, socket or timer of the catalog is left. */
  stop(): Promise<void> {
    return this.#watches.stop()
  }

  /** True once every resource has been listed (or found not installed); stays true through later failures. */
  get ready(): boolean {
    return this.#watches.known
  }

  /** It sees the cluster's StepActions as Tekton's controller does: a name it lacks, Tekton lacks too. */
  readonly authoritative = true

  /** What it answers changes with any of its stores. */
  get generation(): number {
    return this.#stepActions.generation + this.#tasks.generation + this.#taskGroups.generation
  }

  /** StepActions held. */
  get size(): number {
    return this.#stepActions.size
  }

  status(): ResourceStatus[] {
    return this.#watches.status()
  }

  async resolve(ref: StepReference): Promise<Resolution> {
    const name = ref.name ?? ''
    // A resolver is another catalog's business: "missing" lets a layered catalog ask it.
    const definition = ref.resolver === undefined || ref.resolver === '' ? this.#stepActions.get(ref.namespace, name) : undefined
    if (definition === undefined) return notFound(name, ref.namespace, this.names(ref.namespace, suggestionScope))
    return { definition }
  }

  /** The StepActions of `namespace`: the cluster's are all namespaced. */
  names(namespace: string, limit: number): string[] | undefined {
    return this.#stepActions.names(namespace, limit)
  }

  /** Invalid StepActions held now. */
  brokenDefinitions(): readonly DefinitionReport[] {
    return this.#board.reports
  }

  /** Told at once of the invalid StepActions held, then of each one that arrives, changes its problems, is fixed or deleted. */
  watchBroken(listener: ReportListener): () => void {
    return this.#board.watch(listener)
  }

  /** Tasks and TaskGroups by name (a resolver is another catalog's business). */
  async resolveTask(ref: TaskReference): Promise<TaskResolution> {
    const group = ref.kind === 'TaskGroup'
    const byName = ref.resolver === undefined || ref.resolver === ''
    const task = byName ? (group ? this.#taskGroups : this.#tasks).get(ref.namespace, ref.name) : undefined
    if (task === undefined) return taskNotFound(ref)
    return task.error === undefined ? { task } : { error: `${taskId(task)}: ${task.error}` }
  }
}
