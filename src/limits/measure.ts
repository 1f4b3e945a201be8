// The size and depth of a JSON value, measured before anything else walks
// it: every later stage recurses or copies, so a value past these bounds is
// refused here, in one pass with an explicit stack (a 10,000-deep value must
// not overflow the call stack of the check that is meant to catch it).

import { problem, type Problem } from '../problems/problem.ts'
import { limits } from './limits.ts'

export interface Measure {
  /** An estimate of the value's JSON size: strings, keys and punctuation. */
  bytes: number
  depth: number
}

/** Measures `value`; stops early, with what it saw so far, once a bound is passed. */
export function measure(value: unknown, bound: { bytes: number; depth: number } = { bytes: limits.objectBytes, depth: limits.depth }): Measure {
  let bytes = 0
  let deepest = 0
  const stack: { v: unknown; depth: number }[] = [{ v: value, depth: 0 }]
  while (stack.length > 0) {
    const { v, depth } = stack.pop() as { v: unknown; depth: number }
    if (depth > deepest) deepest = depth
    if (bytes > bound.bytes || deepest > bound.depth) break
    if (typeof v === 'string') bytes += v.length + 2
    else if (Array.isArray(v)) {
      bytes += 2 + v.length
      for (const e of v) stack.push({ v: e, depth: depth + 1 })
    } else if (v !== null && typeof v === 'object') {
      const entries = Object.entries(v)
      bytes += 2 + entries.length
      for (const [k, e] of entries) {
        bytes += k.length + 3
        stack.push({ v: e, depth: depth + 1 })
      }
    } else bytes += String(v).length
  }
  return { bytes, depth: deepest }
}

/** Problems of an object too large or too deep to expand; `what` names it in the message. */
export function checkSizeAndDepth(value: unknown, path: string, what: string): Problem[] {
  const m = measure(value)
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
