// What stepsplice may fetch and how it trusts what answers: the schemes, the
// hosts, and the certificate authorities. One value, built from flags, handed
// to every fetcher, so git, http and registries follow the same rules.

import { rootCertificates } from 'node:tls'
import { FetchFailure } from './failure.ts'

export interface TransportOptions {
  /** Also fetch plain http:// (Tekton's http and git resolvers do); https only when unset. */
  allowPlainHttp?: boolean
  /**
   * Hosts that may be fetched from: exact names (`github.com`, `registry:5000`)
   * or `*.example.com` for any subdomain. Unset or empty: any host.
   */
  hosts?: readonly string[]
  /** PEM certificates trusted besides the system's (a private registry's or git server's CA). */
  extraCa?: string
  /** The User-Agent of every request; `stepsplice` when unset. */
  userAgent?: string
}

export class Transport {
  readonly allowPlainHttp: boolean
  readonly #hosts: readonly string[]
  /** Trusted for https: the system's roots, plus any extra. */
  readonly ca: string[]
  /** The extra CAs alone, when there are any (git is handed the whole bundle as a file; see git.ts). */
  readonly extraCa: string | undefined
  readonly userAgent: string

  constructor(options: TransportOptions = {}) {
    this.allowPlainHttp = options.allowPlainHttp === true
    this.#hosts = (options.hosts ?? []).map((h) => h.toLowerCase())
    this.extraCa = options.extraCa
    this.userAgent = options.userAgent ?? 'stepsplice'
    this.ca = options.extraCa === undefined ? [...rootCertificates] : [...rootCertificates, options.extraCa]
  }

  /** The parsed URL when stepsplice may fetch it; a `refused` failure that says why otherwise. */
  check(url: string): URL {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw new FetchFailure('refused', `${JSON.stringify(url)} is not a URL`)
    }
    if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && this.allowPlainHttp)) {
      const allowed = this.allowPlainHttp ? 'https:// and http://' : 'https://'
      throw new FetchFailure('refused', `stepsplice fetches only ${allowed} URLs, not ${parsed.protocol}//`)
    }
    if (parsed.username !== '' || parsed.password !== '') throw new FetchFailure('refused', 'a URL with credentials in it is never fetched')
    if (!this.hostAllowed(parsed.host)) throw new FetchFailure('refused', `host ${parsed.host} is not one stepsplice may fetch from (--remote-host)`)
    return parsed
  }

  /** Whether only some hosts may be fetched from (then no redirect may lead to another). */
  get restrictsHosts(): boolean {
    return this.#hosts.length > 0
  }

  hostAllowed(host: string): boolean {
    if (this.#hosts.length === 0) return true
    const h = host.toLowerCase()
    const name = h.replace(/:\d+$/, '')
    return this.#hosts.some((pattern) => {
      if (pattern.startsWith('*.')) return name.endsWith(pattern.slice(1)) && name.length > pattern.length - 1
      return pattern === h || pattern === name
    })
  }
}
