// The semantic rules Tekton's StepAction admission applies (v1beta1, plus the
// default-reference checks of v1alpha1), run on a defaulted spec. Messages keep
// Tekton's wording so that users who know Tekton recognise them; paths are ours
// and point at the exact element (`spec.env[1].value`).

import { type Problem, problem } from '../problems/problem.ts'
import type { ParamSpec, StepActionSpec, StepResult } from '../types/tekton.ts'
import {
  extractEntireVariables,
  extractExpressions,
  extractVariables,
  type Reference,
  scanReferencesAsPattern,
  scanReferencesFor,
  trimArrayIndex,
  variablesOf,
} from '../variables/scan.ts'
import { parseParamValue, rawValueType } from '../variables/param-value.ts'
import { quoteValue } from '../problems/truncate.ts'

const stringOrArrayName = /^[_a-zA-Z][_a-zA-Z0-9.-]*$/
const objectName = /^[_a-zA-Z][_a-zA-Z0-9-]*$/
export const resultNameFormat = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const paramTypes = new Set(['string', 'array', 'object'])

/** A field of the spec that may hold param references, with its path. */
interface Field {
  path: string
  value: string
  kind: 'image' | 'script' | 'command' | 'args' | 'env' | 'volumeMount'
}

function referenceFields(spec: StepActionSpec): Field[] {
  const fields: Field[] = []
  if (spec.image !== undefined) fields.push({ path: 'spec.image', value: spec.image, kind: 'image' })
  if (spec.script !== undefined) fields.push({ path: 'spec.script', value: spec.script, kind: 'script' })
  for (const [i, value] of (spec.command ?? []).entries()) fields.push({ path: `spec.command[${i}]`, value, kind: 'command' })
  for (const [i, value] of (spec.args ?? []).entries()) fields.push({ path: `spec.args[${i}]`, value, kind: 'args' })
  for (const [i, e] of (spec.env ?? []).entries()) fields.push({ path: `spec.env[${i}].value`, value: e.value ?? '', kind: 'env' })
  for (const [i, m] of (spec.volumeMounts ?? []).entries()) fields.push({ path: `spec.volumeMounts[${i}].name`, value: m.name, kind: 'volumeMount' })
  return fields
}

/** Tekton's ValidateNoReferencesToUnknownVariables for one value; `refs` when already scanned. */
function unknownVariables(field: Field, prefix: string, known: ReadonlySet<string>, refs?: readonly Reference[]): Problem | undefined {
  const { names, error } = refs === undefined ? extractVariables(field.value, prefix) : variablesOf(refs, field.value, prefix)
  if (names.length === 0 && error === undefined) return undefined
  if (error !== undefined) return problem(field.path, error)
  for (const name of names) {
    if (!known.has(trimArrayIndex(name))) return problem(field.path, `non-existent variable in ${quoteValue(field.value)}`)
  }
  return undefined
}

function typeInvalid(field: Field): Problem {
  return problem(field.path, `variable type invalid in ${quoteValue(field.value)}`)
}

/**
 * The text without the leading white space Go's strings.TrimSpace removes
 * (unicode.IsSpace): JavaScript's trim also takes a byte order mark, which Go
 * keeps, and leaves U+0085, which Go takes.
 */
function goTrimStart(s: string): string {
  return s.replace(/^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/, '')
}

function checkScript(spec: StepActionSpec): Problem[] {
  const out: Problem[] = []
  const script = spec.script
  if (script === undefined || script === '') return out
  if ((spec.command?.length ?? 0) > 0) out.push(problem('spec.script', 'script cannot be used with command'))
  if (goTrimStart(script).startsWith('#!win')) {
    out.push(problem('spec.script', 'windows script support requires "enable-api-fields" feature gate to be "alpha" but it is "beta"'))
  }
  const refs = extractVariables(script, 'params')
  if (refs.names.length > 0 || refs.error !== undefined) {
    out.push(problem('spec.script', 'param substitution in scripts is not allowed. Pass the value through env and read the variable in the script'))
  }
  return out
}

