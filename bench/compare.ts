// The request path of the working tree against another commit's, in one
// process: both versions' sources are loaded side by side and their rounds
// interleave, so a host that slows down or speeds up weighs on both alike.
// Separate runs on this machine differ by a third from one minute to the
// next; interleaved, the same code's median ratio to itself stays within a
// few percent of 1, and the spread printed beside it says how large a
// difference the run could tell from noise.
//
// For each workload it prints the 25th percentile of the rounds' time per
// call for each side (the rounds the host left alone); the ratio of each
// round's pair (working tree over REF), its median and the spread of its
// middle half, which says how large a difference this run can tell from
// noise; and whether both sides gave the same answer, byte for byte: a
// change meant to be faster must not be a change of behaviour too. Both
// sides must do the work (patch what bench/limit.ts expects patched, expand
// without problems), or the run stops.
//
//   node bench/compare.ts REF [ROUNDS]     (npm run bench:compare -- REF)
//
// REF is any commit git names (HEAD to measure uncommitted edits). The
// commit's src/ is unpacked into a temporary directory beside the working
// tree's node_modules; commits from before src/admission/handle.ts and
// src/runs/expand.ts existed are refused. Figures only; nothing asserts on
// time.

import { execFileSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseAllDocuments } from 'yaml'
import type { Catalog } from '../src/resolution/catalog.ts'
import type { StepAction } from '../src/types/tekton.ts'
import { payloads, stepActions } from './payloads.ts'

const [ref, roundsArg] = process.argv.slice(2)
if (ref === undefined || ref.startsWith('-')) {
  console.error('usage: node bench/compare.ts REF [ROUNDS]   (REF: a commit, e.g. HEAD or main~3)')
  process.exit(2)
}
/** Rounds not counted: the JIT settles in them. */
const warmupRounds = 6
/** Counted rounds below which a quartile says little. */
const minCounted = 20
const rounds = Number(roundsArg ?? 60)
if (!Number.isInteger(rounds) || rounds < warmupRounds + minCounted) {
  console.error(`ROUNDS must be a whole number of at least ${warmupRounds + minCounted} (the first ${warmupRounds} are not counted), got ${roundsArg}`)
  process.exit(2)
}
/** About how long a round of one workload on one side runs. */
const roundMs = 10
/** How long each side runs each workload before its rounds count. */
const warmupMs = 1000

const root = fileURLToPath(new URL('../', import.meta.url))
const git = (...args: string[]): Buffer => execFileSync('git', args, { cwd: root, maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] })

let commit: string
try {
  commit = git('rev-parse', '--verify', `${ref}^{commit}`).toString().trim()
} catch {
  console.error(`compare: git knows no commit ${JSON.stringify(ref)}`)
  process.exit(2)
}

interface Side {
  label: string
  handleAdmission: (endpoint: 'mutate', body: string, catalog: Catalog, options: { deadlineMs: number }) => Promise<{ body: string }>
  planRun: (obj: unknown) => unknown
  expandRun: (obj: unknown, plan: unknown, namespace: string, resolutions: unknown) => { object: unknown; changed: boolean; problems: unknown[] }
  resolveReferences: (plan: unknown, namespace: string, catalog: Catalog) => Promise<unknown>
  catalog: Catalog
}

const definitions = parseAllDocuments(stepActions()).map((d) => d.toJS() as StepAction)

async function side(label: string, src: string): Promise<Side> {
  const load = (file: string): Promise<Record<string, unknown>> => import(pathToFileURL(join(src, file)).href)
  const files = ['admission/handle.ts', 'runs/expand.ts', 'resolution/resolve.ts', 'resolution/memory.ts']
  let modules: Record<string, unknown>[]
  try {
    modules = await Promise.all(files.map(load))
  } catch (err) {
    const message = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)
    // Only a missing file of the request path means the commit is of another layout; anything else is said as it is.
    const missing = (err as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND' && files.some((f) => message.includes(join(src, f)))
    throw new Error(`${label}: cannot load its request path: ${message}${missing ? `; compare needs src/${files.join(', src/')}` : ''}`)
  }
  // Typed here, not imported: the other commit's sources are another copy of these modules.
  const [handle, expand, resolve, memory] = modules as unknown as [
    Pick<Side, 'handleAdmission'>,
    Pick<Side, 'planRun' | 'expandRun'>,
    Pick<Side, 'resolveReferences'>,
    { MemoryCatalog: { of(origin: string, stepActions: readonly StepAction[]): Catalog } },
  ]
  return {
    label,
    handleAdmission: handle.handleAdmission,
    planRun: expand.planRun,
    expandRun: expand.expandRun,
    resolveReferences: resolve.resolveReferences,
    catalog: memory.MemoryCatalog.of('bench', definitions),
  }
}

interface Workload {
  label: string
  /** One call on a side. */
  prepare(s: Side): Promise<() => unknown>
  /** The side's answer as text, to compare the sides by; throws when the side did not do the work. */
  answer(s: Side): Promise<string>
}

const deadline = { deadlineMs: 10_000 }
const taskRun = payloads.find((p) => p.label.startsWith('TaskRun'))
if (taskRun === undefined) throw new Error('bench/payloads.ts has no TaskRun')
const taskRunObject = (JSON.parse(taskRun.body) as { request: { object: unknown } }).request.object

