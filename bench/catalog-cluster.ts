// Catalog at scale from the informer path (issue #13): 10,000 StepActions in
// an API server (the tests' in-process one, test/helpers/kube-api.ts, in a
// process of its own so its memory and objects are not counted), listed and
// watched by `serve --kube`'s ClusterCatalog through the real Kubernetes
// client, paged as the API server pages. Prints the time until the catalog
// is ready and the process's resident memory after; nothing asserts.
//
//   node --max-semi-space-size=8 bench/catalog-cluster.ts [count]   (as the server runs: see Dockerfile)

import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { getHeapSpaceStatistics } from 'node:v8'
import type { KubeObject } from '../src/types/k8s.ts'
import { benchStepAction } from './stepaction-yaml.ts'

const count = Number(process.argv[3] ?? process.argv[2] ?? 10_000)

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
    // As `stepsplice serve --kube` loads the client: KubeConfig without the generated API surface.
    const { loadKubeConfig } = await import('../src/resolution/kube-config.ts')
    const KubeConfig = await loadKubeConfig()
    const { ClusterCatalog } = await import('../src/resolution/cluster.ts')
    const kubeConfig = new KubeConfig()
    kubeConfig.loadFromFile(kubeconfig)
    global.gc?.()
    const before = process.memoryUsage().rss
    const started = performance.now()
    const catalog = new ClusterCatalog({ kubeConfig })
    catalog.start()
    while (!catalog.ready) await new Promise((r) => setTimeout(r, 5))
    const readyMs = performance.now() - started
    global.gc?.()
    const memory = process.memoryUsage()
    const rss = memory.rss
    const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.physical_space_size ?? 0
    const held = await catalog.resolve({ namespace: 'team-7', name: 'step-7' })
    if (!('definition' in held)) throw new Error(`step-7 is not in the catalog: ${JSON.stringify(held)}`)
    catalog.stop()
    console.log(`\nstepsplice catalog at scale from the API server: ${count} StepActions, listed and watched (Node ${process.version})`)
    console.log(
      `ready in ${(readyMs / 1000).toFixed(2)} s (target < 2 s); RSS ${(rss / 2 ** 20).toFixed(0)} MB, of which the catalog ~${((rss - before) / 2 ** 20).toFixed(0)} MB (target < 150 MB)`,
    )
    // Where it is: V8's heap (committed includes the young generation, which stays at its largest), external memory
    // (the client's largest module sources are held there), and the rest (the node binary's pages, malloc).
    const mb = (n: number): string => (n / 2 ** 20).toFixed(0)
    console.log(
      `RSS before the catalog ${mb(before)} MB (Node, the Kubernetes client, stepsplice's modules); after: V8 heap ${mb(memory.heapUsed)} MB used of ${mb(memory.heapTotal)} committed (young generation ${mb(young)}), external ${mb(memory.external)} MB, the rest ${mb(rss - memory.heapTotal - memory.external)} MB`,
    )
  } finally {
    api.kill('SIGTERM')
  }
}
