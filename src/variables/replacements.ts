// Replacement tables and the single-pass substitution Tekton applies with Go's
// strings.Replacer. Keys are written without the surrounding `$( )`.
//
// Every key ends at its first `)`, so at any position at most one key can
// match; that lets one left-to-right scan reproduce strings.Replacer exactly,
// including that replaced text is never scanned again.

import { setMember } from '../json/values.ts'
import { mayReference, type ParamValue } from './param-value.ts'
import { isWholeReference } from './scan.ts'
import { Budget } from '../limits/budget.ts'
import { maxKeyLength } from '../limits/limits.ts'

/** What substitution needs of a table: a Map, or an Overlay of one. */
export interface Table<V> {
  get(key: string): V | undefined
  has(key: string): boolean
  set(key: string, value: V): unknown
  delete(key: string): boolean
  keys(): IterableIterator<string>
  /** Map's forEach: every entry, without building an iterator or a snapshot. */
  forEach(fn: (value: V, key: string) => void): void
  readonly size: number
  [Symbol.iterator](): IterableIterator<[string, V]>
}

/** The part of a table an Overlay reads. */
type ReadTable<V> = Pick<Table<V>, 'get' | 'has' | 'size' | 'forEach' | typeof Symbol.iterator>

export interface Replacements {
  strings: Table<string>
  arrays: Table<string[]>
  objects: Table<Record<string, string>>
}

/**
 * A table written over a shared one that stays as it is: a step's values
 * over its StepAction's defaults table, which every step and request naming
 * the StepAction shares. Copying that table for each step was a tenth of
 * expansion's time. Deleting a shared key hides it.
 */
export class Overlay<V> implements Table<V> {
  readonly #base: ReadTable<V>
  readonly #own = new Map<string, V>()
  #hidden: Set<string> | undefined

  constructor(base: ReadTable<V>) {
    this.#base = base
  }

  /** Counted when asked (only budgets ask): keeping a count made every write look in both tables. */
  get size(): number {
    return this.#entries().length
  }

  get(key: string): V | undefined {
    const own = this.#own.get(key)
    if (own !== undefined || this.#hidden?.has(key) === true) return own
    return this.#base.get(key)
  }

  has(key: string): boolean {
    return this.#own.has(key) || (this.#base.has(key) && this.#hidden?.has(key) !== true)
  }

  set(key: string, value: V): this {
    this.#own.set(key, value)
    this.#hidden?.delete(key)
    return this
  }

  delete(key: string): boolean {
    const had = this.has(key)
    this.#own.delete(key)
    if (this.#base.has(key)) {
      this.#hidden ??= new Set()
      this.#hidden.add(key)
    }
    return had
  }

  keys(): IterableIterator<string> {
    return this.#entries()
      .map((e) => e[0])
      .values()
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.#entries().values()
  }

  forEach(fn: (value: V, key: string) => void): void {
    const own = this.#own
    const hidden = this.#hidden
    this.#base.forEach((value, key) => {
      if (!own.has(key) && hidden?.has(key) !== true) fn(value, key)
    })
    own.forEach(fn)
  }

  /** A snapshot, so a caller may delete while walking (forgetParams). */
  #entries(): [string, V][] {
    const out: [string, V][] = []
    for (const entry of this.#base) if (!this.#own.has(entry[0]) && this.#hidden?.has(entry[0]) !== true) out.push(entry)
    for (const entry of this.#own) out.push(entry)
    return out
  }
}

