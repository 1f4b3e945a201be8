// The ClusterRole in deploy/base/rbac.yaml against what the server really
// asks the API server for: the real `stepsplice serve --kube`, started with a
// kubeconfig for the in-process API server of test/helpers/kube-api.ts, syncs
// until /readyz answers 200; then every request it made is turned into the
// RBAC attributes the API server would authorize (verb, group, resource,
// namespace) and checked against the role: everything it did is granted,
// and nothing is granted that it does not do (get aside, which the role may
// hold for `kubectl auth can-i`-style debugging).

import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import http from 'node:http'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import t from 'tap'
import { defaultUser, policyResources, startKubeApi, tektonResources } from './helpers/kube-api.ts'
import { deployDir, find, parseManifests } from './helpers/deploy.ts'
import { mintCerts, root, sleep, type TapTest, tempDir } from './helpers/server.ts'
import { userAgent } from '../src/cli/version.ts'

interface Rule {
  apiGroups: string[]
  resources: string[]
  verbs: string[]
}

const rbac = parseManifests(await readFile(join(deployDir, 'base/rbac.yaml'), 'utf8'), 'rbac.yaml')
const role = find(rbac, 'ClusterRole')
const rules = role.rules as Rule[]
const binding = find(rbac, 'ClusterRoleBinding')
const account = find(parseManifests(await readFile(join(deployDir, 'base/serviceaccount.yaml'), 'utf8'), 'serviceaccount.yaml'), 'ServiceAccount')

interface Attributes {
  verb: string
  group: string
  resource: string
  namespace: string | undefined
}

/** What the API server's authorizer sees for a GET: undefined for discovery, which every authenticated user may read. */
function attributesOf(path: string, query: Record<string, string>): Attributes | undefined {
  const segments = path.split('/').filter((s) => s !== '')
  const [prefix, ...rest] = segments
  const [group, version, ...tail] = prefix === 'api' ? ['', ...rest] : rest
  if ((prefix !== 'api' && prefix !== 'apis') || group === undefined || version === undefined || tail.length === 0) return undefined
  const namespaced = tail[0] === 'namespaces' && tail.length >= 3
  const [resource, name] = namespaced ? tail.slice(2) : tail
  const watch = query.watch === 'true' || query.watch === '1'
  return { verb: watch ? 'watch' : name === undefined ? 'list' : 'get', group, resource: resource ?? '', namespace: namespaced ? tail[1] : undefined }
}

const allows = (a: Attributes): boolean => rules.some((r) => r.apiGroups.includes(a.group) && r.resources.includes(a.resource) && r.verbs.includes(a.verb))

/** GET on a plain-HTTP port, the status code. */
function status(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      .on('error', reject)
  })
}

