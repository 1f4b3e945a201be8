// An OCI registry for tests of the bundles resolver. Debian's docker-registry
// (the reference implementation, CNCF distribution) when it is installed, so
// the client is checked against the real thing; otherwise, and whenever a test
// needs a knob the real one lacks (bearer tokens, redirected blobs, request
// counts), a fixture that speaks the same distribution API.

import { spawn } from 'node:child_process'
import { createHash, randomUUID } from 'node:crypto'
import { access, constants, writeFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { delimiter, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { readBody, serveLoopback } from './loopback.ts'
import { type Certs, httpsRequest, type Teardown, tempDir } from './server.ts'

export const mediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
} as const

export interface Registry {
  kind: 'docker-registry' | 'fixture'
  /** https://127.0.0.1:PORT */
  url: string
  /** 127.0.0.1:PORT, as image references spell it. */
  host: string
  /** The CA that signed the registry's certificate. */
  ca: Buffer
}

export type RegistryRoute = 'base' | 'token' | 'manifest' | 'blob' | 'upload' | 'storage' | 'other'

export interface RegistryRequest {
  method: string
  path: string
  route: RegistryRoute
  repo: string | undefined
  authorization: string | undefined
  accept: string | undefined
  /** Undefined until answered. */
  status: number | undefined
}

export interface FixtureRegistry extends Registry {
  kind: 'fixture'
  requests: RegistryRequest[]
  /** Requests to `route` (of `repo`, when given), any method and answer. */
  count(route: RegistryRoute, repo?: string): number
  setDelay(ms: number): void
  setHang(hang: boolean): void
}

export interface FixtureOptions {
  certs: Certs
  /** bearer: every /v2/ route wants a token from /token, as Docker Hub, GHCR and most registries do. Default none. */
  auth?: 'none' | 'bearer'
  /** Blob GETs answer 307 to /_storage/, which serves the bytes without the token and refuses a request that brings one (as S3 does). */
  redirectBlobs?: boolean
}

/** Debian's docker-registry when installed, the fixture otherwise (see `kind`). */
export async function startRegistry(t: Teardown, options: { certs: Certs }): Promise<Registry> {
  const binary = await findRegistryBinary()
  return binary === undefined ? startFixtureRegistry(t, options) : startDockerRegistry(t, options.certs, binary)
}

async function findRegistryBinary(): Promise<string | undefined> {
  for (const name of ['docker-registry', 'registry']) {
    for (const dir of (process.env.PATH ?? '').split(delimiter)) {
      const path = join(dir, name)
      try {
        await access(path, constants.X_OK)
      } catch {
        continue
      }
      // `registry` is a common name: take it only when it says it is distribution.
      const version = await output(path, ['--version']).catch(() => '')
      if (/distribution/i.test(version)) return path
    }
  }
  return undefined
}

function output(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let text = ''
    child.stdout.on('data', (c: Buffer) => (text += c.toString()))
    child.stderr.on('data', (c: Buffer) => (text += c.toString()))
    child.on('error', reject)
    child.on('close', () => resolve(text))
  })
}

async function startDockerRegistry(t: Teardown, certs: Certs, binary: string): Promise<Registry> {
  const dir = await tempDir(t, 'stepsplice-registry-')
  // distribution cannot report a port it picked, so one is picked here: free a moment ago, and taken again at once.
  const port = await new Promise<number>((resolve, reject) => {
    const probe = net.createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo
      probe.close(() => resolve(port))
    })
  })
  const config = {
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: join(dir, 'storage') }, delete: { enabled: true } },
    http: { addr: `127.0.0.1:${port}`, tls: { certificate: certs.certFile, key: certs.keyFile } },
  }
  const configFile = join(dir, 'config.yml')
  await writeFile(configFile, JSON.stringify(config)) // JSON is YAML, with no quoting to get wrong
  const child = spawn(binary, ['serve', configFile], { stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  child.stdout.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)))
  child.stderr.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  t.teardown(async () => {
    child.kill()
    await exited
  })
  const url = `https://127.0.0.1:${port}`
  for (let tries = 0; ; tries++) {
    if (child.exitCode !== null) throw new Error(`${binary} exited ${child.exitCode}: ${log}`)
    const ready = await httpsRequest(url, certs.ca, '/v2/').catch(() => undefined)
    if (ready?.status === 200) break
    if (tries >= 200) throw new Error(`${binary} did not answer /v2/ within 10 s: ${log}`)
    await sleep(50)
  }
  return { kind: 'docker-registry', url, host: `127.0.0.1:${port}`, ca: certs.ca }
}

interface StoredManifest {
  mediaType: string
  body: Buffer
  digest: string
}

interface Repository {
  manifests: Map<string, StoredManifest>
  blobs: Map<string, Buffer>
}

const digestPattern = /^sha256:[a-f0-9]{64}$/

