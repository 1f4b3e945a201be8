// Replacement tables and the single-pass substitution Tekton applies with Go's
// strings.Replacer. Keys are written without the surrounding `$( )`.
//
// Every key ends at its first `)`, so at any position at most one key can
// match; that lets one left-to-right scan reproduce strings.Replacer exactly,
// including that replaced text is never scanned again.

import type { ParamValue } from './param-value.ts'
import { isWholeReference } from './scan.ts'
import { Budget } from '../limits/budget.ts'
import { maxKeyLength } from '../limits/limits.ts'

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

// Building and copying tables is work the input decides too (an array of
// 20,000 elements gets four keys per element, in every step that uses it),
// so it draws on the request's budget like substitution does: each entry
// costs its key and value, as if written out.
const entryCost = 16

/** Adds the keys for one param value to `r`, overwriting what was there. */
export function addParamValue(r: Replacements, name: string, value: ParamValue, budget: Budget = Budget.unlimited): void {
  switch (value.type) {
    case 'array': {
      let size = 0
      for (const element of value.array) size += element.length + entryCost
      budget.spend(4 * (size + name.length + entryCost))
      for (const key of paramKeys(name)) {
        for (const [i, element] of value.array.entries()) r.strings.set(`${key}[${i}]`, element)
        r.arrays.set(key, value.array)
      }
      break
    }
    case 'object': {
      let size = 0
      for (const [k, v] of Object.entries(value.object)) size += k.length + v.length + entryCost
      budget.spend(5 * (size + name.length + entryCost))
      for (const key of paramKeys(name)) r.objects.set(key, { ...value.object })
      // Individual keys exist only in the dot form, as in Tekton.
      for (const [k, v] of Object.entries(value.object)) r.strings.set(`params.${name}.${k}`, v)
      break
    }
    default:
      budget.spend(4 * (value.string.length + name.length + entryCost))
      for (const key of paramKeys(name)) r.strings.set(key, value.string)
  }
}

export function replacementsFromParams(params: readonly { name: string; value: ParamValue }[], budget: Budget = Budget.unlimited): Replacements {
  const r = emptyReplacements()
  for (const p of params) addParamValue(r, p.name, p.value, budget)
  return r
}

/** Later values win; object values merge key by key. */
export function mergeInto(target: Replacements, source: Replacements, budget: Budget = Budget.unlimited): void {
  budget.spend((source.strings.size + source.arrays.size + source.objects.size) * entryCost)
  for (const [k, v] of source.strings) target.strings.set(k, v)
  for (const [k, v] of source.arrays) target.arrays.set(k, v)
  for (const [k, v] of source.objects) {
    const existing = target.objects.get(k)
    target.objects.set(k, existing === undefined ? { ...v } : { ...existing, ...v })
  }
}

/** The param a replacement key belongs to: `params.x`, `params["x"][0]`, `inputs.params.x`, `params.x.key` all name `x`. */
function paramOfKey(key: string): string | undefined {
  const rest = key.startsWith('params') ? key.slice(6) : key.startsWith('inputs.params') ? key.slice(13) : undefined
  if (rest === undefined) return undefined
  if (rest.startsWith('.')) {
    // A name may hold dots (`a.b` is a valid string param name), so every dot-delimited prefix is a candidate; the caller checks each.
    return rest.slice(1)
  }
  for (const quote of ['"', "'"]) {
    if (rest.startsWith(`[${quote}`)) {
      const close = rest.indexOf(`${quote}]`, 2)
      return close < 0 ? undefined : rest.slice(2, close)
    }
  }
  return undefined
}

/**
 * Forgets every key of the named params, so references to them stay as
 * written for Tekton to fill in. One pass over the table, however many names.
 */
export function forgetParams(r: Replacements, names: Iterable<string>): void {
  const forget = new Set(names)
  if (forget.size === 0) return
  const belongs = (key: string): boolean => {
    const candidate = paramOfKey(key)
    if (candidate === undefined) return false
    if (forget.has(candidate)) return true
    // `params.x[0]`, `params.x.key`, `params.a.b` for a name `a.b`: try each prefix up to `.` or `[`.
    for (let i = 0; i < candidate.length; i++) {
      const c = candidate[i]
      if ((c === '.' || c === '[') && forget.has(candidate.slice(0, i))) return true
    }
    return false
  }
  for (const table of [r.strings, r.arrays, r.objects]) {
    for (const key of table.keys()) if (belongs(key)) table.delete(key)
  }
}

/**
 * Replaces every `$(key)` found in `s`, in one pass. Unknown references stay
 * as written. Linear in `s`: the next `)` is found with a cursor that only
 * moves forward, and a candidate longer than any key (maxKeyLength) is
 * skipped without being copied out and hashed; otherwise text like
 * `$($($(…)` made every candidate copy the rest of the text.
 */
export function applyString(s: string, strings: ReadonlyMap<string, string>, budget: Budget = Budget.unlimited): string {
  let start = s.indexOf('$(')
  if (start < 0 || strings.size === 0) return s
  let out = ''
  let copied = 0
  let end = -1
  while (start >= 0) {
    if (end < start + 2) end = s.indexOf(')', start + 2)
    if (end < 0) break
    const replacement = end - start - 2 <= maxKeyLength ? strings.get(s.slice(start + 2, end)) : undefined
    if (replacement !== undefined) {
      budget.spend(replacement.length)
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
export function applyArrayElement(s: string, r: Replacements, budget: Budget = Budget.unlimited): string[] {
  if (s.startsWith('$(') && s.endsWith(')')) {
    let key = s.slice(2, -1)
    if (key.endsWith('[*]')) key = key.slice(0, -3)
    if (!key.includes(')')) {
      const array = r.arrays.get(key)
      if (array !== undefined) {
        let size = 0
        for (const element of array) size += element.length + entryCost
        budget.spend(size)
        return [...array]
      }
    }
  }
  return [applyString(s, r.strings, budget)]
}

export function applyList(list: readonly string[], r: Replacements, budget: Budget = Budget.unlimited): string[] {
  return list.flatMap((e) => applyArrayElement(e, r, budget))
}

/**
 * Substitutes inside a param value (Tekton's Params.ReplaceVariables). A string
 * value that is exactly a reference to an array or object param takes that
 * param's type, so `value: $(params.flags[*])` passes an array on.
 */
export function applyToParamValue(value: ParamValue, r: Replacements, budget: Budget = Budget.unlimited): ParamValue {
  switch (value.type) {
    case 'array':
      return { type: 'array', array: applyList(value.array, r, budget) }
    case 'object': {
      const object: Record<string, string> = {}
      for (const [k, v] of Object.entries(value.object)) object[k] = applyString(v, r.strings, budget)
      return { type: 'object', object }
    }
    default: {
      const s = value.string
      if (!isWholeReference(s)) return { type: 'string', string: applyString(s, r.strings, budget) }
      let key = s.slice(2, -1)
      if (key.endsWith('[*]')) key = key.slice(0, -3)
      let result: ParamValue = value
      if (r.strings.has(key)) result = { type: 'string', string: applyString(s, r.strings, budget) }
      const array = r.arrays.get(key)
      if (array !== undefined) result = { type: 'array', array: applyList([s], r, budget) }
      const object = r.objects.get(key)
      if (object !== undefined) result = { type: 'object', object: { ...object } }
      return result
    }
  }
}
