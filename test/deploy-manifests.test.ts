// deploy/ agrees with itself and with the code, read from the files as
// kustomize reads them: names, namespaces and selectors line up; the
// Deployment's args are flags `stepsplice serve` accepts; the probes, ports
// and webhook paths are ones the real server answers; the pod runs as the
// Dockerfile's user, locked down; the build context leaves secrets out.
// (test/deploy-render.test.ts compares the rendered kustomize and Helm output.)

import { readdir, readFile } from 'node:fs/promises'
import http from 'node:http'
import { join, relative } from 'node:path'
import t from 'tap'
import { main } from '../src/cli/main.ts'
import { serveHelp } from '../src/cli/serve.ts'
import { startServer } from '../src/server/serve.ts'
import {
  type DeploymentView,
  deployDir,
  deploymentSpec,
  find,
  flagsOf,
  keyOf,
  kustomizationResources,
  type Manifest,
  parseManifests,
  parseYaml,
  webhooksOf,
} from './helpers/deploy.ts'
import { captureIO, captureLogs, httpsRequest, loadExampleCatalog, mintCerts, reviewOf, root } from './helpers/server.ts'

const baseDir = join(deployDir, 'base')
const objects = await kustomizationResources(deployDir)
const deployment = find(objects, 'Deployment', 'stepsplice')
const spec: DeploymentView = deploymentSpec(deployment)
const pod = spec.template.spec
const container = pod.containers[0]
if (pod.containers.length !== 1 || container === undefined) throw new Error('the Deployment should run one container')
const flags = flagsOf(container.args)
const namespace = find(objects, 'Namespace').metadata.name
const service = find(objects, 'Service', 'stepsplice')
const mutating = find(objects, 'MutatingWebhookConfiguration', 'stepsplice')
const validating = find(objects, 'ValidatingWebhookConfiguration', 'stepsplice')
const allWebhooks = [...webhooksOf(mutating), ...webhooksOf(validating)]

/** The seconds of a duration flag such as `25s` (the forms the manifests use). */
function seconds(value: string | true | undefined, flag: string): number {
  const m = typeof value === 'string' ? /^(\d+)s$/.exec(value) : null
  if (!m) throw new Error(`${flag} should be whole seconds such as 25s, not ${String(value)}`)
  return Number(m[1])
}

/** Kubernetes memory quantities the manifests use (Mi, Gi), in MiB. */
function mebibytes(quantity: string | undefined): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(quantity ?? '')
  if (!m) throw new Error(`a memory quantity in Mi or Gi, not ${String(quantity)}`)
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1)
}

function portNamed(name: string): number {
  const port = container?.ports.find((p) => p.name === name)
  if (port === undefined) throw new Error(`the container has no port named ${name}`)
  return port.containerPort
}

