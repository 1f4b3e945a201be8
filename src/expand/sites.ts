// Where an object holds steps that may reference definitions, and which param
// values those steps can see. Both resolution (which definitions to fetch) and
// expansion (what to write) walk the same list, so they cannot disagree.

import { isJsonObject as isObject } from '../core/json.ts'
import type { KubeObject } from '../types/k8s.ts'
import type { Param, ParamSpec, PipelineRun, PipelineTask, Step, TaskRun, TaskSpec } from '../types/tekton.ts'
import { parseParamValue, stringPart } from './param-value.ts'
import { addParamValue, applyString, applyToParamValue, paramKeys, type Replacements, replacementsFromParams } from './replacements.ts'
import { forgetParam, mergeInto, taskReplacements } from './step-params.ts'
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
  /** The task's declared params, defaulted: the type and keys of a value known only at run time. */
  declared: ParamSpec[]
}

export interface StepSite {
  site: TaskSite
  index: number
  path: string
  step: Step
}

const tektonVersions = new Set(['tekton.dev/v1', 'tekton.dev/v1beta1'])


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
      declared: taskParams,
    },
  ]
}

/** A value still holding `$(…)` after pipeline params are applied is decided at run time. */
const holdsReference = (v: unknown): boolean => v !== undefined && JSON.stringify(v).includes('$(')

// The references Tekton's pipeline-level param resolution recognises
// (VariableSubstitutionRegex): dot forms only, `$(params["x"])` is not one.
const pipelineReference = /\$\([_a-zA-Z0-9.-]+(\.[_a-zA-Z0-9.-]+)*(\[([0-9]+|\*)\])?\)/g
const maxReferenceDepth = 10

/**
 * PipelineRun values and pipeline defaults, as Tekton's pipeline-level
 * ApplyParameters resolves them: run values as given; string defaults of
 * params the run does not set resolved recursively against run values and
 * each other (a default may name a run value); then array and object defaults,
 * their strings substituted. A default the run overrides is not used at all,
 * objects included (no key-by-key merge at this level). A default that names
 * an undefined param, or a cycle, fails the PipelineRun in Tekton: such params
 * get no value here, so their references stay for Tekton to report.
 */
function resolvePipelineParams(declared: readonly ParamSpec[], run: readonly Param[]): Replacements {
  const table = replacementsFromParams(run.map((p) => ({ name: p.name, value: parseParamValue(p.value) })))
  const given = new Set(run.map((p) => p.name))
  const unset = declared.filter((p) => p.default !== undefined && !given.has(p.name))
  const stringDefaults = new Map<string, string>()
  for (const p of unset.filter((q) => q.type === 'string')) for (const key of paramKeys(p.name)) stringDefaults.set(key, stringPart(parseParamValue(p.default)))
  const failed = new Set<string>()
  const resolve = (key: string, visiting: Set<string>): boolean => {
    if (table.strings.has(key)) return true
    const text = stringDefaults.get(key)
    if (text === undefined || failed.has(key) || visiting.has(key) || visiting.size > maxReferenceDepth) return false
    visiting.add(key)
    const refs = [...text.matchAll(pipelineReference)].map((m) => m[0].slice(2, -1)).filter((r) => r.startsWith('params.'))
    const ok = refs.every((r) => resolve(r, visiting))
    visiting.delete(key)
    if (!ok) {
      failed.add(key)
      return false
    }
    table.strings.set(key, applyString(text, table.strings))
    return true
  }
  for (const key of stringDefaults.keys()) resolve(key, new Set())
  for (const p of unset.filter((q) => q.type === 'array' || q.type === 'object')) {
    const value = parseParamValue(p.default)
    if (value.type === 'array') addParamValue(table, p.name, { type: 'array', array: value.array.map((v) => applyString(v, table.strings)) })
    if (value.type === 'object') {
      const object = Object.fromEntries(Object.entries(value.object).map(([k, v]) => [k, applyString(v, table.strings)]))
      addParamValue(table, p.name, { type: 'object', object })
    }
  }
  return table
}

/** The pipeline's param values, without the params whose value is decided at run time. */
function pipelineTable(pr: PipelineRun): Replacements {
  const pipelineSpec = pr.spec?.pipelineSpec
  const declared = paramsOf(pipelineSpec?.params).map(defaultParamSpec)
  const table = resolvePipelineParams(declared, paramsOf(pr.spec?.params))
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
  const declared = paramsOf(taskSpec.params).map(defaultParamSpec)
  const task = taskReplacements(declared, [])
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
  return { path, segments, taskSpec, propagated, task, runtimeParams: [...new Set(runtimeParams)], declared }
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
