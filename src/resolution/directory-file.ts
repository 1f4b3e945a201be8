// One catalog file across reloads: what its current text yields, and the
// definitions of its last version without problems. While a file is broken
// (unreadable, a parse error, an invalid StepAction) the catalog keeps serving
// that last good version, so a bad edit to one step does not take it away from
// every run that uses it. A file never seen good serves what it has, invalid
// definitions included, so a step that references one is told why. A
// document that does not parse is kept too, as its name when that can still
// be read, so a step that references it is told the file does not parse, not
// that the name does not exist.

import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { parseAllDocuments } from 'yaml'
import { documentValue, parseDocuments, positions } from '../json/documents.ts'
import { exactOptions } from '../json/yaml-dialect.ts'
import { detachedJson } from '../json/values.ts'
import { formatProblem } from '../problems/problem.ts'
import { truncateText } from '../problems/truncate.ts'
import { type Definition, isStepActionDocument, toDefinition } from '../definitions/definition.ts'
import type { ResolvedTask } from '../definitions/reference.ts'
import { toResolvedTask } from '../definitions/task.ts'
import type { KubeObject } from '../types/k8s.ts'
import type { StepAction } from '../types/tekton.ts'
import type { ScannedFile } from './directory-scan.ts'
import { boundedErrors, type DefinitionReport } from './reports.ts'

/** A document of a file that does not parse, or the file itself when it cannot be read. */
export interface ParseFailure {
  /** Its metadata.name and metadata.namespace, when they can still be read. */
  name?: string
  namespace?: string
  /** Why, without the file's path: `Map keys must be unique at line 4, column 3`. */
  reason: string
  /** Its kind can still be read and is another: no step is looking for it. */
  otherKind?: string
}

export interface FileState {
  path: string
  /** sha256 of the text last read; unset when it could not be read. Unchanged text is not parsed again. */
  textDigest?: string
  /** The StepActions of the text last read, invalid ones included. */
  definitions: Definition[]
  /** Its Tasks and TaskGroups (issue #16), kept with their last good version like the StepActions. */
  tasks: ResolvedTask[]
  lastGoodTasks?: ResolvedTask[]
  /** Read and parsed without error, and every StepAction in it valid. */
  healthy: boolean
  /** The definitions of its last healthy version; unset until it had one. */
  lastGood?: Definition[]
  /** Parse errors, skipped documents, or why it cannot be read. */
  warnings: string[]
  /** The documents that did not parse (or the file, when it cannot be read): what a step referencing them is told. */
  failures: ParseFailure[]
}

function describeKind(doc: unknown): string {
  const kind = typeof doc === 'object' && doc !== null ? (doc as { kind?: unknown }).kind : undefined
  return typeof kind === 'string' ? `kind ${kind}` : 'a document without a kind'
}

function unreadable(path: string, error: string, previous: FileState | undefined): FileState {
  const warning = `${path}: ${error}`
  // The same failure as last time is the same state: a periodic re-scan of a still-broken file changes nothing.
  if (previous !== undefined && previous.textDigest === undefined && previous.warnings[0] === warning) return previous
  const state: FileState = { path, definitions: [], tasks: [], healthy: false, warnings: [warning], failures: [{ reason: error }] }
  if (previous?.lastGood !== undefined) state.lastGood = previous.lastGood
  if (previous?.lastGoodTasks !== undefined) state.lastGoodTasks = previous.lastGoodTasks
  return state
}

/** Documents read before this many failed ones are all a file's failures need: a name each, for a message. */
const maxFailures = 100

