// The webhook as remote-resolution tests run it: the resolvers `serve` would
// build from these flags (plus the test CA and a fresh cache directory), an
// empty local catalog, worker threads, real AdmissionReviews over TLS.

import { parseResolutionFlags, type ResolutionFlags } from '../../src/cli/resolution-flags.ts'
import { LayeredCatalog } from '../../src/resolution/layered.ts'
import { MemoryCatalog } from '../../src/resolution/memory.ts'
import type { KubeObject } from '../../src/types/k8s.ts'
import type { GitServer } from './git-server.ts'
import { applyEncodedPatch, type Certs, reviewOf, startTestServer, type TapTest, type TestServer, tempDir } from './server.ts'

/** A StepAction file as a catalog repository holds it. */
export function stepActionYaml(name: string, image: string): string {
  return `apiVersion: tekton.dev/v1beta1
kind: StepAction
metadata:
  name: ${name}
spec:
  image: ${image}
  params:
    - name: target
      default: all
  env:
    - name: TARGET
      value: $(params.target)
  script: |
    echo ${name} "$TARGET"
`
}

export interface WebhookOptions {
  deadlineMs?: number
  /** Admission worker threads: one unless a test is about several. */
  workers?: number
  requireResolution?: string[]
}

export async function remoteWebhook(t: TapTest, certs: Certs, flags: ResolutionFlags = {}, options: WebhookOptions = {}): Promise<TestServer> {
  const resolution = parseResolutionFlags({ 'remote-ca': certs.caFile, 'remote-cache-dir': await tempDir(t, 'stepsplice-remote-cache-'), ...flags })
  const catalog = new LayeredCatalog([{ catalog: MemoryCatalog.of('examples', []), origin: 'examples' }], resolution.layered)
  return startTestServer(t, {
    certs,
    catalog,
    workers: options.workers ?? 1,
    deadlineMs: options.deadlineMs ?? 5000,
    ...(options.requireResolution === undefined ? {} : { requireResolution: options.requireResolution }),
  })
}

export const param = (name: string, value: string) => ({ name, value })

export function gitRef(git: GitServer, repo: string, revision: string, path: string) {
  return { resolver: 'git', params: [param('url', git.repoUrl(repo)), param('revision', revision), param('pathInRepo', path)] }
}

export function taskRunOf(name: string, steps: Record<string, unknown>[]): KubeObject {
  return { apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { name, namespace: 'team-a' }, spec: { taskSpec: { steps } } }
}

export interface Answer {
  allowed: boolean
  message: string
  warnings: string[]
  object: KubeObject | undefined
}

export async function admit(server: TestServer, object: KubeObject): Promise<Answer> {
  const reply = await server.review('/mutate', reviewOf(object))
  const r = reply.body.response
  return {
    allowed: r.allowed,
    message: r.status?.message ?? '',
    warnings: r.warnings ?? [],
    object: r.patch === undefined ? undefined : (applyEncodedPatch(object, r.patch) as KubeObject),
  }
}

export function stepsOf(obj: KubeObject | undefined): Record<string, unknown>[] {
  return ((obj?.spec as { taskSpec?: { steps?: Record<string, unknown>[] } } | undefined)?.taskSpec?.steps ?? []) as Record<string, unknown>[]
}

export function provenance(obj: KubeObject | undefined): { step: string; definition: string; source: string; sourceDigest?: string }[] {
  return JSON.parse(obj?.metadata?.annotations?.['stepsplice.dev/resolved'] ?? '[]')
}

/** One catalog repository: a dozen StepActions at one commit, as Konflux's build-definitions hold them, and a few broken files. */
export async function catalogRepo(git: GitServer): Promise<{ names: string[]; pinned: string }> {
  const names = Array.from({ length: 12 }, (_, i) => `step-${String(i).padStart(2, '0')}`)
  const [pinned = ''] = await git.createRepo('catalog', [
    {
      files: {
        ...Object.fromEntries(names.map((n) => [`stepactions/${n}/${n}.yaml`, stepActionYaml(n, `registry.example/${n}:1`)])),
        'stepactions/bad.yaml': 'apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata:\n  name: bad\nspec:\n  image: x\n  command: [a]\n  script: echo\n',
        'stepactions/link.yaml': { symlink: 'step-00/step-00.yaml' },
        'README.md': 'catalog\n',
        // A Task a TaskGroup can use through the git resolver.
        'tasks/lint.yaml':
          'apiVersion: tekton.dev/v1\nkind: Task\nmetadata:\n  name: lint\nspec:\n  params:\n    - name: dir\n  steps:\n    - name: run\n      image: registry.example/lint:1\n      script: lint $(params.dir)\n',
      },
    },
  ])
  return { names, pinned }
}
