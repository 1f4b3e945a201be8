// A TaskGroup checked on its own, before any used Task is fetched: what
// /validate and lint can say of the object as written, every problem at once
// with its path. What depends on the used Tasks (bindings to their params,
// produced step names, clashes) is checked when they are merged (merge.ts).

import { asList, isJsonObject } from '../json/values.ts'
import { type Problem, problem } from '../problems/problem.ts'
import { quoteValue } from '../problems/truncate.ts'
import type { GroupStep } from './types.ts'

/**
 * What a `uses` step may hold besides `uses`: its name, which prefixes the
 * used Task's step names. Anything else (container fields, `ref`, `onError`,
 * `timeout`, `when`, `params`, …) would belong to steps it is replaced by,
 * and would be dropped without a word: it is a problem instead.
 */
const usesStepFields = new Set(['name', 'uses'])

/** A DNS-1123 label, as Kubernetes checks a container's (and so a step's) name. */
export const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

/** A `uses` step beside container fields or `ref`, or without a taskRef. */
export function shapeProblems(steps: readonly GroupStep[]): Problem[] {
  const out: Problem[] = []
  for (const [i, s] of steps.entries()) {
    if (!isJsonObject(s) || s.uses === undefined) continue
    const at = `spec.steps[${i}]`
    const step = typeof s.name === 'string' ? { step: s.name } : {}
    if (s.ref !== undefined) out.push(problem(`${at}.ref`, 'a step with uses takes its steps from the used Task: it cannot also have ref', step))
    const set = Object.keys(s).filter((f) => !usesStepFields.has(f) && f !== 'ref')
    if (set.length > 0)
      out.push(
        problem(at, `a step with uses takes its steps from the used Task: it cannot also set ${set.slice(0, 10).join(', ')}; set them in the Task`, step),
      )
    if (!isJsonObject(s.uses) || !isJsonObject(s.uses.taskRef))
      out.push(problem(`${at}.uses.taskRef`, 'uses needs a taskRef: the Task whose steps this step stands for', step))
  }
  return out
}

const isLabel = (v: unknown): boolean => typeof v === 'string' && v.length <= 63 && dnsLabel.test(v)

/** Every problem of a TaskGroup object as written. */
export function validateTaskGroup(object: unknown): Problem[] {
  if (!isJsonObject(object)) return [problem('', 'a TaskGroup must be an object')]
  const out: Problem[] = []
  if (object.apiVersion !== 'custom.tekton.dev/v1alpha1')
    out.push(problem('apiVersion', `must be custom.tekton.dev/v1alpha1, not ${quoteValue(object.apiVersion ?? '')}`))
  if (object.kind !== 'TaskGroup') out.push(problem('kind', `must be TaskGroup, not ${quoteValue(object.kind ?? '')}`))
  const metadata = isJsonObject(object.metadata) ? object.metadata : {}
  if (!isLabel(metadata.name)) out.push(problem('metadata.name', 'must be a DNS-1123 label of at most 63 characters'))
  if (!isJsonObject(object.spec)) return [...out, problem('spec', 'missing: a TaskGroup is a Task spec whose steps may use Tasks')]
  const spec = object.spec
  const steps = asList<GroupStep>(spec.steps)
  if (steps.length === 0) out.push(problem('spec.steps', 'a TaskGroup needs at least one step'))
  const names = new Map<string, number>()
  for (const [i, s] of steps.entries()) {
    if (!isJsonObject(s)) {
      out.push(problem(`spec.steps[${i}]`, 'must be an object'))
      continue
    }
    if (s.name !== undefined) {
      if (!isLabel(s.name)) out.push(problem(`spec.steps[${i}].name`, 'must be a DNS-1123 label of at most 63 characters'))
      const first = names.get(String(s.name))
      if (first !== undefined) out.push(problem(`spec.steps[${i}].name`, `the name of spec.steps[${first}] too: step names must be unique`))
      else names.set(String(s.name), i)
    }
    if (!isJsonObject(s.uses)) continue
    for (const [j, b] of asList<unknown>(s.uses.parambindings).entries()) {
      const at = `spec.steps[${i}].uses.parambindings[${j}]`
      if (!isJsonObject(b) || typeof b.name !== 'string' || typeof b.param !== 'string')
        out.push(problem(at, "a param binding is {name: <the used Task's param>, param: <the group's param>}"))
    }
    for (const [j, b] of asList<unknown>(s.uses.workspacebindings).entries()) {
      const at = `spec.steps[${i}].uses.workspacebindings[${j}]`
      if (!isJsonObject(b) || typeof b.name !== 'string' || (typeof b.workspace !== 'string' && typeof b.param !== 'string'))
        out.push(problem(at, "a workspace binding is {name: <the used Task's workspace>, workspace: <the group's workspace>}"))
    }
  }
  return [...out, ...declarationProblems(spec), ...shapeProblems(steps)]
}

/**
 * A group's own declarations without a name or declared twice: Tekton
 * refuses both (a param or workspace appearing more than once, a sidecar
 * whose container would be named `sidecar-`), and a merge that kept the
 * first of a name would drop what the user wrote.
 */
export function declarationProblems(spec: Record<string, unknown>): Problem[] {
  const out: Problem[] = []
  for (const field of ['params', 'workspaces', 'results', 'sidecars', 'volumes'] as const) {
    const seen = new Set<string>()
    for (const [i, d] of asList<unknown>(spec[field]).entries()) {
      const name = isJsonObject(d) ? d.name : undefined
      if (typeof name !== 'string' || name === '') out.push(problem(`spec.${field}[${i}].name`, 'missing'))
      else if (seen.has(name)) out.push(problem(`spec.${field}[${i}].name`, `${quoteValue(name)} is declared twice`))
      else seen.add(name)
    }
  }
  return out
}
