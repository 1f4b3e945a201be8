// A unified diff of two texts, line by line, for `render --diff`: what
// admission changes in an object, as `diff -u` would print it.
//
// The edit script is Myers' O(ND) difference in its linear-space form (the
// middle snake found from both ends, then each half on its own), after the
// common head and tail are set aside. It is minimal while the work stays
// under a budget; a part still unsolved when the budget runs out becomes
// "delete these lines, insert those", which is still a correct diff, so no
// input, however different the two sides, takes long or much memory.

export interface DiffOptions {
  /** Names after `--- ` and `+++ `. */
  from: string
  to: string
  /** Unchanged lines around each change (default 3). */
  context?: number
  /** Comparisons allowed before the rest is diffed coarsely (default 50 million). */
  budget?: number
}

/** A run of lines the two sides share: a[aStart…aStart+length) = b[bStart…bStart+length). */
interface Common {
  aStart: number
  bStart: number
  length: number
}

interface Lines {
  lines: string[]
  /** The text ends without a newline after its last line. */
  noFinalNewline: boolean
}

function splitLines(text: string): Lines {
  if (text === '') return { lines: [], noFinalNewline: false }
  const noFinalNewline = !text.endsWith('\n')
  return { lines: (noFinalNewline ? text : text.slice(0, -1)).split('\n'), noFinalNewline }
}

class Differ {
  readonly #a: Int32Array
  readonly #b: Int32Array
  #budget: number
  readonly common: Common[] = []

  constructor(a: Int32Array, b: Int32Array, budget: number) {
    this.#a = a
    this.#b = b
    this.#budget = budget
  }

  #keep(aStart: number, bStart: number, length: number): void {
    if (length === 0) return
    const last = this.common.at(-1)
    if (last !== undefined && last.aStart + last.length === aStart && last.bStart + last.length === bStart) last.length += length
    else this.common.push({ aStart, bStart, length })
  }

  /** Finds what a[aLo…aHi) and b[bLo…bHi) share, in order. */
  diff(aLo: number, aHi: number, bLo: number, bHi: number): void {
    const a = this.#a
    const b = this.#b
    let head = 0
    while (aLo + head < aHi && bLo + head < bHi && a[aLo + head] === b[bLo + head]) head++
    let tail = 0
    while (aHi - tail > aLo + head && bHi - tail > bLo + head && a[aHi - tail - 1] === b[bHi - tail - 1]) tail++
    this.#keep(aLo, bLo, head)
    const split = this.#middle(aLo + head, aHi - tail, bLo + head, bHi - tail)
    if (split !== undefined) {
      this.diff(aLo + head, split.x, bLo + head, split.y)
      this.diff(split.x, aHi - tail, split.y, bHi - tail)
    }
    this.#keep(aHi - tail, bHi - tail, tail)
  }

  /**
   * A point on an optimal path through the middle of the edit graph, found
   * by running forward from the start and backward from the end until the
   * two meet; undefined when one side is empty, when nothing is shared, or
   * when the budget runs out (all of it then counts as changed).
   */
  #middle(aLo: number, aHi: number, bLo: number, bHi: number): { x: number; y: number } | undefined {
    const n = aHi - aLo
    const m = bHi - bLo
    if (n === 0 || m === 0) return undefined
    const a = this.#a
    const b = this.#b
    const maxD = Math.ceil((n + m) / 2)
    const offset = maxD
    const size = 2 * maxD + 2
    // v1[k]: the furthest x reached forward on diagonal k = x - y; v2 the same backward, x counted from the end.
    const v1 = new Int32Array(size).fill(-1)
    const v2 = new Int32Array(size).fill(-1)
    v1[offset + 1] = 0
    v2[offset + 1] = 0
    const delta = n - m
    // With delta odd the paths meet on a forward step, with delta even on a backward one.
    const front = delta % 2 !== 0
    let k1start = 0
    let k1end = 0
    let k2start = 0
    let k2end = 0
    for (let d = 0; d < maxD; d++) {
      for (let k1 = -d + k1start; k1 <= d - k1end; k1 += 2) {
        const i1 = offset + k1
        let x1 = k1 === -d || (k1 !== d && (v1[i1 - 1] as number) < (v1[i1 + 1] as number)) ? (v1[i1 + 1] as number) : (v1[i1 - 1] as number) + 1
        let y1 = x1 - k1
        const from = x1
        while (x1 < n && y1 < m && a[aLo + x1] === b[bLo + y1]) {
          x1++
          y1++
        }
        this.#budget -= 1 + x1 - from
        v1[i1] = x1
        if (x1 > n) k1end += 2
        else if (y1 > m) k1start += 2
        else if (front) {
          const i2 = offset + delta - k1
          if (i2 >= 0 && i2 < size && v2[i2] !== -1 && x1 >= n - (v2[i2] as number)) return { x: aLo + x1, y: bLo + y1 }
        }
      }
      for (let k2 = -d + k2start; k2 <= d - k2end; k2 += 2) {
        const i2 = offset + k2
        let x2 = k2 === -d || (k2 !== d && (v2[i2 - 1] as number) < (v2[i2 + 1] as number)) ? (v2[i2 + 1] as number) : (v2[i2 - 1] as number) + 1
        let y2 = x2 - k2
        const from = x2
        while (x2 < n && y2 < m && a[aHi - x2 - 1] === b[bHi - y2 - 1]) {
          x2++
          y2++
        }
        this.#budget -= 1 + x2 - from
        v2[i2] = x2
        if (x2 > n) k2end += 2
        else if (y2 > m) k2start += 2
        else if (!front) {
          const i1 = offset + delta - k2
          if (i1 >= 0 && i1 < size && v1[i1] !== -1) {
            const x1 = v1[i1] as number
            if (x1 >= n - x2) return { x: aLo + x1, y: bLo + x1 - (i1 - offset) }
          }
        }
      }
      if (this.#budget <= 0) return undefined
    }
    return undefined
  }
}

