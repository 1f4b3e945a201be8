// A Task or a TaskGroup as the catalogs hold it (issue #16): read from a file
// or the cluster into a ResolvedTask. A tekton.dev/v1beta1 Task is converted
// to v1 the way Tekton's own conversion does for what a step can hold: a
// container's `resources` becomes `computeResources` in steps, the
// stepTemplate and sidecars. What has no v1 form (PipelineResources in
// `spec.resources`) makes the Task unusable with an error that says so,
// never a silent drop.

import { isJsonObject } from '../json/values.ts'
import type { KubeObject } from '../types/k8s.ts'
import type { TaskSpec } from '../types/tekton.ts'
import type { SourceKind } from './definition.ts'
import type { ResolvedTask, TaskKind } from './reference.ts'

const taskVersions = new Set(['tekton.dev/v1', 'tekton.dev/v1beta1'])
export const taskGroupApiVersion = 'custom.tekton.dev/v1alpha1'

/** A copy of every field kubectl keeps the whole last-applied object in; Tekton does not pass it on to runs either. */
export const lastApplied = 'kubectl.kubernetes.io/last-applied-configuration'

/** Which Task-like kind a document is, or undefined for anything else. */
export function taskKindOf(doc: unknown): TaskKind | undefined {
  if (!isJsonObject(doc)) return undefined
  if (doc.kind === 'Task' && typeof doc.apiVersion === 'string' && taskVersions.has(doc.apiVersion)) return 'Task'
  if (doc.kind === 'TaskGroup' && doc.apiVersion === taskGroupApiVersion) return 'TaskGroup'
  return undefined
}

function stringMap(value: unknown, drop?: string): Record<string, string> {
  const out: Record<string, string> = {}
  if (!isJsonObject(value)) return out
  for (const [key, v] of Object.entries(value)) if (typeof v === 'string' && key !== drop) out[key] = v
  return out
}

/** A container's v1beta1 `resources` under its v1 name; anything else as written. */
function containerToV1(value: unknown): unknown {
  if (!isJsonObject(value) || value.resources === undefined || value.computeResources !== undefined) return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k === 'resources' ? 'computeResources' : k] = v
  return out
}

/** A v1beta1 Task's spec as v1 reads it; a string when it has no v1 form. */
export function taskSpecToV1(spec: Record<string, unknown>): TaskSpec | string {
  if (spec.resources !== undefined)
    return 'a tekton.dev/v1beta1 Task with PipelineResources (spec.resources), which tekton.dev/v1 does not have, cannot be used as steps'
  const out: Record<string, unknown> = { ...spec }
  for (const field of ['steps', 'sidecars'] as const) if (Array.isArray(spec[field])) out[field] = spec[field].map(containerToV1)
  if (spec.stepTemplate !== undefined) out.stepTemplate = containerToV1(spec.stepTemplate)
  return out as TaskSpec
}

/** `doc` as a catalog holds it; undefined when it is neither a Task nor a TaskGroup. */
export function toResolvedTask(doc: KubeObject, source: SourceKind, location: string): ResolvedTask | undefined {
  const kind = taskKindOf(doc)
  if (kind === undefined) return undefined
  const metadata = isJsonObject(doc.metadata) ? doc.metadata : {}
  const raw = isJsonObject(doc.spec) ? doc.spec : {}
  const converted = doc.apiVersion === 'tekton.dev/v1beta1' ? taskSpecToV1(raw) : (raw as TaskSpec)
  const task: ResolvedTask = {
    kind,
    namespace: typeof metadata.namespace === 'string' ? metadata.namespace : '',
    name: typeof metadata.name === 'string' ? metadata.name : '',
    labels: stringMap(metadata.labels),
    annotations: stringMap(metadata.annotations, lastApplied),
    spec: typeof converted === 'string' ? {} : converted,
    location,
    source,
  }
  if (typeof converted === 'string') task.error = converted
  return task
}

/** How messages name it: `Task team-a/git-clone`, `TaskGroup build` (a file's, without namespace). */
export function taskId(task: Pick<ResolvedTask, 'kind' | 'namespace' | 'name'>): string {
  return `${task.kind ?? 'Task'} ${task.namespace === '' ? '' : `${task.namespace}/`}${task.name}`
}
