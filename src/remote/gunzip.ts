// A gzip-encoded body decoded as Go's gzip.Reader decodes it (compress/gzip/
// gunzip.go), which Go's http.Transport wraps around a response it asked to
// be gzipped (net/http/transport.go, gzipReader): a series of zero or more
// members, each a header, deflate data and a trailer (CRC-32 and size), and
// nothing after the last. node:zlib's gunzip parts from Go at the edges: it
// fails on an empty body, ignores zero bytes after a member, and checks a
// header CRC over more bytes than Go does. So the members are walked here
// as Go walks them, and zlib only inflates each one's deflate data.

import zlib from 'node:zlib'

/** The body decoded; more than the cap; or why Go's reader would fail (or stepsplice does not read it). */
export type Gunzipped = { body: Buffer } | { tooLarge: true } | { unreadable: string }

/**
 * Members read at most. Go reads any number; a body of many tiny members
 * costs an inflate each, so past this many the body is not read (the
 * caller leaves it for Tekton). A real one has a few.
 */
const maxMembers = 1000

const flagHeaderCrc = 1 << 1
const flagExtra = 1 << 2
const flagName = 1 << 3
const flagComment = 1 << 4

/** `input` decoded, at most `maxBytes` of it. Stops between members once `signal` is aborted. */
export async function gunzipAsGo(input: Buffer, maxBytes: number, signal?: AbortSignal): Promise<Gunzipped> {
  const parts: Buffer[] = []
  let size = 0
  let at = 0
  // No bytes left where a member would start is the end: Go reads "zero or more" members, so an empty body is empty.
  for (let members = 0; at < input.length; members++) {
    if (members === maxMembers) return { unreadable: `more than ${maxMembers} gzip members, which stepsplice does not read` }
    signal?.throwIfAborted()
    const header = readHeader(input, at)
    if ('end' in header) break
    if ('unreadable' in header) return header
    const member = await inflateMember(input.subarray(header.dataAt), maxBytes - size)
    if (!('data' in member)) return member
    at = header.dataAt + member.consumed
    if (input.length - at < 8) return { unreadable: 'unexpected EOF' }
    if (input.readUInt32LE(at) !== zlib.crc32(member.data) || input.readUInt32LE(at + 4) !== member.data.length) return { unreadable: 'gzip: invalid checksum' }
    at += 8
    parts.push(member.data)
    size += member.data.length
  }
  return { body: Buffer.concat(parts, size) }
}

type Header = { dataAt: number } | { end: true } | { unreadable: string }

const invalidHeader = { unreadable: 'gzip: invalid header' }
const unexpectedEof = { unreadable: 'unexpected EOF' }

/** Go's readHeader for the member at `at`: where its deflate data starts, the end of the body, or what Go fails with. */
function readHeader(input: Buffer, at: number): Header {
  // ID1 ID2 CM FLG MTIME(4) XFL OS. Go checks the first three only: flags it does not know are ignored.
  if (input.length - at < 10) return unexpectedEof
  if (input[at] !== 0x1f || input[at + 1] !== 0x8b || input[at + 2] !== 8) return invalidHeader
  const flags = input[at + 3] ?? 0
  let p = at + 10
  if (flags & flagExtra) {
    if (input.length - p < 2) return unexpectedEof
    p += 2 + input.readUInt16LE(p)
    if (p > input.length) return unexpectedEof
  }
  for (const flag of [flagName, flagComment]) {
    if ((flags & flag) === 0) continue
    // NUL-terminated, read into Go's 512-byte buffer: a longer string is an invalid header. A body that ends inside
    // one ends there, without an error: Go's readString passes ReadByte's io.EOF on as is, and io.EOF is a clean end.
    const nul = input.subarray(p, p + 512).indexOf(0)
    if (nul < 0) return input.length - p >= 512 ? invalidHeader : { end: true }
    p += nul + 1
  }
  if (flags & flagHeaderCrc) {
    if (input.length - p < 2) return unexpectedEof
    // Go checks it against the CRC-32 of the ten fixed bytes alone, where RFC 1952 (and zlib) take the whole header.
    if (input.readUInt16LE(p) !== (zlib.crc32(input.subarray(at, at + 10)) & 0xffff)) return invalidHeader
    p += 2
  }
  return { dataAt: p }
}

type Member = { data: Buffer; consumed: number } | { tooLarge: true } | { unreadable: string }

/** The deflate data at the start of `input` inflated, at most `room` bytes of it, and how many bytes of `input` it took. */
function inflateMember(input: Buffer, room: number): Promise<Member> {
  return new Promise((resolve) => {
    const inflate = zlib.createInflateRaw()
    const chunks: Buffer[] = []
    let size = 0
    inflate.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > room) {
        inflate.destroy()
        resolve({ tooLarge: true })
      } else chunks.push(chunk)
    })
    // The stream ends where the deflate data does; bytesWritten counts the input inflate consumed, not what it was given.
    inflate.on('end', () => resolve({ data: Buffer.concat(chunks, size), consumed: inflate.bytesWritten }))
    inflate.on('error', (err) => resolve({ unreadable: `flate: ${err.message}` }))
    inflate.end(input)
  })
}
