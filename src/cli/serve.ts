// `stepsplice serve`: flags to configuration, then the server, until SIGTERM.

import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import { pino, type Level } from 'pino'
import type { OnTimeout } from '../admission/mutate.ts'
import { DirectoryCatalog } from '../resolution/directory.ts'
import { type RunningServer, startServer } from '../server/serve.ts'
import { defaultMaxConnections } from '../server/limits.ts'
import { defaultPrepareImage } from '../pods/expand.ts'
import { parseDuration } from './duration.ts'
import { type CliIO, UsageError } from './io.ts'

export const serveHelp = `Usage: stepsplice serve --catalog DIR [--catalog DIR...] [options]

Serves the admission webhook over HTTPS:
  POST /mutate    AdmissionReview v1 for TaskRuns, PipelineRuns and Pods: JSON patch
  POST /validate  AdmissionReview v1 for StepActions: Tekton's validation
  GET  /healthz   process alive
  GET  /readyz    catalog loaded
  GET  /metrics   Prometheus metrics

Options:
  --catalog DIR        directory of StepAction YAML/JSON files (repeatable, required)
  --port N             port to listen on (default 8443; 0 picks a free one)
  --host ADDR          address to bind (default 0.0.0.0)
  --tls-cert FILE      serving certificate, PEM (default certs/tls.crt);
                       reloaded when the file changes
  --tls-key FILE       its private key, PEM (default certs/tls.key)
  --client-ca FILE     require a client certificate signed by a CA in this PEM
                       file (the API server's; see deploy/README.md); a client
                       without one fails the TLS handshake. Reloaded when the
                       file changes. Default: no client certificate asked for
  --deadline DUR       answer within this time, e.g. 4s or 750ms (default 4s);
                       keep it below the webhook's timeoutSeconds. A request
                       must also arrive within it (at least 1s, at most 30s):
                       a slower client gets 408 and is disconnected
  --max-connections N  connections open at once; more are closed on arrival
                       (default ${defaultMaxConnections}). Fixed limits besides: a kept-alive
                       connection may idle 95s (longer than the API server
                       keeps one), the TLS handshake has a request's time
                       limit, request headers are at most 8 KiB (else 431)
  --on-timeout MODE    deny (default) or allow (admit unexpanded, with a
                       warning) when the deadline passes
  --grace-period DUR   on SIGTERM, how long in-flight requests may take
                       (default 25s)
  --log-level LEVEL    trace, debug, info (default), warn, error, fatal
  --prepare-image IMG  image of the init container that writes Pod step
                       scripts; needs sh and base64 (default ${defaultPrepareImage})
  --workers N          threads that answer admissions (default: one per CPU
                       but one, at least 1; here ${defaultWorkers()}); past its deadline a request is answered
                       and its thread replaced, so no input holds the server
                       up. 0 answers on the server's own thread (debugging)
  -h, --help           show this help

The catalog directories are watched (a mounted ConfigMap included): changes
apply without a restart; a file that breaks keeps its last good definitions.
`

/** One CPU stays with the server's own thread (TLS, HTTP, the clock): measured, /healthz under load was steadier so. */
function defaultWorkers(): number {
  return Math.max(1, availableParallelism() - 1)
}

const levels = new Set<Level>(['trace', 'debug', 'info', 'warn', 'error', 'fatal'])

/** setTimeout's ceiling: a longer timer fires after 1 ms instead (TimeoutOverflowWarning). */
const maxTimerMs = 2 ** 31 - 1

function duration(flag: string, text: string): number {
  const ms = parseDuration(text)
  if (ms === undefined || ms <= 0) throw new UsageError(`${flag} must be a duration such as 4s or 750ms, not ${JSON.stringify(text)}`)
  // Past the ceiling, `--deadline 600h` silently meant 1 ms: every admission timed out.
  if (ms > maxTimerMs) throw new UsageError(`${flag} must be at most ${maxTimerMs} ms (about 24 days), not ${JSON.stringify(text)}`)
  return ms
}

