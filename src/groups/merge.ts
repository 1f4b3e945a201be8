// A TaskGroup merged into one Task spec (TaskGroup's resolve.TaskSpec, with
// its known bugs fixed; docs of issue #16): the group's inline steps with the
// group's stepTemplate, each `uses` step replaced by the used Task's steps
// with that Task's stepTemplate, its params and workspaces renamed to the
// group's by the bindings everywhere Tekton substitutes them (steps,
// stepTemplate, sidecars, volumes), and the declarations of all of them
// (declarations.ts). Pure: the used Tasks arrive resolved.

import { asList, isJsonObject } from '../json/values.ts'
import { type Problem, problem } from '../problems/problem.ts'
import { quoteValue } from '../problems/truncate.ts'
import { withStepTemplate } from '../steps/template.ts'
import type { JsonObject } from '../types/k8s.ts'
import type { Step, TaskSpec } from '../types/tekton.ts'
import { mergeDeclarations } from './declarations.ts'
import { declarationProblems, dnsLabel, shapeProblems } from './validate.ts'
import { renameIn } from './rename.ts'
import type { GroupStep, TaskGroupSpec, UsedTask } from './types.ts'

export interface MergedGroup {
  /** The merged spec; undefined when there are problems. */
  spec?: TaskSpec
  problems: Problem[]
  warnings: string[]
  /**
   * Why the merge cannot be exactly what Tekton would run, when it cannot:
   * the caller leaves the object for Tekton (or denies, where Tekton cannot
   * run it either) rather than approximate.
   */
  handsOff?: string
}

const obj = (v: unknown): Record<string, unknown> => (isJsonObject(v) ? v : {})

/** The names the merge gives a used Task's steps, by their own name (`unnamed-<k>` for an unnamed one). */
function producedNames(usesStep: unknown, index: number, taskSteps: unknown): Map<string, string> {
  const name = isJsonObject(usesStep) ? usesStep.name : undefined
  const prefix = typeof name === 'string' && name !== '' ? name : `unnamed-${index}`
  const out = new Map<string, string>()
  for (const [k, t] of asList<unknown>(taskSteps).entries()) {
    const own = isJsonObject(t) && typeof t.name === 'string' && t.name !== '' ? t.name : `unnamed-${k}`
    out.set(own, `${prefix}-${own}`)
  }
  return out
}

/** A container's `workspaces: [{name}]` with bound names renamed. */
function renameWorkspaceUses(container: unknown, renames: ReadonlyMap<string, string>): unknown {
  if (!isJsonObject(container) || !Array.isArray(container.workspaces)) return container
  const workspaces = container.workspaces.map((w) => {
    const to = isJsonObject(w) && typeof w.name === 'string' ? renames.get(w.name) : undefined
    return to === undefined ? w : { ...(w as object), name: to }
  })
  return { ...container, workspaces }
}

