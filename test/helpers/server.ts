// Real parts for server tests: certificates minted by certs/mint.sh into a
// temp dir, the real HTTPS server on 127.0.0.1:0, requests over verified TLS,
// pino writing into a captured stream, and the render CLI run in-process.
// The only double is SlowCatalog, a Catalog that answers late.

import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { rmSync } from 'node:fs'
import { copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import fastJsonPatch, { type Operation } from 'fast-json-patch'
import { pino, type Logger } from 'pino'
import type tap from 'tap'
import type { OnTimeout } from '../../src/admission/mutate.ts'
import type { LoadedPolicy } from '../../src/policy/types.ts'
import type { Resolution, StepReference } from '../../src/definitions/reference.ts'
import type { Catalog, ResolveOptions } from '../../src/resolution/catalog.ts'
import { DirectoryCatalog } from '../../src/resolution/directory.ts'
import { main } from '../../src/cli/main.ts'
import { type RunningServer, startServer } from '../../src/server/serve.ts'
import { fixedFeed } from '../../src/server/policy-feed.ts'
import type { KubeObject } from '../../src/types/k8s.ts'

const run = promisify(execFile)

/** The project root: tests spawn and read files relative to it. */
export const root = fileURLToPath(new URL('../../', import.meta.url))
export const exampleCatalogDir = join(root, 'examples/stepactions')

/** A subtest's `t`, as tap passes it to t.test callbacks. */
export type TapTest = Parameters<Parameters<typeof tap.test>[0]>[0]

/** What a test needs to register cleanup; tap runs teardowns last-in, first-out. */
export interface Teardown {
  teardown(fn: () => unknown): void
}

export async function tempDir(t: Teardown, prefix = 'stepsplice-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

export interface Certs {
  dir: string
  caFile: string
  certFile: string
  keyFile: string
  ca: Buffer
  /** SHA-256 fingerprint of the serving certificate, as getPeerCertificate() reports it. */
  fingerprint256: string
}

export async function certsIn(dir: string): Promise<Certs> {
  const caFile = join(dir, 'ca.crt')
  const certFile = join(dir, 'tls.crt')
  return {
    dir,
    caFile,
    certFile,
    keyFile: join(dir, 'tls.key'),
    ca: await readFile(caFile),
    fingerprint256: new X509Certificate(await readFile(certFile)).fingerprint256,
  }
}

/** A fresh CA and serving certificate, minted by the project's own script. */
export async function mintCerts(t: Teardown, dir?: string): Promise<Certs> {
  const out = dir ?? (await tempDir(t, 'stepsplice-certs-'))
  await run('bash', [join(root, 'certs/mint.sh'), out], { env: { ...process.env, CERT_DAYS: '2' } })
  return certsIn(out)
}

let shared: Promise<Certs> | undefined

/**
 * One pair for every test server of this process that brings none of its
 * own: such servers only read it, so minting one per server was CPU spent for
 * nothing. Removed when the process exits.
 */
function sharedCerts(): Promise<Certs> {
  shared ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stepsplice-certs-'))
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
    await run('bash', [join(root, 'certs/mint.sh'), dir], { env: { ...process.env, CERT_DAYS: '2' } })
    return certsIn(dir)
  })()
  return shared
}

/** Replaces the serving pair in `dir` the way a careful writer does: temp file, then rename. */
export async function replaceServingPair(from: Certs, dir: string): Promise<void> {
  for (const name of ['tls.crt', 'tls.key']) {
    const tmp = join(dir, `.${name}.tmp`)
    await copyFile(join(from.dir, name), tmp)
    await rename(tmp, join(dir, name))
  }
}

export interface LogCapture {
  logger: Logger
  /** Every line written so far, parsed. */
  lines(): Record<string, unknown>[]
  /** The raw text written so far. */
  text(): string
  admissionLines(): Record<string, unknown>[]
}

export function captureLogs(): LogCapture {
  const chunks: string[] = []
  const logger = pino({ level: 'info', base: { service: 'stepsplice' } }, { write: (s: string) => void chunks.push(s) })
  const text = (): string => chunks.join('')
  const lines = (): Record<string, unknown>[] =>
    text()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
  return { logger, lines, text, admissionLines: () => lines().filter((l) => l.msg === 'admission') }
}

/**
 * A catalog that answers `delayMs` late, or never when aborted first: it
 * honours options.signal as a catalog fetching remotely must.
 */
export class SlowCatalog implements Catalog {
  readonly inner: Catalog
  readonly delayMs: number
  /** How many resolutions were cut short by the caller's signal. */
  aborted = 0
  calls = 0

