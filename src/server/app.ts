// The webhook's HTTP surface. Everything it uses arrives as a dependency, so
// tests build this exact server with real parts and look at its metrics.

import Fastify, { type FastifyError, LogController } from 'fastify'
import type { Logger } from 'pino'
import { deadlineAnswer, type Endpoint, failureAnswer, type Handled, handleAdmission, handlePodAdmission } from '../admission/handle.ts'
import type { MutateOptions } from '../admission/mutate.ts'
import { truncateText } from '../problems/truncate.ts'
import type { PolicySource } from '../policy/types.ts'
import type { Catalog, ResolveOptions } from '../resolution/catalog.ts'
import { waitFor } from './label-wait.ts'
import type { KeyPair } from './certificates.ts'
import { type ConnectionLimits, connectionLimits } from './limits.ts'
import type { Metrics } from './metrics.ts'
import type { AdmissionPool, PoolAnswer } from './pool.ts'

/** Bodies a Pod passing through may have to be answered on the server's thread (passesThrough). */
const passThroughBytes = 64 * 1024
/** An AdmissionReview whose `request.kind` is a Pod: `"kind": {…, "kind": "Pod"}`. */
const podRequest = /"kind"\s*:\s*\{[^{}]*"kind"\s*:\s*"Pod"/

/** object + oldObject at the API server's 3 MiB cap, plus the envelope. */
export const bodyLimit = 7 * 1024 * 1024

export interface ServerDeps {
  catalog: Catalog
  metrics: Metrics
  logger: Logger
  /** True once the catalog has loaded; /readyz reports it. */
  ready: () => boolean
  /**
   * Worker threads that answer admissions, so the deadline holds for any
   * input (see pool.ts). Without one, admissions run on the server's own
   * thread: for tests and debugging, where nothing can stop a slow request.
   */
  pool?: AdmissionPool
  /** The step policies in force, read for each request. */
  policies?: PolicySource
  /** Namespaces' labels as the server knows them (cluster mode). */
  namespaceLabels?: (namespace: string, waitMs: number) => Promise<Record<string, string> | undefined>
}

export interface ServerOptions extends MutateOptions {
  tls: KeyPair
  /** CA bundle (PEM) that client certificates must chain to; without it no client certificate is asked for. */
  clientCa?: Buffer
  /** Timeouts and counts for connections; derived from deadlineMs when absent. */
  limits?: ConnectionLimits
}

/** A caller's string for a log field: bounded, and absent stays absent. */
function logged(value: unknown): string | undefined {
  return value === undefined || value === null ? undefined : truncateText(String(value))
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
      return { status: 400, message: truncateText(err.message) }
  }
  // Parser messages quote the body they choke on: bounded before they reach the caller or the log.
  if (err instanceof SyntaxError || (err.statusCode === 400 && /JSON|Unexpected/i.test(err.message))) {
    return { status: 400, message: `body is not valid JSON: ${truncateText(err.message)}` }
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return { status: err.statusCode, message: truncateText(err.message) }
  return undefined
}

export function buildApp(deps: ServerDeps, options: ServerOptions) {
  const limits = options.limits ?? connectionLimits(options.deadlineMs)
  const app = Fastify({
    https: {
      cert: options.tls.cert,
      key: options.tls.key,
      minVersion: 'TLSv1.2',
      // With a client CA, a client without a certificate from it fails the handshake: it never reaches HTTP.
      ...(options.clientCa ? { ca: options.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
      // Node's own server options, which fastify does not set (see limits.ts for each value's reason).
      handshakeTimeout: limits.handshakeTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: limits.checkIntervalMs,
      maxHeaderSize: limits.maxHeaderSize,
    },
    // Fastify writes these onto the server after creating it, so they are given to it, not in https.
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    maxRequestsPerSocket: limits.maxRequestsPerSocket,
    bodyLimit,
    loggerInstance: deps.logger,
    // Through logController: the top-level disableRequestLogging is deprecated
    // (FSTDEP023) and printed a warning to stderr on every start.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  })
  app.server.maxConnections = limits.maxConnections
  // AdmissionReviews are JSON; anything else is the caller's mistake (415), not something to guess at.
  app.removeContentTypeParser('text/plain')
  // The body stays text here: parsing it (losslessly, see json/parse-json.ts) is part of the
  // admission work a worker does, so even a 7 MiB body never holds up this thread's other requests.
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (_request, body, done) => done(null, body))

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
  // A callback, not an async function: every response passes here, and a promise each was work for nothing.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (draining) reply.header('connection', 'close')
    done(null, payload)
  })

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const known = clientError(err)
    if (known) {
      request.log.info({ status: known.status, reason: known.message, url: logged(request.url) }, 'bad request')
      return reply.code(known.status).send({ error: known.message })
    }
    request.log.error({ err }, 'request failed')
    return reply.code(500).send({ error: 'internal error' })
  })
  // Fastify's own 404 body repeats the whole URL the caller sent.
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: `no route ${logged(request.method)} ${logged(request.url)}` }))

  /** What a pool's answer means for the caller. */
  const answerOf = (answer: PoolAnswer): Handled | undefined => {
    if ('handled' in answer) return answer.handled
    if ('timedOut' in answer) return answer.fields === undefined ? undefined : deadlineAnswer(answer.fields, options, answer.resolving)
    if ('failed' in answer) return answer.fields === undefined ? undefined : failureAnswer(answer.fields, answer.failed)
    return undefined
  }

  /** The options of a request answered on this thread: the policies in force now. */
  const inThread = (): MutateOptions => {
    const policies = deps.policies?.current().policies ?? []
    const labels = deps.namespaceLabels
    return {
      ...options,
      ...(policies.length === 0 ? {} : { policies }),
      ...(labels === undefined ? {} : { namespaceLabels: (namespace: string, o: ResolveOptions) => labels(namespace, waitFor(o)) }),
    }
  }

  /**
   * A Pod that does not mention stepsplice, while no step policy is in force:
   * nothing to splice or judge, so its answer is "allowed, unchanged" and the
   * round trip to a worker would be most of its cost. It is answered here by
   * the same handleAdmission, when its body is small enough (64 KiB) that
   * parsing it cannot hold this thread up; anything else goes to a worker.
   */
  const passesThrough = (endpoint: Endpoint, body: string): boolean =>
    endpoint === 'mutate' &&
    body.length <= passThroughBytes &&
    !body.includes('stepsplice') &&
    podRequest.test(body) &&
    (deps.policies?.current().policies.length ?? 0) === 0

  const admit =
    (endpoint: Endpoint) =>
    async (request: { body: unknown; log: Logger }, reply: { code(n: number): { send(b: unknown): unknown }; type(t: string): unknown }) => {
      const started = process.hrtime.bigint()
      const body = typeof request.body === 'string' ? request.body : ''
      let handled: Handled | undefined
      let overloaded = false
      if (deps.pool === undefined) handled = await handleAdmission(endpoint, body, deps.catalog, inThread())
      else if (passesThrough(endpoint, body)) {
        // The text only looks like a Pod's: what the request really is is known once decoded, and anything else goes to a worker.
        handled = await handlePodAdmission(endpoint, body, deps.catalog, inThread())
      }
      if (deps.pool !== undefined && handled === undefined) {
        const answer = await deps.pool.run(endpoint, body, options.deadlineMs)
        overloaded = 'overloaded' in answer
        handled = answerOf(answer)
      }
      if (handled === undefined) {
        // Not even decoded: no uid to answer with, so not an AdmissionReview; the webhook's failurePolicy decides.
        const error = overloaded
          ? 'stepsplice is overloaded: too many admissions waiting'
          : `stepsplice could not read the request within ${options.deadlineMs} ms`
        request.log.warn({ endpoint, reason: error }, 'admission not answered')
        return reply.code(503).send({ error })
      }
      if (handled.reason !== undefined) {
        if (handled.notJson === true) request.log.info({ status: handled.status, reason: handled.reason, url: `/${endpoint}` }, 'bad request')
        else request.log.info({ endpoint, reason: handled.reason }, 'bad admission review')
        reply.type('application/json')
        return reply.code(handled.status).send(handled.body)
      }
      if (handled.failure !== undefined) request.log.error({ err: handled.failure, uid: handled.fields?.uid }, 'admission failed')
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      const fields = handled.fields
      if (fields !== undefined) {
        deps.metrics.observe({
          endpoint,
          resource: fields.resource,
          outcome: handled.outcome,
          allowed: handled.allowed,
          seconds,
          expandedSteps: handled.expandedSteps,
        })
        if (handled.policyReport !== undefined) deps.metrics.policiesEvaluated(handled.policyReport)
        // The line's fields are built only when it is written: at --log-level warn an admission costs no log work.
        if (request.log.isLevelEnabled('info')) {
          // One literal: taking the fields apart with a rest pattern and spreading them again cost ten times as much.
          request.log.info(
            {
              endpoint: fields.endpoint,
              uid: fields.uid,
              kind: fields.kind,
              namespace: fields.namespace,
              name: fields.name,
              operation: fields.operation,
              dryRun: fields.dryRun,
              outcome: handled.outcome,
              allowed: handled.allowed,
              durationMs: Math.round(seconds * 1e6) / 1e3,
              expandedSteps: handled.expandedSteps,
            },
            'admission',
          )
        }
      }
      reply.type('application/json')
      return reply.code(handled.status).send(handled.body)
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
