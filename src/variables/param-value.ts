// A param value, typed the way Tekton types it when it decodes JSON: a list of
// strings is an array, a map of strings an object, anything else a string.

import { isJsonObject } from '../json/values.ts'
import type { ParamType } from '../types/tekton.ts'

export type ParamValue = { type: 'string'; string: string } | { type: 'array'; array: string[] } | { type: 'object'; object: Record<string, string> }

export function stringValue(s: string): ParamValue {
  return { type: 'string', string: s }
}

// Go decodes a JSON null inside a []string or map[string]string as "".
const stringOrNull = (e: unknown): boolean => typeof e === 'string' || e === null

function isStringList(v: unknown): v is (string | null)[] {
  return Array.isArray(v) && v.every(stringOrNull)
}

function isStringMap(v: unknown): v is Record<string, string | null> {
  return isJsonObject(v) && Object.values(v).every(stringOrNull)
}

/**
 * Mirrors Tekton's ParamValue.UnmarshalJSON: a value that is neither a string,
 * a list of strings nor a map of strings becomes its JSON text (so `3` is "3",
 * and an int64 past 2^53, a raw number and so no map, is its exact digits).
 */
export function parseParamValue(raw: unknown): ParamValue {
  if (isStringList(raw)) return { type: 'array', array: raw.map((e) => e ?? '') }
  if (isStringMap(raw)) return { type: 'object', object: Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, v ?? ''])) }
  if (typeof raw === 'string') return stringValue(raw)
  if (raw === null || raw === undefined) return stringValue('')
  return stringValue(JSON.stringify(raw))
}

/** The type a raw value decodes to; used to compare a default with its declared type. */
export function rawValueType(raw: unknown): ParamType {
  return parseParamValue(raw).type
}

/** The string part of a value, empty for arrays and objects (as Go's StringVal). */
export function stringPart(v: ParamValue): string {
  return v.type === 'string' ? v.string : ''
}
