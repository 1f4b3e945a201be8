// Compression, as Go's http.Transport (which Tekton's http resolver and
// go-containerregistry fetch with) does it, against an HTTPS server on
// loopback: httpGet asks for gzip unless the caller chose an encoding or a
// range, decodes a gzip answer to that as Go's gzip.Reader does (members,
// checksums, what follows the last member), caps the decoded body, and
// returns any other encoding as sent; and the http resolver reads, digests
// and limits the decoded body, leaving one that does not decode for Tekton.

import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import https from 'node:https'
import zlib from 'node:zlib'
import t from 'tap'
import type { Resolution, StepReference } from '../src/definitions/reference.ts'
import { BoundedCache } from '../src/remote/cache.ts'
import { type GetOptions, httpGet } from '../src/remote/http-get.ts'
import { Limiter } from '../src/remote/limiter.ts'
import { SharedFetches } from '../src/remote/shared.ts'
import { Transport } from '../src/remote/transport.ts'
import { HttpResolver, httpMaxBytes } from '../src/resolvers/http.ts'
import { failureOf } from './helpers/fetch-failure.ts'
import { startFileServer } from './helpers/https-files.ts'
import { serveLoopback } from './helpers/loopback.ts'
import { mintCerts, until } from './helpers/server.ts'

const certs = await mintCerts(t)
const transport = new Transport({ extraCa: readFileSync(certs.caFile, 'utf8') })
const files = await startFileServer(t, { certs })
const get: GetOptions = { timeoutMs: 5000, maxBytes: 64 * 1024 }
const gzip = (text: string | Buffer): Buffer => zlib.gzipSync(text)
const gzipped = { headers: { 'content-encoding': 'gzip' } }

/** The headers of the last request for `path`. */
const askedWith = (path: string) => files.requests.filter((r) => r.path === path).at(-1)?.headers

interface MemberHeader {
  /** FLG bits set besides those the fields below set. */
  flags?: number
  extra?: Buffer
  name?: string
  comment?: string
  /** FHCRC, over the ten fixed bytes (as Go checks it) or over the whole header (as RFC 1952 and zlib do). */
  headerCrc?: 'go' | 'rfc'
}

/** One gzip member of `data`, its header written by hand. */
function member(data: string | Buffer, header: MemberHeader = {}): Buffer {
  const bytes = Buffer.from(data)
  let flags = header.flags ?? 0
  if (header.extra !== undefined) flags |= 4
  if (header.name !== undefined) flags |= 8
  if (header.comment !== undefined) flags |= 16
  if (header.headerCrc !== undefined) flags |= 2
  const fixed = Buffer.from([0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 255])
  const fields: Buffer[] = [fixed]
  if (header.extra !== undefined) fields.push(Buffer.from([header.extra.length & 0xff, header.extra.length >> 8]), header.extra)
  if (header.name !== undefined) fields.push(Buffer.from(`${header.name}\0`, 'latin1'))
  if (header.comment !== undefined) fields.push(Buffer.from(`${header.comment}\0`, 'latin1'))
  if (header.headerCrc !== undefined) {
    const crc = zlib.crc32(header.headerCrc === 'go' ? fixed : Buffer.concat(fields)) & 0xffff
    fields.push(Buffer.from([crc & 0xff, crc >> 8]))
  }
  const trailer = Buffer.alloc(8)
  trailer.writeUInt32LE(zlib.crc32(bytes), 0)
  trailer.writeUInt32LE(bytes.length, 4)
  return Buffer.concat([...fields, zlib.deflateRawSync(bytes), trailer])
}

