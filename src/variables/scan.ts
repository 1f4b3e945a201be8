// Tekton's variable-reference grammar (pkg/substitution), read in one
// left-to-right pass. Tekton matches references with the Go regular
// expression `\$\(<prefix>(\.(?P<var1>.*?(\[\*\])?)|\["(?P<var2>…)"\]|\['(?P<var3>…)'\])\)`:
// lazy, so `$(params.a) $(params.b)` is two references and `$(params.obj.key)`
// names the param `obj`, and `.` never crosses a newline. Go's engine runs in
// linear time; JavaScript's backtracks, and the same expression took seconds
// on a few hundred hostile bytes. So the grammar is written out by hand here:
//
//   dot form     `$(<prefix>.` NAME `)`     NAME runs to the first `)`
//   double form  `$(<prefix>["` NAME `"])`  NAME runs to the first `"])`
//   single form  `$(<prefix>['` NAME `'])`  NAME runs to the first `'])`
//
// with no newline inside NAME; where a candidate does not match, scanning
// resumes one character later, as a regular-expression search does. Each
// "first terminator after here" is found with a cursor that only moves
// forward, so the whole scan is linear in the length of the text.

export interface Reference {
  /** Index of `$` in the text. */
  start: number
  /** Index just past the closing `)`. */
  end: number
  form: 'dot' | 'double' | 'single'
  /** The text between the prefix's separator and the terminator (`obj.key`, `arr[*]`). */
  name: string
}

/** The first index >= `from` of `needle`, remembering the answer so that later, larger `from`s rarely search again. */
export class ForwardSearch {
  readonly #text: string
  readonly #needle: string
  #found = -2

  constructor(text: string, needle: string) {
    this.#text = text
    this.#needle = needle
  }

  from(position: number): number {
    if (this.#found === -1 || this.#found >= position) return this.#found
    this.#found = this.#text.indexOf(this.#needle, position)
    return this.#found
  }
}

/** Terminator searches shared by every candidate of one text; positions only grow. */
class Terminators {
  readonly newline: ForwardSearch
  readonly dot: ForwardSearch
  readonly double: ForwardSearch
  readonly single: ForwardSearch

