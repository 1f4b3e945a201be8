// What an OCI image manifest says about a Tekton bundle: whether the bytes
// are an image manifest at all (an index is not: Tekton picks a platform
// from one, stepsplice does not), its layers, and Tekton's compliance rules
// for them (checkImageCompliance), worded as Tekton words them.

import { FetchFailure } from './failure.ts'

export const bundleAnnotations = {
  apiVersion: 'dev.tekton.image.apiVersion',
  name: 'dev.tekton.image.name',
  kind: 'dev.tekton.image.kind',
} as const

/** Tekton's MaximumBundleObjects. */
const maxBundleObjects = 20

export const imageManifestTypes = ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json']
export const indexTypes = ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']

export interface LayerDescriptor {
  mediaType: string | undefined
  digest: string
  size: number
  annotations: Readonly<Record<string, string>>
}

/**
 * The layers of the manifest in `body`; a `protocol` failure when it is an
 * index (the message says so) or not an image manifest. `contentType` is the
 * registry's header: the body's own `mediaType` wins over it when present.
 */
export function parseImageManifest(body: Buffer, contentType: string | undefined, what: string): LayerDescriptor[] {
  let parsed: unknown
  try {
    parsed = JSON.parse(body.toString('utf8'))
  } catch {
    throw new FetchFailure('protocol', `${what}: the manifest is not JSON`)
  }
  if (!isRecord(parsed)) throw new FetchFailure('protocol', `${what}: the manifest is not a JSON object`)
  const type = manifestType(parsed, contentType)
  if (type === 'index') {
    throw new FetchFailure(
      'protocol',
      `${what} is an image index (a manifest list, as multi-platform images are), not an image manifest: a Tekton bundle is one image`,
    )
  }
  if (type !== 'image') throw new FetchFailure('protocol', `${what}: unsupported manifest media type ${JSON.stringify(type)}`)
  const layers = parsed.layers
  if (!Array.isArray(layers)) throw new FetchFailure('protocol', `${what}: the manifest has no layers list`)
  return layers.map((layer, i) => descriptor(layer, `${what}: layer ${i}`))
}

/** Tekton's checkImageCompliance: its error text, or undefined when the bundle complies. */
export function complianceError(layers: readonly LayerDescriptor[]): string | undefined {
  if (layers.length > maxBundleObjects) return `contained more than the maximum ${maxBundleObjects} allow objects`
  for (const [i, layer] of layers.entries()) {
    for (const key of [bundleAnnotations.apiVersion, bundleAnnotations.name, bundleAnnotations.kind]) {
      if (!Object.hasOwn(layer.annotations, key)) return `the layer ${i} does not contain a ${key} annotation`
    }
    const kind = layer.annotations[bundleAnnotations.kind] ?? ''
    const lower = kind.toLowerCase()
    if ((lower.endsWith('s') ? lower.slice(0, -1) : lower) !== kind) {
      return `the layer ${i} the annotation ${bundleAnnotations.kind} must be lowercased and singular, found ${kind}`
    }
  }
  return undefined
}

/** 'image', 'index', or the media type that is neither. */
function manifestType(manifest: Record<string, unknown>, contentType: string | undefined): string {
  const declared = typeof manifest.mediaType === 'string' ? manifest.mediaType : undefined
  const header = contentType?.split(';')[0]?.trim().toLowerCase()
  for (const type of [declared, header]) {
    if (type === undefined) continue
    if (imageManifestTypes.includes(type)) return 'image'
    if (indexTypes.includes(type)) return 'index'
  }
  // OCI made `mediaType` optional and some registries answer application/json: the shape tells then.
  if (declared === undefined && Array.isArray(manifest.manifests)) return 'index'
  if (declared === undefined && Array.isArray(manifest.layers) && isRecord(manifest.config)) return 'image'
  return declared ?? header ?? 'none'
}

function descriptor(value: unknown, what: string): LayerDescriptor {
  if (!isRecord(value)) throw new FetchFailure('protocol', `${what} is not an object`)
  const { mediaType, digest, size, annotations } = value
  // Any algorithm parses, as in go-containerregistry; only sha256 can be fetched (see oci.ts).
  if (typeof digest !== 'string' || !/^[a-z0-9]+:[0-9a-f]+$/.test(digest)) throw new FetchFailure('protocol', `${what} has no valid digest`)
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new FetchFailure('protocol', `${what} has no valid size`)
  if (mediaType !== undefined && typeof mediaType !== 'string') throw new FetchFailure('protocol', `${what} has a mediaType that is not a string`)
  const strings: Record<string, string> = Object.create(null)
  if (annotations !== undefined && annotations !== null) {
    if (!isRecord(annotations)) throw new FetchFailure('protocol', `${what} has annotations that are not an object`)
    for (const [key, v] of Object.entries(annotations)) {
      if (typeof v !== 'string') throw new FetchFailure('protocol', `${what}: the annotation ${key} is not a string`)
      strings[key] = v
    }
  }
  return { mediaType, digest, size, annotations: strings }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