t.test('gzip is asked for, and a gzip answer is decoded, its encoding headers dropped', async (t) => {
  const text = 'apiVersion: tekton.dev/v1beta1\nkind: StepAction\n'
  files.put('/doc.yaml', gzip(text), gzipped)
  const res = await httpGet(`${files.url}/doc.yaml`, transport, get)
  t.equal(askedWith('/doc.yaml')?.['accept-encoding'], 'gzip', 'the request says Accept-Encoding: gzip, as Go sends it')
  t.equal(res.status, 200)
  t.equal(res.body.toString(), text, 'the body decoded')
  t.equal(res.headers['content-encoding'], undefined, 'Content-Encoding dropped, as Go drops it')
  t.equal(res.headers['content-length'], undefined, 'Content-Length (of the encoded body) dropped too')
  t.equal(res.headers['content-type'], 'application/octet-stream', 'other headers kept')

  files.put('/chunked.yaml', gzip(text), { ...gzipped, omitLength: true })
  t.equal((await httpGet(`${files.url}/chunked.yaml`, transport, get)).body.toString(), text, 'chunked, no Content-Length: decoded as well')

  for (const spelled of ['GZIP', 'GZip', ' gzip ', 'gzip\t']) {
    files.put('/spelled.yaml', gzip(text), { headers: { 'content-encoding': spelled } })
    t.equal(
      (await httpGet(`${files.url}/spelled.yaml`, transport, get)).body.toString(),
      text,
      `Content-Encoding ${JSON.stringify(spelled)}: any case, blanks trimmed`,
    )
  }

  files.put('/plain.yaml', text)
  const plain = await httpGet(`${files.url}/plain.yaml`, transport, get)
  t.equal(plain.body.toString(), text, 'a server that does not compress: the body as sent')
  t.equal(plain.headers['content-length'], String(text.length), 'and its headers as sent')
  t.equal(askedWith('/plain.yaml')?.['accept-encoding'], 'gzip')
})

t.test('a caller that sets Accept-Encoding or Range: nothing asked for, nothing decoded', async (t) => {
  const encoded = gzip('raw bytes wanted')
  files.put('/raw.gz', encoded, gzipped)
  const callers: Record<string, string>[] = [{ 'Accept-Encoding': 'identity' }, { 'accept-encoding': 'gzip' }]
  for (const headers of callers) {
    const res = await httpGet(`${files.url}/raw.gz`, transport, { ...get, headers })
    const sent = Object.values(headers)[0]
    t.equal(askedWith('/raw.gz')?.['accept-encoding'], sent, `the caller's ${sent} is sent as it is`)
    t.same(res.body, encoded, `${sent}: the body as sent, not decoded: Go decodes only what it asked for`)
    t.equal(res.headers['content-encoding'], 'gzip', 'its headers kept')
  }
  const ranged = await httpGet(`${files.url}/raw.gz`, transport, { ...get, headers: { Range: 'bytes=0-' } })
  t.equal(askedWith('/raw.gz')?.['accept-encoding'], undefined, 'with a Range, no Accept-Encoding (a part of a gzip stream does not decode)')
  t.same(ranged.body, encoded, 'and nothing decoded')
  await httpGet(`${files.url}/raw.gz`, transport, { ...get, headers: { 'Accept-Encoding': '' } })
  t.equal(askedWith('/raw.gz')?.['accept-encoding'], 'gzip', 'an empty Accept-Encoding is not one set (Go: Header.Get is "")')
})

t.test('other encodings are returned as sent', async (t) => {
  const text = 'kind: StepAction\n'
  const cases: [string, Buffer][] = [
    ['br', zlib.brotliCompressSync(text)],
    ['deflate', zlib.deflateSync(text)],
    ['x-gzip', gzip(text)],
    ['gzip, br', gzip(text)],
  ]
  for (const [encoding, body] of cases) {
    files.put('/other', body, { headers: { 'content-encoding': encoding } })
    const res = await httpGet(`${files.url}/other`, transport, get)
    t.same(res.body, body, `Content-Encoding: ${encoding}: not decoded, as Go decodes gzip alone`)
    t.equal(res.headers['content-encoding'], encoding, `${encoding}: the header kept`)
  }
})

