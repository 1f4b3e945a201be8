// The JSON patch that turns what the API server sent into what we want.
// Diffing (rather than hand-writing operations) keeps the patch minimal and
// makes "nothing changed" an empty patch, which is how reinvocation stays a
// no-op.

import fastJsonPatch from 'fast-json-patch'
import type { Operation } from 'fast-json-patch'

export function diffPatch(before: unknown, after: unknown): Operation[] {
  return fastJsonPatch.compare(before as object, after as object)
}

export function encodePatch(ops: Operation[]): string {
  return Buffer.from(JSON.stringify(ops)).toString('base64')
}
