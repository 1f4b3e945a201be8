// The directory catalog: every StepAction in the YAML and JSON files under one
// or more directories, plain or a mounted ConfigMap (directory-scan.ts). A file
// that does not parse or a document that is not a StepAction is reported and
// skipped; it never stops the load, because one bad file must not take every
// other step down with it. `watch` keeps it current without a restart; a
// reload reads everything beside the set in use and swaps it in whole.

import { MemoryCatalog } from './memory.ts'
import { type CatalogSnapshot, emptySnapshot, readSnapshot, snapshotChanged } from './directory-snapshot.ts'
import { type CatalogReload, type CatalogWatch, DirectoryWatch, type WatchOptions } from './directory-watch.ts'

export class DirectoryCatalog extends MemoryCatalog {
  readonly #directories: readonly string[]
  #snapshot: CatalogSnapshot = emptySnapshot()
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
    this.#snapshot = next
    return { definitions: next.index.size, warnings: next.warnings, keptLastGood: next.keptLastGood, changed: snapshotChanged(previous, next) }
  }
}
