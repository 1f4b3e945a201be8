// A param value, typed the way Tekton types it when it decodes JSON: a list of
// strings is an array, a map of strings an object, anything else a string.

import { isJsonObject, setMember } from '../json/values.ts'
import type { ParamType } from '../types/tekton.ts'

export type ParamValue = { type: 'string'; string: string } | { type: 'array'; array: string[] } | { type: 'object'; object: Record<string, string> }

export function stringValue(s: string): ParamValue {
  return { type: 'string', string: s }
}

/**
 * Mirrors Tekton's ParamValue.UnmarshalJSON: a value that is neither a string,
 * a list of strings nor a map of strings becomes its JSON text (so `3` is "3",
 * and an int64 past 2^53, a raw number and so no map, is its exact digits).
 * Go decodes a JSON null inside a []string or map[string]string as "".
 * Each step param of every request passes here: one loop each, no lists built to check.
 */
export function parseParamValue(raw: unknown): ParamValue {
  if (typeof raw === 'string') return stringValue(raw)
  if (raw === null || raw === undefined) return stringValue('')
  if (Array.isArray(raw)) {
    const array = stringList(raw)
    if (array !== undefined) return { type: 'array', array }
  } else if (isJsonObject(raw)) {
    const object = stringMap(raw)
    if (object !== undefined) return { type: 'object', object }
  }
  return stringValue(JSON.stringify(raw))
}

/** The list with nulls as "", or undefined when an element is neither. */
function stringList(raw: readonly unknown[]): string[] | undefined {
  const out = new Array<string>(raw.length)
  for (let i = 0; i < raw.length; i++) {
    const e = raw[i]
    if (typeof e === 'string') out[i] = e
    else if (e === null) out[i] = ''
    else return undefined
  }
  return out
}

function stringMap(raw: Record<string, unknown>): Record<string, string> | undefined {
  const out: Record<string, string> = {}
  for (const k in raw) {
    if (!Object.hasOwn(raw, k)) continue
    const v = raw[k]
    if (typeof v !== 'string' && v !== null) return undefined
    setMember(out, k, v ?? '')
  }
  return out
}

/** Whether `text` appears in the value: in the string, in an element, or in a member's value. */
export function holdsText(v: ParamValue, text: string): boolean {
  if (v.type === 'string') return v.string.includes(text)
  if (v.type === 'array') return v.array.some((e) => e.includes(text))
  for (const k in v.object) if ((v.object[k] as string).includes(text)) return true
  return false
}

/** Whether substitution can change the value: it holds `$(` somewhere. */
export function mayReference(v: ParamValue): boolean {
  return holdsText(v, '$(')
}

/** The type a raw value decodes to; used to compare a default with its declared type. */
export function rawValueType(raw: unknown): ParamType {
  return parseParamValue(raw).type
}

/** The string part of a value, empty for arrays and objects (as Go's StringVal). */
export function stringPart(v: ParamValue): string {
  return v.type === 'string' ? v.string : ''
}
