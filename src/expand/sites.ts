// Where an object holds steps that may reference definitions, and which param
// values those steps can see. Both resolution (which definitions to fetch) and
// expansion (what to write) walk the same list, so they cannot disagree.

import type { KubeObject } from '../types/k8s.ts'
import type { Param, PipelineRun, PipelineTask, Step, TaskRun, TaskSpec } from '../types/tekton.ts'
import { parseParamValue } from './param-value.ts'
import { applyToParamValue, type Replacements, replacementsFromParams } from './replacements.ts'
import { forgetParam, mergeInto, replacementsFromDefaults, taskReplacements } from './step-params.ts'
import { defaultParamSpec } from '../stepaction/defaults.ts'

/** An inline task spec and the param values its steps' `params` are substituted with. */
export interface TaskSite {
  /** Path of the task spec inside the object, e.g. `spec.taskSpec`. */
  path: string
  /** The same path as keys and indexes, to find the task spec again in a copy. */
  segments: (string | number)[]
  taskSpec: TaskSpec
  /**
   * Applied to step param values first: pipeline params propagated into an
   * embedded task (Tekton's propagateParams). Empty for a TaskRun.
   */
  propagated: Replacements
  /** Task params over their defaults; params known only at run time are absent, so their references stay for Tekton. */
  task: Replacements
  /** Names of task params whose value is known only at run time. */
  runtimeParams: string[]
}

export interface StepSite {
  site: TaskSite
  index: number
  path: string
  step: Step
}

const tektonVersions = new Set(['tekton.dev/v1', 'tekton.dev/v1beta1'])

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function list<T>(v: unknown): T[] {
  return Array.isArray(v) ? (v as T[]) : []
}

function paramsOf(v: unknown): Param[] {
  return list<Param>(v).filter((p) => isObject(p) && typeof p.name === 'string')
}

function taskSiteForTaskRun(tr: TaskRun): TaskSite[] {
  const spec = tr.spec
  if (!isObject(spec) || !isObject(spec.taskSpec)) return []
  const taskSpec = spec.taskSpec
  const taskParams = paramsOf(taskSpec.params).map(defaultParamSpec)
  return [
    {
      path: 'spec.taskSpec',
      segments: ['spec', 'taskSpec'],
      taskSpec,
      propagated: replacementsFromParams([]),
      task: taskReplacements(taskParams, paramsOf(spec.params)),
      runtimeParams: [],
    },
  ]
}

/** A value still holding `$(…)` after pipeline params are applied is decided at run time. */
const holdsReference = (v: unknown): boolean => JSON.stringify(v).includes('$(')

/** PipelineRun values over pipeline defaults, without the params whose value is decided at run time. */
function pipelineTable(pr: PipelineRun): Replacements {
  const pipelineSpec = pr.spec?.pipelineSpec
  const declared = paramsOf(pipelineSpec?.params).map(defaultParamSpec)
  const table = replacementsFromDefaults(declared)
  mergeInto(table, replacementsFromParams(paramsOf(pr.spec?.params).map((p) => ({ name: p.name, value: parseParamValue(p.value) }))))
  for (const name of new Set([...declared.map((p) => p.name), ...paramsOf(pr.spec?.params).map((p) => p.name)])) {
    const value = table.strings.get(`params.${name}`) ?? table.arrays.get(`params.${name}`) ?? table.objects.get(`params.${name}`)
    if (holdsReference(value)) forgetParam(table, name)
  }
  return table
}

function taskSiteForPipelineTask(pt: PipelineTask, segments: (string | number)[], pipeline: Replacements): TaskSite | undefined {
  if (!isObject(pt) || !isObject(pt.taskSpec)) return undefined
  const taskSpec = pt.taskSpec
  const passed = paramsOf(pt.params).map((p) => ({ ...p, value: applyToParamValue(parseParamValue(p.value), pipeline) }))
  const runtimeParams = passed.filter((p) => holdsReference(p.value)).map((p) => p.name)
  // Matrix params fan out into one TaskRun per combination: no single value exists at admission.
  for (const p of [...paramsOf(pt.matrix?.params), ...list<{ params?: unknown }>(pt.matrix?.include).flatMap((inc) => paramsOf(inc?.params))]) {
    runtimeParams.push(p.name)
  }
  const concrete = passed.filter((p) => !runtimeParams.includes(p.name))
  const task = taskReplacements(paramsOf(taskSpec.params).map(defaultParamSpec), [])
  mergeInto(
    task,
    replacementsFromParams(concrete.map((p) => ({ name: p.name, value: p.value }))),
  )
  for (const name of runtimeParams) forgetParam(task, name)
  // Task params shadow pipeline params of the same name.
  const propagated = replacementsFromParams([])
  mergeInto(propagated, pipeline)
  for (const p of passed) forgetParam(propagated, p.name)
  const path = `spec.pipelineSpec.${String(segments[2])}[${String(segments[3])}].taskSpec`
  return { path, segments, taskSpec, propagated, task, runtimeParams: [...new Set(runtimeParams)] }
}

function taskSitesForPipelineRun(pr: PipelineRun): TaskSite[] {
  const spec = pr.spec
  if (!isObject(spec) || !isObject(spec.pipelineSpec)) return []
  const table = pipelineTable(pr)
  const sites: TaskSite[] = []
  for (const field of ['tasks', 'finally'] as const) {
    list<PipelineTask>(spec.pipelineSpec[field]).forEach((pt, i) => {
      const site = taskSiteForPipelineTask(pt, ['spec', 'pipelineSpec', field, i, 'taskSpec'], table)
      if (site) sites.push(site)
    })
  }
  return sites
}

/** Every inline task spec of a TaskRun or PipelineRun; nothing for any other object. */
export function findTaskSites(obj: KubeObject): TaskSite[] {
  if (!tektonVersions.has(String(obj.apiVersion))) return []
  if (obj.kind === 'TaskRun') return taskSiteForTaskRun(obj as TaskRun)
  if (obj.kind === 'PipelineRun') return taskSitesForPipelineRun(obj as PipelineRun)
  return []
}

/** The steps that reference a definition. */
export function findRefSteps(sites: readonly TaskSite[]): StepSite[] {
  const out: StepSite[] = []
  for (const site of sites) {
    list<Step>(site.taskSpec.steps).forEach((step, index) => {
      if (isObject(step) && step.ref != null) out.push({ site, index, path: `${site.path}.steps[${index}]`, step })
    })
  }
  return out
}
