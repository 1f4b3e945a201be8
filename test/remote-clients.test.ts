// The building blocks of remote fetching, each on its own, against real
// servers on loopback (git http-backend, an HTTPS file server): which URLs
// the transport allows, the bounded GET, the git client's files and disk
// bounds, the cache, shared fetches and the limiter, the resolvers' param
// rules, and the http resolver with its cache. remote-resolution.test.ts
// checks the same parts end to end through the webhook; when it fails and
// this passes, the fault is in how they are put together.

import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import type { Resolution, StepReference } from '../src/definitions/reference.ts'
import { BoundedCache } from '../src/remote/cache.ts'
import { FetchFailure } from '../src/remote/failure.ts'
import { GitClient, type GitFile, type GitFiles, type GitOptions } from '../src/remote/git.ts'
import { httpGet } from '../src/remote/http-get.ts'
import { Limiter } from '../src/remote/limiter.ts'
import { SharedFetches } from '../src/remote/shared.ts'
import { Transport } from '../src/remote/transport.ts'
import { bundlesRequest } from '../src/resolvers/bundles.ts'
import type { Read } from '../src/resolvers/document.ts'
import { GitResolver, gitRequest } from '../src/resolvers/git.ts'
import { HttpResolver, httpMaxBytes, httpRequest } from '../src/resolvers/http.ts'
import { startGitServer } from './helpers/git-server.ts'
import { failureOf } from './helpers/fetch-failure.ts'
import { startFileServer } from './helpers/https-files.ts'
import { mintCerts, tempDir, until } from './helpers/server.ts'

const certs = await mintCerts(t)
const extraCa = readFileSync(certs.caFile, 'utf8')
const transport = new Transport({ extraCa })

/** What Transport.check threw; fails the test when it allowed the URL. */
function refusalOf(tr: Transport, url: string): FetchFailure {
  try {
    tr.check(url)
  } catch (err) {
    if (err instanceof FetchFailure) return err
    throw err
  }
  throw new Error(`${url} was allowed`)
}