t.test('the base lists every manifest in deploy/base but the opt-in network policy', async (t) => {
  const kustomization = parseYaml(await readFile(join(baseDir, 'kustomization.yaml'), 'utf8')) as { resources: string[] }
  const files = (await readdir(baseDir)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort()
  t.same(
    kustomization.resources.filter((r) => r !== '../crds').sort(),
    files.filter((f) => f !== 'networkpolicy.yaml'),
  )
  t.ok(kustomization.resources.includes('../crds'), "stepsplice's CRDs are installed with it")
  const crdDir = join(deployDir, 'crds')
  const crds = parseYaml(await readFile(join(crdDir, 'kustomization.yaml'), 'utf8')) as { resources: string[] }
  t.same(
    [...crds.resources].sort(),
    (await readdir(crdDir)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort(),
    'deploy/crds lists every CRD it holds',
  )
  t.notOk(kustomization.resources.includes('networkpolicy.yaml'), 'the network policy needs a per-cluster address range first')
  const top = parseYaml(await readFile(join(deployDir, 'kustomization.yaml'), 'utf8')) as { resources: string[] }
  t.same(top.resources, ['base'], '`kubectl apply -k deploy/` applies the base')
  t.same(objects.map((o) => o.kind).sort(), [
    'ClusterRole',
    'ClusterRoleBinding',
    'ConfigMap',
    'CustomResourceDefinition',
    'CustomResourceDefinition',
    'Deployment',
    'MutatingWebhookConfiguration',
    'Namespace',
    'PodDisruptionBudget',
    'Service',
    'ServiceAccount',
    'ValidatingWebhookConfiguration',
  ])
})

t.test('every object is labelled, and every namespaced one is in the namespace', async (t) => {
  const clusterScoped = new Set([
    'CustomResourceDefinition',
    'Namespace',
    'ClusterRole',
    'ClusterRoleBinding',
    'MutatingWebhookConfiguration',
    'ValidatingWebhookConfiguration',
  ])
  const networkPolicy = parseManifests(await readFile(join(baseDir, 'networkpolicy.yaml'), 'utf8'), 'networkpolicy.yaml')
  for (const o of [...objects, ...networkPolicy]) {
    t.equal(o.metadata.labels?.['app.kubernetes.io/name'], 'stepsplice', `${keyOf(o)} is labelled`)
    if (clusterScoped.has(o.kind)) t.equal(o.metadata.namespace, undefined, `${keyOf(o)} is cluster-scoped`)
    else t.equal(o.metadata.namespace, namespace, `${keyOf(o)} is in ${namespace}`)
  }
})

t.test('the Deployment, Service, PDB, spread constraint and network policy select the same pods', async (t) => {
  const selector = spec.selector.matchLabels
  t.same(selector, { 'app.kubernetes.io/name': 'stepsplice' })
  t.match(spec.template.metadata.labels, selector, 'the pod template carries the selector labels')
  t.same((service.spec as { selector: Record<string, string> }).selector, selector, 'Service')
  t.same((find(objects, 'PodDisruptionBudget').spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, selector, 'PDB')
  t.same(
    pod.topologySpreadConstraints?.map((c) => c.labelSelector.matchLabels),
    [selector],
    'the topology spread counts these pods',
  )
  const networkPolicy = find(parseManifests(await readFile(join(baseDir, 'networkpolicy.yaml'), 'utf8'), 'networkpolicy.yaml'), 'NetworkPolicy')
  t.same((networkPolicy.spec as { podSelector: { matchLabels: Record<string, string> } }).podSelector.matchLabels, selector, 'NetworkPolicy')
  const ingressPorts = (networkPolicy.spec as { ingress: { ports: { port: number }[] }[] }).ingress.flatMap((r) => r.ports.map((p) => p.port))
  t.same(ingressPorts, [portNamed('https')], 'the network policy opens the webhook port to the API server, and nothing else')
})

t.test('two replicas spread over nodes, and a PDB that lets one go at a time', async (t) => {
  t.equal(spec.replicas, 2)
  t.equal(pod.topologySpreadConstraints?.[0]?.topologyKey, 'kubernetes.io/hostname')
  t.same((find(objects, 'PodDisruptionBudget').spec as { maxUnavailable: number }).maxUnavailable, 1)
})

t.test('every arg is a flag `stepsplice serve` documents and its parser accepts', async (t) => {
  t.equal(container.args[0], 'serve')
  const documented = new Set([...serveHelp.matchAll(/^ {2}(?:-\w, )?(--[a-z][a-z-]*)/gm)].map((m) => m[1]))
  t.ok(documented.size > 10, 'the help lists the flags')
  for (const flag of flags.keys()) t.ok(documented.has(flag), `${flag} is in serveHelp`)
  for (const flag of ['--kube', '--metrics-port', '--tls-cert', '--tls-key', '--catalog', '--workers']) t.ok(flags.has(flag), `the Deployment passes ${flag}`)
  // The real parser (strict: an unknown flag or a value on a boolean fails) reads the args, then --help stops before serving.
  const io = captureIO()
  t.equal(await main([...container.args, '--help'], io), 0, io.err.split('\n')[0] ?? '')
  t.equal(io.out, serveHelp)
})

t.test("the Dockerfile's default command is accepted too", async (t) => {
  const dockerfile = await readDockerfile()
  const cmd = JSON.parse(dockerfile.last('CMD')) as string[]
  const io = captureIO()
  t.equal(await main([...cmd, '--help'], io), 0, io.err)
})

t.test('the args point at what is mounted and exposed', async (t) => {
  const mount = (name: string): string => {
    const m = container.volumeMounts.find((v) => v.name === name)
    if (m === undefined) throw new Error(`no volume mount ${name}`)
    return m.mountPath
  }
  t.equal(flags.get('--catalog'), mount('catalog'))
  t.equal(flags.get('--tls-cert'), `${mount('tls')}/tls.crt`)
  t.equal(flags.get('--tls-key'), `${mount('tls')}/tls.key`)
  t.equal(Number(flags.get('--port')), portNamed('https'))
  t.equal(Number(flags.get('--metrics-port')), portNamed('metrics'))
  t.equal(flags.get('--remote-cache-dir'), mount('remote-cache'), "git's repositories are on the emptyDir")
  const cache = pod.volumes.find((v) => v.name === 'remote-cache') as { emptyDir?: { sizeLimit?: string } } | undefined
  t.equal(cache?.emptyDir?.sizeLimit, '2Gi', 'bounded, with room above the 1Gi git keeps')
  for (const m of container.volumeMounts.filter((v) => v.name !== 'remote-cache')) t.equal(m.readOnly, true, `${m.name} is mounted read-only`)

  const tls = pod.volumes.find((v) => v.name === 'tls')
  const serving = find(
    parseManifests(await readFile(join(deployDir, 'overlays/cert-manager/certificates.yaml'), 'utf8'), 'certificates.yaml'),
    'Certificate',
    'stepsplice-serving',
  )
  t.equal(tls?.secret?.secretName, (serving.spec as { secretName: string }).secretName, 'cert-manager writes the Secret the pod mounts')
  const catalog = pod.volumes.find((v) => v.name === 'catalog')
  t.equal(catalog?.configMap?.name, find(objects, 'ConfigMap').metadata.name, 'the catalog volume is the ConfigMap')
  t.equal(catalog?.configMap?.optional, true, 'beside --kube the ConfigMap is optional')
})

t.test('the pod runs as the Dockerfile user, non-root, with nothing to escalate with', async (t) => {
  const dockerfile = await readDockerfile()
  const user = dockerfile.last('USER')
  const m = /^(\d+)(?::(\d+))?$/.exec(user)
  if (!m) return t.fail(`USER should be numeric (uid or uid:gid), so the kubelet can check runAsNonRoot; it is ${user}`)
  t.not(Number(m[1]), 0, 'not root')
  t.equal(pod.securityContext.runAsUser, Number(m[1]), 'runAsUser is the image USER')
  if (m[2] !== undefined) t.equal(pod.securityContext.runAsGroup, Number(m[2]), 'runAsGroup is the image group')
  t.equal(pod.securityContext.runAsNonRoot, true)
  t.same(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' })
  t.same(container.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } })
})

t.test('the pod uses the service account the ClusterRole is bound to, and mounts its token', async (t) => {
  const account = find(objects, 'ServiceAccount')
  t.equal(pod.serviceAccountName, account.metadata.name)
  t.equal(pod.automountServiceAccountToken, true, '--kube needs the token')
  const binding = find(objects, 'ClusterRoleBinding')
  const role = find(objects, 'ClusterRole')
  t.same(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name })
  t.same(binding.subjects, [{ kind: 'ServiceAccount', name: account.metadata.name, namespace: account.metadata.namespace }])
})

t.test('the probes and the webhook paths are ones the real server answers, on the ports the manifests name', async (t) => {
  const readiness = container.readinessProbe.httpGet
  const liveness = container.livenessProbe.httpGet
  t.same(readiness, { path: '/readyz', port: 'metrics', scheme: 'HTTP' })
  t.same(liveness, { path: '/healthz', port: 'metrics', scheme: 'HTTP' })

  const certs = await mintCerts(t)
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    metricsPort: 0,
    certFile: certs.certFile,
    keyFile: certs.keyFile,
    catalog: await loadExampleCatalog(),
    logger: captureLogs().logger,
    deadlineMs: seconds(flags.get('--deadline'), '--deadline') * 1000,
    onTimeout: 'deny',
    workers: 1,
  })
  t.teardown(() => server.close())
  const plain = (path: string): Promise<number> =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: server.metricsPort, path }, (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        })
        .on('error', reject)
    })
  t.equal(await plain(readiness.path), 200, `${readiness.path} over plain HTTP on the metrics port`)
  t.equal(await plain(liveness.path), 200, `${liveness.path} over plain HTTP on the metrics port`)
  t.equal(await plain('/metrics'), 200, '/metrics, for the Service port named metrics')

  const examples = join(root, 'examples/admission')
  for (const w of allWebhooks) {
    const review = w.name.startsWith('runs.')
      ? reviewOf(runObject(), { operation: 'UPDATE' })
      : w.name.startsWith('policies.')
        ? reviewOf(policyObject())
        : w.clientConfig.service.path === '/validate'
          ? reviewOf(stepActionObject())
          : JSON.parse(await readFile(join(examples, 'taskrun-review.json'), 'utf8'))
    const res = await httpsRequest(server.url, certs.ca, w.clientConfig.service.path, { body: review })
    t.equal(res.status, 200, `${w.name}: POST ${w.clientConfig.service.path} answers`)
    const answer = JSON.parse(res.text) as { kind: string; response: { allowed: boolean } }
    t.equal(answer.kind, 'AdmissionReview')
    t.equal(answer.response.allowed, true, `${w.name}: a valid object is admitted`)
  }
})

