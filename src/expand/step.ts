// One step with `ref`: the shape checks Tekton's admission applies to it, and
// its expansion against a resolved definition.

import { cloneJson } from '../core/json.ts'
import { problem, type Problem } from '../core/problem.ts'
import type { Definition } from '../stepaction/definition.ts'
import type { EnvVar, KeySelector, VolumeMount } from '../types/k8s.ts'
import type { ParamSpec, Step, StepActionSpec } from '../types/tekton.ts'
import { applyList, applyString, type Replacements } from './replacements.ts'
import { resolveStepActionParams, checkProvidedParams } from './step-params.ts'

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const qualifiedName = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const urlLike = /[\w-]+:\/\/*/

const nonEmpty = (v: unknown): boolean => (Array.isArray(v) ? v.length > 0 : typeof v === 'string' ? v !== '' : v != null)

/** Fields a Step may not set next to `ref`. `env` is checked for presence: Tekton rejects even `env: []`. */
const forbiddenWithRef: { field: keyof Step; label: string; present: (v: unknown) => boolean }[] = [
  { field: 'image', label: 'image', present: nonEmpty },
  { field: 'command', label: 'command', present: nonEmpty },
  { field: 'args', label: 'args', present: nonEmpty },
  { field: 'script', label: 'script', present: nonEmpty },
  { field: 'workingDir', label: 'working dir', present: nonEmpty },
  { field: 'env', label: 'env', present: (v) => v != null },
  { field: 'volumeMounts', label: 'volumeMounts', present: nonEmpty },
  { field: 'results', label: 'results', present: nonEmpty },
]

function isQualifiedName(name: string): boolean {
  const parts = name.split('/')
  if (parts.length > 2) return false
  const [prefix, local] = parts.length === 2 ? parts : [undefined, parts[0] ?? '']
  if (prefix !== undefined && (prefix === '' || prefix.length > 253 || !dnsSubdomain.test(prefix))) return false
  return local !== undefined && local.length <= 63 && qualifiedName.test(local)
}

function checkRef(step: Step, at: string): Problem[] {
  const ref = step.ref
  const refAt = `${at}.ref`
  if (typeof ref !== 'object' || ref === null || Array.isArray(ref)) return [problem(refAt, 'must be an object with name, or resolver and params')]
  const name = typeof ref.name === 'string' ? ref.name : ''
  const resolver = typeof ref.resolver === 'string' ? ref.resolver : ''
  const out: Problem[] = []
  if (resolver !== '' || ref.params != null) {
    if (ref.params != null) {
      if (name !== '') out.push(problem(refAt, 'expected exactly one, got both: name, params'))
      if (resolver === '') out.push(problem(`${refAt}.resolver`, 'missing field(s): resolver'))
    }
    if (resolver !== '' && name !== '' && !urlLike.test(name)) out.push(problem(`${refAt}.name`, `invalid value: invalid URI for request: ${name}`))
  } else if (name !== '') {
    if (urlLike.test(name)) out.push(problem(`${refAt}.resolver`, `missing field(s): resolver (the name ${JSON.stringify(name)} is a URL)`))
    else if (!isQualifiedName(name)) {
      out.push(problem(`${refAt}.name`, `invalid value: ${JSON.stringify(name)}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`))
    }
  } else {
    out.push(problem(`${refAt}.name`, 'missing field(s): name'))
  }
  return out
}

/** Admission-time checks of a step's shape; `at` is the step's path. */
export function checkStepShape(step: Step, at: string): Problem[] {
  const stepName = typeof step.name === 'string' ? step.name : ''
  const out: Problem[] = []
  if (step.ref == null) {
    if (nonEmpty(step.params)) out.push(problem(`${at}.params`, 'params cannot be used without Ref'))
    return out.map((p) => ({ ...p, step: stepName }))
  }
  out.push(...checkRef(step, at))
  for (const f of forbiddenWithRef) {
    if (f.present(step[f.field])) out.push(problem(`${at}.${String(f.field)}`, `${f.label} cannot be used with Ref`))
  }
  if (stepName !== '' && !dnsLabel.test(stepName)) out.push(problem(`${at}.name`, `invalid value ${JSON.stringify(stepName)}: Task step name must be a valid DNS Label`))
  if (step.params != null && !Array.isArray(step.params)) out.push(problem(`${at}.params`, 'must be a list of {name, value}'))
  else {
    step.params?.forEach((p, i) => {
      if (typeof p?.name !== 'string' || p.name === '') out.push(problem(`${at}.params[${i}].name`, 'missing field(s): name'))
    })
  }
  return out.map((p) => ({ ...p, step: stepName }))
}

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
