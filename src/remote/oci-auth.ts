// How a registry is asked for permission to pull: the WWW-Authenticate
// challenge of a 401, the token service it names (the Docker registry token
// flow, anonymous unless credentials are given for the registry's host), and
// the Authorization values kept per repository until they expire.

import { FetchFailure } from './failure.ts'
import { httpGet } from './http-get.ts'
import type { Transport } from './transport.ts'

export interface RegistryCredentials {
  username: string
  password: string
}

export interface Challenge {
  /** Lower-cased: `bearer`, `basic`. */
  scheme: string
  /** Parameter names lower-cased. */
  params: Record<string, string>
}

/** Tokens without `expires_in` last 60 s, as the token specification says. */
const defaultTokenSeconds = 60
/** A token answer is a small JSON document; anything this big is not one. */
const maxTokenResponseBytes = 1024 * 1024
/** Authorizations kept at once; past it, expired ones and then the oldest are dropped. */
const maxCachedAuthorizations = 256

/** The challenges of a WWW-Authenticate header (several may be joined by commas). */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = []
  let i = 0
  const skip = (chars: RegExp): void => {
    while (i < header.length && chars.test(header[i] ?? '')) i++
  }
  while (i < header.length) {
    skip(/[\s,]/)
    const start = i
    while (i < header.length && !/[\s,=]/.test(header[i] ?? '')) i++
    const token = header.slice(start, i)
    if (token === '') break
    skip(/\s/)
    if (header[i] !== '=') {
      challenges.push({ scheme: token.toLowerCase(), params: Object.create(null) })
      continue
    }
    i++
    skip(/\s/)
    let value = ''
    if (header[i] === '"') {
      i++
      while (i < header.length && header[i] !== '"') {
        if (header[i] === '\\') i++
        value += header[i] ?? ''
        i++
      }
      i++
    } else {
      const valueStart = i
      while (i < header.length && !/[\s,]/.test(header[i] ?? '')) i++
      value = header.slice(valueStart, i)
    }
    const current = challenges.at(-1)
    if (current !== undefined) current.params[token.toLowerCase()] = value
  }
  return challenges
}

export interface AuthorizerOptions {
  transport: Transport
  timeoutMs: number
  credentials: ((registry: string) => RegistryCredentials | undefined) | undefined
  now: () => number
}

/** Authorization header values per (registry, repository); one per client, never shared between clients. */
export class Authorizer {
  readonly #options: AuthorizerOptions
  readonly #cache = new Map<string, { header: string; expiresAt: number }>()

  constructor(options: AuthorizerOptions) {
    this.#options = options
  }

  /** The Authorization value to send first, when one is known and not expired. */
  cached(registry: string, repository: string): string | undefined {
    const key = `${registry}/${repository}`
    const entry = this.#cache.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt > this.#options.now()) return entry.header
    this.#cache.delete(key)
    return undefined
  }

  /**
   * Answers the challenges of a 401 for pulling `repository`: a fresh bearer
   * token, or Basic credentials. Undefined when nothing can be offered (no
   * challenge understood, or Basic asked and no credentials given).
   */
  async answer(registry: string, repository: string, header: string | undefined, signal: AbortSignal | undefined): Promise<string | undefined> {
    const challenges = parseChallenges(header ?? '')
    const credentials = this.#options.credentials?.(registry)
    const bearer = challenges.find((c) => c.scheme === 'bearer')
    let value: string
    let expiresAt: number
    if (bearer !== undefined) {
      const token = await this.#fetchToken(registry, repository, bearer, credentials, signal)
      value = `Bearer ${token.token}`
      expiresAt = this.#options.now() + token.seconds * 1000
    } else if (challenges.some((c) => c.scheme === 'basic') && credentials !== undefined) {
      value = basic(credentials)
      expiresAt = Number.POSITIVE_INFINITY
    } else {
      return undefined
    }
    this.#remember(`${registry}/${repository}`, value, expiresAt)
    return value
  }

  async #fetchToken(
    registry: string,
    repository: string,
    challenge: Challenge,
    credentials: RegistryCredentials | undefined,
    signal: AbortSignal | undefined,
  ): Promise<{ token: string; seconds: number }> {
    const realm = challenge.params.realm
    if (realm === undefined || realm === '') throw new FetchFailure('protocol', `${registry} asks for a bearer token but names no token service (realm)`)
    let url: URL
    try {
      url = new URL(realm)
    } catch {
      throw new FetchFailure('protocol', `${registry} names a token service that is not a URL: ${JSON.stringify(realm)}`)
    }
    const service = challenge.params.service
    if (service !== undefined) url.searchParams.set('service', service)
    const scope = `repository:${repository}:pull`
    url.searchParams.append('scope', scope)
    // A registry may ask for a scope of its own besides the pull scope stepsplice needs.
    const asked = challenge.params.scope
    if (asked !== undefined && asked !== '' && asked !== scope) url.searchParams.append('scope', asked)
    const response = await httpGet(url.toString(), this.#options.transport, {
      signal,
      timeoutMs: this.#options.timeoutMs,
      maxBytes: maxTokenResponseBytes,
      headers: { accept: 'application/json', ...(credentials === undefined ? {} : { authorization: basic(credentials) }) },
    })
    if (response.status !== 200) {
      throw new FetchFailure('status', `the token service of ${registry} (${url.host}) answered ${response.status} for ${scope}`, response.status)
    }
    let body: unknown
    try {
      body = JSON.parse(response.body.toString('utf8'))
    } catch {
      throw new FetchFailure('protocol', `the token service of ${registry} (${url.host}) answered something that is not JSON`)
    }
    const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {}
    const token = [fields.token, fields.access_token].find((t): t is string => typeof t === 'string' && t !== '')
    if (token === undefined) throw new FetchFailure('protocol', `the token service of ${registry} (${url.host}) answered no token`)
    const expires = fields.expires_in
    const seconds = typeof expires === 'number' && Number.isFinite(expires) && expires > 0 ? expires : defaultTokenSeconds
    return { token, seconds }
  }

  #remember(key: string, header: string, expiresAt: number): void {
    this.#cache.delete(key)
    this.#cache.set(key, { header, expiresAt })
    if (this.#cache.size <= maxCachedAuthorizations) return
    const now = this.#options.now()
    for (const [k, entry] of this.#cache) if (entry.expiresAt <= now) this.#cache.delete(k)
    for (const k of this.#cache.keys()) {
      if (this.#cache.size <= maxCachedAuthorizations) break
      this.#cache.delete(k)
    }
  }
}

function basic(credentials: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`
}