function runObject(): Manifest {
  return {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { name: 'r', namespace: 'default' },
    spec: { taskSpec: { steps: [{ name: 's', image: 'alpine' }] } },
  }
}

function policyObject(): Manifest {
  return {
    apiVersion: 'stepsplice.dev/v1alpha1',
    kind: 'ClusterStepPolicy',
    metadata: { name: 'platform-only' },
    spec: { mode: 'Audit', sources: { allow: ['cluster:platform/*'] } },
  }
}

function stepActionObject(): Manifest {
  return {
    apiVersion: 'tekton.dev/v1beta1',
    kind: 'StepAction',
    metadata: { name: 'hello', namespace: 'default' },
    spec: { image: 'busybox', script: 'echo hi' },
  }
}

t.test('the Service takes the API server to the webhook port, and Prometheus to the metrics port', async (t) => {
  const ports = (service.spec as { ports: { name: string; port: number; targetPort: string | number }[] }).ports
  t.same(
    ports.map((p) => [p.name, p.port, p.targetPort]),
    [
      ['https', 443, 'https'],
      ['metrics', portNamed('metrics'), 'metrics'],
    ],
  )
})

t.test('every webhook calls this Service on 443, answers before its timeout and never blocks its own namespace', async (t) => {
  const deadline = seconds(flags.get('--deadline'), '--deadline')
  t.same(
    allWebhooks.map((w) => w.name),
    [
      'steps.stepsplice.dev',
      'taskrefs.stepsplice.dev',
      'pods.stepsplice.dev',
      'stepactions.stepsplice.dev',
      'taskgroups.stepsplice.dev',
      'policies.stepsplice.dev',
      'runs.stepsplice.dev',
    ],
  )
  const validatingNames = new Set(webhooksOf(validating).map((w) => w.name))
  for (const w of allWebhooks) {
    t.same(
      w.clientConfig.service,
      { name: service.metadata.name, namespace, path: validatingNames.has(w.name) ? '/validate' : '/mutate' },
      `${w.name} calls the Service`,
    )
    t.equal(w.clientConfig.caBundle, undefined, `${w.name}: the caBundle comes from cert-manager or deploy/dev.sh`)
    t.same(w.admissionReviewVersions, ['v1'])
    t.equal(w.sideEffects, 'None', `${w.name}: dry-run requests reach it, so --dry-run=server previews`)
    t.equal(w.failurePolicy, 'Fail')
    t.equal(w.timeoutSeconds, 5)
    t.ok(deadline < w.timeoutSeconds, `${w.name}: --deadline ${deadline}s is below timeoutSeconds ${w.timeoutSeconds}`)
    t.equal(w.matchPolicy, 'Equivalent')
    t.same(
      w.namespaceSelector?.matchExpressions,
      [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', namespace] }],
      `${w.name} skips kube-system and ${namespace}`,
    )
  }
  for (const w of webhooksOf(mutating)) {
    t.equal(w.reinvocationPolicy, 'IfNeeded', `${w.name}: admission is idempotent, so a second call is harmless`)
    t.ok((w.matchConditions ?? []).length > 0, `${w.name} has matchConditions`)
    // A Pod's UPDATE is judged by the images it changes (its condition sends no other), never expanded.
    t.same(
      w.rules.map((r) => r.operations),
      w.name === 'pods.stepsplice.dev' ? [['CREATE', 'UPDATE']] : [['CREATE']],
      `${w.name} expands at CREATE only`,
    )
    if (w.name === 'pods.stepsplice.dev')
      t.ok(
        w.matchConditions?.some((c) => c.name === 'creates-or-changes-an-image'),
        'UPDATE: only a change of images',
      )
  }
})

t.test('the grace period covers the preStop pause and the server’s own grace period', async (t) => {
  const pause = pod.containers[0]?.lifecycle?.preStop?.sleep?.seconds
  t.type(pause, 'number', 'a preStop sleep lets endpoints drain before SIGTERM')
  const grace = seconds(flags.get('--grace-period'), '--grace-period')
  t.ok(
    pod.terminationGracePeriodSeconds > (pause ?? 0) + grace,
    `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} > preStop ${pause}s + --grace-period ${grace}s`,
  )
})

t.test('memory is requested and limited, with the worker count that sizing assumed', async (t) => {
  const { requests = {}, limits = {} } = container.resources
  t.ok(mebibytes(limits.memory) >= mebibytes(requests.memory), 'limit ≥ request')
  // deploy/README.md: 382 MiB at peak with 10,000 StepActions and 2 workers.
  t.ok(mebibytes(limits.memory) >= 448, `the limit (${limits.memory}) leaves room over the measured 382 MiB`)
  t.equal(flags.get('--workers'), '2', 'the default (one per node CPU) would grow memory with the node')
  t.ok(requests.cpu, 'a CPU request')
  t.equal(limits.cpu, undefined, 'no CPU limit: throttling a webhook turns into admission timeouts')
})

t.test('the cert-manager overlay names, issues and injects the serving certificate', async (t) => {
  const overlay = join(deployDir, 'overlays/cert-manager')
  const certificates = parseManifests(await readFile(join(overlay, 'certificates.yaml'), 'utf8'), 'certificates.yaml')
  const serving = find(certificates, 'Certificate', 'stepsplice-serving')
  const servingSpec = serving.spec as { dnsNames: string[]; issuerRef: { kind: string; name: string }; secretName: string }
  t.ok(servingSpec.dnsNames.includes(`${service.metadata.name}.${namespace}.svc`), 'the name the API server calls')
  const issuer = find(certificates, servingSpec.issuerRef.kind, servingSpec.issuerRef.name)
  const caSecret = (issuer.spec as { ca: { secretName: string } }).ca.secretName
  const ca = certificates.find((c) => c.kind === 'Certificate' && (c.spec as { secretName: string }).secretName === caSecret)
  t.ok(ca, 'the CA issuer signs with a Certificate of this overlay')
  t.equal((ca?.spec as { isCA?: boolean } | undefined)?.isCA, true)
  for (const c of certificates) t.equal(c.metadata.namespace, namespace)

  const kustomization = await readFile(join(overlay, 'kustomization.yaml'), 'utf8')
  const injected = [...kustomization.matchAll(/cert-manager\.io\/inject-ca-from: (\S+)/g)].map((m) => m[1])
  t.same(injected, [`${namespace}/${serving.metadata.name}`, `${namespace}/${serving.metadata.name}`], 'both configurations name the serving Certificate')
})

interface Dockerfile {
  instructions: { keyword: string; value: string }[]
  last(keyword: string): string
}

async function readDockerfile(): Promise<Dockerfile> {
  const text = await readFile(join(root, 'Dockerfile'), 'utf8')
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'))
    .map((l) => {
      const m = /^\s*(\w+)\s+(.*)$/.exec(l)
      if (!m) throw new Error(`Dockerfile: cannot read ${l}`)
      return { keyword: (m[1] as string).toUpperCase(), value: (m[2] as string).trim() }
    })
  return {
    instructions,
    last(keyword) {
      const found = instructions.filter((i) => i.keyword === keyword).at(-1)
      if (found === undefined) throw new Error(`the Dockerfile has no ${keyword}`)
      return found.value
    },
  }
}

t.test('the image is Node 24 with production dependencies only, and copies what the code needs', async (t) => {
  const dockerfile = await readDockerfile()
  const froms = dockerfile.instructions.filter((i) => i.keyword === 'FROM').map((i) => i.value.split(/\s+/)[0])
  // The image runs on the Node the code is developed and tested on (the `node` devDependency), which engines allows.
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { engines: { node: string }; devDependencies: { node: string } }
  const major = /(\d+)/.exec(pkg.devDependencies.node)?.[1]
  t.ok(Number(major) >= Number(/(\d+)/.exec(pkg.engines.node)?.[1]), `Node ${major} satisfies engines ${pkg.engines.node}`)
  for (const image of froms) t.match(image, new RegExp(`^node:${major}(\\b|-)`), `${image} is the Node ${major} of the node devDependency`)
  const runs = dockerfile.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.value)
  t.ok(
    runs.some((r) => /npm ci\b.*--omit=dev/.test(r)),
    'npm ci --omit=dev',
  )
  t.same(JSON.parse(dockerfile.last('ENTRYPOINT')), ['node', 'bin/stepsplice.js'], 'the base image’s node runs the CLI')
  const copied = dockerfile.instructions.filter((i) => i.keyword === 'COPY' && !i.value.startsWith('--from')).flatMap((i) => i.value.split(/\s+/).slice(0, -1))
  t.same([...new Set(copied)].sort(), ['bin', 'bin/stepsplice.js', 'package-lock.json', 'package.json', 'src', 'tsconfig.build.json', 'tsconfig.json'])
  // Each path a COPY names from the context exists (a renamed file would fail the build, not a test).
  for (const path of new Set(copied))
    t.ok(
      await readFile(join(root, path)).then(
        () => true,
        (e: NodeJS.ErrnoException) => e.code === 'EISDIR',
      ),
      `${path} exists`,
    )
})

