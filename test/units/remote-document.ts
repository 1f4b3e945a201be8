// A fetched file read as Tekton's decoder reads it (src/resolvers/document.ts):
// the first document is the resource, so a list, or an empty document first,
// is refused where a catalog file would take its members.

import t from 'tap'
import { readDocument } from '../../src/resolvers/document.ts'

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
