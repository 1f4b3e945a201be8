// How an object is named in messages: `TaskRun default/build-x7k2p`, or
// `TaskRun default/build-*` for one that only has a generateName yet. Every
// part is the caller's text, so each is bounded before it is repeated.

import { truncateText } from './truncate.ts'

type Fields = Record<string, unknown>
const fieldsOf = (v: unknown): Fields => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Fields) : {})
const shown = (v: unknown): string => (typeof v === 'string' ? truncateText(v, 100) : '')

export function describeObject(obj: unknown, fallbackNamespace?: string): string {
  const o = fieldsOf(obj)
  const meta = fieldsOf(o.metadata)
  const kind = shown(o.kind) || 'object'
  const name = shown(meta.name) || (shown(meta.generateName) ? `${shown(meta.generateName)}*` : '')
  const namespace = shown(meta.namespace) || (fallbackNamespace === undefined ? undefined : truncateText(fallbackNamespace, 100))
  if (name === '') return namespace ? `${kind} in namespace ${namespace}` : kind
  return `${kind} ${namespace ? `${namespace}/` : ''}${name}`
}
