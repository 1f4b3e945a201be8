// The first entry of a tar archive, read as Go's archive/tar reads headers
// (Tekton reads bundle layers with it): ustar, GNU and V7 headers with either
// checksum, sizes in octal or base-256, pax extended headers and GNU long
// names folded into the entry they describe. Tekton takes the first entry
// whatever its type: `header.Size` bytes of what follows, and for a type
// that carries no data (a directory, a link) as many zero bytes, which then
// fail as a definition, as they do in Tekton. Anything that is not a
// well-formed archive up to that entry is `undefined`: Tekton then takes the
// layer's bytes as they are.

const block = 512

/** The contents of the first entry of `archive`, as Tekton reads it; undefined when there is none or `archive` is not a tar. */
export function readFirstTarEntry(archive: Buffer, maxBytes: number = 4 * 1024 * 1024): Buffer | undefined {
  let offset = 0
  // A pax header's `size` replaces the next entry's.
  let paxSize: number | undefined
  while (offset + block <= archive.length) {
    const header = archive.subarray(offset, offset + block)
    // A zero block ends the archive (two of them, strictly; Go stops at the first pair and rejects a zero block followed by data).
    if (header.every((b) => b === 0)) return undefined
    if (!checksumMatches(header)) return undefined
    const headerSize = parseNumber(header.subarray(124, 136))
    if (headerSize === undefined) return undefined
    const type = String.fromCharCode(header[156] ?? 0)
    const dataStart = offset + block
    const size = headerOnly(type) ? 0 : type === 'x' || type === 'g' || type === 'L' || type === 'K' ? headerSize : (paxSize ?? headerSize)
    if (dataStart + size > archive.length) return undefined
    if (type === 'x') {
      const records = parsePax(archive.subarray(dataStart, dataStart + size))
      if (records === undefined) return undefined
      const sizeRecord = records.get('size')
      if (sizeRecord !== undefined) {
        if (!/^\d+$/.test(sizeRecord)) return undefined
        paxSize = Number(sizeRecord)
        if (!Number.isSafeInteger(paxSize)) return undefined
      }
    } else if (type === 'g') {
      // A global header describes what follows without being an entry of its own; a local one may still follow.
      if (parsePax(archive.subarray(dataStart, dataStart + size)) === undefined) return undefined
    } else if (type !== 'L' && type !== 'K') {
      if (!carriesNoData(type, header)) return archive.subarray(dataStart, dataStart + size)
      // Go reads nothing after such a header, into a buffer of the size it states.
      const stated = paxSize ?? headerSize
      return stated <= maxBytes ? Buffer.alloc(stated) : undefined
    }
    offset = dataStart + Math.ceil(size / block) * block
  }
  return undefined
}

/** Header-only types, and Go's typeflag '\0' with a name ending in '/' (an old-style directory). */
function carriesNoData(type: string, header: Buffer): boolean {
  if (headerOnly(type)) return true
  if (type !== '\0') return false
  const name = header.subarray(0, 100)
  const end = name.indexOf(0)
  return name
    .subarray(0, end < 0 ? 100 : end)
    .toString('latin1')
    .endsWith('/')
}

/** Types whose size field says nothing about data that follows: links, devices, directories, fifos. */
function headerOnly(type: string): boolean {
  return type >= '1' && type <= '6'
}

function checksumMatches(header: Buffer): boolean {
  const recorded = parseNumber(header.subarray(148, 156))
  if (recorded === undefined) return false
  let unsigned = 0
  let signed = 0
  for (let i = 0; i < block; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0)
    unsigned += b
    signed += b >= 0x80 ? b - 0x100 : b
  }
  return recorded === unsigned || recorded === signed
}

/** A numeric field: octal text padded with spaces or NULs, or GNU base-256 when the high bit is set. Negative or unsafe values are undefined. */
function parseNumber(field: Buffer): number | undefined {
  const first = field[0] ?? 0
  if (first & 0x80) {
    if (first & 0x40) return undefined
    let value = first & 0x3f
    for (const b of field.subarray(1)) {
      value = value * 256 + b
      if (!Number.isSafeInteger(value)) return undefined
    }
    return value
  }
  const text = field.toString('latin1').replace(/^[ \0]+|[ \0]+$/g, '')
  if (text === '') return 0
  if (!/^[0-7]+$/.test(text)) return undefined
  const value = Number.parseInt(text, 8)
  return Number.isSafeInteger(value) ? value : undefined
}

/** pax records, `<length> <key>=<value>\n` each, the length counting the whole record. */
function parsePax(data: Buffer): Map<string, string> | undefined {
  const records = new Map<string, string>()
  let offset = 0
  const end = data.length
  while (offset < end) {
    const space = data.indexOf(0x20, offset)
    if (space < 0 || space >= end) return undefined
    const lengthText = data.subarray(offset, space).toString('latin1')
    if (!/^[1-9]\d*$/.test(lengthText)) return undefined
    const length = Number(lengthText)
    if (offset + length > end || data[offset + length - 1] !== 0x0a) return undefined
    const record = data.subarray(space + 1, offset + length - 1).toString('utf8')
    const equals = record.indexOf('=')
    if (equals <= 0) return undefined
    records.set(record.slice(0, equals), record.slice(equals + 1))
    offset += length
  }
  return records
}
