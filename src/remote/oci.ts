// A registry client for Tekton bundles: what Tekton's bundles resolver reads
// through go-containerregistry (remote.Image), read the same way. The image
// manifest by tag or digest (verified against the digest), Tekton's
// compliance rules, the one layer whose kind and name match, its blob
// (verified), uncompressed, and the first file of its tar or the layer itself.
//
// Registries are spoken to over https. With the transport's allowPlainHttp, a
// registry go-containerregistry treats as local (localhost, *.local,
// *.localhost, 127.0.0.1, ::1, RFC 1918 addresses) that cannot be reached
// over https is tried over plain http, and that is remembered for the host.

import { createHash } from 'node:crypto'
import { FetchFailure } from './failure.ts'
import { type GetResponse, httpGet } from './http-get.ts'
import { type ImageReference, parseImageReference } from './image-reference.ts'
import { Authorizer, type RegistryCredentials } from './oci-auth.ts'
import { bundleAnnotations, complianceError, imageManifestTypes, indexTypes, type LayerDescriptor, parseImageManifest } from './oci-manifest.ts'
import { uncompressLayer } from './decompress.ts'
import { readFirstTarEntry } from './tar.ts'
import type { Transport } from './transport.ts'

export type { RegistryCredentials } from './oci-auth.ts'

export interface OciLimits {
  /** Bytes of one manifest. */
  manifestBytes: number
  /** Bytes of one layer blob as stored (compressed). */
  blobBytes: number
  /** Bytes of one layer uncompressed, and so of the file taken from it. */
  uncompressedBytes: number
}

const MiB = 1024 * 1024
const defaultLimits: OciLimits = { manifestBytes: 4 * MiB, blobBytes: 4 * MiB, uncompressedBytes: 4 * MiB }

export interface OciClientOptions {
  transport: Transport
  /** One HTTP exchange (redirects included): a manifest, a blob, a token. */
  timeoutMs: number
  /** Credentials for a registry host (`ghcr.io`, `127.0.0.1:5000`); anonymous when undefined. */
  credentials?: (registry: string) => RegistryCredentials | undefined
  limits?: Partial<OciLimits>
  /** The clock tokens expire by. */
  now?: () => number
}

export type PulledEntry =
  | {
      found: true
      /** The object's bytes: the first file of the layer's tar, or the layer itself when it is no tar. */
      data: Buffer
      manifestDigest: string
      /** `registry/repository`, as Tekton records the bundle's URI. */
      repository: string
      /** The layer's dev.tekton.image.apiVersion annotation. */
      apiVersion: string
      layerDigest: string
    }
  | { found: false; manifestDigest: string; repository: string }
  /** The layer is past what is read, by its descriptor or by what it uncompresses to: the bundle's content decides it. */
  | { tooLarge: string; manifestDigest: string; repository: string }
  /** The bundle breaks Tekton's rules; `invalid` is Tekton's text (Tekton prefixes "invalid tekton bundle <ref>, error: "). */
  | { invalid: string; manifestDigest: string; repository: string }

const manifestAccept = [...imageManifestTypes, ...indexTypes].join(', ')

export class OciClient {
  readonly #transport: Transport
  readonly #timeoutMs: number
  readonly #limits: OciLimits
  readonly #auth: Authorizer
  /** Registries answered over plain http (see the top of this file). */
  readonly #plainHttp = new Set<string>()

  constructor(options: OciClientOptions) {
    this.#transport = options.transport
    this.#timeoutMs = options.timeoutMs
    this.#limits = { ...defaultLimits, ...options.limits }
    this.#auth = new Authorizer({ transport: options.transport, timeoutMs: options.timeoutMs, credentials: options.credentials, now: options.now ?? Date.now })
  }

