// Tekton's http resolver: `url`, and `digest` (`sha256:…` or `sha512:…` of
// the body), read and refused as tektoncd/pipeline's
// pkg/resolution/resolver/http reads them. Its basic-auth params name a
// Secret of the request's namespace: stepsplice never reads those, so such
// a reference is left for Tekton. A body is at most 1 MiB, as in Tekton.
//
// A reference with a digest is immutable: cached without expiry. Without
// one, what the URL gave is cached for the TTL and its sha256 is recorded.

import { createHash, timingSafeEqual } from 'node:crypto'
import type { Resolution, StepReference, TaskResolution } from '../definitions/reference.ts'
import type { BoundedCache } from '../remote/cache.ts'
import { FetchFailure } from '../remote/failure.ts'
import { httpGet } from '../remote/http-get.ts'
import type { SharedFetches } from '../remote/shared.ts'
import type { Transport } from '../remote/transport.ts'
import { type Read, readFetched, stepActionAnswer, taskAnswer } from './document.ts'
import { paramStrings } from './params.ts'
import { requestForm, unlikeWritten } from './url-form.ts'
import { type AskOptions, fetchKeepingUnclaimed, notFetched, unclaimedCache } from './waiting.ts'

/** Tekton's maxResponseBodySize. */
export const httpMaxBytes = 1024 * 1024

export interface HttpResolverOptions {
  transport: Transport
  /** What was read (or definite errors) by URL and digest, or by URL for `ttlMs`. */
  cache: BoundedCache<Read>
  fetches: SharedFetches<Buffer>
  ttlMs: number
  /** One fetch, redirects included. */
  timeoutMs: number
}

type Digest = { algorithm: 'sha256' | 'sha512'; hex: string }
type Request = { url: string; digest?: Digest } | Resolution

