// The size and depth of a JSON value, measured before anything else walks
// it: every later stage recurses or copies, so a value past these bounds is
// refused here, in one pass with an explicit stack (a 10,000-deep value must
// not overflow the call stack of the check that is meant to catch it).

import { canonicalJson } from '../json/canonical.ts'
import { problem, type Problem } from '../problems/problem.ts'
import { limits } from './limits.ts'

// Anything but printable ASCII other than `"` and `\`: a character JSON escapes or UTF-8 writes in more than one byte.
const wideOrEscaped = /[^\x20\x21\x23-\x5b\x5d-\x7e]/

/** A string's size as JSON text in UTF-8, quotes included: control characters escape to 6 bytes, others take up to 3. */
function jsonBytes(s: string): number {
  const n = s.length
  // Keys and most values are short: a look at each character is faster than the pattern for them.
  if (n <= shortString) {
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i)
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return countedBytes(s)
    }
    return n + 2
  }
  return wideOrEscaped.test(s) ? countedBytes(s) : n + 2
}

const shortString = 64

function countedBytes(s: string): number {
  let bytes = 2
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 0x22 || c === 0x5c) bytes += 2
    else if (c < 0x20) bytes += 6
    else if (c < 0x80) bytes += 1
    else if (c < 0x800) bytes += 2
    // A surrogate half: the pair is 4 bytes in UTF-8, 2 per half (a lone one is escaped, 6: rare enough to count as 2).
    else if (c >= 0xd800 && c <= 0xdfff) bytes += 2
    else bytes += 3
  }
  return bytes
}

export interface Measure {
  /** The value's size as JSON text in UTF-8, near enough: strings and keys exactly, punctuation and numbers estimated. */
  bytes: number
  depth: number
}

/** What an object may be: stepsplice's limits objectBytes and depth. */
const objectBounds = { bytes: limits.objectBytes, depth: limits.depth }

/** The most JSON text spends on one UTF-16 code unit: a control character's `\u001f`. */
const mostBytesPerUnit = 6

/**
 * Measures `value`; stops early, with what it saw so far, once a bound is
 * passed. With `roughly`, a string longer than a key usually is counts at
 * its most, 6 bytes a character, without a look at its characters: `bytes`
 * is then at least the exact size, which is enough to tell that a value is
 * within a bound.
 */
export function measure(value: unknown, bound: { bytes: number; depth: number } = objectBounds, roughly = false): Measure {
  let bytes = 0
  let deepest = 0
  // Two stacks of plain values rather than one of frames: no allocation per value walked.
  const values: unknown[] = [value]
  const depths: number[] = [0]
  while (values.length > 0) {
    const v = values.pop()
    const depth = depths.pop() as number
    if (depth > deepest) deepest = depth
    if (bytes > bound.bytes || deepest > bound.depth) break
    if (typeof v === 'string') bytes += roughly && v.length > shortString ? mostBytesPerUnit * v.length + 2 : jsonBytes(v)
    else if (Array.isArray(v)) {
      bytes += 2 + v.length
      for (let i = 0; i < v.length; i++) {
        values.push(v[i])
        depths.push(depth + 1)
      }
    } else if (v !== null && typeof v === 'object') {
      // for…in builds no key list; these are plain objects (parsed, or built from parsed ones), nothing inherited to enumerate.
      bytes += 2
      for (const k in v) {
        bytes += jsonBytes(k) + 2
        values.push((v as Record<string, unknown>)[k])
        depths.push(depth + 1)
      }
    } else bytes += String(v).length
  }
  return { bytes, depth: deepest }
}

/** Problems of an object too large or too deep to expand; `what` names it in the message. */
export function checkSizeAndDepth(value: unknown, path: string, what: string): Problem[] {
  // Most objects are far within objectBytes even with each long string counted at its most: their text (a
  // script, an expanded run's provenance annotation full of escaped quotes) is then not read character by
  // character. Only an object the rough size does not clear is measured exactly.
  const rough = measure(value, objectBounds, true)
  const m = rough.bytes > limits.objectBytes ? measure(value) : rough
  const out: Problem[] = []
  if (m.bytes > limits.objectBytes) {
    out.push(problem(path, `${what} is larger than ${limits.objectBytes} bytes as JSON (limit objectBytes)`, { limit: 'objectBytes' }))
  }
  if (m.depth > limits.depth) out.push(problem(path, `${what} nests arrays and objects more than ${limits.depth} deep (limit depth)`, { limit: 'depth' }))
  return out
}

/** A problem when `count` items of a list pass `limit`. */
export function checkCount(count: number, limit: 'steps' | 'tasks' | 'params', path: string, what: string): Problem[] {
  return count > limits[limit] ? [problem(path, `${count} ${what}: more than the ${limits[limit]} stepsplice expands (limit ${limit})`, { limit })] : []
}

/** Canonical JSON of a value, to compare two by; undefined when it is absent, or too deep or large to compare safely. */
export function comparable(v: unknown): string | undefined {
  if (v === undefined) return undefined
  const m = measure(v)
  return m.depth > limits.depth || m.bytes > limits.objectBytes ? undefined : canonicalJson(v)
}
