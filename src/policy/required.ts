// The requiredSteps rule: steps a policy says every TaskRun, PipelineRun task
// and Pod must run, injected before planning when they are missing. Pure: the
// injected steps are references like any other, resolved and spliced by the
// pipeline that follows (pipeline/splice.ts), so a required step is checked,
// resolved and judged exactly as one the user wrote.
//
// Present means a step of that name that is that reference (same ref, same
// params), or, once spliced, a step of that name without `ref` whose
// provenance entry (stepsplice.dev/resolved) at its path was verified by
// splicing the step as written again, and that step is the reference: so
// injecting into stepsplice's own output changes nothing, and a forged
// annotation satisfies nothing. A step of that name that is anything else is
// a problem: a user cannot shadow a required step by naming theirs the same.

import { canonicalJson } from '../json/canonical.ts'
import { asList, isJsonObject } from '../json/values.ts'
import { parseStepsAnnotation, stepsAnnotation } from '../pods/annotation.ts'
import { type Problem, problem } from '../problems/problem.ts'
import { quoteValue } from '../problems/truncate.ts'
import { isTektonRun } from '../runs/sites.ts'
import type { KubeObject } from '../types/k8s.ts'
import type { LoadedPolicy, RequiredStep } from './types.ts'

export interface Injection {
  /** The object with every missing required step of the Enforce policies added; `obj` itself when none was. */
  object: KubeObject
  /** Where each injected step now is: `spec.taskSpec.steps[0]`, `metadata.annotations["stepsplice.dev/steps"][2]`. */
  injected: string[]
  /** Enforce: a step shadowing a required one, or an object required steps cannot be added to. They deny. */
  problems: Problem[]
  /** Audit: a required step missing or shadowed, or that could not be added. */
  warnings: string[]
  /** Steps added before the existing ones, by task spec path (`spec.taskSpec`): the existing steps moved down by as many. */
  shifted: Map<string, number>
}

interface Required {
  policy: LoadedPolicy
  step: RequiredStep
}

/** A provenance entry of the object, verified by splicing its step again (pipeline/provenance.ts). */
export interface Entry {
  path: string
  step: string
  definition: string
  source: string
  /** The step as written: present means it is the required reference. */
  written?: Record<string, unknown>
}

const rule = 'requiredSteps'

const obj = (v: unknown): Record<string, unknown> => (isJsonObject(v) ? v : {})

/** Params compared by name, whatever order they are written in. */
function paramsKey(params: unknown): string {
  const list = asList<unknown>(params).map((p) => [String(obj(p).name), obj(p).value] as const)
  list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  return canonicalJson(list)
}

function refKey(ref: unknown): string {
  const r = obj(ref)
  return canonicalJson([r.name ?? '', r.resolver ?? '', paramsKey(r.params)])
}

function sameRequired(a: RequiredStep, b: RequiredStep): boolean {
  return refKey(a.ref) === refKey(b.ref) && paramsKey(a.params) === paramsKey(b.params)
}

/** Whether a step as written is the required reference: same ref, same params. */
function isReference(step: Record<string, unknown>, required: RequiredStep): boolean {
  return isJsonObject(step.ref) && refKey(step.ref) === refKey(required.ref) && paramsKey(step.params) === paramsKey(required.params)
}

/** How messages name a required step's definition: `StepAction scanner`, `git resolver (url=…, pathInRepo=…)`. */
function describeRef(required: RequiredStep): string {
  const ref = required.ref
  if (ref.name !== undefined) return `StepAction ${ref.name}`
  const params = (ref.params ?? []).map((p) => `${p.name}=${typeof p.value === 'string' ? p.value : JSON.stringify(p.value)}`)
  return `${ref.resolver ?? ''} resolver${params.length === 0 ? '' : ` (${params.join(', ')})`}`
}

/** The step as injected: exactly the reference, nothing else. */
function toStep(required: RequiredStep): Record<string, unknown> {
  const ref: Record<string, unknown> = {}
  if (required.ref.name !== undefined) ref.name = required.ref.name
  if (required.ref.resolver !== undefined) ref.resolver = required.ref.resolver
  if (required.ref.params !== undefined) ref.params = required.ref.params
  const step: Record<string, unknown> = { name: required.name, ref }
  if (required.params !== undefined && required.params.length > 0) step.params = required.params
  return step
}

/** Whether a step has already been spliced from the required definition: no `ref`, and a provenance entry at its path that says so. */
type SplicedCheck = (step: Record<string, unknown>, index: number, required: RequiredStep) => boolean

interface Merged {
  /** How many were added before the existing steps. */
  shift: number
  steps: unknown[]
  /** Indexes of the injected steps in `steps`. */
  added: number[]
}

/**
 * The steps at `where` with the missing required steps of `enforce` added
 * (First before the others, Last after, each in policy order), and what the
 * Audit ones find missing or shadowed in the result.
 */
