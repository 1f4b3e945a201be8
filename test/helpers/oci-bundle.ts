// Tekton bundles, built and pushed the way `tkn bundle push` does, through the
// distribution API only, so the same push works against docker-registry and
// the fixture. The format (Tekton's bundle contract): one layer per object,
// each a tar archive of one file holding the object's YAML or JSON, the layer
// descriptor annotated with the object's apiVersion, kind (lower-case,
// singular) and name. Options break the format on purpose, for tests of how
// the resolver refuses a bad bundle.

import { gzipSync } from 'node:zlib'
import { httpsRequest, type HttpResult, type RequestOptions } from './server.ts'
import { mediaTypes, type Registry, sha256 } from './oci-registry.ts'

export interface BundleObject {
  apiVersion: string
  /** Lower-case and singular, as Tekton annotates it: stepaction, task, pipeline. */
  kind: string
  name: string
  /** The object as YAML or JSON. */
  content: string
}

export interface PushOptions {
  /** Default gzip. */
  compression?: 'gzip' | 'none'
  /** The layer is the file itself rather than a tar archive holding it. */
  rawLayer?: boolean
  /** Leaves this annotation (e.g. dev.tekton.image.kind) off every layer. */
  dropAnnotation?: string
  /** Default oci. */
  mediaType?: 'oci' | 'docker'
}

export interface Pushed {
  /** sha256:… of the manifest. */
  digest: string
  /** 127.0.0.1:PORT/repo:tag */
  reference: string
  /** 127.0.0.1:PORT/repo@sha256:… */
  byDigest: string
  /** The manifest as pushed. */
  manifest: BundleManifest
}

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  annotations?: Record<string, string>
}

export interface BundleManifest {
  schemaVersion: 2
  mediaType: string
  config: Descriptor
  layers: Descriptor[]
}

export const tektonAnnotations = { apiVersion: 'dev.tekton.image.apiVersion', kind: 'dev.tekton.image.kind', name: 'dev.tekton.image.name' } as const

export async function pushBundle(registry: Registry, repo: string, tag: string, objects: BundleObject[], options: PushOptions = {}): Promise<Pushed> {
  const docker = options.mediaType === 'docker'
  const gzip = options.compression !== 'none'
  const client = new RegistryClient(registry, repo)

  const config = Buffer.from('{}')
  const configDescriptor = { mediaType: docker ? mediaTypes.dockerConfig : mediaTypes.ociConfig, digest: sha256(config), size: config.length }
  await client.uploadBlob(config)

  const layers: Descriptor[] = []
  for (const object of objects) {
    const file = Buffer.from(object.content, 'utf8')
    const plain = options.rawLayer === true ? file : tarOf(object.name, file)
    const blob = gzip ? gzipSync(plain) : plain
    await client.uploadBlob(blob)
    const annotations: Record<string, string> = {
      [tektonAnnotations.apiVersion]: object.apiVersion,
      [tektonAnnotations.kind]: object.kind,
      [tektonAnnotations.name]: object.name,
    }
    if (options.dropAnnotation !== undefined) delete annotations[options.dropAnnotation]
    const mediaType = docker ? (gzip ? mediaTypes.dockerLayerGzip : mediaTypes.dockerLayer) : gzip ? mediaTypes.ociLayerGzip : mediaTypes.ociLayer
    layers.push({ mediaType, digest: sha256(blob), size: blob.length, annotations })
  }

  const manifest: BundleManifest = {
    schemaVersion: 2,
    mediaType: docker ? mediaTypes.dockerManifest : mediaTypes.ociManifest,
    config: configDescriptor,
    layers,
  }
  const body = Buffer.from(JSON.stringify(manifest))
  const put = await client.send('PUT', `/v2/${repo}/manifests/${tag}`, { body, headers: { 'content-type': manifest.mediaType } })
  if (put.status !== 201) throw new Error(`PUT manifest ${repo}:${tag} answered ${put.status}: ${put.text}`)
  const digest = sha256(body)
  return { digest, reference: `${registry.host}/${repo}:${tag}`, byDigest: `${registry.host}/${repo}@${digest}`, manifest }
}

