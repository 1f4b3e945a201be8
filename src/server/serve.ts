// Starting and stopping the webhook: listen with the current certificate,
// follow certificate rotation, and close gracefully.

import type { Logger } from 'pino'
import type { Catalog } from '../resolution/catalog.ts'
import type { OnTimeout } from '../admission/mutate.ts'
import { buildApp, type WebhookApp } from './app.ts'
import { readKeyPair, watchCertificates } from './certificates.ts'
import { createMetrics, type Metrics } from './metrics.ts'

export interface ServeConfig {
  host: string
  port: number
  certFile: string
  keyFile: string
  catalog: Catalog
  logger: Logger
  deadlineMs: number
  onTimeout: OnTimeout
  /** Image of the init container that writes Pod step scripts. */
  prepareImage?: string
  /** How long to wait for certificate file events to settle. */
  certDebounceMs?: number
}

export interface RunningServer {
  app: WebhookApp
  metrics: Metrics
  /** `https://host:port`, with the port actually bound (useful with port 0). */
  url: string
  port: number
  /** Stops accepting, lets in-flight requests finish, then resolves. */
  close(): Promise<void>
}

export async function startServer(config: ServeConfig): Promise<RunningServer> {
  const tls = await readKeyPair(config.certFile, config.keyFile)
  const metrics = createMetrics(() => config.catalog.size)
  const app = buildApp(
    { catalog: config.catalog, metrics, logger: config.logger, ready: () => true },
    { tls, deadlineMs: config.deadlineMs, onTimeout: config.onTimeout, ...(config.prepareImage ? { prepareImage: config.prepareImage } : {}) },
  )
  await app.listen({ host: config.host, port: config.port })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  const watch = watchCertificates({
    certFile: config.certFile,
    keyFile: config.keyFile,
    debounceMs: config.certDebounceMs ?? 200,
    onReload(pair) {
      app.server.setSecureContext({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' })
      config.logger.info({ certFile: config.certFile }, 'serving certificate reloaded')
    },
    onError(err) {
      config.logger.warn({ err: err.message, certFile: config.certFile }, 'certificate files changed but cannot be used yet; still serving the previous pair')
    },
  })
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  return {
    app,
    metrics,
    port,
    url: `https://${host}:${port}`,
    async close() {
      watch.close()
      await app.close()
    },
  }
}