/** What a and b share, as runs in order: the longest common subsequence of their lines while the budget lasts. */
export function commonRuns(a: readonly string[], b: readonly string[], budget = 50_000_000): Common[] {
  // Lines as numbers, so each comparison is one integer comparison.
  const ids = new Map<string, number>()
  const encode = (lines: readonly string[]): Int32Array => {
    const out = new Int32Array(lines.length)
    lines.forEach((line, i) => {
      let id = ids.get(line)
      if (id === undefined) {
        id = ids.size
        ids.set(line, id)
      }
      out[i] = id
    })
    return out
  }
  const differ = new Differ(encode(a), encode(b), budget)
  differ.diff(0, a.length, 0, b.length)
  return differ.common
}

/** `diff -u` of two texts: headers, then hunks with `context` lines around changes; '' when they are equal. */
export function unifiedDiff(aText: string, bText: string, options: DiffOptions): string {
  if (aText === bText) return ''
  const a = splitLines(aText)
  const b = splitLines(bText)
  const context = options.context ?? 3
  // A last line without its newline is not the line with one: marked so, it matches only its like.
  const keys = (side: Lines): string[] => side.lines.map((l, i) => (side.noFinalNewline && i === side.lines.length - 1 ? `N${l}` : `L${l}`))
  // A sentinel run at the end closes the last change.
  const runs = [...commonRuns(keys(a), keys(b), options.budget), { aStart: a.lines.length, bStart: b.lines.length, length: 0 }]

  interface Change {
    aStart: number
    aEnd: number
    bStart: number
    bEnd: number
  }
  const changes: Change[] = []
  let i = 0
  let j = 0
  for (const run of runs) {
    if (run.aStart > i || run.bStart > j) changes.push({ aStart: i, aEnd: run.aStart, bStart: j, bEnd: run.bStart })
    i = run.aStart + run.length
    j = run.bStart + run.length
  }
  if (changes.length === 0) return ''

  const out: string[] = [`--- ${options.from}\n`, `+++ ${options.to}\n`]
  const line = (prefix: string, side: Lines, index: number): void => {
    out.push(`${prefix}${side.lines[index]}\n`)
    if (index === side.lines.length - 1 && side.noFinalNewline) out.push('\\ No newline at end of file\n')
  }
  const range = (start: number, count: number): string => (count === 1 ? `${start + 1}` : `${count === 0 ? start : start + 1},${count}`)
  let c = 0
  while (c < changes.length) {
    // Changes closer than twice the context share a hunk.
    let last = c
    while (last + 1 < changes.length && (changes[last + 1] as Change).aStart - (changes[last] as Change).aEnd <= 2 * context) last++
    const first = changes[c] as Change
    const end = changes[last] as Change
    const aFrom = Math.max(0, first.aStart - context)
    const bFrom = first.bStart - (first.aStart - aFrom)
    const aTo = Math.min(a.lines.length, end.aEnd + context)
    const bTo = end.bEnd + (aTo - end.aEnd)
    out.push(`@@ -${range(aFrom, aTo - aFrom)} +${range(bFrom, bTo - bFrom)} @@\n`)
    let ai = aFrom
    let bi = bFrom
    for (let k = c; k <= last; k++) {
      const ch = changes[k] as Change
      for (; ai < ch.aStart; ai++, bi++) line(' ', a, ai)
      for (; ai < ch.aEnd; ai++) line('-', a, ai)
      for (; bi < ch.bEnd; bi++) line('+', b, bi)
    }
    for (; ai < aTo; ai++, bi++) line(' ', a, ai)
    c = last + 1
  }
  return out.join('')
}
