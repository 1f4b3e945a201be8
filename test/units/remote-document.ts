// A fetched file read as Tekton's decoder reads it (src/resolvers/document.ts):
// the first document is the resource, so a list, or an empty document first,
// is refused where a catalog file would take its members.

import t from 'tap'
import { exactReadMs, readDocument, readFetched } from '../../src/resolvers/document.ts'

const stepAction = 'apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata: {name: x}\nspec: {image: alpine, script: echo hi}\n'
const json = JSON.stringify({ apiVersion: 'tekton.dev/v1beta1', kind: 'StepAction', metadata: { name: 'x' }, spec: { image: 'alpine', script: 'echo hi' } })
const read = (text: string) => readDocument(Buffer.from(text), { kind: 'http', location: 'https://h.example/x.yaml' }, 'http https://h.example/x.yaml')

t.test('one StepAction, in YAML or JSON, with or without a trailing ---', async (t) => {
  for (const text of [stepAction, json, `---\n${stepAction}`, `${stepAction}---\n`, `${stepAction}---\n---\n`, `# a comment\n---\n${stepAction}`]) {
    const r = read(text)
    t.ok('definition' in r, JSON.stringify(text.slice(0, 30)))
  }
})

t.test('what Tekton cannot decode is refused, naming the file', async (t) => {
  const cases: [string, string, string][] = [
    ['a JSON array of one StepAction', `[${json}]`, 'http https://h.example/x.yaml is a list, not one resource'],
    ['a YAML list of one StepAction', stepAction.replace(/^/gm, '  ').replace(/^ {2}/, '- '), 'http https://h.example/x.yaml is a list, not one resource'],
    ['an empty document first', `---\n---\n${stepAction}`, 'http https://h.example/x.yaml is empty or begins with an empty document'],
    ['null first', `null\n---\n${stepAction}`, 'http https://h.example/x.yaml is empty or begins with an empty document'],
    ['nothing at all', '', 'http https://h.example/x.yaml is empty or begins with an empty document'],
    ['a scalar', 'hello\n', 'http https://h.example/x.yaml is not an object'],
  ]
  for (const [name, text, error] of cases) t.strictSame(read(text), { error }, name)
})

t.test('several resources are left for Tekton: which one its decoder takes is not ours to guess', async (t) => {
  t.strictSame(read(`${stepAction}---\n${stepAction}`), { unresolved: 'http https://h.example/x.yaml holds 2 documents, not one' })
})

t.test('a large file only the exact reading can read is read on a thread of its own, the same way', async (t) => {
  // An anchor and an alias: the fast reading gives up on them, and 8 KiB is more than the server's thread reads exactly.
  const script = Array.from({ length: 200 }, (_, i) => `    echo line ${i} of a long script`).join('\n')
  const text = `apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata: {name: x}\nspec:\n  image: &img alpine:3\n  env:\n    - name: IMG\n      value: *img\n  script: |\n${script}\n`
  t.ok(text.length > 4096)
  const source = { kind: 'http', location: 'https://h.example/x.yaml' } as const
  const fetched = await readFetched(Buffer.from(text), source, 'http https://h.example/x.yaml')
  t.ok('definition' in fetched, 'read')
  t.strictSame(fetched, readDocument(Buffer.from(text), source, 'http https://h.example/x.yaml'), 'exactly as on the calling thread')
  t.match(fetched, { definition: { spec: { env: [{ name: 'IMG', value: 'alpine:3' }] } } })
})

t.test("a file whose exact reading would take seconds is left for Tekton, and the server's thread goes on meanwhile", async (t) => {
  // A quoted scalar over half a million lines, none indented: the yaml package words an error for each line, which
  // took it 22 s on the server's thread for 1 MiB.
  const text = `apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata: {name: x}\nspec:\n  image: alpine\n  script: '${'a\n'.repeat(512 * 1024)}'\n`
  let ticks = 0
  const ticking = setInterval(() => ticks++, 10)
  const read = await readFetched(Buffer.from(text), { kind: 'http', location: 'https://h.example/x.yaml' }, 'http https://h.example/x.yaml')
  clearInterval(ticking)
  t.strictSame(read, { unresolved: `http https://h.example/x.yaml: reading it as YAML took longer than ${exactReadMs} ms; left for Tekton` })
  t.ok(ticks > 10, `the thread's timers ran while it was read (${ticks} ticks)`)
})
