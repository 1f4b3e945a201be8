// deploy/ rendered by the real tools, kubectl's kustomize and helm 4 (from
// deploy/k8s-tools.sh): the base renders as written, the cert-manager overlay
// adds exactly its certificates and annotations, the Helm chart's defaults
// render the same objects as the overlay and its secret mode the same as
// deploy/dev.sh, and every value of the chart changes what it says. dev.sh is
// run for real, against a kubectl that records instead of applying: the
// webhook configurations go last, and only once the Deployment is ready.

import { execFile } from 'node:child_process'
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { main } from '../src/cli/main.ts'
import {
  byKey,
  chartDir,
  deployDir,
  deploymentSpec,
  find,
  flagsOf,
  helmTemplate,
  k8sToolsDir,
  keyOf,
  kustomizationResources,
  kustomize,
  type Manifest,
  parseManifests,
  parseYaml,
  runTool,
  webhooksOf,
  withoutHelmLabels,
} from './helpers/deploy.ts'
import { captureIO, type Certs, mintCerts, root, type TapTest, tempDir } from './helpers/server.ts'

const run = promisify(execFile)

const base = await kustomizationResources(deployDir)
const overlay = await kustomize(join(deployDir, 'overlays/cert-manager'))
const defaults = await helmTemplate(['createNamespace=true'])

const containerOf = (objects: Manifest[]) => {
  const c = deploymentSpec(find(objects, 'Deployment')).template.spec.containers[0]
  if (c === undefined) throw new Error('no container')
  return c
}
const argsOf = (objects: Manifest[]): string[] => containerOf(objects).args
const allWebhooks = (objects: Manifest[]) => [
  ...webhooksOf(find(objects, 'MutatingWebhookConfiguration')),
  ...webhooksOf(find(objects, 'ValidatingWebhookConfiguration')),
]

/** The real CLI parser reads the args (strictly), then --help stops it before it serves. */
async function parses(t: TapTest, args: string[]): Promise<void> {
  const io = captureIO()
  t.equal(await main([...args, '--help'], io), 0, `stepsplice accepts ${args.join(' ')}: ${io.err.split('\n')[0]}`)
}

t.test('`kubectl kustomize deploy/` renders the base files as they are written', async (t) => {
  t.same(byKey(await kustomize(deployDir)), byKey(base))
})

t.test('the cert-manager overlay adds its Issuers and Certificates and the inject-ca-from annotations, and changes nothing else', async (t) => {
  const certificates = parseManifests(await readFile(join(deployDir, 'overlays/cert-manager/certificates.yaml'), 'utf8'), 'certificates.yaml')
  const expected = byKey([...base, ...certificates])
  for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
    const key = keyOf(find(base, kind))
    const annotated = structuredClone(expected[key] as Manifest)
    annotated.metadata.annotations = { 'cert-manager.io/inject-ca-from': 'stepsplice-system/stepsplice-serving' }
    expected[key] = annotated
  }
  t.same(byKey(overlay), expected)
})

t.test("the chart's defaults render the cert-manager overlay's objects", async (t) => {
  const helm = defaults.map(withoutHelmLabels)
  t.same(Object.keys(byKey(helm)), Object.keys(byKey(overlay)), 'the same objects')
  const expected = byKey(overlay)
  for (const [key, object] of Object.entries(byKey(helm))) t.same(object, expected[key], key)
  for (const o of defaults) {
    // Helm installs crds/ as they are written, untemplated, and never upgrades them (deploy/README.md says how to).
    if (o.kind === 'CustomResourceDefinition') t.equal(o.metadata.labels?.['app.kubernetes.io/managed-by'], undefined, `${keyOf(o)} is not templated`)
    else t.equal(o.metadata.labels?.['app.kubernetes.io/managed-by'], 'Helm', `${keyOf(o)} says Helm manages it`)
  }
})

