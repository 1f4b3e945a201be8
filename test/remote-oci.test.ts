// The OCI registry client Tekton bundles are pulled with: image references
// read as go-containerregistry reads them, tar layers read as Go's
// archive/tar reads them (archives built here byte by byte, and by the
// system's GNU tar), manifests and Tekton's compliance rules, registry auth
// challenges, layer decompression; then the client against a real registry
// over HTTPS on loopback (test/helpers/oci-registry.ts).

import { execFile } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import http, { type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import zlib from 'node:zlib'
import t from 'tap'
import type { Resolution, StepReference } from '../src/definitions/reference.ts'
import { BoundedCache } from '../src/remote/cache.ts'
import { uncompressLayer } from '../src/remote/decompress.ts'
import { parseImageReference } from '../src/remote/image-reference.ts'
import { OciClient, type OciClientOptions, type OciLimits, type PulledEntry } from '../src/remote/oci.ts'
import { parseChallenges } from '../src/remote/oci-auth.ts'
import { complianceError, type LayerDescriptor, parseImageManifest } from '../src/remote/oci-manifest.ts'
import { Limiter } from '../src/remote/limiter.ts'
import { SharedFetches } from '../src/remote/shared.ts'
import { readFirstTarEntry } from '../src/remote/tar.ts'
import { Transport } from '../src/remote/transport.ts'
import type { Read } from '../src/resolvers/document.ts'
import { BundlesResolver } from '../src/resolvers/bundles.ts'
import { type Handler, serveLoopback } from './helpers/loopback.ts'
import { type BundleObject, pushBundle, tarOf } from './helpers/oci-bundle.ts'
import { mediaTypes, sha256, startFixtureRegistry, startRegistry } from './helpers/oci-registry.ts'
import { type Certs, mintCerts, tempDir, until } from './helpers/server.ts'

const run = promisify(execFile)
const hex64 = 'a'.repeat(64)
const digestA = `sha256:${hex64}`

// --- a tiny tar writer: every header field placed by hand, so each test says exactly what the reader sees ---

interface HeaderFields {
  name: string
  size: number
  type?: string
  /** 'ustar' (POSIX), 'gnu' ("ustar  \0"), 'v7' (no magic). */
  magic?: 'ustar' | 'gnu' | 'v7'
  /** Written into the size field instead of the octal of `size`. */
  sizeField?: Buffer
  /** Compute the checksum over signed bytes, as some old writers did. */
  signedChecksum?: boolean
}

function header(fields: HeaderFields): Buffer {
  const h = Buffer.alloc(512)
  h.write(fields.name, 0, 100, 'utf8')
  h.write('0000644\0', 100, 'latin1')
  h.write('0000000\0', 108, 'latin1')
  h.write('0000000\0', 116, 'latin1')
  if (fields.sizeField !== undefined) fields.sizeField.copy(h, 124)
  else h.write(`${fields.size.toString(8).padStart(11, '0')}\0`, 124, 'latin1')
  h.write('00000000000\0', 136, 'latin1')
  h.write(fields.type ?? '0', 156, 'latin1')
  const magic = fields.magic ?? 'ustar'
  if (magic === 'ustar') h.write('ustar\u000000', 257, 'latin1')
  if (magic === 'gnu') h.write('ustar  \0', 257, 'latin1')
  h.fill(0x20, 148, 156)
  let sum = 0
  for (const b of h) sum += fields.signedChecksum === true && b >= 0x80 ? b - 0x100 : b
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1')
  return h
}

function padded(content: Buffer): Buffer {
  return Buffer.concat([content, Buffer.alloc((512 - (content.length % 512)) % 512)])
}

function file(name: string, content: string | Buffer, fields: Partial<HeaderFields> = {}): Buffer {
  const body = Buffer.from(content)
  return Buffer.concat([header({ name, size: body.length, ...fields }), padded(body)])
}

function paxRecords(records: Record<string, string>): Buffer {
  let text = ''
  for (const [key, value] of Object.entries(records)) {
    const rest = ` ${key}=${value}\n`
    let length = Buffer.byteLength(rest) + 1
    while (String(length).length + Buffer.byteLength(rest) !== length) length = String(length).length + Buffer.byteLength(rest)
    text += `${length}${rest}`
  }
  return Buffer.from(text)
}

const end = Buffer.alloc(1024)
const tar = (...parts: Buffer[]): Buffer => Buffer.concat([...parts, end])

t.test('image references are read as go-containerregistry reads them', async (t) => {
  const cases: [string, object][] = [
    ['alpine', { registry: 'index.docker.io', repository: 'library/alpine', tag: 'latest', canonical: 'index.docker.io/library/alpine' }],
    ['docker.io/alpine:3.20', { registry: 'index.docker.io', repository: 'library/alpine', tag: '3.20', canonical: 'index.docker.io/library/alpine' }],
    ['index.docker.io/alpine', { registry: 'index.docker.io', repository: 'library/alpine', tag: 'latest' }],
    ['docker.io/tekton/catalog:v1', { registry: 'index.docker.io', repository: 'tekton/catalog', tag: 'v1' }],
    ['gcr.io/tekton-releases/catalog/upstream/git-clone:0.9', { registry: 'gcr.io', repository: 'tekton-releases/catalog/upstream/git-clone', tag: '0.9' }],
    ['localhost:5000/steps/echo', { registry: 'localhost:5000', repository: 'steps/echo', tag: 'latest', canonical: 'localhost:5000/steps/echo' }],
    // No dot and no port: the first component is part of the repository, on Docker Hub.
    ['localhost/steps', { registry: 'index.docker.io', repository: 'localhost/steps', tag: 'latest' }],
    ['127.0.0.1:5000/ab', { registry: '127.0.0.1:5000', repository: 'ab', tag: 'latest', canonical: '127.0.0.1:5000/ab' }],
    ['[::1]:5000/steps', { registry: '[::1]:5000', repository: 'steps' }],
    [`ghcr.io/o/r@${digestA}`, { registry: 'ghcr.io', repository: 'o/r', digest: digestA, canonical: 'ghcr.io/o/r' }],
    [`ghcr.io/o/r:v2@${digestA}`, { registry: 'ghcr.io', repository: 'o/r', tag: 'v2', digest: digestA }],
    [`busybox@${digestA}`, { registry: 'index.docker.io', repository: 'library/busybox', digest: digestA }],
    // An empty tag is no tag: the default applies.
    ['quay.io/o/r:', { registry: 'quay.io', repository: 'o/r', tag: 'latest' }],
  ]
  for (const [text, expected] of cases) t.match(parseImageReference(text), expected, text)
  t.notOk('tag' in (parseImageReference(`ghcr.io/o/r@${digestA}`) as object), 'a digest alone implies no tag')

  const invalid: [string, RegExp][] = [
    ['', /empty/],
    ['Alpine', /repository "Alpine"/],
    ['a', /repository "a".*2 to 255/],
    ['ghcr.io/o/r@sha256:abc', /sha256: and 64 lower-case hex/],
    [`ghcr.io/o/r@sha512:${hex64}`, /the digest/],
    [`ghcr.io/o/r@sha256:${'A'.repeat(64)}`, /the digest/],
    [`a@b@${digestA}`, /more than one '@'/],
    ['ghcr.io/o/r:bad!tag', /the tag "bad!tag"/],
    [`ghcr.io/o/r:${'t'.repeat(128)}`, /the tag/],
    ['ghcr.io/', /repository ""/],
    ['bad_host.io:x/r', /registry host/],
    ['ex ample.io/o/r', /registry host/],
  ]
  for (const [text, pattern] of invalid) {
    const parsed = parseImageReference(text)
    t.ok('error' in parsed, `${JSON.stringify(text)} is refused`)
    if ('error' in parsed) t.match(parsed.error, pattern, `${JSON.stringify(text)}: ${parsed.error}`)
  }
})

t.test('readFirstTarEntry reads the first entry as Go archive/tar and Tekton do', async (t) => {
  t.equal(readFirstTarEntry(tar(file('task.yaml', 'kind: Task\n')))?.toString(), 'kind: Task\n', 'a ustar file')
  t.equal(readFirstTarEntry(tar(file('t.yaml', 'v7', { magic: 'v7' })))?.toString(), 'v7', 'a V7 header (no magic)')
  t.equal(readFirstTarEntry(tar(file('t.yaml', 'gnu', { magic: 'gnu' })))?.toString(), 'gnu', 'a GNU header')
  t.equal(readFirstTarEntry(tar(file('t.yaml', 'contiguous', { type: '7' })))?.toString(), 'contiguous', "typeflag '7' is a regular file")
  t.equal(readFirstTarEntry(tar(file('t.yaml', 'old', { type: '\0' })))?.toString(), 'old', 'typeflag NUL is a regular file')
  t.equal(
    readFirstTarEntry(tar(file('dir/', '', { type: '\0' }), file('dir/t', 'after')))?.toString(),
    '',
    "typeflag NUL with a trailing '/' is a directory: Tekton reads it, and gets nothing",
  )
  t.equal(readFirstTarEntry(tar(file('é-signed.yaml', 'signed', { signedChecksum: true })))?.toString(), 'signed', 'a checksum over signed bytes')
  t.equal(readFirstTarEntry(tar(file('first', 'one'), file('second', 'two')))?.toString(), 'one', 'the first file, not the last')
  t.equal(readFirstTarEntry(tar(file('empty', '')))?.length, 0, 'an empty first file is an empty object')

  const content = 'x'.repeat(700)
  t.equal(readFirstTarEntry(tar(file('t.yaml', content)))?.toString(), content, 'a file over one block')
  t.equal(
    readFirstTarEntry(tar(file('dir', '', { type: '5' }), file('link', '', { type: '2' }), file('t.yaml', content)))?.length,
    0,
    'the first entry counts, whatever its type: a directory first is read as nothing, as Tekton reads it',
  )
  // A directory whose size field is not zero: Go reads no data, into a buffer of that size.
  const oddDir = Buffer.concat([header({ name: 'dir', size: 1024, type: '5' }), file('t.yaml', 'after odd dir')])
  t.same(readFirstTarEntry(tar(oddDir)), Buffer.alloc(1024), 'a header-only type: as many zero bytes as its size says')
  t.equal(readFirstTarEntry(tar(oddDir), 512), undefined, 'unless that is more than is read at all')

  const base256 = Buffer.alloc(12)
  base256[0] = 0x80
  base256.writeUInt32BE(5, 8)
  t.equal(
    readFirstTarEntry(tar(Buffer.concat([header({ name: 'b', size: 5, sizeField: base256 }), padded(Buffer.from('b-256'))])))?.toString(),
    'b-256',
    'a base-256 size',
  )

  const longName = `${'deep/'.repeat(40)}task.yaml`
  const gnuLong = Buffer.concat([header({ name: '././@LongLink', size: longName.length + 1, type: 'L', magic: 'gnu' }), padded(Buffer.from(`${longName}\0`))])
  t.equal(readFirstTarEntry(tar(gnuLong, file('deep/task.yaml', 'long')))?.toString(), 'long', "a GNU 'L' long name is folded into its entry")
  const gnuLink = Buffer.concat([header({ name: '././@LongLink', size: 4, type: 'K', magic: 'gnu' }), padded(Buffer.from('abc\0'))])
  t.equal(readFirstTarEntry(tar(gnuLink, file('l', 'after K')))?.toString(), 'after K', "a GNU 'K' long link name too")

  const paxLocal = paxRecords({ path: longName, mtime: '1700000000.5' })
  const local = Buffer.concat([header({ name: 'PaxHeaders/x', size: paxLocal.length, type: 'x' }), padded(paxLocal)])
  t.equal(readFirstTarEntry(tar(local, file('x', 'pax')))?.toString(), 'pax', "a pax 'x' header is folded into its entry")
  const global = paxRecords({ comment: 'made by a test' })
  const g = Buffer.concat([header({ name: 'pax_global_header', size: global.length, type: 'g' }), padded(global)])
  t.equal(readFirstTarEntry(tar(g, file('g', 'after global')))?.toString(), 'after global', "a pax 'g' header is passed over")

  // The pax `size` record wins over the header's size field.
  const sized = paxRecords({ size: '9' })
  const paxSize = Buffer.concat([header({ name: 'x', size: sized.length, type: 'x' }), padded(sized)])
  const body = Buffer.concat([header({ name: 'f', size: 0 }), padded(Buffer.from('from pax!'))])
  t.equal(readFirstTarEntry(tar(paxSize, body))?.toString(), 'from pax!', 'a pax size record sets the size')

  // What is no tar (Tekton then takes the layer's bytes as they are).
  t.equal(readFirstTarEntry(Buffer.from('apiVersion: tekton.dev/v1beta1\nkind: StepAction\n')), undefined, 'YAML is no tar')
  t.equal(readFirstTarEntry(Buffer.from('x'.repeat(2048))), undefined, 'a block of text is no tar (its checksum fails)')
  t.equal(readFirstTarEntry(Buffer.alloc(0)), undefined, 'nothing is no tar')
  t.equal(readFirstTarEntry(end), undefined, 'an empty archive has no file')
  t.equal(readFirstTarEntry(tar(file('dir', '', { type: '5' })))?.length, 0, 'an archive of a directory alone reads as nothing')
  const corrupt = tar(file('t.yaml', 'data'))
  corrupt[0] = 'T'.charCodeAt(0)
  t.equal(readFirstTarEntry(corrupt), undefined, 'a header whose checksum does not match')
  t.equal(readFirstTarEntry(file('t.yaml', 'x'.repeat(600)).subarray(0, 700)), undefined, 'a file cut short')
  t.equal(readFirstTarEntry(Buffer.concat([Buffer.alloc(512), file('t', 'after a zero block')])), undefined, 'a zero block ends the archive')
  const badPax = Buffer.from('99 path=x\n')
  t.equal(
    readFirstTarEntry(tar(Buffer.concat([header({ name: 'x', size: badPax.length, type: 'x' }), padded(badPax)]), file('f', 'x'))),
    undefined,
    'a malformed pax record',
  )
  const badSize = Buffer.from('          9\0', 'latin1')
  badSize.write('9', 10)
  t.equal(
    readFirstTarEntry(tar(Buffer.concat([header({ name: 'f', size: 0, sizeField: badSize }), padded(Buffer.from('x'))]))),
    undefined,
    'a size field that is not octal',
  )
})

t.test('readFirstTarEntry reads what GNU tar writes, in its gnu, pax and ustar formats', async (t) => {
  const dir = await tempDir(t)
  const deep = join(dir, 'src', `${'a-rather-long-directory-name/'.repeat(5)}`)
  await mkdir(deep, { recursive: true })
  await writeFile(join(deep, 'stepaction.yaml'), 'kind: StepAction\n')
  for (const format of ['gnu', 'pax', 'ustar']) {
    const out = join(dir, `${format}.tar`)
    // The file's name is longer than a ustar name field.
    await run('tar', [`--format=${format}`, '-cf', out, '-C', join(dir, 'src'), `${'a-rather-long-directory-name/'.repeat(5)}stepaction.yaml`])
    t.equal(readFirstTarEntry(await readFile(out))?.toString(), 'kind: StepAction\n', `${format} format`)
  }
})

t.test('a manifest must be an image manifest; an index is refused by name', async (t) => {
  const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestA, size: 3, annotations: { a: 'b' } }
  const image = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { digest: digestA, size: 2 }, layers: [layer] }
  const parse = (body: unknown, contentType?: string): LayerDescriptor[] => parseImageManifest(Buffer.from(JSON.stringify(body)), contentType, 'reg/r:v1')
  t.match(parse(image), [{ digest: digestA, size: 3, annotations: { a: 'b' } }], 'an OCI image manifest')
  t.match(parse({ ...image, mediaType: 'application/vnd.docker.distribution.manifest.v2+json' }), [{ digest: digestA }], 'a Docker v2 manifest')
  t.match(
    parse({ ...image, mediaType: undefined }, 'application/vnd.oci.image.manifest.v1+json; charset=utf-8'),
    [{ digest: digestA }],
    'typed by its Content-Type',
  )
  t.match(parse({ ...image, mediaType: undefined }, 'application/json'), [{ digest: digestA }], 'untyped, told by its shape')
  t.same(parse({ ...image, layers: [{ digest: digestA, size: 1 }] })[0]?.annotations, {}, 'no annotations are none')

  const isProtocol = (message: RegExp) => ({ name: 'FetchFailure', kind: 'protocol', message })
  const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ digest: digestA, size: 1 }] }
  t.throws(() => parse(index), isProtocol(/reg\/r:v1 is an image index/), 'an OCI index')
  t.throws(
    () => parse({ ...index, mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json' }),
    isProtocol(/image index/),
    'a Docker manifest list',
  )
  t.throws(() => parse({ ...index, mediaType: undefined }, 'application/vnd.oci.image.index.v1+json'), isProtocol(/image index/), 'an index by Content-Type')
  t.throws(() => parse({ ...index, mediaType: undefined }), isProtocol(/image index/), 'an index by its shape')
  t.throws(
    () => parse({ schemaVersion: 1, name: 'r', fsLayers: [] }, 'application/vnd.docker.distribution.manifest.v1+prettyjws'),
    isProtocol(/unsupported manifest media type/),
    'schema 1',
  )
  t.throws(() => parseImageManifest(Buffer.from('{'), undefined, 'm'), isProtocol(/not JSON/))
  t.throws(() => parse([]), isProtocol(/not a JSON object/))
  t.throws(() => parse({ ...image, layers: 'x' }), isProtocol(/no layers list/))
  t.throws(() => parse({ ...image, layers: [{ ...layer, digest: 'nope' }] }), isProtocol(/layer 0 has no valid digest/))
  t.throws(() => parse({ ...image, layers: [layer, { ...layer, size: -1 }] }), isProtocol(/layer 1 has no valid size/))
  t.throws(() => parse({ ...image, layers: [{ ...layer, annotations: { a: 1 } }] }), isProtocol(/annotation a is not a string/))
})

