// One referenced step expanded, given what its reference resolved to: shared
// by TaskRuns, PipelineRuns and Pods, so a reference fails the same way, with
// the same messages, wherever it is written.

import { type Definition, definitionId } from '../definitions/definition.ts'
import { referenceKey, referenceOf, type Resolution } from '../definitions/reference.ts'
import type { Budget } from '../limits/budget.ts'
import { formatProblem, problem, type Problem } from '../problems/problem.ts'
import type { ParamSpec, Step } from '../types/tekton.ts'
import type { Replacements } from '../variables/replacements.ts'
import { expandStep } from './expand.ts'
import type { ProvenanceEntry } from './expansion.ts'
import { quoteValue } from '../problems/truncate.ts'

/** What the step's param values see: see expandStep. */
export interface ParamScope {
  layers: readonly Replacements[]
  taskParams?: readonly ParamSpec[]
  runtimeParams?: readonly string[]
  /** The request's allowance of substituted text; unlimited when unset. */
  budget?: Budget
}

export type ExpandedReference =
  | { step: Step; definition: Definition; context: { step: string; definition: string }; entry: ProvenanceEntry; warnings: string[] }
  | { problems: Problem[] }

/** Looks the step's reference up in `resolutions` and expands it; `path` is the step's path for problems. */
export function expandReference(
  step: Step,
  path: string,
  namespace: string,
  resolutions: ReadonlyMap<string, Resolution>,
  scope: ParamScope,
): ExpandedReference {
  const name = typeof step.name === 'string' ? step.name : ''
  const resolution = resolutions.get(referenceKey(referenceOf(step, namespace)))
  if (resolution === undefined || 'error' in resolution) {
    return { problems: [problem(`${path}.ref`, resolution?.error ?? 'reference was not resolved', { step: name })] }
  }
  const d = resolution.definition
  const context = { step: name, definition: definitionId(d, namespace) }
  if (d.problems.length > 0) {
    return { problems: d.problems.map((p) => problem(`${path}.ref`, `StepAction is invalid: ${formatProblem(p)}`, context)) }
  }
  const result = expandStep(step, d, scope.layers, scope.taskParams ?? [], scope.runtimeParams ?? [], scope.budget)
  if ('errors' in result) return { problems: result.errors.map((message) => problem(`${path}.params`, message, context)) }
  // The definition's securityContext wins, as in Tekton; the step's own settings it drops are said out loud.
  const warnings =
    result.lostSecurity.length === 0
      ? []
      : [`${path}: StepAction ${context.definition} replaces the securityContext of step ${quoteValue(name)}; lost: ${result.lostSecurity.join(', ')}`]
  return {
    step: result.step,
    definition: d,
    context,
    entry: { path, step: name, definition: context.definition, source: d.source.kind, digest: d.digest },
    warnings,
  }
}
