// The directory catalog: every StepAction in the YAML and JSON files under one
// or more directories, plain or a mounted ConfigMap (directory-scan.ts). A file
// that does not parse or a document that is not a StepAction is reported and
// skipped; it never stops the load, because one bad file must not take every
// other step down with it. `watch` keeps it current without a restart; a
// reload reads everything beside the set in use and swaps it in whole.

import type { Resolution } from '../definitions/reference.ts'
import { quoteValue, truncateText } from '../problems/truncate.ts'
import { MemoryCatalog } from './memory.ts'
import { type CatalogSnapshot, emptySnapshot, failureFor, readSnapshot, snapshotChanged } from './directory-snapshot.ts'
import { type CatalogReload, type CatalogWatch, DirectoryWatch, type WatchOptions } from './directory-watch.ts'
import { failureReason } from './directory-file.ts'
import { type DefinitionReport, ReportBoard, type ReportListener } from './reports.ts'

/** Files a "not found" names of those that do not parse; the rest are counted. */
const namedFiles = 3

/** `1 file of the catalog does not parse …: a.yaml`, naming at most three. */
function unparsedNote(files: readonly string[]): string {
  const shown = files.slice(0, namedFiles).map((f) => truncateText(f, 200))
  const rest = files.length > namedFiles ? `, and ${files.length - namedFiles} more` : ''
  const count =
    files.length === 1 ? '1 file of the catalog does not parse or cannot be read' : `${files.length} files of the catalog do not parse or cannot be read`
  return `${count}, and may define it: ${shown.join(', ')}${rest}`
}

export class DirectoryCatalog extends MemoryCatalog {
  readonly #directories: readonly string[]
  #snapshot: CatalogSnapshot = emptySnapshot()
  readonly #board = new ReportBoard()
  /** Reloads run one after another, each from the one before. */
  #queue: Promise<unknown> = Promise.resolve()

  private constructor(directories: readonly string[]) {
    super(directories.join(', '))
    this.#directories = [...directories]
  }

  /** Fails only when a directory itself cannot be read. */
  static async load(directories: readonly string[]): Promise<DirectoryCatalog> {
    const catalog = new DirectoryCatalog(directories)
    await catalog.reload()
    return catalog
  }

  /** Things skipped or wrong at the last load or reload, one line each, for the log or stderr. */
  get loadWarnings(): readonly string[] {
    return this.#snapshot.warnings
  }

  /** What it read but cannot serve now: files that do not parse or cannot be read, invalid StepActions. */
  brokenDefinitions(): readonly DefinitionReport[] {
    return this.#board.reports
  }

  /** Told at once what is broken now, then each change at every load and reload; an unchanged report is not repeated. */
  watchBroken(listener: ReportListener): () => void {
    return this.#board.watch(listener)
  }

  /** A name it does not hold may be one written in a file that does not parse: then that is the answer. */
  protected override missing(name: string, namespace: string): Resolution {
    const snapshot = this.#snapshot
    const failed = name === '' ? undefined : failureFor(snapshot, namespace, name)
    if (failed !== undefined) {
      return { error: `stepactions.tekton.dev ${quoteValue(name)}: defined in ${failed.file}, which does not parse: ${failureReason(failed.failure)}` }
    }
    return super.missing(name, namespace, snapshot.unnamedFailures.length === 0 ? [] : [unparsedNote(snapshot.unnamedFailures)])
  }

  /** Reads the directories again and swaps the result in; fails, keeping what it held, when a directory cannot be read. */
  reload(): Promise<CatalogReload> {
    const next = this.#queue.then(() => this.#reloadNow())
    this.#queue = next.catch(() => undefined)
    return next
  }

  /** Reloads on changes under the directories, and every `rescanMs` regardless. */
  watch(options: WatchOptions = {}): CatalogWatch {
    return new DirectoryWatch({ reload: () => this.reload(), directories: () => this.#snapshot.directories }, options)
  }

  async #reloadNow(): Promise<CatalogReload> {
    const previous = this.#snapshot
    const next = await readSnapshot(this.#directories, previous)
    this.replaceAll(next.index)
    this.replaceTasks(next.tasks)
    this.#snapshot = next
    this.#board.replaceAll(next.reports)
    return { definitions: next.index.size, warnings: next.warnings, keptLastGood: next.keptLastGood, changed: snapshotChanged(previous, next) }
  }
}
