// One step with `ref`, expanded against its resolved definition: the step
// the StepAction describes, its params applied, merged over the user's step.

import { cloneJson } from '../json/values.ts'
import type { Definition } from '../definitions/definition.ts'
import type { EnvVar, KeySelector, VolumeMount } from '../types/k8s.ts'
import type { ParamSpec, Step, StepActionSpec } from '../types/tekton.ts'
import { applyList, applyString, type Replacements } from '../variables/replacements.ts'
import { checkProvidedParams, resolveStepActionParams } from './params.ts'
import { nonEmpty } from './shape.ts'

/** The step a StepAction describes, before params are applied (Tekton's ToStep). */
function derivedStep(spec: StepActionSpec): Step {
  const clone = cloneJson
  const step: Step = { image: spec.image ?? '' }
  if (spec.command !== undefined) step.command = [...spec.command]
  if (spec.args !== undefined) step.args = [...spec.args]
  if (spec.workingDir !== undefined) step.workingDir = spec.workingDir
  if (spec.script !== undefined) step.script = spec.script
  if (spec.env !== undefined) step.env = clone(spec.env)
  if (spec.volumeMounts !== undefined) step.volumeMounts = clone(spec.volumeMounts)
  if (spec.securityContext !== undefined) step.securityContext = clone(spec.securityContext)
  if (spec.results !== undefined) step.results = clone(spec.results)
  return step
}

function substituteSelector(sel: KeySelector | undefined, strings: ReadonlyMap<string, string>): void {
  if (sel === undefined) return
  if (typeof sel.name === 'string') sel.name = applyString(sel.name, strings)
  if (typeof sel.key === 'string') sel.key = applyString(sel.key, strings)
}

/** The fields Tekton substitutes in a StepAction-derived step; securityContext, env names and results are left alone. */
function applyToDerived(step: Step, r: Replacements): void {
  const s = r.strings
  if (step.image !== undefined) step.image = applyString(step.image, s)
  if (step.script !== undefined) step.script = applyString(step.script, s)
  if (step.workingDir !== undefined) step.workingDir = applyString(step.workingDir, s)
  if (step.command !== undefined) step.command = applyList(step.command, r)
  if (step.args !== undefined) step.args = applyList(step.args, r)
  step.env?.forEach((e: EnvVar) => {
    if (typeof e.value === 'string') e.value = applyString(e.value, s)
    substituteSelector(e.valueFrom?.secretKeyRef, s)
    substituteSelector(e.valueFrom?.configMapKeyRef, s)
  })
  step.volumeMounts?.forEach((m: VolumeMount) => {
    m.name = applyString(m.name, s)
    m.mountPath = applyString(m.mountPath, s)
    if (typeof m.subPath === 'string') m.subPath = applyString(m.subPath, s)
  })
}

/**
 * The merge (Tekton's resolveStepRef): the user's step is the base, so every
 * field Tekton keeps (name, timeout, onError, computeResources, fields we do
 * not know…) stays where it was; the definition's fields are written over it.
 */
function merge(user: Step, from: Step): Step {
  const out: Step = {}
  for (const [key, value] of Object.entries(user)) if (key !== 'ref' && key !== 'params') out[key] = value
  out.image = from.image
  // Tekton drops the step's own securityContext when the StepAction has none
  // (tektoncd/pipeline#10634); we keep it, which is what its docs promise.
  if (from.securityContext !== undefined) out.securityContext = from.securityContext
  if (nonEmpty(from.command)) out.command = from.command
  if (nonEmpty(from.args)) out.args = from.args
  if (nonEmpty(from.script)) out.script = from.script
  if (from.workingDir !== undefined && from.workingDir !== '') out.workingDir = from.workingDir
  else delete out.workingDir
  if (from.env !== undefined) out.env = from.env
  if (nonEmpty(from.volumeMounts)) out.volumeMounts = from.volumeMounts
  if (nonEmpty(from.results)) out.results = from.results
  return out
}

export type StepExpansion = { step: Step } | { errors: string[] }

/** Expands one valid ref step against a valid definition; `layers` substitute the step's param values. */
export function expandStep(
  step: Step,
  definition: Definition,
  layers: readonly Replacements[],
  taskParams: readonly ParamSpec[] = [],
  runtimeParams: readonly string[] = [],
): StepExpansion {
  const specs = definition.spec.params ?? []
  const paramErrors = checkProvidedParams(step.params, specs)
  if (paramErrors.length > 0) return { errors: paramErrors }
  const derived = derivedStep(definition.spec)
  const resolution = resolveStepActionParams(derived, step.params, specs, layers, taskParams, runtimeParams)
  if ('errors' in resolution) return resolution
  applyToDerived(derived, resolution.replacements)
  return { step: merge(step, derived) }
}
