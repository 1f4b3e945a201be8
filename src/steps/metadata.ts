// The object's own metadata must have the shape the API server gives it
// before anything reads or writes annotations: a string where a map belongs
// once produced a patch that wrote `{"0": "x", …}` into the object.

import { isJsonObject } from '../json/values.ts'
import { problem, type Problem } from '../problems/problem.ts'

/** Problems with `metadata` (at `path`, e.g. `metadata` or `spec.template.metadata`); none when it is absent or well formed. */
export function checkMetadata(metadata: unknown, path: string): Problem[] {
  if (metadata === undefined) return []
  if (!isJsonObject(metadata)) return [problem(path, 'must be an object')]
  const out: Problem[] = []
  for (const field of ['annotations', 'labels'] as const) {
    const map = metadata[field]
    if (map === undefined || map === null) continue
    if (!isJsonObject(map)) {
      out.push(problem(`${path}.${field}`, 'must be a map of strings'))
      continue
    }
    for (const [key, value] of Object.entries(map)) {
      if (typeof value !== 'string') {
        out.push(problem(`${path}.${field}[${JSON.stringify(key)}]`, 'must be a string'))
        break
      }
    }
  }
  return out
}
