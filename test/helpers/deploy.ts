// deploy/ as objects, for the tests that check it: the files kustomize reads,
// what `kubectl kustomize` and `helm template` render from them (with the
// kubectl and helm that deploy/k8s-tools.sh installs), and look-ups.

import { execFile } from 'node:child_process'
import { access, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parseAllDocuments } from 'yaml'
import { root } from './server.ts'

const run = promisify(execFile)

export const deployDir = join(root, 'deploy')
export const chartDir = join(deployDir, 'helm/stepsplice')

export interface Manifest {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
  [field: string]: unknown
}

/** Every document of a YAML stream as a manifest; empty documents (a lone `---`, comments) are skipped. */
export function parseManifests(text: string, source: string): Manifest[] {
  const out: Manifest[] = []
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors[0]?.message}`)
    const value = doc.toJS({ maxAliasCount: -1 }) as unknown
    if (value === null || value === undefined) continue
    const m = value as Partial<Manifest>
    if (typeof m.apiVersion !== 'string' || typeof m.kind !== 'string' || typeof m.metadata?.name !== 'string') {
      throw new Error(`${source}: a document without apiVersion, kind and metadata.name`)
    }
    out.push(m as Manifest)
  }
  return out
}

interface Kustomization {
  resources?: string[]
}

/** The `resources` of a kustomization directory, read as kustomize reads them: files in order, directories recursively. */
export async function kustomizationResources(dir: string): Promise<Manifest[]> {
  const k = parseYaml(await readFile(join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization
  const out: Manifest[] = []
  for (const entry of k.resources ?? []) {
    const path = join(dir, entry)
    if ((await stat(path)).isDirectory()) out.push(...(await kustomizationResources(path)))
    else out.push(...parseManifests(await readFile(path, 'utf8'), path))
  }
  return out
}

/** A single YAML document with no shape expected of it (a kustomization, values, Chart.yaml). */
export function parseYaml(text: string): unknown {
  const [doc] = parseAllDocuments(text)
  return doc?.toJS() as unknown
}

/** `kind/namespace/name`: what identifies an object in a cluster. */
export const keyOf = (m: Manifest): string => `${m.kind}/${m.metadata.namespace ?? ''}/${m.metadata.name}`

export function find(objects: Manifest[], kind: string, name?: string): Manifest {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name))
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}: ${objects.map(keyOf).join(', ')}`)
  return found[0] as Manifest
}

// Typed views of the fields the tests read.

export interface Container {
  name: string
  image: string
  args: string[]
  ports: { name: string; containerPort: number }[]
  readinessProbe: { httpGet: { path: string; port: string | number; scheme?: string } }
  livenessProbe: { httpGet: { path: string; port: string | number; scheme?: string } }
  lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: { command: string[] } } }
  resources: { requests?: Record<string, string>; limits?: Record<string, string> }
  securityContext: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[]; add?: string[] } }
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[]
}

export interface PodSpec {
  serviceAccountName?: string
  automountServiceAccountToken?: boolean
  securityContext: { runAsNonRoot?: boolean; runAsUser?: number; runAsGroup?: number; seccompProfile?: { type: string } }
  topologySpreadConstraints?: { topologyKey: string; labelSelector: { matchLabels: Record<string, string> } }[]
  terminationGracePeriodSeconds: number
  containers: Container[]
  volumes: { name: string; configMap?: { name: string; optional?: boolean }; secret?: { secretName: string } }[]
}

export interface DeploymentView {
  replicas: number
  selector: { matchLabels: Record<string, string> }
  template: { metadata: { labels: Record<string, string> }; spec: PodSpec }
}

export interface WebhookView {
  name: string
  admissionReviewVersions: string[]
  sideEffects: string
  failurePolicy: string
  timeoutSeconds: number
  reinvocationPolicy?: string
  matchPolicy?: string
  clientConfig: { service: { name: string; namespace: string; path: string; port?: number }; caBundle?: string }
  rules: { apiGroups: string[]; apiVersions: string[]; resources: string[]; operations: string[]; scope?: string }[]
  namespaceSelector?: { matchExpressions?: { key: string; operator: string; values: string[] }[] }
  matchConditions?: { name: string; expression: string }[]
}

export const deploymentSpec = (d: Manifest): DeploymentView => d.spec as DeploymentView
export const webhooksOf = (c: Manifest): WebhookView[] => c.webhooks as WebhookView[]

/** The `--flag` → value pairs of container args (`--flag=value`; a bare `--flag` maps to true). */
export function flagsOf(args: string[]): Map<string, string | true> {
  const flags = new Map<string, string | true>()
  for (const a of args) {
    if (!a.startsWith('--')) continue
    const eq = a.indexOf('=')
    flags.set(eq < 0 ? a : a.slice(0, eq), eq < 0 ? true : a.slice(eq + 1))
  }
  return flags
}

/** Where deploy/k8s-tools.sh puts kubectl and helm. */
export async function k8sToolsDir(): Promise<string> {
  const { stdout } = await run('bash', [join(deployDir, 'k8s-tools.sh'), '--print-dir'])
  const dir = stdout.trim()
  for (const tool of ['kubectl', 'helm']) {
    try {
      await access(join(dir, tool))
    } catch {
      throw new Error(`${tool} is not installed in ${dir}: run \`make k8s-tools\` (deploy/k8s-tools.sh) first; \`make test\` does`)
    }
  }
  return dir
}

/** Runs kubectl or helm from k8sToolsDir(), with that directory first on PATH (deploy/dev.sh finds kubectl there). */
export async function runTool(tool: 'kubectl' | 'helm', args: string[]): Promise<string> {
  const dir = await k8sToolsDir()
  try {
    const { stdout } = await run(join(dir, tool), args, { cwd: root, maxBuffer: 16 << 20, env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` } })
    return stdout
  } catch (err) {
    const e = err as { stderr?: string; message: string }
    throw new Error(`${tool} ${args.join(' ')} failed: ${e.stderr || e.message}`)
  }
}

export async function kustomize(dir: string): Promise<Manifest[]> {
  return parseManifests(await runTool('kubectl', ['kustomize', dir]), `kubectl kustomize ${dir}`)
}

/** `helm template stepsplice deploy/helm/stepsplice -n NAMESPACE --include-crds --set ...`: the CRDs too, as `helm install` applies them. */
export async function helmTemplate(set: string[] = [], namespace = 'stepsplice-system'): Promise<Manifest[]> {
  const args = ['template', 'stepsplice', chartDir, '--namespace', namespace, '--include-crds', ...set.flatMap((s) => ['--set', s])]
  return parseManifests(await runTool('helm', args), `helm ${args.join(' ')}`)
}

/** Labels Helm adds to every object's metadata and kustomize does not: they say who manages it, not what it is. */
export const helmOnlyLabels = ['helm.sh/chart', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/instance', 'app.kubernetes.io/version']

export function withoutHelmLabels(m: Manifest): Manifest {
  const copy = structuredClone(m)
  const labels = copy.metadata.labels
  if (labels) for (const l of helmOnlyLabels) delete labels[l]
  return copy
}

/** Objects by keyOf, sorted: two renderings compare equal when they hold the same objects, whatever their order. */
export function byKey(objects: Manifest[]): Record<string, Manifest> {
  const out: Record<string, Manifest> = {}
  for (const o of [...objects].sort((a, b) => keyOf(a).localeCompare(keyOf(b)))) {
    if (keyOf(o) in out) throw new Error(`${keyOf(o)} appears twice`)
    out[keyOf(o)] = o
  }
  return out
}
