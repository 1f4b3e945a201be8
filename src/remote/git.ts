// Files of one commit of a git repository, fetched over https with the real
// git client, the way Tekton's git resolver fetches them (`git fetch --depth=1
// -- <revision>`), but without checking anything out: trees only
// (`--filter=blob:none`), then the blobs asked for, all in one round trip.
//
// Each repository gets a bare repository of its own under the cache
// directory, kept between requests (trees already fetched are not fetched
// again) and wiped when it grows past its bound or a git command fails in it
// (a killed fetch can leave lock files behind); all of them together are
// bounded too, the least recently used wiped first, and what an earlier
// process left is wiped at the first fetch. Commands on one repository run
// one at a time. git runs with no system or user configuration, no
// credential helpers or prompts, and only the protocols the transport allows.

import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { FetchFailure } from './failure.ts'
import type { Transport } from './transport.ts'

export interface GitOptions {
  transport: Transport
  /** Where the bare repositories live; created when missing. */
  cacheDir: string
  /** One git command, fetches included. */
  timeoutMs: number
  /** Disk a repository may take before it is wiped and fetched afresh. */
  maxRepoBytes: number
  /** Disk all repositories may take: past it, the least recently used are wiped. */
  maxDiskBytes: number
  /** A file read from a repository. */
  maxFileBytes: number
  /** The files one fetch reads together (default 16 × maxFileBytes): a request naming many large files cannot hold more. */
  maxReadBytes?: number
  /** The git executable (default `git`, found on PATH). */
  git?: string
}

/** Absent paths of one fetch looked at for a symbolic link on their way. */
const absentChecked = 20

/** Disk for one repository and for all of them, and the largest file read: what `serve`, `render` and `pin` use. */
export const gitBounds = { maxRepoBytes: 256 * 1024 * 1024, maxDiskBytes: 1024 * 1024 * 1024, maxFileBytes: 1024 * 1024 } as const

export type GitFile =
  | { content: Buffer }
  /** Nothing at that path in the commit. */
  | { missing: true }
  /** A directory, a submodule: not a file. */
  | { notFile: string }
  /** The path or a directory on its way is a symbolic link. */
  | { symlink: true }
  | { tooLarge: number }
  /** Not read: the files before it in the same fetch came to `maxReadBytes` (the number). */
  | { notRead: number }
  /** Not in the tree as written, and not looked at further: past the absent paths one fetch checks for a symbolic link. */
  | { unchecked: true }

export interface GitFiles {
  /** The commit the revision names, in full. */
  commit: string
  files: Map<string, GitFile>
}

interface Run {
  stdout: Buffer
  stderr: string
}

/** Commits remembered per repository (GitClient's #commits). */
const maxCommitsKnown = 10_000

/** A full commit id (SHA-1 or SHA-256): it names one commit forever. */
export function isFullCommit(revision: string): boolean {
  return /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(revision)
}

export class GitClient {
  readonly #options: GitOptions
  /** The last operation queued per repository: the next one waits for it. */
  readonly #queues = new Map<string, Promise<unknown>>()
  #caFile: Promise<string | undefined> | undefined
  /** Disk each repository took after its last fetch, least recently used first. */
  readonly #disk = new Map<string, number>()
  /**
   * The commits this process fetched into each repository. Asking git
   * whether it holds a commit is no answer in a partial clone: a missing one
   * is fetched from the promisor remote at once, with all of its history
   * (no --depth), before any shallow fetch could run.
   */
  readonly #commits = new Map<string, Set<string>>()
  #swept: Promise<void> | undefined

  constructor(options: GitOptions) {
    this.#options = options
  }