t.test("compliance is Tekton's checkImageCompliance, in its words", async (t) => {
  const ok = (kind: string, name = 'echo'): LayerDescriptor => ({
    mediaType: undefined,
    digest: digestA,
    size: 1,
    annotations: { 'dev.tekton.image.apiVersion': 'v1beta1', 'dev.tekton.image.name': name, 'dev.tekton.image.kind': kind },
  })
  t.equal(complianceError([]), undefined, 'no layers comply (and hold nothing)')
  t.equal(complianceError([ok('task'), ok('stepaction'), ok('pipeline')]), undefined)
  t.equal(complianceError(Array.from({ length: 20 }, () => ok('task'))), undefined, 'twenty layers')
  t.equal(complianceError(Array.from({ length: 21 }, () => ok('task'))), 'contained more than the maximum 20 allow objects')
  const without = (key: string): LayerDescriptor => {
    const layer = ok('task')
    const annotations = { ...layer.annotations }
    delete annotations[key]
    return { ...layer, annotations }
  }
  t.equal(complianceError([ok('task'), without('dev.tekton.image.apiVersion')]), 'the layer 1 does not contain a dev.tekton.image.apiVersion annotation')
  t.equal(complianceError([without('dev.tekton.image.name')]), 'the layer 0 does not contain a dev.tekton.image.name annotation')
  t.equal(complianceError([without('dev.tekton.image.kind')]), 'the layer 0 does not contain a dev.tekton.image.kind annotation')
  t.equal(complianceError([ok('task', '')]), undefined, 'an empty name is present')
  t.equal(complianceError([ok('Task')]), 'the layer 0 the annotation dev.tekton.image.kind must be lowercased and singular, found Task')
  t.equal(complianceError([ok('tasks')]), 'the layer 0 the annotation dev.tekton.image.kind must be lowercased and singular, found tasks')
  // Tekton's rule trims one trailing "s": a kind that ends in "s" is refused, whatever it means.
  t.match(complianceError([ok('class')]), /found class/)
})

