// checkSizeAndDepth counts a long string at its most (6 bytes a character)
// and measures exactly only when that rough size does not clear objectBytes:
// its verdict must be the exact measure's for every object, those whose
// exact size lies just under or just over the limit included, whatever their
// long strings hold (plain ASCII, quotes, control characters, wide ones).

import fc from 'fast-check'
import t from 'tap'
import { limits } from '../../src/limits/limits.ts'
import { checkSizeAndDepth, measure } from '../../src/limits/measure.ts'

/** One character of each cost in JSON text: 1, 2 (escaped quote), 6 (control), 2 and 3 (UTF-8). */
const characters = ['a', '"', '\u0001', 'é', '€']

/** An object whose exact size is `target` bytes give or take `slack`, in a long string of `fill` and a short one. */
function sized(target: number, fill: string, slack: number): Record<string, unknown> {
  const around = { script: '', name: 'step', args: ['--x', 'y'.repeat(80)] }
  const base = measure(around).bytes
  const cost = measure(fill).bytes - 2
  around.script = fill.repeat(Math.max(0, Math.floor((target - base) / cost)))
  return { spec: { steps: [around] }, pad: 'p'.repeat(Math.max(0, slack)) }
}

t.test('the rough check says what the exact one says', async (t) => {
  const tooLarge = (v: unknown): boolean => checkSizeAndDepth(v, '', 'the object').some((p) => p.limit === 'objectBytes')
  let over = 0
  let under = 0
  fc.assert(
    fc.property(fc.constantFrom(...characters), fc.integer({ min: -40, max: 40 }), fc.constantFrom(1, 1 / 6, 1 / 3, 1 / 2), (fill, slack, share) => {
      const value = sized(Math.floor(limits.objectBytes * share), fill, share === 1 ? slack + 20 : slack)
      const exact = measure(value).bytes > limits.objectBytes
      if (exact) over++
      else under++
      return tooLarge(value) === exact
    }),
    { numRuns: 60 },
  )
  t.ok(over > 5 && under > 5, `${over} objects over the limit, ${under} within it`)
  // A small object with a long script: cleared by the rough size.
  t.same(checkSizeAndDepth({ script: '"'.repeat(1000) }, '', 'the object'), [])
})