/** Lets every pending callback and promise reaction run: what can happen without anything settling, has. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

const params = (entries: Record<string, string>): Map<string, string> => new Map(Object.entries(entries))

t.test('Transport.check: schemes, credentials, hosts', async (t) => {
  const any = new Transport()
  t.equal(any.check('https://example.com/a/b.yaml?x=1').host, 'example.com', 'https to any host by default')
  t.equal(any.restrictsHosts, false)
  t.equal(any.allowPlainHttp, false)

  const plain = refusalOf(any, 'http://example.com/a.yaml')
  t.equal(plain.kind, 'refused')
  t.equal(plain.message, 'stepsplice fetches only https:// URLs, not http://')
  t.equal(refusalOf(any, 'ftp://example.com/a').message, 'stepsplice fetches only https:// URLs, not ftp://')
  t.equal(refusalOf(any, 'file:///etc/passwd').message, 'stepsplice fetches only https:// URLs, not file://')
  t.equal(refusalOf(any, 'not a url').message, '"not a url" is not a URL')
  t.equal(refusalOf(any, 'not a url').kind, 'refused')

  const withHttp = new Transport({ allowPlainHttp: true })
  t.equal(withHttp.check('http://example.com:8080/a.yaml').host, 'example.com:8080', 'http allowed with allowPlainHttp')
  t.equal(withHttp.check('https://example.com/a.yaml').protocol, 'https:')
  t.equal(refusalOf(withHttp, 'ftp://example.com/a').message, 'stepsplice fetches only https:// and http:// URLs, not ftp://')

  for (const url of ['https://user:secret@example.com/a', 'https://user@example.com/a', 'https://:secret@example.com/a']) {
    const refused = refusalOf(any, url)
    t.equal(refused.kind, 'refused', url)
    t.equal(refused.message, 'a URL with credentials in it is never fetched', url)
  }

  const some = new Transport({ hosts: ['GitHub.com', 'registry:5000', '*.example.com'] })
  t.equal(some.restrictsHosts, true)
  t.equal(some.check('https://github.com/org/repo.git').host, 'github.com', 'an exact name (the pattern is case-insensitive)')
  t.equal(some.check('https://GITHUB.COM/org/repo.git').host, 'github.com', 'the URL is case-insensitive too')
  t.equal(some.check('https://github.com:8443/x').host, 'github.com:8443', 'a name without a port allows any port')
  t.equal(some.check('https://registry:5000/v2/').host, 'registry:5000', 'name:port')
  t.equal(some.check('https://a.example.com/x').host, 'a.example.com', '*.domain: a subdomain')
  t.equal(some.check('https://a.b.example.com:444/x').host, 'a.b.example.com:444', '*.domain: a deeper subdomain, any port')
  const refusedHosts: [string, string][] = [
    ['https://registry:5001/v2/', 'registry:5001'],
    ['https://registry/v2/', 'registry'],
    ['https://example.com/x', 'example.com'],
    ['https://badexample.com/x', 'badexample.com'],
    ['https://example.com.evil.test/x', 'example.com.evil.test'],
    ['https://github.com.evil.test/x', 'github.com.evil.test'],
    ['https://gitlab.com/x', 'gitlab.com'],
  ]
  for (const [url, host] of refusedHosts) {
    const refused = refusalOf(some, url)
    t.equal(refused.kind, 'refused', url)
    t.equal(refused.message, `host ${host} is not one stepsplice may fetch from (--remote-host)`, url)
  }
  t.equal(some.hostAllowed('example.com'), false, '*.example.com does not match example.com')
  t.equal(some.hostAllowed('badexample.com'), false, '*.example.com does not match badexample.com')
  t.equal(some.hostAllowed('x.example.com'), true)
  // Credentials are refused before hosts: an allowed host does not make them fetchable.
  t.equal(refusalOf(some, 'https://u:p@github.com/x').message, 'a URL with credentials in it is never fetched')
})

t.test('httpGet against the file server', async (t) => {
  const files = await startFileServer(t, { certs })
  const other = await startFileServer(t, { certs })
  // The same server under a second name the certificate covers (certs/mint.sh: DNS:localhost, IP:127.0.0.1).
  const otherByName = other.url.replace('127.0.0.1', 'localhost')
  const get = { timeoutMs: 5000, maxBytes: 64 * 1024 }

  t.test('a 200 and its body; other statuses are answers too', async (t) => {
    files.put('/a.txt', 'hello from a\n')
    const ok = await httpGet(`${files.url}/a.txt`, transport, get)
    t.equal(ok.status, 200)
    t.equal(ok.body.toString(), 'hello from a\n')
    t.equal(ok.url, `${files.url}/a.txt`)
    t.equal(ok.headers['content-type'], 'text/plain; charset=utf-8')
    t.match(files.requests.at(-1)?.headers, { 'user-agent': 'stepsplice' }, 'it says who asks')
    await httpGet(`${files.url}/a.txt`, new Transport({ extraCa, userAgent: 'stepsplice/1.2.3' }), get)
    t.equal(files.requests.at(-1)?.headers['user-agent'], 'stepsplice/1.2.3', 'and its version, when the transport knows it')

    const missing = await httpGet(`${files.url}/nothing-here`, transport, get)
    t.equal(missing.status, 404, 'a 404 is returned, not thrown')
    t.equal(missing.body.toString(), 'no file at /nothing-here\n')

    const plain = await failureOf(() => httpGet(files.url.replace('https:', 'http:'), transport, get))
    t.equal(plain.kind, 'refused', 'http:// is refused before any connection')
  })

  t.test('a body over maxBytes fails with too-large, declared or not', async (t) => {
    files.putGenerated('/big', 100_000)
    const declared = await failureOf(() => httpGet(`${files.url}/big`, transport, { timeoutMs: 5000, maxBytes: 50_000 }))
    t.equal(declared.kind, 'too-large')
    t.equal(declared.message, `${files.url}/big is 100000 bytes, more than 50000`)

    files.putGenerated('/big-chunked', 100_000, { omitLength: true })
    const streamed = await failureOf(() => httpGet(`${files.url}/big-chunked`, transport, { timeoutMs: 5000, maxBytes: 50_000 }))
    t.equal(streamed.kind, 'too-large', 'a chunked body is cut off when it passes the cap')
    t.equal(streamed.message, `${files.url}/big-chunked is more than 50000 bytes`)

    const exact = await httpGet(`${files.url}/big-chunked`, transport, { timeoutMs: 5000, maxBytes: 100_000 })
    t.equal(exact.body.length, 100_000, 'exactly maxBytes is read whole')
  })

  t.test('redirects: relative and absolute followed, a bounded chain', async (t) => {
    files.put('/target.txt', 'the target')
    files.put('/relative', '', { redirectTo: '/target.txt' })
    files.put('/absolute', '', { redirectTo: `${files.url}/target.txt`, status: 301 })
    for (const path of ['/relative', '/absolute']) {
      const res = await httpGet(`${files.url}${path}`, transport, get)
      t.equal(res.status, 200, path)
      t.equal(res.body.toString(), 'the target', path)
      t.equal(res.url, `${files.url}/target.txt`, `${path}: the URL finally answered`)
    }
    // /hop0 → /hop1 → /hop2 → /hop3 → /target.txt: four redirects.
    for (let i = 0; i < 4; i++) files.put(`/hop${i}`, '', { redirectTo: i === 3 ? '/target.txt' : `/hop${i + 1}` })
    const four = await httpGet(`${files.url}/hop0`, transport, { ...get, maxRedirects: 4 })
    t.equal(four.body.toString(), 'the target', 'four redirects with maxRedirects 4')
    const before = files.hits('/target.txt')
    const tooMany = await failureOf(() => httpGet(`${files.url}/hop0`, transport, { ...get, maxRedirects: 3 }))
    t.equal(tooMany.kind, 'protocol')
    t.equal(tooMany.message, `more than 3 redirects from ${files.url}/hop0`)
    t.equal(files.hits('/target.txt'), before, 'the end of a chain too long is never asked for')

    // As Go's client, which Tekton's resolvers use: nine redirects followed by default, the tenth refused.
    for (let i = 0; i < 10; i++) files.put(`/go${i}`, '', { redirectTo: i === 9 ? '/target.txt' : `/go${i + 1}` })
    const nine = await httpGet(`${files.url}/go1`, transport, get)
    t.equal(nine.body.toString(), 'the target', 'nine redirects followed by default')
    const ten = await failureOf(() => httpGet(`${files.url}/go0`, transport, get))
    t.equal(ten.message, `more than 9 redirects from ${files.url}/go0`, 'the tenth refused, as Go stops after 10 redirects')
    // Only the redirects Go follows: another 3xx with a Location is the answer itself.
    for (const status of [300, 304, 305, 306]) {
      files.put(`/status${status}`, '', { redirectTo: '/target.txt', status })
      const res = await httpGet(`${files.url}/status${status}`, transport, get)
      t.equal(res.status, status, `${status} is not followed`)
    }
    for (const status of [302, 303, 307, 308]) {
      files.put(`/status${status}`, '', { redirectTo: '/target.txt', status })
      t.equal((await httpGet(`${files.url}/status${status}`, transport, get)).status, 200, `${status} is followed`)
    }

    files.put('/to-plain', '', { redirectTo: `${files.url.replace('https:', 'http:')}/target.txt` })
    const downgrade = await failureOf(() => httpGet(`${files.url}/to-plain`, transport, get))
    t.equal(downgrade.kind, 'refused', 'a redirect from https to http is refused')
    t.equal(downgrade.message, 'stepsplice fetches only https:// URLs, not http://')
  })

  t.test('a redirect to a host the transport does not allow is refused, and never followed', async (t) => {
    other.put('/elsewhere.txt', 'elsewhere')
    files.put('/away', '', { redirectTo: `${otherByName}/elsewhere.txt` })
    const onlyHere = new Transport({ extraCa, hosts: ['127.0.0.1'] })
    const refused = await failureOf(() => httpGet(`${files.url}/away`, onlyHere, get))
    t.equal(refused.kind, 'refused')
    t.equal(refused.message, `host ${new URL(otherByName).host} is not one stepsplice may fetch from (--remote-host)`)
    t.equal(other.hits('/elsewhere.txt'), 0, 'the other host was never asked')

    const anywhere = await httpGet(`${files.url}/away`, transport, get)
    t.equal(anywhere.body.toString(), 'elsewhere', 'without an allow-list the same redirect is followed')
    t.equal(anywhere.url, `${otherByName}/elsewhere.txt`)
  })

  t.test('Authorization goes to the origin only, other headers go everywhere', async (t) => {
    other.put('/signed.txt', 'signed storage')
    files.put('/blob', '', { redirectTo: `${otherByName}/signed.txt` })
    files.put('/same', '', { redirectTo: '/a.txt' })
    files.put('/a.txt', 'hello from a\n')
    const headers = { Authorization: 'Bearer s3cret', 'x-trace': 'kept' }
    const res = await httpGet(`${files.url}/blob`, transport, { ...get, headers })
    t.equal(res.body.toString(), 'signed storage')
    const atOrigin = files.requests.filter((r) => r.path === '/blob').at(-1)
    const atOther = other.requests.filter((r) => r.path === '/signed.txt').at(-1)
    t.equal(atOrigin?.headers.authorization, 'Bearer s3cret', 'the origin gets the credentials')
    t.equal(atOther?.headers.authorization, undefined, 'the host redirected to does not')
    t.equal(atOther?.headers['x-trace'], 'kept', 'other headers follow the redirect')
    t.equal(atOther?.headers.host, new URL(otherByName).host, 'it was asked under its own name')

    await httpGet(`${files.url}/same`, transport, { ...get, headers: { authorization: 'Bearer s3cret' } })
    const sameHost = files.requests.filter((r) => r.path === '/a.txt').at(-1)
    t.equal(sameHost?.headers.authorization, 'Bearer s3cret', 'a redirect on the same host keeps them')

    // Another port of the same address is another origin.
    files.put('/port', '', { redirectTo: `${other.url}/signed.txt` })
    await httpGet(`${files.url}/port`, transport, { ...get, headers: { authorization: 'Bearer s3cret' } })
    t.equal(other.requests.filter((r) => r.path === '/signed.txt').at(-1)?.headers.authorization, undefined, 'not to another port either')
  })

  t.test('a server that never answers: timeout; a caller that stops waiting: aborted', async (t) => {
    const stuck = await startFileServer(t, { certs })
    stuck.put('/slow', 'never sent')
    stuck.setHang(true)
    const timedOut = await failureOf(() => httpGet(`${stuck.url}/slow`, transport, { timeoutMs: 300, maxBytes: 1024 }))
    t.equal(timedOut.kind, 'timeout')
    t.equal(timedOut.message, `no answer from ${new URL(stuck.url).host} within 300 ms`)

    const already = await failureOf(() => httpGet(`${stuck.url}/slow`, transport, { timeoutMs: 30_000, maxBytes: 1024, signal: AbortSignal.abort() }))
    t.equal(already.kind, 'aborted', 'a signal aborted before the start')
    t.equal(already.message, `stopped waiting for ${new URL(stuck.url).host}`)

    // A hung request is never seen by the handler; one that waits inside it is: abort once it has arrived.
    stuck.setHang(false)
    stuck.put('/late', 'sent a minute late', { delayMs: 60_000 })
    const controller = new AbortController()
    const pending = failureOf(() => httpGet(`${stuck.url}/late`, transport, { timeoutMs: 30_000, maxBytes: 1024, signal: controller.signal }))
    while (stuck.hits('/late') === 0) await new Promise((resolve) => setTimeout(resolve, 10))
    controller.abort()
    const aborted = await pending
    t.equal(aborted.kind, 'aborted', 'a signal aborted while the request waits for its answer')
    t.equal(aborted.message, `stopped waiting for ${new URL(stuck.url).host}`)
  })
})

// ---- git ----

const git = await startGitServer(t, { certs })
const big = 'x'.repeat(5000)
const [c1 = '', c2 = '', c3 = '', c4 = ''] = await git.createRepo('files', [
  {
    files: {
      'task/a.yaml': 'a: 1\n',
      'task/b.yaml': 'b: 1\n',
      'dir/inner.txt': 'inner\n',
      'link.yaml': { symlink: 'task/a.yaml' },
      linkdir: { symlink: 'dir' },
      'big.txt': big,
    },
    tag: 'v1',
  },
  { files: { 'task/a.yaml': 'a: 2\n' }, annotatedTag: 'v2' },
  { files: { 'task/a.yaml': 'a: 3\n' } },
  { files: { 'task/a.yaml': 'a: feature\n' }, branch: 'feature' },
])

function gitClient(cacheDir: string, options: Partial<GitOptions> = {}): GitClient {
  return new GitClient({
    transport,
    cacheDir,
    timeoutMs: 10_000,
    maxRepoBytes: 64 * 1024 * 1024,
    maxDiskBytes: 256 * 1024 * 1024,
    maxFileBytes: 1024 * 1024,
    ...options,
  })
}

/** The directory GitClient keeps a repository in. */
function repoDir(cacheDir: string, url: string): string {
  return join(cacheDir, `${createHash('sha256').update(url).digest('hex').slice(0, 24)}.git`)
}

const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  )

async function diskUsage(dir: string): Promise<number> {
  let total = 0
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size
  }
  return total
}

const stepActionText = (name: string): string =>
  `apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata:\n  name: ${name}\nspec:\n  image: alpine\n  script: echo ${name}\n`