function textAt(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

/**
 * The documents of `text` that do not parse, each with its name when the
 * part that parsed still holds one. Read again, only for a file with errors:
 * the document tree the parser builds around an error keeps what came before.
 */
function failedDocuments(text: string): ParseFailure[] {
  const at = positions(text)
  const out: ParseFailure[] = []
  for (const doc of parseAllDocuments(text, exactOptions)) {
    if (out.length >= maxFailures) break
    let reason: string
    if (doc.errors.length > 0) {
      const first = doc.errors[0]
      const more = doc.errors.length > 1 ? ` (and ${doc.errors.length - 1} more errors)` : ''
      reason = `${(first?.message ?? 'parse error').split('\n')[0]} at ${at(first?.pos[0] ?? 0)}${more}`
    } else {
      // Parsed, but its value cannot be built (a merge key `<<` on no mapping): as parseDocuments found.
      const built = documentValue(doc)
      if (!('failure' in built)) continue
      reason = `${built.failure} at ${at(built.offset)}`
    }
    const failure: ParseFailure = { reason }
    try {
      const kind = doc.get('kind')
      // Another kind that fails to parse is still not a StepAction: its name is no step's.
      if (typeof kind === 'string' && kind !== 'StepAction') {
        out.push({ ...failure, otherKind: kind })
        continue
      }
      const name = textAt(doc.getIn(['metadata', 'name']))
      const namespace = textAt(doc.getIn(['metadata', 'namespace']))
      if (name !== undefined) failure.name = name
      if (namespace !== undefined) failure.namespace = namespace
    } catch {
      // What came before the error is not a mapping: no name to keep.
    }
    out.push(failure)
  }
  return out
}

function parse(path: string, text: string, textDigest: string, previous: FileState | undefined): FileState {
  const parsed = parseDocuments(text, path)
  // Held as long as the file is: nothing of it may keep the file's text alive.
  const documents = parsed.documents.map(detachedJson)
  const errors = parsed.errors.map(detachedJson)
  const warnings = [...errors]
  const definitions: Definition[] = []
  const tasks: ResolvedTask[] = []
  documents.forEach((doc, i) => {
    const task = toResolvedTask(doc as KubeObject, 'directory', path)
    if (task !== undefined) {
      tasks.push(task)
      return
    }
    if (!isStepActionDocument(doc)) {
      warnings.push(`${path}: document ${i + 1} skipped: ${describeKind(doc)}, not StepAction, Task or TaskGroup`)
      return
    }
    definitions.push(toDefinition(doc as StepAction, { kind: 'directory', location: path }))
  })
  const healthy = errors.length === 0 && definitions.every((d) => d.problems.length === 0)
  const failures = errors.length === 0 ? [] : detachedJson(failedDocuments(text))
  const state: FileState = { path, textDigest, definitions, tasks, healthy, warnings, failures }
  if (healthy) {
    state.lastGood = definitions
    state.lastGoodTasks = tasks
  } else {
    if (previous?.lastGood !== undefined) state.lastGood = previous.lastGood
    if (previous?.lastGoodTasks !== undefined) state.lastGoodTasks = previous.lastGoodTasks
  }
  return state
}

/** Reads a listed file; undefined when it is gone (deleted since it was listed). */
export async function readCatalogFile(file: ScannedFile, previous: FileState | undefined): Promise<FileState | undefined> {
  if (file.error !== undefined) return unreadable(file.path, file.error, previous)
  let text: string
  try {
    text = await readFile(file.path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    return unreadable(file.path, `cannot read: ${(err as Error).message}`, previous)
  }
  const textDigest = createHash('sha256').update(text).digest('hex')
  if (previous?.textDigest === textDigest) return previous
  return parse(file.path, text, textDigest, previous)
}

/** A file under a directory that cannot be listed now: not known to be gone, so it stays as it was. */
export function unlistedCatalogFile(previous: FileState, error: string): FileState {
  return unreadable(previous.path, error, previous)
}

/** Whether the catalog serves this file's last good version instead of what it holds now. */
export function keepsLastGood(state: FileState): boolean {
  return !state.healthy && state.lastGood !== undefined
}

/** The definitions the catalog takes from this file. */
export function heldDefinitions(state: FileState): Definition[] {
  return keepsLastGood(state) ? (state.lastGood ?? []) : state.definitions
}

/** The Tasks and TaskGroups the catalog takes from this file. */
export function heldTasks(state: FileState): ResolvedTask[] {
  return keepsLastGood(state) ? (state.lastGoodTasks ?? []) : state.tasks
}

/** Its warnings, and when it keeps its last good version, why: the invalid definitions are not in the catalog to say so. */
export function fileWarnings(state: FileState): string[] {
  if (!keepsLastGood(state)) return state.warnings
  const invalid = state.definitions
    .filter((d) => d.problems.length > 0)
    .map((d) => `${state.path}: StepAction ${d.namespace ?? '*'}/${d.name} is invalid: ${d.problems.map(formatProblem).join('; ')}`)
  const kept = (state.lastGood ?? []).map((d) => `${d.namespace ?? '*'}/${d.name}`).join(', ')
  return [...state.warnings, ...invalid, `${state.path}: keeping its last good version until it is fixed (${kept === '' ? 'no StepActions' : kept})`]
}

const idOf = (d: { namespace?: string; name?: string }): string => `${d.namespace ?? '*'}/${d.name ?? ''}`

/** What is wrong with a file, for the log and a metric; undefined when nothing is. */
export function fileReport(state: FileState): DefinitionReport | undefined {
  if (state.healthy) return undefined
  const report = (kind: DefinitionReport['kind'], definitions: string[], errors: string[]): DefinitionReport => ({
    source: 'directory',
    kind,
    file: state.path,
    ...(definitions.length === 0 ? {} : { definitions }),
    errors: boundedErrors(errors),
  })
  if (state.textDigest === undefined)
    return report(
      'unreadable',
      [],
      state.failures.map((f) => f.reason),
    )
  const invalid = state.definitions.filter((d) => d.problems.length > 0)
  const several = invalid.length + state.failures.length > 1
  const problems = invalid.flatMap((d) => d.problems.map((p) => `${several ? `StepAction ${idOf(d)}: ` : ''}${formatProblem(p)}`))
  const named = [...state.failures.filter((f) => f.name !== undefined && f.otherKind === undefined), ...invalid].map(idOf)
  if (state.failures.length === 0) return report('invalid', named, problems)
  return report('unparsable', named, [...state.failures.map((f) => (several && f.name !== undefined ? `${idOf(f)}: ${f.reason}` : f.reason)), ...problems])
}

/** A failure's reason as a step that references it is told: bounded, it is the file's text that is quoted. */
export function failureReason(failure: ParseFailure): string {
  return truncateText(failure.reason, 300)
}