  constructor(text: string) {
    this.newline = new ForwardSearch(text, '\n')
    this.dot = new ForwardSearch(text, ')')
    this.double = new ForwardSearch(text, '"])')
    this.single = new ForwardSearch(text, "'])")
  }
}

/** The reference whose opener (`$(` + prefix) ends just before `after`, if one matches there. */
function matchAt(text: string, start: number, after: number, t: Terminators): Reference | undefined {
  const c = text[after]
  const form = c === '.' ? 'dot' : c === '[' && text[after + 1] === '"' ? 'double' : c === '[' && text[after + 1] === "'" ? 'single' : undefined
  if (form === undefined) return undefined
  const nameStart = after + (form === 'dot' ? 1 : 2)
  const close = t[form].from(nameStart)
  const lineEnd = t.newline.from(nameStart)
  if (close < 0 || (lineEnd >= 0 && lineEnd < close)) return undefined
  return { start, end: close + (form === 'dot' ? 1 : 3), form, name: text.slice(nameStart, close) }
}

/** Every reference with the literal `prefix` (`params`, `params.obj`, `step.results`), in order. */
export function scanReferences(text: string, prefix: string): Reference[] {
  const opener = `$(${prefix}`
  const out: Reference[] = []
  if (!text.includes(opener)) return out
  const t = new Terminators(text)
  let at = text.indexOf(opener)
  while (at >= 0) {
    const ref = matchAt(text, at, at + opener.length, t)
    if (ref !== undefined) out.push(ref)
    at = text.indexOf(opener, ref === undefined ? at + 1 : ref.end)
  }
  return out
}

/**
 * scanReferences with `prefix` read as Tekton's regular expression reads it:
 * Tekton writes the prefix into its pattern unescaped, so each `.` of a
 * dotted prefix (`step.results`) matches any one character but a newline:
 * `$(step-results.x.path)` is a reference to it too.
 */
export function scanReferencesAsPattern(text: string, prefix: string): Reference[] {
  const dot = prefix.indexOf('.')
  if (dot < 0) return scanReferences(text, prefix)
  const head = `$(${prefix.slice(0, dot)}`
  const out: Reference[] = []
  if (!text.includes(head)) return out
  const t = new Terminators(text)
  let at = text.indexOf(head)
  while (at >= 0) {
    // The rest of the prefix, a `.` standing for one character (a code point, as Go's regexp reads UTF-8).
    let j = at + head.length
    for (let k = dot; k < prefix.length && j >= 0; k++) {
      if (j >= text.length) j = -1
      else if (prefix[k] !== '.') j = text[j] === prefix[k] ? j + 1 : -1
      else if (text[j] === '\n') j = -1
      else j += (text.codePointAt(j) ?? 0) > 0xffff ? 2 : 1
    }
    const ref = j < 0 ? undefined : matchAt(text, at, j, t)
    if (ref !== undefined) out.push(ref)
    at = text.indexOf(head, ref === undefined ? at + 1 : ref.end)
  }
  return out
}

/**
 * scanReferences(text, base + name) for every name of `names` at once, in
 * one pass: what validation needs to check the keys of every object param
 * in a field without reading the field once per param. Names are object
 * param names, `[_a-zA-Z][_a-zA-Z0-9-]*` (any other is refused by Tekton's
 * own name check), so the name after `base` is the run of such characters,
 * looked up once; it must be followed by `.` or `[`, as a reference goes on.
 */
export function scanReferencesFor(text: string, base: string, names: ReadonlySet<string>, longestName: number): Map<string, Reference[]> {
  const out = new Map<string, Reference[]>()
  const opener = `$(${base}`
  if (names.size === 0 || !text.includes(opener)) return out
  const t = new Terminators(text)
  const resumeAt = new Map<string, number>()
  for (let at = text.indexOf(opener); at >= 0; at = text.indexOf(opener, at + 1)) {
    const nameStart = at + opener.length
    let j = nameStart
    const limit = Math.min(text.length, nameStart + longestName + 1)
    while (j < limit && isObjectNameChar(text.charCodeAt(j))) j++
    const c = text[j]
    if (j === nameStart || (c !== '.' && c !== '[')) continue
    const name = text.slice(nameStart, j)
    if (!names.has(name) || at < (resumeAt.get(name) ?? 0)) continue
    const ref = matchAt(text, at, j, t)
    if (ref === undefined) continue
    const list = out.get(name)
    if (list === undefined) out.set(name, [ref])
    else list.push(ref)
    resumeAt.set(name, ref.end)
  }
  return out
}

const isObjectNameChar = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 /* _ */ || c === 45 /* - */

export interface Extracted {
  /** The referenced names, one per reference, in order. */
  names: string[]
  /** Set when a reference is malformed, with Tekton's message. */
  error?: string
}

/**
 * The names referenced with `prefix` in `s` (Tekton's ExtractVariablesFromString).
 * For the dot form only the first component counts (`obj.key` names `obj`);
 * more than two components is an error.
 */
export function extractVariables(s: string, prefix: string): Extracted {
  return variablesOf(scanReferences(s, prefix), s, prefix)
}

/** extractVariables over references already found in `s` with `prefix`. */
export function variablesOf(refs: readonly Reference[], s: string, prefix: string): Extracted {
  const names: string[] = []
  for (const ref of refs) {
    if (ref.form === 'dot' && ref.name.includes('.')) {
      const parts = ref.name.split('.', 3)
      if (parts.length > 2) {
        return { names, error: `Invalid referencing of parameters in "${s}"! Only two dot-separated components after the prefix "${prefix}" are allowed.` }
      }
      names.push(parts[0] ?? '')
      continue
    }
    names.push(ref.name)
  }
  return { names }
}

/** Like extractVariables, but the whole dotted name is kept (`obj.key`). */
export function extractEntireVariables(s: string, prefix: string): string[] {
  return scanReferences(s, prefix).map((r) => r.name)
}

/** The full reference expressions, e.g. `$(params.x)`. */
export function extractExpressions(s: string, prefix: string): string[] {
  return scanReferences(s, prefix).map((r) => s.slice(r.start, r.end))
}

export interface IndexedUse {
  /** The whole expression, e.g. `$(params.p[2])`. */
  expression: string
  /** The digits of the index; empty for `[*]` or `[]`. */
  digits: string
}

/**
 * The uses of `base` (a replacement key such as `params.p` or `params["p"]`)
 * with an index: `$(<base>[<digits>])`, also `[*]`, `[]` and `[<digits>*]`,
 * which is what Tekton's index patterns accept. One pass, like scanReferences.
 */
export function scanIndexed(text: string, base: string): IndexedUse[] {
  const opener = `$(${base}[`
  const out: IndexedUse[] = []
  let at = text.indexOf(opener)
  while (at >= 0) {
    let j = at + opener.length
    const digitsStart = j
    while (j < text.length && text.charCodeAt(j) >= 48 && text.charCodeAt(j) <= 57) j++
    const digits = text.slice(digitsStart, j)
    if (text[j] === '*') j++
    if (text[j] === ']' && text[j + 1] === ')') {
      out.push({ expression: text.slice(at, j + 2), digits })
      at = text.indexOf(opener, j + 2)
    } else {
      at = text.indexOf(opener, at + 1)
    }
  }
  return out
}

const isNameChar = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 /* _ */ || c === 46 /* . */ || c === 45 /* - */

/** Where a run of `[_a-zA-Z0-9.-]` that starts at `from` ends. */
function nameRunEnd(text: string, from: number, limit: number): number {
  let i = from
  while (i < limit && isNameChar(text.charCodeAt(i))) i++
  return i
}

/** Where an optional `[digits]` or `[*]` suffix that starts at `from` ends, or -1 when `from` starts something else. */
function indexSuffixEnd(text: string, from: number): number {
  if (text[from] !== '[') return from
  if (text[from + 1] === '*') return text[from + 2] === ']' ? from + 3 : -1
  let i = from + 1
  while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++
  return i > from + 1 && text[i] === ']' ? i + 1 : -1
}

/**
 * Whether `s` is exactly one reference in Tekton's plain form (its
 * VariableSubstitutionRegex, anchored): `$(a.b.c)`, `$(a.b[0])`, `$(a[*])`.
 */
export function isWholeReference(s: string): boolean {
  if (!s.startsWith('$(') || !s.endsWith(')')) return false
  const nameEnd = nameRunEnd(s, 2, s.length - 1)
  return nameEnd > 2 && indexSuffixEnd(s, nameEnd) === s.length - 1
}

/**
 * Every reference in Tekton's plain form in `text` (VariableSubstitutionRegex,
 * unanchored: dot forms only; `$(params["x"])` is not one), as the text
 * between `$(` and `)`.
 */
export function scanPlainReferences(text: string): string[] {
  const out: string[] = []
  let at = text.indexOf('$(')
  while (at >= 0) {
    const nameEnd = nameRunEnd(text, at + 2, text.length)
    const suffixEnd = nameEnd > at + 2 ? indexSuffixEnd(text, nameEnd) : -1
    if (suffixEnd >= 0 && text[suffixEnd] === ')') {
      out.push(text.slice(at + 2, suffixEnd))
      at = text.indexOf('$(', suffixEnd + 1)
    } else {
      at = text.indexOf('$(', at + 1)
    }
  }
  return out
}

/** Drops index suffixes such as `[0]`, `[*]` or `[]` from a referenced name. */
export function trimArrayIndex(name: string): string {
  return name.replace(/\[([0-9])*\*?\]/g, '')
}
