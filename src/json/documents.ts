// Reading and writing Kubernetes-style documents. Input is YAML (any number of
// `---` separated documents) or JSON, which YAML reads too. We read YAML 1.1,
// the dialect kubectl's decoder speaks, so `value: yes` means what it means to
// the API server. Integers keep their digits both ways (raw-number.ts): read
// as BigInt, an int64 past 2^53 stays a raw number, and is printed as written.

import { parseAllDocuments, stringify } from 'yaml'
import { integerValue, isRawNumber } from './raw-number.ts'

const exactInteger = (_key: unknown, value: unknown): unknown => (typeof value === 'bigint' ? integerValue(value) : value)
// The yaml package prints a BigInt as a plain integer; a raw number would be an object to it.
const printableInteger = (_key: unknown, value: unknown): unknown => (isRawNumber(value) ? BigInt(value.rawJSON) : value)

export interface ParseResult {
  documents: unknown[]
  /** Parse errors, each naming the source and line. */
  errors: string[]
}

export function parseDocuments(text: string, source: string): ParseResult {
  const documents: unknown[] = []
  const errors: string[] = []
  for (const doc of parseAllDocuments(text, { version: '1.1', prettyErrors: true, uniqueKeys: true, intAsBigInt: true })) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) errors.push(`${source}: ${e.message.split('\n')[0]}`)
      continue
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100, reviver: exactInteger })
    if (value === null || value === undefined) continue
    // A JSON array of objects, as `render -o json` prints for several inputs, is several documents.
    if (Array.isArray(value)) documents.push(...value)
    else documents.push(value)
  }
  return { documents, errors }
}

export type OutputFormat = 'yaml' | 'json'

export function formatDocuments(documents: unknown[], format: OutputFormat): string {
  if (format === 'json') return `${JSON.stringify(documents.length === 1 ? documents[0] : documents, null, 2)}\n`
  return documents.map((d) => stringify(d, printableInteger, { version: '1.1', lineWidth: 0, aliasDuplicateObjects: false })).join('---\n')
}
