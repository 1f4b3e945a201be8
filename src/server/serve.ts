// Starting and stopping the webhook: listen with the current certificate,
// follow certificate rotation, and close gracefully.

import type { Logger } from 'pino'
import type { Catalog } from '../resolution/catalog.ts'
import type { OnTimeout } from '../admission/mutate.ts'
import { buildApp, type WebhookApp } from './app.ts'
import { type CertificateWatch, type KeyPair, readClientCa, readKeyPair, watchCertificates, watchClientCa } from './certificates.ts'
import { connectionLimits } from './limits.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import { type HealthServer, startHealthServer } from './health.ts'
import { AdmissionPool } from './pool.ts'
import { logBrokenDefinitions } from './catalog-reports.ts'
import type { PolicyFeed } from './policy-feed.ts'

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
  /** Plain-HTTP port for /metrics, /healthz and /readyz (health.ts); unset: none. */
  metricsPort?: number
  /** Write TaskRuns' taskRefs out as their Tasks' specs when the catalog holds Tasks (default true). */
  inlineTaskRefs?: boolean
  /** Kinds of reference that must resolve at admission (--require-resolution); others left for Tekton with a warning. */
  requireResolution?: readonly string[]
  /** Users the Tekton controller runs as (`--tekton-controller`). */
  tektonControllers?: readonly string[]
  /** The step policies in force: `--policy` files (fixedFeed) or the cluster's (ClusterPolicies). */
  policies?: PolicyFeed
  /** stepsplice's version, for stepsplice_build_info. */
  version?: string
}

export interface RunningServer {
  app: WebhookApp
  metrics: Metrics
  /** `https://host:port`, with the port actually bound (useful with port 0). */
  url: string
  port: number
  /** The plain-HTTP metrics and health port actually bound, when one was asked for. */
  metricsPort?: number
  /** Stops accepting, lets in-flight requests finish, then resolves. */
  close(): Promise<void>
}

export async function startServer(config: ServeConfig): Promise<RunningServer> {
  const tls = await readKeyPair(config.certFile, config.keyFile)
  let clientCa = config.clientCaFile === undefined ? undefined : await readClientCa(config.clientCaFile)
  const catalog = config.catalog
  const metrics = createMetrics(() => catalog.size, {
    version: config.version ?? 'unknown',
    ...(catalog.brokenDefinitions === undefined ? {} : { brokenDefinitions: () => catalog.brokenDefinitions?.() ?? [] }),
    ...(config.policies === undefined ? {} : { policies: config.policies.listed() }),
  })
  const feed = config.policies
  const stopPolicyMetrics = feed?.subscribe(() => metrics.policiesChanged(feed.listed()))
  const namespaceLabels = feed?.namespaceLabels?.bind(feed)
  const settings = {
    deadlineMs: config.deadlineMs,
    onTimeout: config.onTimeout,
    ...(config.prepareImage ? { prepareImage: config.prepareImage } : {}),
    ...(config.inlineTaskRefs === undefined ? {} : { inlineTaskRefs: config.inlineTaskRefs }),
    tasks: config.catalog.resolveTask !== undefined,
    authoritative: config.catalog.authoritative === true,
    ...(config.requireResolution === undefined ? {} : { requireResolution: [...config.requireResolution] }),
    ...(config.tektonControllers === undefined ? {} : { tektonControllers: [...config.tektonControllers] }),
    ...(namespaceLabels === undefined ? {} : { askNamespaceLabels: true }),
  }
  const pool =
    config.workers > 0
      ? new AdmissionPool({
          size: config.workers,
          catalog: config.catalog,
          settings,
          ...(feed === undefined ? {} : { policies: feed }),
          ...(namespaceLabels === undefined ? {} : { namespaceLabels }),
          onWorkerError: (err) => config.logger.error({ err }, 'admission worker failed'),
        })
      : undefined
  // Ready when every worker is up and the catalog holds what it serves (a cluster catalog has synced):
  // a replica that answers before its cache is warm denies or skips what it should expand.
  const notReady = (): string | undefined => {
    if (!(pool?.ready ?? true)) return 'admission workers starting'
    if (!(config.catalog.ready ?? true)) return 'catalog not synced'
    if (!(feed?.ready ?? true)) return 'step policies not synced'
    return undefined
  }
  const app = buildApp(
    {
      catalog: config.catalog,
      metrics,
      logger: config.logger,
      ready: () => notReady() === undefined,
      ...(pool ? { pool } : {}),
      ...(feed === undefined ? {} : { policies: feed }),
      ...(namespaceLabels === undefined ? {} : { namespaceLabels }),
    },
    {
      tls,
      ...settings,
      ...(clientCa ? { clientCa } : {}),
      limits: connectionLimits(config.deadlineMs, config.maxConnections),
    },
  )
  let health: HealthServer | undefined
  try {
    await pool?.started()
    await app.listen({ host: config.host, port: config.port })
    if (config.metricsPort !== undefined) health = await startHealthServer({ metrics, notReady }, config.host, config.metricsPort)
  } catch (err) {
    await app.close()
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
      served: tls,
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
  if (config.clientCaFile !== undefined && clientCa !== undefined) {
    const clientCaFile = config.clientCaFile
    watches.push(
      watchClientCa({
        file: clientCaFile,
        served: clientCa,
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
  // What the catalog read but cannot serve is logged as it is read: what was broken at load now, each change after.
  const stopReports = catalog.watchBroken?.(logBrokenDefinitions(config.logger))
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  return {
    app,
    metrics,
    port,
    url: `https://${host}:${port}`,
    ...(health === undefined ? {} : { metricsPort: health.port }),
    async close() {
      stopReports?.()
      stopPolicyMetrics?.()
      for (const w of watches) w.close()
      await app.close()
      await health?.close()
      await pool?.close()
    },
  }
}
