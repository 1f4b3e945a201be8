// `stepsplice render`, run in-process through main() with captured IO, and
// once as the real binary to check stdin and exit codes end to end.

import { spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { main } from '../src/cli/main.ts'
import { captureIO as capture } from './helpers/cli.ts'

async function render(args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  const io = capture(stdin)
  const code = await main(['render', ...args], io)
  return { code, out: io.out, err: io.err }
}

function yamlDocs(text: string): unknown[] {
  return parseAllDocuments(text).map((d) => d.toJS())
}

const echoYaml = `apiVersion: tekton.dev/v1beta1
kind: StepAction
metadata:
  name: echo
spec:
  image: alpine
  params:
    - name: msg
      default: hello
  args: ["$(params.msg)"]
`
const teamEchoYaml = `apiVersion: tekton.dev/v1beta1
kind: StepAction
metadata:
  name: echo
  namespace: team-a
spec:
  image: team-a-image
  params:
    - name: msg
      default: team hello
  args: ["$(params.msg)"]
`

const taskRunYaml = (name: string, msg: string, ns = 'default') => `apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: ${name}
${ns === '' ? '' : `  namespace: ${ns}\n`}spec:
  taskSpec:
    steps:
      - name: say
        ref:
          name: echo
        params:
          - name: msg
            value: ${msg}
`
const configMapYaml = `apiVersion: v1
kind: ConfigMap
metadata:
  name: untouched
data:
  key: "$(params.msg)"
`

const dir = await mkdtemp(join(tmpdir(), 'stepsplice-render-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const catalog = join(dir, 'catalog')
await mkdir(join(catalog, 'nested'), { recursive: true })
await writeFile(join(catalog, 'echo.yaml'), echoYaml)
await writeFile(join(catalog, 'nested', 'team.yml'), teamEchoYaml)
const file = async (name: string, text: string): Promise<string> => {
  const path = join(dir, name)
  await writeFile(path, text)
  return path
}
const oneTaskRun = await file('one.yaml', taskRunYaml('one', 'first'))
const twoTaskRun = await file('two.yaml', taskRunYaml('two', 'second'))
const mixed = await file('mixed.yaml', `${configMapYaml}---\n${taskRunYaml('three', 'third')}---\n# a comment-only document\n---\njust a string\n`)

type Obj = { kind?: string; metadata?: { name?: string; annotations?: Record<string, string> }; spec?: { taskSpec?: { steps?: Record<string, unknown>[] } } }
const firstStep = (doc: unknown) => (doc as Obj).spec?.taskSpec?.steps?.[0]

t.test('-f FILE', async (t) => {
  const r = await render(['--catalog', catalog, '-f', oneTaskRun])
  t.equal(r.code, 0)
  t.equal(r.err, '')
  const docs = yamlDocs(r.out)
  t.equal(docs.length, 1)
  t.strictSame(firstStep(docs[0]), { name: 'say', image: 'alpine', args: ['first'] })
  t.match((docs[0] as Obj).metadata?.annotations?.['stepsplice.dev/resolved'], /"definition":"default\/echo"/)
})

t.test('several -f, in order', async (t) => {
  const r = await render(['--catalog', catalog, '-f', twoTaskRun, '--filename', oneTaskRun])
  t.equal(r.code, 0)
  t.strictSame(
    yamlDocs(r.out).map((d) => (d as Obj).metadata?.name),
    ['two', 'one'],
  )
})

t.test('stdin, with and without -f -', async (t) => {
  const input = taskRunYaml('from-stdin', 'piped')
  for (const args of [[], ['-f', '-']]) {
    const r = await render(['--catalog', catalog, ...args], input)
    t.equal(r.code, 0, JSON.stringify(args))
    t.strictSame(firstStep(yamlDocs(r.out)[0]), { name: 'say', image: 'alpine', args: ['piped'] }, JSON.stringify(args))
  }
  const both = await render(['--catalog', catalog, '-f', oneTaskRun, '-f', '-'], input)
  t.strictSame(
    yamlDocs(both.out).map((d) => (d as Obj).metadata?.name),
    ['one', 'from-stdin'],
  )
  const empty = await render(['--catalog', catalog], '')
  t.equal(empty.code, 0, 'empty input is no error')
  t.equal(empty.out, '')
})

t.test('multi-document YAML: everything printed, in input order, other objects unchanged', async (t) => {
  const r = await render(['--catalog', catalog, '-f', mixed])
  t.equal(r.code, 0)
  t.equal(r.err, '')
  const docs = yamlDocs(r.out)
  t.equal(docs.length, 3, 'the empty document is dropped')
  t.strictSame(docs[0], { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'untouched' }, data: { key: '$(params.msg)' } })
  t.strictSame(firstStep(docs[1]), { name: 'say', image: 'alpine', args: ['third'] })
  t.equal(docs[2], 'just a string')
})

t.test('JSON input and -o json', async (t) => {
  const taskRun = yamlDocs(taskRunYaml('json-run', 'from json'))[0]
  const input = await file('in.json', JSON.stringify(taskRun))
  const one = await render(['--catalog', catalog, '-f', input, '-o', 'json'])
  t.equal(one.code, 0)
  const parsed = JSON.parse(one.out) as unknown
  t.notOk(Array.isArray(parsed), 'one object prints as an object')
  t.strictSame(firstStep(parsed), { name: 'say', image: 'alpine', args: ['from json'] })

  const several = await render(['--catalog', catalog, '-f', input, '-f', mixed, '--output', 'json'])
  const list = JSON.parse(several.out) as unknown[]
  t.ok(Array.isArray(list), 'several objects print as an array')
  t.strictSame(
    list.map((d) => (typeof d === 'string' ? d : (d as Obj).kind)),
    ['TaskRun', 'ConfigMap', 'TaskRun', 'just a string'],
  )

  // What -o json printed for several objects reads back as those objects.
  const again = await render(['--catalog', catalog, '-f', '-', '-o', 'json'], several.out)
  t.equal(again.code, 0)
  t.strictSame(JSON.parse(again.out), list, 'rendering the output again changes nothing')
})

t.test('-o yaml', async (t) => {
  const r = await render(['--catalog', catalog, '-f', oneTaskRun, '-o', 'yaml'])
  t.equal(r.code, 0)
  t.match(r.out, /^apiVersion: tekton\.dev\/v1\n/)
  t.strictSame(firstStep(yamlDocs(r.out)[0]), { name: 'say', image: 'alpine', args: ['first'] })
})

t.test('--namespace applies to objects that set none', async (t) => {
  const input = taskRunYaml('no-ns', '$(params.nothing)', '')
  const inTeam = await render(['--catalog', catalog, '--namespace', 'team-a'], input)
  t.equal(inTeam.code, 0)
  const doc = yamlDocs(inTeam.out)[0]
  t.equal(firstStep(doc)?.image, 'team-a-image', 'the namespaced definition wins')
  t.match((doc as Obj).metadata?.annotations?.['stepsplice.dev/resolved'], /"definition":"team-a\/echo"/)
  t.equal((await render(['--catalog', catalog, '-n', 'team-a'], input)).out, inTeam.out, '-n is --namespace')

  const byDefault = await render(['--catalog', catalog], input)
  t.equal(firstStep(yamlDocs(byDefault.out)[0])?.image, 'alpine', 'namespace "default" by default')
  t.match(byDefault.out, /default\/echo/)

  const ownNamespace = await render(['--catalog', catalog, '-n', 'team-a'], taskRunYaml('own', 'x', 'elsewhere'))
  t.equal(firstStep(yamlDocs(ownNamespace.out)[0])?.image, 'alpine', "an object's own namespace wins over --namespace")
})

t.test('kind: List expands its items', async (t) => {
  const items = yamlDocs(`${taskRunYaml('a', 'in a list')}---\n${configMapYaml}`)
  const list = { apiVersion: 'v1', kind: 'List', metadata: {}, items }
  const r = await render(['--catalog', catalog, '-o', 'json'], JSON.stringify(list))
  t.equal(r.code, 0)
  const out = JSON.parse(r.out) as { kind: string; items: unknown[] }
  t.equal(out.kind, 'List')
  t.equal(out.items.length, 2)
  t.strictSame(firstStep(out.items[0]), { name: 'say', image: 'alpine', args: ['in a list'] })
  t.strictSame(out.items[1], items[1])

  const broken = { ...list, items: [yamlDocs(taskRunYaml('bad', 'x').replace('name: echo', 'name: missing'))[0]] }
  const left = await render(['--catalog', catalog], JSON.stringify(broken))
  t.equal(left.code, 0, 'a name the catalog lacks is left for Tekton, which looks in the cluster')
  t.match(
    left.err,
    /^Warning: TaskRun default\/bad: spec\.taskSpec\.steps\[0\]\.ref \(step "say"\): left for Tekton to resolve: stepactions\.tekton\.dev "missing" not found/,
  )
  const failed = await render(['--catalog', catalog, '--require-resolution', 'local'], JSON.stringify(broken))
  t.equal(failed.code, 1)
  t.match(
    failed.err,
    /TaskRun default\/bad: spec\.taskSpec\.steps\[0\]\.ref: stepactions\.tekton\.dev "missing" not found in namespace "default"; local references must resolve at admission \(--require-resolution\)/,
  )
})

t.test('errors: exit 1, every error on stderr, nothing on stdout', async (t) => {
  const bad = await file(
    'bad.yaml',
    `${taskRunYaml('first-bad', 'x').replace('name: echo', 'name: missing')}---\n${taskRunYaml('fine', 'ok')}---\n${taskRunYaml('second-bad', 'x').replace('params:', 'env: []\n        params:')}`,
  )
  const r = await render(['--catalog', catalog, '--require-resolution', 'all', '-f', bad])
  t.equal(r.code, 1)
  t.equal(r.out, '')
  const lines = r.err.trimEnd().split('\n')
  t.equal(lines.length, 2, r.err)
  t.match(
    lines[0],
    /^error: TaskRun default\/first-bad: spec\.taskSpec\.steps\[0\]\.ref: stepactions\.tekton\.dev "missing" not found in namespace "default"; local references must resolve at admission \(--require-resolution\) \(step "say"\)$/,
  )
  t.match(lines[1], /^error: TaskRun default\/second-bad: spec\.taskSpec\.steps\[0\]\.env: env cannot be used with Ref \(step "say"\)$/)

  const unnamed = await render(
    ['--catalog', catalog],
    JSON.stringify({ apiVersion: 'tekton.dev/v1', kind: 'TaskRun', spec: { taskSpec: { steps: [{ ref: {} }] } } }),
  )
  t.equal(unnamed.code, 1)
  t.match(unnamed.err, /^error: TaskRun.*: spec\.taskSpec\.steps\[0\]\.ref\.name: missing field\(s\): name/)
})

t.test('catalog problems', async (t) => {
  const messy = join(dir, 'messy')
  await mkdir(messy)
  await writeFile(join(messy, 'echo.yaml'), echoYaml)
  await writeFile(join(messy, 'copy.json'), JSON.stringify(yamlDocs(echoYaml)[0]))
  await writeFile(join(messy, 'broken.yaml'), 'apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata:\n  name: broken\nspec:\n  args: ["x"]\n')
  await writeFile(join(messy, 'not-yaml.yaml'), 'key: [unclosed\n')
  await writeFile(join(messy, 'other.yaml'), configMapYaml)
  await writeFile(join(messy, 'README.md'), 'ignored')

  const ok = await render(['--catalog', messy], JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'c' } }))
  t.equal(ok.code, 0, 'a catalog with bad files still loads')
  t.match(ok.err, /Warning: .*not-yaml\.yaml/)
  t.match(ok.err, /Warning: .*other\.yaml: document 1 skipped: kind ConfigMap, not StepAction/)
  t.match(ok.err, /Warning: StepAction \*\/echo is defined more than once/)

  const uses = await render(
    ['--catalog', messy],
    `${taskRunYaml('dup', 'x')}---\n${taskRunYaml('brk', 'x')
      .replace('name: echo', 'name: broken')
      .replace(/params:\n.*\n.*\n/, '')}`,
  )
  t.equal(uses.code, 1)
  t.equal(uses.out, '')
  t.match(uses.err, /error: TaskRun default\/dup: spec\.taskSpec\.steps\[0\]\.ref: StepAction is invalid: defined more than once/)
  t.match(uses.err, /error: TaskRun default\/brk: spec\.taskSpec\.steps\[0\]\.ref: StepAction is invalid: spec\.image: missing field/)

  const twoDirs = await render(['--catalog', catalog, '--catalog', join(dir, 'messy')], taskRunYaml('x', 'y'))
  t.equal(twoDirs.code, 1, 'definitions from several --catalog directories are one catalog')
  t.match(twoDirs.err, /defined more than once/)
})

