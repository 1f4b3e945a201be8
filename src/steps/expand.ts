// One step with `ref`, expanded against its resolved definition: the step
// the StepAction describes, its params applied, merged over the user's step.

import { canonicalJson } from '../json/canonical.ts'
import { cloneJson, isJsonObject } from '../json/values.ts'
import type { Definition } from '../definitions/definition.ts'
import { Budget } from '../limits/budget.ts'
import type { EnvVar, KeySelector, VolumeMount } from '../types/k8s.ts'
import type { ParamSpec, Step, StepActionSpec } from '../types/tekton.ts'
import { applyList, applyString, KeyReads, type Replacements } from '../variables/replacements.ts'
import { nearestNames } from '../problems/nearest.ts'
import { checkProvidedParams, lackingKeys, type ParamError, resolveStepActionParams, substitutedTexts } from './params.ts'
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

function substituteSelector(sel: KeySelector | undefined, strings: Replacements['strings'], budget: Budget): void {
  if (sel === undefined) return
  if (typeof sel.name === 'string') sel.name = applyString(sel.name, strings, budget)
  if (typeof sel.key === 'string') sel.key = applyString(sel.key, strings, budget)
}

/** The fields Tekton substitutes in a StepAction-derived step; securityContext, env names and results are left alone. */
function applyToDerived(step: Step, r: Replacements, budget: Budget): void {
  const s = r.strings
  if (step.image !== undefined) step.image = applyString(step.image, s, budget)
  if (step.script !== undefined) step.script = applyString(step.script, s, budget)
  if (step.workingDir !== undefined) step.workingDir = applyString(step.workingDir, s, budget)
  if (step.command !== undefined) step.command = applyList(step.command, r, budget)
  if (step.args !== undefined) step.args = applyList(step.args, r, budget)
  for (const e of step.env ?? ([] as EnvVar[])) {
    if (typeof e.value === 'string') e.value = applyString(e.value, s, budget)
    substituteSelector(e.valueFrom?.secretKeyRef, s, budget)
    substituteSelector(e.valueFrom?.configMapKeyRef, s, budget)
  }
  for (const m of step.volumeMounts ?? ([] as VolumeMount[])) {
    m.name = applyString(m.name, s, budget)
    m.mountPath = applyString(m.mountPath, s, budget)
    if (typeof m.subPath === 'string') m.subPath = applyString(m.subPath, s, budget)
  }
}

/**
 * The merge (Tekton's resolveStepRef): the user's step is the base, so every
 * field Tekton keeps (name, timeout, onError, computeResources, fields we do
 * not know…) stays where it was; the definition's fields are written over it.
 */
function merge(user: Step, from: Step): Step {
  const out: Step = {}
  for (const key in user) if (key !== 'ref' && key !== 'params' && Object.hasOwn(user, key)) out[key] = user[key]
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

/**
 * The fields of the step's own securityContext that the definition's
 * replaces with another value or drops; empty when nothing is lost.
 */
function lostSecurityFields(user: Step, from: Step): string[] {
  const own = user.securityContext
  const theirs = from.securityContext
  if (own === undefined || own === null || theirs === undefined) return []
  if (!isJsonObject(own)) return ['the whole securityContext']
  const replacing = isJsonObject(theirs) ? theirs : {}
  return Object.keys(own).filter((k) => !(k in replacing) || canonicalJson(own[k]) !== canonicalJson(replacing[k]))
}

/** The keys each definition's step reads, worked out once: its spec never changes once in a catalog. */
const readKeys = new WeakMap<StepActionSpec, KeyReads>()

function readsOf(spec: StepActionSpec, derived: Step): KeyReads {
  let reads = readKeys.get(spec)
  if (reads === undefined) {
    reads = new KeyReads(
      substitutedTexts(derived),
      [...(derived.command ?? []), ...(derived.args ?? [])].filter((e): e is string => typeof e === 'string'),
    )
    readKeys.set(spec, reads)
  }
  return reads
}

export type StepExpansion =
  | {
      step: Step
      lostSecurity: string[]
      /** Keys of object params that nothing gives a value and the definition's fields read: each stays `$(params.x.key)`. */
      unfilled: Map<string, string[]>
    }
  | { errors: ParamError[] }

/** Of the keys a step's object values lack, those the definition's fields read: the rest change nothing. */
function unfilledKeys(stepParams: Step['params'], specs: readonly ParamSpec[], reads: KeyReads): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const [name, keys] of lackingKeys(stepParams, specs)) {
    const read = reads.readsAll ? keys : keys.filter((k) => reads.strings.has(`params.${name}.${k}`))
    if (read.length > 0) out.set(name, read)
  }
  return out
}

/** Expands one valid ref step against a valid definition; `layers` substitute the step's param values. */
export function expandStep(
  step: Step,
  definition: Definition,
  layers: readonly Replacements[],
  taskParams: readonly ParamSpec[] = [],
  runtimeParams: readonly string[] = [],
  budget: Budget = Budget.unlimited,
): StepExpansion {
  const specs = definition.spec.params ?? []
  // Every problem of the step at once: wrong names, then what resolving the values finds.
  const paramErrors = checkProvidedParams(step.params, specs, nearestNames)
  const derived = derivedStep(definition.spec)
  const reads = readsOf(definition.spec, derived)
  const resolution = resolveStepActionParams(derived, step.params, specs, layers, taskParams, runtimeParams, budget, reads)
  const listErrors = paramErrors.map((message): ParamError => ({ message }))
  if ('errors' in resolution) return { errors: [...listErrors, ...resolution.errors] }
  if (listErrors.length > 0) return { errors: listErrors }
  applyToDerived(derived, resolution.replacements, budget)
  return { step: merge(step, derived), lostSecurity: lostSecurityFields(step, derived), unfilled: unfilledKeys(step.params, specs, reads) }
}