t.test('WWW-Authenticate challenges are parsed', async (t) => {
  t.same(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' } },
  ])
  t.same(parseChallenges('Basic realm="Registry Realm", Bearer realm="https://a/t", scope="repository:x:pull,push"'), [
    { scheme: 'basic', params: { realm: 'Registry Realm' } },
    { scheme: 'bearer', params: { realm: 'https://a/t', scope: 'repository:x:pull,push' } },
  ])
  t.same(
    parseChallenges('BEARER Realm=https://a/t , Service = "s\\"q"'),
    [{ scheme: 'bearer', params: { realm: 'https://a/t', service: 's"q' } }],
    'case, tokens, escapes',
  )
  t.same(parseChallenges(''), [])
})

t.test('layers are uncompressed by their first bytes, within the cap', async (t) => {
  const text = Buffer.from('kind: StepAction\n'.repeat(100))
  t.same(await uncompressLayer(zlib.gzipSync(text), 1 << 20, 'l'), text, 'gzip')
  t.same(await uncompressLayer(zlib.zstdCompressSync(text), 1 << 20, 'l'), text, 'zstd')
  t.same(await uncompressLayer(text, 1 << 20, 'l'), text, 'neither: as is')
  const tooLarge = { name: 'FetchFailure', kind: 'too-large' }
  const bomb = Buffer.alloc(64 << 20)
  await t.rejects(uncompressLayer(zlib.gzipSync(bomb), 1 << 20, 'l'), tooLarge, 'a gzip bomb stops at the cap')
  await t.rejects(uncompressLayer(zlib.zstdCompressSync(bomb), 1 << 20, 'l'), tooLarge, 'a zstd bomb stops at the cap')
  await t.rejects(uncompressLayer(text, 100, 'l'), tooLarge, 'an uncompressed layer over the cap')
  await t.rejects(
    uncompressLayer(Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3]), 1 << 20, 'layer sha256:x'),
    { name: 'FetchFailure', kind: 'protocol', message: /layer sha256:x \(gzip\) does not uncompress/ },
    'corrupt gzip',
  )
})

