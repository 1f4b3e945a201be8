// The measuring process of bench/catalog-cluster.ts, in plain JavaScript so
// that it can run the compiled package (dist/, as the image runs it) with
// nothing else loaded: a .ts entry would bring Node's type stripper (about
// 18 MB) into a process that measures memory. Loads KubeConfig as
// `serve --kube` does, starts a ClusterCatalog against the kubeconfig given,
// and prints one JSON line: time until ready, RSS before and after (each
// after a full GC), and where the memory is.
//
//   node --expose-gc --max-semi-space-size=8 bench/catalog-cluster-measure.js <dist|src> <kubeconfig>

import { getHeapSpaceStatistics } from 'node:v8'

const [form, kubeconfig] = process.argv.slice(2)
if ((form !== 'dist' && form !== 'src') || kubeconfig === undefined) throw new Error('usage: catalog-cluster-measure.js <dist|src> <kubeconfig>')
const ext = form === 'dist' ? 'js' : 'ts'
const module = (path) => new URL(`../${form}/${path}.${ext}`, import.meta.url).href
if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc')

const { loadKubeConfig } = await import(module('resolution/kube-config'))
const KubeConfig = await loadKubeConfig()
const { ClusterCatalog } = await import(module('resolution/cluster'))
const kubeConfig = new KubeConfig()
kubeConfig.loadFromFile(kubeconfig)
globalThis.gc()
const before = process.memoryUsage().rss
const started = performance.now()
const catalog = new ClusterCatalog({ kubeConfig })
catalog.start()
while (!catalog.ready) await new Promise((r) => setTimeout(r, 5))
const readyMs = performance.now() - started
globalThis.gc()
const memory = process.memoryUsage()
const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.physical_space_size ?? 0
const held = await catalog.resolve({ namespace: 'team-7', name: 'step-7' })
await catalog.stop()
if (!('definition' in held)) throw new Error(`step-7 is not in the catalog: ${JSON.stringify(held)}`)
process.stdout.write(
  `${JSON.stringify({ readyMs, before, rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal, external: memory.external, young })}\n`,
)
