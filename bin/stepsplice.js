#!/usr/bin/env node
// Runs the TypeScript CLI on Node 24, which strips types natively. On an
// older node (a shell whose PATH lacks node_modules/.bin) it re-runs itself
// with the Node 24 binary the `node` devDependency installs.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'

const major = Number(process.versions.node.split('.')[0])
if (major >= 24) {
  // It exits once stdout and stderr have taken everything: a pipe's reader may be slower than we are.
  const { runProcess } = await import('../src/cli/main.ts')
  await runProcess(process.argv.slice(2))
} else {
  let node
  try {
    node = createRequire(import.meta.url).resolve('node/bin/node')
  } catch {
    process.stderr.write(`stepsplice needs Node.js 24 or later (this is ${process.version}); run "npm ci" to install it locally\n`)
    process.exit(2)
  }
  const r = spawnSync(node, [new URL(import.meta.url).pathname, ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(r.status ?? 1)
}
