// Discovery documents (the legacy, unaggregated form every client falls back
// to) for the resources installed right now.

import type { KubeResource } from './cluster.ts'

interface GroupVersion {
  groupVersion: string
  version: string
}

/** Kubernetes' version priority: GA before beta before alpha, higher numbers first, anything else last by name. */
function priority(version: string): [number, number, number, string] {
  const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(version)
  if (!m) return [3, 0, 0, version]
  const stage = m[2] === undefined ? 0 : m[2] === 'beta' ? 1 : 2
  return [stage, -Number(m[1]), -Number(m[3] ?? 0), '']
}

function byPriority(a: string, b: string): number {
  const [pa, pb] = [priority(a), priority(b)]
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return (pa[i] as number) - (pb[i] as number)
  return pa[3] < pb[3] ? -1 : pa[3] > pb[3] ? 1 : 0
}

function groupVersions(resources: KubeResource[], group: string): GroupVersion[] {
  const versions = new Set(resources.filter((r) => r.group === group).flatMap((r) => r.versions))
  return [...versions].sort(byPriority).map((version) => ({ groupVersion: `${group}/${version}`, version }))
}

function apiGroup(resources: KubeResource[], name: string): Record<string, unknown> {
  const versions = groupVersions(resources, name)
  return { name, versions, preferredVersion: versions[0] }
}

export function apiVersions(hostPort: string): Record<string, unknown> {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: hostPort }] }
}

/** The core group: only what was installed with group '' (namespaces). */
export function coreResourceList(resources: KubeResource[]): Record<string, unknown> {
  return { ...(apiResourceList(resources, '', 'v1') ?? { kind: 'APIResourceList', resources: [] }), groupVersion: 'v1' }
}

export function apiGroupList(resources: KubeResource[]): Record<string, unknown> {
  const groups = [...new Set(resources.map((r) => r.group))].sort()
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map((g) => apiGroup(resources, g)) }
}

/** GET /apis/<group>, or undefined when no installed resource is in the group (a 404). */
export function apiGroupDocument(resources: KubeResource[], group: string): Record<string, unknown> | undefined {
  if (!resources.some((r) => r.group === group)) return undefined
  return { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(resources, group) }
}

/** GET /apis/<group>/<version>, or undefined when nothing serves that version (a 404). */
export function apiResourceList(resources: KubeResource[], group: string, version: string): Record<string, unknown> | undefined {
  const served = resources.filter((r) => r.group === group && r.versions.includes(version))
  if (served.length === 0) return undefined
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: `${group}/${version}`,
    resources: served.map((r) => ({
      name: r.plural,
      singularName: r.singular ?? r.kind.toLowerCase(),
      namespaced: r.scope !== 'Cluster',
      kind: r.kind,
      // Only what this server answers: it serves reads, and tests write through the helper.
      verbs: ['get', 'list', 'watch'],
      ...(r.shortNames ? { shortNames: r.shortNames } : {}),
      ...(r.categories ? { categories: r.categories } : {}),
    })),
  }
}
