// The test servers for remote step definitions, checked with real clients:
// the git CLI against the git host, node's https against the file server and
// the registry. If these pass, a failing resolver test is the resolver's fault.

import { lstat, readFile, readlink } from 'node:fs/promises'
import type { IncomingHttpHeaders } from 'node:http'
import https from 'node:https'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import t from 'tap'
import { type CommitSpec, gitClientEnv, runGit, startGitServer } from './helpers/git-server.ts'
import { startFileServer } from './helpers/https-files.ts'
import { type BundleManifest, pushBundle, tektonAnnotations } from './helpers/oci-bundle.ts'
import { mediaTypes, sha256, startFixtureRegistry, startRegistry } from './helpers/oci-registry.ts'
import { mintCerts, tempDir } from './helpers/server.ts'

const certs = await mintCerts(t)

interface Fetched {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  /** How many pieces the body arrived in. */
  pieces: number
}

/** One GET (or `method`), body kept whole; rejects when `signal` aborts first. */
function fetchBytes(url: string, options: { method?: string; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: options.method ?? 'GET', ca: certs.ca, headers: options.headers, agent: false, signal: options.signal }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), pieces: chunks.length }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** Whether a request is still unanswered after `ms` (a bounded wait, not a timing assertion: a slow machine only makes "unanswered" likelier). */
async function unansweredAfter(url: string, ms: number): Promise<boolean> {
  try {
    await fetchBytes(url, { signal: AbortSignal.timeout(ms) })
    return false
  } catch (err) {
    return (err as Error).name === 'AbortError' || (err as Error).name === 'TimeoutError'
  }
}

/** The entries of a ustar archive, with each header's checksum verified. */
function untar(archive: Buffer): { name: string; typeflag: string; content: Buffer }[] {
  const entries: { name: string; typeflag: string; content: Buffer }[] = []
  for (let at = 0; at + 512 <= archive.length; ) {
    const header = archive.subarray(at, at + 512)
    if (header.every((b) => b === 0)) break
    const text = (offset: number, length: number): string => header.toString('latin1', offset, offset + length).replace(/\0.*$/s, '')
    const size = Number.parseInt(text(124, 12), 8)
    const stored = Number.parseInt(text(148, 8).trim(), 8)
    const sum = header.reduce((a, b, i) => a + (i >= 148 && i < 156 ? 0x20 : b), 0)
    if (stored !== sum) throw new Error(`tar header checksum ${stored}, computed ${sum}`)
    if (text(257, 6) !== 'ustar') throw new Error('not a ustar header')
    entries.push({ name: text(0, 100), typeflag: text(156, 1), content: archive.subarray(at + 512, at + 512 + size) })
    at += 512 + Math.ceil(size / 512) * 512
  }
  return entries
}

