// A git host over HTTPS for tests of the git resolver: the real
// `git http-backend` behind a small CGI bridge, so clients speak smart HTTP,
// protocol v2, shallow and filtered fetches to the real upload-pack rather
// than to an imitation of it. History is written with one `git fast-import`
// per call (no work tree to keep in step, one process rather than several per
// commit) with fixed author and committer dates, so the same history gives
// the same SHAs on every run.

import { spawn } from 'node:child_process'
import { appendFile, mkdir, readFile, rm } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import { serveLoopback } from './loopback.ts'
import { type Certs, type Teardown, tempDir } from './server.ts'

/** A file's content, a symbolic link to `symlink`, or null to delete the path. */
export type FileChange = string | { symlink: string } | null

export interface CommitSpec {
  files: Record<string, FileChange>
  message?: string
  /** Default main. A branch not yet there starts at the commit before this one in the history (or as a root commit). */
  branch?: string
  /** A lightweight tag on this commit. */
  tag?: string
  /** An annotated tag (a tag object) on this commit. */
  annotatedTag?: string
}

export interface GitRequest {
  method: string
  path: string
  query: string
  /** The Git-Protocol header (`version=2` for protocol v2); undefined for v0. */
  gitProtocol: string | undefined
  contentEncoding: string | undefined
  /** The status http-backend answered; undefined while the request is held or delayed. */
  status: number | undefined
  /** What http-backend wrote to stderr: why it refused, when it did. */
  stderr: string
}

export interface GitServer {
  /** https://127.0.0.1:PORT */
  url: string
  /** The directory holding the bare repositories (GIT_PROJECT_ROOT). */
  root: string
  /** What clients clone: https://127.0.0.1:PORT/<name>.git */
  repoUrl(name: string): string
  /** Creates a bare repository with `history`; returns each commit's full SHA, in order. */
  createRepo(name: string, history: CommitSpec[]): Promise<string[]>
  /** Adds a commit on `branch` (default main), as a push would; a new branch starts at HEAD. Returns its SHA. */
  advance(name: string, files: Record<string, FileChange>, branch?: string): Promise<string>
  /** Runs git in the bare repository (to delete a ref, move a tag...); returns stdout. */
  git(name: string, args: string[]): Promise<string>
  /** Every request, in arrival order. */
  requests: GitRequest[]
  /** POSTs to <name>.git/git-upload-pack: one per fetch negotiation round, so a cached fetch adds none. */
  uploadPackPosts(name: string): number
  setDelay(ms: number): void
  setHang(hang: boolean): void
}

/** What a shallow, filtered fetch of one commit by SHA asks of upload-pack (appended to each repository's config). */
const uploadPackConfig = `[uploadpack]
\tallowFilter = true
\tallowAnySHA1InWant = true
\tallowReachableSHA1InWant = true
[protocol]
\tversion = 2
`

/** What every git child sees: never the machine's or the user's git config. */
function isolatedEnv(home: string): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', LC_ALL: 'C' }
}

