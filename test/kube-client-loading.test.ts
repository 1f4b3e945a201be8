// How `serve --kube` loads @kubernetes/client-node: its KubeConfig and Watch,
// not the generated barrel of every API and model (about 42 MB of a server's
// memory) nor the serializer of every model (17 MB more). Observed in a
// process of its own, whose module cache is fresh: a load hook records each
// module the client brings in while the CLI, the cluster catalog and the
// cluster policies are imported and a KubeConfig is made and used.

import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const root = fileURLToPath(new URL('..', import.meta.url))

const script = `
import { registerHooks } from 'node:module'
const loaded = []
registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context) } })
const src = ${JSON.stringify(new URL('../src/', import.meta.url).href)}
await import(src + 'cli/main.ts')
await import(src + 'resolution/cluster.ts')
await import(src + 'server/cluster-policies.ts')
const { loadKubeConfig } = await import(src + 'resolution/kube-config.ts')
const KubeConfig = await loadKubeConfig()
const config = new KubeConfig()
config.loadFromClusterAndUser({ name: 'c', server: 'https://127.0.0.1:6443' }, { name: 'u', token: 'secret' })
const client = config.makeApiClient(class { constructor(configuration) { this.configuration = configuration } })
const client2 = await loadKubeConfig()
const marker = '/@kubernetes/client-node/dist/'
console.log(JSON.stringify({
  modules: loaded.filter((u) => u.includes(marker)).map((u) => u.slice(u.indexOf(marker) + marker.length)),
  server: config.getCurrentCluster()?.server,
  again: client2 === KubeConfig,
  made: client.configuration.baseServer.makeRequestContext('/api/v1', 'GET').getUrl(),
}))
`

const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 })
t.equal(run.status, 0, run.stderr)
const seen = JSON.parse(run.stdout) as { modules: string[]; server: string; again: boolean; made: string }

t.ok(seen.modules.includes('config.js'), "the client's KubeConfig is loaded")
t.ok(seen.modules.includes('watch.js'), 'and its Watch')
t.notOk(seen.modules.includes('gen/index.js'), 'not the barrel of every API and model')
t.notOk(seen.modules.includes('gen/models/ObjectSerializer.js'), 'nor the serializer that imports every model')
t.notOk(seen.modules.includes('index.js'), "nor the client's index")
t.notOk(
  seen.modules.some((m) => m.startsWith('gen/apis/') && m !== 'gen/apis/exception.js'),
  'no generated API class',
)
t.ok(seen.modules.length < 60, `${seen.modules.length} of the client's modules, not its 1,060`)
t.equal(seen.server, 'https://127.0.0.1:6443', 'the KubeConfig works')
t.equal(seen.made, 'https://127.0.0.1:6443/api/v1', 'makeApiClient too (createConfiguration and ServerConfiguration are the real ones)')
t.ok(seen.again, 'loading again answers the same class')
