// The one path every caller takes, `render` and the webhook alike:
// plan (pure) → resolve references (the only I/O) → expand (pure).

import { defaultPrepareImage, expandPod, planPod } from '../pods/expand.ts'
import type { Catalog, ResolveOptions } from '../resolution/catalog.ts'
import { resolveReferences } from '../resolution/resolve.ts'
import { expandRun, planRun } from '../runs/expand.ts'
import type { Expansion } from '../steps/expansion.ts'
import type { KubeObject } from '../types/k8s.ts'

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

export async function spliceObject(obj: KubeObject, namespace: string, deps: SpliceDeps, options: SpliceOptions = {}): Promise<Expansion> {
  const includeWorkloads = options.includeWorkloads ?? false
  const podPlan = planPod(obj, includeWorkloads)
  if (podPlan !== undefined) {
    const resolutions = await resolveReferences(podPlan, namespace, deps.catalog, options)
    return expandPod(obj, podPlan, namespace, resolutions, { prepareImage: deps.prepareImage ?? defaultPrepareImage })
  }
  const plan = planRun(obj)
  const resolutions = await resolveReferences(plan, namespace, deps.catalog, options)
  return expandRun(obj, plan, namespace, resolutions)
}