t.test('usage errors: exit 2, nothing on stdout', async (t) => {
  const badYaml = await file('bad-syntax.yaml', 'kind: TaskRun\nmetadata: {name: [\n')
  const cases: [string, string[], RegExp][] = [
    ['unknown flag', ['--catalog', catalog, '--frobnicate'], /error: .*--frobnicate/],
    ['positional argument', ['--catalog', catalog, 'extra.yaml'], /error: /],
    ['missing --catalog', ['-f', oneTaskRun], /error: at least one --catalog DIR is required/],
    ['bad -o', ['--catalog', catalog, '-f', oneTaskRun, '-o', 'table'], /error: --output must be yaml or json, not "table"/],
    ['unreadable file', ['--catalog', catalog, '-f', join(dir, 'nope.yaml')], /error: cannot read .*nope\.yaml: no such file or directory\n$/],
    ['a directory given as a file', ['--catalog', catalog, '-f', dir], /error: cannot read /],
    ['YAML syntax error', ['--catalog', catalog, '-f', badYaml], /^(error: [^\n]*bad-syntax\.yaml: [^\n]* at line \d+, column \d+\n)+$/],
    [
      'missing catalog directory',
      ['--catalog', join(dir, 'no-such-dir'), '-f', oneTaskRun],
      /error: cannot read catalog [^\n]*no-such-dir: no such file or directory\n$/,
    ],
    ['-o without a value', ['--catalog', catalog, '-o'], /error: /],
  ]
  // A mistake in the command line is one line and a pointer to --help; input that cannot be read is one line.
  const mistakes = new Set(['unknown flag', 'positional argument', 'missing --catalog', 'bad -o', '-o without a value'])
  for (const [what, args, message] of cases) {
    const r = await render(args, taskRunYaml('x', 'y'))
    t.equal(r.code, 2, what)
    t.equal(r.out, '', `${what}: stdout`)
    t.match(r.err, message, `${what}: message`)
    t.notMatch(r.err, /Usage: stepsplice render/, `${what}: not the whole help`)
    if (mistakes.has(what)) t.match(r.err, /^error: [^\n]*\nRun 'stepsplice render --help' for usage\.\n$/, `${what}: one line, then the pointer to --help`)
    else t.notMatch(r.err, /--help/, `${what}: no pointer to --help`)
  }
  const unknownCommand = capture()
  t.equal(await main(['frobnicate'], unknownCommand), 2)
  t.equal(unknownCommand.err, `error: unknown command "frobnicate"\nRun 'stepsplice --help' for usage.\n`)
  const none = capture()
  t.equal(await main([], none), 2)
  t.match(none.err, /Usage: stepsplice <command>/)
})

