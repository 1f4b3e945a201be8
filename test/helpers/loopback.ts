// The part the remote test servers share: HTTPS on 127.0.0.1:0 with the test
// certificates, fault knobs (answer late, or never), and a teardown that ends
// everything, so a hung request or a pending delay never keeps the test
// process alive.

import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import https from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Certs, Teardown } from './server.ts'

export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>

export interface LoopbackServer {
  /** https://127.0.0.1:PORT */
  url: string
  /** 127.0.0.1:PORT, as image references and Host headers spell it. */
  host: string
  port: number
  /** Aborted when the server closes: anything waiting on it gives up. */
  closing: AbortSignal
  /** Every request waits this long before its handler runs (0: not at all). */
  setDelay(ms: number): void
  /** While true, requests are accepted and never answered (until teardown). */
  setHang(hang: boolean): void
  /** Stops listening and destroys every connection; teardown calls it, calling it earlier is fine. */
  close(): Promise<void>
}

export async function serveLoopback(t: Teardown, certs: Certs, handler: Handler): Promise<LoopbackServer> {
  const closer = new AbortController()
  let delayMs = 0
  let hang = false
  // Every TCP connection, including ones still in their TLS handshake that the HTTP layer does not track yet.
  const sockets = new Set<Socket>()

  const onRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (hang) return
    if (delayMs > 0) {
      try {
        await sleep(delayMs, undefined, { signal: closer.signal })
      } catch {
        return
      }
    }
    try {
      await handler(req, res)
    } catch (err) {
      // A broken helper should fail the test loudly, not look like a remote that hangs.
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' })
        res.end(`test server handler failed: ${err instanceof Error ? err.stack : String(err)}`)
      } else res.destroy()
    }
  }

  const server = https.createServer({ cert: await readFile(certs.certFile), key: await readFile(certs.keyFile) }, (req, res) => void onRequest(req, res))
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port

  let closed: Promise<void> | undefined
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      closer.abort()
      server.close(() => resolve())
      for (const socket of sockets) socket.destroy()
    })
    return closed
  }
  t.teardown(close)

  return {
    url: `https://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    port,
    closing: closer.signal,
    setDelay: (ms) => {
      delayMs = ms
    },
    setHang: (value) => {
      hang = value
    },
    close,
  }
}

/** The whole request body. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}
