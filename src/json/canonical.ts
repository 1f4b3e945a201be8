// A stable identity for a definition: sha256 over JSON with sorted keys, so the
// same spec written in YAML or JSON, in any key order, has the same digest.
// A raw number (raw-number.ts) is written as its digits, as JSON.stringify does.

import { createHash } from 'node:crypto'
import { flatConcat, isJsonObject } from './values.ts'

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (isJsonObject(value)) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

export function sha256Digest(value: unknown): string {
  return flatConcat('sha256:', createHash('sha256').update(canonicalJson(value)).digest('hex'))
}