t.test('`helm lint` passes, and the values schema refuses what makes no sense', async (t) => {
  await runTool('helm', ['lint', '--strict', chartDir])
  const refused = async (set: string[], why: RegExp): Promise<void> => {
    await t.rejects(helmTemplate(set), why, set.join(' '))
  }
  await refused(['webhooks.failurePolicy=Sometimes'], /failurePolicy/)
  await refused(['certificates.mode=vault'], /mode/)
  await refused(['certificates.mode=secret'], /certificates\.caBundle is required/)
  await refused(['deadlineSeconds=5'], /deadlineSeconds must be below webhooks\.timeoutSeconds/)
  await refused(['networkPolicy.enabled=true'], /networkPolicy\.apiServerCIDRs is required/)
  await refused(['sharedNamespaces={Not_A_Namespace}'], /sharedNamespaces/)
  await refused(['remote.hosts={https://github.com}'], /remote/)
  await refused(['imagee.tag=x'], /imagee/)
})

t.test('image, replicas and resources are the values given', async (t) => {
  t.equal(
    containerOf(defaults).image,
    `ghcr.io/stepsplice/stepsplice:${(parseYaml(await readFile(join(chartDir, 'Chart.yaml'), 'utf8')) as { appVersion: string }).appVersion}`,
  )
  const objects = await helmTemplate(['image.repository=registry.example.com/stepsplice', 'image.tag=1.2.3', 'replicas=3', 'resources.limits.memory=1Gi'])
  t.equal(containerOf(objects).image, 'registry.example.com/stepsplice:1.2.3')
  t.equal(deploymentSpec(find(objects, 'Deployment')).replicas, 3)
  t.same(containerOf(objects).resources, { requests: { cpu: '100m', memory: '384Mi' }, limits: { memory: '1Gi' } })
})

t.test('the namespace reaches every object that names one', async (t) => {
  const objects = await helmTemplate([], 'ci-webhooks')
  t.notOk(
    objects.some((o) => o.kind === 'Namespace'),
    'the release namespace is created by `helm install --create-namespace`, not rendered',
  )
  for (const o of objects) {
    if (['CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'].includes(o.kind))
      continue
    t.equal(o.metadata.namespace, 'ci-webhooks', keyOf(o))
  }
  t.same((find(objects, 'ClusterRoleBinding').subjects as { namespace: string }[])[0]?.namespace, 'ci-webhooks')
  for (const w of allWebhooks(objects)) {
    t.equal(w.clientConfig.service.namespace, 'ci-webhooks', `${w.name} calls the Service there`)
    t.same(w.namespaceSelector?.matchExpressions?.[0]?.values, ['kube-system', 'ci-webhooks'], `${w.name} skips its own namespace`)
  }
  for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'])
    t.equal(find(objects, kind).metadata.annotations?.['cert-manager.io/inject-ca-from'], 'ci-webhooks/stepsplice-serving')
  t.same((find(objects, 'Certificate', 'stepsplice-serving').spec as { dnsNames: string[] }).dnsNames, [
    'stepsplice.ci-webhooks.svc',
    'stepsplice.ci-webhooks.svc.cluster.local',
  ])
  const created = await helmTemplate(['namespace=other', 'createNamespace=true'], 'ci-webhooks')
  t.equal(find(created, 'Namespace').metadata.name, 'other', 'the namespace value wins over the release namespace')
})

