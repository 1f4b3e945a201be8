// Tekton's git resolver, the anonymous clone form: `url`, `revision`,
// `pathInRepo`, read and refused as tektoncd/pipeline's
// pkg/resolution/resolver/git reads them (PopulateDefaultParams). The SCM
// API form (`org`/`repo`) and anything that needs a Secret the request names
// are left for Tekton.
//
// All files one request wants from one repository at one revision are
// fetched together: a Task of a dozen steps, each a file of the same pinned
// commit (the shape real catalogs use), costs one fetch of trees and one of
// blobs. What a commit holds never changes, so it is cached without expiry;
// which commit a branch or tag names is cached for the TTL.

import type { Resolution, StepReference, TaskResolution } from '../definitions/reference.ts'
import type { BoundedCache } from '../remote/cache.ts'
import { FetchFailure } from '../remote/failure.ts'
import { type GitClient, type GitFile, type GitFiles, isFullCommit } from '../remote/git.ts'
import type { SharedFetches } from '../remote/shared.ts'
import { type Read, readFetched, stepActionAnswer, taskAnswer } from './document.ts'
import { paramStrings } from './params.ts'
import { clonedAsWritten, unlikeWritten } from './url-form.ts'
import { type AskOptions, fetchShared, notFetched } from './waiting.ts'

export interface GitResolverOptions {
  client: GitClient
  /** What each file was read as (or definite errors), by repository, commit and path: they never change. */
  files: BoundedCache<Read>
  /** Commits by repository and branch or tag, for `ttlMs`. */
  revisions: BoundedCache<string>
  fetches: SharedFetches<GitFiles>
  ttlMs: number
  /** The git resolver's `default-revision` (git-resolver-config), when the platform told us. */
  defaultRevision?: string
  /** Its `default-url`, likewise. */
  defaultUrl?: string
}

const gatherMs = 5

/** Tekton's defaultValidateRepoURL: a URL with a known scheme, or an scp-like `user@host:path`. */
const repoUrlPattern = /^([^@]+@[^:]+|(git|ssh|ftps?|https?):\/\/)/

type Request = { url: string; revision: string; path: string } | Resolution

/** The params of one reference, checked and defaulted as Tekton's resolver does; a Resolution when they go no further. */
export function gitRequest(params: Map<string, string>, defaults: { defaultRevision?: string; defaultUrl?: string }): Request {
  const leave = (why: string): Resolution => ({ unresolved: why, resolver: 'git' })
  for (const secret of ['token', 'gitToken']) {
    if ((params.get(secret) ?? '') !== '') return leave(`git: param ${JSON.stringify(secret)} names a Secret; stepsplice never reads Secrets a request names`)
  }
  // A named section of git-resolver-config brings its own default url and revision, which stepsplice does not read.
  if ((params.get('configKey') ?? '') !== '')
    return leave('git: param "configKey" names a section of the git resolver\'s configuration, which is not known here')
  const url = params.get('url') ?? ''
  const repo = params.get('repo') ?? ''
  if (url !== '' && repo !== '') return { error: "git resolver: cannot specify both 'url' and 'repo'" }
  if (url === '' && repo !== '') return leave('git: the SCM API form (org and repo) is left to Tekton')
  const missing: string[] = []
  let revision = params.get('revision')
  if (revision === undefined) {
    if (defaults.defaultRevision === undefined) return leave('git: no revision, and the default Tekton uses is not known here (--git-default-revision)')
    revision = defaults.defaultRevision
  }
  if (!params.has('pathInRepo')) missing.push('pathInRepo')
  let target = url
  if (target === '') {
    if (defaults.defaultUrl === undefined) return leave('git: no url, and the default Tekton uses is not known here (--git-default-url)')
    target = defaults.defaultUrl
  }
  if (missing.length > 0) return { error: `missing required git resolver params: ${missing.join(', ')}` }
  // An empty revision given on purpose takes a path through Tekton's resolver that is its own business.
  if (revision === '') return leave('git: the revision is empty')
  if (revision.startsWith('-')) return { error: `git resolver: invalid revision ${JSON.stringify(revision)}: must not begin with '-'` }
  if (!repoUrlPattern.test(target)) {
    // Tekton checks the URL only when no org is given: with one, it goes on to clone whatever was written.
    if ((params.get('org') ?? '') !== '')
      return leave(`git: url ${JSON.stringify(target)} is not one stepsplice clones (an org is given, so Tekton does not check it)`)
    return { error: `git resolver: invalid git repository url: ${target}` }
  }
  const raw = params.get('pathInRepo') ?? ''
  if (raw.split('/').includes('..')) return { error: `git resolver: invalid path ${JSON.stringify(raw)}: must not contain '..' components` }
  // Tekton reads filepath.Join(checkout, path), which cleans it: `./a//b/` is `a/b`.
  const path = raw
    .split('/')
    .filter((segment) => segment !== '' && segment !== '.')
    .join('/')
  const fetched = fetchedUrl(target)
  if (typeof fetched !== 'string') return leave(`git: ${unlikeWritten(target, fetched.href, 'other')}, so it is left for Tekton`)
  return { url: fetched, revision, path }
}

/**
 * An http(s) repository URL as it is fetched: the WHATWG form, the host in
 * lower case, a default port dropped. The cache, the provenance and the
 * sources policies see that. A URL whose path is not written as it is
 * requested (dot segments, escapes) is not fetched: Tekton's clone asks for
 * it as written, which a host may answer with another repository
 * (url-form.ts). Other forms (`git@host:repo`, ssh, git) are kept as written.
 */