t.test('Content-Encoding is read as Go reads it: the first header line', async (t) => {
  const text = 'first line decides\n'
  const server = await serveLoopback(t, certs, (req, res) => {
    const path = req.url ?? '/'
    if (path === '/gzip-first') res.setHeader('content-encoding', ['gzip', 'identity'])
    else if (path === '/gzip-second') res.setHeader('content-encoding', ['identity', 'gzip'])
    else if (path === '/empty-length') {
      // Go's readLoop: a Content-Length of 0 is no body, which is not wrapped in a gzip reader.
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': '0' }).end()
      return
    }
    res.end(gzip(text))
  })
  const first = await httpGet(`${server.url}/gzip-first`, transport, get)
  t.equal(first.body.toString(), text, 'gzip on the first of two lines: decoded (Header.Get takes the first)')
  const second = await httpGet(`${server.url}/gzip-second`, transport, get)
  t.same(second.body, gzip(text), 'gzip on the second line only: not decoded')
  const empty = await httpGet(`${server.url}/empty-length`, transport, get)
  t.equal(empty.body.length, 0, 'Content-Length: 0: an empty body')
  t.equal(empty.headers['content-encoding'], 'gzip', 'and, as Go leaves such an answer alone, its headers kept')
})

t.test('members: read one after another, as Go reads a multistream', async (t) => {
  files.put('/multi', Buffer.concat([gzip('one\n'), gzip(''), gzip('two\n'), member('three\n')]), gzipped)
  t.equal((await httpGet(`${files.url}/multi`, transport, get)).body.toString(), 'one\ntwo\nthree\n', 'the concatenation, an empty member included')

  const headers = member('fields\n', { extra: Buffer.from('xyz'), name: 'doc.yaml', comment: 'a comment', headerCrc: 'go', flags: 0xe0 })
  files.put('/fields', Buffer.concat([headers, member('more\n', { name: 'é'.repeat(511) })]), gzipped)
  t.equal(
    (await httpGet(`${files.url}/fields`, transport, get)).body.toString(),
    'fields\nmore\n',
    'extra field, name, comment, a header CRC as Go checks it, reserved flags (Go ignores them), a name of 511 bytes',
  )

  files.put('/empty', Buffer.alloc(0), { ...gzipped, omitLength: true })
  const empty = await httpGet(`${files.url}/empty`, transport, get)
  t.equal(empty.body.length, 0, 'no member at all: an empty body (Go reads zero or more members; zlib would fail)')
  t.equal(empty.headers['content-encoding'], undefined, 'decoded, so its encoding headers dropped')

  const cut = member('after\n', { name: 'a-name-that-is-cut' })
  files.put('/cut-in-name', Buffer.concat([gzip('before\n'), cut.subarray(0, 14)]), gzipped)
  t.equal(
    (await httpGet(`${files.url}/cut-in-name`, transport, get)).body.toString(),
    'before\n',
    "a body that ends inside a member's name ends there without an error, as Go's readString passes on io.EOF",
  )
})