  /** The files at `paths` in the commit `revision` (a full commit id, a branch or a tag) names. */
  fetchFiles(url: string, revision: string, paths: readonly string[], signal?: AbortSignal): Promise<GitFiles> {
    this.#options.transport.check(url)
    if (revision.startsWith('-')) return Promise.reject(new FetchFailure('refused', `revision ${JSON.stringify(revision)} must not begin with "-"`))
    const dir = join(this.#options.cacheDir, `${createHash('sha256').update(url).digest('hex').slice(0, 24)}.git`)
    const previous = this.#queues.get(dir) ?? Promise.resolve()
    const mine = previous.catch(() => undefined).then(() => this.#fetchIn(dir, url, revision, paths, signal))
    this.#queues.set(dir, mine)
    void mine
      .finally(() => {
        if (this.#queues.get(dir) === mine) this.#queues.delete(dir)
      })
      .catch(() => undefined)
    return mine
  }

  /** The full commit `revision` names now, fetched as Tekton's resolver fetches it (for `stepsplice pin`). */
  async commitOf(url: string, revision: string, signal?: AbortSignal): Promise<string> {
    return (await this.fetchFiles(url, revision, [], signal)).commit
  }

  async #fetchIn(dir: string, url: string, revision: string, paths: readonly string[], signal?: AbortSignal): Promise<GitFiles> {
    if (signal?.aborted) throw new FetchFailure('aborted', `stopped waiting for ${hostOf(url)}`)
    this.#swept ??= this.#sweep()
    await this.#swept
    // Whether the repository holds what earlier fetches brought, which a failure of this one should not cost them.
    const holding = this.#commits.has(dir)
    try {
      await this.#prepare(dir, url, signal)
      const commit = await this.#commitFor(dir, revision, signal)
      const files = await this.#read(dir, commit, paths, signal)
      await this.#bound(dir)
      return { commit, files }
    } catch (err) {
      if (!holding || mayHaveDamaged(err)) {
        await rm(dir, { recursive: true, force: true })
        this.#disk.delete(dir)
        this.#commits.delete(dir)
      }
      throw err
    }
  }

  async #prepare(dir: string, url: string, signal?: AbortSignal): Promise<void> {
    const exists = await stat(join(dir, 'config')).then(
      () => true,
      () => false,
    )
    if (exists) return
    await mkdir(dir, { recursive: true })
    await this.#git(dir, ['init', '--bare', '--quiet'], signal)
    // A partial clone's promisor remote: blobs are fetched only when asked for.
    await this.#git(dir, ['remote', 'add', 'origin', '--', url], signal)
    await this.#git(dir, ['config', 'remote.origin.promisor', 'true'], signal)
    await this.#git(dir, ['config', 'remote.origin.partialclonefilter', 'blob:none'], signal)
    await this.#git(dir, ['config', 'extensions.partialClone', 'origin'], signal)
  }

  /** The commit `revision` names now; a full commit id already fetched needs no network. */
  async #commitFor(dir: string, revision: string, signal?: AbortSignal): Promise<string> {
    const fetched = this.#commits.get(dir)
    if (isFullCommit(revision) && fetched?.has(revision) === true) return revision
    await this.#git(dir, ['fetch', '--quiet', '--depth=1', '--filter=blob:none', '--no-tags', '--no-recurse-submodules', 'origin', '--', revision], signal)
    const parsed = await this.#git(dir, ['rev-parse', '--verify', '--end-of-options', 'FETCH_HEAD^{commit}'], signal)
    const commit = parsed.stdout.toString().trim()
    // Bounded: past it, a commit is fetched again (shallowly, its objects mostly there) rather than remembered.
    if (fetched === undefined || fetched.size >= maxCommitsKnown) this.#commits.set(dir, new Set([commit]))
    else fetched.add(commit)
    return commit
  }

