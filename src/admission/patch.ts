// The JSON patch that turns what the API server sent into what we want.
// Diffing (rather than hand-writing operations) keeps the patch minimal and
// makes "nothing changed" an empty patch, which is how reinvocation stays a
// no-op.
//
// The operations are fast-json-patch's `compare`, step for step (old keys
// from the last, then the new ones; an unchanged subtree, the same object on
// both sides, skipped at once), generated here instead for two reasons:
// compare copies every value it adds with JSON.parse(JSON.stringify(…)),
// which rounds an int64 past 2^53 (a raw number, see json/raw-number.ts) and
// was the largest single cost of answering under load; and it walks into a
// raw number as into an object. Here a raw number is a leaf compared by its
// digits, and each operation's value is the new document's own, serialised
// once when the patch is encoded.

import type { Operation } from 'fast-json-patch'
import { isRawNumber } from '../json/raw-number.ts'
import { isJsonObject } from '../json/values.ts'
import type { Base64 } from '../types/admission.ts'

const nameOf = (v: unknown): unknown => (isJsonObject(v) ? v.name : undefined)

/** RFC 6901: `~` and `/` escaped in a path segment. */
const escaped = (key: string): string => (key.includes('~') || key.includes('/') ? key.replaceAll('~', '~0').replaceAll('/', '~1') : key)

/** A value compare walks into: an object or array, not a raw number. */
const isContainer = (v: unknown): v is Record<string, unknown> | unknown[] => typeof v === 'object' && v !== null && !isRawNumber(v)

/** Equal leaves: the same value, or raw numbers of the same digits. */
const sameLeaf = (a: unknown, b: unknown): boolean => a === b || (isRawNumber(a) && isRawNumber(b) && a.rawJSON === b.rawJSON)

/**
 * Whether compare would replace this pair whole rather than walk into it: a
 * list element that is a different named thing (a container `init0` where
 * `step-s0` now stands, when steps go first). Walking in would give the same
 * content with its keys in another order: admission would differ from
 * render in bytes, and the patch would be hard to read.
 */
const renamed = (inList: boolean, a: unknown, b: unknown): boolean => {
  if (!inList) return false
  const na = nameOf(a)
  const nb = nameOf(b)
  return typeof na === 'string' && typeof nb === 'string' && na !== nb
}

function generate(before: Record<string, unknown> | unknown[], after: Record<string, unknown> | unknown[], path: string, ops: Operation[]): void {
  if (before === after) return
  const list = Array.isArray(before)
  const oldKeys = list ? Array.from(before.keys(), String) : Object.keys(before)
  const newKeys = Array.isArray(after) ? Array.from(after.keys(), String) : Object.keys(after)
  const b = before as Record<string, unknown>
  const a = after as Record<string, unknown>
  let deleted = false
  for (let t = oldKeys.length - 1; t >= 0; t--) {
    const key = oldKeys[t] as string
    const oldVal = b[key]
    const at = `${path}/${escaped(key)}`
    if (Object.hasOwn(a, key) && !(a[key] === undefined && oldVal !== undefined && !Array.isArray(after))) {
      const newVal = a[key]
      if (isContainer(oldVal) && isContainer(newVal) && Array.isArray(oldVal) === Array.isArray(newVal) && !renamed(list, oldVal, newVal))
        generate(oldVal, newVal, at, ops)
      else if (!sameLeaf(oldVal, newVal) || renamed(list, oldVal, newVal)) ops.push({ op: 'replace', path: at, value: newVal ?? null })
    } else {
      ops.push({ op: 'remove', path: at })
      deleted = true
    }
  }
  if (!deleted && newKeys.length === oldKeys.length) return
  for (const key of newKeys) {
    if (!Object.hasOwn(b, key) && a[key] !== undefined) ops.push({ op: 'add', path: `${path}/${escaped(key)}`, value: a[key] })
  }
}

export function diffPatch(before: unknown, after: unknown): Operation[] {
  const ops: Operation[] = []
  if (isContainer(before) && isContainer(after) && Array.isArray(before) === Array.isArray(after)) generate(before, after, '', ops)
  else if (!sameLeaf(before, after)) ops.push({ op: 'replace', path: '', value: after ?? null })
  return ops
}

/** The patch as the response carries it: base64 of its JSON, and the JSON's size in bytes. */
export function encodePatch(ops: Operation[]): { base64: Base64; bytes: number } {
  const json = Buffer.from(JSON.stringify(ops))
  return { base64: json.toString('base64') as Base64, bytes: json.length }
}
