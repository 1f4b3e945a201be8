// A TaskRun's taskRef written out as the inline taskSpec Tekton would run,
// so the Task's step references can be expanded at admission like any other.
// Tekton, resolving a taskRef, merges the Task's labels and annotations into
// the TaskRun (the TaskRun's own win, kubectl's last-applied annotation is
// left out) and labels it `tekton.dev/task: <name>` (its
// storeTaskSpecAndMergeMeta). An embedded taskSpec gets none of that from
// Tekton, so it is done here, to the same result.

import type { ResolvedTask } from '../definitions/reference.ts'
import { lastApplied } from '../definitions/task.ts'
import { asList, isJsonObject, withValueAt } from '../json/values.ts'
import type { KubeObject } from '../types/k8s.ts'
import type { TaskRef } from '../types/tekton.ts'

const taskLabel = 'tekton.dev/task'

/**
 * The Task a tekton.dev/v1 TaskRun names, when it is one stepsplice can write
 * out exactly: a Task by name (no resolver, no params, not a ClusterTask or
 * a custom task) and no taskSpec beside it. v1beta1 TaskRuns are left alone: a v1
 * Task's spec written into one would not mean the same.
 */
const unset = (v: unknown): boolean => v === undefined || v === null || v === ''

export function inlinableTaskRef(obj: KubeObject): string | undefined {
  if (obj.apiVersion !== 'tekton.dev/v1' || obj.kind !== 'TaskRun' || !isJsonObject(obj.spec)) return undefined
  const ref = obj.spec.taskRef as TaskRef | undefined
  if (!isJsonObject(ref) || obj.spec.taskSpec !== undefined) return undefined
  if (typeof ref.name !== 'string' || ref.name === '') return undefined
  // Go reads a null or an empty string as a field left out: resolver "" is a Task by name, kind "" a Task.
  if (!unset(ref.resolver) || (!unset(ref.kind) && ref.kind !== 'Task')) return undefined
  // params, even empty, without a resolver is a TaskRun Tekton refuses (validateRef): not written out, so it still does.
  if (ref.params !== undefined && ref.params !== null) return undefined
  if (!unset(ref.apiVersion) && !String(ref.apiVersion).startsWith('tekton.dev/')) return undefined
  return ref.name
}

/** Whether any step of the Task references a definition: only then is there anything to expand. */
export function usesStepRefs(task: ResolvedTask): boolean {
  return asList<unknown>(task.spec.steps).some((s) => isJsonObject(s) && s.ref != null)
}

/** `obj` with its taskRef replaced by `task`'s spec and Tekton's label and annotation propagation. */
export function inlineTask(obj: KubeObject, task: ResolvedTask): KubeObject {
  const spec: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(obj.spec as Record<string, unknown>)) if (key !== 'taskRef') spec[key] = value
  spec.taskSpec = task.spec
  const own = obj.metadata ?? {}
  const annotations: Record<string, string> = {}
  for (const [k, v] of Object.entries(task.annotations)) if (k !== lastApplied) annotations[k] = v
  Object.assign(annotations, own.annotations ?? {})
  const labels: Record<string, string> = { ...task.labels, ...(own.labels ?? {}), [taskLabel]: task.name }
  let out = withValueAt(obj, ['spec'], spec)
  out = withValueAt(out, ['metadata'], {
    ...own,
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  })
  return out
}
