// One HTTP request to the fake API server, in the real server's order:
// authenticate (401), find what the path names, authorize (403), 404 for what
// is not installed, injected failures, then discovery, list, get or watch.

import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { KubeObject } from '../../../src/types/k8s.ts'
import type { Access, Verb } from './access.ts'
import { apiVersionOf, type Cluster, type KubeResource } from './cluster.ts'
import { apiGroupDocument, apiGroupList, apiResourceList, apiVersions, coreResourceList } from './discovery.ts'
import { type Predicate, selectorPredicate } from './selectors.ts'
import { noSuchResource, type Status, status, unauthorized } from './status.ts'
import { type OpenWatch, serveWatch } from './watch-stream.ts'

export interface RecordedRequest {
  method: string
  /** The path without the query string. */
  path: string
  query: Record<string, string>
  /** Who the bearer token names; undefined when it was missing or wrong. */
  user: string | undefined
  /** The User-Agent header as sent. */
  userAgent: string | undefined
  /** The HTTP status answered: 200 for a watch, even one that then ended with an ERROR event. */
  status: number
  /** The code of the ERROR event that ended a watch at once: 410 when its resourceVersion was too old. */
  errorEvent?: number
}

export interface ApiContext {
  cluster: Cluster
  access: Access
  openWatches: Set<OpenWatch>
  /** host:port, for /api's serverAddressByClientCIDRs. */
  address: string
  log: RecordedRequest[]
  /** Told of each request answered (not a watch), after its answer: a test changes the cluster between two pages of a list so. */
  answered?: ((request: RecordedRequest) => void) | undefined
}

interface ResourcePath {
  group: string
  version: string
  plural: string
  namespace: string | undefined
  name: string | undefined
}

/** /apis/<group>/<version>/… or, for the core group, /api/<version>/…; then <plural>[/<name>] or namespaces/<ns>/<plural>[/<name>]. */
function resourcePath(segments: string[]): ResourcePath | undefined {
  const core = segments[0] === 'api'
  const [group, version, ...rest] = core ? ['', ...segments.slice(1)] : segments.slice(1)
  if ((!core && segments[0] !== 'apis') || group === undefined || version === undefined) return undefined
  if (rest.length === 1 || rest.length === 2) return { group, version, plural: rest[0] as string, namespace: undefined, name: rest[1] }
  if (rest[0] === 'namespaces' && (rest.length === 3 || rest.length === 4))
    return { group, version, namespace: rest[1], plural: rest[2] as string, name: rest[3] }
  return undefined
}

/** What a request is answered with, or 'streaming' when a watch took over the response. */
type Answer = { code: number; body: unknown } | 'streaming'

const ok = (body: unknown): Answer => ({ code: 200, body })
const refuse = (s: Status): Answer => ({ code: s.code, body: s })

export function handle(ctx: ApiContext, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'https://kube-api.invalid')
  const record: RecordedRequest = {
    method: req.method ?? 'GET',
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    user: ctx.access.authenticate(req.headers.authorization),
    userAgent: req.headers['user-agent'],
    status: 0,
  }
  ctx.log.push(record)
  const answer = route(ctx, record, res)
  if (answer === 'streaming') return
  record.status = answer.code
  res.writeHead(answer.code, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'audit-id': randomUUID() })
  res.end(JSON.stringify(answer.body))
  ctx.answered?.(record)
}

