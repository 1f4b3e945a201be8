// `stepsplice serve`: flags to configuration, then the server, until SIGTERM.

import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import { pino, type Level } from 'pino'
import type { OnTimeout } from '../admission/mutate.ts'
import type { KubeConfig } from '@kubernetes/client-node'
import { BatchedOutput } from '../server/log-output.ts'
import type { ClusterCatalog, ResourceStatus } from '../resolution/cluster.ts'
import type { ClusterPolicies, InvalidPolicyReport } from '../server/cluster-policies.ts'
import { fixedFeed } from '../server/policy-feed.ts'

/** The service account Tekton Pipelines' release runs its controller as. */
const defaultTektonController = 'system:serviceaccount:tekton-pipelines:tekton-pipelines-controller'
import { DirectoryCatalog } from '../resolution/directory.ts'
import { type Layer, LayeredCatalog } from '../resolution/layered.ts'
import { loadKubeConfig } from '../resolution/kube-config.ts'
import { type RunningServer, startServer } from '../server/serve.ts'
import { defaultMaxConnections } from '../server/limits.ts'
import { defaultPrepareImage } from '../pods/expand.ts'
import { parseDuration } from './duration.ts'
import { packageVersion, userAgent } from './version.ts'
import { type CliIO, InputError, RuntimeError, UsageError, fsReason, fsPath, type CommandModule } from './io.ts'
import { loadPolicyFlags, policyHelp, policyOptions } from './policy-flags.ts'
import { parseResolutionFlags, resolutionHelp, resolutionOptions } from './resolution-flags.ts'

