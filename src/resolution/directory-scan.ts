// Which files a catalog directory holds, laid out as people write them or as
// the kubelet mounts a ConfigMap: `..2026_…/` holds the files, `..data` links
// to it, and each key is a link `key -> ..data/key`. Names starting with '.'
// are skipped at every depth, so the kubelet's own entries (and a second
// timestamped directory left mid-update) are never read; links are followed,
// so the keys are. A directory reached twice (a link loop, or two links to
// one place) is read once.

import { readdir, realpath, stat } from 'node:fs/promises'
import type { Dirent } from 'node:fs'
import { extname, join } from 'node:path'

const documentExtensions = new Set(['.yaml', '.yml', '.json'])

export interface ScannedFile {
  /** The path as listed under the catalog directory, e.g. `catalog/git-clone.yaml`; what a definition's source names. */
  path: string
  /** Why it cannot be read, when it was listed but not reachable. */
  error?: string
}

interface UnreadableDirectory {
  path: string
  error: string
}

export interface ScannedDirectory {
  /** The real path. */
  path: string
  /** Device and inode: a directory removed and made again is a new one, and needs a new watch. */
  identity: string
}

export interface DirectoryScan {
  /** Document files, each directory's sorted by path, in the order of the directories given. */
  files: ScannedFile[]
  /** Subdirectories listed but not readable: the files last read under them are not known to be gone. */
  unreadableDirectories: UnreadableDirectory[]
  /** Every directory read: what to watch. */
  directories: ScannedDirectory[]
  warnings: string[]
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

async function scannedDirectory(real: string): Promise<ScannedDirectory> {
  const { dev, ino } = await stat(real, { bigint: true })
  return { path: real, identity: `${dev}:${ino}` }
}

class Scanner {
  readonly files: ScannedFile[] = []
  readonly unreadableDirectories: UnreadableDirectory[] = []
  readonly directories: ScannedDirectory[] = []
  readonly warnings: string[] = []
  /** Real paths of the directories and files already read. */
  readonly #seen = new Map<string, string>()

  /** Throws when `dir` itself cannot be read: a catalog directory that is not there is a configuration error. */
  async scanRoot(dir: string): Promise<void> {
    const real = await realpath(dir)
    if (this.#seen.has(real)) return
    this.#seen.set(real, dir)
    this.directories.push(await scannedDirectory(real))
    const found: ScannedFile[] = []
    await this.#scan(dir, await readdir(dir, { withFileTypes: true }), found)
    found.sort((a, b) => byName(a.path, b.path))
    this.files.push(...found)
  }

  async #scan(dir: string, entries: Dirent[], found: ScannedFile[]): Promise<void> {
    // Entries themselves before links, so what is reached both ways is read at its own path, the same one every time.
    const ordered = entries.toSorted((a, b) => Number(a.isSymbolicLink()) - Number(b.isSymbolicLink()) || byName(a.name, b.name))
    for (const entry of ordered) {
      if (entry.name.startsWith('.')) continue
      const path = join(dir, entry.name)
      let isDirectory = entry.isDirectory()
      let isFile = entry.isFile()
      if (entry.isSymbolicLink()) {
        try {
          const target = await stat(path)
          isDirectory = target.isDirectory()
          isFile = target.isFile()
        } catch (err) {
          // ENOENT is also a ConfigMap key removed by an update: its link outlives `..data` for a moment.
          if (errorCode(err) === 'ENOENT') this.warnings.push(`${path}: skipped: a link to nothing`)
          else if (documentExtensions.has(extname(entry.name))) found.push({ path, error: `cannot read: ${message(err)}` })
          else this.warnings.push(`${path}: skipped: ${message(err)}`)
          continue
        }
      }
      if (isDirectory) await this.#subdirectory(path, found)
      else if (isFile && documentExtensions.has(extname(entry.name))) await this.#file(path, found)
    }
  }

  async #subdirectory(path: string, found: ScannedFile[]): Promise<void> {
    let directory: ScannedDirectory
    let entries: Dirent[]
    try {
      const real = await realpath(path)
      if (this.#alreadySeen(path, real)) return
      directory = await scannedDirectory(real)
      entries = await readdir(path, { withFileTypes: true })
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return // removed while we looked
      this.unreadableDirectories.push({ path, error: `cannot read directory: ${message(err)}` })
      return
    }
    this.directories.push(directory)
    await this.#scan(path, entries, found)
  }

  async #file(path: string, found: ScannedFile[]): Promise<void> {
    let real: string
    try {
      real = await realpath(path)
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') found.push({ path, error: `cannot read: ${message(err)}` })
      return
    }
    if (!this.#alreadySeen(path, real)) found.push({ path })
  }

  #alreadySeen(path: string, real: string): boolean {
    const first = this.#seen.get(real)
    if (first === undefined) {
      this.#seen.set(real, path)
      return false
    }
    this.warnings.push(`${path}: skipped: the same as ${first}, already read`)
    return true
  }
}

/** Lists the document files under `directories`; fails only when one of them cannot be read. */
export async function scanDirectories(directories: readonly string[]): Promise<DirectoryScan> {
  const scanner = new Scanner()
  for (const dir of directories) await scanner.scanRoot(dir)
  return { files: scanner.files, unreadableDirectories: scanner.unreadableDirectories, directories: scanner.directories, warnings: scanner.warnings }
}
