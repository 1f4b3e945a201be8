// Where an object holds steps that may reference definitions, and which param
// values those steps can see. Both resolution (which definitions to fetch) and
// expansion (what to write) walk the same list, so they cannot disagree.

import { defaultParamSpec } from '../definitions/defaults.ts'
import { asList, isJsonObject as isObject } from '../json/values.ts'
import type { Budget } from '../limits/budget.ts'
import { mergeRunValues, substituteParams, taskReplacements } from '../steps/params.ts'
import type { KubeObject } from '../types/k8s.ts'
import type { Param, ParamSpec, ParamType, PipelineRun, PipelineTask, Step, TaskRun, TaskSpec } from '../types/tekton.ts'
import { type ParamValue, parseParamValue, rawValueType } from '../variables/param-value.ts'
import { applyToParamValue, forgetParams, mergeInto, paramKeys, type Replacements, replacementsFromParams } from '../variables/replacements.ts'
import { holdsReference, paramsOf, pipelineTable } from './pipeline-params.ts'

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
  /**
   * The task's params as the TaskRun fills resolver params from them, where
   * `task` leaves out names Tekton's pipeline pass fills first, or holds an
   * empty object (resolverView); unset when it is `task`.
   */
  resolverTask?: Replacements
  /** Names of task params whose value is known only at run time. */
  runtimeParams: string[]
  /** The task's declared params, defaulted: the type and keys of a value known only at run time. */
  declared: ParamSpec[]
  /**
   * A pipeline task's: the pipeline params Tekton's pipeline pass substitutes
   * into its task spec (every pipeline param with a value, but those the task
   * passes), known at admission or not. Unset for a TaskRun.
   */
  pipelineParams?: ReadonlyMap<string, ParamType>
  /**
   * A pipeline task's: the task params whose default its steps see, as the
   * TaskRun Tekton creates fills them in, after the pipeline pass. Unset for
   * a TaskRun.
   */
  defaultsUsed?: readonly string[]
  /** A pipeline task's: the names whose `$(workspaces.<name>.bound)` Tekton's pipeline pass fills in. */
  pipelineWorkspaces?: ReadonlySet<string>
  /** A pipeline task's: the workspaces it binds, by the task's name, to the pipeline workspace's. */
  workspaceBindings?: ReadonlyMap<string, string>
}

export interface StepSite {
  site: TaskSite
  index: number
  path: string
  step: Step
  /**
   * The step's resolver params as Tekton sends them to the resolver: task
   * params substituted (ApplyParameterSubstitutionInResolverParams), never the
   * step's own params. Unset for a StepAction by name.
   */
  resolverParams?: Param[]
}

const tektonVersions = new Set(['tekton.dev/v1', 'tekton.dev/v1beta1'])

/** A TaskRun or PipelineRun of a version stepsplice expands. */
export function isTektonRun(obj: KubeObject): boolean {
  return tektonVersions.has(String(obj.apiVersion)) && (obj.kind === 'TaskRun' || obj.kind === 'PipelineRun')
}

function taskSiteForTaskRun(tr: TaskRun, budget: Budget): TaskSite[] {
  const spec = tr.spec
  if (!isObject(spec) || !isObject(spec.taskSpec)) return []
  const taskSpec = spec.taskSpec
  const taskParams = paramsOf(taskSpec.params).map(defaultParamSpec)
  const task = taskReplacements(taskParams, paramsOf(spec.params), budget)
  const forResolver = resolverView(task, budget)
  return [
    {
      path: 'spec.taskSpec',
      segments: ['spec', 'taskSpec'],
      taskSpec,
      propagated: replacementsFromParams([]),
      task,
      ...(forResolver === task ? {} : { resolverTask: forResolver }),
      runtimeParams: [],
      declared: taskParams,
    },
  ]
}

/**
 * The table Tekton fills a step's resolver params from: the task's, but
 * that ApplyParameterSubstitutionInResolverParams merges object values
 * member by member (extendObjectReplacements), so an empty object, default
 * or passed, is no key there, where the step's params see it.
 */
function resolverView(task: Replacements, budget: Budget): Replacements {
  const empty: string[] = []
  task.objects.forEach((value, key) => {
    if (Object.keys(value).length === 0) empty.push(key)
  })
  if (empty.length === 0) return task
  const copy = copied(task, budget)
  for (const key of empty) copy.objects.delete(key)
  return copy
}

