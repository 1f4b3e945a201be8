// Loads @kubernetes/client-node's KubeConfig without the generated API
// surface. config.js imports two names from gen/index.js, the barrel that
// re-exports every API class and model the client has (1,060 files; about
// 42 MB of a server's memory, most of it source text V8 keeps for lazy
// compilation), and the client has no narrower entry. While config.js loads,
// a resolve hook hands it kube-client-api.ts in the barrel's place, which
// re-exports the same two from the files that define them. The hook is
// removed as soon as the import settles; if config.js was loaded before (a
// test that imports the client's index), this is simply that module.

import { registerHooks } from 'node:module'
import type { KubeConfig } from '@kubernetes/client-node'

// .js in the package: bin/build.js rewrites the URL.
const narrowApi = new URL('./kube-client-api.ts', import.meta.url).href

export async function loadKubeConfig(): Promise<typeof KubeConfig> {
  const config = import.meta.resolve('@kubernetes/client-node/dist/config.js')
  const hooks = registerHooks({
    resolve(specifier, context, nextResolve) {
      if (specifier === './gen/index.js' && context.parentURL === config) return { url: narrowApi, shortCircuit: true }
      return nextResolve(specifier, context)
    },
  })
  try {
    const module: { KubeConfig: typeof KubeConfig } = await import('@kubernetes/client-node/dist/config.js')
    return module.KubeConfig
  } finally {
    hooks.deregister()
  }
}