t.test('git: the real git client clones, fetches one commit shallow and filtered, and lazily fetches a blob', async (t) => {
  const git = await startGitServer(t, { certs })
  const env = await gitClientEnv(t, certs.caFile)
  const work = await tempDir(t)
  const client = (args: string[]): Promise<string> => runGit(['-c', `http.sslCAInfo=${certs.caFile}`, ...args], { env })

  const history: CommitSpec[] = [
    { files: { 'task.yaml': 'kind: Task\n', 'steps/a.yaml': 'a: 1\n', 'old.yaml': 'gone soon\n' }, tag: 'v1' },
    { files: { 'steps/a.yaml': 'a: 2\n', 'old.yaml': null, 'link.yaml': { symlink: 'steps/a.yaml' } }, annotatedTag: 'v2', message: 'second' },
    { files: { 'feature.yaml': 'f\n' }, branch: 'feature' },
  ]
  const shas = await git.createRepo('catalog', history)
  t.equal(shas.length, 3)
  for (const sha of shas) t.match(sha, /^[0-9a-f]{40}$/)
  t.same(await git.createRepo('again', history), shas, 'the same history gives the same SHAs')

  await client(['clone', '--quiet', '--depth=1', git.repoUrl('catalog'), join(work, 'clone')])
  const clone = join(work, 'clone')
  t.equal(await readFile(join(clone, 'steps/a.yaml'), 'utf8'), 'a: 2\n', 'main is at the second commit')
  t.ok((await lstat(join(clone, 'link.yaml'))).isSymbolicLink())
  t.equal(await readlink(join(clone, 'link.yaml')), 'steps/a.yaml')
  await t.rejects(lstat(join(clone, 'old.yaml')), 'the deleted file is gone')
  t.equal(await runGit(['-C', clone, 'rev-list', '--count', 'HEAD'], { env }), '1', 'depth 1')
  t.ok(
    git.requests.some((r) => r.gitProtocol === 'version=2'),
    'the client asked for protocol v2',
  )
  const advert = await fetchBytes(`${git.repoUrl('catalog')}/info/refs?service=git-upload-pack`, { headers: { 'git-protocol': 'version=2' } })
  t.match(advert.body.toString(), 'version 2', 'and upload-pack answered in v2')
  t.match(advert.body.toString(), /fetch=.*shallow.*filter/, 'advertising shallow and filter')

  const refs = await client(['ls-remote', git.repoUrl('catalog')])
  t.match(refs, `${shas[0]}\trefs/tags/v1`)
  t.match(refs, `${shas[1]}\trefs/tags/v2^{}`, 'v2 is an annotated tag peeling to the second commit')
  t.match(refs, `${shas[2]}\trefs/heads/feature`, 'feature forks from the commit before it')

  // The resolver's flow: one commit by SHA, no blobs, then the one blob it needs.
  const bare = join(work, 'x')
  await runGit(['init', '--quiet', '--bare', bare], { env })
  const before = git.uploadPackPosts('catalog')
  await client(['-C', bare, 'fetch', '--quiet', '--depth=1', '--filter=blob:none', git.repoUrl('catalog'), shas[0] ?? ''])
  const afterFetch = git.uploadPackPosts('catalog')
  t.ok(afterFetch > before, 'the fetch went to upload-pack')
  t.equal(await client(['-C', bare, 'cat-file', '-p', `${shas[0]}:steps/a.yaml`]), 'a: 1', 'the blob was fetched on demand')
  t.ok(git.uploadPackPosts('catalog') > afterFetch, 'the lazy blob fetch went over the same server')
  const afterBlob = git.uploadPackPosts('catalog')
  await client(['-C', bare, 'cat-file', '-p', `${shas[0]}:steps/a.yaml`])
  t.equal(git.uploadPackPosts('catalog'), afterBlob, 'a blob already fetched is not fetched again')
  t.equal(git.uploadPackPosts('nope'), 0)

  const moved = await git.advance('catalog', { 'steps/a.yaml': 'a: 3\n' })
  t.match(await client(['ls-remote', git.repoUrl('catalog'), 'refs/heads/main']), `${moved}\trefs/heads/main`, 'advance moved main')
  t.equal(await git.git('catalog', ['rev-parse', `${moved}^`]), shas[1], 'on top of the old tip')

  const missing = await client(['ls-remote', `${git.url}/nope.git`]).catch((err: Error) => err.message)
  t.match(missing, /not found|404/i, 'an unknown repository is a 404')
})

t.test('git: large requests arrive gzipped and http-backend inflates them, in v2 and v0', async (t) => {
  const git = await startGitServer(t, { certs })
  const env = await gitClientEnv(t, certs.caFile)
  const work = await tempDir(t)
  // Thirty tips to want make the request body pass the 1 KiB over which git gzips it.
  await git.createRepo(
    'many',
    Array.from({ length: 30 }, (_, i) => ({ files: { f: `${i}\n` }, tag: `v${i}` })),
  )
  for (const version of ['2', '0']) {
    const before = git.requests.length
    await runGit(['-c', `protocol.version=${version}`, 'clone', '--quiet', '--bare', git.repoUrl('many'), join(work, `v${version}`)], { env })
    const posts = git.requests.slice(before).filter((r) => r.method === 'POST')
    t.ok(
      posts.some((r) => r.contentEncoding === 'gzip' && r.status === 200),
      `protocol ${version}: a gzipped upload-pack request was answered 200`,
    )
    t.equal(await runGit(['--git-dir', join(work, `v${version}`), 'tag', '--list', 'v29'], { env }), 'v29')
  }
})

t.test('git: delay and hang hold requests, and teardown ends them', async (t) => {
  const git = await startGitServer(t, { certs })
  await git.createRepo('r', [{ files: { a: 'a' } }])
  const refs = `${git.repoUrl('r')}/info/refs?service=git-upload-pack`
  git.setHang(true)
  t.ok(await unansweredAfter(refs, 300), 'a hung server does not answer')
  git.setHang(false)
  git.setDelay(60_000)
  t.ok(await unansweredAfter(refs, 300), 'a delayed answer is not there yet')
  git.setDelay(0)
  t.equal((await fetchBytes(refs)).status, 200)
  // Teardown with a 60 s delay and a hung request pending: if either kept the process alive, tap would time out here.
  git.setHang(true)
  void fetchBytes(refs).catch(() => undefined)
})