t.test('the cap is on the decoded body', async (t) => {
  const cap = { timeoutMs: 5000, maxBytes: 50_000 }
  files.put('/exact', gzip(Buffer.alloc(50_000, 'x')), gzipped)
  t.equal((await httpGet(`${files.url}/exact`, transport, cap)).body.length, 50_000, 'exactly maxBytes decoded is read whole')

  const bomb = gzip(Buffer.alloc(50_001, 'x'))
  t.ok(bomb.length < 1000, 'a small encoded body')
  files.put('/over', bomb, gzipped)
  const over = await failureOf(() => httpGet(`${files.url}/over`, transport, cap))
  t.equal(over.kind, 'too-large', 'one byte more decoded: too-large, however small the encoded body')
  t.equal(over.message, `${files.url}/over decodes to more than 50000 bytes`)

  files.put('/over-members', Buffer.concat([gzip(Buffer.alloc(25_000, 'a')), gzip(Buffer.alloc(25_000, 'b')), gzip('c')]), gzipped)
  t.equal((await failureOf(() => httpGet(`${files.url}/over-members`, transport, cap))).kind, 'too-large', 'counted over all members')

  files.put('/over-corrupt', Buffer.concat([gzip(Buffer.alloc(50_001, 'x')), Buffer.from('garbage after')]), gzipped)
  t.equal(
    (await failureOf(() => httpGet(`${files.url}/over-corrupt`, transport, cap))).kind,
    'too-large',
    'past the cap before what is broken: too-large, as Go stops reading at its limit',
  )

  // Incompressible: past the cap and a slack of encoded bytes, what was read already decodes past the cap.
  const random = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919 + ((i * i) % 251)) & 0xff))
  files.put('/incompressible', zlib.gzipSync(random, { level: 0 }), gzipped)
  t.equal((await failureOf(() => httpGet(`${files.url}/incompressible`, transport, cap))).kind, 'too-large', 'a long encoded body that decodes past the cap')

  // Past the slack, decoding to nothing: Go would read it all; stepsplice does not, and leaves it to Tekton.
  const empties = Buffer.concat(Array.from({ length: 6000 }, () => gzip('')))
  files.put('/empties', empties, gzipped)
  const empty = await failureOf(() => httpGet(`${files.url}/empties`, transport, cap))
  t.equal(empty.kind, 'protocol', 'an encoded body past the cap and its slack that decodes within the cap: not read')
  t.equal(empty.message, `${files.url}/empties: a gzip-encoded body over ${50_000 + 64 * 1024} bytes, which stepsplice does not read`)

  files.put('/many', Buffer.concat(Array.from({ length: 1001 }, () => gzip('m'))), gzipped)
  const many = await failureOf(() => httpGet(`${files.url}/many`, transport, cap))
  t.equal(many.kind, 'protocol', 'more members than stepsplice reads: not read')
  t.match(many.message, /more than 1000 gzip members/)
  files.put('/thousand', Buffer.concat(Array.from({ length: 1000 }, () => gzip('m'))), gzipped)
  t.equal((await httpGet(`${files.url}/thousand`, transport, cap)).body.length, 1000, 'a thousand are read')
})

t.test("what Go's gzip reader fails on fails with protocol, naming the URL", async (t) => {
  const good = gzip('kind: StepAction\n')
  const badCrc = Buffer.from(good)
  badCrc.writeUInt32LE(badCrc.readUInt32LE(badCrc.length - 8) ^ 1, badCrc.length - 8)
  const badSize = Buffer.from(good)
  badSize.writeUInt32LE(999, badSize.length - 4)
  const corrupt = Buffer.from(good)
  corrupt.fill(0xff, 10, 14)
  const cases: [string, Buffer, string][] = [
    ['not gzip at all', Buffer.from('kind: StepAction\n'), 'gzip: invalid header'],
    ['a corrupt deflate stream', corrupt, 'flate: '],
    ['cut short in the deflate data', good.subarray(0, good.length - 12), 'flate: unexpected end of file'],
    ['cut short in the trailer', good.subarray(0, good.length - 3), 'unexpected EOF'],
    ['a wrong CRC-32', badCrc, 'gzip: invalid checksum'],
    ['a wrong size', badSize, 'gzip: invalid checksum'],
    ['garbage after the last member', Buffer.concat([good, Buffer.from('trailing garbage')]), 'gzip: invalid header'],
    ['zero bytes after the last member (zlib would ignore them)', Buffer.concat([good, Buffer.alloc(16)]), 'gzip: invalid header'],
    ['fewer than ten bytes after it', Buffer.concat([good, Buffer.from([0x1f, 0x8b])]), 'unexpected EOF'],
    ['a single zero byte after it', Buffer.concat([good, Buffer.alloc(1)]), 'unexpected EOF'],
    ['a name of 512 bytes (Go reads it into 512, NUL included)', member('x', { name: 'n'.repeat(512) }), 'gzip: invalid header'],
    ['a header CRC over the whole header, as zlib checks it', member('x', { name: 'doc.yaml', headerCrc: 'rfc' }), 'gzip: invalid header'],
    ['a compression method other than deflate', Buffer.concat([Buffer.from([0x1f, 0x8b, 7]), good.subarray(3)]), 'gzip: invalid header'],
  ]
  for (const [what, body, reason] of cases) {
    files.put('/broken', body, gzipped)
    const failure = await failureOf(() => httpGet(`${files.url}/broken`, transport, get))
    t.equal(failure.kind, 'protocol', what)
    t.ok(failure.message.startsWith(`${files.url}/broken: the gzip-encoded body could not be read (${reason}`), `${what}: ${failure.message}`)
  }
})