export async function runServe(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      catalog: { type: 'string', multiple: true },
      port: { type: 'string', default: '8443' },
      host: { type: 'string', default: '0.0.0.0' },
      'tls-cert': { type: 'string', default: 'certs/tls.crt' },
      'tls-key': { type: 'string', default: 'certs/tls.key' },
      'client-ca': { type: 'string' },
      'max-connections': { type: 'string', default: String(defaultMaxConnections) },
      deadline: { type: 'string', default: '4s' },
      'on-timeout': { type: 'string', default: 'deny' },
      'grace-period': { type: 'string', default: '25s' },
      'log-level': { type: 'string', default: 'info' },
      'prepare-image': { type: 'string', default: defaultPrepareImage },
      workers: { type: 'string', default: String(defaultWorkers()) },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    io.stdout(serveHelp)
    return 0
  }
  // Digits only: Number() reads "" (an unset $PORT) as 0, a random port, and accepts 1e3 or 0x1f.
  const port = /^\d+$/.test(values.port) ? Number(values.port) : Number.NaN
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0 to 65535, not ${JSON.stringify(values.port)}`)
  const maxConnections = /^\d+$/.test(values['max-connections']) ? Number(values['max-connections']) : Number.NaN
  if (!Number.isSafeInteger(maxConnections) || maxConnections < 1) {
    throw new UsageError(`--max-connections must be a whole number of at least 1, not ${JSON.stringify(values['max-connections'])}`)
  }
  const workers = /^\d+$/.test(values.workers) ? Number(values.workers) : Number.NaN
  if (!Number.isSafeInteger(workers) || workers > 256)
    throw new UsageError(`--workers must be a whole number from 0 to 256, not ${JSON.stringify(values.workers)}`)
  const clientCaFile = values['client-ca']
  if (clientCaFile === '') throw new UsageError('--client-ca needs a file')
  const onTimeout = values['on-timeout']
  if (onTimeout !== 'deny' && onTimeout !== 'allow') throw new UsageError(`--on-timeout must be deny or allow, not ${JSON.stringify(onTimeout)}`)
  const level = values['log-level'] as Level
  if (!levels.has(level)) throw new UsageError(`--log-level must be one of ${[...levels].join(', ')}`)
  const deadlineMs = duration('--deadline', values.deadline)
  const graceMs = duration('--grace-period', values['grace-period'])
  const dirs = values.catalog ?? []
  if (dirs.length === 0) throw new UsageError('at least one --catalog DIR is required')

  const logger = pino({ level, base: { service: 'stepsplice' } })
  let catalog: DirectoryCatalog
  try {
    catalog = await DirectoryCatalog.load(dirs)
  } catch (err) {
    throw new UsageError(`cannot read catalog: ${(err as Error).message}`)
  }
  for (const w of catalog.loadWarnings) logger.warn({ catalog: dirs }, w)
  let server: RunningServer
  try {
    server = await startServer({
      host: values.host,
      port,
      certFile: values['tls-cert'],
      keyFile: values['tls-key'],
      catalog,
      logger,
      deadlineMs,
      onTimeout: onTimeout as OnTimeout,
      prepareImage: values['prepare-image'],
      maxConnections,
      workers,
      ...(clientCaFile === undefined ? {} : { clientCaFile }),
    })
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e.code === 'ENOENT' && clientCaFile !== undefined && e.path === clientCaFile)
      throw new UsageError(`cannot read --client-ca ${clientCaFile}: no such file`)
    if (e.code === 'ENOENT') throw new UsageError(`cannot read ${e.path ?? 'certificate'}: run "make certs" or pass --tls-cert/--tls-key`)
    throw new UsageError(`cannot start: ${e.message}`)
  }
  logger.info(
    { url: server.url, definitions: catalog.size, deadlineMs, onTimeout, clientCa: clientCaFile ?? null, maxConnections, workers },
    'stepsplice webhook listening',
  )
  const watch = catalog.watch({
    onReload(r) {
      server.metrics.catalogReloaded(r)
      // A periodic re-scan that found nothing new says nothing: its warnings were logged when they appeared.
      if (!r.changed) return
      logger.info({ catalog: dirs, definitions: r.definitions, keptLastGood: r.keptLastGood }, 'catalog reloaded')
      for (const w of r.warnings) logger.warn({ catalog: dirs }, w)
    },
    onError(err) {
      server.metrics.catalogReloadFailed()
      logger.error({ catalog: dirs, err: err.message }, 'catalog reload failed')
    },
  })

  return new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal, graceMs }, 'shutting down: finishing in-flight requests')
      const force = setTimeout(() => {
        logger.error({ graceMs }, 'grace period over with requests still in flight')
        resolve(1)
      }, graceMs)
      Promise.all([watch.close(), server.close()]).then(() => {
        clearTimeout(force)
        logger.info('stopped')
        resolve(0)
      })
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
  })
}
