// The only I/O before the response: every distinct reference of a request is
// asked of the catalog once, all at once, and the answers handed to expansion.

import { referenceKey, referenceOf, type Resolution } from '../definitions/reference.ts'
import type { Step } from '../types/tekton.ts'
import type { Catalog, ResolveOptions } from './catalog.ts'

/** Keyed by referenceKey. A catalog that throws yields an error value. */
export async function resolveReferences(
  plan: { refSteps: readonly { step: Step }[] },
  namespace: string,
  catalog: Catalog,
  options: ResolveOptions = {},
): Promise<Map<string, Resolution>> {
  const pending = new Map<string, Promise<Resolution>>()
  for (const s of plan.refSteps) {
    const ref = referenceOf(s.step, namespace)
    const key = referenceKey(ref)
    if (!pending.has(key)) {
      pending.set(
        key,
        catalog.resolve(ref, options).catch((err: unknown) => ({ error: `catalog failed: ${err instanceof Error ? err.message : String(err)}` })),
      )
    }
  }
  const resolved = new Map<string, Resolution>()
  for (const [key, promise] of pending) resolved.set(key, await promise)
  return resolved
}