const text = (file: GitFile | undefined): string | undefined => (file !== undefined && 'content' in file ? file.content.toString() : undefined)

// One client for the reads of the 'files' repository: its cache is what lets later tests cost little.
const filesCache = await tempDir(t, 'stepsplice-git-cache-')
const shared = gitClient(filesCache, { maxFileBytes: 1000 })

t.test('GitClient: files at a commit, a branch, tags', async (t) => {
  const url = git.repoUrl('files')
  const pinned = await shared.fetchFiles(url, c1, ['task/a.yaml', 'task/b.yaml', 'dir/inner.txt'])
  t.equal(pinned.commit, c1)
  t.equal(text(pinned.files.get('task/a.yaml')), 'a: 1\n')
  t.equal(text(pinned.files.get('task/b.yaml')), 'b: 1\n')
  t.equal(text(pinned.files.get('dir/inner.txt')), 'inner\n')
  t.same([...pinned.files.keys()].sort(), ['dir/inner.txt', 'task/a.yaml', 'task/b.yaml'], 'exactly what was asked for')
  t.equal(await exists(repoDir(filesCache, url)), true, 'kept in <first 24 hex of sha256(url)>.git')

  const cases: [string, string, string][] = [
    ['main', c3, 'a: 3\n'],
    ['v1', c1, 'a: 1\n'],
    ['v2', c2, 'a: 2\n'],
  ]
  for (const [revision, commit, content] of cases) {
    const got = await shared.fetchFiles(url, revision, ['task/a.yaml'])
    t.equal(got.commit, commit, `${revision} names its commit, in full`)
    t.equal(text(got.files.get('task/a.yaml')), content, `${revision}: the file at that commit`)
  }
  t.not(await git.git('files', ['rev-parse', 'v2']), c2, 'v2 is an annotated tag: a tag object, peeled to its commit above')
  t.equal(await git.git('files', ['rev-parse', 'v1']), c1, 'v1 is a lightweight tag')
  t.equal(await shared.commitOf(url, 'feature'), c4, 'another branch; commitOf gives the commit alone')

  const dash = await failureOf(() => shared.fetchFiles(url, '--upload-pack=touch /tmp/x', ['task/a.yaml']))
  t.equal(dash.kind, 'refused', 'a revision that looks like an option')
  t.equal(dash.message, 'revision "--upload-pack=touch /tmp/x" must not begin with "-"')
})

t.test('GitClient: what is not a readable file', async (t) => {
  const paths = ['nope.yaml', 'task/nope/deeper.yaml', 'task/a.yaml/below', 'dir', 'link.yaml', 'linkdir/inner.txt', 'big.txt', 'task/b.yaml']
  const got = await shared.fetchFiles(git.repoUrl('files'), c1, paths)
  t.equal(got.commit, c1)
  t.same(got.files.get('nope.yaml'), { missing: true })
  t.same(got.files.get('task/nope/deeper.yaml'), { missing: true }, 'under a directory that is not there')
  t.same(got.files.get('task/a.yaml/below'), { missing: true }, 'under a file')
  t.same(got.files.get('dir'), { notFile: 'a directory' })
  t.same(got.files.get('link.yaml'), { symlink: true }, 'a symbolic link')
  t.same(got.files.get('linkdir/inner.txt'), { symlink: true }, 'a path under a symbolically linked directory')
  t.same(got.files.get('big.txt'), { tooLarge: 5000 }, 'a file larger than maxFileBytes: its size')
  t.equal(text(got.files.get('task/b.yaml')), 'b: 1\n', 'and a file beside them all reads as usual')
  t.equal(got.files.size, paths.length)
})

t.test('GitClient: the files one fetch reads are bounded all together, in the order asked', async (t) => {
  const cacheDir = await tempDir(t, 'stepsplice-git-cache-')
  // task/a.yaml and task/b.yaml are 5 bytes each, dir/inner.txt 6: the first two fit in 12, the third does not.
  const client = gitClient(cacheDir, { maxFileBytes: 1000, maxReadBytes: 12 })
  const got = await client.fetchFiles(git.repoUrl('files'), c1, ['task/b.yaml', 'task/a.yaml', 'big.txt', 'nope.yaml'])
  t.equal(text(got.files.get('task/b.yaml')), 'b: 1\n')
  t.ok('content' in (got.files.get('task/a.yaml') ?? {}), 'within the bound')
  t.same(got.files.get('big.txt'), { tooLarge: 5000 }, 'past maxFileBytes: not counted against the bound')
  const third = await client.fetchFiles(git.repoUrl('files'), c1, ['task/a.yaml', 'task/b.yaml', 'dir/inner.txt'])
  t.ok('content' in (third.files.get('task/b.yaml') ?? {}))
  t.same(third.files.get('dir/inner.txt'), { notRead: 12 }, 'past the bound: not read, and says so')
})

/** A GitResolver over `client` with caches of its own, and references to paths of `repo` at `commit`. */
function gitResolverAt(client: GitClient, repo: string, commit: string): { resolver: GitResolver; ref: (path: string) => StepReference } {
  const resolver = new GitResolver({
    client,
    files: new BoundedCache<Read>({ maxBytes: 1024 * 1024, maxEntries: 100 }),
    revisions: new BoundedCache<string>({ maxBytes: 1024 * 1024, maxEntries: 100 }),
    fetches: new SharedFetches<GitFiles>(new Limiter(4)),
    ttlMs: 60_000,
  })
  const ref = (path: string): StepReference => ({
    namespace: 'team-a',
    resolver: 'git',
    params: [
      { name: 'url', value: git.repoUrl(repo) },
      { name: 'revision', value: commit },
      { name: 'pathInRepo', value: path },
    ],
  })
  return { resolver, ref }
}

t.test('GitResolver: a file crowded out of a fetch gathered with other requests is read alone', async (t) => {
  const cacheDir = await tempDir(t, 'stepsplice-git-cache-')
  const [commit = ''] = await git.createRepo('crowded', [
    { files: { 'big-1.yaml': `# ${'x'.repeat(700)}\n`, 'big-2.yaml': `# ${'y'.repeat(700)}\n`, 'small.yaml': stepActionText('small') } },
  ])
  // What one fetch reads: both big files, and nothing past them.
  const { resolver, ref } = gitResolverAt(gitClient(cacheDir, { maxFileBytes: 1000, maxReadBytes: 1500 }), 'crowded', commit)
  // Asked in one turn: gathered into one fetch, the big files first.
  const [, , small] = await Promise.all([resolver.resolve(ref('big-1.yaml')), resolver.resolve(ref('big-2.yaml')), resolver.resolve(ref('small.yaml'))])
  t.match(small, { definition: { name: 'small' } }, 'what the others asked for does not decide its answer')
})

t.test('GitResolver: past the absent paths one fetch looks at, a path is looked at alone, not called missing', async (t) => {
  const cacheDir = await tempDir(t, 'stepsplice-git-cache-')
  const [commit = ''] = await git.createRepo('absent', [{ files: { 'dir/a.yaml': stepActionText('a'), linkdir: { symlink: 'dir' } } }])
  const { resolver, ref } = gitResolverAt(gitClient(cacheDir), 'absent', commit)
  // Asked in one turn with 20 paths the commit does not hold: gathered into one fetch, the linked path last.
  const answers = await Promise.all([...Array.from({ length: 20 }, (_, i) => resolver.resolve(ref(`none-${i}.yaml`))), resolver.resolve(ref('linkdir/a.yaml'))])
  t.match(answers[0], { error: /error opening file "none-0.yaml": file does not exist/ }, 'a path looked at and absent is denied')
  t.same(
    answers[20],
    { unresolved: 'git: linkdir/a.yaml is behind a symbolic link, which stepsplice does not follow', resolver: 'git' },
    'what the other requests asked for does not make it missing: Tekton follows the link',
  )
})

t.test('GitClient: a commit already fetched is not fetched again; a branch is asked again', async (t) => {
  const [commit = ''] = await git.createRepo('once', [{ files: { 'a.txt': 'A\n', 'b.txt': 'B\n' } }])
  const url = git.repoUrl('once')
  t.equal(git.uploadPackPosts('once'), 0)
  const first = await shared.fetchFiles(url, commit, ['a.txt'])
  t.equal(text(first.files.get('a.txt')), 'A\n')
  const posts = git.uploadPackPosts('once')
  t.ok(posts > 0, 'the first fetch asks the server')
  const again = await shared.fetchFiles(url, commit, ['a.txt'])
  t.equal(again.commit, commit)
  t.equal(text(again.files.get('a.txt')), 'A\n')
  t.equal(git.uploadPackPosts('once'), posts, 'the second asks nothing: commit and blob are on disk')

  // A branch names another commit once pushed to: the client asks each time (the resolver caches it for a TTL).
  const second = await git.advance('once', { 'a.txt': 'A2\n' })
  const moved = await shared.fetchFiles(url, 'main', ['a.txt', 'b.txt'])
  t.equal(moved.commit, second, 'main, moved, names the new commit')
  t.equal(text(moved.files.get('a.txt')), 'A2\n')
  t.equal(text(moved.files.get('b.txt')), 'B\n')
  t.ok(git.uploadPackPosts('once') > posts)
})

