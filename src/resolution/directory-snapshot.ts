// One complete reading of the catalog directories, built beside the one in
// use and swapped in whole, so a lookup during a reload sees the old set or
// the new one, never a mix. Built from the previous reading: unchanged files
// keep their parsed definitions, broken ones their last good version.

import { sep } from 'node:path'
import { DefinitionIndex } from './definition-index.ts'
import { type FileState, fileWarnings, heldDefinitions, keepsLastGood, readCatalogFile, unlistedCatalogFile } from './directory-file.ts'
import { type DirectoryScan, type ScannedDirectory, scanDirectories } from './directory-scan.ts'

export interface CatalogSnapshot {
  /** By path as listed, in load order. */
  files: ReadonlyMap<string, FileState>
  index: DefinitionIndex
  /** The directories read: what a watch watches. */
  directories: readonly ScannedDirectory[]
  /** Everything skipped or wrong, one line each. */
  warnings: readonly string[]
  /** Files served from their last good version because the current one cannot be read or parsed, or is invalid. */
  keptLastGood: readonly string[]
}

/** What a catalog holds before its first load. */
export function emptySnapshot(): CatalogSnapshot {
  return { files: new Map(), index: new DefinitionIndex(), directories: [], warnings: [], keptLastGood: [] }
}

async function readFiles(scan: DirectoryScan, previous: ReadonlyMap<string, FileState>): Promise<Map<string, FileState>> {
  const files = new Map<string, FileState>()
  for (const file of scan.files) {
    const state = await readCatalogFile(file, previous.get(file.path))
    if (state !== undefined) files.set(file.path, state)
  }
  for (const dir of scan.unreadableDirectories) {
    for (const [path, state] of previous) {
      if (path.startsWith(`${dir.path}${sep}`) && !files.has(path)) files.set(path, unlistedCatalogFile(state, `${dir.error}, in ${dir.path}`))
    }
  }
  return files
}

function indexFiles(files: ReadonlyMap<string, FileState>, warnings: string[]): DefinitionIndex {
  const index = new DefinitionIndex()
  for (const state of files.values()) {
    warnings.push(...fileWarnings(state))
    for (const definition of heldDefinitions(state)) {
      const previous = index.put(definition)
      if (previous === undefined) continue
      // Two files defining the same step is ambiguous; using either would be a guess.
      const where = `${previous.source.location} and ${definition.source.location}`
      index.put({ ...definition, problems: [{ path: '', message: `defined more than once, in ${where}` }] })
      warnings.push(`StepAction ${definition.namespace ?? '*'}/${definition.name} is defined more than once: ${where}`)
    }
  }
  return index
}

/** Fails only when one of `directories` itself cannot be read. */
export async function readSnapshot(directories: readonly string[], previous: CatalogSnapshot): Promise<CatalogSnapshot> {
  const scan = await scanDirectories(directories)
  const files = await readFiles(scan, previous.files)
  const warnings = [...scan.warnings, ...scan.unreadableDirectories.map((d) => `${d.path}: ${d.error}`)]
  const index = indexFiles(files, warnings)
  const keptLastGood = [...files.values()].filter(keepsLastGood).map((s) => s.path)
  return { files, index, directories: scan.directories, warnings, keptLastGood }
}

/** Whether `next` holds anything `previous` did not: a file added, removed or changed, or other warnings. */
export function snapshotChanged(previous: CatalogSnapshot, next: CatalogSnapshot): boolean {
  if (previous.files.size !== next.files.size || previous.warnings.length !== next.warnings.length) return true
  for (const [path, state] of next.files) if (previous.files.get(path) !== state) return true
  return next.warnings.some((w, i) => w !== previous.warnings[i])
}