function fetchedUrl(url: string): string | { href: string } {
  if (!/^https?:\/\//i.test(url)) return url
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return url
  }
  return clonedAsWritten(url, parsed) ? parsed.href : { href: parsed.href }
}

export class GitResolver {
  readonly name = 'git'
  readonly #options: GitResolverOptions
  /** Paths asked for in this turn of the event loop, per repository and revision: fetched together. */
  readonly #gathering = new Map<string, Set<string>>()

  constructor(options: GitResolverOptions) {
    this.#options = options
  }

  async resolve(ref: StepReference, options: AskOptions = {}): Promise<Resolution> {
    return stepActionAnswer(await this.#get(ref, options), 'git')
  }

  /** A Task a TaskGroup uses, through the same fetches and cache. */
  async resolveTask(ref: StepReference, options: AskOptions = {}): Promise<TaskResolution> {
    return taskAnswer(await this.#get(ref, options))
  }

  async #get(ref: StepReference, options: AskOptions): Promise<Read> {
    const request = gitRequest(paramStrings(ref.params), this.#options)
    if (!('url' in request)) return request
    const { url, revision, path } = request
    const known = isFullCommit(revision) ? revision : this.#options.revisions.get(`${url}\0${revision}`)
    if (known !== undefined) {
      const cached = this.#options.files.get(fileKey(url, known, path))
      if (cached !== undefined) return cached
    }
    const batchKey = `${url}\0${revision}`
    let paths = this.#gathering.get(batchKey)
    if (paths === undefined) {
      paths = new Set()
      this.#gathering.set(batchKey, paths)
      // Every reference of a request is asked at once (a worker's questions arrive together): a few
      // milliseconds gather them all, and only a fetch that is not cached pays for them.
      setTimeout(() => this.#gathering.delete(batchKey), gatherMs)
    }
    paths.add(path)
    const batch = paths
    await new Promise<void>((resolve) => setTimeout(resolve, gatherMs))
    // Requests that ask for the same files share one fetch; the batch's key names them all.
    const key = `${batchKey}\0${[...batch].sort().join('\0')}`
    let fetched: GitFiles
    try {
      fetched = await fetchShared(
        this.#options.fetches,
        key,
        (signal) => this.#options.client.fetchFiles(url, revision, [...batch], signal),
        options,
        `git ${hostOf(url)}`,
      )
    } catch (err) {
      return notFetched('git', err)
    }
    if (!isFullCommit(revision)) this.#options.revisions.set(batchKey, fetched.commit, fetched.commit.length, this.#options.ttlMs)
    let mine: Read | undefined
    for (const [p, file] of fetched.files) {
      const resolution = await this.#read(url, fetched.commit, p, file)
      if (!('unresolved' in resolution)) this.#options.files.set(fileKey(url, fetched.commit, p), resolution, costOf(file))
      if (p === path) mine = resolution
    }
    // Gathered with other requests' files, which took what one fetch reads or looks at: this one's is read alone (its
    // blob is on disk by now), so what another request asks for never decides this one's answer.
    const own = fetched.files.get(path)
    if (own !== undefined && ('notRead' in own || 'unchecked' in own) && batch.size > 1) {
      const commit = fetched.commit
      try {
        const alone = await fetchShared(
          this.#options.fetches,
          `${url}\0${commit}\0${path}`,
          (signal) => this.#options.client.fetchFiles(url, commit, [path], signal),
          options,
          `git ${hostOf(url)}`,
        )
        const file = alone.files.get(path)
        if (file !== undefined) {
          mine = await this.#read(url, commit, path, file)
          if (!('unresolved' in mine)) this.#options.files.set(fileKey(url, commit, path), mine, costOf(file))
        }
      } catch (err) {
        return notFetched('git', err)
      }
    }
    return mine ?? notFetched('git', new FetchFailure('protocol', `git: ${path} was not read`))
  }

  async #read(url: string, commit: string, path: string, file: GitFile): Promise<Read> {
    const where = `${url}@${commit.slice(0, 12)}:${path}`
    if ('missing' in file) return { error: `git resolver: error opening file ${JSON.stringify(path)}: file does not exist (at ${where})` }
    if ('notFile' in file) return { error: `git resolver: error opening file ${JSON.stringify(path)}: it is ${file.notFile} (at ${where})` }
    if ('symlink' in file) return { unresolved: `git: ${path} is behind a symbolic link, which stepsplice does not follow`, resolver: 'git' }
    if ('unchecked' in file)
      return {
        unresolved: `git: ${path} is not in the commit's tree as written, and too many files of one fetch were absent to look for a symbolic link on its way`,
        resolver: 'git',
      }
    if ('tooLarge' in file) return { unresolved: `git: ${path} is ${file.tooLarge} bytes, more than stepsplice reads`, resolver: 'git' }
    if ('notRead' in file)
      return {
        unresolved: `git: ${path} was not read: the files read with it from ${url} came to ${file.notRead} bytes, what stepsplice reads at once`,
        resolver: 'git',
      }
    return readFetched(
      file.content,
      { kind: 'git', location: `git+${url}@${commit}#${path}`, sourceDigest: `${commit.length === 64 ? 'sha256' : 'sha1'}:${commit}` },
      `git ${where}`,
    )
  }
}

function fileKey(url: string, commit: string, path: string): string {
  return `${url}\0${commit}\0${path}`
}

/** What an entry holds in memory, roughly: the parsed definition is a few times the text. */
function costOf(file: GitFile): number {
  return 'content' in file ? 4 * file.content.length + 512 : 512
}

function hostOf(url: string): string {
  try {
    return new URL(url).host
  } catch {
    return 'remote'
  }
}