/** Docker's .dockerignore rules: glob patterns over slash paths, `**` any number of directories, `!` re-includes, the last match wins, a match on a directory covers what it holds. */
function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const include = l.startsWith('!')
      const pattern = (include ? l.slice(1) : l).replace(/^\/+|\/+$/g, '')
      const source = pattern
        .split('/')
        .map((part) =>
          part === '**'
            ? '(?:.*)'
            : part
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')
        .replace(/\(\?:\.\*\)\//g, '(?:.*/)?')
      return { include, regex: new RegExp(`^${source}$`) }
    })
  return (path) => {
    const parts = path.split('/')
    let excluded = false
    for (const rule of rules) {
      // The path itself or any directory above it.
      const matches = parts.some((_, i) => rule.regex.test(parts.slice(0, i + 1).join('/')))
      if (matches) excluded = !rule.include
    }
    return excluded
  }
}

async function listFiles(dir: string, skip: Set<string>): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (skip.has(relative(root, path))) continue
    if (entry.isDirectory()) out.push(...(await listFiles(path, skip)))
    else out.push(relative(root, path))
  }
  return out
}

t.test('the image runs the compiled package, built in a stage of its own', async (t) => {
  const dockerfile = await readDockerfile()
  const stages = dockerfile.instructions.filter((i) => i.keyword === 'FROM').map((i) => i.value)
  t.equal(stages.length, 3, stages.join('; '))
  const final = dockerfile.instructions.slice(dockerfile.instructions.findLastIndex((i) => i.keyword === 'FROM'))
  const copies = final.filter((i) => i.keyword === 'COPY').map((i) => i.value)
  t.ok(copies.includes('--from=build /app/dist ./dist'), 'dist/ from the build stage')
  t.notOk(
    copies.some((c) => /(^|\s)src\b/.test(c)),
    'no TypeScript sources: bin/stepsplice.js runs dist/ when src/ is absent',
  )
  const env = final.filter((i) => i.keyword === 'ENV').map((i) => i.value)
  t.ok(env.includes('NODE_ENV=production') && env.includes('NODE_OPTIONS=--max-semi-space-size=8') && env.includes('MALLOC_ARENA_MAX=2'))
})