function checkDeclaredUsage(params: ParamSpec[], fields: Field[]): Problem[] {
  const out: Problem[] = []
  const all = new Set(params.map((p) => p.name))
  for (const field of fields) {
    const p = unknownVariables(field, 'params', all)
    if (p) out.push(p)
  }
  const objects = params.filter((p) => p.type === 'object')
  const objectNames = new Set(objects.map((p) => p.name))
  // Each field is read once for every object param at a time (Tekton scans once per param and field).
  const longest = Math.max(0, ...[...objectNames].map((n) => n.length))
  const keysOf = new Map(objects.map((o) => [o.name, new Set(Object.keys(o.properties ?? {}))]))
  const byObject = new Map<string, Problem[]>()
  for (const field of fields) {
    for (const [name, refs] of scanReferencesFor(field.value, 'params.', objectNames, longest)) {
      const p = unknownVariables(field, `params.${name}`, keysOf.get(name) ?? new Set(), refs)
      if (p === undefined) continue
      const list = byObject.get(name)
      if (list === undefined) byObject.set(name, [p])
      else list.push(p)
    }
  }
  // Reported per object param, then per field: the order Tekton's loops give.
  for (const name of new Set(objects.map((o) => o.name))) out.push(...(byObject.get(name) ?? []))
  for (const field of fields) {
    const whole = extractEntireVariables(field.value, 'params').some((v) => objectNames.has(v.replace(/\[\*\]$/, '')))
    if (whole) out.push(typeInvalid(field))
  }
  params.forEach((p, i) => {
    if (p.type === 'object' && p.properties === undefined) out.push(problem(`spec.params[${i}]`, `missing field(s): ${p.name}.properties`))
  })
  return out
}

function checkParamTypes(params: ParamSpec[]): Problem[] {
  const out: Problem[] = []
  params.forEach((p, i) => {
    const at = `spec.params[${i}]`
    const type = p.type ?? 'string'
    if (!paramTypes.has(type)) {
      out.push(problem(`${at}.type`, `invalid value: ${type}`))
      return
    }
    if (p.default !== undefined && rawValueType(p.default) !== type) {
      out.push(problem(`${at}.default`, `"${type}" type does not match default value's type: "${rawValueType(p.default)}"`))
      return
    }
    const badKeys = Object.entries(p.properties ?? {})
      .filter(([, s]) => s.type !== 'string')
      .map(([k]) => k)
    if (badKeys.length > 0) out.push(problem(`${at}.properties`, `The value type specified for these keys [${badKeys.join(' ')}] is invalid`))
  })
  return out
}

function checkParamNames(params: ParamSpec[]): Problem[] {
  const out: Problem[] = []
  const seen = new Set<string>()
  params.forEach((p, i) => {
    if (seen.has(p.name)) out.push(problem(`spec.params[${i}].name`, `parameter appears more than once: ${quoteValue(p.name)}`))
    seen.add(p.name)
  })
  const badNames = [...new Set(params.filter((p) => p.type !== 'object' && !stringOrArrayName.test(p.name)).map((p) => p.name))].sort()
  if (badNames.length > 0) {
    out.push(problem('spec.params', `The format of following array and string variable names is invalid: [${badNames.join(' ')}]`))
  }
  // Built like Tekton's map[name][]badKey and printed as Go prints a map:
  // sorted by name (not by the formatted entry, where "x-y:" sorts before "x:").
  const badObjects = new Map<string, string[]>()
  for (const p of params.filter((q) => q.type === 'object')) {
    if (!objectName.test(p.name)) badObjects.set(p.name, [])
    const keys = Object.keys(p.properties ?? {})
      .filter((k) => !objectName.test(k))
      .sort()
    if (keys.length > 0) badObjects.set(p.name, [...(badObjects.get(p.name) ?? []), ...keys])
  }
  if (badObjects.size > 0) {
    const entries = [...badObjects.keys()].sort().map((name) => `${name}:[${(badObjects.get(name) ?? []).join(' ')}]`)
    out.push(problem('spec.params', `Object param name and key name format is invalid: map[${entries.join(' ')}]`))
  }
  return out
}

function checkArrayUsage(params: ParamSpec[], fields: Field[]): Problem[] {
  const out: Problem[] = []
  const arrays = new Set(params.filter((p) => p.type === 'array').map((p) => p.name))
  if (arrays.size === 0) return out
  for (const field of fields) {
    const { names, error } = extractVariables(field.value, 'params')
    if (names.length === 0 && error === undefined) continue
    if (error !== undefined) {
      out.push(problem(field.path, error))
      continue
    }
    const usesArray = names.some((n) => arrays.has(n.replace(/\[\*\]$/, '')))
    if (!usesArray) continue
    if (field.kind === 'command' || field.kind === 'args') {
      const first = extractExpressions(field.value, 'params')[0] ?? ''
      if (first.length !== field.value.length) out.push(problem(field.path, `variable is not properly isolated in ${quoteValue(field.value)}`))
    } else {
      out.push(typeInvalid(field))
    }
  }
  return out
}

