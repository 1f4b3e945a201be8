// The webhook's HTTP surface. Everything it uses arrives as a dependency, so
// tests build this exact server with real parts and look at its metrics.

import Fastify, { type FastifyError, LogController } from 'fastify'
import type { Logger } from 'pino'
import type { Catalog } from '../resolution/catalog.ts'
import { decodeReview } from '../admission/decode.ts'
import { type MutateOptions, mutate, resourceOf } from '../admission/mutate.ts'
import { validateStepActionRequest } from '../admission/validate.ts'
import type { AdmissionRequest, AdmissionResponse, AdmissionReview } from '../types/admission.ts'
import type { Metrics } from './metrics.ts'
import type { KeyPair } from './certificates.ts'

/** object + oldObject at the API server's 3 MiB cap, plus the envelope. */
export const bodyLimit = 7 * 1024 * 1024

export interface ServerDeps {
  catalog: Catalog
  metrics: Metrics
  logger: Logger
  /** True once the catalog has loaded; /readyz reports it. */
  ready: () => boolean
}

export interface ServerOptions extends MutateOptions {
  tls: KeyPair
}

function reviewOf(response: AdmissionResponse): AdmissionReview {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }
}

function objectName(request: AdmissionRequest): string | undefined {
  const meta = request.object?.metadata
  return request.name || meta?.name || (meta?.generateName ? `${meta.generateName}*` : undefined)
}

/** Maps body-parsing failures to the status a caller can act on. */
function clientError(err: FastifyError): { status: number; message: string } | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, message: 'Content-Type must be application/json' }
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, message: `body is larger than ${bodyLimit} bytes` }
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, message: 'body is empty: expected an AdmissionReview' }
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, message: err.message }
  }
  if (err instanceof SyntaxError || (err.statusCode === 400 && /JSON|Unexpected/i.test(err.message))) {
    return { status: 400, message: `body is not valid JSON: ${err.message}` }
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return { status: err.statusCode, message: err.message }
  return undefined
}

export function buildApp(deps: ServerDeps, options: ServerOptions) {
  const app = Fastify({
    https: { cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2' },
    bodyLimit,
    loggerInstance: deps.logger,
    // Through logController: the top-level disableRequestLogging is deprecated
    // (FSTDEP023) and printed a warning to stderr on every start.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // Kubernetes objects never carry these keys; dropping them beats a misleading "not JSON".
    onProtoPoisoning: 'remove',
    onConstructorPoisoning: 'remove',
  })
  // AdmissionReviews are JSON; anything else is the caller's mistake (415), not something to guess at.
  app.removeContentTypeParser('text/plain')

  // Draining: on close fastify reaps the keep-alive connections that are idle
  // at that moment, but a connection whose request is still in flight stays
  // open after its response (the API server keeps connections alive), so
  // server.close() never finished and every SIGTERM under traffic ran into the
  // grace period and exit 1. Responses sent while closing tell the client to
  // hang up, so the connection ends with the request.
  let draining = false
  app.addHook('preClose', async () => {
    draining = true
  })
  app.addHook('onSend', async (_request, reply, payload) => {
    if (draining) reply.header('connection', 'close')
    return payload
  })

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const known = clientError(err)
    if (known) {
      request.log.info({ status: known.status, reason: known.message, url: request.url }, 'bad request')
      return reply.code(known.status).send({ error: known.message })
    }
    request.log.error({ err }, 'request failed')
    return reply.code(500).send({ error: 'internal error' })
  })

  const admit =
    (endpoint: 'mutate' | 'validate') => async (request: { body: unknown; log: Logger }, reply: { code(n: number): { send(b: unknown): unknown } }) => {
      const started = process.hrtime.bigint()
      const decoded = decodeReview(request.body)
      if ('error' in decoded) {
        request.log.info({ endpoint, reason: decoded.error }, 'bad admission review')
        return reply.code(400).send({ error: decoded.error })
      }
      const req = decoded.request
      let response: AdmissionResponse
      let outcome: string
      let expandedSteps = 0
      try {
        if (endpoint === 'mutate') {
          const result = await mutate(req, deps.catalog, options)
          response = result.response
          outcome = result.outcome
          expandedSteps = result.expandedSteps
        } else {
          const result = validateStepActionRequest(req)
          response = result.response
          outcome = response.allowed ? 'valid' : 'denied'
        }
      } catch (err) {
        // A bug of ours must still reach the user as a decision they can read, not a bare 500.
        request.log.error({ err, uid: req.uid }, 'admission failed')
        const message = `stepsplice failed on this request (uid ${req.uid}): ${err instanceof Error ? err.message : String(err)}; the webhook's log has details`
        response = { uid: req.uid, allowed: false, status: { code: 500, reason: 'InternalError', message } }
        outcome = 'error'
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      const resource = resourceOf(req)
      deps.metrics.observe({ endpoint, resource, outcome, allowed: response.allowed, seconds, expandedSteps })
      request.log.info(
        {
          endpoint,
          uid: req.uid,
          kind: req.kind.kind,
          namespace: req.namespace ?? req.object?.metadata?.namespace,
          name: objectName(req),
          operation: req.operation,
          dryRun: req.dryRun === true,
          outcome,
          allowed: response.allowed,
          durationMs: Math.round(seconds * 1e6) / 1e3,
          expandedSteps,
        },
        'admission',
      )
      return reply.code(200).send(reviewOf(response))
    }

  app.post('/mutate', admit('mutate'))
  app.post('/validate', admit('validate'))
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_request, reply) => (deps.ready() ? { status: 'ready' } : reply.code(503).send({ status: 'catalog not loaded' })))
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType)
    return deps.metrics.registry.metrics()
  })
  return app
}

export type WebhookApp = ReturnType<typeof buildApp>
