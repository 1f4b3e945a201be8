// A layer's bytes as go-containerregistry uncompresses them: gzip or zstd
// when the first bytes say so (media types are not trusted to), as they are
// otherwise. The output is capped while it is produced, so a small blob
// cannot expand into a large allocation.

import { promisify } from 'node:util'
import zlib from 'node:zlib'
import { FetchFailure } from './failure.ts'

const gunzip = promisify(zlib.gunzip)

/** `bytes` uncompressed, at most `maxBytes` of them; `what` names the layer in failures. */
export async function uncompressLayer(bytes: Buffer, maxBytes: number, what: string): Promise<Buffer> {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return inflate(() => gunzip(bytes, { maxOutputLength: maxBytes }), maxBytes, `${what} (gzip)`)
  if (bytes[0] === 0x28 && bytes[1] === 0xb5 && bytes[2] === 0x2f && bytes[3] === 0xfd) {
    // Node 24 has zstd; a runtime without it cannot read such a layer, which is the registry's answer, not the author's mistake.
    if (typeof zlib.zstdDecompress !== 'function') throw new FetchFailure('protocol', `${what} is zstd-compressed, which this Node.js cannot uncompress`)
    const zstd = promisify(zlib.zstdDecompress)
    return inflate(() => zstd(bytes, { maxOutputLength: maxBytes }), maxBytes, `${what} (zstd)`)
  }
  if (bytes.length > maxBytes) throw new FetchFailure('too-large', `${what} is ${bytes.length} bytes, more than ${maxBytes}`)
  return bytes
}

async function inflate(run: () => Promise<Buffer>, maxBytes: number, what: string): Promise<Buffer> {
  try {
    return await run()
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'ERR_BUFFER_TOO_LARGE') {
      throw new FetchFailure('too-large', `${what} uncompresses to more than ${maxBytes} bytes`)
    }
    throw new FetchFailure('protocol', `${what} does not uncompress: ${err instanceof Error ? err.message : String(err)}`)
  }
}