t.test('--help', async (t) => {
  for (const flag of ['--help', '-h']) {
    const r = await render([flag])
    t.equal(r.code, 0, flag)
    t.match(r.out, /^Usage: stepsplice render --catalog DIR/, flag)
    t.equal(r.err, '')
  }
  const top = capture()
  t.equal(await main(['--help'], top), 0)
  t.match(top.out, /render/)
})

t.test('the real binary: stdin, stdout and exit codes', async (t) => {
  const run = (args: string[], input: string) =>
    spawnSync(process.execPath, ['bin/stepsplice.js', 'render', ...args], { input, encoding: 'utf8', timeout: 20_000 })

  const ok = run(['--catalog', catalog, '-o', 'json'], taskRunYaml('bin', 'through the binary'))
  t.equal(ok.status, 0, ok.stderr)
  t.equal(ok.stderr, '')
  t.strictSame(firstStep(JSON.parse(ok.stdout)), { name: 'say', image: 'alpine', args: ['through the binary'] })

  const failed = run(['--catalog', catalog, '--require-resolution', 'local'], taskRunYaml('bin', 'x').replace('name: echo', 'name: missing'))
  t.equal(failed.status, 1)
  t.equal(failed.stdout, '')
  t.match(failed.stderr, /^error: TaskRun default\/bin: .*not found/)

  const usage = run(['--catalog', catalog, '--nope'], '')
  t.equal(usage.status, 2)
  t.equal(usage.stdout, '')
  t.match(usage.stderr, /^error: /)
})

