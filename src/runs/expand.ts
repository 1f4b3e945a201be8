// Expansion of a TaskRun or PipelineRun: pure, given the definitions its
// steps resolved to. Either every referenced step expands and the object
// comes back with them spliced in, or nothing changes and every problem found
// is returned.

import { referenceKey, referenceOf, type Resolution } from '../definitions/reference.ts'
import { isJsonObject, valueAtPath, withValueAt } from '../json/values.ts'
import { Budget } from '../limits/budget.ts'
import { inStepOrder, type Problem } from '../problems/problem.ts'
import { type Expansion, type ProvenanceEntry, provenanceAnnotation } from '../steps/expansion.ts'
import { checkMetadata } from '../steps/metadata.ts'
import { checkReference, type Deferred, deferredWarnings, expandReference, type UnresolvedPolicy } from '../steps/reference.ts'
import { deferBeforeExpansion, deferForDefinition, deferForRuntimeObject, leftForPipelinePass } from './pipeline-deferral.ts'
import { checkStepShape } from '../steps/shape.ts'
import type { KubeObject } from '../types/k8s.ts'
import type { Step } from '../types/tekton.ts'
import { checkRunLimits } from './limits.ts'
import { provenanceValue } from './provenance.ts'
import { findRefSteps, findTaskSites, isTektonRun, type StepSite, type TaskSite } from './sites.ts'
import { quoteValue } from '../problems/truncate.ts'

/** What an object asks for: its task specs, its ref steps, and the shape problems of its steps. */
export interface Plan {
  sites: TaskSite[]
  /** Ref steps of a valid shape: the ones to resolve and expand. */
  refSteps: StepSite[]
  problems: Problem[]
}

/** Steps without ref are checked only for stray params; they are otherwise Tekton's business. */
export function planRun(obj: KubeObject, budget: Budget = Budget.unlimited): Plan {
  if (!isTektonRun(obj)) return { sites: [], refSteps: [], problems: [] }
  // Its own metadata is where provenance is written: of the wrong type, nothing can be.
  const shape = checkMetadata(obj.metadata, 'metadata')
  if (shape.length > 0) return { sites: [], refSteps: [], problems: shape }
  // Counted before any table is built: past a limit, nothing else is worth doing.
  const limited = checkRunLimits(obj)
  if (limited.length > 0) return { sites: [], refSteps: [], problems: limited }
  const sites = findTaskSites(obj, budget)
  const problems: Problem[] = []
  for (const site of sites) {
    const steps = Array.isArray(site.taskSpec.steps) ? site.taskSpec.steps : []
    steps.forEach((step, i) => {
      if (typeof step === 'object' && step !== null && step.ref == null) problems.push(...checkStepShape(step, `${site.path}.steps[${i}]`))
    })
  }
  // A step whose shape is wrong is reported here and neither resolved nor expanded.
  const refSteps = findRefSteps(sites, budget).filter((s) => {
    const found = checkStepShape(s.step, s.path)
    problems.push(...found)
    return found.length === 0
  })
  return { sites, refSteps, problems }
}

export interface RunExpandOptions {
  /** The request's allowance of substituted text; unlimited when unset. */
  budget?: Budget
  /** The object as stored before this request (an UPDATE's oldObject): the only source of provenance entries kept. */
  stored?: KubeObject
  /** Which unresolved references deny; by default each is left for Tekton with a warning. */
  unresolved?: UnresolvedPolicy
  /** Steps already written into the run before planning (a TaskGroup's used Tasks, pipeline/groups.ts): recorded with the rest. */
  entries?: readonly ProvenanceEntry[]
}

/** Why a pipeline task's steps wait for its TaskRun: what its steps pass, or what a definition they resolved to holds. */
function deferBeforeSplice(site: TaskSite, steps: readonly StepSite[], namespace: string, resolutions: ReadonlyMap<string, Resolution>): string | undefined {
  const fromParams = deferBeforeExpansion(
    site,
    steps.map((s) => s.step),
  )
  if (fromParams !== undefined) return fromParams
  for (const s of steps) {
    const resolved = resolutions.get(stepReferenceKey(s, namespace))
    // An invalid definition is reported or left for Tekton step by step (steps/reference.ts): its spec may not even have the shape read here.
    const spec = resolved !== undefined && 'definition' in resolved && resolved.definition.problems.length === 0 ? resolved.definition.spec : undefined
    const reason = spec === undefined ? undefined : (deferForDefinition(spec, site) ?? deferForRuntimeObject(s.step, spec, site))
    if (reason !== undefined) return `step ${quoteValue(typeof s.step.name === 'string' ? s.step.name : '')}: ${reason}`
  }
  return undefined
}

/** Ref steps grouped by their task spec, in order: a pipeline task is expanded, or left for its TaskRun, as a whole. */
function bySite(refSteps: readonly StepSite[]): Map<TaskSite, StepSite[]> {
  const out = new Map<TaskSite, StepSite[]>()
  for (const s of refSteps) {
    const list = out.get(s.site)
    if (list === undefined) out.set(s.site, [s])
    else list.push(s)
  }
  return out
}

/** `spec.pipelineSpec.tasks[1] (task "build"): …`: which task waits for its TaskRun, and why. */
function taskDeferredWarning(obj: KubeObject, site: TaskSite, reason: string): string {
  const [, , field, index] = site.segments
  const tasks = (obj.spec as { pipelineSpec?: Record<string, unknown> } | undefined)?.pipelineSpec?.[String(field)]
  const name = Array.isArray(tasks) ? (tasks[Number(index)] as { name?: unknown } | undefined)?.name : undefined
  const taskPath = site.path.slice(0, -'.taskSpec'.length)
  return `${taskPath} (task ${quoteValue(typeof name === 'string' ? name : '')}): steps left for the TaskRun Tekton creates, expanded when it is admitted: ${reason}`
}

