// Micro-benchmark: cost of expanding a TaskRun with 1, 10 and 100 referenced
// steps, through the same code admission runs (plan → resolve from an
// in-memory catalog → expand). Prints the median of many runs per size and
// the cost per step, which should stay flat as the step count grows.
//
//   npm run bench            (or: node bench/expand.ts [iterations])

import { MemoryCatalog } from '../src/resolution/memory.ts'
import { spliceObject } from '../src/pipeline/splice.ts'
import { expandRun, planRun } from '../src/runs/expand.ts'
import { resolveReferences } from '../src/resolution/resolve.ts'
import type { KubeObject } from '../src/types/k8s.ts'
import type { StepAction } from '../src/types/tekton.ts'

const iterations = Number(process.argv[2] ?? 2000)

const definitions: StepAction[] = [
  {
    apiVersion: 'tekton.dev/v1beta1',
    kind: 'StepAction',
    metadata: { name: 'build' },
    spec: {
      image: 'golang:1.25',
      params: [
        { name: 'packages', default: './...' },
        { name: 'flags', type: 'array', default: ['-trimpath'] },
        { name: 'dir', default: '/workspace/source' },
        { name: 'target', properties: { os: {}, arch: {} }, default: { os: 'linux', arch: 'amd64' } },
        { name: 'out', default: '$(params.dir)/bin' },
      ],
      workingDir: '$(params.dir)',
      env: [
        { name: 'GOOS', value: '$(params.target.os)' },
        { name: 'GOARCH', value: '$(params.target.arch)' },
      ],
      command: ['go', 'build'],
      args: ['-o', '$(params.out)', '$(params.flags[*])', '$(params.packages)'],
      results: [{ name: 'binary' }],
    },
  },
]

function taskRunWith(steps: number): KubeObject {
  return {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { name: `bench-${steps}`, namespace: 'default' },
    spec: {
      params: [{ name: 'flags', value: ['-v', '-race'] }],
      taskSpec: {
        params: [{ name: 'flags', type: 'array' }],
        steps: Array.from({ length: steps }, (_, i) => ({
          name: `build-${i}`,
          ref: { name: 'build' },
          params: [
            { name: 'flags', value: '$(params.flags[*])' },
            { name: 'packages', value: `./cmd/tool-${i}` },
            { name: 'target', value: { arch: 'arm64' } },
          ],
        })),
      },
    },
  }
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

async function measure(fn: () => unknown, runs: number): Promise<number> {
  for (let i = 0; i < Math.min(200, runs); i++) await fn()
  const samples: number[] = []
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint()
    await fn()
    samples.push(Number(process.hrtime.bigint() - start) / 1e6)
  }
  return median(samples)
}

const catalog = MemoryCatalog.of('bench', definitions)
const rows: { steps: number; expandMs: number; spliceMs: number }[] = []
for (const steps of [1, 10, 100]) {
  const obj = taskRunWith(steps)
  const runs = Math.max(50, Math.round(iterations / Math.sqrt(steps)))
  // Pure expansion: definitions already resolved, as in the webhook after lookup.
  const plan = planRun(obj)
  const resolved = await resolveReferences(plan, 'default', catalog)
  const check = expandRun(obj, planRun(obj), 'default', resolved)
  if (check.problems.length > 0) throw new Error(`benchmark input is invalid: ${JSON.stringify(check.problems)}`)
  const expandMs = await measure(() => expandRun(obj, planRun(obj), 'default', resolved), runs)
  const spliceMs = await measure(() => spliceObject(obj, 'default', { catalog }), runs)
  rows.push({ steps, expandMs, spliceMs })
}

console.log(`stepsplice expansion benchmark (median of up to ${iterations} runs, Node ${process.version})`)
console.log('steps  expand (ms)  per step (µs)  plan+resolve+expand (ms)')
for (const r of rows) {
  console.log(
    `${String(r.steps).padStart(5)}  ${r.expandMs.toFixed(4).padStart(11)}  ${((r.expandMs / r.steps) * 1000).toFixed(1).padStart(13)}  ${r.spliceMs.toFixed(4).padStart(24)}`,
  )
}
const ten = rows.find((r) => r.steps === 10)
const perStep = rows.map((r) => r.spliceMs / r.steps)
const growth = (perStep[2] ?? 0) / (perStep[1] ?? 1)
const us = (ms: number | undefined): string => (ms === undefined ? '?' : (ms * 1000).toFixed(1))
console.log(
  `10 referenced steps: expandRun ${us(ten?.expandMs)} µs (issue #13's target: < 30 µs), ${us(ten?.spliceMs)} µs with plan, resolve and checks; per-step cost at 100 vs 10 steps: ${growth.toFixed(2)}x (linear ≈ 1)`,
)