const workloads: Workload[] = [
  ...payloads.map(
    (p): Workload => ({
      label: `admission: ${p.label}`,
      prepare: async (s) => () => s.handleAdmission('mutate', p.body, s.catalog, deadline),
      answer: async (s) => {
        const body = (await s.handleAdmission('mutate', p.body, s.catalog, deadline)).body
        const response = (JSON.parse(body) as { response?: { allowed?: unknown; patch?: unknown } }).response
        if (response?.allowed !== true || (response.patch !== undefined) !== p.patched) {
          throw new Error(`${s.label} answered ${p.label} with ${body.slice(0, 300)}: expected it allowed${p.patched ? ' and patched' : ', unchanged'}`)
        }
        return body
      },
    }),
  ),
  {
    label: 'engine: expandRun, TaskRun 5 refs',
    prepare: async (s) => {
      const resolutions = await s.resolveReferences(s.planRun(taskRunObject), 'default', s.catalog)
      return () => s.expandRun(taskRunObject, s.planRun(taskRunObject), 'default', resolutions)
    },
    answer: async (s) => {
      const resolutions = await s.resolveReferences(s.planRun(taskRunObject), 'default', s.catalog)
      const expansion = s.expandRun(taskRunObject, s.planRun(taskRunObject), 'default', resolutions)
      // With problems the object comes back as it was sent: two sides failing alike would look the same.
      if (expansion.problems.length > 0 || !expansion.changed) {
        throw new Error(`${s.label} did not expand the TaskRun: ${JSON.stringify(expansion.problems).slice(0, 300)}`)
      }
      return JSON.stringify(expansion)
    },
  },
]

/** Microseconds a call, over `calls` calls. */
async function timed(call: () => unknown, calls: number): Promise<number> {
  const start = process.hrtime.bigint()
  for (let i = 0; i < calls; i++) await call()
  return Number(process.hrtime.bigint() - start) / 1e3 / calls
}

/** The value a fraction `q` of the way through the samples, in order. */
const quantile = (samples: readonly number[], q: number): number => [...samples].sort((a, b) => a - b)[Math.floor(q * (samples.length - 1))] ?? Number.NaN

const dir = await mkdtemp(join(tmpdir(), 'stepsplice-compare-'))
// Interrupted, the sources unpacked are removed all the same (finally does not run on a signal).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    rmSync(dir, { recursive: true, force: true })
    process.exit(130)
  })
}
try {
  execFileSync('tar', ['-x', '-C', dir], { input: git('archive', '--format=tar', commit, 'src', 'package.json') })
  await symlink(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir')
  const short = commit.slice(0, 7)
  const sides = [await side(ref === short ? short : `${ref} (${short})`, join(dir, 'src')), await side('working tree', join(root, 'src'))] as const
  console.log(`stepsplice compare: the working tree against ${sides[0].label}, Node ${process.version}`)
  console.log(
    `${rounds} interleaved rounds of ~${roundMs} ms per side and workload, the first ${warmupRounds} not counted. µs per call: 25th percentile of the rounds. ` +
      "ratio: working tree over REF, each round's pair, median [middle half]",
  )
  const width = Math.max(...workloads.map((w) => w.label.length))
  const refWidth = Math.max(sides[0].label.length, 8)
  console.log(`${'workload'.padEnd(width)}  ${sides[0].label.padStart(refWidth)}  working tree  ratio [middle half]  same answer`)
  for (const w of workloads) {
    const calls = await Promise.all(sides.map((s) => w.prepare(s)))
    const answers = await Promise.all(sides.map((s) => w.answer(s)))
    // Each side warmed up for about a second first: the JIT optimizes the hot functions over thousands of calls.
    // Calls per round from each side's own pace, so each side's rounds last about roundMs.
    const perRound: number[] = []
    for (const call of calls) {
      const start = Date.now()
      let perCall = 0
      while (Date.now() - start < warmupMs) perCall = await timed(call, 100)
      perRound.push(Math.max(20, Math.round((roundMs * 1000) / perCall)))
    }
    const samples: [number[], number[]] = [[], []]
    for (let r = 0; r < rounds; r++) {
      // Which side goes first alternates, so neither always follows the other's garbage.
      for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) {
        const us = await timed(calls[i] as () => unknown, perRound[i] as number)
        if (r >= warmupRounds) samples[i]?.push(us)
      }
    }
    const [before, after] = samples.map((x) => quantile(x, 0.25)) as [number, number]
    const ratios = samples[1].map((us, r) => us / (samples[0][r] as number))
    const ratio = `${quantile(ratios, 0.5).toFixed(2)}x [${quantile(ratios, 0.25).toFixed(2)}-${quantile(ratios, 0.75).toFixed(2)}]`
    const same = answers[0] === answers[1] ? 'yes' : `NO (${answers[0]?.length} and ${answers[1]?.length} bytes)`
    console.log(`${w.label.padEnd(width)}  ${before.toFixed(1).padStart(refWidth)}  ${after.toFixed(1).padStart(12)}  ${ratio.padEnd(19)}  ${same}`)
  }
} catch (err) {
  console.error(`compare: ${err instanceof Error ? err.message : String(err)}`)
  process.exitCode = 1
} finally {
  await rm(dir, { recursive: true, force: true })
}