function taskSiteForPipelineTask(
  pt: PipelineTask,
  segments: (string | number)[],
  pipeline: Replacements,
  pipelineParams: ReadonlyMap<string, ParamType>,
  budget: Budget,
): TaskSite | undefined {
  if (!isObject(pt) || !isObject(pt.taskSpec)) return undefined
  const taskSpec = pt.taskSpec
  const passed = paramsOf(pt.params).map((p) => ({ ...p, value: applyToParamValue(parseParamValue(p.value), pipeline, budget) }))
  const runtimeParams = passed.filter((p) => holdsReference(p.value)).map((p) => p.name)
  // Matrix params fan out into one TaskRun per combination: no single value exists at admission.
  for (const p of [...paramsOf(pt.matrix?.params), ...asList<{ params?: unknown }>(pt.matrix?.include).flatMap((inc) => paramsOf(inc?.params))]) {
    runtimeParams.push(p.name)
  }
  const atRunTime = new Set(runtimeParams)
  const concrete = passed.filter((p) => !atRunTime.has(p.name))
  const declared = paramsOf(taskSpec.params).map(defaultParamSpec)
  const task = taskReplacements(declared, [], budget)
  mergeRunValues(
    task,
    replacementsFromParams(
      concrete.map((p) => ({ name: p.name, value: p.value })),
      budget,
    ),
    budget,
  )
  forgetParams(task, atRunTime)
  // Task params shadow pipeline params of the same name, as Tekton's propagateParams shadows them (shadowAsTekton);
  // one known only at run time is forgotten, so its references stay for the TaskRun Tekton creates. A matrix param
  // shadows nothing: propagateParams reads the pipeline task's params only.
  const propagated = replacementsFromParams([])
  mergeInto(propagated, pipeline, budget)
  forgetParams(
    propagated,
    passed.filter((p) => atRunTime.has(p.name)).map((p) => p.name),
  )
  shadowAsTekton(propagated, concrete, budget)
  const path = `spec.pipelineSpec.${String(segments[2])}[${String(segments[3])}].taskSpec`
  const shadowed = new Set(passed.map((p) => p.name))
  const propagatedParams = new Map([...pipelineParams].filter(([n]) => !shadowed.has(n)))
  // A task default reaches a step only for a name neither the pipeline task passes nor a pipeline param propagates.
  const defaultsUsed = declared
    .filter((p) => p.default !== undefined && !shadowed.has(p.name) && !atRunTime.has(p.name) && !pipelineParams.has(p.name))
    .map((p) => p.name)
  // A pipeline param whose value is known only at run time is filled in by the pipeline pass, before the TaskRun's
  // defaults could be: its references in step params stay for that pass, whatever the task declares. Resolver params
  // never see that pass (findRefSteps): for them the TaskRun's table stands.
  const laterFromPipeline = [...propagatedParams.keys()].filter((n) => !knownIn(propagated, n))
  const stepTask = laterFromPipeline.length === 0 ? task : withoutStrings(task, laterFromPipeline, budget)
  const forResolver = resolverView(task, budget)
  return {
    path,
    segments,
    taskSpec,
    propagated,
    task: stepTask,
    ...(stepTask === forResolver ? {} : { resolverTask: forResolver }),
    runtimeParams: [...atRunTime],
    declared,
    pipelineParams: propagatedParams,
    defaultsUsed,
  }
}

/** Whether a table holds param `name` itself (its dot spelling), of any type: a value known at admission. */
export function knownIn(r: Replacements, name: string): boolean {
  const key = `params.${name}`
  return r.strings.has(key) || r.arrays.has(key) || r.objects.has(key)
}

/**
 * A copy of `r` without the string keys of `names`' four spellings: what a
 * string pipeline param fills in its pass. Elements, members and the
 * arrays and objects of a task param of that name are the TaskRun's still.
 */
function withoutStrings(r: Replacements, names: readonly string[], budget: Budget): Replacements {
  const copy = copied(r, budget)
  for (const name of names) for (const key of paramKeys(name)) copy.strings.delete(key)
  return copy
}

/** A table of its own with `r`'s entries, to take keys out of while `r` stays as it is. */
function copied(r: Replacements, budget: Budget): Replacements {
  const copy = replacementsFromParams([])
  mergeInto(copy, r, budget)
  return copy
}

/**
 * Tekton's propagateParams: a param the pipeline task passes replaces only
 * the pipeline's keys that spell its name, each with the part of the value
 * of that key's type (a string value gives an array key no elements, an
 * array value a string key ""), and an object adds its members. Keys it
 * does not spell stay the pipeline's: an element `params.a[0]`, a member the
 * value lacks.
 */
