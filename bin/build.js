#!/usr/bin/env node
// `npm run build` (and `npm pack`, through prepack): src/ compiled to dist/ as
// plain JavaScript for the package, since Node strips no types under
// node_modules. tsc rewrites the `.ts` of relative imports to `.js`
// (tsconfig.build.json); a module URL written as a string literal
// (`new URL('./x.ts', import.meta.url)`) is rewritten here, and the build
// fails if any `.ts` path is left. (The worker pool picks its worker's
// extension from its own URL, so it needs neither.) Not shipped: the
// package's `files` name only bin/stepsplice.js.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const dist = join(root, 'dist')

// Whatever an earlier build left (a file since removed from src/) must not ship.
rmSync(dist, { recursive: true, force: true })
const tsc = spawnSync('tsc', ['-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' })
if (tsc.status !== 0) {
  process.stderr.write(tsc.error ? `build: cannot run tsc: ${tsc.error.message}\n` : 'build: tsc failed\n')
  process.exit(1)
}

const moduleUrl = /new URL\((['"])(\.{1,2}\/[^'"]+)\.ts\1, import\.meta\.url\)/g
const leftover = /(['"])\.{1,2}\/[^'"\n]*\.ts\1/
const problems = []
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.js')) continue
  const file = join(entry.parentPath, entry.name)
  const before = readFileSync(file, 'utf8')
  const after = before.replace(moduleUrl, (whole, quote, path) => {
    if (!existsSync(join(entry.parentPath, `${path}.js`))) {
      problems.push(`${file}: ${whole} names no compiled module`)
      return whole
    }
    return `new URL(${quote}${path}.js${quote}, import.meta.url)`
  })
  if (after !== before) writeFileSync(file, after)
  const left = leftover.exec(after)
  if (left !== null) problems.push(`${file}: ${left[0]} still names a .ts file, which Node cannot load from node_modules`)
}
if (problems.length > 0) {
  process.stderr.write(`build: ${problems.join('\nbuild: ')}\n`)
  process.exit(1)
}
