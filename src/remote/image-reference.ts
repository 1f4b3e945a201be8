// An image reference read the way Tekton's bundles resolver reads one
// (go-containerregistry's name.ParseReference, default options): Docker Hub
// when no registry is named, `library/` for its single-component names,
// `latest` when neither tag nor digest is given, and a digest that wins over a
// tag written beside it.

export interface ImageReference {
  /** The registry's host[:port], as the API is spoken to: `index.docker.io` for Docker Hub. */
  registry: string
  /** The repository path inside the registry: `library/alpine`. */
  repository: string
  /** The tag written, or `latest` when neither tag nor digest was; kept beside a digest but never used then. */
  tag?: string
  /** `sha256:<64 hex>`: when present, what is fetched. */
  digest?: string
  /** `registry/repository`, as Tekton records the bundle's URI. */
  canonical: string
}

const dockerHub = 'index.docker.io'
const dockerHubAlias = 'docker.io'
const digestPattern = /^sha256:[0-9a-f]{64}$/
const tagPattern = /^[A-Za-z0-9_.-]{1,127}$/
const repositoryPattern = /^[a-z0-9_./-]{2,255}$/
// An RFC 3986 authority as a registry is written: a host name or address, an optional port.
const registryPattern = /^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/

/** The parsed reference, or an error saying what is wrong with `text`. */
export function parseImageReference(text: string): ImageReference | { error: string } {
  if (text === '') return { error: 'an image reference must not be empty' }
  const at = text.split('@')
  if (at.length > 2) return { error: `${JSON.stringify(text)} has more than one '@'` }
  if (at.length === 2) {
    const [base = '', digest = ''] = at
    if (!digestPattern.test(digest))
      return { error: `${JSON.stringify(text)}: the digest must be sha256: and 64 lower-case hex digits, not ${JSON.stringify(digest)}` }
    const named = splitTag(base)
    // A tag that does not parse is read as part of the repository, which then fails on its own (as go-containerregistry does).
    const repo = 'error' in named ? parseRepository(base, text) : parseRepository(named.base, text)
    if ('error' in repo) return repo
    return { ...repo, ...('error' in named || named.tag === undefined ? {} : { tag: named.tag }), digest }
  }
  const named = splitTag(text)
  if ('error' in named) return { error: `${JSON.stringify(text)}: ${named.error}` }
  const repo = parseRepository(named.base, text)
  if ('error' in repo) return repo
  return { ...repo, tag: named.tag ?? 'latest' }
}

function splitTag(text: string): { base: string; tag: string | undefined } | { error: string } {
  const colon = text.lastIndexOf(':')
  // A colon followed by a slash belongs to the registry's port, not a tag.
  if (colon < 0 || text.slice(colon + 1).includes('/')) return { base: text, tag: undefined }
  const tag = text.slice(colon + 1)
  // An empty tag (`repo:`) is no tag at all: the default applies, as it does for Tekton.
  if (tag !== '' && !tagPattern.test(tag)) return { error: `the tag ${JSON.stringify(tag)} may hold only letters, digits, '_', '.' and '-', at most 127` }
  return { base: text.slice(0, colon), tag: tag === '' ? undefined : tag }
}

function parseRepository(name: string, text: string): Omit<ImageReference, 'tag' | 'digest'> | { error: string } {
  if (name === '') return { error: `${JSON.stringify(text)} names no repository` }
  const slash = name.indexOf('/')
  const first = slash < 0 ? '' : name.slice(0, slash)
  // The first component names a registry only when it looks like a host: a dot or a port.
  const hasRegistry = slash >= 0 && (first.includes('.') || first.includes(':'))
  let registry = hasRegistry ? first : dockerHub
  const path = hasRegistry ? name.slice(slash + 1) : name
  if (hasRegistry && !registryPattern.test(registry)) return { error: `${JSON.stringify(text)}: ${JSON.stringify(registry)} is not a registry host[:port]` }
  if (!repositoryPattern.test(path)) {
    return { error: `${JSON.stringify(text)}: the repository ${JSON.stringify(path)} may hold only a-z, 0-9, '_', '-', '.' and '/', 2 to 255 of them` }
  }
  if (registry === dockerHubAlias) registry = dockerHub
  const repository = registry === dockerHub && !path.includes('/') ? `library/${path}` : path
  return { registry, repository, canonical: `${registry}/${repository}` }
}