// --- the client against registries over HTTPS on loopback ---

const stepAction = (name: string): string =>
  `apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata:\n  name: ${name}\nspec:\n  image: alpine\n  script: echo ${name}\n`
const task = 'apiVersion: tekton.dev/v1\nkind: Task\nmetadata:\n  name: build\nspec:\n  steps: []\n'
const objects: BundleObject[] = [
  { apiVersion: 'tekton.dev/v1beta1', kind: 'stepaction', name: 'echo', content: stepAction('echo') },
  { apiVersion: 'tekton.dev/v1', kind: 'task', name: 'build', content: task },
  { apiVersion: 'tekton.dev/v1beta1', kind: 'stepaction', name: 'print', content: stepAction('print') },
]

function clientFor(options: Partial<OciClientOptions> & { certs: Certs }): OciClient {
  const { certs, ...rest } = options
  return new OciClient({ transport: new Transport({ extraCa: certs.ca.toString() }), timeoutMs: 10_000, ...rest })
}

t.test('pulls an entry from a bundle by tag and by digest (docker-registry when installed, else the fixture)', async (t) => {
  const certs = await mintCerts(t)
  const registry = await startRegistry(t, { certs })
  t.comment(`registry: ${registry.kind}`)
  const pushed = await pushBundle(registry, 'bundles/steps', 'v1', objects)
  const client = clientFor({ certs })

  const byTag = await client.pullEntry(pushed.reference, 'stepaction', 'print')
  t.same(byTag, {
    found: true,
    data: Buffer.from(stepAction('print')),
    manifestDigest: pushed.digest,
    repository: `${registry.host}/bundles/steps`,
    apiVersion: 'tekton.dev/v1beta1',
    layerDigest: pushed.manifest.layers[2]?.digest,
  })
  const byDigest = await client.pullEntry(pushed.byDigest, 'StepAction', 'echo')
  t.match(byDigest, { found: true, manifestDigest: pushed.digest }, 'by digest; the kind matched whatever its case')
  t.equal('data' in byDigest ? byDigest.data.toString() : undefined, stepAction('echo'))
  const parsed = parseImageReference(pushed.reference)
  if ('error' in parsed) throw new Error(parsed.error)
  t.match(await client.pullEntry(parsed, 'task', 'build'), { found: true, apiVersion: 'tekton.dev/v1' }, 'a parsed reference')
  t.same(
    await client.pullEntry(pushed.reference, 'stepaction', 'build'),
    { found: false, manifestDigest: pushed.digest, repository: `${registry.host}/bundles/steps` },
    'the name of another kind',
  )
  t.match(await client.pullEntry(pushed.reference, 'stepaction', 'Echo'), { found: false }, 'names match exactly')
  t.equal(await client.resolveDigest(pushed.reference), pushed.digest, 'resolveDigest of a tag')
  t.equal(await client.resolveDigest(pushed.byDigest), pushed.digest, 'resolveDigest of a digest')

  await t.rejects(
    client.pullEntry(`${registry.host}/bundles/steps:v2`, 'stepaction', 'echo'),
    { name: 'FetchFailure', kind: 'status', status: 404 },
    'an unknown tag',
  )
  await t.rejects(
    client.pullEntry(`${registry.host}/bundles/none:v1`, 'stepaction', 'echo'),
    { name: 'FetchFailure', kind: 'status', status: 404, message: /not found/ },
    'an unknown repository',
  )
  await t.rejects(client.pullEntry('Not A Reference', 'stepaction', 'echo'), { name: 'FetchFailure', kind: 'refused' }, 'a reference that does not parse')

  for (const [label, options] of [
    ['uncompressed tar layers', { compression: 'none' }],
    ['raw gzip layers (no tar)', { rawLayer: true }],
    ['raw uncompressed layers', { rawLayer: true, compression: 'none' }],
    ['Docker media types', { mediaType: 'docker' }],
  ] as const) {
    const other = await pushBundle(registry, 'bundles/variants', label.replace(/\W+/g, '-'), objects, options)
    const pulled = await client.pullEntry(other.reference, 'stepaction', 'print')
    t.equal('data' in pulled ? pulled.data.toString() : pulled, stepAction('print'), label)
  }

  const noKind = await pushBundle(registry, 'bundles/broken', 'v1', objects, { dropAnnotation: 'dev.tekton.image.kind' })
  t.same(
    await client.pullEntry(noKind.reference, 'stepaction', 'echo'),
    {
      invalid: 'the layer 0 does not contain a dev.tekton.image.kind annotation',
      manifestDigest: noKind.digest,
      repository: `${registry.host}/bundles/broken`,
    },
    "a bundle that breaks Tekton's rules",
  )
  const plural = await pushBundle(registry, 'bundles/broken', 'plural', [{ ...objects[0], kind: 'stepactions' } as BundleObject])
  t.match(await client.pullEntry(plural.reference, 'stepactions', 'echo'), {
    invalid: 'the layer 0 the annotation dev.tekton.image.kind must be lowercased and singular, found stepactions',
  })
})

