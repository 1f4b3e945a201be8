// JSON values: copying, changing one place without touching the input, and
// telling objects from lists. Objects here came from JSON or YAML, so a plain
// recursive copy is exact, and several times faster than structuredClone on
// the small objects the admission path handles. A raw number (an int64 past
// 2^53, see raw-number.ts) is a leaf: immutable, so shared, never copied.

import { isRawNumber } from './raw-number.ts'

export function cloneJson<T>(value: T): T {
  if (typeof value !== 'object' || value === null || isRawNumber(value)) return value
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length)
    for (let i = 0; i < value.length; i++) out[i] = cloneJson(value[i])
    return out as T
  }
  // for…in builds no list of entries; a JSON object has nothing inherited to enumerate.
  const out: Record<string, unknown> = {}
  for (const k in value) out[k] = cloneJson((value as Record<string, unknown>)[k])
  return out as T
}

/**
 * Sets `key` on `target` as JSON.parse would: as an own member, also when the
 * key is `__proto__`, which an assignment would take for the prototype.
 */
export function setMember(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  else target[key] = value
}

/**
 * `parts` as one string stored flat. V8 keeps the result of `+` (or a
 * template) of 13 characters or more as a node pointing at its two parts,
 * 32 bytes each, until something reads it whole, so a string a catalog holds
 * per definition (its digest, the path it was read from) would be a chain of
 * them; join() builds it in one piece.
 */
export function flatConcat(...parts: string[]): string {
  return parts.join('')
}

/**
 * A copy of a parsed value to keep: strings copied too. A parser's strings
 * may be slices of the text it read (V8 slices what is 13 characters or
 * more), and one such string kept alive keeps the whole text: a catalog of
 * 10,000 definitions held every file it read, a fifth of its memory. Only
 * lists and plain objects are copied: anything else a YAML tag made (the
 * bytes of a `!!binary`) is kept as it is.
 */
export function detachedJson<T>(value: T): T {
  if (typeof value === 'string') return (value.length < 13 ? value : JSON.parse(JSON.stringify(value))) as T
  if (typeof value !== 'object' || value === null || isRawNumber(value)) return value
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length)
    for (let i = 0; i < value.length; i++) out[i] = detachedJson(value[i])
    return out as T
  }
  const prototype = Object.getPrototypeOf(value)
  if (prototype !== Object.prototype && prototype !== null) return value
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(value)) setMember(out, k, detachedJson((value as Record<string, unknown>)[k]))
  return out as T
}

/**
 * A copy of `root` with `value` at `segments`: only the containers along the
 * path are copied, everything else is shared with the input. The input is
 * never modified, and untouched subtrees cost nothing.
 */
export function withValueAt<T>(root: T, segments: readonly (string | number)[], value: unknown): T {
  if (segments.length === 0) return value as T
  const [head, ...rest] = segments as [string | number, ...(string | number)[]]
  const container = root as unknown as Record<string | number, unknown>
  // Writing below a leaf (a raw number among them) replaces it with an object.
  const copy = (Array.isArray(root) ? [...(root as unknown[])] : isJsonObject(root) ? { ...container } : {}) as Record<string | number, unknown>
  copy[head] = withValueAt(container[head], rest, value)
  return copy as T
}

/** The segments of a field path as stepsplice writes them: `spec.taskSpec.steps[1]` → spec, taskSpec, steps, 1. */
export function pathSegments(path: string): (string | number)[] {
  return [...path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => m[1] ?? Number(m[2]))
}

/** The value at a field path (`spec.taskSpec.steps[1]`), or undefined. */
export function valueAtPath(root: unknown, path: string): unknown {
  let v = root
  for (const key of pathSegments(path)) {
    v = isJsonObject(v) || Array.isArray(v) ? (v as Record<string | number, unknown>)[key] : undefined
    if (v === undefined) return undefined
  }
  return v
}

/** A JSON object: not null, not an array, not a raw number. */
export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !isRawNumber(v)
}

/** The list `v` is, or an empty one: user input may hold anything where a list belongs. */
export function asList<T>(v: unknown): T[] {
  return Array.isArray(v) ? (v as T[]) : []
}
