// One referenced step, from the catalog's answer to the expanded step: shared
// by TaskRuns, PipelineRuns and Pods, so a reference fails the same way, with
// the same messages, wherever it is written.

import type { Resolution } from '../catalog/catalog.ts'
import { referenceKey } from '../catalog/catalog.ts'
import { formatProblem, problem, type Problem } from '../core/problem.ts'
import { type Definition, definitionId, type SourceKind } from '../stepaction/definition.ts'
import type { ParamSpec, Step } from '../types/tekton.ts'
import type { Replacements } from './replacements.ts'
import { expandStep } from './step.ts'
import type { StepReference } from '../catalog/catalog.ts'

/** What a ref step asks the catalog for. */
export function referenceOf(step: Step, namespace: string): StepReference {
  const ref = step.ref ?? {}
  const out: StepReference = { namespace }
  if (typeof ref.name === 'string' && ref.name !== '') out.name = ref.name
  if (typeof ref.resolver === 'string' && ref.resolver !== '') out.resolver = ref.resolver
  if (Array.isArray(ref.params)) out.params = ref.params
  return out
}

export interface ProvenanceEntry {
  path: string
  step: string
  definition: string
  source: SourceKind
  digest: string
}

/** What the step's param values see: see expandStep. */
export interface ParamScope {
  layers: readonly Replacements[]
  taskParams?: readonly ParamSpec[]
  runtimeParams?: readonly string[]
}

export type ExpandedReference = { step: Step; definition: Definition; context: { step: string; definition: string }; entry: ProvenanceEntry } | { problems: Problem[] }

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
  const result = expandStep(step, d, scope.layers, scope.taskParams ?? [], scope.runtimeParams ?? [])
  if ('errors' in result) return { problems: result.errors.map((message) => problem(`${path}.params`, message, context)) }
  return { step: result.step, definition: d, context, entry: { path, step: name, definition: context.definition, source: d.source.kind, digest: d.digest } }
}
