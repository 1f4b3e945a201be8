// What stepsplice produced, checked against Kubernetes' own schema before it
// answers: a definition or a param value that makes a step the API server or
// Tekton would refuse (`cpu: lots`, an env entry without a name, a port that
// is not a number) is denied here, naming the field, the step and the
// definition, instead of passing admission and failing later with less to go
// on.
//
// The schema is Kubernetes' Container (container-schema.ts: the fields and
// types of @kubernetes/client-node's models). Only what stepsplice produced is checked: the steps it
// spliced into a TaskRun or PipelineRun, and the init containers it added to
// a Pod; the user's own steps and containers are the API server's business.
// A Tekton step is a Container with other names and more fields: its
// `computeResources` is checked as a Container's `resources`, its
// Tekton-only fields (script, timeout, onError, …) are left to Tekton, and
// its name may be empty (Tekton names such steps itself). A value that still
// holds a variable (`$(params.policy)`) is Tekton's to substitute at run time
// and is not checked.
//
// Quantities are checked as resource.ParseQuantity reads them, not with the
// looser pattern of Kubernetes' own message (which also takes `1h`, `2da`).

import type { ErrorObject } from 'ajv'
import { isRawNumber } from '../json/raw-number.ts'
import { isJsonObject } from '../json/values.ts'
import { prepareName } from '../pods/prepare.ts'
import { jsonPointerToPath } from '../problems/path.ts'
import { type Problem, problem } from '../problems/problem.ts'
import { quoteValue } from '../problems/truncate.ts'
import type { Expansion } from '../steps/expansion.ts'
import { validateContainer, validateResources } from './container-schema.ts'

/** A step or container stepsplice produced, where it is, and what it came from. */
export interface ProducedContainer {
  /** Its path in the object: `spec.taskSpec.steps[1]`, `spec.initContainers[0]`. */
  path: string
  value: unknown
  /** A Tekton step, or a Pod's container. */
  shape: 'step' | 'container'
  /** The step it is (absent for stepsplice's own prepare container) and the definition it came from. */
  step?: string
  definition?: string
}

/** The Pod spec an expansion wrote into: a Pod's own (path ``), or a workload's template. */
export interface PodSite {
  path: string
  segments: readonly (string | number)[]
}

/** Fields of a Tekton step that are not a Container's: Tekton checks them itself. */
const tektonOnly = new Set([
  'computeResources',
  'script',
  'timeout',
  'workspaces',
  'onError',
  'stdoutConfig',
  'stderrConfig',
  'ref',
  'params',
  'results',
  'when',
  'displayName',
])

/** Problems one container reports at most: a step full of mistakes is still one bounded denial. */
const maxProblems = 20

/**
 * The message Kubernetes gives for a quantity it cannot read
 * (resource.ErrFormatWrong); the regular expression is its own, looser than
 * what it accepts, which is `quantity` below.
 */
const quantityMessage = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
/** resource.ParseQuantity's grammar: a signed decimal, then a binary (Ki…Ei) or decimal (n…E) suffix or an exponent. */
const quantity = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$/

const identifier = /^[A-Za-z_][A-Za-z0-9_]*$/

/** `base.key`, or `base["nvidia.com/gpu"]` for a key that is not a plain name. */
function fieldPath(base: string, key: string): string {
  if (!identifier.test(key)) return `${base}[${JSON.stringify(key)}]`
  return base === '' ? key : `${base}.${key}`
}

/** `base` followed by a JSON pointer's path (`/env/0/name` → `base.env[0].name`). */
function pointerPath(base: string, pointer: string): string {
  const tail = jsonPointerToPath(pointer)
  if (tail === '') return base
  if (base === '') return tail
  return tail.startsWith('[') ? `${base}${tail}` : `${base}.${tail}`
}

/** The value a JSON pointer names in `root`. */
function valueAt(root: unknown, pointer: string): unknown {
  let v = root
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replaceAll('~1', '/').replaceAll('~0', '~')
    if (Array.isArray(v)) v = v[Number(part)]
    else if (isJsonObject(v)) v = v[part]
    else return undefined
  }
  return v
}

const holdsVariable = (v: unknown): boolean => typeof v === 'string' && v.includes('$(')

