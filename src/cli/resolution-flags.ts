// The flags that say how references resolve, shared by `serve` and `render`
// so an offline render resolves exactly as admission does.

import type { LoadedPolicy } from '../policy/types.ts'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type RemoteResolverName, type RemoteSettings, remoteResolverNames, remoteResolvers } from '../resolution/remote.ts'
import { type Layer, LayeredCatalog, type LayeredOptions, runnableResolvers } from '../resolution/layered.ts'
import { Transport } from '../remote/transport.ts'
import type { SpliceDeps } from '../pipeline/splice.ts'
import { parseDuration } from './duration.ts'
import { InputError, UsageError, fsReason } from './io.ts'
import { userAgent } from './version.ts'

export const resolutionOptions = {
  'shared-namespace': { type: 'string', multiple: true },
  resolvers: { type: 'string', default: runnableResolvers.join(',') },
  'require-resolution': { type: 'string', multiple: true },
  'remote-host': { type: 'string', multiple: true },
  'remote-ca': { type: 'string' },
  'remote-plain-http': { type: 'boolean' },
  'remote-timeout': { type: 'string', default: '30s' },
  'remote-ttl': { type: 'string', default: '5m' },
  'remote-cache-dir': { type: 'string' },
  'remote-cache-size': { type: 'string', default: '64Mi' },
  'remote-fetches': { type: 'string', default: '8' },
  'git-default-revision': { type: 'string' },
  'git-default-url': { type: 'string' },
} as const

export const resolutionHelp = `Resolving references:
  --shared-namespace NS  namespace whose StepActions other namespaces may use
                       through Tekton's cluster resolver form (repeatable;
                       default none)
  --resolvers LIST     resolvers stepsplice runs, of ${runnableResolvers.join(', ')}
                       (default all; "none" for none). A step that uses any
                       other (hub, a custom one) is left for Tekton
  --require-resolution LIST  kinds of reference that must resolve at admission:
                       resolver names, "local" (a StepAction by name) or
                       "all"; repeatable or comma-separated. A TaskRun or
                       PipelineRun with such a reference stepsplice cannot
                       resolve is denied instead of left for Tekton with a
                       warning (a Pod always is)
  --remote-host HOST   hosts git, http and bundles may fetch from: a name,
                       name:port or *.domain (repeatable; default any)
  --remote-ca FILE     PEM certificates trusted for remotes besides the
                       system's (a private git server's or registry's CA)
  --remote-plain-http  also fetch http:// (default https only)
  --remote-timeout DUR one fetch (default 30s); a request stops waiting at
                       its own deadline and leaves the step for Tekton
  --remote-ttl DUR     how long what a branch, a tag or a URL without a
                       digest gave is kept (default 5m); commits and digests
                       are kept until evicted
  --remote-cache-dir DIR  where git keeps repositories, at most 1Gi (serve:
                       default under the system's temporary directory;
                       render: a temporary directory of its own)
  --remote-cache-size SIZE  memory for fetched definitions, e.g. 64Mi (default)
  --remote-fetches N   fetches at once, over all resolvers (default 8)
  --git-default-revision REV  the default-revision of Tekton's git resolver
                       config, for git refs without a revision (default:
                       such refs are left for Tekton)
  --git-default-url URL  likewise its default-url
`

export interface ResolutionFlags {
  'shared-namespace'?: string[]
  resolvers?: string
  'require-resolution'?: string[]
  'remote-host'?: string[]
  'remote-ca'?: string
  'remote-plain-http'?: boolean
  'remote-timeout'?: string
  'remote-ttl'?: string
  'remote-cache-dir'?: string
  'remote-cache-size'?: string
  'remote-fetches'?: string
  'git-default-revision'?: string
  'git-default-url'?: string
}

export interface Resolution {
  layered: LayeredOptions
  /** For SpliceDeps.requireResolution; undefined when nothing is required. */
  require?: ReadonlySet<string>
  /** What the log says about it. */
  summary: Record<string, unknown>
}

function list(values: readonly string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '')
}

function positiveDuration(flag: string, text: string): number {
  const ms = parseDuration(text)
  if (ms === undefined || ms <= 0 || ms > 2 ** 31 - 1) throw new UsageError(`${flag} must be a duration such as 30s or 5m, not ${JSON.stringify(text)}`)
  return ms
}

/** `64Mi`, `512Ki`, `1Gi` or plain bytes. */
function size(flag: string, text: string): number {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(text)
  const units: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }
  const bytes = m === null ? Number.NaN : Number(m[1]) * (units[m[2] ?? ''] ?? 1)
  if (!Number.isSafeInteger(bytes) || bytes < 1024 * 1024)
    throw new UsageError(`${flag} must be a size of at least 1Mi, such as 64Mi, not ${JSON.stringify(text)}`)
  return bytes
}