/** A step's reference to the object `echo` of `kind` in the bundle `reference`, from namespace team-a. */
function bundleRef(reference: string, kind: string): StepReference {
  return {
    namespace: 'team-a',
    resolver: 'bundles',
    params: [
      { name: 'bundle', value: reference },
      { name: 'name', value: 'echo' },
      { name: 'kind', value: kind },
    ],
  }
}

/** A bundles resolver over the fixture registry's certificates, with a cache and fetches of its own unless given. */
function bundlesResolver(
  certs: Certs,
  options: { fetches?: SharedFetches<PulledEntry>; maxObjectBytes?: number; limits?: Partial<OciLimits> } = {},
): BundlesResolver {
  return new BundlesResolver({
    client: clientFor({ certs, ...(options.limits === undefined ? {} : { limits: options.limits }) }),
    cache: new BoundedCache<Read>({ maxBytes: 1024 * 1024, maxEntries: 100 }),
    fetches: options.fetches ?? new SharedFetches<PulledEntry>(new Limiter(4)),
    ttlMs: 60_000,
    ...(options.maxObjectBytes === undefined ? {} : { maxObjectBytes: options.maxObjectBytes }),
  })
}

t.test('a registry slower than the deadline: the step is left for Tekton, and the next request gets what the pull brought', async (t) => {
  const certs = await mintCerts(t)
  const registry = await startFixtureRegistry(t, { certs })
  const pushed = await pushBundle(registry, 'bundles/slow', 'v1', objects)
  const fetches = new SharedFetches<PulledEntry>(new Limiter(4))
  const resolver = bundlesResolver(certs, { fetches })
  const ref = bundleRef(pushed.reference, 'stepaction')
  const nameOf = (r: Resolution): string | undefined => ('definition' in r ? r.definition.name : undefined)
  // Each of the pull's requests (manifest, blob) waits this long: the pull outlives the first request's deadline.
  registry.setDelay(300)
  const first = await resolver.resolve(ref, { deadline: Date.now() + 200 })
  t.match(first, { unresolved: /did not answer in time/ }, 'left for Tekton at the deadline')
  await until('the pull ended', () => fetches.size === 0)
  registry.setDelay(0)
  const pulls = registry.count('blob', 'bundles/slow')
  t.equal(nameOf(await resolver.resolve(ref)), 'echo', 'resolved from what the pull brought after its waiter had gone')
  t.equal(registry.count('blob', 'bundles/slow'), pulls, 'not pulled again')
})

