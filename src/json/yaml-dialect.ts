// The YAML dialect stepsplice reads: kubectl's (sigs.k8s.io/yaml over go-yaml
// v2), as near as the yaml package's options take it (docs/semantics.md says
// where it still differs). YAML 1.1, so `yes` is true;
// duplicate keys are errors; numbers are what go-yaml v2 makes of them;
// integers are read as BigInt, so none past 2^53 is rounded (raw-number.ts
// keeps their digits); timestamps stay the text written. One home for it:
// every reader of documents reads the same, and what we write is quoted by
// the same rules.

import type { ScalarTag, Tags } from 'yaml'
import { stringifyNumber } from 'yaml/util'
import { isInt64 } from './raw-number.ts'

export const timestampTag = 'tag:yaml.org,2002:timestamp'
const intTag = 'tag:yaml.org,2002:int'
const floatTag = 'tag:yaml.org,2002:float'

/**
 * YAML 1.1 types `2001-12-14` as a timestamp, which the yaml package reads as
 * a Date: an object, which a param default then seemed to be, and which JSON
 * writes as `2001-12-14T00:00:00.000Z`. kubectl's decoder (go-yaml v2 into an
 * interface{}, sigs.k8s.io/yaml) keeps such a value as the text written, for
 * backward compatibility, tagged `!!timestamp` or not, and that text is what
 * the API server stores: so it is what we read too.
 */
function timestampsAsWritten(tags: Tags): Tags {
  const out: Tags = []
  for (const tag of tags) {
    if (!isTimestamp(tag)) {
      out.push(tag)
      continue
    }
    // Plain scalars: the text, where the tag's pattern matches it (go-yaml keeps any other as text too).
    out.push({ ...tag, resolve: (text: string) => text })
    // `!!timestamp` written out: the same, and on text go-yaml does not read as a timestamp an error, as it gives
    // one. (The yaml package takes an explicit tag's entry without a pattern at once.)
    out.push({
      ...tag,
      default: false,
      test: undefined,
      resolve: (text: string, onError: (message: string) => void) => {
        if (!goTimestamp(text)) onError(`${JSON.stringify(text)} is not a timestamp`)
        return text
      },
    })
  }
  return out
}

/**
 * go-yaml's parseTimestamp: Go's time.Parse with one of four layouts
 * (`2006-1-2T15:4:5.999999999Z07:00`, the same with `t`,
 * `2006-1-2 15:4:5.999999999` and `2006-1-2`), so one or two digits where the
 * layout has one, any run of spaces for its space, a fraction after `.` or
 * `,` of any length, and every field
 * in its range (the day in its month; a zone's hours to 24, minutes to 60).
 */
const goTimestampLayouts = [
  /^(\d{4})-(\d\d?)-(\d\d?)[Tt](\d\d?):(\d\d?):(\d\d?)(?:[.,]\d+)?(?:Z|[-+](\d\d):(\d\d))$/,
  /^(\d{4})-(\d\d?)-(\d\d?) +(\d\d?):(\d\d?):(\d\d?)(?:[.,]\d+)?$/,
  /^(\d{4})-(\d\d?)-(\d\d?)$/,
]

function goTimestamp(text: string): boolean {
  for (const layout of goTimestampLayouts) {
    const m = layout.exec(text)
    if (m === null) continue
    const [year, month, day, hour = 0, minute = 0, second = 0, zoneHours = 0, zoneMinutes = 0] = m
      .slice(1)
      .map((d) => (d === undefined ? undefined : Number(d)))
    const y = year as number
    const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)
    const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][(month as number) - 1]
    return (
      days !== undefined && (day as number) >= 1 && (day as number) <= days && hour < 24 && minute < 60 && second < 60 && zoneHours <= 24 && zoneMinutes <= 60
    )
  }
  return false
}

function isTimestamp(tag: Tags[number]): tag is ScalarTag {
  return typeof tag === 'object' && tag.tag === timestampTag && !('collection' in tag)
}

