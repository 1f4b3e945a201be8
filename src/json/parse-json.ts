// JSON.parse for request bodies, without its two surprises. Integers past 2^53
// keep their digits (as raw numbers, see raw-number.ts) instead of rounding,
// since Kubernetes stores int64. Keys that can reach an object's prototype are
// dropped, as fastify's own parser does with onProtoPoisoning and
// onConstructorPoisoning set to 'remove': `__proto__`, and `constructor` when
// its value has a `prototype`.

import { integerValue } from './raw-number.ts'

const integerText = /^-?\d+$/

/** `"word"` as JSON text may spell it: any character may be a \u escape. */
function quoted(word: string): RegExp {
  const chars = [...word].map((c) => `(?:${c}|\\\\u00${c.charCodeAt(0).toString(16)})`)
  return new RegExp(`"${chars.join('')}"`, 'i')
}

// What the text must contain for the value to need reviving: a run of 16 digits
// (2^53 has 16; an integer written with fewer is exact as a double) or one of the two keys.
const manyDigits = /\d{16}/
const escapedKeys = [quoted('__proto__'), quoted('constructor')]

/**
 * Whether the text may hold what `revive` changes. Text without a `\u`
 * escape can only spell the keys as they are, which plain searches find: the
 * patterns that allow an escape for every character took 7 µs of every
 * request's 10, a pass-through Pod's.
 */
function suspect(body: string): boolean {
  if (manyDigits.test(body)) return true
  if (body.includes('\\u')) return escapedKeys.some((r) => r.test(body))
  return body.includes('"__proto__"') || body.includes('"constructor"')
}

/** An integer a double may have rounded: 2^53 or more in magnitude. */
const mayBeRounded = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && !Number.isSafeInteger(v)

const poisons = (key: string, value: unknown): boolean =>
  key === '__proto__' || (key === 'constructor' && typeof value === 'object' && value !== null && Object.hasOwn(value, 'prototype'))

function revive(key: string, value: unknown, context?: { source?: string }): unknown {
  if (poisons(key, value)) return undefined
  const source = context?.source
  if (mayBeRounded(value) && source !== undefined && integerText.test(source)) return integerValue(BigInt(source))
  return value
}

/** Whether `root` holds a number or a key `revive` would change. Iterative: JSON may nest deeper than the stack. */
function needsReviver(root: unknown): boolean {
  const pending: { v: unknown; depth: number }[] = [{ v: root, depth: 0 }]
  let needed = false
  while (pending.length > 0) {
    const { v, depth } = pending.pop() as { v: unknown; depth: number }
    if (mayBeRounded(v)) needed = true
    if (typeof v !== 'object' || v === null) continue
    // JSON.parse's reviver recurses: past this depth it would overflow the stack on valid JSON. A value that
    // deep is refused by the depth limit before anything reads it (limits/), so it needs no reviving.
    if (depth > maxReviveDepth) return false
    if (Array.isArray(v)) {
      for (const child of v) if (typeof child === 'object' || typeof child === 'number') pending.push({ v: child, depth: depth + 1 })
      continue
    }
    const object = v as Record<string, unknown>
    for (const key in object) {
      const child = object[key]
      if (poisons(key, child)) needed = true
      if (typeof child === 'object' || typeof child === 'number') pending.push({ v: child, depth: depth + 1 })
    }
  }
  return needed
}

const maxReviveDepth = 1000

/** Parses JSON text, throwing a SyntaxError when it is not JSON. */
export function parseJson(text: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  const value: unknown = JSON.parse(body)
  // A reviver costs several times the parse, and most bodies need nothing it
  // does: the text says cheaply when one may, the parsed value for certain.
  if (!suspect(body) || !needsReviver(value)) return value
  return JSON.parse(body, revive)
}