t.test('a gzip body that trickles in: the timeout and the abort signal still stop it', async (t) => {
  files.put('/slow.gz', gzip('x'.repeat(2000)), { ...gzipped, trickleMs: 50, trickleBytes: 4 })
  const host = new URL(files.url).host
  const timedOut = await failureOf(() => httpGet(`${files.url}/slow.gz`, transport, { timeoutMs: 300, maxBytes: 1024 * 1024 }))
  t.equal(timedOut.kind, 'timeout')
  t.equal(timedOut.message, `no answer from ${host} within 300 ms`)
  const controller = new AbortController()
  setTimeout(() => controller.abort(), 200)
  const aborted = await failureOf(() => httpGet(`${files.url}/slow.gz`, transport, { timeoutMs: 30_000, maxBytes: 1024 * 1024, signal: controller.signal }))
  t.equal(aborted.kind, 'aborted')
  t.equal(aborted.message, `stopped waiting for ${host}`)
})

t.test("redirects: each hop asks for gzip; a failure's body is decoded, or left out", async (t) => {
  files.put('/target.gz', gzip('the target'), gzipped)
  files.put('/hop', '', { redirectTo: '/target.gz' })
  const res = await httpGet(`${files.url}/hop`, transport, get)
  t.equal(res.body.toString(), 'the target')
  t.equal(askedWith('/hop')?.['accept-encoding'], 'gzip', 'the first hop asks for gzip')
  t.equal(askedWith('/target.gz')?.['accept-encoding'], 'gzip', 'and so does the one it leads to')
  const own = await httpGet(`${files.url}/hop`, transport, { ...get, headers: { 'accept-encoding': 'identity' } })
  t.equal(askedWith('/target.gz')?.['accept-encoding'], 'identity', "with the caller's own, every hop sends the caller's")
  t.same(own.body, gzip('the target'), 'and nothing is decoded')

  files.put('/gone', gzip('{"errors":[{"code":"NAME_UNKNOWN"}]}'), { ...gzipped, status: 404 })
  const gone = await httpGet(`${files.url}/gone`, transport, get)
  t.equal(gone.status, 404)
  t.equal(gone.body.toString(), '{"errors":[{"code":"NAME_UNKNOWN"}]}', "a failure's gzip body decoded, to say what went wrong")
  files.put('/gone-broken', Buffer.from('not gzip'), { ...gzipped, status: 404 })
  const broken = await httpGet(`${files.url}/gone-broken`, transport, get)
  t.equal(broken.status, 404, "a failure's body that does not decode: the status still answers")
  t.equal(broken.body.length, 0, 'the body left out')
})

t.test("a failure's body past what is read of it, which the server never ends: the connection is closed, not held", async (t) => {
  // Go closes a body it does not read to the end, which drops the connection; a socket left paused or draining would
  // stay out of the pool for good, one per such answer (a registry's 401, a 404).
  // Bytes that do not compress: the gzip body is as long, past the cap and the slack read of an encoded body.
  const noise = randomBytes(120_000)
  files.put('/held.gz', gzip(noise), { ...gzipped, status: 404, omitLength: true, neverEnds: true })
  files.put('/held', noise, { status: 404, omitLength: true, neverEnds: true })
  for (const path of ['/held.gz', '/held']) {
    const res = await httpGet(`${files.url}${path}`, transport, { ...get, maxBytes: 16 * 1024 })
    t.equal(res.status, 404, `${path}: the status answers`)
    await until(`${path}: the connection closed`, () => files.hungUp.includes(path), 5000)
    t.pass(`${path}: the client hung up`)
  }
})

