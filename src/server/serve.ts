// Starting and stopping the webhook: listen with the current certificate,
// follow certificate rotation, and close gracefully.

import type { Logger } from 'pino'
import type { Catalog } from '../resolution/catalog.ts'
import type { OnTimeout } from '../admission/mutate.ts'
import { buildApp, type WebhookApp } from './app.ts'
import { type CertificateWatch, type KeyPair, readClientCa, readKeyPair, watchCertificates, watchClientCa } from './certificates.ts'
import { connectionLimits } from './limits.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import { AdmissionPool } from './pool.ts'

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
  /** When set, clients must present a certificate signed by a CA in this PEM file (reloaded on change). */
  clientCaFile?: string
  /** Connections open at once (limits.ts has the default). */
  maxConnections?: number
  /** Admission worker threads (pool.ts); 0 answers on the server's own thread, where nothing can stop a slow request. */
  workers: number
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
  let clientCa = config.clientCaFile === undefined ? undefined : await readClientCa(config.clientCaFile)
  const metrics = createMetrics(() => config.catalog.size)
  const pool =
    config.workers > 0
      ? new AdmissionPool({
          size: config.workers,
          catalog: config.catalog,
          settings: { deadlineMs: config.deadlineMs, onTimeout: config.onTimeout, ...(config.prepareImage ? { prepareImage: config.prepareImage } : {}) },
          onWorkerError: (err) => config.logger.error({ err }, 'admission worker failed'),
        })
      : undefined
  const app = buildApp(
    { catalog: config.catalog, metrics, logger: config.logger, ready: () => pool?.ready ?? true, ...(pool ? { pool } : {}) },
    {
      tls,
      deadlineMs: config.deadlineMs,
      onTimeout: config.onTimeout,
      ...(config.prepareImage ? { prepareImage: config.prepareImage } : {}),
      ...(clientCa ? { clientCa } : {}),
      limits: connectionLimits(config.deadlineMs, config.maxConnections),
    },
  )
  try {
    await pool?.started()
    await app.listen({ host: config.host, port: config.port })
  } catch (err) {
    await pool?.close()
    throw err
  }
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  // A new secure context replaces the whole old one, so each reload passes everything: the pair and the client CA.
  let pair: KeyPair = tls
  const applyContext = (): void => app.server.setSecureContext({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2', ...(clientCa ? { ca: clientCa } : {}) })
  const watches: CertificateWatch[] = [
    watchCertificates({
      certFile: config.certFile,
      keyFile: config.keyFile,
      debounceMs: config.certDebounceMs ?? 200,
      onReload(next) {
        pair = next
        applyContext()
        config.logger.info({ certFile: config.certFile }, 'serving certificate reloaded')
      },
      onError(err) {
        config.logger.warn({ err: err.message, certFile: config.certFile }, 'certificate files changed but cannot be used yet; still serving the previous pair')
      },
    }),
  ]
  if (config.clientCaFile !== undefined) {
    const clientCaFile = config.clientCaFile
    watches.push(
      watchClientCa({
        file: clientCaFile,
        debounceMs: config.certDebounceMs ?? 200,
        onReload(next) {
          clientCa = next
          applyContext()
          config.logger.info({ clientCaFile }, 'client CA reloaded')
        },
        onError(err) {
          config.logger.warn({ err: err.message, clientCaFile }, 'client CA file changed but cannot be used yet; still trusting the previous one')
        },
      }),
    )
  }
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  return {
    app,
    metrics,
    port,
    url: `https://${host}:${port}`,
    async close() {
      for (const w of watches) w.close()
      await app.close()
      await pool?.close()
    },
  }
}
