// Cost measured as work done, never as time: while a function runs, the
// String.prototype methods that scanning code leans on are wrapped to count
// the characters they go over. A count does not depend on the machine, so a
// test can compare the work at two input sizes exactly.

export interface Work {
  /** Characters `indexOf` advanced over: from its start to the match, or to the end when there is none. */
  indexOf: number
  /** indexOf's count plus `includes` (counted the same way), `charCodeAt` (one per call) and `slice` (characters copied). */
  total: number
}

/** Where a search that starts at `position` really starts, as the specification clamps it. */
function startOf(position: unknown, length: number): number {
  const n = Math.trunc(Number(position ?? 0))
  return Number.isNaN(n) ? 0 : Math.min(Math.max(n, 0), length)
}

/**
 * Runs `fn` with the counters installed and restores the originals after,
 * whatever happens. The wrappers call only the saved originals, so counting
 * never counts itself.
 */
export function countWork<T>(fn: () => T): { result: T; work: Work } {
  const proto = String.prototype
  const { indexOf, includes, charCodeAt, slice } = proto
  const work: Work = { indexOf: 0, total: 0 }
  const advanced = (text: string, found: number, position: unknown): number => (found < 0 ? text.length : found) - startOf(position, text.length)
  proto.indexOf = function (this: string, search: string, position?: number): number {
    const found = indexOf.call(this, search, position)
    const n = advanced(String(this), found, position)
    work.indexOf += n
    work.total += n
    return found
  }
  proto.includes = function (this: string, search: string, position?: number): boolean {
    const text = String(this)
    work.total += advanced(text, indexOf.call(text, search, position), position)
    return includes.call(this, search, position)
  }
  proto.charCodeAt = function (this: string, index: number): number {
    work.total += 1
    return charCodeAt.call(this, index)
  }
  proto.slice = function (this: string, start?: number, end?: number): string {
    const out = slice.call(this, start, end)
    work.total += out.length
    return out
  }
  try {
    return { result: fn(), work }
  } finally {
    Object.assign(proto, { indexOf, includes, charCodeAt, slice })
  }
}