function merge(
  existing: readonly unknown[],
  required: readonly Required[],
  where: string,
  itemPath: (i: number) => string,
  spliced: SplicedCheck,
  problems: Problem[],
  warnings: string[],
): Merged {
  const indexOf = (list: readonly unknown[], name: string): number => list.findIndex((s) => obj(s).name === name)
  const first: Record<string, unknown>[] = []
  const last: Record<string, unknown>[] = []
  const planned = new Map<string, Required>()
  const present = (step: unknown, i: number, r: RequiredStep): boolean => isReference(obj(step), r) || (obj(step).ref === undefined && spliced(obj(step), i, r))
  for (const r of required) {
    if (r.policy.mode !== 'Enforce') continue
    const name = r.step.name
    const prior = planned.get(name)
    if (prior !== undefined) {
      if (!sameRequired(prior.step, r.step)) {
        problems.push(
          problem(
            where,
            `policy ${r.policy.id}: ${rule}: step ${quoteValue(name)} must be ${describeRef(r.step)}, but policy ${prior.policy.id} requires ${describeRef(prior.step)} under that name`,
            { step: name },
          ),
        )
      }
      continue
    }
    const i = indexOf(existing, name)
    if (i >= 0) {
      if (!present(existing[i], i, r.step)) {
        problems.push(
          problem(
            itemPath(i),
            `policy ${r.policy.id}: ${rule}: step ${quoteValue(name)} must be the required step ${describeRef(r.step)}; a step of that name that is not that reference cannot stand in for it`,
            { step: name },
          ),
        )
      }
      continue
    }
    planned.set(name, r)
    ;(r.step.position === 'First' ? first : last).push(toStep(r.step))
  }
  const steps = first.length === 0 && last.length === 0 ? [...existing] : [...first, ...existing, ...last]
  const added = [...first.map((_, i) => i), ...last.map((_, i) => first.length + existing.length + i)]
  for (const r of required) {
    if (r.policy.mode === 'Enforce') continue
    const name = r.step.name
    const i = indexOf(steps, name)
    const audit = `policy ${r.policy.id} (Audit): `
    // An index past the original steps is a step an Enforce policy just added: it is exactly its reference.
    const atOriginal = i >= first.length && i < first.length + existing.length ? i - first.length : -1
    if (i < 0) warnings.push(`${audit}${where}: ${rule}: required step ${quoteValue(name)} (${describeRef(r.step)}) is missing`)
    else if (atOriginal >= 0 ? !present(steps[i], atOriginal, r.step) : !isReference(obj(steps[i]), r.step))
      warnings.push(`${audit}${itemPath(atOriginal >= 0 ? atOriginal : i)}: ${rule}: step ${quoteValue(name)} is not the required step ${describeRef(r.step)}`)
  }
  return { steps, added, shift: first.length }
}

/**
 * A spliced Tekton step: no `ref`, and a verified provenance entry at its
 * path whose step as written is the required reference (same ref, same
 * params). Verified means splicing that step again gave this one
 * (pipeline/provenance.ts), so the annotation's text alone proves nothing.
 */
function splicedRunStep(entries: readonly Entry[], taskPath: string): SplicedCheck {
  return (step, index, required) =>
    step.name === required.name && entries.some((e) => e.path === `${taskPath}.steps[${index}]` && e.written !== undefined && isReference(e.written, required))
}

/** A taskSpec of a custom task (apiVersion and kind set) holds no steps. */
const isCustom = (taskSpec: Record<string, unknown>): boolean => taskSpec.apiVersion !== undefined || taskSpec.kind !== undefined

function cannotAdd(required: readonly Required[], where: string, why: string, out: Injection): void {
  for (const r of required) {
    const message = `${rule}: required step ${quoteValue(r.step.name)} (${describeRef(r.step)}) cannot be added to ${why}`
    if (r.policy.mode === 'Enforce') out.problems.push(problem(where, `policy ${r.policy.id}: ${message}`, { step: r.step.name }))
    else out.warnings.push(`policy ${r.policy.id} (Audit): ${where}: ${message}`)
  }
}

function withSpec(object: KubeObject, spec: Record<string, unknown>): KubeObject {
  return { ...object, spec }
}

/** The task spec at `where` with the missing required steps added, recorded in `out`; undefined when nothing was added. */
function injectTaskSpec(
  taskSpec: Record<string, unknown>,
  where: string,
  required: readonly Required[],
  entries: readonly Entry[],
  out: Injection,
): Record<string, unknown> | undefined {
  if (isCustom(taskSpec)) return undefined
  const merged = merge(
    asList<unknown>(taskSpec.steps),
    required,
    where,
    (i) => `${where}.steps[${i}]`,
    splicedRunStep(entries, where),
    out.problems,
    out.warnings,
  )
  if (merged.added.length === 0) return undefined
  out.injected.push(...merged.added.map((i) => `${where}.steps[${i}]`))
  if (merged.shift > 0) out.shifted.set(where, merged.shift)
  return { ...taskSpec, steps: merged.steps }
}

