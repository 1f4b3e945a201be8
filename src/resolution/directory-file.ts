// One catalog file across reloads: what its current text yields, and the
// definitions of its last version without problems. While a file is broken
// (unreadable, a parse error, an invalid StepAction) the catalog keeps serving
// that last good version, so a bad edit to one step does not take it away from
// every run that uses it. A file never seen good serves what it has, invalid
// definitions included, so a step that references one is told why.

import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { parseDocuments } from '../json/documents.ts'
import { formatProblem } from '../problems/problem.ts'
import { type Definition, isStepActionDocument, toDefinition } from '../definitions/definition.ts'
import type { StepAction } from '../types/tekton.ts'
import type { ScannedFile } from './directory-scan.ts'

export interface FileState {
  path: string
  /** sha256 of the text last read; unset when it could not be read. Unchanged text is not parsed again. */
  textDigest?: string
  /** The StepActions of the text last read, invalid ones included. */
  definitions: Definition[]
  /** Read and parsed without error, and every StepAction in it valid. */
  healthy: boolean
  /** The definitions of its last healthy version; unset until it had one. */
  lastGood?: Definition[]
  /** Parse errors, skipped documents, or why it cannot be read. */
  warnings: string[]
}

function describeKind(doc: unknown): string {
  const kind = typeof doc === 'object' && doc !== null ? (doc as { kind?: unknown }).kind : undefined
  return typeof kind === 'string' ? `kind ${kind}` : 'a document without a kind'
}

function unreadable(path: string, error: string, previous: FileState | undefined): FileState {
  const warning = `${path}: ${error}`
  // The same failure as last time is the same state: a periodic re-scan of a still-broken file changes nothing.
  if (previous !== undefined && previous.textDigest === undefined && previous.warnings[0] === warning) return previous
  const state: FileState = { path, definitions: [], healthy: false, warnings: [warning] }
  if (previous?.lastGood !== undefined) state.lastGood = previous.lastGood
  return state
}

function parse(path: string, text: string, textDigest: string, lastGood: Definition[] | undefined): FileState {
  const { documents, errors } = parseDocuments(text, path)
  const warnings = [...errors]
  const definitions: Definition[] = []
  documents.forEach((doc, i) => {
    if (!isStepActionDocument(doc)) {
      warnings.push(`${path}: document ${i + 1} skipped: ${describeKind(doc)}, not StepAction`)
      return
    }
    definitions.push(toDefinition(doc as StepAction, { kind: 'directory', location: path }))
  })
  const healthy = errors.length === 0 && definitions.every((d) => d.problems.length === 0)
  const state: FileState = { path, textDigest, definitions, healthy, warnings }
  if (healthy) state.lastGood = definitions
  else if (lastGood !== undefined) state.lastGood = lastGood
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
  return parse(file.path, text, textDigest, previous?.lastGood)
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

/** Its warnings, and when it keeps its last good version, why: the invalid definitions are not in the catalog to say so. */
export function fileWarnings(state: FileState): string[] {
  if (!keepsLastGood(state)) return state.warnings
  const invalid = state.definitions
    .filter((d) => d.problems.length > 0)
    .map((d) => `${state.path}: StepAction ${d.namespace ?? '*'}/${d.name} is invalid: ${d.problems.map(formatProblem).join('; ')}`)
  const kept = (state.lastGood ?? []).map((d) => `${d.namespace ?? '*'}/${d.name}`).join(', ')
  return [...state.warnings, ...invalid, `${state.path}: keeping its last good version until it is fixed (${kept === '' ? 'no StepActions' : kept})`]
}
