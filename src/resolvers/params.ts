// Resolver params as Tekton's resolvers read them: a map from name to the
// param's StringVal, so an array or object value reads as "" and the last of
// two params of one name wins (Go fills a map in order).

import type { Param } from '../types/tekton.ts'

export function paramStrings(params: readonly Param[] | undefined): Map<string, string> {
  const out = new Map<string, string>()
  for (const p of params ?? []) {
    if (typeof p !== 'object' || p === null || typeof p.name !== 'string') continue
    out.set(p.name, typeof p.value === 'string' ? p.value : '')
  }
  return out
}
