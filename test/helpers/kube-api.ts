// An in-process Kubernetes API server for tests of code built on the real
// @kubernetes/client-node: HTTPS with a certificate from certs/mint.sh, bearer
// tokens, discovery, and list/get/watch of custom resources with the real
// protocol (resourceVersions, chunked watch streams, BOOKMARK, 410 Gone).
// Tests drive the cluster through it: install CRDs, write objects, and break
// things the way clusters break (outages, dropped watches, compaction, 403/500).
// The pieces live in kube-api/.

import { readFile, writeFile } from 'node:fs/promises'
import https from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { join } from 'node:path'
import { KubeConfig } from '@kubernetes/client-node'
import { stringify } from 'yaml'
import type { KubeObject } from '../../src/types/k8s.ts'
import { Access, type Denial, type Fault } from './kube-api/access.ts'
import { Cluster, type KubeResource } from './kube-api/cluster.ts'
import { type ApiContext, handle, type RecordedRequest } from './kube-api/routes.ts'
import type { OpenWatch } from './kube-api/watch-stream.ts'
import { type Certs, mintCerts, type Teardown } from './server.ts'

/** The Tekton resources stepsplice reads, as Tekton's CRDs serve them. */
export const tektonResources = {
  stepActions: {
    group: 'tekton.dev',
    versions: ['v1alpha1', 'v1beta1'],
    plural: 'stepactions',
    kind: 'StepAction',
    categories: ['tekton', 'tekton-pipelines'],
  },
  tasks: { group: 'tekton.dev', versions: ['v1'], plural: 'tasks', kind: 'Task', categories: ['tekton', 'tekton-pipelines'] },
  pipelines: { group: 'tekton.dev', versions: ['v1'], plural: 'pipelines', kind: 'Pipeline', categories: ['tekton', 'tekton-pipelines'] },
  /** TaskGroups (issue #16): stepsplice's CRD, or TaskGroup's own. */
  taskGroups: { group: 'custom.tekton.dev', versions: ['v1alpha1'], plural: 'taskgroups', kind: 'TaskGroup', categories: ['tekton'] },
} satisfies Record<string, KubeResource>

/** stepsplice's own policy CRDs (deploy/crds), and the core group's namespaces the policies select by label. */
export const policyResources = {
  stepPolicies: { group: 'stepsplice.dev', versions: ['v1alpha1'], plural: 'steppolicies', kind: 'StepPolicy', categories: ['stepsplice'] },
  clusterStepPolicies: {
    group: 'stepsplice.dev',
    versions: ['v1alpha1'],
    plural: 'clustersteppolicies',
    kind: 'ClusterStepPolicy',
    scope: 'Cluster',
    categories: ['stepsplice'],
  },
  namespaces: { group: '', versions: ['v1'], plural: 'namespaces', kind: 'Namespace', scope: 'Cluster' },
} satisfies Record<string, KubeResource>

/** The user the default token authenticates, a service account as in a cluster. */
export const defaultUser = 'system:serviceaccount:stepsplice-system:stepsplice'

export interface KubeApiOptions {
  certs?: Certs
  /** Events each resource's watch cache keeps; resuming from before them is 410 Gone. Default 100. */
  historyLimit?: number
  /** Installed at start. */
  resources?: KubeResource[]
}

export interface KubeApi {
  /** https://127.0.0.1:<port>; the port stays the same across stop() and restart(). */
  url: string
  certs: Certs
  /** A valid bearer token for defaultUser. */
  token: string
  /** Another valid token, for a user of that name (to forbid one user but not another). */
  issueToken(user: string): string
  /** A KubeConfig for the real client: this server, its CA, and `token` (default: the default user's). */
  kubeConfig(token?: string): KubeConfig
  /** The same as a kubeconfig file (CA by path) in `dir`; returns its path. */
  writeKubeconfig(dir: string, token?: string): Promise<string>

  /** Installs a CRD ("the CRD is applied"), or changes the versions an installed one serves. */
  install(resource: KubeResource): void
  /** Deletes a CRD: its objects are deleted (watches see DELETED), its watches end, its paths answer 404. */
  uninstall(resource: KubeResource): void
  /** Creates an object (namespace 'default' when absent); returns it as stored, with uid and resourceVersion. */
  create(object: KubeObject): KubeObject
  /** Replaces an existing object; returns it as stored. */
  update(object: KubeObject): KubeObject
  /** Deletes the object this one names (apiVersion, kind, namespace, name). */
  remove(object: KubeObject): void
  /** The current resourceVersion (the cluster's global revision). */
  resourceVersion(): string

