// How an object is named in messages: `TaskRun default/build-x7k2p`, or
// `TaskRun default/build-*` for one that only has a generateName yet.

import type { KubeObject } from '../types/k8s.ts'

export function describeObject(obj: unknown, fallbackNamespace?: string): string {
  const o = (typeof obj === 'object' && obj !== null ? obj : {}) as KubeObject
  const meta = o.metadata ?? {}
  const kind = typeof o.kind === 'string' && o.kind !== '' ? o.kind : 'object'
  const name = meta.name || (meta.generateName ? `${meta.generateName}*` : '')
  const namespace = meta.namespace || fallbackNamespace
  if (name === '') return namespace ? `${kind} in namespace ${namespace}` : kind
  return `${kind} ${namespace ? `${namespace}/` : ''}${name}`
}