t.test('files: bodies, statuses, redirects, counts, and bodies too large to keep', async (t) => {
  const files = await startFileServer(t, { certs })
  files.put('/task.yaml', 'kind: Task\n')
  files.put('/teapot', 'no', { status: 418, headers: { 'x-why': 'because' } })
  files.put('/moved', '', { redirectTo: '/task.yaml' })
  files.put('/abs', '', { redirectTo: `${files.url}/task.yaml`, status: 307 })
  files.putGenerated('/huge', 5 * 1024 * 1024)
  files.putGenerated('/unsized', 100_000, { omitLength: true })

  const ok = await fetchBytes(`${files.url}/task.yaml?ignored=1`)
  t.equal(ok.status, 200)
  t.equal(ok.body.toString(), 'kind: Task\n')
  t.equal(ok.headers['content-length'], '11')
  t.equal(files.hits('/task.yaml'), 1, 'the query does not change the path counted')
  t.equal(files.requests[0]?.query, 'ignored=1')

  const teapot = await fetchBytes(`${files.url}/teapot`)
  t.equal(teapot.status, 418)
  t.equal(teapot.headers['x-why'], 'because')

  const moved = await fetchBytes(`${files.url}/moved`)
  t.equal(moved.status, 302)
  t.equal(moved.headers.location, '/task.yaml')
  t.equal((await fetchBytes(`${files.url}/abs`)).headers.location, `${files.url}/task.yaml`)

  const head = await fetchBytes(`${files.url}/huge`, { method: 'HEAD' })
  t.equal(head.headers['content-length'], String(5 * 1024 * 1024))
  t.equal(head.body.length, 0)
  const huge = await fetchBytes(`${files.url}/huge`)
  t.equal(huge.body.length, 5 * 1024 * 1024)
  t.ok(
    huge.body.every((b) => b === 0x78),
    'all "x"',
  )
  const unsized = await fetchBytes(`${files.url}/unsized`)
  t.equal(unsized.headers['content-length'], undefined)
  t.equal(unsized.headers['transfer-encoding'], 'chunked')
  t.equal(unsized.body.length, 100_000)

  t.equal((await fetchBytes(`${files.url}/nothing`)).status, 404)
  t.equal(files.hits('/nothing'), 1, 'a 404 is a hit')
  files.remove('/task.yaml')
  t.equal((await fetchBytes(`${files.url}/task.yaml`)).status, 404)
  t.equal(files.hits('/task.yaml'), 2)
})

t.test('files: slow headers, trickled bodies, and teardown ends both', async (t) => {
  const files = await startFileServer(t, { certs })
  files.put('/slow', 'late', { delayMs: 60_000 })
  files.put('/trickle', 'x'.repeat(64), { trickleMs: 5, trickleBytes: 8 })
  files.put('/forever', 'x'.repeat(1000), { trickleMs: 60_000, trickleBytes: 1 })
  t.ok(await unansweredAfter(`${files.url}/slow`, 300), 'the headers are not there yet')
  const trickled = await fetchBytes(`${files.url}/trickle`)
  t.equal(trickled.body.toString(), 'x'.repeat(64))
  t.ok(trickled.pieces >= 8, `the body came in pieces (${trickled.pieces})`)
  void fetchBytes(`${files.url}/forever`).catch(() => undefined)
  void fetchBytes(`${files.url}/slow`).catch(() => undefined)
})

