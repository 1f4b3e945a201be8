// The JSON patch that turns what the API server sent into what we want.
// Diffing (rather than hand-writing operations) keeps the patch minimal and
// makes "nothing changed" an empty patch, which is how reinvocation stays a
// no-op.
//
// fast-json-patch would round an int64 past 2^53 (a raw number, see
// json/raw-number.ts) once more: it copies each operation's value with
// JSON.parse(JSON.stringify(…)), and it walks into a raw number as into an
// object. So it diffs views in which each raw number is a symbol, one per
// digits, and every value is then taken from the new document itself.

import fastJsonPatch from 'fast-json-patch'
import type { Operation } from 'fast-json-patch'
import { isRawNumber } from '../json/raw-number.ts'
import { isJsonObject } from '../json/values.ts'

/** `value` with each raw number replaced by its digits' symbol; what holds none is shared, not copied. */
function withSymbols(value: unknown, symbols: Map<string, symbol>): unknown {
  if (isRawNumber(value)) {
    const known = symbols.get(value.rawJSON)
    if (known !== undefined) return known
    const symbol = Symbol(value.rawJSON)
    symbols.set(value.rawJSON, symbol)
    return symbol
  }
  if (Array.isArray(value)) {
    const view = value.map((v: unknown) => withSymbols(v, symbols))
    return view.some((v, i) => v !== value[i]) ? view : value
  }
  if (isJsonObject(value)) {
    let view: Record<string, unknown> | undefined
    for (const [k, v] of Object.entries(value)) {
      const w = withSymbols(v, symbols)
      if (w === v) continue
      view ??= { ...value }
      view[k] = w
    }
    return view ?? value
  }
  return value
}

/** What a JSON pointer the diff produced points at. */
function valueAt(root: unknown, pointer: string): unknown {
  let at = root
  for (const token of pointer.split('/').slice(1)) {
    at = (at as Record<string, unknown> | undefined)?.[token.replaceAll('~1', '/').replaceAll('~0', '~')]
  }
  return at
}

const nameOf = (v: unknown): unknown => (isJsonObject(v) ? v.name : undefined)

/**
 * `before` with each list element that is a different named thing in
 * `after` (a container `init0` where `step-s0` now stands, when steps go
 * first) replaced by a marker, so the diff replaces that element whole
 * instead of turning one container into another field by field. That would
 * give the same content with its keys in another order: admission would
 * differ from render in bytes, and the patch would be hard to read.
 */
function markRenamed(before: unknown, after: unknown): unknown {
  if (Array.isArray(before) && Array.isArray(after)) {
    let view: unknown[] | undefined
    for (const [i, b] of before.entries()) {
      if (i >= after.length) break
      const a = after[i]
      const nb = nameOf(b)
      const na = nameOf(a)
      const w = typeof nb === 'string' && typeof na === 'string' && nb !== na ? Symbol('renamed') : markRenamed(b, a)
      if (w === b) continue
      view ??= [...before]
      view[i] = w
    }
    return view ?? before
  }
  if (isJsonObject(before) && isJsonObject(after)) {
    let view: Record<string, unknown> | undefined
    for (const [k, b] of Object.entries(before)) {
      if (!(k in after)) continue
      const w = markRenamed(b, after[k])
      if (w === b) continue
      view ??= { ...before }
      view[k] = w
    }
    return view ?? before
  }
  return before
}

export function diffPatch(before: unknown, after: unknown): Operation[] {
  const symbols = new Map<string, symbol>()
  const afterView = withSymbols(after, symbols)
  const ops = fastJsonPatch.compare(markRenamed(withSymbols(before, symbols), afterView) as object, afterView as object)
  // Undefined becomes null, as in fast-json-patch's own copy.
  for (const op of ops) if (op.op === 'add' || op.op === 'replace') op.value = valueAt(after, op.path) ?? null
  return ops
}

/** The patch as the response carries it: base64 of its JSON, and the JSON's size in bytes. */
export function encodePatch(ops: Operation[]): { base64: string; bytes: number } {
  const json = Buffer.from(JSON.stringify(ops))
  return { base64: json.toString('base64'), bytes: json.length }
}