t.test('GitClient: failures', async (t) => {
  const cacheDir = await tempDir(t, 'stepsplice-git-cache-')
  const client = gitClient(cacheDir)
  const gone = git.repoUrl('no-such-repo')
  const unknown = await failureOf(() => client.fetchFiles(gone, 'main', ['a.yaml']))
  t.equal(unknown.kind, 'status', 'a repository the server does not have')
  t.equal(unknown.status, 404)
  t.equal(unknown.message, 'git fetch: repository not found')
  t.equal(await exists(repoDir(cacheDir, gone)), false, 'a failed fetch leaves no repository behind')

  const unknownBranch = await failureOf(() => client.fetchFiles(git.repoUrl('files'), 'no-such-branch', ['task/a.yaml']))
  t.equal(unknownBranch.kind, 'status', 'a revision the repository does not have')
  t.equal(unknownBranch.status, 404)
  t.match(unknownBranch.message, /^git fetch: .*no-such-branch/)

  // A revision the remote lacks costs the repository nothing: what earlier fetches brought stays for the others.
  const [kept = ''] = await git.createRepo('kept', [{ files: { 'a.txt': 'A\n' } }])
  const keptUrl = git.repoUrl('kept')
  t.equal(text((await client.fetchFiles(keptUrl, kept, ['a.txt'])).files.get('a.txt')), 'A\n')
  const posts = git.uploadPackPosts('kept')
  t.equal((await failureOf(() => client.fetchFiles(keptUrl, 'no-such-branch', ['a.txt']))).status, 404, 'a revision it does not have')
  t.equal(await exists(repoDir(cacheDir, keptUrl)), true, 'the repository stays')
  const postsAfter = git.uploadPackPosts('kept')
  t.equal(text((await client.fetchFiles(keptUrl, kept, ['a.txt'])).files.get('a.txt')), 'A\n')
  t.equal(git.uploadPackPosts('kept'), postsAfter, 'and the commit it held is read without asking the server again')
  t.ok(postsAfter > posts, 'the failed fetch did ask the server')

  // A lock a killed git left behind: git refuses to go on, so the repository is wiped and the next fetch starts clean.
  const keptDir = repoDir(cacheDir, keptUrl)
  await writeFile(join(keptDir, 'shallow.lock'), '')
  const locked = await failureOf(() => client.fetchFiles(keptUrl, 'main', ['a.txt']))
  t.equal(locked.kind, 'unreachable', `a lock in the way: ${locked.message}`)
  t.equal(await exists(keptDir), false, 'the repository is wiped')
  t.equal(text((await client.fetchFiles(keptUrl, 'main', ['a.txt'])).files.get('a.txt')), 'A\n', 'and fetched afresh')

  const plain = git.repoUrl('files').replace('https:', 'http:')
  const refused = await failureOf(() => client.fetchFiles(plain, 'main', ['task/a.yaml']))
  t.equal(refused.kind, 'refused', 'http:// without allowPlainHttp')
  t.equal(refused.message, 'stepsplice fetches only https:// URLs, not http://')
  const onlyElsewhere = gitClient(cacheDir, { transport: new Transport({ extraCa, hosts: ['git.example.com'] }) })
  t.equal((await failureOf(() => onlyElsewhere.fetchFiles(git.repoUrl('files'), 'main', []))).kind, 'refused', 'a host not allowed')

  const stuck = await startGitServer(t, { certs })
  stuck.setHang(true)
  const stuckDir = await tempDir(t, 'stepsplice-git-cache-')
  const held = stuck.repoUrl('held')
  const quick = gitClient(stuckDir, { timeoutMs: 1000 })
  const timedOut = await failureOf(() => quick.fetchFiles(held, 'main', ['a.txt']))
  t.equal(timedOut.kind, 'timeout', 'a server that never answers')
  t.match(timedOut.message, /^git \S+ took longer than 1000 ms$/)
  t.equal(await exists(repoDir(stuckDir, held)), false, 'the half-fetched repository is wiped')

  const patient = gitClient(stuckDir, { timeoutMs: 30_000 })
  const controller = new AbortController()
  const pending = failureOf(() => patient.fetchFiles(held, 'main', ['a.txt'], controller.signal))
  // The server never answers, so wherever the abort lands, the fetch is still waiting.
  setTimeout(() => controller.abort(), 200)
  const aborted = await pending
  t.equal(aborted.kind, 'aborted', 'a caller that stops waiting')
  t.match(aborted.message, /^stopped waiting for /)
  t.equal(await exists(repoDir(stuckDir, held)), false, 'wiped again')

  const before = await failureOf(() => patient.fetchFiles(held, 'main', ['a.txt'], AbortSignal.abort()))
  t.equal(before.kind, 'aborted', 'a signal aborted before the start')
  t.equal(before.message, `stopped waiting for ${new URL(stuck.url).host}`)
})

t.test('GitClient: disk bounds and what an earlier process left', async (t) => {
  const same = (name: string) => ({ files: { 'f.txt': `${name}\n`, 'g.txt': `${name} g\n` } })
  await git.createRepo('alpha', [same('alpha')])
  await git.createRepo('beta', [same('beta')])
  const alpha = git.repoUrl('alpha')
  const beta = git.repoUrl('beta')
  // What one such repository takes on disk, measured by the first subtest.
  let one = 0

  t.test('a new client sweeps repositories left in its cache directory, and nothing else', async (t) => {
    const cacheDir = await tempDir(t, 'stepsplice-git-cache-')
    const leftover = join(cacheDir, '0123456789abcdef01234567.git')
    await mkdir(join(leftover, 'objects'), { recursive: true })
    await writeFile(join(leftover, 'config'), '[core]\n')
    const notes = join(cacheDir, 'notes.txt')
    await writeFile(notes, 'keep me\n')
    const otherDir = join(cacheDir, 'mine.git')
    await mkdir(otherDir)
    const shortName = join(cacheDir, '0123456789abcdef.git')
    await mkdir(shortName)
    const fileNamedLikeRepo = join(cacheDir, 'fedcba9876543210fedcba98.git')
    await writeFile(fileNamedLikeRepo, 'a file, not a repository\n')

    const client = gitClient(cacheDir)
    t.equal(await exists(leftover), true, 'nothing is swept before the first fetch')
    t.equal(text((await client.fetchFiles(alpha, 'main', ['f.txt'])).files.get('f.txt')), 'alpha\n')
    t.equal(await exists(leftover), false, 'the leftover repository is gone')
    t.equal(await exists(repoDir(cacheDir, alpha)), true, 'the one just fetched is there')
    t.equal(await exists(notes), true, 'a file is left alone')
    t.equal(await exists(otherDir), true, 'a directory of another name is left alone')
    t.equal(await exists(shortName), true, 'so is one whose name is not 24 hex digits')
    t.equal(await exists(fileNamedLikeRepo), true, 'and a file named like a repository')
    one = await diskUsage(repoDir(cacheDir, alpha))
    t.ok(one > 0, `one repository takes ${one} bytes`)

    await client.fetchFiles(beta, 'main', ['f.txt'])
    t.equal(await exists(repoDir(cacheDir, alpha)), true, 'the sweep is once per client: its own repositories stay')
    t.equal(await exists(repoDir(cacheDir, beta)), true)
  })

  t.test('past maxDiskBytes, the least recently used repository goes', async (t) => {
    const cacheDir = await tempDir(t, 'stepsplice-git-cache-')
    const client = gitClient(cacheDir, { maxDiskBytes: Math.floor(one * 1.5) })
    t.equal(text((await client.fetchFiles(alpha, 'main', ['f.txt'])).files.get('f.txt')), 'alpha\n')
    t.equal(await exists(repoDir(cacheDir, alpha)), true, 'one fits')
    t.equal(text((await client.fetchFiles(beta, 'main', ['f.txt'])).files.get('f.txt')), 'beta\n')
    t.equal(await exists(repoDir(cacheDir, alpha)), false, 'two do not: A, used least recently, is wiped')
    t.equal(await exists(repoDir(cacheDir, beta)), true, 'B stays')
    const posts = git.uploadPackPosts('alpha')
    t.equal(text((await client.fetchFiles(alpha, 'main', ['g.txt'])).files.get('g.txt')), 'alpha g\n', 'A fetched afresh')
    t.ok(git.uploadPackPosts('alpha') > posts)
    t.equal(await exists(repoDir(cacheDir, beta)), false, 'and now B goes')
  })

  t.test('past maxRepoBytes, a repository is wiped after its fetch', async (t) => {
    const cacheDir = await tempDir(t, 'stepsplice-git-cache-')
    const client = gitClient(cacheDir, { maxRepoBytes: Math.floor(one / 2) })
    t.equal(text((await client.fetchFiles(alpha, 'main', ['f.txt'])).files.get('f.txt')), 'alpha\n', 'the files are still returned')
    t.equal(await exists(repoDir(cacheDir, alpha)), false, 'the repository is not kept')
  })
})

