#!/usr/bin/env node
// The `stepsplice` command, in its two homes.
//
// Installed from the package (npm pack, npm i -g): runs the compiled
// JavaScript in dist/ (Node refuses to strip types under node_modules), on
// any Node that package.json's `engines` allows; an older one gets one line
// saying which it needs.
//
// In the repository, where src/ is: runs the TypeScript sources on Node 24,
// which strips types natively, so nothing needs building. On an older node
// (a shell whose PATH lacks node_modules/.bin) it re-runs itself with the
// Node 24 binary the `node` devDependency installs.
//
// This file is plain JavaScript that any Node parses, so the message about
// the version is what an old one prints, not a syntax error.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { constants } from 'node:os'
import { fileURLToPath } from 'node:url'

const argv = process.argv.slice(2)
const version = process.versions.node.split('.').map(Number)

/** [major, minor, patch] of package.json's `engines.node`, which must read `>=X.Y.Z`. */
function requiredNode() {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  const m = /^>=\s*(\d+)\.(\d+)\.(\d+)$/.exec(pkg.engines?.node ?? '')
  if (m === null) throw new Error(`package.json engines.node must read ">=X.Y.Z", not ${JSON.stringify(pkg.engines?.node)}`)
  return [Number(m[1]), Number(m[2]), Number(m[3])]
}

function atLeast(have, need) {
  for (let i = 0; i < 3; i++) if ((have[i] ?? 0) !== need[i]) return (have[i] ?? 0) > need[i]
  return true
}

if (existsSync(new URL('../src/cli/main.ts', import.meta.url))) {
  if ((version[0] ?? 0) >= 24) {
    // It exits once stdout and stderr have taken everything: a pipe's reader may be slower than we are.
    const { runProcess } = await import('../src/cli/main.ts')
    await runProcess(argv)
  } else {
    let node
    try {
      node = createRequire(import.meta.url).resolve('node/bin/node')
    } catch {
      process.stderr.write(`stepsplice needs Node.js 24 or later to run from its sources (this is ${process.version}); run "npm ci" to install it locally\n`)
      process.exit(2)
    }
    const child = spawn(node, [fileURLToPath(import.meta.url), ...argv], { stdio: 'inherit' })
    // A signal sent to this process alone (a supervisor's SIGTERM, a `kill`) is for the command it runs: the
    // server kept running without it. A terminal's Ctrl-C reaches both; `serve` takes the repeat calmly.
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal))
    child.on('error', (err) => {
      process.stderr.write(`stepsplice: could not run ${node}: ${err.message}\n`)
      process.exit(2)
    })
    child.on('exit', (code, signal) => {
      if (signal === null) process.exit(code ?? 1)
      // Ended by a signal: so does this process, as its parent would see the command end (not an exit status).
      process.removeAllListeners(signal)
      process.kill(process.pid, signal)
      // A signal whose default is not to end a process: the shell's status for it.
      process.exit(128 + (constants.signals[signal] ?? 0))
    })
  }
} else {
  const need = requiredNode()
  if (!atLeast(version, need)) {
    process.stderr.write(`stepsplice needs Node.js ${need.join('.')} or later (this is ${process.version})\n`)
    process.exit(2)
  }
  // A computed specifier: in the repository dist/ is usually absent, and the linters must not look for it.
  const { runProcess } = await import(new URL('../dist/cli/main.js', import.meta.url).href)
  await runProcess(argv)
}