t.test('an object over what stepsplice reads is left for Tekton, saying so, and not pulled again', async (t) => {
  const certs = await mintCerts(t)
  const registry = await startFixtureRegistry(t, { certs })
  const pushed = await pushBundle(registry, 'bundles/large', 'v1', objects)
  const size = Buffer.byteLength(stepAction('echo'))
  const resolverWith = (maxObjectBytes: number): BundlesResolver => bundlesResolver(certs, { maxObjectBytes })
  const ref = bundleRef(pushed.reference, 'StepAction')
  const small = resolverWith(size - 1)
  t.same(await small.resolve(ref), {
    unresolved: `bundles: StepAction/echo in ${pushed.reference} is ${size} bytes, more than stepsplice reads (${size - 1}): Tekton keeps what it resolves in a ResolutionRequest, which the cluster's storage may refuse`,
    resolver: 'bundles',
  })
  const pulls = registry.count('blob', 'bundles/large')
  t.match(await small.resolve(ref), { unresolved: /more than stepsplice reads/ })
  t.equal(registry.count('blob', 'bundles/large'), pulls, 'the answer was kept: not pulled again')
  t.match(await resolverWith(size).resolve(ref), { definition: { name: 'echo' } }, 'an object of the limit exactly is read')

  // A layer past what the client uncompresses: the same, kept rather than pulled again for every request.
  const tight = bundlesResolver(certs, { limits: { uncompressedBytes: 100 } })
  t.match(await tight.resolve(ref), { unresolved: /uncompresses to more than 100/ })
  const before = registry.count('blob', 'bundles/large')
  t.match(await tight.resolve(ref), { unresolved: /uncompresses to more than 100/ })
  t.equal(registry.count('blob', 'bundles/large'), before, 'not pulled again')
})

t.test('bearer tokens: fetched on a challenge, kept per repository until they expire, never sent to blob storage on another host', async (t) => {
  const certs = await mintCerts(t)
  const registry = await startFixtureRegistry(t, { certs, auth: 'bearer', redirectBlobs: true })
  const pushed = await pushBundle(registry, 'team/steps', 'v1', objects)
  const other = await pushBundle(registry, 'team/other', 'v1', objects)
  // The registry named `localhost:PORT`: its blob redirects to 127.0.0.1:PORT are to another host, as storage is in the wild.
  const named = (reference: string): string => reference.replace(registry.host, registry.host.replace('127.0.0.1', 'localhost'))
  let clock = 1_000_000
  const client = clientFor({ certs, now: () => clock })
  const before = registry.requests.length

  t.match(
    await client.pullEntry(named(pushed.reference), 'stepaction', 'echo'),
    { found: true, data: Buffer.from(stepAction('echo')) },
    'pulled through the token flow and a redirect',
  )
  const pulled = registry.requests.slice(before)
  t.same(
    pulled.map((r) => [r.route, r.status]),
    [
      ['manifest', 401],
      ['token', 200],
      ['manifest', 200],
      ['blob', 307],
      ['storage', 200],
    ],
    'challenged once, then a token, then the blob redirected to storage',
  )
  const token = pulled.find((r) => r.route === 'token')
  t.match(token?.path, /scope=repository%3Ateam%2Fsteps%3Apull(&|$)/, 'the pull scope of the repository')
  t.match(token?.path, /service=fixture/, "the challenge's service")
  t.equal(token?.authorization, undefined, 'anonymous: no credentials were given')
  t.match(pulled[2]?.authorization, /^Bearer fixture-/, 'the manifest asked for with the token')
  t.match(pulled[3]?.authorization, /^Bearer fixture-/, 'the blob too')
  t.equal(pulled[4]?.authorization, undefined, 'storage on another host was not sent the token (the fixture refuses one)')

  await client.pullEntry(named(pushed.byDigest), 'task', 'build')
  const tokens = (): number => registry.requests.slice(before).filter((r) => r.route === 'token').length
  t.equal(tokens(), 1, 'the token is kept for the repository')
  t.notOk(
    registry.requests.slice(before + pulled.length).some((r) => r.status === 401),
    'and sent at once: no second challenge',
  )

  await client.pullEntry(named(other.reference), 'task', 'build')
  t.equal(tokens(), 2, 'another repository needs its own token')

  clock += 299_000
  await client.resolveDigest(named(pushed.reference))
  t.equal(tokens(), 2, 'still valid just before expires_in (300 s)')
  clock += 2_000
  t.equal(await client.resolveDigest(named(pushed.reference)), pushed.digest)
  t.equal(tokens(), 3, 'a new token once it expired')

  const fresh = clientFor({ certs })
  await fresh.resolveDigest(named(pushed.reference))
  t.equal(tokens(), 4, 'tokens belong to a client, not to the module')
})

t.test('credentials for a registry host go to its token service as Basic, and nowhere else', async (t) => {
  const certs = await mintCerts(t)
  const registry = await startFixtureRegistry(t, { certs, auth: 'bearer' })
  const pushed = await pushBundle(registry, 'private/steps', 'v1', objects)
  const asked: string[] = []
  const client = clientFor({
    certs,
    credentials: (host) => {
      asked.push(host)
      return host === registry.host ? { username: 'robot', password: 's3cret:x' } : undefined
    },
  })
  const before = registry.requests.length
  await client.pullEntry(pushed.reference, 'stepaction', 'echo')
  const token = registry.requests.slice(before).find((r) => r.route === 'token')
  t.equal(token?.authorization, `Basic ${Buffer.from('robot:s3cret:x').toString('base64')}`)
  t.same([...new Set(asked)], [registry.host], 'asked for the registry host only')
  t.notOk(
    registry.requests.some((r) => r.route !== 'token' && r.authorization?.startsWith('Basic')),
    'the registry itself is sent the token, never the password',
  )
})