const article = (type: string): string => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`)

function typesText(types: readonly string[]): string {
  const named = [...new Set(types)].map(article)
  return named.length <= 1 ? (named[0] ?? 'of another type') : `${named.slice(0, -1).join(', ')} or ${named.at(-1)}`
}

/** Why a value is not the integer (or int-or-string) Kubernetes wants: not a whole number, or out of range. */
function integerMessage(keyword: string, value: unknown): string {
  const whole = isRawNumber(value) || (typeof value === 'number' && Number.isInteger(value))
  if (keyword === 'k8sIntOrString') return whole ? 'must be a string or an integer of at most 32 bits' : 'must be an integer or a string'
  if (!whole) return 'must be an integer'
  return keyword === 'k8sInt64' ? 'must be an integer of at most 64 bits' : 'must be an integer of at most 32 bits'
}

/** The requests and limits of a ResourceRequirements at `base`: each a quantity Kubernetes can read, and not negative. */
function checkQuantities(requirements: unknown, base: string, variablesLeft: boolean): Problem[] {
  const out: Problem[] = []
  if (!isJsonObject(requirements)) return out
  for (const field of ['limits', 'requests']) {
    const values = requirements[field]
    if (!isJsonObject(values)) continue
    for (const [name, value] of Object.entries(values)) {
      const at = fieldPath(`${base}.${field}`, name)
      // null is Kubernetes' zero quantity; a variable is Tekton's to fill in.
      if (value === null || (variablesLeft && holdsVariable(value))) continue
      // An integer past 2^53 is held as its digits (json/raw-number.ts): as good a quantity as any number.
      const text = isRawNumber(value) ? value.rawJSON : value
      const readable = typeof text === 'number' ? Number.isFinite(text) : typeof text === 'string' && quantity.test(text)
      // Negative unless every digit before an exponent is 0 (`-0`, `-0.0m`).
      const negative = typeof text === 'number' ? text < 0 : typeof text === 'string' && text.startsWith('-') && /[1-9]/.test(text.replace(/[eE].*$/, ''))
      if (!readable) out.push(problem(at, `${quantityMessage}, not ${quoteValue(value, 60)}`))
      else if (negative) out.push(problem(at, `must be greater than or equal to 0, not ${quoteValue(value, 60)}`))
    }
  }
  return out
}

/** ajv's errors of one validation as problems at `base`. Requests and limits entries are left to checkQuantities. */
function schemaProblems(
  errors: readonly ErrorObject[],
  base: string,
  data: unknown,
  options: { quantitiesUnder: string; nameOptional: boolean; variablesLeft: boolean },
): Problem[] {
  const quantityEntry = new RegExp(`^${options.quantitiesUnder}/(limits|requests)/[^/]+$`)
  const out: Problem[] = []
  const seen = new Set<string>()
  for (const e of errors) {
    if (quantityEntry.test(e.instancePath)) continue
    const value = valueAt(data, e.instancePath)
    // Kubernetes reads null as the field's zero value (`env: null` is no env), whatever its type.
    if (value === null && e.keyword !== 'required') continue
    if (options.variablesLeft && holdsVariable(value)) continue
    const at = pointerPath(base, e.instancePath)
    const params = e.params as Record<string, unknown>
    let found: Problem
    if (e.keyword === 'required') {
      if (options.nameOptional && e.instancePath === '' && params.missingProperty === 'name') continue
      found = problem(fieldPath(at, String(params.missingProperty)), 'missing field')
    } else if (e.keyword === 'type') found = problem(at, `must be ${typesText(String(params.type).split(','))}`)
    else if (e.keyword === 'enum') found = problem(at, `must be one of ${(params.allowedValues as unknown[]).map(String).join(', ')}`)
    else if (e.keyword === 'k8sInt32' || e.keyword === 'k8sInt64' || e.keyword === 'k8sIntOrString') found = problem(at, integerMessage(e.keyword, value))
    else found = problem(at, `does not match Kubernetes' schema (${e.keyword})`)
    const key = `${found.path}\u0000${found.message}`
    if (seen.has(key)) continue
    seen.add(key)
    out.push(found)
  }
  return out
}

/** A Tekton step without its Tekton-only fields: what is left is Container-shaped. */
function containerPart(step: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(step)) if (!tektonOnly.has(key)) out[key] = value
  return out
}

