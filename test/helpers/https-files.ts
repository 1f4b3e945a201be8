// An HTTPS file server for tests of the http resolver: files put by path,
// with the ways real servers misbehave (an error status, a redirect, an
// answer that starts late or trickles in, a body larger than any cap), and a
// count of what was asked for, so a test can tell a cache hit from a fetch.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { serveLoopback } from './loopback.ts'
import type { Certs, Teardown } from './server.ts'

export interface FileOptions {
  /** Default 200; with redirectTo, default 302. */
  status?: number
  /** Sent as well as (and over) the defaults: Content-Type and Content-Length. */
  headers?: Record<string, string>
  /** Waits this long before sending the headers. */
  delayMs?: number
  /** Sends the body in pieces of `trickleBytes` (default 16) with this long a pause between them. */
  trickleMs?: number
  trickleBytes?: number
  /** Answers with a redirect to this URL (absolute, or a path on this server). */
  redirectTo?: string
  /** No Content-Length: the body is chunked, so a client learns its size only by reading it. */
  omitLength?: boolean
  /** The body is sent and never ended: the response stays open until the client hangs up (hungUp counts it then). */
  neverEnds?: boolean
}

export interface FileRequest {
  method: string
  /** The path, without the query. */
  path: string
  query: string
  headers: IncomingMessage['headers']
}

export interface FileServer {
  /** https://127.0.0.1:PORT */
  url: string
  /** Serves `body` at `path` (a path without query; the query is ignored when matching). */
  put(path: string, body: string | Buffer, options?: FileOptions): void
  /** Serves `bytes` bytes of "x", generated as they are sent: a large body held nowhere. */
  putGenerated(path: string, bytes: number, options?: FileOptions): void
  remove(path: string): void
  /** Requests for `path` so far, whatever was answered (a 404 counts). */
  hits(path: string): number
  requests: FileRequest[]
  /** Every request waits this long first (0: not at all). */
  setDelay(ms: number): void
  /** While true, requests are accepted and never answered (until teardown). */
  setHang(hang: boolean): void
  /** Paths of neverEnds answers the client hung up on, once each. */
  hungUp: string[]
}

interface Entry {
  size: number
  /** The body in pieces; generated bodies yield as they are sent. */
  pieces(pieceSize: number): Iterable<Buffer>
  contentType: string
  options: FileOptions
}

const generatedChunk = Buffer.alloc(64 * 1024, 'x')

/** Waits until `res` can take more or is closed; whichever comes first removes the other's listener, so a long body adds none per piece. */
function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.once('drain', done)
    res.once('close', done)
  })
}

export async function startFileServer(t: Teardown, options: { certs: Certs }): Promise<FileServer> {
  const files = new Map<string, Entry>()
  const requests: FileRequest[] = []
  const hungUp: string[] = []
  let closing: AbortSignal | undefined

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'https://placeholder')
    requests.push({ method: req.method ?? 'GET', path: url.pathname, query: url.search.slice(1), headers: req.headers })
    const entry = files.get(url.pathname)
    if (entry === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`no file at ${url.pathname}\n`)
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    const o = entry.options
    if (!(await pause(o.delayMs ?? 0, closing))) return void res.destroy()
    const headers: Record<string, string> = { 'content-type': entry.contentType }
    if (o.omitLength !== true) headers['content-length'] = String(entry.size)
    if (o.redirectTo !== undefined) headers.location = o.redirectTo
    const status = o.status ?? (o.redirectTo !== undefined ? 302 : 200)
    res.writeHead(status, { ...headers, ...o.headers })
    if (req.method === 'HEAD') return void res.end()
    const trickle = o.trickleMs !== undefined && o.trickleMs > 0
    for (const piece of entry.pieces(trickle ? (o.trickleBytes ?? 16) : generatedChunk.length)) {
      // The client hung up (its cap or timeout): stop generating.
      if (res.destroyed) return
      if (!res.write(piece)) await drainedOrClosed(res)
      if (trickle && !(await pause(o.trickleMs ?? 0, closing))) return void res.destroy()
    }
    if (o.neverEnds === true) {
      await new Promise((resolve) => res.once('close', resolve))
      hungUp.push(url.pathname)
      return
    }
    res.end()
  }

  const loopback = await serveLoopback(t, options.certs, serve)
  closing = loopback.closing

  return {
    url: loopback.url,
    put(path, body, o = {}) {
      const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body
      files.set(path, {
        size: bytes.length,
        *pieces(size) {
          for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size)
        },
        contentType: typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream',
        options: o,
      })
    },
    putGenerated(path, bytes, o = {}) {
      files.set(path, {
        size: bytes,
        *pieces(size) {
          for (let left = bytes; left > 0; ) {
            const n = Math.min(size, left, generatedChunk.length)
            yield generatedChunk.subarray(0, n)
            left -= n
          }
        },
        contentType: 'text/plain; charset=utf-8',
        options: o,
      })
    },
    remove: (path) => void files.delete(path),
    hits: (path) => requests.filter((r) => r.path === path).length,
    requests,
    hungUp,
    setDelay: loopback.setDelay,
    setHang: loopback.setHang,
  }
}

/** Waits `ms`; false when the server closed meanwhile. */
async function pause(ms: number, closing: AbortSignal | undefined): Promise<boolean> {
  if (ms <= 0) return true
  try {
    await sleep(ms, undefined, closing === undefined ? {} : { signal: closing })
    return true
  } catch {
    return false
  }
}