t.test('refusals, timeouts, aborts and caps', async (t) => {
  const certs = await mintCerts(t)
  const registry = await startFixtureRegistry(t, { certs })
  const pushed = await pushBundle(registry, 'caps/steps', 'v1', objects)

  const asked = registry.count('manifest')
  const fenced = new OciClient({ transport: new Transport({ extraCa: certs.ca.toString(), hosts: ['ghcr.io'] }), timeoutMs: 10_000 })
  await t.rejects(
    fenced.pullEntry(pushed.reference, 'stepaction', 'echo'),
    { name: 'FetchFailure', kind: 'refused', message: /not one stepsplice may fetch from/ },
    'a host not allowed',
  )
  const untrusting = new OciClient({ transport: new Transport(), timeoutMs: 10_000 })
  await t.rejects(untrusting.pullEntry(pushed.reference, 'stepaction', 'echo'), { name: 'FetchFailure', kind: 'unreachable' }, 'a certificate not trusted')
  t.equal(registry.count('manifest'), asked, 'nothing refused was asked for')

  const small = (limits: Partial<OciLimits>): OciClient => clientFor({ certs, limits })
  await t.rejects(
    small({ manifestBytes: 100 }).pullEntry(pushed.reference, 'stepaction', 'echo'),
    { name: 'FetchFailure', kind: 'too-large' },
    'a manifest over the cap',
  )
  // What the bundle holds decides these two (the blob's size by its descriptor, what it uncompresses to): an answer.
  t.match(await small({ blobBytes: 50 }).pullEntry(pushed.reference, 'stepaction', 'echo'), { tooLarge: /more than 50$/ }, 'a blob over the cap')
  t.match(
    await small({ uncompressedBytes: 1000 }).pullEntry(pushed.reference, 'stepaction', 'echo'),
    { tooLarge: /uncompresses to more than 1000 bytes/ },
    'a layer that uncompresses past the cap',
  )

  registry.setHang(true)
  const impatient = clientFor({ certs, timeoutMs: 300 })
  await t.rejects(impatient.pullEntry(pushed.reference, 'stepaction', 'echo'), { name: 'FetchFailure', kind: 'timeout' }, 'a registry that never answers')
  const client = clientFor({ certs })
  const controller = new AbortController()
  const pulling = client.pullEntry(pushed.reference, 'stepaction', 'echo', controller.signal)
  controller.abort()
  await t.rejects(pulling, { name: 'FetchFailure', kind: 'aborted' }, 'the caller stops waiting')
  await t.rejects(client.resolveDigest(pushed.reference, AbortSignal.abort()), { name: 'FetchFailure', kind: 'aborted' }, 'a signal aborted before the start')
})

// --- a registry written here, for answers the fixture never gives: indexes, wrong digests, zstd, Basic auth, plain http ---

interface Answer {
  status?: number
  headers?: Record<string, string>
  body?: Buffer | string
}

type Routes = (path: string, req: IncomingMessage) => Answer | undefined

function registryHandler(routes: Routes): Handler {
  return (req, res) => {
    const path = new URL(req.url ?? '/', 'https://placeholder').pathname
    const answer = routes(path, req) ?? {
      status: 404,
      headers: { 'content-type': 'application/json' },
      body: '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no such thing"}]}',
    }
    const body = Buffer.from(answer.body ?? '')
    res.writeHead(answer.status ?? 200, { ...answer.headers, 'content-length': String(body.length) })
    res.end(body)
  }
}

interface Layer {
  blob: Buffer
  kind: string
  name: string
  /** Written into the descriptor instead of the blob's own. */
  digest?: string
  size?: number
}

function bundleOf(layers: Layer[]): { body: Buffer; digest: string; blobs: Map<string, Buffer> } {
  const blobs = new Map<string, Buffer>()
  const descriptors = layers.map((l) => {
    blobs.set(l.digest ?? sha256(l.blob), l.blob)
    return {
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      digest: l.digest ?? sha256(l.blob),
      size: l.size ?? l.blob.length,
      annotations: { 'dev.tekton.image.apiVersion': 'tekton.dev/v1beta1', 'dev.tekton.image.kind': l.kind, 'dev.tekton.image.name': l.name },
    }
  })
  const body = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      config: { mediaType: mediaTypes.ociConfig, digest: sha256('{}'), size: 2 },
      layers: descriptors,
    }),
  )
  return { body, digest: sha256(body), blobs }
}

/** Serves one bundle at /v2/r/b: the manifest at `manifestPath` ('v1' by default), its blobs by digest. */
function bundleRoutes(bundle: { body: Buffer; blobs: Map<string, Buffer> }, contentType: string = mediaTypes.ociManifest, manifestPath = 'v1'): Routes {
  return (path) => {
    if (path === `/v2/r/b/manifests/${manifestPath}`) return { headers: { 'content-type': contentType }, body: bundle.body }
    const blob = /^\/v2\/r\/b\/blobs\/(.+)$/.exec(path)
    const bytes = blob === null ? undefined : bundle.blobs.get(blob[1] ?? '')
    return bytes === undefined ? undefined : { headers: { 'content-type': 'application/octet-stream' }, body: bytes }
  }
}