// ---- cache, shared fetches, limiter ----

t.test('BoundedCache', async (t) => {
  t.test('least recently used goes first, by bytes', async (t) => {
    const cache = new BoundedCache<string>({ maxBytes: 100, maxEntries: 10 })
    cache.set('a', 'A', 40)
    cache.set('b', 'B', 40)
    t.equal(cache.bytes, 80)
    cache.set('c', 'C', 40)
    t.equal(cache.get('a'), undefined, 'a, the oldest, made room')
    t.equal(cache.get('b'), 'B')
    t.equal(cache.get('c'), 'C')
    t.equal(cache.size, 2)
    t.equal(cache.bytes, 80)
    cache.set('d', 'D', 100)
    t.same([cache.get('b'), cache.get('c'), cache.get('d')], [undefined, undefined, 'D'], 'one value of the whole size pushes out everything else')
    t.equal(cache.bytes, 100)
  })

  t.test('least recently used goes first, by count', async (t) => {
    const cache = new BoundedCache<number>({ maxBytes: 1_000_000, maxEntries: 2 })
    cache.set('a', 1, 1)
    cache.set('b', 2, 1)
    cache.set('c', 3, 1)
    t.equal(cache.size, 2)
    t.same([cache.get('a'), cache.get('b'), cache.get('c')], [undefined, 2, 3])
  })

  t.test('get refreshes recency', async (t) => {
    const cache = new BoundedCache<string>({ maxBytes: 100, maxEntries: 2 })
    cache.set('a', 'A', 10)
    cache.set('b', 'B', 10)
    t.equal(cache.get('a'), 'A')
    cache.set('c', 'C', 10)
    t.equal(cache.get('b'), undefined, 'b, now the least recently used, went')
    t.equal(cache.get('a'), 'A', 'a, used since, stays')
    t.equal(cache.get('c'), 'C')

    const bytes = new BoundedCache<string>({ maxBytes: 30, maxEntries: 10 })
    bytes.set('x', 'X', 10)
    bytes.set('y', 'Y', 10)
    bytes.set('z', 'Z', 10)
    bytes.get('x')
    bytes.set('w', 'W', 10)
    t.same([bytes.get('x'), bytes.get('y'), bytes.get('z'), bytes.get('w')], ['X', undefined, 'Z', 'W'], 'the same by bytes')
  })

  t.test('entries expire after their TTL; without one they never do', async (t) => {
    let clock = 1_000_000
    const cache = new BoundedCache<string>({ maxBytes: 1000, maxEntries: 10, now: () => clock })
    cache.set('short', 'S', 5, 100)
    cache.set('forever', 'F', 7)
    clock += 99
    t.equal(cache.get('short'), 'S', 'before its TTL')
    clock += 1
    t.equal(cache.get('short'), undefined, 'at its TTL')
    t.equal(cache.size, 1, 'the expired entry is dropped')
    t.equal(cache.bytes, 7, 'and its bytes')
    clock += 10 * 365 * 24 * 3600 * 1000
    t.equal(cache.get('forever'), 'F', 'no TTL: kept until evicted')
    cache.set('forever', 'F2', 3, 50)
    t.equal(cache.bytes, 3, 'setting a key again replaces its bytes')
    clock += 50
    t.equal(cache.get('forever'), undefined, 'and its TTL')
  })

  t.test('a value larger than the whole cache is not kept', async (t) => {
    const cache = new BoundedCache<string>({ maxBytes: 100, maxEntries: 10 })
    cache.set('small', 's', 10)
    cache.set('huge', 'h', 101)
    t.equal(cache.get('huge'), undefined)
    t.equal(cache.get('small'), 's', 'and it pushes nothing out')
    t.equal(cache.bytes, 10)
    cache.set('small', 'S', 101)
    t.equal(cache.get('small'), undefined, 'a key set again with too large a value holds nothing, not its old value')
    t.equal(cache.size, 0)
    t.equal(cache.bytes, 0)
  })
})

t.test('SharedFetches and Limiter', async (t) => {
  t.test('two waiters on one key share one run', async (t) => {
    const shared = new SharedFetches<string>(new Limiter(4))
    let runs = 0
    const gate = Promise.withResolvers<string>()
    const work = (): Promise<string> => {
      runs++
      return gate.promise
    }
    const one = shared.wait('k', work, { what: 'one' })
    const two = shared.wait('k', work, { what: 'two' })
    await settle()
    t.equal(runs, 1, 'one run')
    t.equal(shared.size, 1)
    gate.resolve('value')
    t.same(await Promise.all([one, two]), ['value', 'value'])
    t.equal(shared.size, 0, 'a settled fetch is forgotten')
    t.equal(await shared.wait('k', async () => `run ${++runs}`, { what: 'three' }), 'run 2', 'a later wait runs the work again: this is no cache')

    const failing = Promise.withResolvers<string>()
    const f1 = shared.wait('bad', () => failing.promise, { what: 'f1' })
    const f2 = shared.wait('bad', () => failing.promise, { what: 'f2' })
    failing.reject(new FetchFailure('status', 'gone', 404))
    for (const f of [f1, f2]) {
      const failure = await failureOf(() => f)
      t.equal(failure.kind, 'status', 'every waiter gets the failure')
      t.equal(failure.status, 404)
    }
  })

  t.test('with a Limiter of 1, a second key waits until the first finishes', async (t) => {
    const shared = new SharedFetches<string>(new Limiter(1))
    const events: string[] = []
    const gateA = Promise.withResolvers<void>()
    const a = shared.wait(
      'a',
      async () => {
        events.push('a started')
        await gateA.promise
        events.push('a done')
        return 'A'
      },
      { what: 'a' },
    )
    const b = shared.wait(
      'b',
      async () => {
        events.push('b started')
        return 'B'
      },
      { what: 'b' },
    )
    await settle()
    t.same(events, ['a started'], 'b waits for a slot')
    t.equal(shared.size, 2, 'both are running or waiting')
    gateA.resolve()
    t.same(await Promise.all([a, b]), ['A', 'B'])
    t.same(events, ['a started', 'a done', 'b started'], 'b started only after a finished')

    const limiter = new Limiter(0)
    t.equal(await limiter.run(async () => 'ran'), 'ran', 'a Limiter of 0 still runs one at a time')
    const refused = await failureOf(() => limiter.run(async () => 'never', AbortSignal.abort()))
    t.equal(refused.kind, 'aborted', 'work whose signal is already aborted never starts')
  })

  t.test('a waiter that stops waiting leaves the others their value', async (t) => {
    const shared = new SharedFetches<string>(new Limiter(4))
    const gate = Promise.withResolvers<string>()
    let workSignal: AbortSignal | undefined
    const work = (signal: AbortSignal): Promise<string> => {
      workSignal = signal
      return gate.promise
    }
    const leaving = new AbortController()
    const staying = new AbortController()
    const left = shared.wait('k', work, { signal: leaving.signal, what: 'git example.com' })
    const stays = shared.wait('k', work, { signal: staying.signal, what: 'git example.com' })
    leaving.abort()
    const failure = await failureOf(() => left)
    t.equal(failure.kind, 'aborted')
    t.equal(failure.message, 'stopped waiting for git example.com')
    t.equal(workSignal?.aborted, false, 'the fetch goes on for the one still waiting')
    gate.resolve('value')
    t.equal(await stays, 'value')

    const past = await failureOf(() => shared.wait('late', () => new Promise<string>(() => {}), { until: Date.now() - 1, what: 'http example.com' }))
    t.equal(past.kind, 'timeout', 'a waiter whose until has passed')
    t.equal(past.message, 'http example.com did not answer in time')
  })

  t.test('when the last waiter leaves, a fetch waiting for a slot never starts; one under way runs on', async (t) => {
    const shared = new SharedFetches<string>(new Limiter(1))
    const gateA = Promise.withResolvers<string>()
    let aSignal: AbortSignal | undefined
    const a = shared.wait(
      'a',
      (signal) => {
        aSignal = signal
        return gateA.promise
      },
      { what: 'a' },
    )
    let bRuns = 0
    const leaveB = new AbortController()
    const b = shared.wait(
      'b',
      async () => {
        bRuns++
        return 'B'
      },
      { signal: leaveB.signal, what: 'b' },
    )
    await settle()
    leaveB.abort()
    t.equal((await failureOf(() => b)).kind, 'aborted')
    gateA.resolve('A')
    t.equal(await a, 'A')
    t.equal(aSignal?.aborted, false, 'a, still waited for, was never aborted')
    await settle()
    t.equal(bRuns, 0, 'b left the line without running')
    t.equal(shared.size, 0)

    const alone = new AbortController()
    const gateC = Promise.withResolvers<string>()
    let soleSignal: AbortSignal | undefined
    let cRuns = 0
    const sole = shared.wait(
      'c',
      (signal) => {
        cRuns++
        soleSignal = signal
        return gateC.promise
      },
      { signal: alone.signal, what: 'c' },
    )
    await settle()
    alone.abort()
    t.equal((await failureOf(() => sole)).kind, 'aborted', 'the only waiter stops waiting')
    t.equal(soleSignal?.aborted, false, 'a fetch under way runs on, so the requests after it find it cached')
    const later = shared.wait(
      'c',
      async () => {
        cRuns++
        return 'C again'
      },
      { what: 'c' },
    )
    await settle()
    t.equal(cRuns, 1, 'a new request joins the fetch under way rather than start another and take another slot')
    gateC.resolve('C')
    t.equal(await later, 'C', 'and gets its answer')
    t.equal(await shared.wait('d', async () => 'D', { what: 'd' }), 'D', 'the slot is free again')
  })
})