/** Just enough of a registry client to push: bearer tokens when challenged, blobs by POST and one monolithic PUT. */
class RegistryClient {
  readonly #registry: Registry
  readonly #repo: string
  #token: string | undefined

  constructor(registry: Registry, repo: string) {
    this.#registry = registry
    this.#repo = repo
  }

  async send(method: string, path: string, options: RequestOptions = {}): Promise<HttpResult> {
    const attempt = (): Promise<HttpResult> => {
      const headers = { ...options.headers, ...(this.#token === undefined ? {} : { authorization: `Bearer ${this.#token}` }) }
      return httpsRequest(this.#registry.url, this.#registry.ca, path, { ...options, method, headers })
    }
    const first = await attempt()
    const challenge = first.headers['www-authenticate']
    if (first.status !== 401 || typeof challenge !== 'string' || !challenge.startsWith('Bearer ')) return first
    await this.#login(challenge)
    return attempt()
  }

  async #login(challenge: string): Promise<void> {
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]))
    const realm = new URL(params.realm ?? '')
    if (params.service !== undefined) realm.searchParams.set('service', params.service)
    realm.searchParams.set('scope', `repository:${this.#repo}:pull,push`)
    const res = await httpsRequest(realm.origin, this.#registry.ca, `${realm.pathname}${realm.search}`)
    if (res.status !== 200) throw new Error(`token endpoint ${realm} answered ${res.status}: ${res.text}`)
    const body = JSON.parse(res.text) as { token?: string; access_token?: string }
    this.#token = body.token ?? body.access_token
  }

  async uploadBlob(blob: Buffer): Promise<void> {
    const digest = sha256(blob)
    const exists = await this.send('HEAD', `/v2/${this.#repo}/blobs/${digest}`)
    if (exists.status === 200) return
    const start = await this.send('POST', `/v2/${this.#repo}/blobs/uploads/`, { body: '', headers: { 'content-length': 0 } })
    const location = start.headers.location
    if (start.status !== 202 || typeof location !== 'string') throw new Error(`starting an upload to ${this.#repo} answered ${start.status}: ${start.text}`)
    // The location may be absolute and may carry state in its query (docker-registry's _state).
    const target = new URL(location, this.#registry.url)
    target.searchParams.set('digest', digest)
    const put = await this.send('PUT', `${target.pathname}${target.search}`, {
      body: blob,
      headers: { 'content-type': 'application/octet-stream', 'content-length': blob.length },
    })
    if (put.status !== 201) throw new Error(`uploading blob ${digest} to ${this.#repo} answered ${put.status}: ${put.text}`)
  }
}

/**
 * A tar archive (POSIX ustar) of one regular file: a 512-byte header, the
 * content padded to a 512-byte block, and two zero blocks marking the end.
 */
export function tarOf(name: string, content: Buffer): Buffer {
  const nameBytes = Buffer.from(name, 'utf8')
  if (nameBytes.length > 100) throw new Error(`tar entry name ${name} is longer than ustar's 100 bytes`)
  const header = Buffer.alloc(512)
  const field = (offset: number, length: number, value: string): void => void header.write(value, offset, length, 'latin1')
  const octal = (offset: number, length: number, value: number): void => field(offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`)
  nameBytes.copy(header, 0)
  octal(100, 8, 0o644) // mode
  octal(108, 8, 0) // uid
  octal(116, 8, 0) // gid
  octal(124, 12, content.length) // size
  octal(136, 12, 0) // mtime: fixed, so the same object gives the same layer digest
  field(156, 1, '0') // regular file
  field(257, 6, 'ustar\0')
  field(263, 2, '00')
  // The checksum is the byte sum of the header with its own field read as eight spaces.
  field(148, 8, '        ')
  const sum = header.reduce((a, b) => a + b, 0)
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `)
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512)
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)])
}
