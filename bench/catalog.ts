// Catalog at scale (issue #13): 10,000 StepActions as files of a directory
// catalog, loaded the way `serve --catalog` loads them: the time until the
// catalog holds them all, and the process's resident memory after, in a
// process of its own so nothing else counts. Then the cost of one lookup,
// which must not grow with the catalog. Prints figures only.
//
//   node --expose-gc --max-semi-space-size=8 bench/catalog.ts [count]
//   (default 10000; the target: < 2 s, < 150 MB; the young generation as the image sets it, see Dockerfile)

import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DirectoryCatalog } from '../src/resolution/directory.ts'
import { benchStepAction } from './stepaction-yaml.ts'

const count = Number(process.argv[2] ?? 10_000)
const perFile = 10

/** As the other benchmarks' StepActions, pinned by digest as platform catalogs pin them. */
const stepAction = (i: number): string => benchStepAction(i, `registry.example/tools/step-${i}@sha256:${'0'.repeat(64)}`)

const dir = await mkdtemp(join(tmpdir(), 'stepsplice-catalog-'))
try {
  for (let f = 0; f * perFile < count; f++) {
    const docs = Array.from({ length: Math.min(perFile, count - f * perFile) }, (_, j) => stepAction(f * perFile + j))
    await writeFile(join(dir, `steps-${f}.yaml`), docs.join('---\n'))
  }
  global.gc?.()
  const before = process.memoryUsage().rss
  const started = performance.now()
  const catalog = await DirectoryCatalog.load([dir])
  const readyMs = performance.now() - started
  global.gc?.()
  const rss = process.memoryUsage().rss
  if (catalog.size !== count) throw new Error(`loaded ${catalog.size} of ${count}`)
  const lookups = 20_000
  const t0 = performance.now()
  for (let i = 0; i < lookups; i++) await catalog.resolve({ namespace: 'default', name: `step-${(i * 7919) % count}` })
  const lookupUs = ((performance.now() - t0) / lookups) * 1000
  console.log(`\nstepsplice catalog at scale: ${count} StepActions in ${Math.ceil(count / perFile)} files (Node ${process.version})`)
  console.log(
    `ready in ${(readyMs / 1000).toFixed(2)} s (target < 2 s); RSS ${(rss / 2 ** 20).toFixed(0)} MB, of which the catalog ~${((rss - before) / 2 ** 20).toFixed(0)} MB (target < 150 MB); one lookup ${lookupUs.toFixed(2)} µs`,
  )
} finally {
  await rm(dir, { recursive: true, force: true })
}
