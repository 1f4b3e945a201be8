// One bounded HTTP GET: a timeout, a cap on the body read (the rest is never
// buffered), a bounded chain of redirects, and an abort signal. Used by the
// http resolver and the OCI registry client. Credentials given for a host are
// never sent to another one a redirect points at: registries redirect blob
// downloads to storage that signs its own URLs.

import http from 'node:http'
import https from 'node:https'
import type { Transport } from './transport.ts'
import { FetchFailure } from './failure.ts'

export interface GetOptions {
  /** Stops the request: the caller's deadline, or nobody waits for it any more. */
  signal?: AbortSignal
  /** The whole exchange, redirects included. */
  timeoutMs: number
  /** Bytes of body read; a longer body fails with `too-large`. */
  maxBytes: number
  headers?: Record<string, string>
  /** Redirects followed; Go's http client, which Tekton's resolvers use, follows 10. */
  maxRedirects?: number
}

export interface GetResponse {
  status: number
  headers: http.IncomingHttpHeaders
  body: Buffer
  /** The URL finally answered, after redirects. */
  url: string
}

/**
 * The redirects Go's http.Client follows for a GET, which Tekton's resolvers
 * fetch with: any other 3xx (300, 304, 305, 306) is the answer, a failure
 * for whoever wanted a 200.
 */
const redirects = new Set([301, 302, 303, 307, 308])

/** Go's http.Client stops at its tenth redirect ("stopped after 10 redirects"): nine are followed. */
const goMaxRedirects = 9

/** GETs `url`. Any status is an answer; only the transport failing, a timeout, a refusal or a long body throw. */
export async function httpGet(url: string, transport: Transport, options: GetOptions): Promise<GetResponse> {
  const deadline = Date.now() + options.timeoutMs
  let target = transport.check(url)
  const origin = target.host
  const maxRedirects = options.maxRedirects ?? goMaxRedirects
  for (let hop = 0; ; hop++) {
    const headers = { ...(target.host === origin ? (options.headers ?? {}) : withoutAuthorization(options.headers ?? {})) }
    const response = await getOnce(target, transport, { ...options, headers }, deadline)
    const location = response.headers.location
    if (!redirects.has(response.status) || location === undefined) return response
    if (hop >= maxRedirects) throw new FetchFailure('protocol', `more than ${maxRedirects} redirects from ${url}`)
    target = transport.check(new URL(location, target).toString())
  }
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'))
}

function getOnce(target: URL, transport: Transport, options: GetOptions, deadline: number): Promise<GetResponse> {
  const remaining = deadline - Date.now()
  if (remaining <= 0) return Promise.reject(new FetchFailure('timeout', `no answer from ${target.host} within ${options.timeoutMs} ms`))
  if (options.signal?.aborted) return Promise.reject(new FetchFailure('aborted', `stopped waiting for ${target.host}`))
  return new Promise<GetResponse>((resolve, reject) => {
    let settled = false
    const finish = (err: Error | undefined, response?: GetResponse): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      if (err !== undefined) {
        request.destroy()
        reject(err)
      } else if (response !== undefined) resolve(response)
    }
    const onAbort = (): void => finish(new FetchFailure('aborted', `stopped waiting for ${target.host}`))
    const timer = setTimeout(() => finish(new FetchFailure('timeout', `no answer from ${target.host} within ${options.timeoutMs} ms`)), remaining)
    const requestOptions: https.RequestOptions = {
      method: 'GET',
      headers: { 'user-agent': transport.userAgent, ...options.headers },
      ...(target.protocol === 'https:' ? { ca: transport.ca } : {}),
    }
    const request = (target.protocol === 'https:' ? https : http).request(target, requestOptions, (res) => {
      const status = res.statusCode ?? 0
      // A redirect's or a failure's body is never needed past a little: enough to say what went wrong.
      const cap = status >= 200 && status < 300 ? options.maxBytes : Math.min(options.maxBytes, 64 * 1024)
      const declared = Number(res.headers['content-length'])
      if (Number.isFinite(declared) && declared > cap && status >= 200 && status < 300) {
        finish(new FetchFailure('too-large', `${target.toString()} is ${declared} bytes, more than ${cap}`))
        return
      }
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > cap) {
          if (status >= 200 && status < 300) finish(new FetchFailure('too-large', `${target.toString()} is more than ${cap} bytes`))
          else finish(undefined, { status, headers: res.headers, body: Buffer.concat(chunks), url: target.toString() })
          return
        }
        chunks.push(chunk)
      })
      res.on('end', () => finish(undefined, { status, headers: res.headers, body: Buffer.concat(chunks), url: target.toString() }))
      res.on('error', (err) => finish(new FetchFailure('unreachable', `${target.host}: ${err.message}`)))
    })
    request.on('error', (err) => finish(new FetchFailure('unreachable', `${target.host}: ${err.message}`)))
    options.signal?.addEventListener('abort', onAbort, { once: true })
    request.end()
  })
}