/** Tekton's PopulateDefaultParams and validateDigest, before anything is fetched. */
export function httpRequest(params: Map<string, string>): Request {
  const username = params.get('http-username')
  const secret = params.get('http-password-secret')
  if (username !== undefined && secret === undefined) return { error: 'http resolver: missing required param http-password-secret when using http-username' }
  if (secret !== undefined && username === undefined) return { error: 'http resolver: missing required param http-username when using http-password-secret' }
  if (username === '') return { error: 'http resolver: value http-username cannot be empty' }
  if (secret === '') return { error: 'http resolver: value http-password-secret cannot be empty' }
  const url = params.get('url')
  if (url === undefined) return { error: 'missing required http resolver params: url' }
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    // Go's parser reads some URLs the WHATWG one does not (an IPv6 zone, a host ending in a number): one that starts as
    // an http(s) URL may still be fetched by Tekton. Anything else Go refuses too, or its scheme is not http(s).
    if (/^https?:\/\//i.test(url))
      return { unresolved: `http: url ${JSON.stringify(url)} is one stepsplice's URL parser cannot read, so it is left for Tekton`, resolver: 'http' }
    return { error: `http resolver: cannot parse url ${url}` }
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return { error: `http resolver: url ${url} is not a valid http(s) url` }
  if (secret !== undefined)
    return { unresolved: `http: param "http-password-secret" names a Secret; stepsplice never reads Secrets a request names`, resolver: 'http' }
  // The URL as fetched, recorded and judged: the WHATWG form. Tekton's Go client sends the path as written (or escaped
  // again whole), so a URL whose form asks otherwise (dot segments, `\`, a query with characters to escape) could
  // fetch another document there: it is left for Tekton, never fetched in a form Tekton would not ask for
  // (url-form.ts).
  const fetched = parsed.href
  // Go sends the user info as basic auth; stepsplice sends no credentials, and repeating them in a warning is no better.
  if (parsed.username !== '' || parsed.password !== '')
    return { unresolved: 'http: the url names a user (credentials before the host); stepsplice sends none, so it is left for Tekton', resolver: 'http' }
  const form = requestForm(url, parsed)
  if (form !== 'same') return { unresolved: `http: ${unlikeWritten(url, fetched, form)}, so it is left for Tekton`, resolver: 'http' }
  const digestText = params.get('digest')
  if (digestText === undefined) return { url: fetched }
  const digest = parseDigest(digestText)
  return 'error' in digest ? digest : { url: fetched, digest }
}

function parseDigest(text: string): Digest | { error: string } {
  const colon = text.indexOf(':')
  if (colon < 0) return { error: `http resolver: error validating digest: invalid digest format: ${text}` }
  const algorithm = text.slice(0, colon)
  const hex = text.slice(colon + 1)
  if (algorithm !== 'sha256' && algorithm !== 'sha512') return { error: `http resolver: error validating digest: invalid digest algorithm: ${algorithm}` }
  const length = algorithm === 'sha256' ? 64 : 128
  if (hex.length !== length)
    return { error: `http resolver: error validating digest: invalid ${algorithm} digest value, expected length: ${length}, got: ${hex.length}` }
  if (!/^[0-9a-fA-F]+$/.test(hex)) return { error: `http resolver: error validating digest: error decoding expected SHA string: ${hex}` }
  return { algorithm, hex: hex.toLowerCase() }
}

export class HttpResolver {
  readonly name = 'http'
  readonly #options: HttpResolverOptions
  readonly #unclaimed = unclaimedCache<Buffer>()

  constructor(options: HttpResolverOptions) {
    this.#options = options
  }

  async resolve(ref: StepReference, options: AskOptions = {}): Promise<Resolution> {
    return stepActionAnswer(await this.#get(ref, options), 'http')
  }

  /** A Task a TaskGroup uses, through the same fetches and cache. */
  async resolveTask(ref: StepReference, options: AskOptions = {}): Promise<TaskResolution> {
    return taskAnswer(await this.#get(ref, options))
  }

  async #get(ref: StepReference, options: AskOptions): Promise<Read> {
    const request = httpRequest(paramStrings(ref.params))
    if (!('url' in request)) return request
    const { url, digest } = request
    try {
      this.#options.transport.check(url)
    } catch (err) {
      return notFetched('http', err)
    }
    const key = digest === undefined ? url : `${url}\0${digest.algorithm}:${digest.hex}`
    const cached = this.#options.cache.get(key)
    if (cached !== undefined) return cached
    let body: Buffer
    try {
      body = await fetchKeepingUnclaimed(
        this.#options.fetches,
        this.#unclaimed,
        url,
        (signal) => this.#fetch(url, signal),
        { bytes: (b) => b.length, ttlMs: this.#options.ttlMs },
        options,
        `http ${new URL(url).host}`,
      )
    } catch (err) {
      if (err instanceof FetchFailure && err.kind === 'too-large') {
        return { error: `http resolver: ${url}: response body exceeds maximum allowed size of ${httpMaxBytes} bytes` }
      }
      return notFetched('http', err)
    }
    const resolution = await this.#read(url, body, digest)
    // What a digest names never changes; a mismatch may be fixed at the source, so it is kept only for the TTL.
    const immutable = digest !== undefined && ('definition' in resolution || 'task' in resolution)
    if (!('unresolved' in resolution)) this.#options.cache.set(key, resolution, 4 * body.length + 512, immutable ? undefined : this.#options.ttlMs)
    return resolution
  }

  async #fetch(url: string, signal: AbortSignal): Promise<Buffer> {
    const response = await httpGet(url, this.#options.transport, { signal, timeoutMs: this.#options.timeoutMs, maxBytes: httpMaxBytes })
    // Tekton takes 200 only; anything else may be a Secret's business, or a moment's: Tekton tries again itself.
    if (response.status !== 200) throw new FetchFailure('status', `http: ${url} answered ${response.status}`, response.status)
    return response.body
  }

  async #read(url: string, body: Buffer, digest: Digest | undefined): Promise<Read> {
    if (digest !== undefined) {
      const actual = createHash(digest.algorithm).update(body).digest()
      if (!timingSafeEqual(actual, Buffer.from(digest.hex, 'hex'))) {
        return { error: `http resolver: error validating digest: SHA mismatch, expected ${digest.hex}, got ${actual.toString('hex')} (${url})` }
      }
    }
    const sha256 = createHash('sha256').update(body).digest('hex')
    return readFetched(body, { kind: 'http', location: url, sourceDigest: `sha256:${sha256}` }, `http ${url}`)
  }
}
