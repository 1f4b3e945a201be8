// The remotes a pin asks, through the same clients and transport rules as
// admission: git fetches what Tekton's resolver would, http bodies are read
// up to Tekton's 1 MiB, registries are asked for the manifest's digest.

import { createHash } from 'node:crypto'
import { FetchFailure } from '../remote/failure.ts'
import { GitClient, gitBounds } from '../remote/git.ts'
import { httpGet } from '../remote/http-get.ts'
import { OciClient } from '../remote/oci.ts'
import type { Transport } from '../remote/transport.ts'
import { httpMaxBytes } from '../resolvers/http.ts'
import type { Pinner } from './pin.ts'

export interface RemotePinnerOptions {
  transport: Transport
  /** Where git keeps the repositories it fetches. */
  cacheDir: string
  timeoutMs: number
  update?: boolean
  defaults?: { defaultRevision?: string; defaultUrl?: string }
}

export function remotePinner(options: RemotePinnerOptions): Pinner {
  const git = new GitClient({
    transport: options.transport,
    cacheDir: options.cacheDir,
    timeoutMs: options.timeoutMs,
    ...gitBounds,
  })
  const oci = new OciClient({ transport: options.transport, timeoutMs: options.timeoutMs })
  return {
    ...(options.defaults === undefined ? {} : { defaults: options.defaults }),
    update: options.update === true,
    gitCommit: (url, revision) => git.commitOf(url, revision),
    async httpDigest(url, algorithm) {
      const response = await httpGet(url, options.transport, { timeoutMs: options.timeoutMs, maxBytes: httpMaxBytes })
      if (response.status !== 200) throw new FetchFailure('status', `http: ${url} answered ${response.status}`, response.status)
      return `${algorithm}:${createHash(algorithm).update(response.body).digest('hex')}`
    },
    bundleDigest: (bundle) => oci.resolveDigest(bundle),
  }
}
