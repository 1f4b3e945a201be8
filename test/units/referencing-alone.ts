// Defaults that reference other params are resolved once per definition for
// a step that gives none of them, or anything they reach, a value
// (steps/params.ts, referencingAlone); any other step resolves them itself.
// Checked on generated chains (references to plain defaults, to required
// params, to other referencing defaults, to themselves, to nothing
// declared, cycles): a step that passes plain defaults their own values
// (so resolves them itself) must get what a step passing nothing gets, and
// a value passed to a param a default references must reach that default.
// Either way a step's budget is charged what resolving them costs.

import fc from 'fast-check'
import t from 'tap'
import { Budget } from '../../src/limits/budget.ts'
import { resolveStepActionParams } from '../../src/steps/params.ts'
import type { Param, ParamSpec } from '../../src/types/tekton.ts'
import { applyString } from '../../src/variables/replacements.ts'

const names = ['p0', 'p1', 'p2', 'p3', 'p4']
const reference = fc.constantFrom(...names, 'zz').map((n) => `$(params.${n})`)
const referencingText = fc.array(fc.oneof(reference, fc.constantFrom('x', '/', '$(', ')')), { minLength: 1, maxLength: 4 }).map((parts) => parts.join(''))

type Kind = 'required' | 'plain' | 'array' | 'referencing'
const paramSpec = (name: string): fc.Arbitrary<ParamSpec> =>
  fc.constantFrom<Kind>('required', 'plain', 'plain', 'array', 'referencing', 'referencing').chain<ParamSpec>((kind) => {
    if (kind === 'required') return fc.constant({ name, type: 'string' })
    if (kind === 'array') return fc.constant({ name, type: 'array', default: ['a', 'b'] })
    if (kind === 'plain') return fc.constantFrom('v', '', 'w)', 'long'.repeat(50)).map((d): ParamSpec => ({ name, type: 'string', default: d }))
    return referencingText.map((d): ParamSpec => ({ name, type: 'string', default: d }))
  })

const definition = fc.tuple(...names.map(paramSpec))

const references = (spec: ParamSpec): boolean => typeof spec.default === 'string' && spec.default.includes('$(params.')
const required = (specs: readonly ParamSpec[]): Param[] => specs.filter((s) => s.default === undefined).map((s) => ({ name: s.name, value: `given-${s.name}` }))

/** What a step's table gives each param's texts, or the errors. */
function outcome(specs: readonly ParamSpec[], given: readonly Param[]): string {
  const resolved = resolveStepActionParams({}, given, specs, [])
  if ('errors' in resolved) return JSON.stringify(resolved.errors)
  const strings = resolved.replacements.strings
  return JSON.stringify(names.map((n) => applyString(`$(params.${n})|$(params["${n}"])`, strings)))
}

t.test('a step passing plain defaults their own values resolves referencing defaults as one passing nothing', async (t) => {
  let resolvedCases = 0
  const differences: string[] = []
  fc.assert(
    fc.property(definition, (generated) => {
      // Each case compiles afresh: the cache is per definition.
      const specs = structuredClone(generated)
      if (!specs.some(references)) return
      const base = required(specs)
      const alone = outcome(specs, base)
      const explicit = [...base, ...specs.filter((s) => s.default !== undefined && !references(s)).map((s) => ({ name: s.name, value: s.default }) as Param)]
      const passed = outcome(structuredClone(generated), explicit)
      if (alone !== passed) differences.push(`${JSON.stringify(generated)}: ${alone} vs ${passed}`)
      if (!alone.startsWith('["invalid') && !alone.includes('circular') && !alone.includes('non-existent')) resolvedCases++
    }),
    { numRuns: 2000 },
  )
  t.strictSame(differences.slice(0, 3), [], 'no difference')
  t.ok(resolvedCases > 400, `${resolvedCases} cases resolved`)
})

t.test('a value passed to a param a default references reaches that default', async (t) => {
  let checked = 0
  const missed: string[] = []
  fc.assert(
    fc.property(definition, fc.nat(4), (generated, pick) => {
      const specs = structuredClone(generated)
      const referencing = specs.filter(references)
      const y = referencing[pick % Math.max(1, referencing.length)]
      if (y === undefined) return
      // A param y's default names directly, one with a plain default (so it is not given otherwise).
      const x = specs.find((s) => s.default !== undefined && !references(s) && s.type === 'string' && String(y.default).includes(`$(params.${s.name})`))
      if (x === undefined) return
      // The definition is compiled first by a step passing nothing, as a catalog's first request might.
      outcome(specs, required(specs))
      const resolved = resolveStepActionParams({}, [...required(specs), { name: x.name, value: 'MARK' }], specs, [])
      if ('errors' in resolved) return
      checked++
      const value = resolved.replacements.strings.get(`params.${y.name}`)
      if (!value?.includes('MARK')) missed.push(`${JSON.stringify(generated)}: ${y.name} = ${value}`)
    }),
    { numRuns: 2000 },
  )
  t.strictSame(missed.slice(0, 3), [], 'every such default holds the value passed')
  t.ok(checked > 200, `${checked} cases checked`)
})

t.test('a step passing nothing is charged for resolving what it takes resolved', async (t) => {
  // Resolving `out` writes 10,000 characters for each of its ten references: 100,000, besides the table.
  const specs: ParamSpec[] = [
    { name: 'dir', type: 'string', default: 'x'.repeat(1000) },
    { name: 'out', type: 'string', default: '$(params.dir)'.repeat(10) },
  ]
  for (const round of ['compiling', 'compiled']) {
    const counting = new Budget(Number.MAX_SAFE_INTEGER)
    const resolved = resolveStepActionParams({}, [], specs, [], [], [], counting)
    t.equal('replacements' in resolved && resolved.replacements.strings.get('params.out'), 'x'.repeat(10_000), round)
    t.ok(counting.spent > 100_000, `${round}: ${counting.spent} charged`)
    t.throws(() => resolveStepActionParams({}, [], specs, [], [], [], new Budget(100_000)), { name: 'LimitExceeded' }, `${round}: past a smaller budget`)
  }
})
