// Where a TaskRun or PipelineRun asks for a TaskGroup (issue #16): a taskRef
// to one (the TaskRun's own, or a pipeline task's), or a task spec written
// inline whose steps `use` Tasks. Pure: what they name is resolved by the
// pipeline (pipeline/groups.ts), which writes the merged spec back where
// each site says.

import { taskGroupApiVersion } from '../definitions/task.ts'
import { asList, isJsonObject } from '../json/values.ts'
import type { KubeObject } from '../types/k8s.ts'
import type { TaskGroupSpec } from './types.ts'

/** The label a run or pipeline task spec gets with a TaskGroup merged in, as TaskGroup's controller labels its TaskRuns. */
export const taskGroupLabel = 'custom.tekton.dev/taskGroup'

/**
 * The sites as they were written before the merge (`[{path, taskRef}]`, or
 * `[{path, taskSpec}]` for inline `uses`): what a re-admitted run's group
 * steps are merged again from, so their provenance is verified rather than
 * believed (pipeline/provenance.ts).
 */
export const groupsAnnotation = 'stepsplice.dev/taskgroups'

/** Where a site can be: the TaskRun's spec or a pipeline task. */
export const sitePath = /^spec(\.pipelineSpec\.(tasks|finally)\[\d{1,6}\])?$/

export interface GroupSite {
  /** What holds the task: the TaskRun's spec, or a pipeline task. */
  holder: (string | number)[]
  /** The same as messages name it: `spec`, `spec.pipelineSpec.tasks[0]`. */
  path: string
  /** A TaskGroup named by taskRef; unset for a task spec with `uses` steps. */
  ref?: string
  /** The inline task spec that is the group, when there is no ref. */
  inline?: TaskGroupSpec
  /**
   * A pipeline task's taskRef: when stepsplice cannot resolve it, it is left
   * for Tekton (a cluster may run TaskGroup's own controller). A TaskRun's
   * taskRef and inline `uses`, which Tekton cannot run, are denied instead.
   */
  leaveUnresolved: boolean
  /** Not a tekton.dev/v1 run: a merged v1 spec would not mean the same in it. */
  notV1: boolean
}

/** A taskRef to a TaskGroup, as Tekton spells a custom task's: the TaskGroup's name. */
export function taskGroupRef(ref: unknown): string | undefined {
  if (!isJsonObject(ref) || ref.kind !== 'TaskGroup' || ref.apiVersion !== taskGroupApiVersion) return undefined
  return typeof ref.name === 'string' ? ref.name : ''
}

/** Whether any step of a task spec has `uses`. */
export function hasUses(taskSpec: unknown): boolean {
  return isJsonObject(taskSpec) && asList<unknown>(taskSpec.steps).some((s) => isJsonObject(s) && s.uses !== undefined)
}

function siteOf(holder: (string | number)[], path: string, node: unknown, pipelineTask: boolean, notV1: boolean): GroupSite | undefined {
  if (!isJsonObject(node)) return undefined
  const ref = node.taskSpec === undefined ? taskGroupRef(node.taskRef) : undefined
  if (ref !== undefined) return { holder, path, ref, leaveUnresolved: pipelineTask, notV1 }
  if (hasUses(node.taskSpec)) return { holder, path, inline: node.taskSpec as TaskGroupSpec, leaveUnresolved: false, notV1 }
  return undefined
}

/** Every TaskGroup site of a TaskRun or PipelineRun, in order; none for any other object. */
export function findGroupSites(obj: KubeObject): GroupSite[] {
  const notV1 = obj.apiVersion !== 'tekton.dev/v1'
  if (!isJsonObject(obj.spec) || !(obj.apiVersion === 'tekton.dev/v1' || obj.apiVersion === 'tekton.dev/v1beta1')) return []
  if (obj.kind === 'TaskRun') {
    const site = siteOf(['spec'], 'spec', obj.spec, false, notV1)
    return site === undefined ? [] : [site]
  }
  if (obj.kind !== 'PipelineRun' || !isJsonObject(obj.spec.pipelineSpec)) return []
  const out: GroupSite[] = []
  for (const field of ['tasks', 'finally'] as const) {
    for (const [i, pt] of asList<unknown>(obj.spec.pipelineSpec[field]).entries()) {
      const site = siteOf(['spec', 'pipelineSpec', field, i], `spec.pipelineSpec.${field}[${i}]`, pt, true, notV1)
      if (site !== undefined) out.push(site)
    }
  }
  return out
}