t.test('failurePolicy, shared namespaces, the metrics port and taskRef inlining', async (t) => {
  const ignore = await helmTemplate(['webhooks.failurePolicy=Ignore'])
  t.same(
    allWebhooks(ignore).map((w) => w.failurePolicy),
    ['Ignore', 'Ignore', 'Ignore', 'Ignore', 'Ignore', 'Ignore', 'Ignore'],
  )

  const shared = await helmTemplate(['sharedNamespaces={tekton-steps,platform}'])
  t.same(
    argsOf(shared).filter((a) => a.startsWith('--shared-namespace')),
    ['--shared-namespace=tekton-steps', '--shared-namespace=platform'],
  )
  await parses(t, argsOf(shared))

  const remote = await helmTemplate(['remote.hosts={github.com,*.example.com}', 'remote.requireResolution={git,http}', 'remote.cacheSizeLimit=3Gi'])
  t.same(
    argsOf(remote).filter((a) => a.startsWith('--remote-host') || a.startsWith('--require-resolution')),
    ['--remote-host=github.com', '--remote-host=*.example.com', '--require-resolution=git,http'],
  )
  t.match(remote.find((m) => m.kind === 'Deployment')?.spec, {
    template: { spec: { volumes: [{}, {}, { name: 'remote-cache', emptyDir: { sizeLimit: '3Gi' } }] } },
  })
  await parses(t, argsOf(remote))

  const metrics = await helmTemplate(['metricsPort=9100'])
  t.equal(flagsOf(argsOf(metrics)).get('--metrics-port'), '9100')
  t.same(containerOf(metrics).ports, [
    { name: 'https', containerPort: 8443 },
    { name: 'metrics', containerPort: 9100 },
  ])
  t.same(
    (find(metrics, 'Service').spec as { ports: { port: number }[] }).ports.map((p) => p.port),
    [443, 9100],
  )
  t.equal(containerOf(metrics).readinessProbe.httpGet.port, 'metrics', 'the probes follow the port by name')

  const noInline = await helmTemplate(['inlineTaskRefs=false'])
  t.ok(argsOf(noInline).includes('--no-inline-task-refs'))
  t.same(
    webhooksOf(find(noInline, 'MutatingWebhookConfiguration')).map((w) => w.name),
    ['steps.stepsplice.dev', 'pods.stepsplice.dev'],
    'TaskRuns with a taskRef are not sent to a server that leaves them alone',
  )
  await parses(t, argsOf(noInline))
})

