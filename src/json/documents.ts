// Reading and writing Kubernetes-style documents. Input is YAML (any number of
// `---` separated documents) or JSON, which YAML reads too. We read YAML 1.1,
// the dialect kubectl's decoder speaks, so `value: yes` means what it means to
// the API server. Integers keep their digits both ways (raw-number.ts): read
// as BigInt, an int64 past 2^53 stays a raw number, and is printed as written.

import { Document, isAlias, isMap, isScalar, isSeq, parseAllDocuments, visit } from 'yaml'
import { integerValue, isRawNumber } from './raw-number.ts'
import { exactOptions, writeOptions } from './yaml-dialect.ts'
import { FastYaml } from './yaml-fast.ts'
import { truncateText } from '../problems/truncate.ts'

/**
 * What the yaml package builds, made what kubectl's decoder (go-yaml v2)
 * gives: integers exact; an `!!omap` (a Map) the list of one-entry maps it
 * was written as, and a `!!set` (a Set) a map of nulls, as go-yaml reads
 * those collections whatever their tag. JSON would write either as `{}`.
 */
function exactValue(_key: unknown, value: unknown): unknown {
  if (typeof value === 'bigint') return integerValue(value)
  if (value instanceof Map) return Array.from(value, ([k, v]) => ({ [String(k)]: v }))
  if (value instanceof Set) return Object.fromEntries(Array.from(value, (k) => [String(k), null]))
  return value
}
// The yaml package prints a BigInt as a plain integer; a raw number would be an object to it.
const printableInteger = (_key: unknown, value: unknown): unknown => (isRawNumber(value) ? BigInt(value.rawJSON) : value)

export interface ParseResult {
  documents: unknown[]
  /** Parse errors, each naming the source and line. */
  errors: string[]
}

/**
 * `line L, column C` (from 1) of offsets in `text`. The line starts are found
 * once, on the first call; each position is then a binary search, so many
 * errors in one text cost no more than reading it once.
 */
export function positions(text: string): (offset: number) => string {
  let starts: number[] | undefined
  return (offset) => {
    if (starts === undefined) {
      starts = [0]
      for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1)
    }
    let lo = 0
    let hi = starts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if ((starts[mid] as number) <= offset) lo = mid
      else hi = mid - 1
    }
    return `line ${lo + 1}, column ${offset - (starts[lo] as number) + 1}`
  }
}

/** Errors shown per document; the rest are counted. A line full of errors would otherwise print one each. */
const shownErrors = 5

/** Built once: an immutable schema, like a compiled expression. */
let fast: FastYaml | undefined

function collect(documents: unknown[], value: unknown): void {
  if (value === null || value === undefined) return
  // A JSON array of objects, as `render -o json` prints for several inputs, is several documents.
  if (Array.isArray(value)) documents.push(...value)
  else documents.push(value)
}

/** Each document's value as written: an empty one null, a list one list. */
function asWritten(documents: unknown[], value: unknown): void {
  documents.push(value ?? null)
}

export function parseDocuments(text: string, source: string): ParseResult {
  return parse(text, source, collect)
}

/**
 * Every document of `text` as it stands, for a reader that must see what
 * Tekton's decoder sees: empty documents (null) and a list at the top are
 * kept, where parseDocuments skips the one and spreads the other.
 */
export function parseDocumentsAsWritten(text: string, source: string): ParseResult {
  return parse(text, source, asWritten)
}

/** The fast reading alone, as written (parseDocumentsAsWritten): undefined where only the exact one can read the text. */
export function fastDocumentsAsWritten(text: string): unknown[] | undefined {
  return fastDocuments(text, asWritten)
}

/** The exact reading alone, as written (parseDocumentsAsWritten). */
export function exactDocumentsAsWritten(text: string, source: string): ParseResult {
  return exactDocuments(text, source, asWritten)
}

function parse(text: string, source: string, add: (documents: unknown[], value: unknown) => void): ParseResult {
  const documents = fastDocuments(text, add)
  return documents === undefined ? exactDocuments(text, source, add) : { documents, errors: [] }
}