  constructor(inner: Catalog, delayMs: number) {
    this.inner = inner
    this.delayMs = delayMs
  }

  get size(): number {
    return this.inner.size
  }

  resolve(ref: StepReference, options: ResolveOptions = {}): Promise<Resolution> {
    this.calls++
    const { signal } = options
    return new Promise<Resolution>((resolve, reject) => {
      if (signal?.aborted) {
        this.aborted++
        reject(signal.reason)
        return
      }
      const onAbort = (): void => {
        clearTimeout(timer)
        this.aborted++
        reject(signal?.reason)
      }
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort)
        this.inner.resolve(ref, options).then(resolve, reject)
      }, this.delayMs)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}

export function loadExampleCatalog(): Promise<DirectoryCatalog> {
  return DirectoryCatalog.load([exampleCatalogDir])
}

export interface HttpResult {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  /** True when this request went over a connection an earlier request used. */
  reusedSocket: boolean
  localPort: number | undefined
}

export interface RequestOptions {
  method?: string
  headers?: Record<string, string | number>
  /** A string or Buffer is sent as is; anything else as JSON. */
  body?: unknown
  agent?: https.Agent
}

export function httpsRequest(url: string, ca: Buffer | Buffer[], path: string, options: RequestOptions = {}): Promise<HttpResult> {
  const body =
    options.body === undefined ? undefined : typeof options.body === 'string' || Buffer.isBuffer(options.body) ? options.body : JSON.stringify(options.body)
  const headers: Record<string, string | number> = { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers }
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL(path, url),
      { method: options.method ?? (body === undefined ? 'GET' : 'POST'), ca, headers, agent: options.agent ?? false },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
            reusedSocket: req.reusedSocket,
            localPort: res.socket?.localPort,
          }),
        )
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

export interface AdmissionResponseBody {
  uid: string
  allowed: boolean
  status?: { code: number; message: string; reason?: string }
  patchType?: string
  patch?: string
  warnings?: string[]
}

export interface ReviewReply {
  status: number
  body: { apiVersion: string; kind: string; response: AdmissionResponseBody }
  text: string
}

export interface TestServer {
  running: RunningServer
  url: string
  certs: Certs
  logs: LogCapture
  catalog: Catalog
  request(path: string, options?: RequestOptions): Promise<HttpResult>
  /** Posts an AdmissionReview and parses the AdmissionReview that comes back. */
  review(path: '/mutate' | '/validate', review: unknown): Promise<ReviewReply>
  metrics(): Promise<string>
}

export interface TestServerOptions {
  catalog?: Catalog
  certs?: Certs
  /** Serve these files instead of certs' own (for reload tests). */
  certFile?: string
  keyFile?: string
  deadlineMs?: number
  onTimeout?: OnTimeout
  certDebounceMs?: number
  prepareImage?: string
  /** Admission worker threads; the real server's pool, one thread unless a test asks otherwise. */
  workers?: number
  /** Kinds of reference that must resolve (--require-resolution). */
  requireResolution?: string[]
  /** Step policies (--policy). */
  policies?: readonly LoadedPolicy[]
  /** Users the Tekton controller runs as (--tekton-controller). */
  tektonControllers?: string[]
}