t.test('.dockerignore sends only what the image copies, and never a key', async (t) => {
  const ignored = dockerignore(await readFile(join(root, '.dockerignore'), 'utf8'))
  const files = await listFiles(root, new Set(['node_modules', '.git', '.tap', 'coverage']))
  const sent = files.filter((f) => !ignored(f))
  t.ok(sent.includes('package.json') && sent.includes('package-lock.json') && sent.includes('bin/stepsplice.js') && sent.includes('src/cli/main.ts'))
  t.same(
    sent.filter((f) => !/^(package\.json|package-lock\.json|tsconfig\.json|tsconfig\.build\.json|bin\/|src\/)/.test(f)),
    [],
    'nothing outside package.json, package-lock.json, the tsconfigs, bin/ and src/',
  )
  t.ok(sent.includes('tsconfig.json') && sent.includes('tsconfig.build.json'), 'the build stage compiles with them')
  for (const path of [
    'certs/ca.key',
    'certs/tls.key',
    'certs/tls.crt',
    'src/server/leaked.key',
    'bin/dev.pem',
    'src/kubeconfig',
    'node_modules/yaml/package.json',
    'test/deploy-manifests.test.ts',
    'bench/expand.ts',
    'dist/cli/main.js',
    '.git/HEAD',
    '.env',
    'deploy/base/deployment.yaml',
  ])
    t.ok(ignored(path), `${path} stays out of the build context`)
})