t.test("a failure's gzip body that all arrived but was read only in part: the connection is closed, not held", async (t) => {
  // Just past the slack read of an encoded failure's body (64 KiB + 64 KiB): its last bytes come in the same piece as
  // the bytes read, so the response has all arrived, and is still never read to its end.
  const read = 64 * 1024 + 64 * 1024
  let body = gzip(randomBytes(read))
  for (let n = read; body.length < read + 100; n += 50) body = gzip(randomBytes(n))
  files.put('/complete.gz', body, { ...gzipped, status: 404 })
  const inUse = (): number => Object.values(https.globalAgent.sockets).reduce((n, list) => n + (list?.length ?? 0), 0)
  const res = await httpGet(`${files.url}/complete.gz`, transport, { ...get, maxBytes: 64 * 1024 })
  t.equal(res.status, 404)
  await until('no socket held', () => inUse() === 0, 5000)
  t.pass('the socket was let go')
})

t.test('the http resolver reads, digests and limits the decoded body', async (t) => {
  const resolver = new HttpResolver({
    transport,
    cache: new BoundedCache<Resolution>({ maxBytes: 4 * 1024 * 1024, maxEntries: 100 }),
    fetches: new SharedFetches<Buffer>(new Limiter(4)),
    ttlMs: 60_000,
    timeoutMs: 5000,
  })
  const ref = (path: string, digest?: string): StepReference => ({
    namespace: 'team-a',
    resolver: 'http',
    params: [{ name: 'url', value: `${files.url}${path}` }, ...(digest === undefined ? [] : [{ name: 'digest', value: digest }])],
  })
  const sha256 = (body: string | Buffer): string => createHash('sha256').update(body).digest('hex')
  const text = 'apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata:\n  name: zipped\nspec:\n  image: alpine\n  script: echo zipped\n'

  files.put('/zipped.yaml', gzip(text), gzipped)
  const got = await resolver.resolve(ref('/zipped.yaml'))
  t.match(got, { definition: { name: 'zipped', spec: { image: 'alpine' } } }, 'a gzip-encoded StepAction resolves')
  t.same('definition' in got ? got.definition.source : undefined, {
    kind: 'http',
    location: `${files.url}/zipped.yaml`,
    sourceDigest: `sha256:${sha256(text)}`,
  })

  const pinned = await resolver.resolve(ref('/zipped.yaml', `sha256:${sha256(text)}`))
  t.match(pinned, { definition: { name: 'zipped' } }, 'a digest of the decoded body matches, as Tekton hashes what it read')
  const ofEncoded = await resolver.resolve(ref('/zipped.yaml', `sha256:${sha256(gzip(text))}`))
  t.same(
    ofEncoded,
    { error: `http resolver: error validating digest: SHA mismatch, expected ${sha256(gzip(text))}, got ${sha256(text)} (${files.url}/zipped.yaml)` },
    'a digest of the encoded bytes does not, as in Tekton',
  )

  files.put('/huge.yaml', gzip(Buffer.alloc(httpMaxBytes + 1, 'x')), gzipped)
  t.same(
    await resolver.resolve(ref('/huge.yaml')),
    { error: `http resolver: ${files.url}/huge.yaml: response body exceeds maximum allowed size of ${httpMaxBytes} bytes` },
    'a body that decodes to 1 MiB + 1 is denied as Tekton fails it, however small it arrives',
  )

  files.put('/corrupt.yaml', Buffer.from('not gzip, though it says so'), gzipped)
  t.same(
    await resolver.resolve(ref('/corrupt.yaml')),
    { unresolved: `${files.url}/corrupt.yaml: the gzip-encoded body could not be read (gzip: invalid header)`, resolver: 'http' },
    'a body that does not decode is left for Tekton, not denied',
  )
  files.put('/trailing.yaml', Buffer.concat([gzip(text), Buffer.from('trailing garbage')]), gzipped)
  t.same(
    await resolver.resolve(ref('/trailing.yaml')),
    { unresolved: `${files.url}/trailing.yaml: the gzip-encoded body could not be read (gzip: invalid header)`, resolver: 'http' },
    'nor is one with garbage after its last member',
  )
})
