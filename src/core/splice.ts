// The one path every caller takes, `render` and the webhook alike:
// plan (pure) → resolve references (the only I/O) → expand (pure).

import type { Catalog, ResolveOptions, Resolution } from '../catalog/catalog.ts'
import { referenceKey } from '../catalog/catalog.ts'
import { type Expansion, expandObject, type Plan, planObject, referenceOf } from '../expand/object.ts'
import type { KubeObject } from '../types/k8s.ts'

export interface SpliceDeps {
  catalog: Catalog
}

/** The namespace references resolve in: the object's own, else the caller's default. */
export function namespaceOf(obj: KubeObject, fallback: string): string {
  const ns = obj.metadata?.namespace
  return typeof ns === 'string' && ns !== '' ? ns : fallback
}

/** Asks the catalog once per distinct reference, all at once. A catalog that throws yields an error value. */
export async function resolveReferences(plan: Plan, namespace: string, catalog: Catalog, options: ResolveOptions = {}): Promise<Map<string, Resolution>> {
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

export async function spliceObject(obj: KubeObject, namespace: string, deps: SpliceDeps, options: ResolveOptions = {}): Promise<Expansion> {
  const plan = planObject(obj)
  const resolutions = await resolveReferences(plan, namespace, deps.catalog, options)
  return expandObject(obj, plan, namespace, resolutions)
}
