// Where Pod specs live: a Pod itself, or the Pod template of a workload.
// `render` expands them all so a user can preview what a Job's Pods will
// become; the webhook only ever sees Pods (templates are left alone so GitOps
// tools see no drift).

import { isJsonObject as isObject } from '../json/values.ts'
import type { KubeObject, ObjectMeta, PodSpec } from '../types/k8s.ts'

export interface PodTemplateSite {
  /** Path of the object holding `metadata` and `spec`: `` for a Pod, `spec.template` for a Deployment. */
  path: string
  segments: (string | number)[]
  metadata: ObjectMeta
  spec: PodSpec
  /** The object holding `metadata` and `spec`, as written: for checking their types. */
  holder: Record<string, unknown>
}

const templatePaths: Record<string, (string | number)[]> = {
  'batch/Job': ['spec', 'template'],
  'batch/CronJob': ['spec', 'jobTemplate', 'spec', 'template'],
  'apps/Deployment': ['spec', 'template'],
  'apps/StatefulSet': ['spec', 'template'],
  'apps/DaemonSet': ['spec', 'template'],
  'apps/ReplicaSet': ['spec', 'template'],
}

function at(root: unknown, segments: readonly (string | number)[]): unknown {
  let v = root
  for (const s of segments) v = isObject(v) ? v[s] : undefined
  return v
}

/** The Pod spec `obj` holds, if it is a Pod or one of the workloads above. */
export function findPodTemplate(obj: KubeObject, includeWorkloads: boolean): PodTemplateSite | undefined {
  const apiVersion = String(obj.apiVersion ?? '')
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : ''
  let segments: (string | number)[] | undefined
  if (group === '' && apiVersion === 'v1' && obj.kind === 'Pod') segments = []
  else if (includeWorkloads) segments = templatePaths[`${group}/${String(obj.kind)}`]
  if (segments === undefined) return undefined
  const holder = segments.length === 0 ? obj : at(obj, segments)
  if (!isObject(holder)) return undefined
  const metadata = isObject(holder.metadata) ? (holder.metadata as ObjectMeta) : {}
  const spec = isObject(holder.spec) ? (holder.spec as PodSpec) : {}
  return { path: segments.join('.'), segments, metadata, spec, holder }
}