export const serveHelp = `Usage: stepsplice serve [--kube] [--catalog DIR...] [options]

Serves the admission webhook over HTTPS:
  POST /mutate    AdmissionReview v1 for TaskRuns, PipelineRuns and Pods:
                  a JSON patch
  POST /validate  AdmissionReview v1 for StepActions (Tekton's validation),
                  TaskGroups, step policies, and updates of a run's
                  provenance annotation (refused)
  GET  /healthz   process alive
  GET  /readyz    workers started and catalog synced
  GET  /metrics   Prometheus metrics

Options:
  --kube               watch StepActions and Tasks in the cluster (in-cluster
                       service account, else KUBECONFIG or --kubeconfig); at
                       least one of --kube and --catalog is required. The
                       cluster wins over directories for the same name
  --kubeconfig FILE    kubeconfig to use with --kube
  --catalog DIR        directory of StepAction YAML/JSON files (repeatable)
  --no-inline-task-refs  leave TaskRuns with a taskRef as they are (default:
                       a Task whose steps reference definitions is written
                       into the TaskRun as its taskSpec and expanded)
  --tekton-controller USER
                       the user Tekton's controller runs as (repeatable;
                       default system:serviceaccount:tekton-pipelines:
                       tekton-pipelines-controller): the TaskRuns it creates
                       for a PipelineRun keep the provenance stepsplice
                       recorded for that PipelineRun (docs/policies.md)
  --metrics-port N     also serve /metrics, /healthz and /readyz over plain
                       HTTP on this port (default: none), for probes and
                       Prometheus, which present no client certificate
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
                       scripts; needs sh and base64
                       (default ${defaultPrepareImage})
  --workers N          threads that answer admissions (default: one per CPU
                       but one, at least 1; here ${defaultWorkers()}); past its
                       deadline a request is answered and its thread
                       replaced, so no input holds the server up. 0 answers
                       on the server's own thread (debugging)
${policyHelp}  -h, --help           show this help

${resolutionHelp}
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

/** Why the server could not start, in one line: these are failures to run, never mistakes in the command line. */
function startFailure(e: NodeJS.ErrnoException & { address?: string; port?: number }, files: { cert: string; key: string; clientCa?: string }): RuntimeError {
  // Reading a directory fails without naming it: then every file that was to be read is named.
  const file = e.path ?? [files.cert, files.key, ...(files.clientCa === undefined ? [] : [files.clientCa])].join(' or ')
  if (e.code === 'EADDRINUSE')
    return new RuntimeError(`cannot listen on ${e.address ?? 'the address'}:${e.port ?? '?'}: the address is in use (another stepsplice? --port picks another)`)
  if (e.code === 'EADDRNOTAVAIL') return new RuntimeError(`cannot listen on ${e.address ?? 'the address'}: no such local address (--host)`)
  if (e.code === 'EACCES' && e.syscall === 'listen')
    return new RuntimeError(`cannot listen on ${e.address ?? 'the address'}:${e.port ?? '?'}: permission denied`)
  if (e.code === 'ENOENT' && files.clientCa !== undefined && e.path === files.clientCa)
    return new RuntimeError(`cannot read --client-ca ${files.clientCa}: no such file`)
  if (e.code === 'ENOENT') return new RuntimeError(`cannot read ${file}: no such file; run "make certs" or pass --tls-cert/--tls-key`)
  if (e.code === 'EACCES' || e.code === 'EISDIR') return new RuntimeError(`cannot read ${file}: ${e.code === 'EACCES' ? 'permission denied' : 'a directory'}`)
  return new RuntimeError(`cannot start: ${e.message}`)
}

export async function runServe(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    allowNegative: true,
    options: {
      kube: { type: 'boolean' },
      kubeconfig: { type: 'string' },
      catalog: { type: 'string', multiple: true },
      ...resolutionOptions,
      ...policyOptions,
      'inline-task-refs': { type: 'boolean', default: true },
      'tekton-controller': { type: 'string', multiple: true, default: [defaultTektonController] },
      'metrics-port': { type: 'string' },
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
  if (dirs.includes('')) throw new UsageError('--catalog needs a directory')
  const kube = values.kube === true
  if (dirs.length === 0 && !kube) throw new UsageError('at least one --catalog DIR, or --kube, is required')
  if (values.kubeconfig !== undefined && !kube) throw new UsageError('--kubeconfig goes with --kube')
  const metricsPort = values['metrics-port'] === undefined ? undefined : /^\d+$/.test(values['metrics-port']) ? Number(values['metrics-port']) : Number.NaN
  if (metricsPort !== undefined && !(Number.isInteger(metricsPort) && metricsPort <= 65535)) {
    throw new UsageError(`--metrics-port must be 0 to 65535, not ${JSON.stringify(values['metrics-port'])}`)
  }
  let resolution: ReturnType<typeof parseResolutionFlags>
  try {
    resolution = parseResolutionFlags(values)
  } catch (err) {
    // A file the server cannot read is its failure to start, not a mistake in the command line.
    if (err instanceof InputError) throw new RuntimeError(err.message)
    throw err
  }

  const logger = pino({ level, base: { service: 'stepsplice' } }, new BatchedOutput(pino.destination({ dest: 1, sync: true })))
  const layers: Layer[] = []
  // Reports arrive before the server (and its metrics) exist: the catalog starts after the server, so they are late-bound.
  let onClusterStatus: (s: ResourceStatus) => void = () => {}
  let cluster: ClusterCatalog | undefined
  let clusterKubeConfig: KubeConfig | undefined
  if (kube) {
    // Loaded only here: the Kubernetes client takes a few hundred milliseconds to load, which `render` and directory-only serving never need.
    const [KubeConfig, { ClusterCatalog }] = await Promise.all([loadKubeConfig(), import('../resolution/cluster.ts')])
    const kubeConfig = new KubeConfig()
    try {
      if (values.kubeconfig !== undefined) kubeConfig.loadFromFile(values.kubeconfig)
      else kubeConfig.loadFromDefault()
    } catch (err) {
      throw new RuntimeError(`cannot load the kubeconfig: ${(err as Error).message}`)
    }
    if (kubeConfig.getCurrentCluster() === null)
      throw new RuntimeError('--kube: no cluster found (not in a Pod, no KUBECONFIG, no ~/.kube/config); pass --kubeconfig')
    cluster = new ClusterCatalog({ kubeConfig, userAgent, onStatus: (s) => onClusterStatus(s) })
    layers.push({ catalog: cluster, origin: 'the cluster' })
    clusterKubeConfig = kubeConfig
  }
  let directory: DirectoryCatalog | undefined
  if (dirs.length > 0) {
    try {
      directory = await DirectoryCatalog.load(dirs)
    } catch (err) {
      throw new RuntimeError(`cannot read catalog ${fsPath(err) ?? dirs.join(', ')}: ${fsReason(err)}`)
    }
    // What it could not serve is logged by the server, one structured line per file (server/catalog-reports.ts).
    layers.push({ catalog: directory, origin: dirs.join(', ') })
  }
  const catalog = new LayeredCatalog(layers, resolution.layered)
  const policies = await loadPolicyFlags(values.policy)
  let onInvalidPolicy: (r: InvalidPolicyReport) => void = () => {}
  let clusterPolicies: ClusterPolicies | undefined
  if (clusterKubeConfig !== undefined) {
    const { ClusterPolicies } = await import('../server/cluster-policies.ts')
    clusterPolicies = new ClusterPolicies({
      kubeConfig: clusterKubeConfig,
      userAgent,
      files: policies ?? [],
      onStatus: (s) => onClusterStatus(s),
      onInvalid: (r) => onInvalidPolicy(r),
    })
  }
  const feed = clusterPolicies ?? (policies === undefined ? undefined : fixedFeed(policies))
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
      inlineTaskRefs: values['inline-task-refs'] !== false,
      tektonControllers: values['tekton-controller'].filter((u) => u !== ''),
      ...(resolution.require === undefined ? {} : { requireResolution: [...resolution.require] }),
      ...(feed === undefined ? {} : { policies: feed }),
      version: packageVersion,
      ...(metricsPort === undefined ? {} : { metricsPort }),
      ...(clientCaFile === undefined ? {} : { clientCaFile }),
    })
  } catch (err) {
    throw startFailure(err as NodeJS.ErrnoException, {
      cert: values['tls-cert'],
      key: values['tls-key'],
      ...(clientCaFile === undefined ? {} : { clientCa: clientCaFile }),
    })
  }
  logger.info(
    {
      url: server.url,
      metricsPort: server.metricsPort ?? null,
      kube,
      definitions: catalog.size,
      deadlineMs,
      onTimeout,
      clientCa: clientCaFile ?? null,
      maxConnections,
      workers,
      ...resolution.summary,
      policies: (policies ?? []).map((p) => `${p.id} (${p.mode})`),
      clusterPolicies: kube,
    },
    'stepsplice webhook listening',
  )
  onClusterStatus = (s) => {
    server.metrics.clusterStatus(s)
    const fields = { resource: s.resource, state: s.state, objects: s.objects, ...(s.lastError === undefined ? {} : { reason: s.lastError }) }
    if (s.state === 'synced') logger.info(fields, 'cluster resource synced')
    else if (s.state === 'syncing') logger.info(fields, 'cluster resource syncing')
    else logger.warn(fields, s.state === 'absent' ? 'cluster resource not served; retrying' : 'cluster resource failing; serving the last known objects')
  }
  onInvalidPolicy = (r) => {
    if (r.errors.length === 0) logger.info({ policy: r.policy }, 'step policy valid again, or deleted')
    else
      logger.error(
        { policy: r.policy, errors: r.errors },
        'step policy is invalid and NOT in force; fix it (kubectl apply runs the same checks through /validate)',
      )
  }
  cluster?.start()
  clusterPolicies?.watches.start()
  const watch = directory?.watch({
    onReload(r) {
      server.metrics.catalogReloaded(r)
      // A periodic re-scan that found nothing new says nothing: its warnings were logged when they appeared.
      if (!r.changed) return
      logger.info({ catalog: dirs, definitions: r.definitions, keptLastGood: r.keptLastGood }, 'catalog reloaded')
    },
    onError(err) {
      server.metrics.catalogReloadFailed()
      logger.error({ catalog: dirs, err: err.message }, 'catalog reload failed')
    },
  })

  /** A repeated signal sooner than this after the first is the same one (see onSignal). */
  const repeatMs = 1000
  return new Promise<number>((done) => {
    const resolve = (code: number): void => {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
      done(code)
    }
    const stop = (signal: string): void => {
      logger.info({ signal, graceMs }, 'shutting down: finishing in-flight requests')
      const force = setTimeout(() => {
        logger.error({ graceMs }, 'grace period over with requests still in flight')
        resolve(1)
      }, graceMs)
      Promise.all([watch?.close(), cluster?.stop(), clusterPolicies?.watches.stop(), server.close()]).then(() => {
        clearTimeout(force)
        logger.info('stopped')
        resolve(0)
      })
    }
    // A signal within a second of the first is the same one again: a terminal's Ctrl-C reaches both the server
    // and a wrapper that passes signals on (bin/stepsplice.js on an older Node), and that repeat must not cut the
    // in-flight requests short. One later is an operator's: stop waiting for them, exit 1.
    let stoppedAt: number | undefined
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stoppedAt === undefined) {
        stoppedAt = Date.now()
        stop(signal)
      } else if (Date.now() - stoppedAt >= repeatMs) {
        logger.error({ signal }, 'signalled again while shutting down: not waiting for requests in flight')
        resolve(1)
      }
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
}

export const command: CommandModule = { run: runServe, help: serveHelp }