  /**
   * The object of `kind` and `name` in the bundle `reference`. A reference
   * that does not parse is a `refused` failure: parse it with
   * parseImageReference first to report it as the author's mistake. An
   * image index is a `protocol` failure, as is anything the registry
   * answers that the protocol does not allow (digest mismatches included).
   */
  async pullEntry(reference: string | ImageReference, kind: string, name: string, signal?: AbortSignal): Promise<PulledEntry> {
    const ref = asReference(reference)
    const what = describe(ref)
    const manifest = await this.#manifest(ref, signal)
    const layers = parseImageManifest(manifest.body, headerText(manifest.headers['content-type']), what)
    const base = { manifestDigest: manifest.digest, repository: ref.canonical }
    const invalid = complianceError(layers)
    if (invalid !== undefined) return { invalid, ...base }
    const wanted = kind.toLowerCase()
    const layer = layers.find((l) => l.annotations[bundleAnnotations.kind] === wanted && l.annotations[bundleAnnotations.name] === name)
    if (layer === undefined) return { found: false, ...base }
    const layerName = `${what}: layer ${layer.digest}`
    if (layer.size > this.#limits.blobBytes) return { tooLarge: `${layerName} is ${layer.size} bytes, more than ${this.#limits.blobBytes}`, ...base }
    const blob = await this.#blob(ref, layer, signal)
    let bytes: Buffer
    try {
      bytes = await uncompressLayer(blob, this.#limits.uncompressedBytes, layerName)
    } catch (err) {
      // The blob matched its digest: what it uncompresses to is the bundle's, not a moment's.
      if (err instanceof FetchFailure && err.kind === 'too-large') return { tooLarge: err.message, ...base }
      throw err
    }
    if (signal?.aborted) throw new FetchFailure('aborted', `stopped waiting for ${ref.registry}`)
    const file = readFirstTarEntry(bytes, this.#limits.uncompressedBytes)
    // A copy: the file is a slice of the whole layer, which need not stay in memory with it.
    const data = Buffer.from(file ?? bytes)
    return { found: true, data, ...base, apiVersion: layer.annotations[bundleAnnotations.apiVersion] ?? '', layerDigest: layer.digest }
  }

  /** The digest (`sha256:…`) of the manifest `reference` names, an index's included: what a pin writes. */
  async resolveDigest(reference: string | ImageReference, signal?: AbortSignal): Promise<string> {
    return (await this.#manifest(asReference(reference), signal)).digest
  }

  async #manifest(ref: ImageReference, signal: AbortSignal | undefined): Promise<GetResponse & { digest: string }> {
    const what = describe(ref)
    const identifier = ref.digest ?? ref.tag ?? 'latest'
    const response = await this.#get(ref, `/v2/${ref.repository}/manifests/${identifier}`, manifestAccept, this.#limits.manifestBytes, signal)
    if (response.status !== 200) throw statusFailure(response, `the manifest of ${what}`)
    const digest = sha256(response.body)
    if (ref.digest !== undefined && digest !== ref.digest) {
      throw new FetchFailure('protocol', `digest mismatch: ${what} was answered with a manifest whose digest is ${digest}`)
    }
    return { ...response, digest }
  }

  async #blob(ref: ImageReference, layer: LayerDescriptor, signal: AbortSignal | undefined): Promise<Buffer> {
    const what = `${describe(ref)}: layer ${layer.digest}`
    if (!/^sha256:[0-9a-f]{64}$/.test(layer.digest)) throw new FetchFailure('protocol', `${what}: only sha256 digests can be verified`)
    if (layer.size > this.#limits.blobBytes) throw new FetchFailure('too-large', `${what} is ${layer.size} bytes, more than ${this.#limits.blobBytes}`)
    const response = await this.#get(ref, `/v2/${ref.repository}/blobs/${layer.digest}`, '*/*', this.#limits.blobBytes, signal)
    if (response.status !== 200) throw statusFailure(response, what)
    const digest = sha256(response.body)
    if (digest !== layer.digest) throw new FetchFailure('protocol', `digest mismatch: ${what} was answered with bytes whose digest is ${digest}`)
    if (response.body.length !== layer.size) {
      throw new FetchFailure('protocol', `size mismatch: ${what} is ${response.body.length} bytes, its descriptor says ${layer.size}`)
    }
    return response.body
  }

  /** A GET to the registry's API, answering one authentication challenge. */
  async #get(ref: ImageReference, path: string, accept: string, maxBytes: number, signal: AbortSignal | undefined): Promise<GetResponse> {
    const known = this.#auth.cached(ref.registry, ref.repository)
    const first = await this.#send(ref.registry, path, accept, known, maxBytes, signal)
    if (first.status !== 401) return first
    const authorization = await this.#auth.answer(ref.registry, ref.repository, headerText(first.headers['www-authenticate']), signal)
    if (authorization === undefined) return first
    return this.#send(ref.registry, path, accept, authorization, maxBytes, signal)
  }

  async #send(
    registry: string,
    path: string,
    accept: string,
    authorization: string | undefined,
    maxBytes: number,
    signal: AbortSignal | undefined,
  ): Promise<GetResponse> {
    const options = {
      signal,
      timeoutMs: this.#timeoutMs,
      maxBytes,
      headers: { accept, ...(authorization === undefined ? {} : { authorization }) },
    }
    if (this.#plainHttp.has(registry)) return httpGet(`http://${registry}${path}`, this.#transport, options)
    try {
      return await httpGet(`https://${registry}${path}`, this.#transport, options)
    } catch (err) {
      if (!(err instanceof FetchFailure && err.kind === 'unreachable' && this.#transport.allowPlainHttp && isLocalRegistry(registry))) throw err
      const answer = await httpGet(`http://${registry}${path}`, this.#transport, options).catch(() => {
        throw err
      })
      this.#plainHttp.add(registry)
      return answer
    }
  }
}

function asReference(reference: string | ImageReference): ImageReference {
  if (typeof reference !== 'string') return reference
  const parsed = parseImageReference(reference)
  if ('error' in parsed) throw new FetchFailure('refused', parsed.error)
  return parsed
}

function describe(ref: ImageReference): string {
  return ref.digest !== undefined ? `${ref.canonical}@${ref.digest}` : `${ref.canonical}:${ref.tag ?? 'latest'}`
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value
}

/** A failure for an answer other than 200, with the registry's own error text when it gave one (bounded). */
function statusFailure(response: GetResponse, what: string): FetchFailure {
  const reason = response.status === 404 ? 'not found' : response.status === 401 ? 'credentials needed' : response.status === 403 ? 'access denied' : undefined
  let detail = ''
  try {
    const body: unknown = JSON.parse(response.body.toString('utf8'))
    const errors = typeof body === 'object' && body !== null ? (body as { errors?: unknown }).errors : undefined
    const first: unknown = Array.isArray(errors) ? errors[0] : undefined
    const message = typeof first === 'object' && first !== null ? (first as { message?: unknown; code?: unknown }) : undefined
    const text = [message?.code, message?.message].filter((s): s is string => typeof s === 'string' && s !== '').join(': ')
    if (text !== '') detail = `: ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`
  } catch {
    // Not the registry's JSON error form: the status says enough.
  }
  return new FetchFailure('status', `${what}: the registry answered ${response.status}${reason === undefined ? '' : ` (${reason})`}${detail}`, response.status)
}

/** The registries go-containerregistry would speak plain http to (name.Registry.Scheme). */
function isLocalRegistry(registry: string): boolean {
  const bracketed = /^\[(.*)\](?::\d+)?$/.exec(registry)
  const host = (bracketed === null ? registry.replace(/:\d+$/, '') : (bracketed[1] ?? '')).toLowerCase()
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.local')) return true
  if (host === '::1' || host === '127.0.0.1') return true
  const octets = host.split('.').map(Number)
  if (octets.length !== 4 || !/^\d+\.\d+\.\d+\.\d+$/.test(host) || octets.some((o) => o > 255)) return false
  const [a = 0, b = 0] = octets
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)
}