export async function startTestServer(t: Teardown, options: TestServerOptions = {}): Promise<TestServer> {
  const certs = options.certs ?? (await sharedCerts())
  const catalog = options.catalog ?? (await loadExampleCatalog())
  const logs = captureLogs()
  const running = await startServer({
    host: '127.0.0.1',
    port: 0,
    certFile: options.certFile ?? certs.certFile,
    keyFile: options.keyFile ?? certs.keyFile,
    catalog,
    logger: logs.logger,
    deadlineMs: options.deadlineMs ?? 5000,
    onTimeout: options.onTimeout ?? 'deny',
    certDebounceMs: options.certDebounceMs ?? 50,
    workers: options.workers ?? 1,
    ...(options.prepareImage === undefined ? {} : { prepareImage: options.prepareImage }),
    ...(options.requireResolution === undefined ? {} : { requireResolution: options.requireResolution }),
    ...(options.policies === undefined ? {} : { policies: fixedFeed(options.policies) }),
    ...(options.tektonControllers === undefined ? {} : { tektonControllers: options.tektonControllers }),
  })
  t.teardown(() => running.close())
  const request = (path: string, o?: RequestOptions): Promise<HttpResult> => httpsRequest(running.url, certs.ca, path, o)
  return {
    running,
    url: running.url,
    certs,
    logs,
    catalog,
    request,
    async review(path, review) {
      const res = await request(path, { body: review })
      let body: ReviewReply['body']
      try {
        body = JSON.parse(res.text) as ReviewReply['body']
      } catch {
        throw new Error(`${path} answered ${res.status} with a body that is not JSON: ${res.text.slice(0, 200)}`)
      }
      return { status: res.status, body, text: res.text }
    },
    async metrics() {
      const res = await request('/metrics')
      if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`)
      return res.text
    },
  }
}

/** The value of one sample in Prometheus text format, or undefined when absent. */
export function sample(metricsText: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of metricsText.split('\n')) {
    if (line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const have = new Map([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]))
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v) && have.size === Object.keys(labels).length) return Number(m[3])
  }
  return undefined
}

let uidCounter = 0

export interface ReviewOverrides {
  uid?: string
  operation?: string
  dryRun?: boolean
  namespace?: string
  name?: string
  kind?: { group: string; version: string; kind: string }
  resource?: { group: string; version: string; resource: string }
}

/** An admission.k8s.io/v1 AdmissionReview for `object`, shaped as the API server sends it. */
export function reviewOf(object: KubeObject | null, overrides: ReviewOverrides = {}): Record<string, unknown> {
  const [group, version] = (object?.apiVersion ?? 'tekton.dev/v1').includes('/') ? (object?.apiVersion ?? '').split('/') : ['', object?.apiVersion ?? 'v1']
  const kind = overrides.kind ?? { group: group ?? '', version: version ?? '', kind: object?.kind ?? 'TaskRun' }
  const resource = overrides.resource ?? { group: kind.group, version: kind.version, resource: `${kind.kind.toLowerCase()}s` }
  const operation = overrides.operation ?? 'CREATE'
  const namespace = overrides.namespace ?? object?.metadata?.namespace ?? 'default'
  const request: Record<string, unknown> = {
    uid: overrides.uid ?? `00000000-0000-4000-8000-${String(++uidCounter).padStart(12, '0')}`,
    kind,
    resource,
    requestKind: kind,
    requestResource: resource,
    namespace,
    operation,
    userInfo: { username: 'tester', groups: ['system:authenticated'] },
    object: operation === 'DELETE' ? null : object,
    oldObject: operation === 'CREATE' ? null : object,
    dryRun: overrides.dryRun ?? false,
    options: { apiVersion: 'meta.k8s.io/v1', kind: operation === 'DELETE' ? 'DeleteOptions' : operation === 'UPDATE' ? 'UpdateOptions' : 'CreateOptions' },
  }
  const name = overrides.name ?? object?.metadata?.name
  if (name !== undefined) request.name = name
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request }
}

export function decodePatch(patch: string): Operation[] {
  return JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as Operation[]
}

/** Applies a base64 JSON patch to a deep copy of `object`, validating every operation. */
export function applyEncodedPatch(object: unknown, patch: string): unknown {
  return fastJsonPatch.applyPatch(structuredClone(object), decodePatch(patch), true, true).newDocument
}

import { captureIO } from './cli.ts'

export { captureIO }

export interface Rendered {
  code: number
  out: string
  err: string
  /** stderr lines starting with "error: ", without the prefix. */
  errors: string[]
  warnings: string[]
}

/** `stepsplice render --catalog examples/stepactions -f FILE -o json [flags]` on `object`, in-process. */
export async function renderObject(t: Teardown, object: unknown, flags: string[] = []): Promise<Rendered> {
  const dir = await tempDir(t, 'stepsplice-render-')
  const file = join(dir, 'object.json')
  await writeFile(file, JSON.stringify(object))
  const io = captureIO()
  const code = await main(['render', '--catalog', exampleCatalogDir, '-f', file, '-o', 'json', ...flags], io)
  const lines = io.err.split('\n')
  return {
    code,
    out: io.out,
    err: io.err,
    errors: lines.filter((l) => l.startsWith('error: ')).map((l) => l.slice('error: '.length)),
    warnings: lines.filter((l) => l.startsWith('Warning: ')).map((l) => l.slice('Warning: '.length)),
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** A bounded wait: polls until `check` holds, failing after a generous ceiling rather than asserting on time. */
export async function until(what: string, check: () => boolean | Promise<boolean>, ceilingMs = 10_000): Promise<void> {
  const deadline = Date.now() + ceilingMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up after ${ceilingMs} ms waiting for ${what}`)
    await sleep(10)
  }
}

/** GET on a plain-HTTP port (the metrics and health port). */
export function plainGet(port: number, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .request({ host: '127.0.0.1', port, path }, (res) => {
        let text = ''
        res.on('data', (c: Buffer) => (text += c.toString()))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      })
      .on('error', reject)
      .end()
  })
}