  async #read(dir: string, commit: string, paths: readonly string[], signal?: AbortSignal): Promise<Map<string, GitFile>> {
    const files = new Map<string, GitFile>()
    if (paths.length === 0) return files
    const entries = await this.#lsTree(dir, commit, paths, signal)
    const blobs = new Map<string, string>()
    const absent: string[] = []
    for (const path of paths) {
      const entry = entries.get(path)
      if (entry === undefined) absent.push(path)
      else if (entry.mode === '120000') files.set(path, { symlink: true })
      else if (entry.type !== 'blob') files.set(path, { notFile: entry.type === 'tree' ? 'a directory' : 'a submodule' })
      else blobs.set(path, entry.oid)
    }
    // Tekton reads from a checkout, where a symlinked directory on the way leads somewhere: not ours to follow. Each
    // look costs a git process per directory, so a fetch looks for 20 paths; past them "missing" would be a guess.
    for (const [i, path] of absent.entries()) {
      files.set(path, i < absentChecked ? await this.#whyAbsent(dir, commit, path, signal) : { unchecked: true })
    }
    if (blobs.size > 0) {
      const oids = [...new Set(blobs.values())]
      await this.#git(
        dir,
        [
          '-c',
          'fetch.negotiationAlgorithm=noop',
          'fetch',
          '--quiet',
          '--no-tags',
          '--no-write-fetch-head',
          '--no-recurse-submodules',
          '--filter=blob:none',
          '--stdin',
          'origin',
        ],
        signal,
        false,
        `${oids.join('\n')}\n`,
      )
      const sizes = await this.#sizes(dir, oids, signal)
      // What is read is held whole until the request is answered: bounded all together, in the order asked.
      const budget = this.#options.maxReadBytes ?? 16 * this.#options.maxFileBytes
      let read = 0
      const wanted: string[] = []
      const over = new Set<string>()
      for (const oid of oids) {
        const size = sizes.get(oid) ?? Number.POSITIVE_INFINITY
        if (size > this.#options.maxFileBytes) continue
        if (read + size > budget) over.add(oid)
        else {
          read += size
          wanted.push(oid)
        }
      }
      const contents = wanted.length === 0 ? new Map<string, Buffer>() : await this.#contents(dir, wanted, signal)
      for (const [path, oid] of blobs) {
        const content = contents.get(oid)
        files.set(path, content !== undefined ? { content } : over.has(oid) ? { notRead: budget } : { tooLarge: sizes.get(oid) ?? 0 })
      }
    }
    return files
  }

