// One bounded HTTP GET: a timeout, a cap on the body read (the rest is never
// buffered), a bounded chain of redirects, and an abort signal. Used by the
// http resolver and the OCI registry client. Credentials given for a host are
// never sent to another one a redirect points at: registries redirect blob
// downloads to storage that signs its own URLs.
//
// Compression as Go's http.Transport, which Tekton's resolvers fetch with:
// gzip is asked for unless the caller chose an encoding or a range, and a
// gzip-encoded answer to that is decoded, the cap applying to what it
// decodes to (Tekton's limit and digest see the decoded body).

import http from 'node:http'
import https from 'node:https'
import type { Transport } from './transport.ts'
import { asFailure, FetchFailure } from './failure.ts'
import { gunzipAsGo } from './gunzip.ts'

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
    // Stops decoding a gzip body nobody waits for any more.
    const stopped = new AbortController()
    const finish = (err: Error | undefined, response?: GetResponse): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      stopped.abort()
      options.signal?.removeEventListener('abort', onAbort)
      if (err !== undefined) {
        request.destroy()
        reject(err)
      } else if (response !== undefined) resolve(response)
    }
    const onAbort = (): void => finish(new FetchFailure('aborted', `stopped waiting for ${target.host}`))
    const timer = setTimeout(() => finish(new FetchFailure('timeout', `no answer from ${target.host} within ${options.timeoutMs} ms`)), remaining)
    const headers = options.headers ?? {}
    // Go's persistConn.roundTrip: gzip unless the caller set Accept-Encoding (it wants the bytes as sent) or Range
    // (a part of a gzip stream does not decode). Only an answer to this request of ours is decoded.
    const askGzip = !callerSets(headers, 'accept-encoding') && !callerSets(headers, 'range')
    const requestOptions: https.RequestOptions = {
      method: 'GET',
      headers: { 'user-agent': transport.userAgent, ...headers, ...(askGzip ? { 'accept-encoding': 'gzip' } : {}) },
      ...(target.protocol === 'https:' ? { ca: transport.ca } : {}),
    }
    const request = (target.protocol === 'https:' ? https : http).request(target, requestOptions, (res) => {
      const status = res.statusCode ?? 0
      const success = status >= 200 && status < 300
      // A redirect's or a failure's body is never needed past a little: enough to say what went wrong.
      const cap = success ? options.maxBytes : Math.min(options.maxBytes, 64 * 1024)
      const answer = (body: Buffer, headers: http.IncomingHttpHeaders): void => {
        finish(undefined, { status, headers, body, url: target.toString() })
        // Answered before the body was read to its end (a failure's body past what is read of it, whether or not it
        // all arrived): the rest is never read, so the connection goes, as Go's Close of an unread body drops it;
        // left paused or draining, it would never go back to the pool nor close.
        if (!res.readableEnded) request.destroy()
      }
      if (askGzip && gzipEncoded(res, status)) {
        readGzipped(res, target, cap, stopped.signal).then(
          (body) => answer(body, decodedHeaders(res.headers)),
          (err: unknown) => {
            const failure = asFailure(err)
            // A failure's body only says what went wrong: one that does not decode is left out, and the status answers.
            if (!success && (failure.kind === 'protocol' || failure.kind === 'too-large')) answer(Buffer.alloc(0), decodedHeaders(res.headers))
            else finish(failure)
          },
        )
        return
      }
      const declared = Number(res.headers['content-length'])
      if (Number.isFinite(declared) && declared > cap && success) {
        finish(new FetchFailure('too-large', `${target.toString()} is ${declared} bytes, more than ${cap}`))
        return
      }
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > cap) {
          if (success) finish(new FetchFailure('too-large', `${target.toString()} is more than ${cap} bytes`))
          else answer(Buffer.concat(chunks), res.headers)
          return
        }
        chunks.push(chunk)
      })
      res.on('end', () => answer(Buffer.concat(chunks), res.headers))
      res.on('error', (err) => finish(new FetchFailure('unreachable', `${target.host}: ${err.message}`)))
    })
    request.on('error', (err) => finish(new FetchFailure('unreachable', `${target.host}: ${err.message}`)))
    options.signal?.addEventListener('abort', onAbort, { once: true })
    request.end()
  })
}

/** Whether `headers` set `name` (case-insensitive), as Go's Header.Get tells: an empty value is not set. */
function callerSets(headers: Record<string, string>, name: string): boolean {
  return Object.entries(headers).some(([k, v]) => k.toLowerCase() === name && v !== '')
}

/**
 * Whether Go's transport decodes this answer (persistConn.readLoop): it has a body (not a 204 or 304, no
 * Content-Length of 0), and its first Content-Encoding line is gzip in any case (ascii.EqualFold of Header.Get).
 * Node's parser, as Go's textproto, strips the blanks around a value.
 */
function gzipEncoded(res: http.IncomingMessage, status: number): boolean {
  if (status === 204 || status === 304 || Number(res.headers['content-length'] ?? Number.NaN) === 0) return false
  return res.headersDistinct['content-encoding']?.[0]?.toLowerCase() === 'gzip'
}

/** A decoded answer's headers: Go drops Content-Encoding and Content-Length, which describe the encoded body. */
function decodedHeaders(headers: http.IncomingHttpHeaders): http.IncomingHttpHeaders {
  const { 'content-encoding': _encoding, 'content-length': _length, ...rest } = headers
  return rest
}

/**
 * How far past the cap a gzip-encoded body is read: the cap is on what it decodes to, and an encoder stores what
 * does not compress, adding 5 bytes a 64 KiB block and gzip 18 a member, so a body that decodes within the cap
 * arrives well within this (Go reads any length; a body longer still is left for Tekton).
 */
const gzipSlack = 64 * 1024

/**
 * A gzip-encoded body, read whole (at most `cap` + gzipSlack bytes) and decoded as Go's reader decodes it, at
 * most `cap` bytes decoded. Past the slack nothing more is read: `too-large` if what was read decodes past the
 * cap, as Go would find; otherwise a `protocol` failure, which leaves it for Tekton.
 */
async function readGzipped(res: http.IncomingMessage, target: URL, cap: number, signal: AbortSignal): Promise<Buffer> {
  const limit = cap + gzipSlack
  const { encoded, cut } = await new Promise<{ encoded: Buffer; cut: boolean }>((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer): void => {
      if (size + chunk.length > limit) {
        chunks.push(chunk.subarray(0, limit - size))
        res.off('data', onData)
        res.pause()
        resolve({ encoded: Buffer.concat(chunks), cut: true })
        return
      }
      size += chunk.length
      chunks.push(chunk)
    }
    res.on('data', onData)
    res.on('end', () => resolve({ encoded: Buffer.concat(chunks), cut: false }))
    res.on('error', (err) => reject(new FetchFailure('unreachable', `${target.host}: ${err.message}`)))
  })
  const decoded = await gunzipAsGo(encoded, cap, signal)
  if ('tooLarge' in decoded) throw new FetchFailure('too-large', `${target.toString()} decodes to more than ${cap} bytes`)
  if (cut) throw new FetchFailure('protocol', `${target.toString()}: a gzip-encoded body over ${limit} bytes, which stepsplice does not read`)
  if ('unreadable' in decoded) throw new FetchFailure('protocol', `${target.toString()}: the gzip-encoded body could not be read (${decoded.unreadable})`)
  return decoded.body
}
