// Tekton's bundles resolver: `bundle` (an image reference), `name` and `kind`,
// read and refused as tektoncd/pipeline's pkg/resolution/resolver/bundle
// reads them, pulled anonymously over the registry API (remote/oci.ts).
// A `secret` param names a Secret of the request's namespace: left for
// Tekton. A bundle by digest never changes: cached without expiry; by tag,
// for the TTL, and the digest it named is recorded.

import type { Resolution, StepReference, TaskResolution } from '../definitions/reference.ts'
import type { BoundedCache } from '../remote/cache.ts'
import { parseImageReference } from '../remote/image-reference.ts'
import type { OciClient, PulledEntry } from '../remote/oci.ts'
import type { SharedFetches } from '../remote/shared.ts'
import { type Read, readFetched, stepActionAnswer, taskAnswer } from './document.ts'
import { paramStrings } from './params.ts'
import { type AskOptions, fetchKeepingUnclaimed, notFetched, unclaimedCache } from './waiting.ts'

export interface BundlesResolverOptions {
  client: OciClient
  /** What was read (or definite errors) by bundle, kind and name. */
  cache: BoundedCache<Read>
  fetches: SharedFetches<PulledEntry>
  ttlMs: number
  /** The largest object read (default bundleObjectBytes). */
  maxObjectBytes?: number
}

/**
 * The largest object of a bundle stepsplice reads: 1 MiB, as a file from git
 * and Tekton's own limit for an http body. Tekton sets no limit of its own
 * here, but it keeps what a resolver read in a ResolutionRequest's status,
 * base64, and etcd's default request limit (1.5 MiB) refuses that past about
 * 1.1 MiB: whether Tekton resolves a larger one depends on the cluster, so
 * it is left for Tekton.
 */
export const bundleObjectBytes = 1024 * 1024

type Request = { bundle: string; name: string; kind: string; pinned: boolean } | Resolution

/** Tekton's OptionsFromParams, before anything is pulled. */
export function bundlesRequest(params: Map<string, string>): Request {
  const bundle = params.get('bundle') ?? ''
  if (bundle === '') return { error: 'bundles resolver: parameter "bundle" required' }
  const parsed = parseImageReference(bundle)
  if ('error' in parsed) return { error: `bundles resolver: invalid bundle reference: ${parsed.error}` }
  const name = params.get('name') ?? ''
  if (name === '') return { error: 'bundles resolver: parameter "name" required' }
  const kind = params.get('kind') ?? ''
  if (kind === '') return { unresolved: 'bundles: no kind, and the default-kind Tekton uses is not known here', resolver: 'bundles' }
  if ((params.get('secret') ?? '') !== '')
    return { unresolved: 'bundles: param "secret" names a Secret; stepsplice never reads Secrets a request names', resolver: 'bundles' }
  return { bundle, name, kind, pinned: parsed.digest !== undefined }
}

/** What an entry weighs while it waits: its bytes, and room for what is said about them. */
const pulledBytes = (entry: PulledEntry): number => ('data' in entry ? entry.data.length : 0) + 512

export class BundlesResolver {
  readonly name = 'bundles'
  readonly #options: BundlesResolverOptions
  readonly #unclaimed = unclaimedCache<PulledEntry>()

  constructor(options: BundlesResolverOptions) {
    this.#options = options
  }

  async resolve(ref: StepReference, options: AskOptions = {}): Promise<Resolution> {
    return stepActionAnswer(await this.#get(ref, options), 'bundles')
  }

  /** A Task a TaskGroup uses (kind task), through the same pulls and cache. */
  async resolveTask(ref: StepReference, options: AskOptions = {}): Promise<TaskResolution> {
    return taskAnswer(await this.#get(ref, options))
  }

  async #get(ref: StepReference, options: AskOptions): Promise<Read> {
    const request = bundlesRequest(paramStrings(ref.params))
    if (!('bundle' in request)) return request
    const { bundle, name, kind, pinned } = request
    const key = `${bundle}\0${kind.toLowerCase()}\0${name}`
    const cached = this.#options.cache.get(key)
    if (cached !== undefined) return cached
    let pulled: PulledEntry
    try {
      pulled = await fetchKeepingUnclaimed(
        this.#options.fetches,
        this.#unclaimed,
        key,
        (signal) => this.#options.client.pullEntry(bundle, kind, name, signal),
        { bytes: pulledBytes, ttlMs: this.#options.ttlMs },
        options,
        `bundles ${bundle.split('/')[0] ?? bundle}`,
      )
    } catch (err) {
      return notFetched('bundles', err)
    }
    if ('tooLarge' in pulled) return this.#tooLarge(key, pinned, pulled.tooLarge)
    const max = this.#options.maxObjectBytes ?? bundleObjectBytes
    if ('data' in pulled && pulled.data.length > max) {
      return this.#tooLarge(
        key,
        pinned,
        `${kind}/${name} in ${bundle} is ${pulled.data.length} bytes, more than stepsplice reads (${max}): Tekton keeps what it resolves in a ResolutionRequest, which the cluster's storage may refuse`,
      )
    }
    const resolution = await this.#read(bundle, kind, name, pulled)
    if (!('unresolved' in resolution)) {
      const bytes = 'data' in pulled ? 4 * pulled.data.length + 512 : 512
      this.#options.cache.set(key, resolution, bytes, pinned ? undefined : this.#options.ttlMs)
    }
    return resolution
  }

  /**
   * Past what is read (the layer, or the object in it): what the bundle holds decides it, as a definite answer would,
   * so the answer is kept and the next request pulls nothing.
   */
  #tooLarge(key: string, pinned: boolean, why: string): Read {
    const answer: Read = { unresolved: `bundles: ${why}`, resolver: 'bundles' }
    this.#options.cache.set(key, answer, 1024, pinned ? undefined : this.#options.ttlMs)
    return answer
  }

  async #read(bundle: string, kind: string, name: string, pulled: Exclude<PulledEntry, { tooLarge: string }>): Promise<Read> {
    if ('invalid' in pulled) return { error: `bundles resolver: invalid tekton bundle ${bundle}, error: ${pulled.invalid}` }
    if (!pulled.found) return { error: `bundles resolver: could not find object in image with kind: ${kind} and name: ${name} (${bundle})` }
    const location = `oci://${pulled.repository}@${pulled.manifestDigest}#${kind.toLowerCase()}/${name}`
    return readFetched(pulled.data, { kind: 'bundles', location, sourceDigest: pulled.manifestDigest }, `bundle ${bundle} ${kind}/${name}`)
  }
}