function injectTaskRun(object: KubeObject, required: readonly Required[], entries: readonly Entry[], out: Injection): void {
  const spec = obj(object.spec)
  if (!isJsonObject(spec.taskSpec)) {
    if (spec.taskRef !== undefined)
      cannotAdd(required, 'spec.taskRef', 'a TaskRun that references its Task; write the Task out as spec.taskSpec, or add the step to the Task', out)
    return
  }
  const taskSpec = injectTaskSpec(spec.taskSpec, 'spec.taskSpec', required, entries, out)
  if (taskSpec !== undefined) out.object = withSpec(object, { ...spec, taskSpec })
}

function injectPipelineRun(object: KubeObject, required: readonly Required[], entries: readonly Entry[], out: Injection): void {
  const spec = obj(object.spec)
  if (!isJsonObject(spec.pipelineSpec)) {
    if (spec.pipelineRef !== undefined)
      cannotAdd(required, 'spec.pipelineRef', 'a PipelineRun that references its Pipeline; write the Pipeline out as spec.pipelineSpec', out)
    return
  }
  const pipelineSpec = spec.pipelineSpec
  let changed = false
  const next: Record<string, unknown> = { ...pipelineSpec }
  for (const field of ['tasks', 'finally'] as const) {
    if (!Array.isArray(pipelineSpec[field])) continue
    const tasks = (pipelineSpec[field] as unknown[]).map((task, t) => {
      const taskPath = `spec.pipelineSpec.${field}[${t}]`
      const pt = obj(task)
      if (!isJsonObject(pt.taskSpec)) {
        // A custom task (taskRef with an apiVersion) runs no steps; a Task by reference is out of reach.
        const ref = obj(pt.taskRef)
        if (pt.taskRef !== undefined && ref.apiVersion === undefined)
          cannotAdd(
            required,
            `${taskPath}.taskRef`,
            'a pipeline task that references its Task; write the Task out as its taskSpec, or add the step to the Task',
            out,
          )
        return task
      }
      const taskSpec = injectTaskSpec(pt.taskSpec, `${taskPath}.taskSpec`, required, entries, out)
      if (taskSpec === undefined) return task
      changed = true
      return { ...pt, taskSpec }
    })
    next[field] = tasks
  }
  if (changed) out.object = withSpec(object, { ...spec, pipelineSpec: next })
}

function injectPod(object: KubeObject, required: readonly Required[], out: Injection): void {
  const annotations = object.metadata?.annotations ?? {}
  const text = annotations[stepsAnnotation]
  const where = `metadata.annotations["${stepsAnnotation}"]`
  let existing: unknown[] = []
  if (typeof text === 'string') {
    const parsed = parseStepsAnnotation(text, where)
    // An annotation that does not parse is refused by planning, with every problem named: nothing to add to.
    if ('problems' in parsed) return
    existing = parsed.steps as unknown[]
  }
  // A Pod's steps are references, spliced from the annotation on every pass: the annotation keeps them, so no provenance is needed.
  const merged = merge(
    existing,
    required,
    where,
    (i) => `${where}[${i}]`,
    () => false,
    out.problems,
    out.warnings,
  )
  if (merged.added.length === 0) return
  out.object = { ...object, metadata: { ...object.metadata, annotations: { ...annotations, [stepsAnnotation]: JSON.stringify(merged.steps) } } }
  out.injected.push(...merged.added.map((i) => `${where}[${i}]`))
}

/**
 * `obj` with the required steps of `policies` (those that govern its
 * namespace) added where missing: into a TaskRun's spec.taskSpec, every
 * inline task spec of a PipelineRun (tasks and finally), and a Pod's
 * stepsplice.dev/steps annotation (created when absent). Only Enforce
 * policies inject; Audit ones warn about what is missing. `verified` is the
 * object's provenance that splicing again confirmed (pipeline/provenance.ts).
 */
export function injectRequiredSteps(object: KubeObject, policies: readonly LoadedPolicy[], verified: readonly Entry[] = []): Injection {
  const out: Injection = { object, injected: [], problems: [], warnings: [], shifted: new Map() }
  const required: Required[] = policies.flatMap((policy) => (policy.spec.requiredSteps ?? []).map((step) => ({ policy, step })))
  if (required.length === 0) return out
  // The runs stepsplice expands (runs/sites.ts): a version it leaves alone gets nothing added either.
  if (isTektonRun(object) && object.kind === 'TaskRun') injectTaskRun(object, required, verified, out)
  else if (isTektonRun(object)) injectPipelineRun(object, required, verified, out)
  else if (object.kind === 'Pod' && object.apiVersion === 'v1') injectPod(object, required, out)
  return out
}