// ---- resolver params ----

t.test('GitClient: a pinned commit is fetched at depth 1, never with its history', async (t) => {
  // In a partial clone, asking git whether it holds a commit it lacks fetches it there and then, with all its history.
  const shas = await git.createRepo(
    'long',
    Array.from({ length: 30 }, (_, i) => ({ files: { 'step.yaml': `v: ${i}\n` } })),
  )
  const tip = shas.at(-1) as string
  const cache = await tempDir(t, 'stepsplice-git-long-')
  const client = gitClient(cache)
  const url = git.repoUrl('long')
  t.equal(text((await client.fetchFiles(url, tip, ['step.yaml'])).files.get('step.yaml')), 'v: 29\n')
  const env = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' }
  const held = (commit: string): string =>
    execFileSync('git', ['-C', repoDir(cache, url), 'rev-list', '--count', commit], { env })
      .toString()
      .trim()
  t.equal(held(tip), '1', 'one commit held, as --depth=1 fetches it')
  const posts = git.uploadPackPosts('long')
  const again = await client.fetchFiles(url, tip, ['step.yaml'])
  t.equal(again.commit, tip)
  t.equal(git.uploadPackPosts('long'), posts, 'a commit this client fetched is read without the network')
  t.equal(text((await client.fetchFiles(url, shas[4] as string, ['step.yaml'])).files.get('step.yaml')), 'v: 4\n', 'an older pin')
  t.equal(held(shas[4] as string), '1', 'which is fetched at depth 1 too')
})

t.test('gitRequest: params as Tekton reads them', async (t) => {
  const url = 'https://git.example.com/org/catalog.git'
  const none = {}
  t.same(gitRequest(params({ url, revision: 'main', pathInRepo: 'a.yaml' }), none), { url, revision: 'main', path: 'a.yaml' })
  // An http(s) URL as it is fetched, however its host was spelled: what the provenance and a sources policy see.
  for (const spelled of ['https://GIT.Example.COM/org/catalog.git', 'https://git.example.com:443/org/catalog.git']) {
    t.same(gitRequest(params({ url: spelled, revision: 'main', pathInRepo: 'a.yaml' }), none), { url, revision: 'main', path: 'a.yaml' }, spelled)
  }
  t.same(gitRequest(params({ url: 'https://git@git.example.com/org/catalog.git', revision: 'main', pathInRepo: 'a.yaml' }), none), {
    url: 'https://git@git.example.com/org/catalog.git',
    revision: 'main',
    path: 'a.yaml',
  })
  // The git CLI (Tekton's clone, and stepsplice's) sends the path as written, a bad escape included.
  t.same(gitRequest(params({ url: 'https://git.example.com/org/cat%zz.git', revision: 'main', pathInRepo: 'a.yaml' }), none), {
    url: 'https://git.example.com/org/cat%zz.git',
    revision: 'main',
    path: 'a.yaml',
  })
  // Tekton's clone asks for the path as written, which a host need not read as its WHATWG form (dot segments resolved,
  // `{` escaped): left for Tekton.
  for (const [spelled, form] of [
    ['https://git.example.com/org/x/../catalog.git', url],
    ['https://git.example.com/org/%2e/catalog.git', url],
    ['https://git.example.com/org/catalog{x}.git', 'https://git.example.com/org/catalog%7Bx%7D.git'],
  ] as const) {
    t.same(
      gitRequest(params({ url: spelled, revision: 'main', pathInRepo: 'a.yaml' }), none),
      {
        unresolved: `git: url ${JSON.stringify(spelled)} is not written as it is requested (${form}): Tekton asks for it as written, so it is left for Tekton`,
        resolver: 'git',
      },
      spelled,
    )
  }
  t.same(gitRequest(params({ url: 'git@github.com:Org/Repo.git', revision: 'main', pathInRepo: 'a.yaml' }), none), {
    url: 'git@github.com:Org/Repo.git',
    revision: 'main',
    path: 'a.yaml',
  })
  t.same(gitRequest(params({ url, revision: 'main' }), none), { error: 'missing required git resolver params: pathInRepo' })
  t.same(gitRequest(params({ url, repo: 'catalog', revision: 'main', pathInRepo: 'a.yaml' }), none), {
    error: "git resolver: cannot specify both 'url' and 'repo'",
  })
  t.same(gitRequest(params({ org: 'org', repo: 'catalog', revision: 'main', pathInRepo: 'a.yaml' }), none), {
    unresolved: 'git: the SCM API form (org and repo) is left to Tekton',
    resolver: 'git',
  })
  t.same(gitRequest(params({ url: 'example.com/x.git', org: 'team', revision: 'main', pathInRepo: 'a.yaml' }), none), {
    unresolved: 'git: url "example.com/x.git" is not one stepsplice clones (an org is given, so Tekton does not check it)',
    resolver: 'git',
  })
  t.match(gitRequest(params({ url: 'example.com/x.git', revision: 'main', pathInRepo: 'a.yaml' }), none), {
    error: 'git resolver: invalid git repository url: example.com/x.git',
  })
  t.same(gitRequest(params({ url, revision: 'main', pathInRepo: 'a.yaml', configKey: 'internal' }), none), {
    unresolved: 'git: param "configKey" names a section of the git resolver\'s configuration, which is not known here',
    resolver: 'git',
  })
  for (const secret of ['token', 'gitToken']) {
    t.same(gitRequest(params({ url, revision: 'main', pathInRepo: 'a.yaml', [secret]: 'my-secret' }), none), {
      unresolved: `git: param "${secret}" names a Secret; stepsplice never reads Secrets a request names`,
      resolver: 'git',
    })
  }
  t.same(
    gitRequest(params({ url, revision: 'main', pathInRepo: 'a.yaml', token: '' }), none),
    { url, revision: 'main', path: 'a.yaml' },
    'an empty token names nothing',
  )
  t.same(gitRequest(params({ url, revision: '-c', pathInRepo: 'a.yaml' }), none), { error: `git resolver: invalid revision "-c": must not begin with '-'` })
  t.same(gitRequest(params({ url, revision: 'main', pathInRepo: 'task/../../etc/passwd' }), none), {
    error: `git resolver: invalid path "task/../../etc/passwd": must not contain '..' components`,
  })
  t.same(gitRequest(params({ url, revision: 'main', pathInRepo: '..' }), none), { error: `git resolver: invalid path "..": must not contain '..' components` })
  t.same(
    gitRequest(params({ url, revision: 'main', pathInRepo: 'a..b/c...yaml' }), none),
    { url, revision: 'main', path: 'a..b/c...yaml' },
    'dots inside a name are fine',
  )
  t.same(
    gitRequest(params({ url, revision: 'main', pathInRepo: '//task/a.yaml' }), none),
    { url, revision: 'main', path: 'task/a.yaml' },
    'leading slashes dropped',
  )
  t.same(gitRequest(params({ url: 'catalog', revision: 'main', pathInRepo: 'a.yaml' }), none), { error: 'git resolver: invalid git repository url: catalog' })
  t.same(gitRequest(params({ url: 'git@github.com:org/repo.git', revision: 'main', pathInRepo: 'a.yaml' }), none), {
    url: 'git@github.com:org/repo.git',
    revision: 'main',
    path: 'a.yaml',
  })

  t.same(gitRequest(params({ url, pathInRepo: 'a.yaml' }), none), {
    unresolved: 'git: no revision, and the default Tekton uses is not known here (--git-default-revision)',
    resolver: 'git',
  })
  t.same(gitRequest(params({ url, pathInRepo: 'a.yaml' }), { defaultRevision: 'stable' }), { url, revision: 'stable', path: 'a.yaml' })
  t.same(gitRequest(params({ url, revision: '', pathInRepo: 'a.yaml' }), { defaultRevision: 'stable' }), {
    unresolved: 'git: the revision is empty',
    resolver: 'git',
  })
  t.same(gitRequest(params({ revision: 'main', pathInRepo: 'a.yaml' }), none), {
    unresolved: 'git: no url, and the default Tekton uses is not known here (--git-default-url)',
    resolver: 'git',
  })
  t.same(gitRequest(params({ revision: 'main', pathInRepo: 'a.yaml' }), { defaultUrl: url }), { url, revision: 'main', path: 'a.yaml' })
})