t.test('dates are read as the text written, as kubectl sends them (the real binary: no test setup in between)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'stepsplice-render-dates-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(
    join(dir, 'dated.yaml'),
    `apiVersion: tekton.dev/v1beta1
kind: StepAction
metadata:
  name: dated
spec:
  image: alpine
  params:
    - name: day
      default: 2001-12-14
    - name: at
      default: !!timestamp 2001-12-14t21:59:43.10-05:00
    - name: given
  args: ["$(params.day)", "$(params.at)", "$(params.given)"]
`,
  )
  const input = `apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: dates
  namespace: default
  annotations:
    since: 2001-12-15
spec:
  taskSpec:
    steps:
      - name: s
        ref:
          name: dated
        params:
          - name: given
            value: 2002-01-02 10:00:00
`
  const out = spawnSync(process.execPath, ['bin/stepsplice.js', 'render', '--catalog', dir, '-o', 'json'], { input, encoding: 'utf8', timeout: 20_000 })
  t.equal(out.status, 0, out.stderr)
  t.equal(out.stderr, '')
  const doc = JSON.parse(out.stdout) as Obj
  t.equal(doc.metadata?.annotations?.since, '2001-12-15')
  t.strictSame(firstStep(doc)?.args, ['2001-12-14', '2001-12-14t21:59:43.10-05:00', '2002-01-02 10:00:00'])

  // `!!timestamp` on text that is no timestamp is an error, as it is to kubectl's decoder.
  await writeFile(
    join(dir, 'dated.yaml'),
    `apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata:\n  name: dated\nspec:\n  image: alpine\n  params:\n    - name: day\n      default: !!timestamp soon\n`,
  )
  const bad = spawnSync(process.execPath, ['bin/stepsplice.js', 'render', '--catalog', dir, '-o', 'json'], { input, encoding: 'utf8', timeout: 20_000 })
  t.match(bad.stderr, /dated\.yaml: .*"soon" is not a timestamp at line 9/)
})

