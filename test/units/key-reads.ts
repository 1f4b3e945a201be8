// A step writes only the keys its definition reads (KeyReads): the table it
// builds so must substitute every text of the definition exactly as the full
// table does, and find the same errors. Checked on generated definitions
// whose texts use every spelling of every kind of param (whole, element,
// `[*]`, member, unknown), with values passed as strings, arrays, objects,
// task-param references and step-result references.

import fc from 'fast-check'
import t from 'tap'
import { resolveStepActionParams, substitutedTexts } from '../../src/steps/params.ts'
import type { Param, ParamSpec, Step } from '../../src/types/tekton.ts'
import { applyList, applyString, KeyReads, type Replacements, replacementsFromParams } from '../../src/variables/replacements.ts'
import { expand, stepAction, taskRun } from '../helpers/catalog.ts'

// `a.k1` meets object `a`'s member k1: the same dot key, which Tekton reports when the types differ.
const names = ['a', 'b', 'c', 'a.b', 'a.k1', 'x-y']
const members = ['k1', 'k2']
type Kind = 'string' | 'array' | 'object'

const spellings = (name: string): string[] => [`params.${name}`, `params["${name}"]`, `params['${name}']`, `inputs.params.${name}`]
const suffixes = ['', '[0]', '[1]', '[5]', '[*]', '.k1', '.k2', '.zz', '[']
const keyPool = [...names, 'nope'].flatMap((n) => spellings(n).flatMap((s) => suffixes.map((x) => `${s}${x}`)))

const fragment = fc.oneof(
  fc.constantFrom(...keyPool).map((k) => `$(${k})`),
  fc.constantFrom('x', ' ', '$(', ')', '$$', '-'),
)
const text = fc.array(fragment, { maxLength: 4 }).map((parts) => parts.join(''))
/** A whole command/args element, as array params are used, or any text. */
const element = fc.oneof(
  fc.constantFrom(...keyPool).map((k) => `$(${k})`),
  text,
)

const word = fc.constantFrom('v', 'w', '', '$(params.t)', '$(params.a)')
const valueArb = (kind: Kind): fc.Arbitrary<unknown> =>
  kind === 'string'
    ? fc.oneof(word, fc.constantFrom('$(params.ta[*])', '$(steps.s1.results.r)', '$(params.to)'))
    : kind === 'array'
      ? fc.oneof(fc.array(word, { maxLength: 3 }), fc.constantFrom('$(params.ta[*])', '$(steps.s1.results.r)', '$(params.t)'))
      : fc.oneof(fc.dictionary(fc.constantFrom(...members), word, { maxKeys: 2 }), fc.constantFrom('$(params.to)', '$(steps.s1.results.r)'))

const paramSpec = (name: string) =>
  fc.constantFrom<Kind>('string', 'array', 'object').chain((kind) =>
    fc.record(
      {
        name: fc.constant(name),
        type: fc.constant(kind),
        default: valueArb(kind),
        properties: fc.constant(kind === 'object' ? { k1: { type: 'string' }, k2: { type: 'string' } } : undefined),
      },
      { requiredKeys: ['name', 'type'] },
    ),
  )

const definition = fc.subarray(names, { minLength: 1 }).chain((declared) =>
  fc.record({
    specs: fc.tuple(...declared.map(paramSpec)),
    passed: fc.tuple(
      ...declared.map((name) =>
        fc
          .option(
            fc.constantFrom<Kind>('string', 'array', 'object').chain((kind) => valueArb(kind)),
            { nil: undefined },
          )
          .map((value) => ({ name, value })),
      ),
    ),
    image: text,
    workingDir: text,
    env: fc.array(text, { maxLength: 2 }),
    args: fc.array(element, { maxLength: 4 }),
    command: fc.array(element, { maxLength: 2 }),
  }),
)

// The task's params, as the step's values see them through the layers.
const task: Replacements = replacementsFromParams([
  { name: 't', value: { type: 'string', string: 'task value' } },
  { name: 'ta', value: { type: 'array', array: ['e0', 'e1'] } },
  { name: 'to', value: { type: 'object', object: { k1: 'o1', k2: 'o2' } } },
])

