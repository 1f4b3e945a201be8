// The server's log output (src/server/log-output.ts): lines of one turn of
// the event loop in one write, none held past the next turn.

import t from 'tap'
import { BatchedOutput } from '../../src/server/log-output.ts'

t.test('lines written in one turn go out in one write, on the next turn, in order', async (t) => {
  const writes: string[] = []
  const out = new BatchedOutput({ write: (text: string) => writes.push(text) })
  out.write('a\n')
  out.write('b\n')
  out.write('c\n')
  t.same(writes, [], 'nothing written within the turn')
  await new Promise((r) => setImmediate(r))
  t.same(writes, ['a\nb\nc\n'], 'one write with every line')
  out.write('d\n')
  await new Promise((r) => setImmediate(r))
  t.same(writes, ['a\nb\nc\n', 'd\n'], 'a line alone goes out on the next turn too')
  out.flush()
  t.equal(writes.length, 2, 'flushing with nothing pending writes nothing')
})

t.test('flush writes what is pending at once (what process exit does)', async (t) => {
  const writes: string[] = []
  const out = new BatchedOutput({ write: (text: string) => writes.push(text) })
  out.write('last words\n')
  out.flush()
  t.same(writes, ['last words\n'])
  await new Promise((r) => setImmediate(r))
  t.same(writes, ['last words\n'], 'the scheduled turn finds nothing left')
})