  /** Sends a BOOKMARK at the current resourceVersion to every open watch that asked for bookmarks; returns how many. */
  bookmark(): number
  /** Compaction: any resume from a resourceVersion handed out so far gets an ERROR event with a 410 Status. */
  expireHistory(): void
  /** Ends every open watch cleanly (as timeoutSeconds does); returns how many. */
  endWatches(): number
  /** Destroys the connection of every open watch mid-stream; returns how many. */
  dropWatches(): number
  /** How many watches are open now. */
  openWatches(): number
  /** 403 Forbidden for a resource's verbs (all users unless `user` is given), until the returned function is called. */
  forbid(rule: Denial): () => void
  /** Answers a resource's verbs with `code` (500: InternalError Status), `times` times or until the returned function is called. */
  fail(rule: Fault): () => void

  /** An outage: stops listening and destroys every connection. State (objects, resourceVersions, history) survives. */
  stop(): Promise<void>
  /** Listens again on the same port, as the API server coming back. */
  restart(): Promise<void>

  /** Every request so far, in arrival order. */
  requests(): RecordedRequest[]
  /** Calls `listener` after each request that is not a watch is answered, until the returned function is called. */
  onAnswered(listener: (request: RecordedRequest) => void): () => void
}

export async function startKubeApi(t: Teardown, options: KubeApiOptions = {}): Promise<KubeApi> {
  const certs = options.certs ?? (await mintCerts(t))
  const cluster = new Cluster(options.historyLimit ?? 100)
  for (const r of options.resources ?? []) cluster.install(r)
  const access = new Access()
  const token = access.issue(defaultUser)
  const ctx: ApiContext = { cluster, access, openWatches: new Set<OpenWatch>(), address: '', log: [] }

  const tls = { cert: await readFile(certs.certFile), key: await readFile(certs.keyFile) }
  let server: https.Server | undefined
  // Every TCP connection, including ones still in their TLS handshake that the HTTP layer does not track yet.
  const sockets = new Set<Socket>()
  let port = 0
  const listen = async (): Promise<void> => {
    const s = https.createServer(tls, (req, res) => handle(ctx, req, res))
    s.on('connection', (socket: Socket) => {
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
    })
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject)
      s.listen(port, '127.0.0.1', () => {
        s.off('error', reject)
        resolve()
      })
    })
    port = (s.address() as AddressInfo).port
    ctx.address = `127.0.0.1:${port}`
    server = s
  }
  const stop = async (): Promise<void> => {
    const s = server
    if (s === undefined) return
    server = undefined
    const closed = new Promise<void>((resolve) => s.close(() => resolve()))
    for (const w of [...ctx.openWatches]) w.drop()
    for (const socket of sockets) socket.destroy()
    await closed
  }
  await listen()
  t.teardown(stop)
  const url = `https://127.0.0.1:${port}`

  const kubeConfig = (as = token): KubeConfig => {
    const kc = new KubeConfig()
    kc.loadFromOptions({
      clusters: [{ name: 'kube-api-test', server: url, caData: certs.ca.toString('base64'), skipTLSVerify: false }],
      users: [{ name: 'stepsplice', token: as }],
      contexts: [{ name: 'kube-api-test', cluster: 'kube-api-test', user: 'stepsplice', namespace: 'default' }],
      currentContext: 'kube-api-test',
    })
    return kc
  }
  const every = (act: (w: OpenWatch) => void): number => {
    const open = [...ctx.openWatches]
    for (const w of open) act(w)
    return open.length
  }

  return {
    url,
    certs,
    token,
    issueToken: (user) => access.issue(user),
    kubeConfig,
    async writeKubeconfig(dir, as = token) {
      const file = join(dir, 'kubeconfig')
      const config = {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'kube-api-test', cluster: { server: url, 'certificate-authority': certs.caFile } }],
        users: [{ name: 'stepsplice', user: { token: as } }],
        contexts: [{ name: 'kube-api-test', context: { cluster: 'kube-api-test', user: 'stepsplice', namespace: 'default' } }],
        'current-context': 'kube-api-test',
      }
      await writeFile(file, stringify(config), { mode: 0o600 })
      return file
    },
    install: (r) => cluster.install(r),
    uninstall: (r) => cluster.uninstall(r.group, r.plural),
    create: (o) => cluster.create(o),
    update: (o) => cluster.update(o),
    remove: (o) => cluster.remove(o),
    resourceVersion: () => cluster.resourceVersion,
    bookmark: () => cluster.bookmark(),
    expireHistory: () => cluster.expireHistory(),
    endWatches: () => every((w) => w.end()),
    dropWatches: () => every((w) => w.drop()),
    openWatches: () => ctx.openWatches.size,
    forbid: (rule) => access.deny(rule),
    fail: (rule) => access.inject(rule),
    stop,
    async restart() {
      if (server !== undefined) throw new Error('restart: the API server is running; stop() it first')
      await listen()
    },
    requests: () => ctx.log.map((r) => ({ ...r, query: { ...r.query } })),
    onAnswered: (listener) => {
      ctx.answered = listener
      return () => {
        if (ctx.answered === listener) ctx.answered = undefined
      }
    },
  }
}