/** A table that reads through to `base`, which it never changes. */
export function overlayOf(base: Replacements): Replacements {
  return { strings: new Overlay(base.strings), arrays: new Overlay(base.arrays), objects: new Overlay(base.objects) }
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

/**
 * A param's keys: its four spellings, and the keys of its elements
 * (`params.x[3]` in each spelling) and of its object's members
 * (`params.x.key`, the dot form only). A compiled definition holds one per
 * param, so the keys a step writes are the same strings every time, hashed
 * once, instead of new ones built per element, step and request. What is
 * kept is bounded by the definition, never by requests: the members its
 * properties declare, and the first few indexes of a short name; other keys
 * are built as needed.
 */
export class ParamKeys {
  readonly name: string
  readonly spellings: readonly string[]
  /** The dot spelling alone, `params.x`. */
  readonly dot: readonly string[]
  readonly #indexed: (readonly string[])[] = []
  readonly #members: ReadonlyMap<string, string>

  constructor(name: string, properties: Iterable<string> = []) {
    this.name = name
    this.spellings = paramKeys(name)
    this.dot = this.spellings.slice(0, 1)
    const members = new Map<string, string>()
    for (const key of properties) members.set(key, `params.${name}.${key}`)
    this.#members = members
  }

  /** `params.x[i]` in each spelling. */
  indexed(i: number): readonly string[] {
    const held = this.#indexed[i]
    if (held !== undefined) return held
    const keys = this.spellings.map((k) => `${k}[${i}]`)
    if (i < cachedIndexes && i === this.#indexed.length && this.name.length <= cachedNameLength) this.#indexed.push(keys)
    return keys
  }

  /** `params.x.key`. */
  member(key: string): string {
    return this.#members.get(key) ?? `params.${this.name}.${key}`
  }
}

/**
 * Every key substitution of some texts can look up: what applyString may ask
 * of the strings table (the text between each `$(` and the `)` after it,
 * whether or not an earlier one was replaced), and what applyArrayElement may
 * ask of the arrays table (a whole element `$(key)` or `$(key[*])`). A
 * StepAction's step is substituted from one table and read by nothing else,
 * so a key outside these is written for nobody: worked out once per
 * definition, it lets a step write only the keys its definition reads
 * (addParamValue).
 */
export class KeyReads {
  readonly strings = new Set<string>()
  readonly arrays = new Set<string>()
  /**
   * More distinct keys than any real definition reads (maxReadKeys): the
   * filter is given up on and every key is written, as without one. What a
   * definition's text can make this hold is bounded, not its whole text.
   */
  readonly readsAll: boolean
  /** Each string key read, cut at its last `[`: `params.x[3]` → `params.x`. */
  #bases: Set<string> | undefined

  constructor(texts: Iterable<string>, elements: Iterable<string>) {
    let all = false
    scan: for (const s of texts) {
      // As applyString scans: the next `)` is found with a cursor that only moves forward, so the scan is linear.
      let end = -1
      for (let start = s.indexOf('$('); start >= 0; start = s.indexOf('$(', start + 1)) {
        if (end < start + 2) end = s.indexOf(')', start + 2)
        if (end < 0) break
        if (end - start - 2 > maxKeyLength) continue
        this.strings.add(s.slice(start + 2, end))
        if (this.strings.size > maxReadKeys) {
          all = true
          break scan
        }
      }
    }
    for (const s of all ? [] : elements) {
      if (!s.startsWith('$(') || !s.endsWith(')')) continue
      let key = s.slice(2, -1)
      if (key.endsWith('[*]')) key = key.slice(0, -3)
      if (!key.includes(')')) this.arrays.add(key)
    }
    this.readsAll = all
  }

  /** Whether any key read is `params.x[i]`, in any spelling, of this param (`[*]` is no element's key). */
  readsIndexes(keys: ParamKeys): boolean {
    if (this.#bases === undefined) {
      this.#bases = new Set()
      for (const key of this.strings) {
        const bracket = key.lastIndexOf('[')
        if (bracket > 0 && indexSuffix.test(key.slice(bracket))) this.#bases.add(key.slice(0, bracket))
      }
    }
    const bases = this.#bases
    return keys.spellings.some((base) => bases.has(base))
  }
}

/** What ParamKeys.indexed puts after a spelling: `[` and the index in decimal, as written for every element. */
const indexSuffix = /^\[\d+\]$/

/** Distinct keys past which a definition's step reads "everything" (KeyReads.readsAll). */
const maxReadKeys = 4096

const cachedIndexes = 8
const cachedNameLength = 64

/**
 * Adds the keys for one param value to `r`, overwriting what was there, or
 * with `merging`, merging an object value key by key over the one there and
 * charging what mergeInto charges for the entries: what building a table and
 * then merging it does, without the table in between.
 */
export function addParamValue(
  r: Replacements,
  name: string,
  value: ParamValue,
  budget: Budget = Budget.unlimited,
  keys: ParamKeys = new ParamKeys(name),
  merging = false,
  reads?: KeyReads,
): void {
  if (merging) budget.spend(entriesOf(value) * entryCost)
  const filter = reads?.readsAll === true ? undefined : reads
  const dot = keys.dot[0] as string
  switch (value.type) {
    case 'array': {
      let size = 0
      for (const element of value.array) size += element.length + entryCost
      budget.spend(4 * (size + name.length + entryCost))
      const array = value.array
      if (filter === undefined || filter.readsIndexes(keys)) {
        for (let i = 0; i < array.length; i++) {
          const element = array[i] as string
          for (const key of keys.indexed(i)) if (filter === undefined || filter.strings.has(key)) r.strings.set(key, element)
        }
      }
      for (const key of keys.spellings) if (written(key, dot, filter?.arrays)) r.arrays.set(key, array)
      break
    }
    case 'object': {
      let size = 0
      const entries = Object.entries(value.object)
      for (const [k, v] of entries) size += k.length + v.length + entryCost
      budget.spend(5 * (size + name.length + entryCost))
      // Spellings over the same object (all four, usually) share one result: tables are never changed in place.
      let over: Record<string, string> | undefined | null = null
      let result: Record<string, string> = {}
      // A step's table is never asked for an object (KeyReads): with `filter`, the dot form stands for all.
      for (const key of filter === undefined ? keys.spellings : keys.dot) {
        const existing = merging ? r.objects.get(key) : undefined
        if (existing !== over) {
          over = existing
          result = existing === undefined ? { ...value.object } : { ...existing, ...value.object }
        }
        r.objects.set(key, result)
      }
      // Individual keys exist only in the dot form, as in Tekton. Written whether read or not: a member's key is
      // also the dot form of a param named `x.k`, and typeMismatches must see the two meet, as Tekton's check does.
      for (const [k, v] of entries) r.strings.set(keys.member(k), v)
      break
    }
    default:
      budget.spend(4 * (value.string.length + name.length + entryCost))
      for (const key of keys.spellings) if (written(key, dot, filter?.strings)) r.strings.set(key, value.string)
  }
}

/**
 * Whether a whole param's spelling is written: always without `read` (the keys a step reads); with it, when
 * read, and always the dot form, by which typeMismatches finds a param in both the strings and arrays tables
 * (every spelling is written and forgotten together, so the dot form decides).
 */
function written(key: string, dot: string, read: ReadonlySet<string> | undefined): boolean {
  return read === undefined || key === dot || read.has(key)
}

/** The entries one value adds to a table: each spelling, an array's elements in each, an object's members. */
function entriesOf(value: ParamValue): number {
  return value.type === 'array' ? 4 * (value.array.length + 1) : value.type === 'object' ? 4 + Object.keys(value.object).length : 4
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
export function applyString(s: string, strings: Pick<Table<string>, 'get'>, budget: Budget = Budget.unlimited): string {
  let start = s.indexOf('$(')
  if (start < 0) return s
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
  const out: string[] = []
  for (const e of list) {
    // Most elements reference nothing: no array to build for them.
    if (!e.includes('$(')) out.push(e)
    else for (const piece of applyArrayElement(e, r, budget)) out.push(piece)
  }
  return out
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
      // A member named __proto__ stays a member, whether or not its value changes (setMember).
      for (const [k, v] of Object.entries(value.object)) setMember(object, k, applyString(v, r.strings, budget))
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

/** `value` with each table of `layers` applied in turn; the value itself when it holds no reference, as most do. */
export function applyLayers(value: ParamValue, layers: readonly Replacements[], budget: Budget = Budget.unlimited): ParamValue {
  if (!mayReference(value)) return value
  let out = value
  for (const layer of layers) out = applyToParamValue(out, layer, budget)
  return out
}
