// schemas/: the JSON Schemas published for editors are what `npm run
// schemas` writes from the validators' own schemas, and they accept and
// refuse what stepsplice does.

import { spawnSync } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Ajv } from 'ajv'
import t from 'tap'
import { parse } from 'yaml'
import { checkStepActionSchema } from '../src/definitions/schema.ts'
import { parseStepsAnnotation } from '../src/pods/annotation.ts'
import { root } from './helpers/server.ts'

const readJson = async (path: string): Promise<Record<string, unknown>> => JSON.parse(await readFile(join(root, path), 'utf8')) as Record<string, unknown>

t.test('the committed schemas are what npm run schemas writes', async (t) => {
  const r = spawnSync(process.execPath, [join(root, 'schemas/generate.js'), '--check'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, PATH: `${join(root, 'node_modules/.bin')}:${process.env.PATH ?? ''}` },
  })
  t.equal(r.status, 0, r.stderr)
})

t.test('schemas/stepaction.json agrees with the validator', async (t) => {
  const schema = await readJson('schemas/stepaction.json')
  t.equal(schema.$id, 'https://raw.githubusercontent.com/stepsplice/stepsplice/main/schemas/stepaction.json')
  const validate = new Ajv({ allErrors: true, strict: true }).compile(schema)
  const dir = join(root, 'examples/stepactions')
  const examples = await Promise.all((await readdir(dir)).map(async (f) => parse(await readFile(join(dir, f), 'utf8')) as Record<string, unknown>))
  t.ok(examples.length >= 5)
  const broken = (change: (doc: Record<string, unknown>) => void): Record<string, unknown> => {
    const copy = structuredClone(examples[0]) as Record<string, unknown>
    change(copy)
    return copy
  }
  const corpus = [
    ...examples,
    broken((d) => Object.assign(d.spec as object, { imagee: 'typo' })),
    broken((d) => Object.assign(d, { apiVersion: 'tekton.dev/v1' })),
    broken((d) => Object.assign(d.metadata as object, { name: 'Not_A_Name' })),
    broken((d) => Object.assign(d.spec as object, { params: [{ name: 'p', typo: 1 }] })),
    broken((d) => delete d.spec),
  ]
  for (const [i, doc] of corpus.entries()) {
    const valid = validate(doc)
    t.equal(valid, checkStepActionSchema(doc).length === 0, `document ${i}: the published schema and the validator agree`)
    t.equal(valid, i < examples.length, `document ${i}: ${i < examples.length ? 'an example is valid' : 'a broken one is not'}`)
  }
})

t.test('schemas/steps-annotation.json agrees with the annotation parser', async (t) => {
  const validate = new Ajv({ allErrors: true, strict: true }).compile(await readJson('schemas/steps-annotation.json'))
  const pod = parse(await readFile(join(root, 'examples/pods/pod.yaml'), 'utf8')) as { metadata: { annotations: Record<string, string> } }
  const text = pod.metadata.annotations['stepsplice.dev/steps'] ?? ''
  const steps = parse(text) as Record<string, unknown>[]
  const cases: [string, unknown[]][] = [
    ['the example', steps],
    ['a Tekton-only field', [{ ...steps[0], timeout: '1m' }]],
    ['a field the definition provides', [{ ...steps[0], image: 'alpine' }]],
    ['no ref', [{ name: 'x' }]],
    ['a name that is no label', [{ ...steps[0], name: 'Clone' }]],
  ]
  for (const [what, list] of cases) {
    const valid = validate(list)
    t.equal(valid, what === 'the example', `${what}: ${what === 'the example' ? 'valid' : 'refused'}`)
    t.equal(valid, !('problems' in parseStepsAnnotation(JSON.stringify(list))), `${what}: as the webhook parses it`)
  }
})

t.test('the README says how an editor uses them', async (t) => {
  const readme = await readFile(join(root, 'README.md'), 'utf8')
  t.match(readme, '# yaml-language-server: $schema=https://raw.githubusercontent.com/stepsplice/stepsplice/main/schemas/stepaction.json')
  t.match(readme, 'schemas/steps-annotation.json')
})