export const sha256 = (bytes: Buffer | string): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`

/** The distribution API, in memory: what the bundles resolver reads and what pushBundle writes. */
export async function startFixtureRegistry(t: Teardown, options: FixtureOptions): Promise<FixtureRegistry> {
  const repos = new Map<string, Repository>()
  const uploads = new Map<string, string>()
  const requests: RegistryRequest[] = []
  /** Token → what it grants: `repository:<name>:<actions>`. */
  const tokens = new Map<string, { repo: string; actions: string[] }>()
  let url = ''

  const repoOf = (name: string): Repository => {
    let repo = repos.get(name)
    if (repo === undefined) {
      repo = { manifests: new Map(), blobs: new Map() }
      repos.set(name, repo)
    }
    return repo
  }
  const challenge = (scope?: string): string => `Bearer realm="${url}/token",service="fixture"${scope === undefined ? '' : `,scope="${scope}"`}`

  /** True when the request may go on; otherwise it has been answered 401. */
  const authorized = (req: IncomingMessage, res: ServerResponse, repo: string | undefined, action: 'pull' | 'push'): boolean => {
    if (options.auth !== 'bearer') return true
    const presented = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1]
    const grant = presented === undefined ? undefined : tokens.get(presented)
    if (grant !== undefined && (repo === undefined || (grant.repo === repo && grant.actions.includes(action)))) return true
    const scope = repo === undefined ? undefined : `repository:${repo}:${action === 'push' ? 'pull,push' : 'pull'}`
    fail(res, 401, 'UNAUTHORIZED', 'authentication required', { 'www-authenticate': challenge(scope) })
    return false
  }

  const handle = async (req: IncomingMessage, res: ServerResponse, record: RegistryRequest): Promise<void> => {
    const path = new URL(req.url ?? '/', 'https://placeholder')
    const method = req.method ?? 'GET'
    const read = method === 'GET' || method === 'HEAD'
    const storage = /^\/_storage\/([^/]+)$/.exec(path.pathname)
    const upload = /^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/.exec(path.pathname)
    const blobRoute = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(path.pathname)
    const manifestRoute = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path.pathname)
    res.setHeader('docker-distribution-api-version', 'registry/2.0')

    if (path.pathname === '/token') {
      record.route = 'token'
      if (path.searchParams.get('service') !== 'fixture') return fail(res, 400, 'UNSUPPORTED', 'service must be "fixture"')
      // Anonymous: any scope asked for is granted, as a public repository's token server does.
      const scope = /^repository:(.+):([a-z,]+)$/.exec(path.searchParams.get('scope') ?? '')
      const token = `fixture-${randomUUID()}`
      tokens.set(token, { repo: scope?.[1] ?? '', actions: scope?.[2]?.split(',') ?? [] })
      return json(res, 200, { token, access_token: token, expires_in: 300 })
    }
    if (storage) {
      record.route = 'storage'
      if (req.headers.authorization !== undefined) return fail(res, 400, 'INVALID_ARGUMENT', 'only one auth mechanism allowed: the URL is signed')
      const blob = [...repos.values()].map((r) => r.blobs.get(storage[1] ?? '')).find((b) => b !== undefined)
      if (blob === undefined) return fail(res, 404, 'BLOB_UNKNOWN', 'blob unknown')
      return send(res, method, 200, blob, { 'content-type': 'application/octet-stream' })
    }
    if (path.pathname === '/v2/' || path.pathname === '/v2') {
      record.route = 'base'
      if (!authorized(req, res, undefined, 'pull')) return
      return json(res, 200, {})
    }
    if (upload) {
      const [, name = '', id = ''] = upload
      Object.assign(record, { route: 'upload', repo: name })
      if (!authorized(req, res, name, 'push')) return
      if (method === 'POST' && id === '') {
        const session = randomUUID()
        uploads.set(session, name)
        res.writeHead(202, { location: `/v2/${name}/blobs/uploads/${session}`, 'docker-upload-uuid': session, range: '0-0', 'content-length': '0' })
        return void res.end()
      }
      if (method === 'PUT' && uploads.get(id) === name) {
        // Monolithic: the whole blob in this PUT, its digest in the query.
        const digest = path.searchParams.get('digest') ?? ''
        const body = await readBody(req)
        if (!digestPattern.test(digest) || sha256(body) !== digest) return fail(res, 400, 'DIGEST_INVALID', `digest ${digest} does not match the content`)
        uploads.delete(id)
        repoOf(name).blobs.set(digest, body)
        res.writeHead(201, { location: `/v2/${name}/blobs/${digest}`, 'docker-content-digest': digest, 'content-length': '0' })
        return void res.end()
      }
      return fail(res, 404, 'BLOB_UPLOAD_UNKNOWN', 'upload unknown (only POST, then one monolithic PUT)')
    }
    if (blobRoute) {
      const [, name = '', digest = ''] = blobRoute
      Object.assign(record, { route: 'blob', repo: name })
      if (!read) return fail(res, 405, 'UNSUPPORTED', 'blobs are read here')
      if (!authorized(req, res, name, 'pull')) return
      const blob = repos.get(name)?.blobs.get(digest)
      if (blob === undefined) return fail(res, 404, 'BLOB_UNKNOWN', `blob ${digest} unknown to ${name}`)
      if (options.redirectBlobs === true && method === 'GET') {
        res.writeHead(307, { location: `${url}/_storage/${digest}?X-Amz-Signature=fixture`, 'content-length': '0' })
        return void res.end()
      }
      return send(res, method, 200, blob, { 'content-type': 'application/octet-stream', 'docker-content-digest': digest })
    }
    if (manifestRoute) {
      const [, name = '', reference = ''] = manifestRoute
      Object.assign(record, { route: 'manifest', repo: name })
      if (method === 'PUT') {
        if (!authorized(req, res, name, 'push')) return
        return putManifest(req, res, name, reference)
      }
      if (!read) return fail(res, 405, 'UNSUPPORTED', 'manifests are read or put')
      if (!authorized(req, res, name, 'pull')) return
      const stored = repos.get(name)?.manifests.get(reference)
      if (stored === undefined) return fail(res, 404, 'MANIFEST_UNKNOWN', `manifest ${reference} unknown to ${name}`)
      // As distribution: a manifest is served only in a media type the client listed (no */*, no conversion).
      const accepted = (req.headers.accept ?? '').split(',').map((a) => a.split(';')[0]?.trim())
      if (!accepted.includes(stored.mediaType))
        return fail(res, 404, 'MANIFEST_UNKNOWN', `manifest ${reference} is ${stored.mediaType}, which the Accept header does not list`)
      return send(res, method, 200, stored.body, { 'content-type': stored.mediaType, 'docker-content-digest': stored.digest, etag: `"${stored.digest}"` })
    }
    fail(res, 404, 'NOT_FOUND', `no route for ${method} ${path.pathname}`)
  }

  const putManifest = async (req: IncomingMessage, res: ServerResponse, name: string, reference: string): Promise<void> => {
    const body = await readBody(req)
    const mediaType = req.headers['content-type'] ?? ''
    let manifest: { mediaType?: unknown; config?: { digest?: unknown }; layers?: { digest?: unknown }[] }
    try {
      manifest = JSON.parse(body.toString('utf8')) as typeof manifest
    } catch {
      return fail(res, 400, 'MANIFEST_INVALID', 'manifest is not JSON')
    }
    if (mediaType !== mediaTypes.ociManifest && mediaType !== mediaTypes.dockerManifest)
      return fail(res, 400, 'MANIFEST_INVALID', `unsupported manifest media type ${mediaType}`)
    if (manifest.mediaType !== undefined && manifest.mediaType !== mediaType)
      return fail(res, 400, 'MANIFEST_INVALID', `manifest says ${String(manifest.mediaType)}, Content-Type says ${mediaType}`)
    const digest = sha256(body)
    if (digestPattern.test(reference) && reference !== digest) return fail(res, 400, 'DIGEST_INVALID', `manifest digest is ${digest}, not ${reference}`)
    const repo = repoOf(name)
    for (const d of [manifest.config?.digest, ...(manifest.layers ?? []).map((l) => l.digest)])
      if (typeof d !== 'string' || !repo.blobs.has(d)) return fail(res, 400, 'MANIFEST_BLOB_UNKNOWN', `blob ${String(d)} unknown to ${name}`)
    const stored = { mediaType, body, digest }
    repo.manifests.set(digest, stored)
    repo.manifests.set(reference, stored)
    res.writeHead(201, { location: `/v2/${name}/manifests/${digest}`, 'docker-content-digest': digest, 'content-length': '0' })
    res.end()
  }

  const loopback = await serveLoopback(t, options.certs, async (req, res) => {
    const record: RegistryRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      route: 'other',
      repo: undefined,
      authorization: req.headers.authorization,
      accept: req.headers.accept,
      status: undefined,
    }
    requests.push(record)
    res.once('finish', () => {
      record.status = res.statusCode
    })
    await handle(req, res, record)
  })
  url = loopback.url

  return {
    kind: 'fixture',
    url,
    host: loopback.host,
    ca: options.certs.ca,
    requests,
    count: (route, repo) => requests.filter((r) => r.route === route && (repo === undefined || r.repo === repo)).length,
    setDelay: loopback.setDelay,
    setHang: loopback.setHang,
  }
}

function send(res: ServerResponse, method: string, status: number, body: Buffer, headers: Record<string, string>): void {
  res.writeHead(status, { ...headers, 'content-length': String(body.length) })
  res.end(method === 'HEAD' ? undefined : body)
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value))
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(body.length) })
  res.end(body)
}

/** The distribution API's error body, which clients show to users. */
function fail(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v)
  json(res, status, { errors: [{ code, message }] })
}