function checkResults(spec: StepActionSpec, results: StepResult[]): Problem[] {
  const out: Problem[] = []
  const names = new Set(results.map((r) => r.name))
  if (spec.script !== undefined) {
    const field: Field = { path: 'spec.script', value: spec.script, kind: 'script' }
    for (const prefix of ['step.results', 'results']) {
      const p = unknownVariables(field, prefix, names, scanReferencesAsPattern(field.value, prefix))
      if (p) out.push(p)
    }
  }
  results.forEach((r, i) => {
    const at = `spec.results[${i}]`
    if (!resultNameFormat.test(r.name)) {
      out.push(
        problem(
          `${at}.name`,
          `invalid key name ${quoteValue(r.name)}: must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
        ),
      )
      return
    }
    if (r.type === 'object') {
      if (r.properties === undefined) out.push(problem(at, `missing field(s): ${r.name}.properties`))
      const bad = Object.entries(r.properties ?? {})
        .filter(([, s]) => s.type !== 'string')
        .map(([k]) => k)
      if (bad.length > 0)
        out.push(problem(`${at}.properties`, `the value type specified for these keys [${bad.join(' ')}] is invalid, the type must be string`))
    } else if (r.type !== 'array' && r.type !== 'string') {
      out.push(problem(`${at}.type`, `invalid value: ${r.type}`))
    }
  })
  return out
}

function checkVolumeMounts(spec: StepActionSpec, params: ParamSpec[]): Problem[] {
  const names = new Set(params.map((p) => p.name))
  const mounts = spec.volumeMounts ?? []
  const out: Problem[] = []
  for (let i = 0; i < mounts.length; i++) {
    const name = mounts[i]?.name ?? ''
    const at = `spec.volumeMounts[${i}].name`
    const expressions = extractExpressions(name, 'params')
    if (expressions.length !== 1 || expressions[0] !== name) {
      // Tekton stops at the first bad mount; so do we.
      out.push(problem(at, `invalid value: ${name}: expect the Name to be a single param reference, such as $(params.volume-name)`))
      return out
    }
    // An undeclared name does not stop Tekton's scan; only a malformed one does.
    const p = unknownVariables({ path: at, value: name, kind: 'volumeMount' }, 'params', names)
    if (p) out.push(p)
  }
  return out
}

/** v1alpha1 only: defaults may reference only declared params, and never in a cycle. */
function checkDefaultReferences(params: ParamSpec[]): Problem[] {
  const out: Problem[] = []
  const all = new Set(params.map((p) => p.name))
  const resolved = new Set<string>()
  const pending = new Map<string, string[]>()
  for (const p of params) {
    if (p.default === undefined) {
      resolved.add(p.name)
      continue
    }
    const value = parseParamValue(p.default)
    const refs = extractExpressions(value.type === 'string' ? value.string : '', 'params').map((m) => m.replace(/^\$\(params\./, '').replace(/\)$/, ''))
    if (refs.length === 0) {
      resolved.add(p.name)
      continue
    }
    const undefinedRefs = refs.filter((r) => !all.has(r))
    for (const r of undefinedRefs)
      out.push(problem('spec.params', `param ${quoteValue(p.name)} default value references param ${quoteValue(r)} which is not defined`))
    if (undefinedRefs.length === 0) pending.set(p.name, refs)
  }
  let progress = true
  while (pending.size > 0 && progress) {
    progress = false
    for (const [name, refs] of pending) {
      if (refs.every((r) => resolved.has(r))) {
        resolved.add(name)
        pending.delete(name)
        progress = true
      }
    }
  }
  for (const name of pending.keys()) out.push(problem('spec.params', `param ${quoteValue(name)} default value has a circular dependency`))
  return out
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>()
  return problems.filter((p) => {
    const key = `${p.path}\u0000${p.message}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/** Every semantic problem of a defaulted, structurally valid StepAction spec. */
export function validateStepActionSpec(spec: StepActionSpec, apiVersion: string): Problem[] {
  const params = spec.params ?? []
  const fields = referenceFields(spec)
  const out: Problem[] = []
  if (!spec.image) out.push(problem('spec.image', 'missing field(s): image'))
  out.push(...checkScript(spec))
  out.push(...checkDeclaredUsage(params, fields))
  out.push(...checkParamTypes(params))
  out.push(...checkParamNames(params))
  out.push(...checkArrayUsage(params, fields))
  out.push(...checkResults(spec, spec.results ?? []))
  out.push(...checkVolumeMounts(spec, params))
  if (apiVersion === 'tekton.dev/v1alpha1') out.push(...checkDefaultReferences(params))
  return dedupe(out)
}