function shadowAsTekton(r: Replacements, passed: readonly { name: string; value: ParamValue }[], budget: Budget): void {
  for (const { name, value } of passed) {
    for (const key of paramKeys(name)) {
      if (r.strings.has(key)) {
        const text = value.type === 'string' ? value.string : ''
        budget.spend(key.length + text.length)
        r.strings.set(key, text)
      }
      if (r.arrays.has(key)) {
        const array = value.type === 'array' ? value.array : []
        budget.spend(key.length + array.reduce((n, e) => n + e.length, 0))
        r.arrays.set(key, array)
      }
      if (r.objects.has(key)) {
        const object = value.type === 'object' ? value.object : {}
        r.objects.set(key, { ...object })
        for (const [k, v] of Object.entries(object)) {
          budget.spend(name.length + k.length + v.length)
          r.strings.set(`params.${name}.${k}`, v)
        }
      }
    }
  }
}

/** A pipeline task's workspaces: the task's name of each, and the pipeline workspace it is bound to (its own name when unset). */
function bindingsOf(pt: PipelineTask): ReadonlyMap<string, string> {
  const out = new Map<string, string>()
  for (const w of asList<{ name?: unknown; workspace?: unknown }>(isObject(pt) ? pt.workspaces : undefined)) {
    if (!isObject(w) || typeof w.name !== 'string') continue
    out.set(w.name, typeof w.workspace === 'string' && w.workspace !== '' ? w.workspace : w.name)
  }
  return out
}

function taskSitesForPipelineRun(pr: PipelineRun, budget: Budget): TaskSite[] {
  const spec = pr.spec
  if (!isObject(spec) || !isObject(spec.pipelineSpec)) return []
  const table = pipelineTable(pr, budget)
  // The pipeline params that have a value, now or at run time (a run value or a default; one with neither, Tekton
  // refuses), with their type: as declared, else as the run's value is written.
  const names = new Map<string, ParamType>()
  for (const p of paramsOf(spec.pipelineSpec.params).map(defaultParamSpec))
    if (p.default !== undefined) names.set(p.name, p.type === 'array' || p.type === 'object' ? p.type : 'string')
  for (const p of paramsOf(spec.params)) names.set(p.name, names.get(p.name) ?? rawValueType(p.value))
  // The workspaces whose `$(workspaces.<name>.bound)` Tekton's pipeline pass fills in (its ApplyWorkspaces).
  const workspaces = new Set<string>()
  for (const list of [spec.pipelineSpec.workspaces, spec.workspaces])
    for (const w of asList<{ name?: unknown }>(list)) if (isObject(w) && typeof w.name === 'string') workspaces.add(w.name)
  const sites: TaskSite[] = []
  for (const field of ['tasks', 'finally'] as const) {
    asList<PipelineTask>(spec.pipelineSpec[field]).forEach((pt, i) => {
      const site = taskSiteForPipelineTask(pt, ['spec', 'pipelineSpec', field, i, 'taskSpec'], table, names, budget)
      if (site) sites.push({ ...site, pipelineWorkspaces: workspaces, workspaceBindings: bindingsOf(pt) })
    })
  }
  return sites
}

/** Every inline task spec of a TaskRun or PipelineRun; nothing for any other object. */
export function findTaskSites(obj: KubeObject, budget: Budget): TaskSite[] {
  if (!isTektonRun(obj)) return []
  if (obj.kind === 'TaskRun') return taskSiteForTaskRun(obj as TaskRun, budget)
  if (obj.kind === 'PipelineRun') return taskSitesForPipelineRun(obj as PipelineRun, budget)
  return []
}

/** The steps that reference a definition. */
export function findRefSteps(sites: readonly TaskSite[], budget: Budget): StepSite[] {
  const out: StepSite[] = []
  for (const site of sites) {
    asList<Step>(site.taskSpec.steps).forEach((step, index) => {
      if (!isObject(step) || step.ref == null) return
      const found: StepSite = { site, index, path: `${site.path}.steps[${index}]`, step }
      const params = isObject(step.ref) ? step.ref.params : undefined
      // Only the task's params, as the TaskRun sees them: Tekton's pipeline pass leaves `ref.params` alone.
      if (Array.isArray(params)) found.resolverParams = substituteParams(params, [site.resolverTask ?? site.task], budget)
      out.push(found)
    })
  }
  return out
}
