// /metrics, /healthz and /readyz over plain HTTP on a port of their own
// (--metrics-port). Prometheus and the kubelet's probes present no client
// certificate, so with --client-ca they cannot use the webhook's port; and
// probes should not share the admission port's connection limits anyway.

import { createServer, type Server } from 'node:http'
import type { Metrics } from './metrics.ts'

export interface HealthServer {
  port: number
  close(): Promise<void>
}

export interface HealthDeps {
  metrics: Metrics
  /** Why the server is not ready yet, or undefined when it is. */
  notReady: () => string | undefined
}

export async function startHealthServer(deps: HealthDeps, host: string, port: number): Promise<HealthServer> {
  const server: Server = createServer((request, response) => {
    const json = (status: number, body: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json' })
      response.end(JSON.stringify(body))
    }
    if (request.method !== 'GET') return json(405, { error: 'only GET' })
    const path = (request.url ?? '').split('?')[0]
    if (path === '/healthz') return json(200, { status: 'ok' })
    if (path === '/readyz') {
      const reason = deps.notReady()
      return reason === undefined ? json(200, { status: 'ready' }) : json(503, { status: reason })
    }
    if (path === '/metrics') {
      deps.metrics.registry.metrics().then(
        (text) => {
          response.writeHead(200, { 'content-type': deps.metrics.registry.contentType })
          response.end(text)
        },
        () => json(500, { error: 'metrics failed' }),
      )
      return
    }
    return json(404, { error: 'no such path' })
  })
  // Small and short: nothing here takes long, and nothing should hold a connection.
  server.headersTimeout = 5000
  server.requestTimeout = 5000
  server.keepAliveTimeout = 5000
  server.maxHeadersCount = 50
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  const address = server.address()
  return {
    port: typeof address === 'object' && address !== null ? address.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
