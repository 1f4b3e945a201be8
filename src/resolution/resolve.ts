// The only I/O before the response: every distinct reference of a request is
// asked of the catalog once, all at once, and the answers handed to expansion.

import type { Param, Step } from '../types/tekton.ts'
import { referenceKey, referenceOf, type Resolution, resolverOf } from '../definitions/reference.ts'
import type { Catalog, ResolveOptions } from './catalog.ts'

/**
 * Keyed by referenceKey. A catalog that throws yields an error value. A name
 * no catalog holds is definite only when a catalog sees the cluster's
 * StepActions as Tekton does (`authoritative`); otherwise Tekton may still
 * find it, so it is unresolved, not wrong.
 */
export async function resolveReferences(
  plan: { refSteps: readonly { step: Step; resolverParams?: Param[] }[] },
  namespace: string,
  catalog: Catalog,
  options: ResolveOptions = {},
): Promise<Map<string, Resolution>> {
  const pending = new Map<string, Promise<Resolution>>()
  for (const s of plan.refSteps) {
    const ref = referenceOf(s.step, namespace, s.resolverParams)
    const key = referenceKey(ref)
    if (pending.has(key)) continue
    const asked = catalog
      .resolve(ref, options)
      .catch((err: unknown): Resolution => ({ error: `catalog failed: ${err instanceof Error ? err.message : String(err)}` }))
      .then(
        (r): Resolution => ('missing' in r && r.missing === true && catalog.authoritative !== true ? { unresolved: r.error, resolver: resolverOf(ref) } : r),
      )
    pending.set(key, asked)
  }
  const resolved = new Map<string, Resolution>()
  for (const [key, promise] of pending) resolved.set(key, await promise)
  return resolved
}