/** The fast reading (yaml-fast.ts), or undefined where it gives up. */
function fastDocuments(text: string, add: (documents: unknown[], value: unknown) => void): unknown[] | undefined {
  fast ??= new FastYaml()
  const read = fast.documents(text)
  if (read === undefined) return undefined
  const documents: unknown[] = []
  for (const value of read) add(documents, value)
  return documents
}

/** The yaml package's reading, which words every error; see yaml-fast.ts for when it is the one used. */
export function exactDocuments(text: string, source: string, add: (documents: unknown[], value: unknown) => void = collect): ParseResult {
  const documents: unknown[] = []
  const errors: string[] = []
  const at = positions(text)
  // prettyErrors is off: it works out a line and column for every error, each by reading the text up to
  // it, so a long line full of errors took seconds (and blocked the server's thread on a catalog reload).
  for (const doc of parseAllDocuments(text, exactOptions)) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors.slice(0, shownErrors)) errors.push(`${source}: ${e.message.split('\n')[0]} at ${at(e.pos[0])}`)
      if (doc.errors.length > shownErrors) errors.push(`${source}: and ${doc.errors.length - shownErrors} more errors`)
      continue
    }
    const built = documentValue(doc)
    if ('failure' in built) errors.push(`${source}: ${built.failure} at ${at(built.offset)}`)
    else add(documents, built.value)
  }
  return { documents, errors }
}

/**
 * A parsed document's value, or why it cannot be built and where. Building
 * can fail where parsing did not (a merge key `<<` whose value is no
 * mapping): an error of this document, as any other, never an exception that
 * takes the rest of the file (or a catalog) with it.
 */
export function documentValue(doc: Document): { value: unknown } | { failure: string; offset: number } {
  try {
    return { value: doc.toJS({ maxAliasCount: 100, reviver: exactValue }) }
  } catch (err) {
    return { failure: truncateText(err instanceof Error ? err.message : String(err)), offset: buildFailureOffset(doc) }
  }
}

/**
 * Where building a parsed document's value failed, for its message: the
 * first merge key `<<` whose value is neither a mapping nor a list of them
 * (the failure the yaml package throws without a place), else the
 * document's start.
 */
function buildFailureOffset(doc: Document): number {
  let offset: number | undefined
  visit(doc, {
    Pair(_, pair) {
      const key = pair.key
      const value = pair.value
      const merges = (v: unknown): boolean => isMap(v) || isAlias(v)
      if (!isScalar(key) || typeof key.value !== 'symbol' || merges(value) || (isSeq(value) && value.items.every(merges))) return undefined
      offset = key.range?.[0]
      return visit.BREAK
    },
  })
  return offset ?? doc.contents?.range?.[0] ?? 0
}

export type OutputFormat = 'yaml' | 'json'

export function formatDocuments(documents: unknown[], format: OutputFormat): string {
  if (format === 'json') return `${JSON.stringify(documents.length === 1 ? documents[0] : documents, null, 2)}\n`
  return documents.map(yamlText).join('---\n')
}

/**
 * Characters YAML 1.1 readers (go-yaml, so kubectl) take for line breaks
 * (NEL, LS, PS) or a byte-order mark, which the yaml package writes as they
 * are, even in double quotes: a string holding one is written double-quoted,
 * and the character as its escape.
 */
const breaking = /[\u0085\u2028\u2029\ufeff]/
const everyBreaking = new RegExp(breaking.source, 'g')
const escapes: Record<string, string> = { '\u0085': '\\N', '\u2028': '\\L', '\u2029': '\\P', '\ufeff': '\\uFEFF' }

function yamlText(value: unknown): string {
  const doc = new Document(value, printableInteger, { ...writeOptions, aliasDuplicateObjects: false })
  let escaping = false
  visit(doc, {
    Scalar(_, node) {
      if (typeof node.value !== 'string' || !breaking.test(node.value)) return
      node.type = 'QUOTE_DOUBLE'
      escaping = true
    },
  })
  const text = doc.toString({ lineWidth: 0 })
  // Only double-quoted strings hold such characters now: each becomes its escape there.
  return escaping ? text.replace(everyBreaking, (c) => escapes[c] ?? c) : text
}