// Numbers as go-yaml v2 reads a plain scalar (resolve.go): one starting with
// a digit or a sign is, with every `_` taken out, an integer when Go's
// ParseInt or ParseUint reads it in base 0 (so `0o17`, `0O17`, `0X1F`, `0B1`
// and `017` too) or, after `0b`, ParseInt in base 2 (so `0b+1`), else a
// float when it has the float pattern below and ParseFloat reads it; one
// starting with `.` is a float when ParseFloat reads it as written (which
// takes a `_` between two digits). Nothing else is a number: the yaml
// package's YAML 1.1 tags made `e3` and `.` NaN (null in JSON), `1:20`
// base-60 80, and left `0o17` a string. The `.inf` and `.nan` spellings are
// the same in both and stay.

/** The text with underscores, as go-yaml reads it: Go's base-0 integer syntax once they are taken out, or `0b` and a signed binary number. */
const goInteger =
  /^(?=[-+0-9])(?:[-+]?_*(?:0_*[xX](?:_*[0-9a-fA-F])+|0_*[oO](?:_*[0-7])+|0_*[bB](?:_*[01])+|0(?:_*[0-7])*|[1-9](?:_*[0-9])*)|0_*b_*[-+]_*[01](?:_*[01])*)_*$/
/** go-yaml's yamlStyleFloat with underscores anywhere after the first character, or a `.` start ParseFloat reads as written. */
const goFloat =
  /^(?:(?=[-+0-9])[-+]?_*(?:\.(?:_*[0-9])+|[0-9](?:_*[0-9])*(?:_*\.(?:_*[0-9])*)?)(?:_*[eE]_*[-+]?(?:_*[0-9])+)?_*|\.[0-9](?:_?[0-9])*(?:[eE][-+]?[0-9](?:_?[0-9])*)?)$/

const uint64Max = 2n ** 64n - 1n

/**
 * An integer's value as go-yaml gives it, past 64 bits included: ParseInt,
 * else ParseUint (which takes no sign), else for digits without a base
 * prefix a float when ParseFloat reads one (the float pattern matches
 * them), else, when ParseUint failed on the size alone (no sign), a big
 * integer; otherwise the text.
 */
function goIntegerValue(text: string): bigint | number | string {
  const plain = text.replaceAll('_', '')
  if (plain.startsWith('0b+') || plain.startsWith('0b-')) {
    // `0b+1`: only ParseInt of what follows `0b`, in base 2, reads it.
    const value = BigInt(`0b${plain.slice(3)}`) * (plain[2] === '-' ? -1n : 1n)
    return isInt64(value) ? value : text
  }
  const sign = plain[0] === '-' || plain[0] === '+' ? plain[0] : ''
  const digits = plain.slice(sign.length)
  const base = /^0[xXoObB]/.test(digits) ? (digits[1] as string).toLowerCase() : undefined
  const magnitude = BigInt(base !== undefined ? `0${base}${digits.slice(2)}` : digits.length > 1 && digits[0] === '0' ? `0o${digits.slice(1)}` : digits)
  const value = sign === '-' ? -magnitude : magnitude
  if (isInt64(value)) return value
  if (sign === '' && value <= uint64Max) return value
  const float = base === undefined ? Number(plain) : Number.NaN
  if (Number.isFinite(float)) return float
  return sign === '' ? value : text
}

/** A float's value; past a double's range ParseFloat fails and go-yaml keeps the text. */
function goFloatValue(text: string): number | string {
  const value = Number(text.replaceAll('_', ''))
  return Number.isFinite(value) ? value : text
}

const goIntegerTag: ScalarTag = {
  identify: (v) => typeof v === 'bigint' || Number.isInteger(v),
  default: true,
  tag: intTag,
  test: goInteger,
  resolve: goIntegerValue,
  stringify: stringifyNumber,
}

const goFloatTag: ScalarTag = {
  identify: (v) => typeof v === 'number',
  default: true,
  tag: floatTag,
  test: goFloat,
  resolve: goFloatValue,
  stringify: stringifyNumber,
}

/** The yaml package's YAML 1.1 tags with its integers and floats (base 60 too) read as go-yaml reads numbers; `.inf` and `.nan` stay. */
function goNumbers(tags: Tags): Tags {
  const out: Tags = []
  let placed = false
  for (const tag of tags) {
    const numeric = typeof tag === 'object' && (tag.tag === intTag || tag.tag === floatTag) && !('collection' in tag)
    if (numeric && !placed) {
      out.push(goIntegerTag, goFloatTag)
      placed = true
    }
    // Kept: what is not a number, and the spellings of infinity and not-a-number (go-yaml's too; no pattern above matches them).
    if (!numeric || tag.test?.test('.nan') === true) out.push(tag)
  }
  return out
}

