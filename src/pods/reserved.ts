// Names starting with `stepsplice-` belong to stepsplice: the prepare
// container, the scripts, results and workspace volumes. A Pod that uses one
// for something of its own could reach into what stepsplice writes (a
// read-write mount of the scripts volume lets a step rewrite the scripts of
// the steps after it), so such names are refused wherever they can enter:
// containers, volumes, mounts, and volume names that come from params.

import { problem, type Problem } from '../problems/problem.ts'
import type { Container, PodSpec } from '../types/k8s.ts'
import { quoteValue } from '../problems/truncate.ts'

export const reservedPrefix = 'stepsplice-'

const isReserved = (name: unknown): boolean => typeof name === 'string' && name.startsWith(reservedPrefix)

function containers(spec: PodSpec, prefix: string): { c: Container; at: string }[] {
  return [
    ...(spec.initContainers ?? []).map((c, i) => ({ c, at: `${prefix}spec.initContainers[${i}]` })),
    ...(spec.containers ?? []).map((c, i) => ({ c, at: `${prefix}spec.containers[${i}]` })),
  ]
}

/**
 * Reserved names used for anything but what stepsplice puts there: `ours`
 * names its containers (in a spliced Pod), `volumes` the volumes it adds or
 * reuses, `allowedMounts` what it mounts into the Pod's own containers.
 */
export function checkReserved(
  spec: PodSpec,
  prefix: string,
  allowed: { ours: ReadonlySet<string>; volumes: ReadonlySet<string>; allowedMounts: (c: Container, mount: { name: string; mountPath: string }) => boolean },
): Problem[] {
  const out: Problem[] = []
  const why = `names starting with "${reservedPrefix}" are reserved for stepsplice`
  for (const { c, at } of containers(spec, prefix)) {
    const ours = allowed.ours.has(String(c.name))
    if (isReserved(c.name) && !ours) out.push(problem(`${at}.name`, `container name ${quoteValue(c.name)}: ${why}`))
    if (ours) continue
    for (const [i, m] of (c.volumeMounts ?? []).entries()) {
      if (isReserved(m.name) && !allowed.allowedMounts(c, m)) {
        out.push(problem(`${at}.volumeMounts[${i}].name`, `mounts volume ${quoteValue(m.name)}: ${why}`))
      }
    }
  }
  for (const [i, v] of (spec.volumes ?? []).entries()) {
    if (isReserved(v.name) && !allowed.volumes.has(v.name)) out.push(problem(`${prefix}spec.volumes[${i}].name`, `volume ${quoteValue(v.name)}: ${why}`))
  }
  return out
}
