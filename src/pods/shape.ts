// The parts of a Pod spec that splicing reads or writes must have the types
// the Pod API gives them. The API server never sends anything else, but a
// crafted review or a `render` input can, and code that maps over a
// "containers" that is a string fails as an internal error instead of
// naming the field.

import { isJsonObject } from '../json/values.ts'
import { problem, type Problem } from '../problems/problem.ts'

const isStringList = (v: unknown): boolean => Array.isArray(v) && v.every((e) => typeof e === 'string')

function checkContainer(c: unknown, at: string): Problem[] {
  if (!isJsonObject(c)) return [problem(at, 'must be an object')]
  const out: Problem[] = []
  if (c.name !== undefined && typeof c.name !== 'string') out.push(problem(`${at}.name`, 'must be a string'))
  for (const field of ['command', 'args'] as const)
    if (c[field] !== undefined && !isStringList(c[field])) out.push(problem(`${at}.${field}`, 'must be a list of strings'))
  if (c.env !== undefined) {
    if (!Array.isArray(c.env)) out.push(problem(`${at}.env`, 'must be a list'))
    else {
      for (const [i, e] of c.env.entries()) {
        if (!isJsonObject(e) || typeof e.name !== 'string') out.push(problem(`${at}.env[${i}]`, 'must be an object with a name'))
        else if (e.value !== undefined && typeof e.value !== 'string') out.push(problem(`${at}.env[${i}].value`, 'must be a string'))
      }
    }
  }
  if (c.volumeMounts !== undefined) {
    if (!Array.isArray(c.volumeMounts)) out.push(problem(`${at}.volumeMounts`, 'must be a list'))
    else {
      for (const [i, m] of c.volumeMounts.entries()) {
        if (!isJsonObject(m) || typeof m.name !== 'string' || typeof m.mountPath !== 'string') {
          out.push(problem(`${at}.volumeMounts[${i}]`, 'must be an object with a name and a mountPath'))
        } else if (m.subPath !== undefined && typeof m.subPath !== 'string') out.push(problem(`${at}.volumeMounts[${i}].subPath`, 'must be a string'))
      }
    }
  }
  return out
}

/** Problems with the types of `spec` (at `at`, e.g. `spec` or `spec.template.spec`) that splicing depends on. */
export function checkPodSpec(spec: unknown, at: string): Problem[] {
  if (spec === undefined) return []
  if (!isJsonObject(spec)) return [problem(at, 'must be an object')]
  const out: Problem[] = []
  for (const field of ['initContainers', 'containers'] as const) {
    const list = spec[field]
    if (list === undefined || list === null) continue
    if (!Array.isArray(list)) {
      out.push(problem(`${at}.${field}`, 'must be a list of containers'))
      continue
    }
    for (const [i, c] of list.entries()) out.push(...checkContainer(c, `${at}.${field}[${i}]`))
  }
  if (spec.volumes !== undefined && spec.volumes !== null) {
    if (!Array.isArray(spec.volumes)) out.push(problem(`${at}.volumes`, 'must be a list of volumes'))
    else {
      for (const [i, v] of spec.volumes.entries()) {
        if (!isJsonObject(v) || typeof v.name !== 'string') out.push(problem(`${at}.volumes[${i}]`, 'must be an object with a name'))
      }
    }
  }
  return out
}