t.test('registry: a pushed bundle reads back through the distribution API', async (t) => {
  const registry = await startRegistry(t, { certs })
  t.comment(`registry: ${registry.kind}`)
  const stepYaml = 'apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata:\n  name: echo\nspec:\n  image: alpine\n'
  const taskJson = JSON.stringify({ apiVersion: 'tekton.dev/v1', kind: 'Task', metadata: { name: 'build' } })
  const pushed = await pushBundle(registry, 'tekton/catalog', 'v1', [
    { apiVersion: 'tekton.dev/v1beta1', kind: 'stepaction', name: 'echo', content: stepYaml },
    { apiVersion: 'tekton.dev/v1', kind: 'task', name: 'build', content: taskJson },
  ])
  t.equal(pushed.reference, `${registry.host}/tekton/catalog:v1`)
  t.equal(pushed.byDigest, `${registry.host}/tekton/catalog@${pushed.digest}`)

  const accept = `${mediaTypes.ociManifest}, ${mediaTypes.dockerManifest}`
  const byTag = await fetchBytes(`${registry.url}/v2/tekton/catalog/manifests/v1`, { headers: { accept } })
  t.equal(byTag.status, 200)
  t.equal(byTag.headers['content-type'], mediaTypes.ociManifest)
  t.equal(byTag.headers['docker-content-digest'], pushed.digest)
  t.equal(sha256(byTag.body), pushed.digest, 'the digest is the sha256 of the bytes served')
  const head = await fetchBytes(`${registry.url}/v2/tekton/catalog/manifests/v1`, { method: 'HEAD', headers: { accept } })
  t.equal(head.headers['docker-content-digest'], pushed.digest, 'HEAD gives the digest without the body')
  const byDigest = await fetchBytes(`${registry.url}/v2/tekton/catalog/manifests/${pushed.digest}`, { headers: { accept } })
  t.same(byDigest.body, byTag.body)
  const dockerOnly = await fetchBytes(`${registry.url}/v2/tekton/catalog/manifests/v1`, { headers: { accept: mediaTypes.dockerManifest } })
  t.equal(dockerOnly.status, 404, 'an OCI manifest is not served to a client that accepts only Docker manifests')

  const manifest = JSON.parse(byTag.body.toString()) as BundleManifest
  t.equal(manifest.layers.length, 2)
  t.equal(manifest.config.mediaType, mediaTypes.ociConfig)
  const [first, second] = manifest.layers
  t.same(first?.annotations, { [tektonAnnotations.apiVersion]: 'tekton.dev/v1beta1', [tektonAnnotations.kind]: 'stepaction', [tektonAnnotations.name]: 'echo' })
  t.equal(first?.mediaType, mediaTypes.ociLayerGzip)
  for (const [layer, name, content] of [
    [first, 'echo', stepYaml],
    [second, 'build', taskJson],
  ] as const) {
    const blob = await fetchBytes(`${registry.url}/v2/tekton/catalog/blobs/${layer?.digest}`)
    t.equal(blob.status, 200)
    t.equal(sha256(blob.body), layer?.digest)
    t.equal(blob.body.length, layer?.size)
    const entries = untar(gunzipSync(blob.body))
    t.same(
      entries.map((e) => [e.name, e.typeflag, e.content.toString()]),
      [[name, '0', content]],
      `layer ${name}: one file named after the object`,
    )
  }
  const config = await fetchBytes(`${registry.url}/v2/tekton/catalog/blobs/${manifest.config.digest}`)
  t.equal(config.body.toString(), '{}')
  t.equal((await fetchBytes(`${registry.url}/v2/tekton/catalog/manifests/v2`, { headers: { accept } })).status, 404, 'an unknown tag')
})

t.test('registry: bundles broken on purpose, and Docker media types', async (t) => {
  const registry = await startRegistry(t, { certs })
  const object = { apiVersion: 'tekton.dev/v1beta1', kind: 'stepaction', name: 'echo', content: 'kind: StepAction\n' }
  const manifestOf = async (tag: string, accept: string): Promise<{ status: number; type: unknown; manifest: BundleManifest }> => {
    const res = await fetchBytes(`${registry.url}/v2/b/manifests/${tag}`, { headers: { accept } })
    return { status: res.status, type: res.headers['content-type'], manifest: JSON.parse(res.body.toString()) as BundleManifest }
  }
  const blobOf = async (digest: string | undefined): Promise<Buffer> => (await fetchBytes(`${registry.url}/v2/b/blobs/${digest}`)).body

  await pushBundle(registry, 'b', 'docker', [object], { mediaType: 'docker' })
  const docker = await manifestOf('docker', mediaTypes.dockerManifest)
  t.equal(docker.status, 200)
  t.equal(docker.type, mediaTypes.dockerManifest)
  t.equal(docker.manifest.layers[0]?.mediaType, mediaTypes.dockerLayerGzip)
  t.equal(docker.manifest.config.mediaType, mediaTypes.dockerConfig)

  await pushBundle(registry, 'b', 'plain', [object], { compression: 'none' })
  const plain = await manifestOf('plain', mediaTypes.ociManifest)
  t.equal(plain.manifest.layers[0]?.mediaType, mediaTypes.ociLayer)
  t.equal(untar(await blobOf(plain.manifest.layers[0]?.digest))[0]?.content.toString(), 'kind: StepAction\n', 'an uncompressed tar')

  await pushBundle(registry, 'b', 'raw', [object], { rawLayer: true, compression: 'none' })
  const raw = await manifestOf('raw', mediaTypes.ociManifest)
  t.equal((await blobOf(raw.manifest.layers[0]?.digest)).toString(), 'kind: StepAction\n', 'the layer is the file itself')

  await pushBundle(registry, 'b', 'unnamed', [object], { dropAnnotation: tektonAnnotations.name })
  const unnamed = await manifestOf('unnamed', mediaTypes.ociManifest)
  t.same(Object.keys(unnamed.manifest.layers[0]?.annotations ?? {}).sort(), [tektonAnnotations.apiVersion, tektonAnnotations.kind])
})

