// Renaming a used Task's params and workspaces to the group's
// (`uses.parambindings`, `uses.workspacebindings`): every reference, in every
// form Tekton accepts, in every string of the fields Tekton substitutes, and
// nothing else. TaskGroup's controller rewrote only `$(params.x)` in steps,
// so `$(params.x[*])`, a sidecar's or a volume's reference, and every
// workspace path outside steps kept names the merged Task no longer declares.
//
// A reference is `$(params.NAME…)`, `$(params['NAME']…)` or
// `$(params["NAME"]…)`, where … is what may follow a name (`[*]`, `[0]`,
// `.key`) up to the closing `)` on the same line;
// `$(workspaces.NAME.path|bound|claim|volume)`; and a used Task's references
// to its own steps, which the merge renames `<uses step>-<step>`:
// `$(steps.NAME.results.…)` and `$(steps.step-NAME.exitCode.path)`. Only NAME changes. A longer
// name that starts with NAME, text outside `$(…)`, and an opener that never
// closes stay as they are. One left-to-right pass per string: linear.

import { isJsonObject } from '../json/values.ts'
import { ForwardSearch } from '../variables/scan.ts'

/** Characters of a name in the dot form: a param name ends at `.`, `[` or `)`. */
const isNameChar = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 /* _ */ || c === 45 /* - */

const workspaceFields = new Set(['path', 'bound', 'claim', 'volume'])
const noSteps: ReadonlyMap<string, string> = new Map()

/**
 * The searches of one text. Positions only grow while a text is read, so
 * each search remembers what it found (variables/scan.ts): every search of a
 * text together reads it once, however many openers never close.
 */
interface Cursors {
  close: ForwardSearch
  newline: ForwardSearch
  single: ForwardSearch
  double: ForwardSearch
}

/** Index of the `)` that closes a reference whose name ended at `from`, or -1 when a newline or the end comes first. */
function closing(c: Cursors, from: number): number {
  const close = c.close.from(from)
  const newline = c.newline.from(from)
  return close < 0 || (newline >= 0 && newline < close) ? -1 : close
}

/**
 * `text` with param names renamed by `params` and workspace names by
 * `workspaces` (old name → new name). A dot-form reference to a name that
 * holds a `.` or other characters it cannot hold is written in the bracket
 * form, which holds any name.
 */
export function renameReferences(
  text: string,
  params: ReadonlyMap<string, string>,
  workspaces: ReadonlyMap<string, string>,
  steps: ReadonlyMap<string, string> = noSteps,
): string {
  if (!text.includes('$(')) return text
  let out = ''
  let copied = 0
  const c: Cursors = {
    close: new ForwardSearch(text, ')'),
    newline: new ForwardSearch(text, '\n'),
    single: new ForwardSearch(text, "']"),
    double: new ForwardSearch(text, '"]'),
  }
  let at = text.indexOf('$(')
  while (at >= 0) {
    const rewrite = params.size > 0 && text.startsWith('params', at + 2) ? paramAt(text, at + 8, params, c) : undefined
    const found =
      rewrite ??
      (workspaces.size > 0 && text.startsWith('workspaces.', at + 2) ? workspaceAt(text, at + 13, workspaces, c) : undefined) ??
      (steps.size > 0 && text.startsWith('steps.', at + 2) ? stepAt(text, at + 8, steps, c) : undefined)
    if (found !== undefined) {
      out += text.slice(copied, found.start) + found.replacement
      copied = found.end
    }
    at = text.indexOf('$(', found === undefined ? at + 2 : found.end)
  }
  return copied === 0 ? text : out + text.slice(copied)
}

interface Rewrite {
  /** The span replaced: the name, with its quotes or dot. */
  start: number
  end: number
  replacement: string
}

/** `after` is just past `$(params`. */
function paramAt(text: string, after: number, renames: ReadonlyMap<string, string>, cursors: Cursors): Rewrite | undefined {
  const c = text[after]
  if (c === '.') {
    let j = after + 1
    while (j < text.length && isNameChar(text.charCodeAt(j))) j++
    const name = text.slice(after + 1, j)
    const next = text[j]
    const renamed = renames.get(name)
    if (renamed === undefined || (next !== ')' && next !== '.' && next !== '[') || closing(cursors, j) < 0) return undefined
    return { start: after, end: j, replacement: dotOrBracket(renamed) }
  }
  if (c === '[' && (text[after + 1] === "'" || text[after + 1] === '"')) {
    const quote = text[after + 1] as string
    const nameStart = after + 2
    const nameEnd = (quote === "'" ? cursors.single : cursors.double).from(nameStart)
    if (nameEnd < 0) return undefined
    const newline = cursors.newline.from(nameStart)
    if (newline >= 0 && newline < nameEnd) return undefined
    const renamed = renames.get(text.slice(nameStart, nameEnd))
    if (renamed === undefined || closing(cursors, nameEnd + 2) < 0) return undefined
    return { start: nameStart, end: nameEnd, replacement: renamed }
  }
  return undefined
}

/** The dot form when the new name can be written in it, else the bracket form. */
function dotOrBracket(name: string): string {
  for (let i = 0; i < name.length; i++) if (!isNameChar(name.charCodeAt(i))) return `[${JSON.stringify(name)}]`
  return `.${name}`
}

/** `after` is just past `$(workspaces.`. */
function workspaceAt(text: string, after: number, renames: ReadonlyMap<string, string>, cursors: Cursors): Rewrite | undefined {
  let j = after
  while (j < text.length && isNameChar(text.charCodeAt(j))) j++
  const renamed = renames.get(text.slice(after, j))
  if (renamed === undefined || text[j] !== '.') return undefined
  const close = closing(cursors, j)
  if (close < 0 || !workspaceFields.has(text.slice(j + 1, close))) return undefined
  return { start: after, end: j, replacement: renamed }
}

/** `after` is just past `$(steps.`: `NAME.results.…` or `step-NAME.exitCode.path`. */
function stepAt(text: string, after: number, renames: ReadonlyMap<string, string>, cursors: Cursors): Rewrite | undefined {
  let j = after
  while (j < text.length && isNameChar(text.charCodeAt(j))) j++
  const name = text.slice(after, j)
  if (closing(cursors, j) < 0) return undefined
  if (text.startsWith('.results.', j)) {
    const renamed = renames.get(name)
    return renamed === undefined ? undefined : { start: after, end: j, replacement: renamed }
  }
  if (name.startsWith('step-') && text.startsWith('.exitCode.path)', j)) {
    const renamed = renames.get(name.slice(5))
    return renamed === undefined ? undefined : { start: after + 5, end: j, replacement: renamed }
  }
  return undefined
}

/** `value` with every string in it renamed; containers are copied only where something changed. */
export function renameIn<T>(
  value: T,
  params: ReadonlyMap<string, string>,
  workspaces: ReadonlyMap<string, string>,
  steps: ReadonlyMap<string, string> = noSteps,
): T {
  if (params.size === 0 && workspaces.size === 0 && steps.size === 0) return value
  if (typeof value === 'string') return renameReferences(value, params, workspaces, steps) as T
  if (Array.isArray(value)) {
    let changed = false
    const out = value.map((v) => {
      const r = renameIn(v, params, workspaces, steps)
      if (r !== v) changed = true
      return r
    })
    return (changed ? out : value) as T
  }
  if (isJsonObject(value)) {
    let changed = false
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) {
      const r = renameIn(v, params, workspaces, steps)
      if (r !== v) changed = true
      out[k] = r
    }
    return (changed ? out : value) as T
  }
  return value
}