/** The key `resolveReferences` answered a ref step under. */
export function stepReferenceKey(s: StepSite, namespace: string): string {
  return referenceKey(referenceOf(s.step, namespace, s.resolverParams))
}

/**
 * Expands every ref step of `obj` as planned. `resolutions` holds what the
 * catalog answered for each reference (keyed by referenceKey); `namespace` is
 * the one references were resolved in.
 */
/** The name of the pipeline task whose task spec `site` is; undefined for a TaskRun's own. */
function pipelineTaskName(obj: KubeObject, site: TaskSite): string | undefined {
  if (!site.path.endsWith('].taskSpec')) return undefined
  const task = valueAtPath(obj, site.path.slice(0, -'.taskSpec'.length))
  return isJsonObject(task) && typeof task.name === 'string' ? task.name : undefined
}

export function expandRun(
  obj: KubeObject,
  plan: Plan,
  namespace: string,
  resolutions: ReadonlyMap<string, Resolution>,
  options: RunExpandOptions = {},
): Expansion {
  const { sites, refSteps } = plan
  const problems = [...plan.problems]
  // Listed in step order, whichever stage found them.
  const unchanged = (found: Problem[], warnings: string[] = []): Expansion => ({
    object: obj,
    changed: false,
    problems: inStepOrder(found),
    warnings,
    expanded: [],
  })
  const prior = options.entries ?? []
  if (refSteps.length === 0 && prior.length === 0) return unchanged(problems)

  const warnings: string[] = []
  // By task spec, then step index: what is written back, found without building a path per step.
  const expandedSteps = new Map<TaskSite, Map<number, Step>>()
  const entries: ProvenanceEntry[] = [...prior]
  const deferred: Deferred[] = []
  /** A task spec whose steps wait for the TaskRun Tekton creates: what can be checked now is. */
  const leaveForTaskRun = (site: TaskSite, steps: readonly StepSite[], reason: string): void => {
    for (const s of steps) {
      const checked = checkReference(s.step, s.path, namespace, resolutions.get(stepReferenceKey(s, namespace)), options.unresolved)
      if ('problems' in checked) problems.push(...checked.problems)
      else if ('deferred' in checked) deferred.push(checked.deferred)
    }
    warnings.push(taskDeferredWarning(obj, site, reason))
  }
  for (const [site, steps] of bySite(refSteps)) {
    const before = site.pipelineParams === undefined ? undefined : deferBeforeSplice(site, steps, namespace, resolutions)
    if (before !== undefined) {
      leaveForTaskRun(site, steps, before)
      continue
    }
    const taskSteps = new Map<number, Step>()
    const taskEntries: ProvenanceEntry[] = []
    const taskWarnings: string[] = []
    const taskProblems: Problem[] = []
    const taskDeferred: Deferred[] = []
    for (const s of steps) {
      const result = expandReference(
        s.step,
        s.path,
        namespace,
        resolutions.get(stepReferenceKey(s, namespace)),
        {
          layers: [s.site.propagated, s.site.task],
          taskParams: s.site.declared,
          runtimeParams: s.site.runtimeParams,
          ...(options.budget === undefined ? {} : { budget: options.budget }),
        },
        options.unresolved,
      )
      if ('problems' in result) {
        taskProblems.push(...result.problems)
        continue
      }
      // Tekton resolves it when it reconciles the run; the other steps need not wait for it.
      if ('deferred' in result) {
        taskDeferred.push(result.deferred)
        continue
      }
      taskWarnings.push(...result.warnings)
      taskSteps.set(s.index, result.step)
      const task = pipelineTaskName(obj, site)
      taskEntries.push({
        ...result.entry,
        written: s.step as Record<string, unknown>,
        ...(task === undefined ? {} : { task }),
        ...(s.resolverParams === undefined ? {} : { resolverParams: s.resolverParams }),
      })
    }
    // Only a task with nothing to deny can still turn out not to be spliceable: its definitions left for the pipeline pass.
    const after =
      site.pipelineParams === undefined || taskProblems.length > 0
        ? undefined
        : leftForPipelinePass(site, taskSteps, new Map(steps.map((s) => [s.index, s.step])))
    if (after !== undefined) {
      leaveForTaskRun(site, steps, after)
      continue
    }
    problems.push(...taskProblems)
    deferred.push(...taskDeferred)
    warnings.push(...taskWarnings)
    if (taskSteps.size > 0) expandedSteps.set(site, taskSteps)
    entries.push(...taskEntries)
  }
  warnings.unshift(...deferredWarnings(deferred))
  if (problems.length > 0) return unchanged(problems, warnings)
  if (entries.length === 0) return unchanged([], warnings)

  // Copy only the containers on the way to what changes; the rest is shared with the input.
  let out = obj
  for (const site of sites) {
    // A task spec none of whose steps expanded is left as it was written.
    const expanded = expandedSteps.get(site)
    if (expanded === undefined) continue
    const expandedTaskSteps = (site.taskSpec.steps ?? []).map((step, i) => expanded.get(i) ?? step)
    out = withValueAt(out, [...site.segments, 'steps'], expandedTaskSteps)
  }
  const provenance = provenanceValue(obj, entries, options.stored)
  if (provenance.dropped > 0) {
    warnings.push(`${provenanceAnnotation}: dropped ${provenance.dropped} entries that stepsplice did not record; it lists only steps it expanded itself`)
  }
  const annotations = { ...(out.metadata?.annotations ?? {}), [provenanceAnnotation]: provenance.text }
  out = withValueAt(out, ['metadata'], { ...(out.metadata ?? {}), annotations })
  return { object: out, changed: true, problems: [], warnings, expanded: entries }
}
