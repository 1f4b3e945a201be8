// The cost of the hardening checks on the request path (docs/limits.md):
// `measure` (size and depth, run on the object before expansion and on the
// result after it) and `checkRunLimits` (counts and name lengths), on the
// example TaskRun and on a large realistic one (60 steps, 50 params), next to
// what the whole plan → resolve → expand costs; and the linear-time scanner
// and substitution, per MB of realistic text and of hostile text. Prints
// figures only.
//
//   npm run bench                  (or: node bench/limits.ts)
//   BENCH_QUICK=1 npm run bench    fewer samples

import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { Budget } from '../src/limits/budget.ts'
import { checkSizeAndDepth } from '../src/limits/measure.ts'
import { spliceObject } from '../src/pipeline/splice.ts'
import { DirectoryCatalog } from '../src/resolution/directory.ts'
import { checkRunLimits } from '../src/runs/limits.ts'
import type { KubeObject } from '../src/types/k8s.ts'
import type { ParamValue } from '../src/variables/param-value.ts'
import { applyString, replacementsFromParams } from '../src/variables/replacements.ts'
import { scanReferences } from '../src/variables/scan.ts'
import { largeTaskRun, reportScript } from './large-taskrun.ts'

const quick = process.env.BENCH_QUICK === '1'
const batches = quick ? 7 : 25
const root = new URL('../', import.meta.url)

/** Keeps results alive, so the work that produced them is not optimised away. */
let sink = 0

/**
 * Median microseconds per call: batches sized to take about `batchMs` each,
 * after a warm-up, so timer resolution and one slow batch do not count.
 */
async function perCall(fn: () => unknown, batchMs = 10): Promise<number> {
  let size = 1
  for (let spent = 0; spent < batchMs; size *= 2) {
    const start = performance.now()
    for (let i = 0; i < size; i++) await fn()
    spent = performance.now() - start
  }
  const samples: number[] = []
  for (let b = 0; b < batches; b++) {
    const start = performance.now()
    for (let i = 0; i < size; i++) await fn()
    samples.push(((performance.now() - start) * 1000) / size)
  }
  samples.sort((a, b) => a - b)
  return samples[Math.floor(samples.length / 2)] ?? Number.NaN
}

const catalog = await DirectoryCatalog.load([fileURLToPath(new URL('examples/stepactions', root))])
const review = JSON.parse(await readFile(new URL('examples/admission/taskrun-review.json', root), 'utf8')) as { request: { object: KubeObject } }
const objects: { label: string; obj: KubeObject }[] = [
  { label: 'example TaskRun (3 refs)', obj: review.request.object },
  { label: 'large TaskRun (60 steps, 50 params)', obj: largeTaskRun() },
]

console.log(`\nstepsplice limit checks: Node ${process.version}; median of ${batches} batches, µs per call`)
const checkWidths = [37, 11, 12, 13, 16, 14, 14]
/** One line of a table: the first cell aligned left, the figures right. */
const row = (widths: readonly number[], cells: readonly string[]): string =>
  cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('')
console.log(row(checkWidths, ['object', 'JSON bytes', 'check in', 'check out', 'checkRunLimits', 'whole splice', 'checks share']))
for (const { label, obj } of objects) {
  const expansion = await spliceObject(obj, 'default', { catalog })
  if (!expansion.changed || expansion.problems.length > 0 || expansion.warnings.length > 0) {
    throw new Error(`benchmark input "${label}" does not expand cleanly: ${JSON.stringify([...expansion.problems, ...expansion.warnings]).slice(0, 500)}`)
  }
  // As the pipeline checks them: a rough size first, exact only when that does not clear the limit.
  const measureIn = await perCall(() => (sink += checkSizeAndDepth(obj, '', 'the TaskRun').length))
  const measureOut = await perCall(() => (sink += checkSizeAndDepth(expansion.object, '', 'the TaskRun').length))
  const counts = await perCall(() => (sink += checkRunLimits(obj).length))
  const splice = await perCall(() => spliceObject(obj, 'default', { catalog }).then((e) => (sink += e.problems.length)))
  const share = (measureIn + measureOut + counts) / splice
  const figures = [measureIn, measureOut, counts, splice].map((us) => us.toFixed(1))
  console.log(row(checkWidths, [label, String(JSON.stringify(obj).length), ...figures, `${(share * 100).toFixed(1)} %`]))
}

// Realistic text: the large TaskRun's step scripts and args, whose `$(…)` are
// param references (found and replaced), step results and shell command
// substitutions (candidates that stay as written), about one per 40 characters.
const large = largeTaskRun()
const params: { name: string; value: ParamValue }[] = []
for (const p of (large.spec as { taskSpec: { params: { name: string; default?: unknown }[] } }).taskSpec.params) {
  const value: ParamValue = Array.isArray(p.default)
    ? { type: 'array', array: ['-trimpath', '-ldflags=-s -w', '-tags=release'] }
    : { type: 'string', string: typeof p.default === 'string' ? p.default : `value-of-${p.name}` }
  params.push({ name: p.name, value })
}
const table = replacementsFromParams(params).strings
const block = Array.from({ length: 10 }, (_, c) =>
  [reportScript(c), `--dockerfile=$(params.c${c}-image)/Dockerfile --context=dir://$(params.c${c}-repo) --digest-file=$(step.results.digest.path)`].join('\n'),
).join('\n')
const mib = 1024 * 1024
const realistic = block.repeat(Math.ceil(mib / block.length)).slice(0, mib)
// Hostile text: openers whose terminator never comes or comes after a newline, one `)` at the very end: candidates everywhere, none matches.
const unit = '$(params["x$(params.y\n$($('
const hostile = `${unit.repeat(Math.ceil(mib / unit.length)).slice(0, mib - 1)})`
const references = scanReferences(realistic, 'params').length
console.log(
  `\nscanner and substitution, MB/s (1 MiB of text; the realistic text has ${references} param references and ${realistic.split('$(').length - 1} \`$(\` in all; ${table.size} replacement keys)`,
)
const textWidths = [37, 16, 13]
console.log(row(textWidths, ['text', 'scanReferences', 'applyString']))
for (const [label, text] of [
  ['realistic (scripts, args)', realistic],
  ['hostile (openers, none matches)', hostile],
] as const) {
  const scan = await perCall(() => (sink += scanReferences(text, 'params').length))
  const apply = await perCall(() => (sink += applyString(text, table, new Budget()).length))
  // Bytes per microsecond are megabytes per second.
  console.log(row(textWidths, [label, ...[scan, apply].map((us) => (text.length / us).toFixed(0))]))
}
if (sink === -1) console.log('unreachable')
