// Catalog at scale from the informer path (issue #13): 10,000 StepActions in
// an API server (the tests' in-process one, test/helpers/kube-api.ts, in a
// process of its own so its memory and objects are not counted), listed and
// watched by `serve --kube`'s ClusterCatalog through the real Kubernetes
// client, paged as the API server pages. The catalog is measured in a
// process of its own per form (catalog-cluster-measure.js): the compiled
// package as the image runs it, then the TypeScript sources. Prints the time
// until the catalog is ready and the process's resident memory after;
// nothing asserts.
//
//   npm run build && node bench/catalog-cluster.ts [count]

import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { KubeObject } from '../src/types/k8s.ts'
import { benchStepAction } from './stepaction-yaml.ts'

const count = Number(process.argv[3] ?? process.argv[2] ?? 10_000)

interface Measured {
  readyMs: number
  before: number
  rss: number
  heapUsed: number
  heapTotal: number
  external: number
  young: number
}

/** Each form in a process of its own, with the flags and environment it runs with. */
const forms: { label: string; form: string; env: Record<string, string> }[] = [
  // The Dockerfile's NODE_OPTIONS and MALLOC_ARENA_MAX, on dist/ (`npm run bench` builds it first).
  { label: 'as the image runs it (dist/, MALLOC_ARENA_MAX=2)', form: 'dist', env: { MALLOC_ARENA_MAX: '2' } },
  // `make run` and the tests: the TypeScript sources, types stripped as they load.
  { label: 'from the sources (types stripped)', form: 'src', env: {} },
]

function measure(form: string, kubeconfig: string, env: Record<string, string>): Measured {
  const script = fileURLToPath(new URL('./catalog-cluster-measure.js', import.meta.url))
  const r = spawnSync(process.execPath, ['--expose-gc', '--max-semi-space-size=8', script, form, kubeconfig], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  if (r.status !== 0) throw new Error(`measuring ${form} failed (${r.status ?? r.signal})`)
  return JSON.parse(r.stdout) as Measured
}

if (process.argv[2] === 'api') {
  // The API server's process: 10,000 StepActions, then the kubeconfig's path on stdout; it runs until killed.
  const { parseDocuments } = await import('../src/json/documents.ts')
  const { startKubeApi, tektonResources } = await import('../test/helpers/kube-api.ts')
  const { tempDir } = await import('../test/helpers/server.ts')
  const cleanups: (() => unknown)[] = []
  const t = { teardown: (fn: () => unknown) => cleanups.push(fn) }
  const kube = await startKubeApi(t, { resources: [tektonResources.stepActions, tektonResources.tasks, tektonResources.taskGroups] })
  for (let i = 0; i < count; i++) {
    const [doc] = parseDocuments(benchStepAction(i, `registry.example/tools/step-${i}@sha256:${'0'.repeat(64)}`), 'bench').documents
    kube.create({ ...(doc as KubeObject), metadata: { name: `step-${i}`, namespace: `team-${i % 20}` } })
  }
  const path = await kube.writeKubeconfig(await tempDir(t, 'stepsplice-bench-kube-'))
  process.stdout.write(`kubeconfig ${path}\n`)
  process.on('SIGTERM', async () => {
    for (const fn of cleanups.reverse()) await fn()
    process.exit(0)
  })
} else {
  const api = spawn(process.execPath, [fileURLToPath(import.meta.url), 'api', String(count)], { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    const kubeconfig = await new Promise<string>((resolve, reject) => {
      let seen = ''
      api.stdout?.on('data', (chunk: Buffer) => {
        seen += chunk.toString()
        const m = /kubeconfig (\S+)\n/.exec(seen)
        if (m !== null) resolve(m[1] as string)
      })
      api.on('exit', (code) => reject(new Error(`API server exited (${code})`)))
    })
    console.log(`\nstepsplice catalog at scale from the API server: ${count} StepActions, listed and watched (Node ${process.version})`)
    const mb = (n: number): string => (n / 2 ** 20).toFixed(0)
    for (const form of forms) {
      const m = measure(form.form, kubeconfig, form.env)
      console.log(
        `${form.label}: ready in ${(m.readyMs / 1000).toFixed(2)} s (target < 2 s); RSS ${mb(m.rss)} MB (target < 150 MB), ${mb(m.before)} MB of it before the first definition`,
      )
      // Where it is: V8's heap (committed includes the young generation, which stays at its largest), external memory
      // (the client's largest module sources are held there), and the rest (the node binary's pages, malloc, WebAssembly).
      console.log(
        `  V8 heap ${mb(m.heapUsed)} MB used of ${mb(m.heapTotal)} committed (young generation ${mb(m.young)}), external ${mb(m.external)} MB, the rest ${mb(m.rss - m.heapTotal - m.external)} MB`,
      )
    }
  } finally {
    api.kill('SIGTERM')
  }
}