/** `cacheDir`: where git keeps repositories when --remote-cache-dir does not say (default: one per user under the temporary directory). */
export function parseResolutionFlags(values: ResolutionFlags, defaults: { cacheDir?: string } = {}): Resolution {
  const shared = values['shared-namespace'] ?? []
  for (const ns of shared)
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns) || ns.length > 63)
      throw new UsageError(`--shared-namespace must be a namespace name, not ${JSON.stringify(ns)}`)
  const asked = values.resolvers === 'none' ? [] : list([values.resolvers ?? runnableResolvers.join(',')])
  for (const r of asked)
    if (!(runnableResolvers as readonly string[]).includes(r))
      throw new UsageError(`--resolvers takes ${runnableResolvers.join(', ')} or none, not ${JSON.stringify(r)}`)
  const enabled = new Set(asked)
  const required = list(values['require-resolution'])
  for (const r of required)
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(r)) throw new UsageError(`--require-resolution takes resolver names, local or all, not ${JSON.stringify(r)}`)
  const hosts = list(values['remote-host'])
  let extraCa: string | undefined
  if (values['remote-ca'] !== undefined) {
    try {
      extraCa = readFileSync(values['remote-ca'], 'utf8')
    } catch (err) {
      throw new InputError(`cannot read --remote-ca ${values['remote-ca']}: ${fsReason(err)}`)
    }
    if (!extraCa.includes('-----BEGIN CERTIFICATE-----')) throw new InputError(`--remote-ca ${values['remote-ca']} holds no PEM certificate`)
  }
  const fetches = /^\d+$/.test(values['remote-fetches'] ?? '8') ? Number(values['remote-fetches'] ?? '8') : Number.NaN
  if (!Number.isSafeInteger(fetches) || fetches < 1 || fetches > 256)
    throw new UsageError(`--remote-fetches must be a whole number from 1 to 256, not ${JSON.stringify(values['remote-fetches'])}`)
  const settings: RemoteSettings = {
    enabled: new Set(remoteResolverNames.filter((r): r is RemoteResolverName => enabled.has(r))),
    transport: new Transport({ hosts, allowPlainHttp: values['remote-plain-http'] === true, userAgent, ...(extraCa === undefined ? {} : { extraCa }) }),
    cacheDir: values['remote-cache-dir'] ?? defaults.cacheDir ?? join(tmpdir(), `stepsplice-remote-${process.getuid?.() ?? 'user'}`),
    ttlMs: positiveDuration('--remote-ttl', values['remote-ttl'] ?? '5m'),
    fetchTimeoutMs: positiveDuration('--remote-timeout', values['remote-timeout'] ?? '30s'),
    maxFetches: fetches,
    cacheBytes: size('--remote-cache-size', values['remote-cache-size'] ?? '64Mi'),
    git: {
      ...(values['git-default-revision'] === undefined ? {} : { defaultRevision: values['git-default-revision'] }),
      ...(values['git-default-url'] === undefined ? {} : { defaultUrl: values['git-default-url'] }),
    },
  }
  const switchedOff = runnableResolvers.filter((r) => !enabled.has(r))
  return {
    layered: { shared, resolvers: remoteResolvers(settings), switchedOff },
    ...(required.length === 0 ? {} : { require: new Set(required) }),
    summary: { sharedNamespaces: shared, resolvers: [...enabled], requireResolution: required, remoteHosts: hosts.length === 0 ? 'any' : hosts },
  }
}

/**
 * Runs `use` with what splicing needs, resolving as the flags say, over
 * `layer`: the one-shot commands' (render, lint) way to the webhook's
 * resolution. Repositories git fetches go into a directory of their own,
 * removed when `use` ends, unless --remote-cache-dir names one. The flags
 * are checked before `use` runs: read no input for a command that is wrong.
 */
export async function withSpliceDeps<T>(
  values: ResolutionFlags,
  layer: Layer,
  options: { prepareImage?: string; require?: readonly string[]; policies?: readonly LoadedPolicy[] },
  use: (deps: SpliceDeps) => Promise<T>,
): Promise<T> {
  const scratch = values['remote-cache-dir'] === undefined ? await mkdtemp(join(tmpdir(), 'stepsplice-render-')) : undefined
  try {
    const resolution = parseResolutionFlags(values, scratch === undefined ? {} : { cacheDir: scratch })
    const require = new Set([...(resolution.require ?? []), ...(options.require ?? [])])
    return await use({
      catalog: new LayeredCatalog([layer], resolution.layered),
      ...(options.prepareImage === undefined ? {} : { prepareImage: options.prepareImage }),
      ...(require.size === 0 ? {} : { requireResolution: require }),
      ...(options.policies === undefined ? {} : { policies: options.policies }),
    })
  } finally {
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true })
  }
}
