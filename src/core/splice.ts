// The one path every caller takes, `render` and the webhook alike:
// plan (pure) → resolve references (the only I/O) → expand (pure).

import type { Catalog, ResolveOptions, Resolution } from '../catalog/catalog.ts'
import { referenceKey } from '../catalog/catalog.ts'
import { type Expansion, expandObject, planObject, referenceOf } from '../expand/object.ts'
import { defaultPrepareImage, expandPod, planPod } from '../pod/splice.ts'
import type { KubeObject } from '../types/k8s.ts'
import type { Step } from '../types/tekton.ts'

export interface SpliceDeps {
  catalog: Catalog
  /** Image of the init container that writes Pod step scripts. */
  prepareImage?: string
}

export interface SpliceOptions extends ResolveOptions {
  /** Expand the Pod templates of Jobs, Deployments and the like (render does; the webhook mutates Pods only). */
  includeWorkloads?: boolean
}

/** The namespace references resolve in: the object's own, else the caller's default. */
export function namespaceOf(obj: KubeObject, fallback: string): string {
  const ns = obj.metadata?.namespace
  return typeof ns === 'string' && ns !== '' ? ns : fallback
}

/** Asks the catalog once per distinct reference, all at once. A catalog that throws yields an error value. */
export async function resolveReferences(plan: { refSteps: readonly { step: Step }[] }, namespace: string, catalog: Catalog, options: ResolveOptions = {}): Promise<Map<string, Resolution>> {
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

export async function spliceObject(obj: KubeObject, namespace: string, deps: SpliceDeps, options: SpliceOptions = {}): Promise<Expansion> {
  const includeWorkloads = options.includeWorkloads ?? false
  const podPlan = planPod(obj, includeWorkloads)
  if (podPlan !== undefined) {
    const resolutions = await resolveReferences(podPlan, namespace, deps.catalog, options)
    return expandPod(obj, podPlan, namespace, resolutions, { prepareImage: deps.prepareImage ?? defaultPrepareImage })
  }
  const plan = planObject(obj)
  const resolutions = await resolveReferences(plan, namespace, deps.catalog, options)
  return expandObject(obj, plan, namespace, resolutions)
}
