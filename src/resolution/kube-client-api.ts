// What @kubernetes/client-node's config.js imports from its generated API
// barrel (gen/index.js), and nothing else: kube-config.ts serves this module
// in the barrel's place while it loads KubeConfig. Both names come from the
// barrel's own files, so KubeConfig (makeApiClient included) behaves as
// shipped. If a release of the client imports another name there, loading
// fails at once with "does not provide an export named …" (the cluster tests
// load it this way), rather than behaving differently.

export { createConfiguration } from '@kubernetes/client-node/dist/gen/configuration.js'
export { ServerConfiguration } from '@kubernetes/client-node/dist/gen/servers.js'