t.test('httpRequest: params and digests as Tekton reads them', async (t) => {
  const url = 'https://files.example.com/a.yaml'
  const hex = 'ab'.repeat(32)
  t.same(httpRequest(params({ url })), { url })
  // The URL as it is fetched: what the cache, the provenance and a sources policy see, however the host was spelled.
  for (const spelled of ['https://FILES.Example.COM/a.yaml', 'HTTPS://files.example.com/a.yaml', 'https://files.example.com:443/a.yaml']) {
    t.same(httpRequest(params({ url: spelled })), { url }, spelled)
  }
  t.same(httpRequest(params({ url: 'http://files.example.com:80' })), { url: 'http://files.example.com/' }, 'no path is / to Go and to WHATWG')
  t.same(httpRequest(params({ url: 'https://files.example.com?v=1' })), { url: 'https://files.example.com/?v=1' })
  t.same(httpRequest(params({ url: 'https://files.example.com:8443/a%2Fb.yaml' })), { url: 'https://files.example.com:8443/a%2Fb.yaml' }, 'escapes kept')
  // Go escapes a path that is not validly escaped from its decoded bytes, as the WHATWG form does: one request.
  for (const [spelled, form] of [
    ['https://files.example.com/my steps/tâche {1}.yaml', 'https://files.example.com/my%20steps/t%C3%A2che%20%7B1%7D.yaml'],
    ['https://files.example.com/a%20b c.yaml', 'https://files.example.com/a%20b%20c.yaml'],
    ['https://files.example.com/a[1].yaml?x=%zz', 'https://files.example.com/a[1].yaml?x=%zz'],
  ] as const) {
    t.same(httpRequest(params({ url: spelled })), { url: form }, spelled)
  }
  // Go's client asks for the path as written (or escaped again whole), which a server need not read as the WHATWG
  // form: left for Tekton.
  const other = (spelled: string, form: string): Resolution => ({
    unresolved: `http: url ${JSON.stringify(spelled)} is not written as it is requested (${form}): Tekton asks for it as written, so it is left for Tekton`,
    resolver: 'http',
  })
  for (const [spelled, form] of [
    ['https://files.example.com/myorg/../a.yaml', url],
    ['https://files.example.com/myorg/%2e%2e/a.yaml', url],
    ['https://files.example.com/./a.yaml', url],
    ['https://files.example.com\\a.yaml', url],
    ['https://files.example.com/a.yaml?q=a b', 'https://files.example.com/a.yaml?q=a%20b'],
    // `|` makes Go escape the whole path again from its decoded bytes: `%2F` becomes `/`.
    ['https://files.example.com/steps%2Fa|b.yaml', 'https://files.example.com/steps%2Fa|b.yaml'],
    ['https:files.example.com/a.yaml', url],
    [' https://files.example.com/a.yaml', url],
    ['https://bücher.example/a.yaml', 'https://xn--bcher-kva.example/a.yaml'],
  ] as const) {
    t.same(httpRequest(params({ url: spelled })), other(spelled, form), spelled)
  }
  // ParseRequestURI, Tekton's check, does not split off a fragment: right after the host, `#` is part of the host.
  for (const spelled of [
    'https://files.example.com/a%zz.yaml',
    'https://files.example.com/a.yaml%',
    'https://files.example.com/a.yaml#%zz',
    'https://files.example.com/a\tb.yaml',
    'https://files.example.com#a.yaml',
  ]) {
    t.same(
      httpRequest(params({ url: spelled })),
      {
        unresolved: `http: url ${JSON.stringify(spelled)} holds what Go's URL parser refuses (a control character or a % not followed by two hex digits): Tekton fails it, so it is left for Tekton`,
        resolver: 'http',
      },
      spelled,
    )
  }
  t.same(
    httpRequest(params({ url: 'https://me:secret@files.example.com/a.yaml' })),
    { unresolved: 'http: the url names a user (credentials before the host); stepsplice sends none, so it is left for Tekton', resolver: 'http' },
    'user info is never sent nor repeated',
  )
  t.same(httpRequest(params({})), { error: 'missing required http resolver params: url' })
  t.same(httpRequest(params({ url: 'ftp://files.example.com/a.yaml' })), {
    error: 'http resolver: url ftp://files.example.com/a.yaml is not a valid http(s) url',
  })
  t.same(httpRequest(params({ url: 'a.yaml' })), { error: 'http resolver: cannot parse url a.yaml' })
  // Go reads these (an IPv6 zone, a host ending in a number), the WHATWG parser does not: Tekton may fetch them.
  for (const spelled of ['http://[fe80::1%25en0]/a.yaml', 'https://files.123/a.yaml']) {
    t.same(
      httpRequest(params({ url: spelled })),
      { unresolved: `http: url ${JSON.stringify(spelled)} is one stepsplice's URL parser cannot read, so it is left for Tekton`, resolver: 'http' },
      spelled,
    )
  }
  t.same(httpRequest(params({ url, digest: `sha256:${hex}` })), { url, digest: { algorithm: 'sha256', hex } })
  t.same(
    httpRequest(params({ url, digest: `sha512:${'CD'.repeat(64)}` })),
    { url, digest: { algorithm: 'sha512', hex: 'cd'.repeat(64) } },
    'hex in either case',
  )
  t.same(httpRequest(params({ url, digest: `md5:${'ab'.repeat(16)}` })), { error: 'http resolver: error validating digest: invalid digest algorithm: md5' })
  t.same(httpRequest(params({ url, digest: 'sha256:abc' })), {
    error: 'http resolver: error validating digest: invalid sha256 digest value, expected length: 64, got: 3',
  })
  t.same(httpRequest(params({ url, digest: `sha512:${hex}` })), {
    error: 'http resolver: error validating digest: invalid sha512 digest value, expected length: 128, got: 64',
  })
  t.same(httpRequest(params({ url, digest: `sha256:${'zz'.repeat(32)}` })), {
    error: `http resolver: error validating digest: error decoding expected SHA string: ${'zz'.repeat(32)}`,
  })
  t.same(httpRequest(params({ url, digest: hex })), { error: `http resolver: error validating digest: invalid digest format: ${hex}` })

  t.same(httpRequest(params({ url, 'http-username': 'me' })), { error: 'http resolver: missing required param http-password-secret when using http-username' })
  t.same(httpRequest(params({ url, 'http-password-secret': 'creds' })), {
    error: 'http resolver: missing required param http-username when using http-password-secret',
  })
  t.same(httpRequest(params({ url, 'http-username': '', 'http-password-secret': 'creds' })), { error: 'http resolver: value http-username cannot be empty' })
  t.same(httpRequest(params({ url, 'http-username': 'me', 'http-password-secret': '' })), {
    error: 'http resolver: value http-password-secret cannot be empty',
  })
  t.same(httpRequest(params({ url, 'http-username': 'me', 'http-password-secret': 'creds' })), {
    unresolved: 'http: param "http-password-secret" names a Secret; stepsplice never reads Secrets a request names',
    resolver: 'http',
  })
})

