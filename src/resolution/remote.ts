// The remote resolvers one process runs, built once from settings: one
// transport, one limit on fetches at once shared by all, one cache each.
// The server builds them in its main thread, so every worker's requests share
// the caches and the running fetches.

import { BoundedCache } from '../remote/cache.ts'
import { GitClient, type GitFiles, gitBounds } from '../remote/git.ts'
import { Limiter } from '../remote/limiter.ts'
import { OciClient, type PulledEntry } from '../remote/oci.ts'
import { SharedFetches } from '../remote/shared.ts'
import type { Transport } from '../remote/transport.ts'
import { BundlesResolver } from '../resolvers/bundles.ts'
import type { Read } from '../resolvers/document.ts'
import { GitResolver } from '../resolvers/git.ts'
import { HttpResolver } from '../resolvers/http.ts'
import type { StepResolver } from './layered.ts'

/** The remote resolvers stepsplice runs. */
export const remoteResolverNames = ['git', 'http', 'bundles'] as const
export type RemoteResolverName = (typeof remoteResolverNames)[number]

export interface RemoteSettings {
  /** Which of them run. */
  enabled: ReadonlySet<RemoteResolverName>
  transport: Transport
  /** Where git keeps its repositories. */
  cacheDir: string
  /** How long what a branch, a tag or a URL without digest gave is kept. */
  ttlMs: number
  /** One fetch; a request stops waiting earlier, at its own deadline. */
  fetchTimeoutMs: number
  /** Fetches running at once, over all resolvers. */
  maxFetches: number
  /** Memory the caches of definitions may take, together. */
  cacheBytes: number
  /** What Tekton's git-resolver-config says, when the platform passes it on. */
  git?: { defaultRevision?: string; defaultUrl?: string }
}

/** Per cache: a fourth of the memory each for git, http and bundles, and entries bounded too. */
function cache<V>(settings: RemoteSettings): BoundedCache<V> {
  return new BoundedCache<V>({ maxBytes: Math.floor(settings.cacheBytes / 4), maxEntries: 10_000 })
}

export function remoteResolvers(settings: RemoteSettings): StepResolver[] {
  const limiter = new Limiter(settings.maxFetches)
  const out: StepResolver[] = []
  if (settings.enabled.has('git')) {
    out.push(
      new GitResolver({
        client: new GitClient({
          transport: settings.transport,
          cacheDir: settings.cacheDir,
          timeoutMs: settings.fetchTimeoutMs,
          ...gitBounds,
        }),
        files: cache<Read>(settings),
        revisions: cache<string>(settings),
        fetches: new SharedFetches<GitFiles>(limiter),
        ttlMs: settings.ttlMs,
        ...(settings.git?.defaultRevision === undefined ? {} : { defaultRevision: settings.git.defaultRevision }),
        ...(settings.git?.defaultUrl === undefined ? {} : { defaultUrl: settings.git.defaultUrl }),
      }),
    )
  }
  if (settings.enabled.has('http')) {
    out.push(
      new HttpResolver({
        transport: settings.transport,
        cache: cache<Read>(settings),
        fetches: new SharedFetches<Buffer>(limiter),
        ttlMs: settings.ttlMs,
        timeoutMs: settings.fetchTimeoutMs,
      }),
    )
  }
  if (settings.enabled.has('bundles')) {
    out.push(
      new BundlesResolver({
        client: new OciClient({ transport: settings.transport, timeoutMs: settings.fetchTimeoutMs }),
        cache: cache<Read>(settings),
        fetches: new SharedFetches<PulledEntry>(limiter),
        ttlMs: settings.ttlMs,
      }),
    )
  }
  return out
}