const binaryTag = 'tag:yaml.org,2002:binary'
/** Go's base64.StdEncoding, which skips line breaks: padded, whole quanta. */
const stdBase64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * `!!binary` as go-yaml reads it: the decoded bytes as a string (JSON then
 * carries them as text), and text that is not standard padded base64 an
 * error. The yaml package made a Buffer, which became `{"type":"Buffer",…}`.
 */
function binaryAsText(tags: Tags): Tags {
  return tags.map((tag) =>
    typeof tag === 'object' && tag.tag === binaryTag && !('collection' in tag)
      ? {
          ...tag,
          resolve: (text: string, onError: (message: string) => void) => {
            const encoded = text.replace(/[\r\n]/g, '')
            if (!stdBase64.test(encoded)) {
              onError('!!binary value contains invalid base64 data')
              return text
            }
            return goString(Buffer.from(encoded, 'base64'))
          },
        }
      : tag,
  )
}

/** The second byte's range after each lead byte of a valid UTF-8 sequence, as Go's utf8 package accepts them. */
function secondByteRange(lead: number): [number, number, number] | undefined {
  if (lead >= 0xc2 && lead <= 0xdf) return [2, 0x80, 0xbf]
  if (lead === 0xe0) return [3, 0xa0, 0xbf]
  if (lead === 0xed) return [3, 0x80, 0x9f]
  if (lead >= 0xe1 && lead <= 0xef) return [3, 0x80, 0xbf]
  if (lead === 0xf0) return [4, 0x90, 0xbf]
  if (lead === 0xf4) return [4, 0x80, 0x8f]
  if (lead >= 0xf1 && lead <= 0xf3) return [4, 0x80, 0xbf]
  return undefined
}

/**
 * Bytes as Go's JSON writes a string holding them: valid UTF-8 as it is, and
 * each byte that does not start a valid sequence a U+FFFD of its own (a
 * TextDecoder gives one for a whole broken sequence).
 */
const utf8 = new TextDecoder()

function goString(bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.length; ) {
    const lead = bytes[i] as number
    if (lead < 0x80) {
      out += String.fromCharCode(lead)
      i++
      continue
    }
    const shape = secondByteRange(lead)
    let valid = shape !== undefined && i + shape[0] <= bytes.length
    if (shape !== undefined && valid) {
      const second = bytes[i + 1] as number
      valid = second >= shape[1] && second <= shape[2]
      for (let k = 2; valid && k < shape[0]; k++) valid = ((bytes[i + k] as number) & 0xc0) === 0x80
    }
    if (shape === undefined || !valid) {
      out += '\ufffd'
      i++
      continue
    }
    out += utf8.decode(bytes.subarray(i, i + shape[0]))
    i += shape[0]
  }
  return out
}

/** Our dialect's tags, given the yaml package's YAML 1.1 ones. */
function dialectTags(tags: Tags): Tags {
  return binaryAsText(timestampsAsWritten(goNumbers(tags)))
}

/** The yaml package's options for our dialect: documents.ts reads with them, and yaml-fast.ts follows them. */
export const exactOptions = { version: '1.1', prettyErrors: false, uniqueKeys: true, intAsBigInt: true, customTags: dialectTags } as const

/**
 * Written, the text `<<` is a key like any other: the yaml package would
 * write it as the merge key (plain), which YAML 1.1 readers, ours and
 * kubectl's, then merge. Only a merge key read from YAML is written as one.
 */
function mergeKeysAsRead(tags: Tags): Tags {
  return tags.map((tag) =>
    typeof tag === 'object' && tag.tag === 'tag:yaml.org,2002:merge'
      ? { ...tag, identify: (v: unknown) => typeof v === 'symbol' && v.description === '<<' }
      : tag,
  )
}

/** The options documents are written with: strings quoted wherever our reading (and kubectl's) would take them for another type. */
export const writeOptions = { version: '1.1', customTags: (tags: Tags) => mergeKeysAsRead(dialectTags(tags)) } as const