  /** The entries at exactly `paths` (ls-tree also lists what a path that is a prefix of another one holds: dropped). */
  async #lsTree(dir: string, commit: string, paths: readonly string[], signal?: AbortSignal): Promise<Map<string, TreeEntry>> {
    const listed = await this.#git(dir, ['ls-tree', '-z', '--full-tree', commit, '--', ...paths.map(literalPathspec)], signal)
    const asked = new Set(paths)
    const out = new Map<string, TreeEntry>()
    for (const line of listed.stdout.toString('utf8').split('\0')) {
      const tab = line.indexOf('\t')
      if (tab < 0 || !asked.has(line.slice(tab + 1))) continue
      const [mode = '', type = '', oid = ''] = line.slice(0, tab).split(' ')
      out.set(line.slice(tab + 1), { mode, type, oid })
    }
    return out
  }

  /** A path not in the commit: missing, or behind a symbolic link (a directory on the way is one). */
  async #whyAbsent(dir: string, commit: string, path: string, signal?: AbortSignal): Promise<GitFile> {
    for (const parent of parentsOf(path)) {
      const entry = (await this.#lsTree(dir, commit, [parent], signal)).get(parent)
      if (entry === undefined || (entry.type !== 'tree' && entry.mode !== '120000')) return { missing: true }
      if (entry.mode === '120000') return { symlink: true }
    }
    return { missing: true }
  }

  async #sizes(dir: string, oids: readonly string[], signal?: AbortSignal): Promise<Map<string, number>> {
    const checked = await this.#git(dir, ['cat-file', '--batch-check=%(objectname) %(objectsize)'], signal, false, `${oids.join('\n')}\n`)
    const sizes = new Map<string, number>()
    for (const line of checked.stdout.toString().split('\n')) {
      const [oid, size] = line.split(' ')
      if (oid !== undefined && size !== undefined && /^\d+$/.test(size)) sizes.set(oid, Number(size))
    }
    return sizes
  }

  /** Blob contents through one `cat-file --batch`: `<oid> blob <size>\n<bytes>\n` each. */
  async #contents(dir: string, oids: readonly string[], signal?: AbortSignal): Promise<Map<string, Buffer>> {
    const { stdout } = await this.#git(dir, ['cat-file', '--batch'], signal, false, `${oids.join('\n')}\n`)
    const out = new Map<string, Buffer>()
    let at = 0
    while (at < stdout.length) {
      const end = stdout.indexOf(0x0a, at)
      if (end < 0) break
      const [oid = '', type = '', size = ''] = stdout.subarray(at, end).toString().split(' ')
      if (type !== 'blob' || !/^\d+$/.test(size))
        throw new FetchFailure('protocol', `git cat-file answered ${JSON.stringify(stdout.subarray(at, end).toString())}`)
      const start = end + 1
      out.set(oid, Buffer.from(stdout.subarray(start, start + Number(size))))
      at = start + Number(size) + 1
    }
    return out
  }

  /** Past its bound, a repository is wiped: the next fetch starts from nothing. Past theirs, the least recently used others. */
  async #bound(dir: string): Promise<void> {
    const bytes = await diskUsage(dir)
    this.#disk.delete(dir)
    if (bytes > this.#options.maxRepoBytes) {
      this.#commits.delete(dir)
      await rm(dir, { recursive: true, force: true })
      return
    }
    this.#disk.set(dir, bytes)
    let total = 0
    for (const b of this.#disk.values()) total += b
    for (const [other, b] of this.#disk) {
      if (total <= this.#options.maxDiskBytes) break
      // One in use is left to its own fetch; it is measured again when that ends.
      if (other === dir || this.#queues.has(other)) continue
      this.#disk.delete(other)
      this.#commits.delete(other)
      total -= b
      await rm(other, { recursive: true, force: true })
    }
  }

  /** Repositories an earlier process left: their sizes are unknown, so they go. */
  async #sweep(): Promise<void> {
    const entries = await readdir(this.#options.cacheDir, { withFileTypes: true }).catch(() => [])
    for (const e of entries) {
      if (e.isDirectory() && /^[0-9a-f]{24}\.git$/.test(e.name)) await rm(join(this.#options.cacheDir, e.name), { recursive: true, force: true })
    }
  }

  async #env(): Promise<NodeJS.ProcessEnv> {
    const transport = this.#options.transport
    this.#caFile ??= (async () => {
      if (transport.extraCa === undefined) return undefined
      await mkdir(this.#options.cacheDir, { recursive: true })
      const file = join(this.#options.cacheDir, 'ca-bundle.pem')
      await writeFile(file, transport.ca.join('\n'))
      return file
    })()
    const caFile = await this.#caFile
    const config: [string, string][] = [
      ['credential.helper', ''],
      ['core.askPass', ''],
      ['protocol.version', '2'],
      ['gc.auto', '0'],
      ['maintenance.auto', 'false'],
      ['fetch.writeCommitGraph', 'false'],
      // With an allow-list of hosts, a redirect must not lead elsewhere.
      ['http.followRedirects', transport.restrictsHosts ? 'false' : 'initial'],
      ...(caFile === undefined ? [] : ([['http.sslCAInfo', caFile]] as [string, string][])),
    ]
    return {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: this.#options.cacheDir,
      LANG: 'C',
      LC_ALL: 'C',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_TERMINAL_PROMPT: '0',
      GIT_ASKPASS: '',
      SSH_ASKPASS: '',
      GIT_ALLOW_PROTOCOL: transport.allowPlainHttp ? 'http:https' : 'https',
      GIT_PROTOCOL_FROM_USER: '0',
      GIT_CONFIG_COUNT: String(config.length),
      ...Object.fromEntries(
        config.flatMap(([k, v], i) => [
          [`GIT_CONFIG_KEY_${i}`, k],
          [`GIT_CONFIG_VALUE_${i}`, v],
        ]),
      ),
    }
  }

  /** Runs git in `dir`. `tolerant`: a failure answers undefined instead of throwing. */
  async #git(dir: string, args: readonly string[], signal: AbortSignal | undefined, tolerant: true, input?: string): Promise<Run | undefined>
  async #git(dir: string, args: readonly string[], signal: AbortSignal | undefined, tolerant?: false, input?: string): Promise<Run>
  async #git(dir: string, args: readonly string[], signal: AbortSignal | undefined, tolerant = false, input?: string): Promise<Run | undefined> {
    const env = await this.#env()
    const limit = this.#options.timeoutMs
    return new Promise<Run | undefined>((resolve, reject) => {
      const child = spawn(this.#options.git ?? 'git', ['-C', dir, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] })
      const out: Buffer[] = []
      let err = ''
      let settled = false
      const finish = (failure: FetchFailure | undefined, run?: Run): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        if (failure !== undefined) {
          child.kill('SIGKILL')
          if (tolerant) resolve(undefined)
          else reject(failure)
        } else resolve(run)
      }
      const onAbort = (): void => finish(new FetchFailure('aborted', 'stopped waiting for git'))
      const timer = setTimeout(() => finish(new FetchFailure('timeout', `git ${args[0] === '-c' ? args[2] : args[0]} took longer than ${limit} ms`)), limit)
      signal?.addEventListener('abort', onAbort, { once: true })
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
      child.stderr.on('data', (chunk: Buffer) => {
        if (err.length < 4096) err += chunk.toString()
      })
      child.on('error', (e: NodeJS.ErrnoException) =>
        finish(new FetchFailure('unreachable', e.code === 'ENOENT' ? 'git is not installed where stepsplice runs' : `git: ${e.message}`)),
      )
      child.on('close', (code) => {
        if (code === 0) finish(undefined, { stdout: Buffer.concat(out), stderr: err })
        // Killed by a signal from outside (the OOM killer): it may have left locks and half a fetch, as a timeout would.
        else if (code === null) finish(new GitFailure('unreachable', `git ${args[0] === '-c' ? args[2] : args[0]} was killed by a signal`, true))
        else finish(gitFailure(args, err))
      })
      child.stdin.on('error', () => undefined)
      child.stdin.end(input ?? '')
    })
  }
}

interface TreeEntry {
  mode: string
  type: string
  oid: string
}

/** `a/b/c.yaml` → `a`, `a/b`. */
function parentsOf(path: string): string[] {
  const parts = path.split('/')
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'))
}

/** A path as a pathspec that matches only itself: no globbing, no magic. */
function literalPathspec(path: string): string {
  return `:(literal)${path}`
}

function hostOf(url: string): string {
  try {
    return new URL(url).host
  } catch {
    return url
  }
}

/**
 * Whether a failed fetch may have left the repository unusable, so it must
 * start clean: a command killed midway (its timeout) can leave lock files and
 * half a fetch, and git says so when a lock or an object is in the way. What
 * the remote refused (a revision it lacks, credentials) or could not be
 * reached for leaves the repository as it was: wiping it then would make each
 * request for a revision that does not exist cost every other request for the
 * repository a fetch from nothing.
 */
function mayHaveDamaged(err: unknown): boolean {
  if (!(err instanceof FetchFailure)) return true
  if (err.kind === 'status' || err.kind === 'refused') return false
  if (err.kind === 'unreachable') return err instanceof GitFailure && err.damaged
  return true
}

/** What git says when something of the repository's own is in the way: a lock left behind, an object broken. */
const localDamage = /\.lock\b|corrupt|bad object|index-pack failed|unable to (?:create|write)|missing (?:blob|tree|commit)|may have crashed/i

/** A failed git command, with whether its whole stderr (not only the lines kept for the message) told of local damage. */
class GitFailure extends FetchFailure {
  readonly damaged: boolean

  constructor(kind: FetchFailure['kind'], message: string, damaged: boolean, status?: number) {
    super(kind, message, status)
    this.damaged = damaged
  }
}

/** git's own words, shortened, sorted into what the remote did. */
function gitFailure(args: readonly string[], stderr: string): FetchFailure {
  const text = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .slice(-2)
    .join('; ')
    .slice(0, 300)
  const what = `git ${args[0] === '-c' ? args[2] : args[0]}`
  if (/couldn't find remote ref|not our ref|no such remote ref|unadvertised object/i.test(stderr)) return new FetchFailure('status', `${what}: ${text}`, 404)
  if (/Authentication failed|could not read Username|terminal prompts disabled|HTTP 40[13]|returned error: 40[13]/i.test(stderr))
    return new FetchFailure('status', `${what}: the repository needs credentials`, 401)
  if (/repository '.*' not found|returned error: 404|HTTP 404/i.test(stderr)) return new FetchFailure('status', `${what}: repository not found`, 404)
  if (/transport '.*' not allowed|unsupported protocol/i.test(stderr)) return new FetchFailure('refused', `${what}: ${text}`)
  return new GitFailure('unreachable', `${what}: ${text}`, localDamage.test(stderr))
}

async function diskUsage(dir: string): Promise<number> {
  let total = 0
  const pending = [dir]
  while (pending.length > 0) {
    const current = pending.pop() as string
    const entries = await readdir(current, { withFileTypes: true }).catch(() => [])
    for (const e of entries) {
      const path = join(current, e.name)
      if (e.isDirectory()) pending.push(path)
      else if (e.isFile()) total += (await stat(path).catch(() => ({ size: 0 }))).size
    }
  }
  return total
}