t.test('what a registry may answer that is no bundle stepsplice reads', async (t) => {
  const certs = await mintCerts(t)
  const client = clientFor({ certs })
  const serve = async (routes: Routes): Promise<string> => (await serveLoopback(t, certs, registryHandler(routes))).host

  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: mediaTypes.ociManifest, digest: digestA, size: 10, platform: { os: 'linux', architecture: 'amd64' } }],
    }),
  )
  const indexHost = await serve((path) =>
    path === '/v2/r/b/manifests/v1' ? { headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: index } : undefined,
  )
  await t.rejects(client.pullEntry(`${indexHost}/r/b:v1`, 'stepaction', 'echo'), {
    kind: 'protocol',
    message: `${indexHost}/r/b:v1 is an image index (a manifest list, as multi-platform images are), not an image manifest: a Tekton bundle is one image`,
  })
  t.equal(await client.resolveDigest(`${indexHost}/r/b:v1`), sha256(index), "resolveDigest gives an index's digest")

  const good = bundleOf([{ blob: tarOf('echo', Buffer.from(stepAction('echo'))), kind: 'stepaction', name: 'echo' }])
  const wrongDigest = `sha256:${'b'.repeat(64)}`
  const mismatchHost = await serve(bundleRoutes(good, mediaTypes.ociManifest, wrongDigest))
  await t.rejects(
    client.pullEntry(`${mismatchHost}/r/b@${wrongDigest}`, 'stepaction', 'echo'),
    { name: 'FetchFailure', kind: 'protocol', message: /^digest mismatch: .* whose digest is sha256:/ },
    'a manifest that does not hash to the digest asked for',
  )
  await t.rejects(client.resolveDigest(`${mismatchHost}/r/b@${wrongDigest}`), { name: 'FetchFailure', kind: 'protocol', message: /digest mismatch/ })

  const tampered = bundleOf([{ blob: tarOf('echo', Buffer.from(stepAction('echo'))), kind: 'stepaction', name: 'echo', digest: digestA }])
  await t.rejects(
    client.pullEntry(`${await serve(bundleRoutes(tampered))}/r/b:v1`, 'stepaction', 'echo'),
    { name: 'FetchFailure', kind: 'protocol', message: /digest mismatch: .*layer sha256:a{64}/ },
    'a blob that does not hash to its descriptor',
  )
  const resized = bundleOf([{ blob: tarOf('echo', Buffer.from(stepAction('echo'))), kind: 'stepaction', name: 'echo', size: 10 }])
  await t.rejects(
    client.pullEntry(`${await serve(bundleRoutes(resized))}/r/b:v1`, 'stepaction', 'echo'),
    { name: 'FetchFailure', kind: 'protocol', message: /size mismatch/ },
    'a blob of another size than its descriptor says',
  )

  const zstd = bundleOf([{ blob: zlib.zstdCompressSync(tarOf('echo', Buffer.from(stepAction('echo')))), kind: 'stepaction', name: 'echo' }])
  const pulled = await client.pullEntry(`${await serve(bundleRoutes(zstd))}/r/b:v1`, 'stepaction', 'echo')
  t.equal('data' in pulled ? pulled.data.toString() : pulled, stepAction('echo'), 'a zstd layer')

  let blobRequests = 0
  const many = bundleOf(Array.from({ length: 21 }, (_, i) => ({ blob: Buffer.from(`o${i}`), kind: 'stepaction', name: `s${i}` })))
  const manyRoutes = bundleRoutes(many)
  const manyHost = await serve((path, req) => {
    if (path.includes('/blobs/')) blobRequests++
    return manyRoutes(path, req)
  })
  t.same(await client.pullEntry(`${manyHost}/r/b:v1`, 'stepaction', 's0'), {
    invalid: 'contained more than the maximum 20 allow objects',
    manifestDigest: many.digest,
    repository: `${manyHost}/r/b`,
  })
  t.equal(blobRequests, 0, 'no layer of a bundle that breaks the rules is fetched')

  const missingHost = await serve(() => undefined)
  await t.rejects(
    client.pullEntry(`${missingHost}/r/b:v1`, 'stepaction', 'echo'),
    {
      name: 'FetchFailure',
      kind: 'status',
      status: 404,
      message: `the manifest of ${missingHost}/r/b:v1: the registry answered 404 (not found): MANIFEST_UNKNOWN: no such thing`,
    },
    "the registry's error, in the failure",
  )
})

t.test('a registry that asks for Basic credentials gets them, when there are some', async (t) => {
  const certs = await mintCerts(t)
  const bundle = bundleOf([{ blob: tarOf('echo', Buffer.from(stepAction('echo'))), kind: 'stepaction', name: 'echo' }])
  const routes = bundleRoutes(bundle)
  const expected = `Basic ${Buffer.from('user:pw').toString('base64')}`
  const seen: (string | undefined)[] = []
  const { host } = await serveLoopback(
    t,
    certs,
    registryHandler((path, req) => {
      seen.push(req.headers.authorization)
      return req.headers.authorization === expected ? routes(path, req) : { status: 401, headers: { 'www-authenticate': 'Basic realm="registry"' }, body: '' }
    }),
  )
  const anonymous = clientFor({ certs })
  await t.rejects(
    anonymous.pullEntry(`${host}/r/b:v1`, 'stepaction', 'echo'),
    { name: 'FetchFailure', kind: 'status', status: 401, message: /credentials needed/ },
    'none: the 401 is the answer',
  )
  seen.length = 0
  const client = clientFor({ certs, credentials: (h) => (h === host ? { username: 'user', password: 'pw' } : undefined) })
  t.match(await client.pullEntry(`${host}/r/b:v1`, 'stepaction', 'echo'), { found: true })
  t.same(seen, [undefined, expected, expected], 'challenged once; then Basic for the manifest and the blob')
})

t.test('plain http: only with allowPlainHttp, only for a local registry, after https failed', async (t) => {
  const certs = await mintCerts(t)
  const bundle = bundleOf([{ blob: tarOf('echo', Buffer.from(stepAction('echo'))), kind: 'stepaction', name: 'echo' }])
  let tlsAttempts = 0
  let plainRequests = 0
  const routes = bundleRoutes(bundle)
  const handler = registryHandler((path, req) => {
    plainRequests++
    return routes(path, req)
  })
  const server = http.createServer((req, res) => void handler(req, res))
  // A TLS ClientHello is no HTTP request: the server sees a client error.
  server.on('clientError', (_err, socket) => {
    tlsAttempts++
    socket.destroy()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  server.unref()
  const reference = `127.0.0.1:${(server.address() as AddressInfo).port}/r/b:v1`

  const strict = clientFor({ certs })
  await t.rejects(strict.pullEntry(reference, 'stepaction', 'echo'), { name: 'FetchFailure', kind: 'unreachable' }, 'https only by default')
  t.equal(plainRequests, 0)

  const lenient = new OciClient({ transport: new Transport({ extraCa: certs.ca.toString(), allowPlainHttp: true }), timeoutMs: 10_000 })
  tlsAttempts = 0
  t.match(
    await lenient.pullEntry(reference, 'stepaction', 'echo'),
    { found: true, data: Buffer.from(stepAction('echo')) },
    'with allowPlainHttp, after https failed',
  )
  t.equal(tlsAttempts, 1, 'https was tried once, and plain http remembered for the host')
  t.equal(plainRequests, 2, 'the manifest and the blob over plain http')
})
