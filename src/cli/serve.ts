// `stepsplice serve`: flags to configuration, then the server, until SIGTERM.

import { parseArgs } from 'node:util'
import { pino, type Level } from 'pino'
import type { OnTimeout } from '../admission/mutate.ts'
import { DirectoryCatalog } from '../resolution/directory.ts'
import { type RunningServer, startServer } from '../server/serve.ts'
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
  --deadline DUR       answer within this time, e.g. 4s or 750ms (default 4s);
                       keep it below the webhook's timeoutSeconds
  --on-timeout MODE    deny (default) or allow (admit unexpanded, with a
                       warning) when the deadline passes
  --grace-period DUR   on SIGTERM, how long in-flight requests may take
                       (default 25s)
  --log-level LEVEL    trace, debug, info (default), warn, error, fatal
  --prepare-image IMG  image of the init container that writes Pod step
                       scripts; needs sh and base64 (default ${defaultPrepareImage})
  -h, --help           show this help
`

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
      deadline: { type: 'string', default: '4s' },
      'on-timeout': { type: 'string', default: 'deny' },
      'grace-period': { type: 'string', default: '25s' },
      'log-level': { type: 'string', default: 'info' },
      'prepare-image': { type: 'string', default: defaultPrepareImage },
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
    })
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e.code === 'ENOENT') throw new UsageError(`cannot read ${e.path ?? 'certificate'}: run "make certs" or pass --tls-cert/--tls-key`)
    throw new UsageError(`cannot start: ${e.message}`)
  }
  logger.info({ url: server.url, definitions: catalog.size, deadlineMs, onTimeout }, 'stepsplice webhook listening')

  return new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal, graceMs }, 'shutting down: finishing in-flight requests')
      const force = setTimeout(() => {
        logger.error({ graceMs }, 'grace period over with requests still in flight')
        resolve(1)
      }, graceMs)
      server.close().then(() => {
        clearTimeout(force)
        logger.info('stopped')
        resolve(0)
      })
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
  })
}
