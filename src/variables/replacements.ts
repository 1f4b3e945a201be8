// Replacement tables and the single-pass substitution Tekton applies with Go's
// strings.Replacer. Keys are written without the surrounding `$( )`.
//
// Every key ends at its first `)`, so at any position at most one key can
// match; that lets one left-to-right scan reproduce strings.Replacer exactly,
// including that replaced text is never scanned again.

import type { ParamValue } from './param-value.ts'

export interface Replacements {
  strings: Map<string, string>
  arrays: Map<string, string[]>
  objects: Map<string, Record<string, string>>
}

export function emptyReplacements(): Replacements {
  return { strings: new Map(), arrays: new Map(), objects: new Map() }
}

/** The four spellings Tekton accepts for a param: dot, both bracket forms, and the v1beta1 `inputs.` form. */
export function paramKeys(name: string): string[] {
  return [`params.${name}`, `params[${JSON.stringify(name)}]`, `params['${name}']`, `inputs.params.${name}`]
}

/** Adds the keys for one param value to `r`, overwriting what was there. */
export function addParamValue(r: Replacements, name: string, value: ParamValue): void {
  switch (value.type) {
    case 'array':
      for (const key of paramKeys(name)) {
        for (const [i, element] of value.array.entries()) r.strings.set(`${key}[${i}]`, element)
        r.arrays.set(key, value.array)
      }
      break
    case 'object':
      for (const key of paramKeys(name)) r.objects.set(key, { ...value.object })
      // Individual keys exist only in the dot form, as in Tekton.
      for (const [k, v] of Object.entries(value.object)) r.strings.set(`params.${name}.${k}`, v)
      break
    default:
      for (const key of paramKeys(name)) r.strings.set(key, value.string)
  }
}

export function replacementsFromParams(params: readonly { name: string; value: ParamValue }[]): Replacements {
  const r = emptyReplacements()
  for (const p of params) addParamValue(r, p.name, p.value)
  return r
}

/** Later values win; object values merge key by key. */
export function mergeInto(target: Replacements, source: Replacements): void {
  for (const [k, v] of source.strings) target.strings.set(k, v)
  for (const [k, v] of source.arrays) target.arrays.set(k, v)
  for (const [k, v] of source.objects) {
    const existing = target.objects.get(k)
    target.objects.set(k, existing === undefined ? { ...v } : { ...existing, ...v })
  }
}

/** Forgets every key of a param, so references to it stay as written for Tekton to fill in. */
export function forgetParam(r: Replacements, name: string): void {
  const prefixes = paramKeys(name)
  const matches = (key: string): boolean => prefixes.some((p) => key === p || key.startsWith(`${p}[`)) || key.startsWith(`params.${name}.`)
  for (const table of [r.strings, r.arrays, r.objects]) {
    for (const key of table.keys()) if (matches(key)) table.delete(key)
  }
}

/** Replaces every `$(key)` found in `s`, in one pass. Unknown references stay as written. */
export function applyString(s: string, strings: ReadonlyMap<string, string>): string {
  let start = s.indexOf('$(')
  if (start < 0 || strings.size === 0) return s
  let out = ''
  let copied = 0
  while (start >= 0) {
    const end = s.indexOf(')', start + 2)
    if (end < 0) break
    const replacement = strings.get(s.slice(start + 2, end))
    if (replacement !== undefined) {
      out += s.slice(copied, start) + replacement
      copied = end + 1
      start = s.indexOf('$(', copied)
    } else {
      start = s.indexOf('$(', start + 1)
    }
  }
  return out + s.slice(copied)
}

/**
 * A command/args element that is exactly `$(key)` or `$(key[*])` of an array
 * becomes that array's elements; anything else is string replacement.
 */
export function applyArrayElement(s: string, r: Replacements): string[] {
  if (s.startsWith('$(') && s.endsWith(')')) {
    let key = s.slice(2, -1)
    if (key.endsWith('[*]')) key = key.slice(0, -3)
    if (!key.includes(')')) {
      const array = r.arrays.get(key)
      if (array !== undefined) return [...array]
    }
  }
  return [applyString(s, r.strings)]
}

export function applyList(list: readonly string[], r: Replacements): string[] {
  return list.flatMap((e) => applyArrayElement(e, r))
}

// `$(a.b.c)` or `$(a.b[0])` or `$(a[*])`: a reference that is the whole value.
const exactReference = /^\$\([_a-zA-Z0-9.-]+(\.[_a-zA-Z0-9.-]+)*(\[([0-9]+|\*)\])?\)$/

/**
 * Substitutes inside a param value (Tekton's Params.ReplaceVariables). A string
 * value that is exactly a reference to an array or object param takes that
 * param's type, so `value: $(params.flags[*])` passes an array on.
 */
export function applyToParamValue(value: ParamValue, r: Replacements): ParamValue {
  switch (value.type) {
    case 'array':
      return { type: 'array', array: applyList(value.array, r) }
    case 'object': {
      const object: Record<string, string> = {}
      for (const [k, v] of Object.entries(value.object)) object[k] = applyString(v, r.strings)
      return { type: 'object', object }
    }
    default: {
      const s = value.string
      if (!exactReference.test(s)) return { type: 'string', string: applyString(s, r.strings) }
      let key = s.slice(2, -1)
      if (key.endsWith('[*]')) key = key.slice(0, -3)
      let result: ParamValue = value
      if (r.strings.has(key)) result = { type: 'string', string: applyString(s, r.strings) }
      const array = r.arrays.get(key)
      if (array !== undefined) result = { type: 'array', array: applyList([s], r) }
      const object = r.objects.get(key)
      if (object !== undefined) result = { type: 'object', object: { ...object } }
      return result
    }
  }
}