t.test('registry fixture: bearer tokens, redirected blobs, counts and faults', async (t) => {
  const registry = await startFixtureRegistry(t, { certs, auth: 'bearer', redirectBlobs: true })
  t.equal(registry.kind, 'fixture')
  const object = { apiVersion: 'tekton.dev/v1beta1', kind: 'stepaction', name: 'echo', content: 'kind: StepAction\n' }
  const pushed = await pushBundle(registry, 'team/steps', 'v1', [object])
  t.ok(registry.count('token') >= 1, 'pushBundle answered the challenge with a token')

  const base = await fetchBytes(`${registry.url}/v2/`)
  t.equal(base.status, 401)
  t.equal(base.headers['www-authenticate'], `Bearer realm="${registry.url}/token",service="fixture"`)
  const accept = mediaTypes.ociManifest
  const manifestUrl = `${registry.url}/v2/team/steps/manifests/v1`
  const anonymous = await fetchBytes(manifestUrl, { headers: { accept } })
  t.equal(anonymous.status, 401)
  const challenge = String(anonymous.headers['www-authenticate'])
  t.equal(challenge, `Bearer realm="${registry.url}/token",service="fixture",scope="repository:team/steps:pull"`)
  t.match(JSON.parse(anonymous.body.toString()), { errors: [{ code: 'UNAUTHORIZED' }] })

  const tokenRes = await fetchBytes(`${registry.url}/token?service=fixture&scope=${encodeURIComponent('repository:team/steps:pull')}`)
  t.equal(tokenRes.status, 200)
  const { token } = JSON.parse(tokenRes.body.toString()) as { token: string }
  const bearer = { accept, authorization: `Bearer ${token}` }
  t.equal((await fetchBytes(manifestUrl, { headers: { ...bearer, authorization: 'Bearer forged' } })).status, 401, 'an unknown token is refused')
  const other = await fetchBytes(`${registry.url}/v2/other/manifests/v1`, { headers: bearer })
  t.equal(other.status, 401, "a token for one repository does not open another's")
  const manifest = await fetchBytes(manifestUrl, { headers: bearer })
  t.equal(manifest.status, 200)
  t.equal(manifest.headers['docker-content-digest'], pushed.digest)

  const layer = (JSON.parse(manifest.body.toString()) as BundleManifest).layers[0]
  const blob = await fetchBytes(`${registry.url}/v2/team/steps/blobs/${layer?.digest}`, { headers: bearer })
  t.equal(blob.status, 307)
  const location = String(blob.headers.location)
  t.match(location, `${registry.url}/_storage/${layer?.digest}?`)
  t.equal((await fetchBytes(location, { headers: { authorization: `Bearer ${token}` } })).status, 400, 'storage refuses a forwarded token')
  const bytes = await fetchBytes(location)
  t.equal(sha256(bytes.body), layer?.digest, 'storage serves the blob without the token')
  t.equal(untar(gunzipSync(bytes.body))[0]?.name, 'echo')

  t.ok(registry.count('manifest', 'team/steps') >= 4)
  t.equal(registry.count('storage'), 2)
  t.equal(registry.requests.at(-1)?.status, 200, 'each request records its answer')

  registry.setHang(true)
  t.ok(await unansweredAfter(manifestUrl, 300), 'a hung registry does not answer')
  registry.setHang(false)
  registry.setDelay(60_000)
  t.ok(await unansweredAfter(manifestUrl, 300), 'a delayed registry has not answered yet')
})