t.test('kube=false serves the catalog only, with no cluster access', async (t) => {
  const objects = await helmTemplate(['kube=false'])
  t.notOk(argsOf(objects).includes('--kube'))
  t.notOk(objects.some((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding'))
  t.equal(deploymentSpec(find(objects, 'Deployment')).template.spec.automountServiceAccountToken, false)
  await parses(t, argsOf(objects))
})

t.test('policies.allRuns and allPods send every run and Pod: the kustomize components render the same', async (t) => {
  const sortedWebhooks = (objects: Manifest[]): Record<string, Manifest> =>
    byKey(
      objects.map((o) => {
        const copy = withoutHelmLabels(o)
        if (Array.isArray(copy.webhooks)) copy.webhooks = [...(copy.webhooks as { name: string }[])].sort((a, b) => a.name.localeCompare(b.name))
        return copy
      }),
    )
  // An overlay as a user writes one, outside the repository; kustomize takes bases and components by relative path.
  const overlay = await tempDir(t)
  const from = (dir: string): string => relative(overlay, join(deployDir, dir))
  const components = ['policies-all-runs', 'policies-all-pods'].map((c) => from(`components/${c}`))
  await writeFile(join(overlay, 'kustomization.yaml'), `resources: [${from('base')}]\ncomponents: [${components.join(', ')}]\n`)
  const everything = await kustomize(overlay)
  const helm = await helmTemplate([
    'createNamespace=true',
    'certificates.mode=secret',
    'certificates.caBundle=Cg==',
    'policies.allRuns=true',
    'policies.allPods=true',
  ])
  const mutating = webhooksOf(find(everything, 'MutatingWebhookConfiguration'))
  t.strictSame(mutating.map((w) => w.name).sort(), ['pods.stepsplice.dev', 'steps.stepsplice.dev'], 'taskRef TaskRuns reach the steps webhook now')
  t.equal(mutating.find((w) => w.name === 'steps.stepsplice.dev')?.matchConditions, undefined, 'every run')
  t.strictSame(
    mutating.find((w) => w.name === 'pods.stepsplice.dev')?.matchConditions?.map((c) => c.name),
    ['not-tekton-controller', 'creates-or-changes-an-image'],
    'every Pod but those Tekton creates for TaskRuns, and at UPDATE only a change of images',
  )
  t.match(mutating.find((w) => w.name === 'pods.stepsplice.dev')?.matchConditions?.[0], {
    expression: "request.userInfo.username != 'system:serviceaccount:tekton-pipelines:tekton-pipelines-controller'",
  })
  t.ok(argsOf(helm).includes('--tekton-controller=system:serviceaccount:tekton-pipelines:tekton-pipelines-controller'), 'the server trusts the same user')
  // The chart's secret mode adds the CA to each webhook; the base has none: compare the rest.
  const withoutCa = (objects: Manifest[]): Manifest[] =>
    objects
      .filter((o) => o.kind !== 'Secret' && o.kind !== 'Issuer' && o.kind !== 'Certificate')
      .map((o) => {
        if (!Array.isArray(o.webhooks)) return o
        const copy = structuredClone(o)
        for (const w of copy.webhooks as { clientConfig: { caBundle?: string } }[]) delete w.clientConfig.caBundle
        return copy
      })
  t.same(sortedWebhooks(withoutCa(helm)), sortedWebhooks(withoutCa(everything)))
})

t.test('webhooks.enabled=false renders no webhook configuration, for a two-step install', async (t) => {
  const objects = await helmTemplate(['webhooks.enabled=false'])
  t.notOk(objects.some((o) => o.kind.endsWith('WebhookConfiguration')))
  t.ok(objects.some((o) => o.kind === 'Deployment'))
})

t.test("the chart's network policy is the base's, with the addresses given", async (t) => {
  const objects = await helmTemplate(['networkPolicy.enabled=true', 'networkPolicy.apiServerCIDRs={192.0.2.0/24}'])
  const fromFile = find(parseManifests(await readFile(join(deployDir, 'base/networkpolicy.yaml'), 'utf8'), 'networkpolicy.yaml'), 'NetworkPolicy')
  t.same(withoutHelmLabels(find(objects, 'NetworkPolicy')), fromFile)
})

/** Runs deploy/dev.sh with kubectl from k8s-tools first on PATH; returns stdout, stderr and the exit code. */
async function devScript(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const tools = await k8sToolsDir()
  try {
    const { stdout, stderr } = await run('bash', [join(deployDir, 'dev.sh'), ...args], {
      cwd: root,
      maxBuffer: 16 << 20,
      env: { ...process.env, PATH: `${tools}:${process.env.PATH ?? ''}`, ...env },
    })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
  }
}

interface DryRun {
  phase1: Manifest[]
  between: string
  phase2: Manifest[]
}

function splitDryRun(stdout: string): DryRun {
  const m = /^# phase 1:[^\n]*\n([\s\S]*?)^(# then:[^\n]*)\n# phase 2:[^\n]*\n([\s\S]*)$/m.exec(stdout)
  if (!m) throw new Error(`dev.sh --dry-run printed no phase 1, then, phase 2:\n${stdout.slice(0, 500)}`)
  return { phase1: parseManifests(m[1] ?? '', 'phase 1'), between: m[2] ?? '', phase2: parseManifests(m[3] ?? '', 'phase 2') }
}

const b64 = (buf: Buffer): string => buf.toString('base64')

async function dryRun(t: TapTest, env: Record<string, string> = {}): Promise<{ certs: Certs; out: DryRun }> {
  const certs = await mintCerts(t)
  const result = await devScript(['--dry-run'], { CERTS_DIR: certs.dir, ...env })
  if (result.code !== 0) throw new Error(`dev.sh --dry-run exited ${result.code}: ${result.stderr}`)
  return { certs, out: splitDryRun(result.stdout) }
}

t.test('deploy-dev: the Secret and everything else first, then the webhook configurations with the CA in every caBundle', async (t) => {
  const { certs, out } = await dryRun(t)
  t.same(
    out.phase2.map((o) => o.kind),
    ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'],
    'phase 2 is the webhook configurations alone',
  )
  t.notOk(
    out.phase1.some((o) => o.kind.endsWith('WebhookConfiguration')),
    'phase 1 holds no webhook configuration',
  )
  t.match(out.between, /rollout status deployment\/stepsplice/, 'between the phases it waits for the Deployment')
  t.same(out.phase1.map((o) => o.kind).sort(), [...base.filter((o) => !o.kind.endsWith('WebhookConfiguration')).map((o) => o.kind), 'Secret'].sort())
  t.equal(out.phase1[0]?.kind, 'Namespace', 'the namespace comes first')

  const secret = find(out.phase1, 'Secret')
  const tlsVolume = deploymentSpec(find(base, 'Deployment')).template.spec.volumes.find((v) => v.name === 'tls')
  t.equal(secret.metadata.name, tlsVolume?.secret?.secretName, 'the Secret the pod mounts')
  t.equal(secret.metadata.namespace, 'stepsplice-system')
  t.equal(secret.type, 'kubernetes.io/tls')
  const data = secret.data as Record<string, string>
  // Kustomize wraps long base64 over lines; the API server's decoder skips the line breaks.
  t.equal(data['tls.crt']?.replace(/\s/g, ''), b64(await readFile(certs.certFile)))
  t.equal(data['tls.key']?.replace(/\s/g, ''), b64(await readFile(certs.keyFile)))

  const webhooks = allWebhooks(out.phase2)
  t.equal(webhooks.length, 7)
  for (const w of webhooks) t.equal(w.clientConfig.caBundle, b64(certs.ca), `${w.name} trusts the CA that signed tls.crt`)
})

t.test("deploy-dev renders what the chart's secret mode renders, with the same CA", async (t) => {
  const { certs, out } = await dryRun(t)
  const helm = await helmTemplate(['createNamespace=true', 'certificates.mode=secret', `certificates.caBundle=${b64(certs.ca)}`])
  const script = [...out.phase1, ...out.phase2].filter((o) => o.kind !== 'Secret')
  t.same(byKey(helm.map(withoutHelmLabels)), byKey(script))
})

t.test('deploy-dev runs the image given', async (t) => {
  const { out } = await dryRun(t, { IMAGE: 'localhost:5001/stepsplice:dev' })
  t.equal(containerOf(out.phase1).image, 'localhost:5001/stepsplice:dev')
})

t.test('deploy-dev refuses a serving certificate its CA did not sign', async (t) => {
  const one = await mintCerts(t)
  const other = await mintCerts(t)
  const dir = await tempDir(t)
  for (const [from, name] of [
    [one, 'ca.crt'],
    [other, 'tls.crt'],
    [other, 'tls.key'],
  ] as const)
    await writeFile(join(dir, name), await readFile(join(from.dir, name)))
  const result = await devScript(['--dry-run'], { CERTS_DIR: dir })
  t.equal(result.code, 1)
  t.match(result.stderr, /is not signed by/)
  t.equal(result.stdout, '', 'nothing rendered')
})

/** A kubectl that renders with the real one and records every other call (and the files applied) instead of touching a cluster. */
async function recordingKubectl(t: TapTest): Promise<{ path: string; calls(): Promise<string[]>; applied(): Promise<Manifest[][]> }> {
  const dir = await tempDir(t)
  const real = join(await k8sToolsDir(), 'kubectl')
  const path = join(dir, 'kubectl')
  await writeFile(
    path,
    `#!/usr/bin/env bash
echo "$*" >> "${dir}/calls"
case $1 in
  kustomize) exec "${real}" "$@" ;;
  apply) n=$(ls "${dir}" | grep -c '^applied-' || true); cp "$3" "${dir}/applied-$n.yaml" ;;
  -n) exit "\${ROLLOUT_EXIT:-0}" ;;
  *) echo "unexpected kubectl $*" >&2; exit 3 ;;
esac
`,
  )
  await chmod(path, 0o755)
  return {
    path,
    calls: async () => (await readFile(join(dir, 'calls'), 'utf8')).trim().split('\n'),
    async applied() {
      const files = (await readdir(dir)).filter((f) => f.startsWith('applied-')).sort()
      return Promise.all(files.map(async (f) => parseManifests(await readFile(join(dir, f), 'utf8'), f)))
    },
  }
}

t.test('deploy-dev applies phase 1, waits for the rollout, then applies the webhook configurations', async (t) => {
  const kubectl = await recordingKubectl(t)
  const certs = await mintCerts(t)
  const result = await devScript([], { KUBECTL: kubectl.path, CERTS_DIR: certs.dir, ROLLOUT_TIMEOUT: '90s' })
  t.equal(result.code, 0, result.stderr)
  const calls = await kubectl.calls()
  t.match(calls, [
    /^kustomize /,
    /^apply -f .*phase1\.yaml$/,
    /^-n stepsplice-system rollout status deployment\/stepsplice --timeout=90s$/,
    /^apply -f .*phase2\.yaml$/,
  ])
  t.equal(calls.length, 4)
  const [phase1, phase2] = await kubectl.applied()
  t.ok(phase1?.some((o) => o.kind === 'Secret') && phase1.some((o) => o.kind === 'Deployment'))
  t.same(
    phase2?.map((o) => o.kind),
    ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'],
  )
})

t.test('deploy-dev leaves the webhook configurations out when the Deployment does not become ready', async (t) => {
  const kubectl = await recordingKubectl(t)
  const certs = await mintCerts(t)
  const result = await devScript([], { KUBECTL: kubectl.path, CERTS_DIR: certs.dir, ROLLOUT_EXIT: '1' })
  t.equal(result.code, 1)
  t.match(result.stderr, /webhook configurations were NOT applied/)
  t.match(result.stderr, /Tekton/, 'says the usual reason: no Tekton CRDs, so /readyz stays 503')
  t.equal((await kubectl.applied()).length, 1, 'only phase 1 was applied')
})

t.test('taskGroups.installCRD and the taskgroups component install the same TaskGroup CRD; neither by default', async (t) => {
  const crdsOf = (objects: Manifest[]): Manifest[] =>
    objects
      .filter((o) => o.kind === 'CustomResourceDefinition' && (o.metadata as { name?: string }).name === 'taskgroups.custom.tekton.dev')
      .map(withoutHelmLabels)
  t.equal(crdsOf(defaults).length, 0, 'not in the chart by default: a cluster may run TaskGroup’s own')
  t.equal(crdsOf(overlay).length, 0, 'nor in the base (the cert-manager overlay holds all of it)')
  const withComponent = await tempDir(t)
  await writeFile(
    join(withComponent, 'kustomization.yaml'),
    `resources: [${relative(withComponent, join(deployDir, 'base'))}]\ncomponents: [${relative(withComponent, join(deployDir, 'components/taskgroups'))}]\n`,
  )
  const fromComponent = crdsOf(await kustomize(withComponent))
  t.equal(fromComponent.length, 1)
  t.same(crdsOf(await helmTemplate(['taskGroups.installCRD=true'])), fromComponent)
  type CrdSpec = { versions: { schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, unknown> } } } } }[] }
  const schema = (fromComponent[0]?.spec as CrdSpec | undefined)?.versions[0]?.schema.openAPIV3Schema.properties.spec.properties
  t.ok(schema?.steps !== undefined && schema.params !== undefined, 'steps and params are described, for kubectl explain')
})
