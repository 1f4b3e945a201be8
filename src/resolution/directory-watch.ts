// Reloads a directory catalog when its directories change. fs.watch on every
// directory read gives prompt reloads: a ConfigMap update shows as the
// kubelet renaming `..data_tmp` over `..data` in the top directory, an edit as
// a change in the file's directory. inotify misses some volume updates and
// cannot see a linked file's target change elsewhere, so a slow periodic
// re-scan backs it up. Events are coalesced and reloads never overlap. Nothing
// here keeps the process alive: timers are unref'd and watchers not persistent.

import { type FSWatcher, watch } from 'node:fs'
import type { ScannedDirectory } from './directory-scan.ts'

export interface CatalogReload {
  /** Definitions held after the reload. */
  definitions: number
  /** Everything skipped or wrong, one line each: the catalog's loadWarnings after the reload. */
  warnings: readonly string[]
  /** Files whose last good version is served because the current one cannot be read or parsed, or is invalid. */
  keptLastGood: readonly string[]
  /** False when the reload found what the catalog already held (a periodic re-scan, usually). */
  changed: boolean
}

export interface WatchOptions {
  /** After every reload, including periodic re-scans that found nothing new (`changed: false`). */
  onReload?: (reload: CatalogReload) => void
  /** A reload that failed as a whole (a catalog directory cannot be read; the previous set stays), or a directory that cannot be watched. */
  onError?: (error: Error) => void
  /** How long to gather file-system events before reloading; default 200 ms. */
  debounceMs?: number
  /** How often to re-scan without an event; default 30 s. */
  rescanMs?: number
}

export interface CatalogWatch {
  /** Stops watching: no reload starts and no callback is called afterwards. Resolves when a reload under way has finished. */
  close(): Promise<void>
}

interface WatchTarget {
  reload(): Promise<CatalogReload>
  /** The directories the catalog read last. */
  directories(): readonly ScannedDirectory[]
}

const defaultDebounceMs = 200
const defaultRescanMs = 30_000

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

export class DirectoryWatch implements CatalogWatch {
  readonly #target: WatchTarget
  readonly #options: WatchOptions
  readonly #debounceMs: number
  /** By directory identity, so a directory removed and made again is watched anew. */
  readonly #watchers = new Map<string, FSWatcher>()
  /** Directories that could not be watched, reported once each while they stay so. */
  readonly #unwatchable = new Set<string>()
  readonly #rescan: NodeJS.Timeout
  #pending: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #again = false
  #closed = false

  constructor(target: WatchTarget, options: WatchOptions) {
    this.#target = target
    this.#options = options
    this.#debounceMs = options.debounceMs ?? defaultDebounceMs
    this.#rescan = setInterval(() => this.#schedule(), options.rescanMs ?? defaultRescanMs)
    this.#rescan.unref()
    this.#sync(target.directories())
  }

  async close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#rescan)
    clearTimeout(this.#pending)
    this.#pending = undefined
    for (const watcher of this.#watchers.values()) watcher.close()
    this.#watchers.clear()
    this.#unwatchable.clear()
    await this.#running
  }

  #schedule(): void {
    if (this.#closed || this.#pending !== undefined) return
    this.#pending = setTimeout(() => {
      this.#pending = undefined
      this.#run()
    }, this.#debounceMs)
    this.#pending.unref()
  }

  #run(): void {
    if (this.#running !== undefined) {
      // Whatever changed may have been read already, or not: one more reload settles it.
      this.#again = true
      return
    }
    this.#running = this.#reload().finally(() => {
      this.#running = undefined
      if (this.#again) {
        this.#again = false
        this.#schedule()
      }
    })
  }

  async #reload(): Promise<void> {
    let result: CatalogReload
    try {
      result = await this.#target.reload()
    } catch (err) {
      if (!this.#closed) this.#error(new Error(`catalog reload failed, keeping the definitions loaded before: ${asError(err).message}`))
      return
    }
    if (this.#closed) return
    this.#sync(this.#target.directories())
    try {
      this.#options.onReload?.(result)
    } catch (err) {
      this.#error(asError(err))
    }
  }

  #error(error: Error): void {
    try {
      this.#options.onError?.(error)
    } catch {
      // A throwing error handler must not become an unhandled rejection that stops the webhook.
    }
  }

  /** Watches exactly `directories`: new ones are added, ones no longer read are closed. */
  #sync(directories: readonly ScannedDirectory[]): void {
    const wanted = new Map(directories.map((d) => [d.identity, d.path]))
    for (const [identity, watcher] of this.#watchers) {
      if (wanted.has(identity)) continue
      watcher.close()
      this.#watchers.delete(identity)
    }
    for (const identity of this.#unwatchable) if (!wanted.has(identity)) this.#unwatchable.delete(identity)
    for (const [identity, path] of wanted) {
      if (!this.#watchers.has(identity)) this.#watch(identity, path)
    }
  }

  #watch(identity: string, path: string): void {
    let watcher: FSWatcher
    try {
      watcher = watch(path, { persistent: false }, () => this.#schedule())
    } catch (err) {
      // Gone since it was read: its parent's event, or the re-scan, brings the reload that forgets it.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      if (!this.#unwatchable.has(identity)) {
        this.#unwatchable.add(identity)
        this.#error(new Error(`cannot watch ${path}, changes there show at the next re-scan: ${asError(err).message}`))
      }
      return
    }
    this.#unwatchable.delete(identity)
    watcher.on('error', (err) => {
      // Closed and forgotten: the reload it triggers watches the directory again if it is still there.
      watcher.close()
      if (this.#watchers.get(identity) === watcher) this.#watchers.delete(identity)
      this.#error(new Error(`stopped watching ${path}: ${asError(err).message}`))
      this.#schedule()
    })
    this.#watchers.set(identity, watcher)
  }
}