/** Starts the real CLI; resolves with the metrics port from its "listening" log line. */
async function serve(t: TapTest, args: string[]): Promise<{ child: ChildProcess; metricsPort: number }> {
  const child = spawn(process.execPath, [join(root, 'bin/stepsplice.js'), 'serve', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    const force = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(force)
  })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
  const lines = createInterface({ input: child.stdout as NonNullable<typeof child.stdout> })
  const listening = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not log "listening" within 30 s; stderr: ${stderr}`)), 30_000)
    lines.on('line', (text) => {
      let line: { msg?: string; metricsPort?: number }
      try {
        line = JSON.parse(text) as typeof line
      } catch {
        return
      }
      if (line.msg === 'stepsplice webhook listening' && typeof line.metricsPort === 'number') {
        clearTimeout(timer)
        resolve(line.metricsPort)
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`serve exited ${code}; stderr: ${stderr}`))
    })
  })
  return { child, metricsPort: await listening }
}

t.test('the ClusterRole grants exactly what `serve --kube` reads, to the service account it runs as', async (t) => {
  t.same(binding.subjects, [{ kind: 'ServiceAccount', name: account.metadata.name, namespace: account.metadata.namespace }])
  t.equal(defaultUser, `system:serviceaccount:${account.metadata.namespace}:${account.metadata.name}`, 'the API server authenticates the pod as this user')

  // Pipelines are served too: a catalog that watched them would need a grant the role does not give.
  const api = await startKubeApi(t, {
    resources: [
      tektonResources.stepActions,
      tektonResources.tasks,
      tektonResources.pipelines,
      tektonResources.taskGroups,
      policyResources.stepPolicies,
      policyResources.clusterStepPolicies,
      policyResources.namespaces,
    ],
  })
  api.create({
    apiVersion: 'tekton.dev/v1beta1',
    kind: 'StepAction',
    metadata: { name: 'hello', namespace: 'team-a' },
    spec: { image: 'busybox', script: 'echo hi' },
  })
  api.create({
    apiVersion: 'tekton.dev/v1',
    kind: 'Task',
    metadata: { name: 'build', namespace: 'team-a' },
    spec: { steps: [{ name: 's', ref: { name: 'hello' } }] },
  })
  const kubeconfig = await api.writeKubeconfig(await tempDir(t))
  const certs = await mintCerts(t)
  const { metricsPort } = await serve(t, [
    '--kube',
    '--kubeconfig',
    kubeconfig,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--metrics-port',
    '0',
    '--tls-cert',
    certs.certFile,
    '--tls-key',
    certs.keyFile,
    '--workers',
    '1',
    '--grace-period',
    '2s',
  ])
  let ready = 0
  for (let i = 0; i < 300 && ready !== 200; i++) {
    ready = await status(metricsPort, '/readyz')
    if (ready !== 200) await sleep(100)
  }
  t.equal(ready, 200, '/readyz: synced with the cluster')
  // Synced means listed; the watches that follow may still be on their way.
  for (let i = 0; i < 300 && api.openWatches() < 6; i++) await sleep(100)
  t.equal(api.openWatches(), 6, 'watching StepActions, Tasks, TaskGroups, both kinds of policy and namespaces')

  const requests = api.requests()
  t.ok(requests.length > 0)
  const used: Attributes[] = []
  for (const r of requests) {
    t.equal(r.user, defaultUser, `${r.method} ${r.path} as the service account`)
    t.equal(r.method, 'GET', `${r.path}: reads only`)
    t.notOk(r.status === 401 || r.status === 403, `${r.path} was authorized (${r.status})`)
    const a = attributesOf(r.path, r.query)
    if (a === undefined) {
      t.match(r.path, /^\/(api|apis)(\/[^/]+){0,2}$/, `${r.path} is discovery, which needs no grant`)
      continue
    }
    used.push(a)
    t.ok(allows(a), `the ClusterRole allows ${a.verb} ${a.resource}.${a.group}`)
    t.equal(a.namespace, undefined, `${a.verb} ${a.resource} across all namespaces: a ClusterRole, not a Role`)
  }

  const pairs = (xs: { group: string; resource: string }[]): string[] => [...new Set(xs.map((x) => `${x.resource}.${x.group}`))].sort()
  const granted = rules.flatMap((r) => r.apiGroups.flatMap((group) => r.resources.map((resource) => ({ group, resource }))))
  t.same(pairs(granted), pairs(used), 'granted on exactly the resources it reads')
  t.same(pairs(used), [
    'clustersteppolicies.stepsplice.dev',
    'namespaces.',
    'stepactions.tekton.dev',
    'steppolicies.stepsplice.dev',
    'taskgroups.custom.tekton.dev',
    'tasks.tekton.dev',
  ])
  // serve gives its version to the cluster catalog and the cluster policies; the client's Watch sends its own.
  const lists = requests.filter((r) => attributesOf(r.path, r.query)?.verb === 'list')
  t.ok(lists.length >= 6, 'a list of each resource')
  t.same([...new Set(lists.map((r) => r.userAgent))], [userAgent], `every list names ${userAgent}`)
  const verbsUsed = new Set(used.map((a) => a.verb))
  t.ok(verbsUsed.has('list') && verbsUsed.has('watch'), 'it lists, then watches')
  for (const r of rules) for (const verb of r.verbs) t.ok(verbsUsed.has(verb) || verb === 'get', `${verb} is granted because it is used`)
})