/** Problems of one produced step or container, with its step and definition. */
function checkOne(produced: ProducedContainer): Problem[] {
  const { path, value, shape } = produced
  const context: Pick<Problem, 'step' | 'definition'> = {}
  if (produced.step !== undefined) context.step = produced.step
  if (produced.definition !== undefined) context.definition = produced.definition
  if (!isJsonObject(value)) return [problem(path, 'must be an object', context)]
  const step = shape === 'step'
  // Pods have nothing after admission to fill a variable in; Tekton substitutes steps' at run time.
  const variablesLeft = step
  const found: Problem[] = []
  const container = step ? containerPart(value) : value
  if (!validateContainer(container)) {
    found.push(...schemaProblems(validateContainer.errors ?? [], path, container, { quantitiesUnder: '/resources', nameOptional: step, variablesLeft }))
  }
  found.push(...checkQuantities(container.resources, `${path}.resources`, variablesLeft))
  if (step && value.computeResources !== undefined) {
    const at = `${path}.computeResources`
    if (!validateResources(value.computeResources)) {
      found.push(...schemaProblems(validateResources.errors ?? [], at, value.computeResources, { quantitiesUnder: '', nameOptional: false, variablesLeft }))
    }
    found.push(...checkQuantities(value.computeResources, at, variablesLeft))
  }
  const shown = found.slice(0, maxProblems).map((p) => ({ ...p, ...context }))
  if (found.length > maxProblems) shown.push(problem(path, `and ${found.length - maxProblems} more problems`, context))
  return shown
}

/** Every problem of the steps and containers stepsplice produced, in their order. */
export function checkContainers(produced: readonly ProducedContainer[]): Problem[] {
  return produced.flatMap(checkOne)
}

/** `spec.pipelineSpec.tasks[0].taskSpec.steps[1]` → its segments; undefined for a path of another form. */
function segmentsOf(path: string): (string | number)[] | undefined {
  const out: (string | number)[] = []
  const token = /(?:^|\.)([A-Za-z_][A-Za-z0-9_-]*)|\[([0-9]+)\]/y
  let at = 0
  while (at < path.length) {
    token.lastIndex = at
    const m = token.exec(path)
    if (m === null) return undefined
    if (m[1] !== undefined) out.push(m[1])
    else out.push(Number(m[2]))
    at = token.lastIndex
  }
  return out
}

function valueAtSegments(root: unknown, segments: readonly (string | number)[]): unknown {
  let v = root
  for (const s of segments) {
    if (typeof s === 'number') v = Array.isArray(v) ? v[s] : undefined
    else v = isJsonObject(v) ? v[s] : undefined
  }
  return v
}

/** The steps an expansion of a TaskRun or PipelineRun spliced: where its provenance says they are. */
export function producedSteps(expansion: Expansion): ProducedContainer[] {
  const out: ProducedContainer[] = []
  for (const entry of expansion.expanded) {
    const segments = segmentsOf(entry.path)
    if (segments === undefined) continue
    out.push({ path: entry.path, value: valueAtSegments(expansion.object, segments), shape: 'step', step: entry.step, definition: entry.definition })
  }
  return out
}

/**
 * The init containers an expansion added to a Pod spec: one `step-<name>`
 * per spliced step, and stepsplice's own container that writes scripts.
 */
export function producedInitContainers(expansion: Expansion, site: PodSite): ProducedContainer[] {
  const prefix = site.path === '' ? '' : `${site.path}.`
  const initContainers = valueAtSegments(expansion.object, [...site.segments, 'spec', 'initContainers'])
  if (!Array.isArray(initContainers) || expansion.expanded.length === 0) return []
  const byName = new Map<string, number>()
  for (const [i, c] of initContainers.entries()) {
    const name = isJsonObject(c) ? c.name : undefined
    if (typeof name === 'string' && !byName.has(name)) byName.set(name, i)
  }
  const out: ProducedContainer[] = []
  const at = (i: number): string => `${prefix}spec.initContainers[${i}]`
  const prepare = byName.get(prepareName)
  if (prepare !== undefined) out.push({ path: at(prepare), value: initContainers[prepare], shape: 'container' })
  for (const entry of expansion.expanded) {
    const i = byName.get(`step-${entry.step}`)
    if (i === undefined) continue
    out.push({ path: at(i), value: initContainers[i], shape: 'container', step: entry.step, definition: entry.definition })
  }
  return out
}