t.test('bundlesRequest: params as Tekton reads them', async (t) => {
  const digest = `sha256:${'0'.repeat(64)}`
  t.same(bundlesRequest(params({ bundle: 'registry.example/catalog:v1', name: 'echo', kind: 'stepaction' })), {
    bundle: 'registry.example/catalog:v1',
    name: 'echo',
    kind: 'stepaction',
    pinned: false,
  })
  t.same(bundlesRequest(params({ bundle: `registry.example/catalog@${digest}`, name: 'echo', kind: 'stepaction' })), {
    bundle: `registry.example/catalog@${digest}`,
    name: 'echo',
    kind: 'stepaction',
    pinned: true,
  })
  t.same(bundlesRequest(params({ name: 'echo', kind: 'stepaction' })), { error: 'bundles resolver: parameter "bundle" required' })
  t.same(bundlesRequest(params({ bundle: '', name: 'echo', kind: 'stepaction' })), { error: 'bundles resolver: parameter "bundle" required' })
  t.same(bundlesRequest(params({ bundle: 'registry.example/catalog:v1', kind: 'stepaction' })), { error: 'bundles resolver: parameter "name" required' })
  t.same(bundlesRequest(params({ bundle: 'registry.example/catalog:v1', name: 'echo' })), {
    unresolved: 'bundles: no kind, and the default-kind Tekton uses is not known here',
    resolver: 'bundles',
  })
  t.same(bundlesRequest(params({ bundle: 'registry.example/catalog:v1', name: 'echo', kind: 'stepaction', secret: 'pull' })), {
    unresolved: 'bundles: param "secret" names a Secret; stepsplice never reads Secrets a request names',
    resolver: 'bundles',
  })
  const bad = bundlesRequest(params({ bundle: 'registry.example/Catalog:v1', name: 'echo', kind: 'stepaction' }))
  t.ok('error' in bad && bad.error.startsWith('bundles resolver: invalid bundle reference: '), 'a reference that does not parse')
})

// ---- the http resolver end to end ----

t.test('HttpResolver against the file server', async (t) => {
  const files = await startFileServer(t, { certs })
  let clock = Date.now()
  const ttlMs = 200
  const fetches = new SharedFetches<Buffer>(new Limiter(4))
  const resolver = new HttpResolver({
    transport,
    cache: new BoundedCache<Resolution>({ maxBytes: 4 * 1024 * 1024, maxEntries: 100, now: () => clock }),
    fetches,
    ttlMs,
    timeoutMs: 5000,
  })
  const stepAction = (name: string, image: string): string =>
    `apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata:\n  name: ${name}\nspec:\n  image: ${image}\n  script: echo ${name}\n`
  const sha256 = (body: string): string => createHash('sha256').update(body).digest('hex')
  const ref = (path: string, digest?: string): StepReference => ({
    namespace: 'team-a',
    resolver: 'http',
    params: [{ name: 'url', value: `${files.url}${path}` }, ...(digest === undefined ? [] : [{ name: 'digest', value: digest }])],
  })
  const definitionOf = (r: Resolution) => ('definition' in r ? r.definition : undefined)

  t.test('a definition, its source recorded; kept for the TTL', async (t) => {
    const body = stepAction('echo', 'registry.example/echo:1')
    files.put('/echo.yaml', body)
    const got = await resolver.resolve(ref('/echo.yaml'))
    t.equal(definitionOf(got)?.name, 'echo')
    t.equal(definitionOf(got)?.spec.image, 'registry.example/echo:1')
    t.same(definitionOf(got)?.source, { kind: 'http', location: `${files.url}/echo.yaml`, sourceDigest: `sha256:${sha256(body)}` })
    t.same(definitionOf(got)?.problems, [])
    t.equal(files.hits('/echo.yaml'), 1)
    files.put('/echo.yaml', stepAction('echo', 'registry.example/echo:2'))
    t.equal(definitionOf(await resolver.resolve(ref('/echo.yaml')))?.spec.image, 'registry.example/echo:1', 'within the TTL: cached')
    t.equal(files.hits('/echo.yaml'), 1)
    clock += ttlMs
    t.equal(definitionOf(await resolver.resolve(ref('/echo.yaml')))?.spec.image, 'registry.example/echo:2', 'after it: fetched again')
    t.equal(files.hits('/echo.yaml'), 2)
  })

  t.test('a remote slower than the deadline: the step is left for Tekton, and the next request gets what the fetch brought', async (t) => {
    files.put('/slow.yaml', stepAction('slow', 'img/slow:1'), { delayMs: 600 })
    const first = await resolver.resolve(ref('/slow.yaml'), { deadline: Date.now() + 300 })
    t.match(first, { unresolved: /did not answer in time/ }, 'left for Tekton at the deadline')
    await until('the fetch ended', () => fetches.size === 0)
    const next = await resolver.resolve(ref('/slow.yaml'))
    t.equal(definitionOf(next)?.name, 'slow', 'resolved from what the fetch brought after its waiter had gone')
    t.equal(files.hits('/slow.yaml'), 1, 'not fetched again')
  })

  t.test('two resolutions at once share one fetch', async (t) => {
    files.put('/twice.yaml', stepAction('twice', 'img/twice:1'))
    const both = await Promise.all([resolver.resolve(ref('/twice.yaml')), resolver.resolve(ref('/twice.yaml'))])
    t.same(
      both.map((r) => definitionOf(r)?.name),
      ['twice', 'twice'],
    )
    t.equal(files.hits('/twice.yaml'), 1)
  })

  t.test('a digest that matches: resolved, and kept for good', async (t) => {
    const body = stepAction('pinned', 'img/pinned:1')
    files.put('/pinned.yaml', body)
    const got = await resolver.resolve(ref('/pinned.yaml', `sha256:${sha256(body)}`))
    t.equal(definitionOf(got)?.name, 'pinned')
    t.equal(definitionOf(got)?.source.sourceDigest, `sha256:${sha256(body)}`)
    const sha512 = createHash('sha512').update(body).digest('hex')
    t.equal(definitionOf(await resolver.resolve(ref('/pinned.yaml', `sha512:${sha512}`)))?.name, 'pinned', 'sha512 too')
    const hits = files.hits('/pinned.yaml')
    clock += 10 * 365 * 24 * 3600 * 1000
    t.equal(definitionOf(await resolver.resolve(ref('/pinned.yaml', `sha256:${sha256(body)}`)))?.name, 'pinned')
    t.equal(files.hits('/pinned.yaml'), hits, 'what a digest names never changes: not fetched again')
  })

  t.test('a digest mismatch is an error, kept only for the TTL: a corrected body then resolves', async (t) => {
    const wanted = stepAction('fixed', 'img/fixed:1')
    const served = stepAction('fixed', 'img/fixed:broken')
    files.put('/fixed.yaml', served)
    const digest = `sha256:${sha256(wanted)}`
    const mismatch = await resolver.resolve(ref('/fixed.yaml', digest))
    t.same(mismatch, {
      error: `http resolver: error validating digest: SHA mismatch, expected ${sha256(wanted)}, got ${sha256(served)} (${files.url}/fixed.yaml)`,
    })
    t.equal(files.hits('/fixed.yaml'), 1)
    files.put('/fixed.yaml', wanted)
    t.same(await resolver.resolve(ref('/fixed.yaml', digest)), mismatch, 'within the TTL, the error is cached')
    t.equal(files.hits('/fixed.yaml'), 1, 'not fetched again')
    clock += ttlMs
    const fixed = await resolver.resolve(ref('/fixed.yaml', digest))
    t.equal(definitionOf(fixed)?.spec.image, 'img/fixed:1', 'after the TTL, the corrected body resolves')
    t.equal(files.hits('/fixed.yaml'), 2)
  })

  t.test('what is not a StepAction, too large, not there, or not allowed', async (t) => {
    files.put('/task.yaml', 'apiVersion: tekton.dev/v1\nkind: Task\nmetadata:\n  name: t\nspec:\n  steps: []\n')
    const notStepAction = await resolver.resolve(ref('/task.yaml'))
    t.ok('error' in notStepAction && /resource is not a StepAction/.test(notStepAction.error), 'a Task is not a StepAction')

    files.putGenerated('/huge.yaml', httpMaxBytes + 1)
    t.same(await resolver.resolve(ref('/huge.yaml')), {
      error: `http resolver: ${files.url}/huge.yaml: response body exceeds maximum allowed size of ${httpMaxBytes} bytes`,
    })

    const missing = await resolver.resolve(ref('/missing.yaml'))
    t.same(missing, { unresolved: `http: ${files.url}/missing.yaml answered 404`, resolver: 'http' }, 'a 404 is left for Tekton')
    const plain = await resolver.resolve({
      namespace: 'team-a',
      resolver: 'http',
      params: [{ name: 'url', value: `${files.url.replace('https:', 'http:')}/echo.yaml` }],
    })
    t.same(plain, { unresolved: 'stepsplice fetches only https:// URLs, not http://', resolver: 'http' })
    t.equal(files.hits('/echo.yaml'), 2, 'a refused URL is never fetched')
  })
})

t.test('gitRequest cleans pathInRepo as filepath.Join does, after refusing ..', async (t) => {
  const params = (path: string) =>
    new Map([
      ['url', 'https://git.example.com/c.git'],
      ['revision', 'main'],
      ['pathInRepo', path],
    ])
  for (const written of ['./task/a.yaml', 'task//a.yaml', 'task/./a.yaml', 'task/a.yaml/', '/task/a.yaml']) {
    t.match(gitRequest(params(written), {}), { path: 'task/a.yaml' }, `${written} reads task/a.yaml`)
  }
  t.match(gitRequest(params('task/../a.yaml'), {}), { error: /must not contain '\.\.' components/ })
})
