// One complete reading of the catalog directories, built beside the one in
// use and swapped in whole, so a lookup during a reload sees the old set or
// the new one, never a mix. Built from the previous reading: unchanged files
// keep their parsed definitions, broken ones their last good version.

import { sep } from 'node:path'
import { DefinitionIndex } from './definition-index.ts'
import {
  type FileState,
  fileReport,
  fileWarnings,
  heldDefinitions,
  heldTasks,
  keepsLastGood,
  type ParseFailure,
  readCatalogFile,
  unlistedCatalogFile,
} from './directory-file.ts'
import { type DirectoryScan, type ScannedDirectory, scanDirectories } from './directory-scan.ts'
import type { DefinitionReport } from './reports.ts'
import { TaskIndex } from './task-index.ts'
import { taskId } from '../definitions/task.ts'

/** A StepAction's name read from a file that does not parse. */
export interface NamedFailure {
  file: string
  failure: ParseFailure
}

export interface CatalogSnapshot {
  /** By path as listed, in load order. */
  files: ReadonlyMap<string, FileState>
  index: DefinitionIndex
  /** Tasks and TaskGroups. */
  tasks: TaskIndex
  /** The directories read: what a watch watches. */
  directories: readonly ScannedDirectory[]
  /** Everything skipped or wrong, one line each. */
  warnings: readonly string[]
  /** Files served from their last good version because the current one cannot be read or parsed, or is invalid. */
  keptLastGood: readonly string[]
  /** By DefinitionIndex.key: names of StepActions in documents that do not parse. */
  failures: ReadonlyMap<string, NamedFailure>
  /** Files that do not parse or cannot be read where a StepAction's name cannot be read: any missing name may be there. */
  unnamedFailures: readonly string[]
  /** What is broken, by file (or by name, for a name defined twice): for the log and a metric. */
  reports: ReadonlyMap<string, DefinitionReport>
}

/** What a catalog holds before its first load. */
export function emptySnapshot(): CatalogSnapshot {
  return {
    files: new Map(),
    index: new DefinitionIndex(),
    tasks: new TaskIndex(),
    directories: [],
    warnings: [],
    keptLastGood: [],
    failures: new Map(),
    unnamedFailures: [],
    reports: new Map(),
  }
}

/** The file that does not parse where a step's name is defined, namespaced first as the index looks names up. */
export function failureFor(snapshot: CatalogSnapshot, namespace: string, name: string): NamedFailure | undefined {
  return snapshot.failures.get(DefinitionIndex.key(namespace, name)) ?? snapshot.failures.get(DefinitionIndex.key(undefined, name))
}

function failuresOf(files: ReadonlyMap<string, FileState>): { named: Map<string, NamedFailure>; unnamed: string[] } {
  const named = new Map<string, NamedFailure>()
  const unnamed: string[] = []
  for (const state of files.values()) {
    let nameless = false
    for (const failure of state.failures) {
      if (failure.otherKind !== undefined) continue
      if (failure.name === undefined) nameless = true
      else {
        const key = DefinitionIndex.key(failure.namespace, failure.name)
        if (!named.has(key)) named.set(key, { file: state.path, failure })
      }
    }
    if (nameless) unnamed.push(state.path)
  }
  return { named, unnamed }
}

/** Files read at once: reading one while parsing another keeps the thread busy instead of waiting on the disk. */
const readsAtOnce = 16

async function readFiles(scan: DirectoryScan, previous: ReadonlyMap<string, FileState>): Promise<Map<string, FileState>> {
  const states: (FileState | undefined)[] = new Array(scan.files.length)
  let next = 0
  const reader = async (): Promise<void> => {
    while (next < scan.files.length) {
      const i = next++
      const file = scan.files[i] as (typeof scan.files)[number]
      states[i] = await readCatalogFile(file, previous.get(file.path))
    }
  }
  await Promise.all(Array.from({ length: Math.min(readsAtOnce, scan.files.length) }, reader))
  // In the order listed, as before: which of two files defining one name is reported first must not depend on the disk.
  const files = new Map<string, FileState>()
  for (const [i, file] of scan.files.entries()) {
    const state = states[i]
    if (state !== undefined) files.set(file.path, state)
  }
  for (const dir of scan.unreadableDirectories) {
    for (const [path, state] of previous) {
      if (path.startsWith(`${dir.path}${sep}`) && !files.has(path)) files.set(path, unlistedCatalogFile(state, `${dir.error}, in ${dir.path}`))
    }
  }
  return files
}

function indexFiles(files: ReadonlyMap<string, FileState>, warnings: string[], reports: Map<string, DefinitionReport>): DefinitionIndex {
  const index = new DefinitionIndex()
  for (const state of files.values()) {
    warnings.push(...fileWarnings(state))
    const report = fileReport(state)
    if (report !== undefined) reports.set(`file:${state.path}`, report)
    for (const definition of heldDefinitions(state)) {
      const previous = index.put(definition)
      if (previous === undefined) continue
      // Two files defining the same step is ambiguous; using either would be a guess.
      const where = `${previous.source.location} and ${definition.source.location}`
      const message = `defined more than once, in ${where}`
      index.put({ ...definition, problems: [{ path: '', message }] })
      const id = `${definition.namespace ?? '*'}/${definition.name}`
      warnings.push(`StepAction ${id} is defined more than once: ${where}`)
      reports.set(`name:${id}`, { source: 'directory', kind: 'invalid', file: definition.source.location, definitions: [id], errors: [message] })
    }
  }
  return index
}

/** Tasks and TaskGroups; one defined in two files is held with an error naming both (using either would be a guess). */
function indexTasks(files: ReadonlyMap<string, FileState>, warnings: string[]): TaskIndex {
  const index = new TaskIndex()
  for (const state of files.values()) {
    for (const task of heldTasks(state)) {
      const previous = index.put(task)
      if (previous === undefined) continue
      const where = `${previous.location} and ${task.location}`
      index.put({ ...task, error: `defined more than once, in ${where}` })
      warnings.push(`${taskId(task)} is defined more than once: ${where}`)
    }
  }
  return index
}

/** Fails only when one of `directories` itself cannot be read. */
export async function readSnapshot(directories: readonly string[], previous: CatalogSnapshot): Promise<CatalogSnapshot> {
  const scan = await scanDirectories(directories)
  const files = await readFiles(scan, previous.files)
  const warnings = [...scan.warnings, ...scan.unreadableDirectories.map((d) => `${d.path}: ${d.error}`)]
  const reports = new Map<string, DefinitionReport>()
  const index = indexFiles(files, warnings, reports)
  const tasks = indexTasks(files, warnings)
  const keptLastGood = [...files.values()].filter(keepsLastGood).map((s) => s.path)
  const failures = failuresOf(files)
  return {
    files,
    index,
    tasks,
    directories: scan.directories,
    warnings,
    keptLastGood,
    failures: failures.named,
    unnamedFailures: failures.unnamed,
    reports,
  }
}

/** Whether `next` holds anything `previous` did not: a file added, removed or changed, or other warnings. */
export function snapshotChanged(previous: CatalogSnapshot, next: CatalogSnapshot): boolean {
  if (previous.files.size !== next.files.size || previous.warnings.length !== next.warnings.length) return true
  for (const [path, state] of next.files) if (previous.files.get(path) !== state) return true
  return next.warnings.some((w, i) => w !== previous.warnings[i])
}