t.test('render says at load which catalog files do not parse and which StepActions are invalid', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'stepsplice-render-catalog-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(
    join(dir, 'bad.yaml'),
    'apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata: {name: bad}\nspec: {image: x, command: [a], script: echo}\n',
  )
  await writeFile(join(dir, 'v1.yaml'), 'apiVersion: tekton.dev/v1\nkind: StepAction\nmetadata: {name: v1}\nspec: {image: x}\n')
  await writeFile(join(dir, 'broken.yaml'), 'kind: [\n')
  const io = capture('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}')
  t.equal(await main(['render', '--catalog', dir, '-f', '-'], io), 0, 'nothing referenced them: the render itself succeeds')
  const warnings = io.err.split('\n').filter((l) => l.startsWith('Warning: '))
  t.match(warnings, [
    new RegExp(`^Warning: ${join(dir, 'broken.yaml')}: `),
    `Warning: ${join(dir, 'bad.yaml')}: StepAction */bad is invalid: spec.script: script cannot be used with command`,
    `Warning: ${join(dir, 'v1.yaml')}: StepAction */v1 is invalid: apiVersion tekton.dev/v1 has no StepAction (tektoncd/pipeline#10219): use tekton.dev/v1beta1`,
  ])
})

t.test('!!timestamp takes what go-yaml reads as one (Go’s time.Parse with its four layouts), as the text written', async (t) => {
  const valid = [
    '2001-12-14',
    '2001-2-3',
    '2000-2-29',
    '2001-12-14t21:59:43,10+05:00',
    '2001-12-14  21:59:43.10',
    '2001-12-14T1:2:3Z',
    '2001-12-14T21:59:43.123456789012Z',
    '2001-12-14T21:59:43+24:60',
  ]
  const invalid = [
    '2001-13-45',
    '2001-2-29',
    '1900-2-29',
    '2001-4-31',
    '2001-12-14 21:59:43.10 -5',
    '2001-12-14T24:00:00Z',
    '2001-12-14T21:60:00Z',
    '2001-12-14T21:59:43+25:00',
    '2001-12-14T21:59:43+05:61',
    '2001-12-14T21:59:43+0500',
    '2001-012-14',
    '2001-12-14T21:59:43.Z',
    '12-14-2001',
  ]
  // In a process of its own: tap's YAML setup changes the yaml package's timestamp tag in this one.
  const documents = new URL('../src/json/documents.ts', import.meta.url).href
  const script = `const { exactDocuments } = await import(${JSON.stringify(documents)}); const texts = JSON.parse(process.argv[1]); console.log(JSON.stringify(texts.map((x) => exactDocuments('v: !!timestamp ' + x + '\\n', 't.yaml'))))`
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify([...valid, ...invalid])], { encoding: 'utf8', timeout: 20_000 })
  t.equal(run.stderr, '')
  const read = JSON.parse(run.stdout) as { documents: unknown[]; errors: string[] }[]
  for (const [i, text] of valid.entries()) t.strictSame(read[i], { documents: [{ v: text }], errors: [] }, text)
  for (const [i, text] of invalid.entries()) t.match(read[valid.length + i]?.errors, [/is not a timestamp/], text)
})