t.test('a step table of the keys read substitutes every text as the full table does', async (t) => {
  let compared = 0
  const differences: string[] = []
  fc.assert(
    fc.property(definition, (d) => {
      const specs = d.specs.map((s) => JSON.parse(JSON.stringify(s)) as ParamSpec)
      const stepParams = d.passed.filter((p) => p.value !== undefined) as Param[]
      const derived: Step = {
        image: d.image,
        workingDir: d.workingDir,
        env: d.env.map((value, i) => ({ name: `E${i}`, value })),
        command: d.command,
        args: d.args,
      }
      const texts = [d.image, d.workingDir, ...d.env, ...d.command, ...d.args]
      const reads = new KeyReads(texts, [...d.command, ...d.args])
      const full = resolveStepActionParams(derived, stepParams, specs, [task], [], [])
      const read = resolveStepActionParams(derived, stepParams, specs, [task], [], [], undefined, reads)
      if ('errors' in full || 'errors' in read) {
        if (JSON.stringify(read) !== JSON.stringify(full)) differences.push(`errors: ${JSON.stringify(read)} vs ${JSON.stringify(full)}`)
        return
      }
      compared++
      for (const s of texts) if (applyString(s, read.replacements.strings) !== applyString(s, full.replacements.strings)) differences.push(`text ${s}`)
      for (const list of [d.command, d.args]) {
        const a = applyList(list, read.replacements)
        const b = applyList(list, full.replacements)
        if (JSON.stringify(a) !== JSON.stringify(b)) differences.push(`list ${JSON.stringify(list)}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`)
      }
    }),
    { numRuns: 3000 },
  )
  t.strictSame(differences.slice(0, 5), [], 'no difference')
  // Most cases have no errors: the comparison is what the property is about.
  t.ok(compared > 1000, `${compared} tables compared`)
})

t.test('what a definition reads', async (t) => {
  const reads = new KeyReads(['$(params.a) $(params["b"][1]) $($(params.c)', 'x $(unclosed'], ['$(params.d[*])', '$(params.e)', 'pre $(params.f)'])
  t.strictSame([...reads.strings].sort(), ['$(params.c', 'params.a', 'params.c', 'params["b"][1]'].sort())
  t.strictSame([...reads.arrays].sort(), ['params.d', 'params.e'])
})

t.test('past 4096 distinct keys a definition reads everything: the table is the full one', async (t) => {
  const text = Array.from({ length: 5000 }, (_, i) => `$(params.p${i})`).join(' ')
  const reads = new KeyReads([text, '$(params.a[0])'], [])
  t.equal(reads.readsAll, true)
  const specs: ParamSpec[] = [
    { name: 'a', type: 'array' },
    { name: 'b', type: 'string' },
  ]
  const stepParams = [
    { name: 'a', value: ['x', 'y'] },
    { name: 'b', value: 'v' },
  ] as Param[]
  const read = resolveStepActionParams({ args: [text] }, stepParams, specs, [], [], [], undefined, reads)
  const full = resolveStepActionParams({ args: [text] }, stepParams, specs, [], [], [])
  if (!('replacements' in read) || !('replacements' in full)) return t.fail('no table')
  t.strictSame([...read.replacements.strings.keys()].sort(), [...full.replacements.strings.keys()].sort())
  t.ok(read.replacements.strings.has('params["a"][1]'), 'an element in a spelling no text read')
})

t.test('a definition whose fields are not strings: substitution reads only its strings, and the step is refused by name', async (t) => {
  const step = { image: 'alpine', env: [{ name: 'B', value: 3, valueFrom: { secretKeyRef: { name: 7, key: true } } }], args: ['$(params.x)', 4] }
  t.strictSame(substitutedTexts(step as never), ['alpine', '$(params.x)'])
  const sa = stepAction('odd', { image: 'alpine', env: [{ name: 'B', valueFrom: { secretKeyRef: { name: 7, key: true } } }] } as never)
  const e = await expand(taskRun({ steps: [{ name: 's', ref: { name: 'odd' } }] }), sa)
  t.equal(e.changed, false)
  t.match(JSON.stringify(e.problems), /secretKeyRef/)
})