/** `group` merged with `used` (one per `uses` step, by its index). */
export function mergeTaskGroup(group: TaskGroupSpec, used: readonly UsedTask[]): MergedGroup {
  const steps = asList<GroupStep>(group.steps)
  const problems = [...declarationProblems(group as Record<string, unknown>), ...shapeProblems(steps)]
  const first = mergeDeclarations(group, used)
  // Renamed before anything is taken from them: a sidecar or volume of a used Task speaks the group's names too, and
  // its steps' references to each other (step results, exit codes) the names the merge gives them.
  const renamed: UsedTask[] = used.map((task) => {
    const r = first.renames.get(task.index) ?? { params: new Map<string, string>(), workspaces: new Map<string, string>() }
    const stepNames = producedNames(steps[task.index], task.index, task.spec.steps)
    const spec = { ...task.spec }
    for (const field of ['steps', 'stepTemplate', 'sidecars', 'volumes', 'results'] as const) {
      if (spec[field] !== undefined) (spec as Record<string, unknown>)[field] = renameIn(spec[field], r.params, r.workspaces, stepNames)
    }
    // A workspace's mountPath is where Tekton substitutes params too (ApplyParameters): the Task's names become the group's.
    if (Array.isArray(spec.workspaces)) {
      spec.workspaces = spec.workspaces.map((w) =>
        isJsonObject(w) && typeof w.mountPath === 'string' ? { ...w, mountPath: renameIn(w.mountPath, r.params, r.workspaces, stepNames) } : w,
      )
    }
    // A step's or sidecar's own workspaces name the Task's workspaces (isolated workspaces): bound ones are the group's now.
    for (const field of ['steps', 'sidecars'] as const) {
      if (Array.isArray(spec[field]) && r.workspaces.size > 0)
        (spec as Record<string, unknown>)[field] = spec[field].map((c) => renameWorkspaceUses(c, r.workspaces))
    }
    return { ...task, spec }
  })
  const declarations = mergeDeclarations(group, renamed)
  problems.push(...declarations.problems)

  const byIndex = new Map(renamed.map((task) => [task.index, task]))
  const groupTemplate = isJsonObject(group.stepTemplate) ? group.stepTemplate : undefined
  const out: Step[] = []
  const origin = new Map<string, string>()
  let handsOff: string | undefined
  for (const [i, s] of steps.entries()) {
    const step = obj(s)
    if (step.uses === undefined) {
      // Tekton lays a stepTemplate over a StepAction's step once it is spliced; the merged spec has no template left to lay.
      if (step.ref != null && groupTemplate !== undefined && handsOff === undefined)
        handsOff = `the group has a stepTemplate and a step with ref (${quoteValue(step.name ?? i)}): Tekton applies the template after the StepAction is spliced`
      out.push((step.ref == null ? withStepTemplate(step, groupTemplate) : step) as Step)
      if (typeof step.name === 'string') {
        const clash = origin.get(step.name)
        if (clash !== undefined)
          problems.push(
            problem(`spec.steps[${i}].name`, `${quoteValue(step.name)} is the name of the step at ${clash} too: step names must be unique`, {
              step: step.name,
            }),
          )
        else origin.set(step.name, `spec.steps[${i}]`)
      }
      continue
    }
    const task = byIndex.get(i)
    if (task === undefined) continue
    // Only a TaskGroup's steps may use Tasks: a Task's `uses` would reach Tekton, which refuses it.
    const nested = asList<unknown>(task.spec.steps).findIndex((t) => isJsonObject(t) && t.uses !== undefined)
    if (nested >= 0) {
      problems.push(problem(`spec.steps[${i}].uses.taskRef`, `${task.id} is a Task whose step ${nested} has uses: only a TaskGroup's steps may use Tasks`))
      continue
    }
    const prefix = typeof step.name === 'string' && step.name !== '' ? step.name : `unnamed-${i}`
    const template = isJsonObject(task.spec.stepTemplate) ? (task.spec.stepTemplate as JsonObject) : undefined
    for (const [k, t] of asList<unknown>(task.spec.steps).entries()) {
      const usedStep = obj(t)
      // Tekton lays a Task's stepTemplate over a StepAction's step only once it is spliced; the merged spec has no template left to lay.
      if (usedStep.ref !== undefined && template !== undefined && handsOff === undefined)
        handsOff = `${task.id} has a stepTemplate and a step with ref (${quoteValue(usedStep.name ?? k)}): Tekton applies the template after the StepAction is spliced`
      const own = typeof usedStep.name === 'string' && usedStep.name !== '' ? usedStep.name : `unnamed-${k}`
      const name = `${prefix}-${own}`
      const at = `spec.steps[${i}]`
      if (name.length > 63 || !dnsLabel.test(name))
        problems.push(
          problem(
            at,
            `step ${quoteValue(own)} of ${task.id} becomes ${quoteValue(name)} (${name.length} characters): a step name must be a DNS-1123 label of at most 63 characters`,
            { step: prefix },
          ),
        )
      const clash = origin.get(name)
      if (clash !== undefined)
        problems.push(
          problem(at, `step ${quoteValue(own)} of ${task.id} becomes ${quoteValue(name)}, the name of the step at ${clash}: step names must be unique`, {
            step: prefix,
          }),
        )
      origin.set(name, `${at} (${task.id})`)
      const merged = usedStep.ref === undefined ? withStepTemplate(usedStep, template) : usedStep
      out.push({ ...merged, name } as Step)
    }
  }
  if (problems.length > 0) return { problems, warnings: declarations.warnings }
  const spec: TaskSpec = {}
  // The group's fields keep their places (steps too: replaced below in place), and what the merge adds comes after, as a
  // JSON patch's `add` puts it: an inline group's merged spec reads the same rendered and admitted.
  for (const [k, v] of Object.entries(group)) if (k !== 'stepTemplate') spec[k] = v
  const lists = {
    params: declarations.params,
    workspaces: declarations.workspaces,
    results: declarations.results,
    steps: out,
    sidecars: declarations.sidecars,
    volumes: declarations.volumes,
  }
  for (const [k, v] of Object.entries(lists)) if (v.length > 0 || group[k] !== undefined) spec[k] = v
  return { spec, problems: [], warnings: declarations.warnings, ...(handsOff === undefined ? {} : { handsOff }) }
}