export async function startGitServer(t: Teardown, options: { certs: Certs }): Promise<GitServer> {
  const base = await tempDir(t, 'stepsplice-git-')
  const root = join(base, 'repos')
  const home = join(base, 'home')
  await mkdir(root)
  await mkdir(home)
  const env = isolatedEnv(home)
  const requests: GitRequest[] = []
  const commitsMade = new Map<string, number>()
  let imports = 0
  const committer = 'Test Committer <committer@example.com>'

  const loopback = await serveLoopback(t, options.certs, (req, res) => bridge(req, res, { root, env, requests }))

  const gitDir = (name: string): string => join(root, `${name}.git`)
  const git = (name: string, args: string[], extra: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> =>
    runGit(['--git-dir', gitDir(name), ...args], { env: { ...env, ...extra.env }, ...(extra.input === undefined ? {} : { input: extra.input }) })

  /** Appends `specs` to repository `name` with one `git fast-import`; returns the new commits' SHAs. */
  const importCommits = async (name: string, specs: CommitSpec[], previous: string | undefined): Promise<string[]> => {
    const tips = new Map<string, string>()
    const tipOf = async (branch: string): Promise<string | undefined> => {
      if (!tips.has(branch)) tips.set(branch, await git(name, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`]).catch(() => ''))
      return tips.get(branch) || undefined
    }
    const stream: string[] = []
    const data = (text: string): string => `data ${Buffer.byteLength(text)}\n${text}\n`
    for (const [i, spec] of specs.entries()) {
      const branch = spec.branch ?? 'main'
      const mark = `:${i + 1}`
      const parent = (await tipOf(branch)) ?? (i > 0 ? `:${i}` : previous)
      // One second apart per commit of a repository: the same history gives the same SHAs, and `git log` orders them.
      const n = (commitsMade.get(name) ?? 0) + 1
      commitsMade.set(name, n)
      const when = `${1_700_000_000 + n} +0000`
      stream.push(`commit refs/heads/${branch}\nmark ${mark}\n`)
      stream.push(`author Test Author <author@example.com> ${when}\ncommitter ${committer} ${when}\n`)
      stream.push(data(`${spec.message ?? `commit ${n}`}\n`))
      if (parent !== undefined) stream.push(`from ${parent}\n`)
      for (const [path, change] of Object.entries(spec.files)) {
        if (change === null) stream.push(`D ${path}\n`)
        else if (typeof change === 'object') stream.push(`M 120000 inline ${path}\n${data(change.symlink)}`)
        else stream.push(`M 100644 inline ${path}\n${data(change)}`)
      }
      stream.push('\n')
      tips.set(branch, mark)
      if (spec.tag !== undefined) stream.push(`reset refs/tags/${spec.tag}\nfrom ${mark}\n\n`)
      if (spec.annotatedTag !== undefined)
        stream.push(`tag ${spec.annotatedTag}\nfrom ${mark}\ntagger ${committer} ${when}\n${data(`tag ${spec.annotatedTag}\n`)}`)
    }
    const marks = join(base, `marks-${++imports}`)
    // --force: a test may move a tag or rewrite a branch, as a force push would.
    await git(name, ['fast-import', '--quiet', '--force', `--export-marks=${marks}`], { input: stream.join('') })
    const shaOf = new Map((await readFile(marks, 'utf8')).split('\n').map((line) => line.split(' ') as [string, string]))
    await rm(marks, { force: true })
    return specs.map((_, i) => shaOf.get(`:${i + 1}`) ?? '')
  }

  return {
    url: loopback.url,
    root,
    repoUrl: (name) => `${loopback.url}/${name}.git`,
    async createRepo(name, history) {
      await runGit(['init', '--quiet', '--bare', '--initial-branch=main', gitDir(name)], { env })
      await appendFile(join(gitDir(name), 'config'), uploadPackConfig)
      return importCommits(name, history, undefined)
    },
    async advance(name, files, branch) {
      const head = await git(name, ['rev-parse', '--verify', '--quiet', 'HEAD']).catch(() => undefined)
      const [sha = ''] = await importCommits(name, [{ files, ...(branch === undefined ? {} : { branch }) }], head)
      return sha
    },
    git: (name, args) => git(name, args),
    requests,
    uploadPackPosts: (name) => requests.filter((r) => r.method === 'POST' && r.path === `/${name}.git/git-upload-pack`).length,
    setDelay: loopback.setDelay,
    setHang: loopback.setHang,
  }
}

/** One request through `git http-backend` as CGI (RFC 3875): environment in, request body on stdin, headers and body out. */
function bridge(req: IncomingMessage, res: ServerResponse, ctx: { root: string; env: NodeJS.ProcessEnv; requests: GitRequest[] }): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://placeholder')
  const header = (name: string): string | undefined => {
    const v = req.headers[name]
    return Array.isArray(v) ? v.join(', ') : v
  }
  const record: GitRequest = {
    method: req.method ?? 'GET',
    path: decodeURIComponent(url.pathname),
    query: url.search.slice(1),
    gitProtocol: header('git-protocol'),
    contentEncoding: header('content-encoding'),
    status: undefined,
    stderr: '',
  }
  ctx.requests.push(record)
  const cgi: NodeJS.ProcessEnv = {
    ...ctx.env,
    GIT_PROJECT_ROOT: ctx.root,
    GIT_HTTP_EXPORT_ALL: '1',
    REQUEST_METHOD: record.method,
    PATH_INFO: record.path,
    QUERY_STRING: record.query,
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
  }
  const optional: Record<string, string | undefined> = {
    CONTENT_TYPE: header('content-type'),
    // Absent for a chunked body: http-backend then reads stdin to its end.
    CONTENT_LENGTH: header('content-length'),
    // Protocol v2: git 2.39 http-backend also turns HTTP_GIT_PROTOCOL into GIT_PROTOCOL itself (either alone works); both are set.
    GIT_PROTOCOL: record.gitProtocol,
    HTTP_GIT_PROTOCOL: record.gitProtocol,
    // The client gzips large upload-pack requests; http-backend inflates them only when told.
    HTTP_CONTENT_ENCODING: record.contentEncoding,
  }
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) cgi[k] = v

  return new Promise<void>((resolve) => {
    const child = spawn('git', ['http-backend'], { env: cgi, stdio: ['pipe', 'pipe', 'pipe'] })
    res.on('close', () => {
      if (child.exitCode === null && child.signalCode === null) child.kill()
    })
    child.stdin.on('error', () => {}) // http-backend may stop reading early when it refuses a request.
    req.pipe(child.stdin)
    child.stderr.on('data', (c: Buffer) => {
      record.stderr += c.toString('utf8')
    })

    let head = Buffer.alloc(0)
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk])
      const split = headerEnd(head)
      if (split === undefined) return
      child.stdout.off('data', onData)
      const { status, headers } = parseCgiHeaders(head.subarray(0, split.at).toString('latin1'))
      record.status = status
      res.writeHead(status, headers)
      res.write(head.subarray(split.at + split.length))
      child.stdout.pipe(res)
    }
    child.stdout.on('data', onData)
    child.on('error', (err) => {
      record.stderr += String(err)
      if (!res.headersSent) res.writeHead(500).end(String(err))
      resolve()
    })
    child.on('close', (code) => {
      if (!res.headersSent) {
        record.status = 500
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`git http-backend exited ${code} without headers: ${record.stderr}`)
      }
      resolve()
    })
  })
}

function headerEnd(buf: Buffer): { at: number; length: number } | undefined {
  const crlf = buf.indexOf('\r\n\r\n')
  const lf = buf.indexOf('\n\n')
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { at: crlf, length: 4 }
  if (lf >= 0) return { at: lf, length: 2 }
  return undefined
}

function parseCgiHeaders(text: string): { status: number; headers: Record<string, string> } {
  let status = 200
  const headers: Record<string, string> = {}
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon < 0) continue
    const name = line.slice(0, colon).trim()
    const value = line.slice(colon + 1).trim()
    if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10)
    else headers[name] = value
  }
  return { status, headers }
}

/** Runs git with `input` on stdin; resolves to stdout without its trailing newline, rejects with stderr. */
export function runGit(args: string[], options: { env: NodeJS.ProcessEnv; cwd?: string; input?: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { env: options.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => err.push(c))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8').replace(/\n$/, ''))
      else reject(new Error(`git ${args.join(' ')} exited ${code}: ${Buffer.concat(err).toString('utf8')}`))
    })
    // A git that fails early stops reading: its exit code and stderr tell why, the EPIPE would only hide it.
    child.stdin.on('error', () => {})
    child.stdin.end(options.input)
  })
}

/** An environment for git clients in tests: no user or system config, no prompts, trusting `caFile`. */
export async function gitClientEnv(t: Teardown, caFile: string): Promise<NodeJS.ProcessEnv> {
  const home = await tempDir(t, 'stepsplice-git-client-')
  return { ...isolatedEnv(home), GIT_TERMINAL_PROMPT: '0', GIT_SSL_CAINFO: caFile }
}