function route(ctx: ApiContext, record: RecordedRequest, res: ServerResponse): Answer {
  if (record.user === undefined) return refuse(unauthorized())
  const segments = record.path.split('/').filter((s) => s !== '')
  const target = resourcePath(segments)
  if (record.method !== 'GET') return refuse(status(405, 'the server does not allow this method on the requested resource'))
  if (target === undefined) return discovery(ctx, segments)

  const { query } = record
  const watch = query.watch === 'true' || query.watch === '1'
  const verb: Verb = target.name !== undefined ? 'get' : watch ? 'watch' : 'list'
  const attempt = { user: record.user, verb, group: target.group, plural: target.plural, namespace: target.namespace }
  const denied = ctx.access.denial(attempt)
  if (denied) return refuse(denied)
  const resource = ctx.cluster.lookup(target.group, target.version, target.plural)
  if (resource === undefined) return refuse(noSuchResource())
  // A cluster-scoped resource has no namespaced paths; a namespaced one is read by name only within a namespace.
  const clusterScoped = resource.scope === 'Cluster'
  if (clusterScoped ? target.namespace !== undefined : target.namespace === undefined && target.name !== undefined) return refuse(noSuchResource())
  const fault = ctx.access.fault(attempt)
  if (fault) return refuse(fault)

  if (target.name !== undefined) return getOne(ctx.cluster, resource, target)
  let accepts: Predicate
  try {
    accepts = selectorPredicate(query.labelSelector, query.fieldSelector)
  } catch (e) {
    return refuse(status(400, (e as Error).message))
  }
  if (!watch) return list(ctx.cluster, resource, target, query, accepts)

  const from = query.resourceVersion ?? ''
  if (!/^\d*$/.test(from)) return refuse(status(400, `resourceVersion: Invalid value: "${from}": must be a decimal resourceVersion`))
  const timeout = Number(query.timeoutSeconds)
  record.status = 200
  const errorEvent = serveWatch(
    res,
    ctx.cluster,
    {
      resource,
      version: target.version,
      namespace: target.namespace,
      accepts,
      from,
      bookmarks: query.allowWatchBookmarks === 'true' || query.allowWatchBookmarks === '1',
      timeoutSeconds: Number.isFinite(timeout) && timeout > 0 ? timeout : undefined,
    },
    ctx.openWatches,
  )
  if (errorEvent !== undefined) record.errorEvent = errorEvent
  return 'streaming'
}

function discovery(ctx: ApiContext, segments: string[]): Answer {
  const resources = ctx.cluster.resources()
  const [first, group, version, ...rest] = segments
  let body: Record<string, unknown> | undefined
  if (first === 'version' && group === undefined) body = { major: '1', minor: '33', gitVersion: 'v1.33.0-stepsplice-test', platform: 'linux/amd64' }
  else if (first === 'api' && group === undefined) body = apiVersions(ctx.address)
  else if (first === 'api' && group === 'v1' && version === undefined) body = coreResourceList(resources)
  else if (first === 'apis' && group === undefined) body = apiGroupList(resources.filter((r) => r.group !== ''))
  else if (first === 'apis' && group !== undefined && version === undefined) body = apiGroupDocument(resources, group)
  else if (first === 'apis' && group !== undefined && version !== undefined && rest.length === 0) body = apiResourceList(resources, group, version)
  return body === undefined ? refuse(noSuchResource()) : ok(body)
}

const withVersion = (o: KubeObject, resource: KubeResource, version: string): KubeObject => ({ ...o, apiVersion: apiVersionOf(resource.group, version) })

function getOne(cluster: Cluster, resource: KubeResource, target: ResourcePath): Answer {
  const name = target.name as string
  const found = cluster.get(resource, target.namespace ?? '', name)
  if (found === undefined)
    return refuse(status(404, `${resource.plural}.${resource.group} "${name}" not found`, { name, group: resource.group, kind: resource.plural }))
  return ok(withVersion(found, resource, target.version))
}

interface ContinueToken {
  rv: string
  after: string
}

/** Lists, a page at a time with limit/continue; a continued page reads the current state (this fake keeps no snapshots). */
function list(cluster: Cluster, resource: KubeResource, target: ResourcePath, query: Record<string, string>, accepts: Predicate): Answer {
  let rv = cluster.resourceVersion
  if (query.resourceVersionMatch === 'Exact' && query.resourceVersion !== rv)
    return refuse(status(410, 'The resourceVersion for the provided list is too old.'))
  let items = cluster.list(resource, target.namespace, accepts)
  const keyOf = (o: KubeObject): string => `${o.metadata?.namespace}/${o.metadata?.name}`
  if (query.continue) {
    let token: ContinueToken
    try {
      token = JSON.parse(Buffer.from(query.continue, 'base64url').toString('utf8')) as ContinueToken
    } catch {
      return refuse(status(400, 'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)'))
    }
    // As etcd after a compaction: the snapshot the first page was read from is gone.
    if (!cluster.continuable(resource, Number(token.rv)))
      return refuse(
        status(410, 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.'),
      )
    rv = token.rv
    items = items.filter((o) => keyOf(o) > token.after)
  }
  const metadata: Record<string, unknown> = { resourceVersion: rv }
  const limit = Number(query.limit ?? 0)
  if (limit > 0 && items.length > limit) {
    metadata.remainingItemCount = items.length - limit
    items = items.slice(0, limit)
    metadata.continue = Buffer.from(JSON.stringify({ rv, after: keyOf(items[items.length - 1] as KubeObject) })).toString('base64url')
  }
  return ok({
    apiVersion: apiVersionOf(resource.group, target.version),
    kind: `${resource.kind}List`,
    metadata,
    items: items.map((o) => withVersion(o, resource, target.version)),
  })
}
