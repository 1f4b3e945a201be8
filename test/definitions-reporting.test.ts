// Errors that say how to fix: a broken definition is reported when it is
// read (a log line and a metric, naming the file and the errors), not only
// when a step references it; a name whose file does not parse is told so, not
// "not found"; tekton.dev/v1 StepActions are named for what they are; and a
// name a catalog does not hold suggests the nearest ones it does. Real
// directory catalogs in temp dirs, the real server with its captured log and
// /metrics, and the cluster catalog against the test API server.

import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import type { Definition } from '../src/definitions/definition.ts'
import type { Resolution } from '../src/definitions/reference.ts'
import { ClusterCatalog } from '../src/resolution/cluster.ts'
import { DirectoryCatalog } from '../src/resolution/directory.ts'
import { LayeredCatalog } from '../src/resolution/layered.ts'
import { MemoryCatalog } from '../src/resolution/memory.ts'
import { nearestNames, suggestionScope } from '../src/problems/nearest.ts'
import type { ReportChange } from '../src/resolution/reports.ts'
import type { KubeObject } from '../src/types/k8s.ts'
import { expandWith, taskRun } from './helpers/catalog.ts'
import { startKubeApi, tektonResources } from './helpers/kube-api.ts'
import { mintCerts, reviewOf, sample, startTestServer, tempDir, until } from './helpers/server.ts'

const certs = await mintCerts(t)

const v1Message = 'apiVersion tekton.dev/v1 has no StepAction (tektoncd/pipeline#10219): use tekton.dev/v1beta1'

function stepActionYaml(name: string, image: string, extra: { namespace?: string; apiVersion?: string } = {}): string {
  const namespace = extra.namespace === undefined ? '' : `\n  namespace: ${extra.namespace}`
  return `apiVersion: ${extra.apiVersion ?? 'tekton.dev/v1beta1'}\nkind: StepAction\nmetadata:\n  name: ${name}${namespace}\nspec:\n  image: ${image}\n  script: echo\n`
}

/** A StepAction whose name can still be read, broken further down. */
const brokenNamed = (name: string): string =>
  `apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata:\n  name: ${name}\nspec:\n  image: alpine\n   bad: indent\n`
/** Nothing of it parses: no name to read. */
const garbage = '{ "kind": "StepAction", "metadata": {"name": \n'
const invalidYaml = (name: string): string => `apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata:\n  name: ${name}\nspec:\n  script: echo\n`

const errorOf = (r: Resolution): string | undefined => ('error' in r ? r.error : undefined)

t.test('a name whose file does not parse is told so, with the reason, not "not found"', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'git-clone.yaml')
  await writeFile(file, brokenNamed('git-clone'))
  await writeFile(join(dir, 'team.yaml'), brokenNamed('deploy').replace('metadata:\n', 'metadata:\n  namespace: team-a\n'))
  await writeFile(join(dir, 'ok.yaml'), stepActionYaml('notify', 'curl'))
  const catalog = await DirectoryCatalog.load([dir])
  t.equal(catalog.size, 1)

  const expected = `stepactions.tekton.dev "git-clone": defined in ${file}, which does not parse: Nested mappings are not allowed in compact mappings at line 6, column 10 (and 1 more errors)`
  t.strictSame(await catalog.resolve({ namespace: 'default', name: 'git-clone' }), { error: expected })
  t.match(
    errorOf(await catalog.resolve({ namespace: 'team-a', name: 'deploy' })),
    /^stepactions\.tekton\.dev "deploy": defined in .*team\.yaml, which does not parse: /,
  )
  t.strictSame(
    await catalog.resolve({ namespace: 'default', name: 'deploy' }),
    { error: 'stepactions.tekton.dev "deploy" not found in namespace "default"', missing: true },
    'a namespaced one only in its namespace',
  )

  // A definite error, not a miss: a TaskRun is denied, not left for Tekton, as for an invalid definition.
  const e = await expandWith(taskRun({ steps: [{ name: 'clone', ref: { name: 'git-clone' } }] }), catalog)
  t.strictSame(e.problems, [{ path: 'spec.taskSpec.steps[0].ref', message: expected, step: 'clone' }])
  t.strictSame(e.warnings, [])
})

t.test('a name no file can be read for: the miss names the files that do not parse, at most three', async (t) => {
  const dir = await tempDir(t)
  await writeFile(join(dir, 'a.yaml'), garbage)
  await writeFile(join(dir, 'b.yaml'), stepActionYaml('notify', 'curl'))
  // Another kind that does not parse is no step's.
  await writeFile(join(dir, 'c.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: 1\n   b: 2\n')
  const catalog = await DirectoryCatalog.load([dir])
  t.strictSame(await catalog.resolve({ namespace: 'default', name: 'build' }), {
    error: `stepactions.tekton.dev "build" not found in namespace "default"; 1 file of the catalog does not parse or cannot be read, and may define it: ${join(dir, 'a.yaml')}`,
    missing: true,
    notes: [`1 file of the catalog does not parse or cannot be read, and may define it: ${join(dir, 'a.yaml')}`],
  })

  for (const name of ['d', 'e', 'f', 'g']) await writeFile(join(dir, `${name}.yaml`), garbage)
  await catalog.reload()
  t.equal(
    errorOf(await catalog.resolve({ namespace: 'default', name: 'build' })),
    `stepactions.tekton.dev "build" not found in namespace "default"; 5 files of the catalog do not parse or cannot be read, and may define it: ${['a', 'd', 'e'].map((n) => join(dir, `${n}.yaml`)).join(', ')}, and 2 more`,
  )
})

t.test('a file that breaks keeps serving its last good version; its names are not "does not parse" while it does', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'echo.yaml')
  await writeFile(file, stepActionYaml('echo', 'alpine:1'))
  const catalog = await DirectoryCatalog.load([dir])
  await writeFile(file, brokenNamed('echo'))
  await catalog.reload()
  const answer = await catalog.resolve({ namespace: 'default', name: 'echo' })
  t.equal('definition' in answer ? answer.definition.spec.image : undefined, 'alpine:1')
  t.match(catalog.brokenDefinitions(), [{ source: 'directory', kind: 'unparsable', file, definitions: ['*/echo'] }], 'but it is reported')
})

t.test('tekton.dev/v1 StepActions are named for what they are: in a file, when referenced, and at /validate', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'v1.yaml')
  await writeFile(file, stepActionYaml('modern', 'alpine', { apiVersion: 'tekton.dev/v1' }))
  const catalog = await DirectoryCatalog.load([dir])
  t.strictSame(catalog.brokenDefinitions(), [{ source: 'directory', kind: 'invalid', file, definitions: ['*/modern'], errors: [v1Message] }])
  const e = await expandWith(taskRun({ steps: [{ name: 's', ref: { name: 'modern' } }] }), catalog)
  t.match(e.problems, [{ path: 'spec.taskSpec.steps[0].ref', message: `StepAction is invalid: ${v1Message}`, step: 's', definition: 'default/modern' }])
  t.equal(e.problems.length, 1)

  const server = await startTestServer(t, { certs, catalog })
  const object = { apiVersion: 'tekton.dev/v1', kind: 'StepAction', metadata: { name: 'modern', namespace: 'default' }, spec: { image: 'alpine' } }
  const reply = await server.review('/validate', reviewOf(object))
  t.equal(reply.body.response.allowed, false)
  t.equal(reply.body.response.status?.message, `StepAction default/modern: ${v1Message}`)
  const fine = await server.review('/validate', reviewOf({ ...object, apiVersion: 'tekton.dev/v1beta1' }))
  t.equal(fine.body.response.allowed, true)
})

/** A definition without validating it: enough for the names a catalog holds. */
function named(name: string, namespace?: string): Definition {
  const d: Definition = { name, apiVersion: 'tekton.dev/v1beta1', source: { kind: 'directory', location: 'x' }, spec: { image: 'i' }, digest: '', problems: [] }
  if (namespace !== undefined) d.namespace = namespace
  return d
}

function memoryWith(...definitions: Definition[]): MemoryCatalog {
  const catalog = new MemoryCatalog('test')
  for (const d of definitions) catalog.put(d)
  return catalog
}

t.test('a miss suggests the nearest names in scope: within two edits, or a shared prefix; three at most', async (t) => {
  const catalog = memoryWith(named('git-clone'), named('git-init'), named('go-build'), named('kaniko-build'), named('gitlab-release', 'team-b'))
  const miss = async (name: string, namespace = 'default'): Promise<string | undefined> => errorOf(await catalog.resolve({ namespace, name }))
  t.equal(await miss('gti-clone'), 'stepactions.tekton.dev "gti-clone" not found in namespace "default"; did you mean git-clone?', 'two letters swapped')
  t.equal(await miss('go-bild'), 'stepactions.tekton.dev "go-bild" not found in namespace "default"; did you mean go-build?')
  t.equal(await miss('git'), 'stepactions.tekton.dev "git" not found in namespace "default"; did you mean git-clone or git-init?', 'a prefix')
  t.equal(await miss('git', 'team-b'), 'stepactions.tekton.dev "git" not found in namespace "team-b"; did you mean git-clone, git-init or gitlab-release?')
  t.equal(await miss('deploy'), 'stepactions.tekton.dev "deploy" not found in namespace "default"', 'nothing near: nothing said')
  t.equal(await miss('gi'), 'stepactions.tekton.dev "gi" not found in namespace "default"', 'a prefix of two letters is no suggestion')

  t.strictSame(nearestNames('a-5', ['a-4', 'a-1', 'b-55', 'a-3', 'a-2', 'a-5x']), ['a-1', 'a-2', 'a-3'], 'fewest edits first, then by name; at most three')
  t.strictSame(nearestNames('clone', ['clone-git', 'clon']), ['clon', 'clone-git'], 'an edit ranks before a prefix')
  t.strictSame(nearestNames('ab', ['ba', 'abc', 'xyz']), ['abc', 'ba'])
})

t.test('the suggestions are bounded: past 5000 names in scope a miss suggests nothing', async (t) => {
  const many = Array.from({ length: suggestionScope }, (_, i) => `step-${i}`)
  t.strictSame(nearestNames('step-1x', many).length, 3, `${suggestionScope} names are looked through`)
  t.strictSame(nearestNames('step-1x', [...many, 'step-1']), [], 'one more, and none are')

  const catalog = memoryWith(...many.map((n) => named(n)), named('git-clone'))
  t.equal(catalog.names('default', suggestionScope), undefined, 'the catalog says there are too many without listing them')
  t.equal(errorOf(await catalog.resolve({ namespace: 'default', name: 'git-clon' })), 'stepactions.tekton.dev "git-clon" not found in namespace "default"')
  t.equal(catalog.names('default', suggestionScope + 1)?.length, suggestionScope + 1)
})

t.test('a layered catalog suggests from every layer and keeps what each noted', async (t) => {
  const dir = await tempDir(t)
  await writeFile(join(dir, 'broken.yaml'), garbage)
  await writeFile(join(dir, 'go-build.yaml'), stepActionYaml('go-build', 'golang'))
  const directory = await DirectoryCatalog.load([dir])
  const layered = new LayeredCatalog([
    { catalog: memoryWith(named('git-clone', 'default')), origin: 'first' },
    { catalog: directory, origin: dir },
  ])
  t.equal(
    errorOf(await layered.resolve({ namespace: 'default', name: 'go-bild' })),
    `stepactions.tekton.dev "go-bild" not found in namespace "default"; did you mean go-build?; 1 file of the catalog does not parse or cannot be read, and may define it: ${join(dir, 'broken.yaml')}`,
  )
  t.match(errorOf(await layered.resolve({ namespace: 'default', name: 'git-clon' })), /did you mean git-clone\?/)
  t.strictSame(layered.names('default', 10)?.sort(), ['git-clone', 'go-build'])
  t.equal(layered.names('default', 1), undefined)
})

/** Every log line with one of the messages that report broken definitions. */
const reportLines = (lines: Record<string, unknown>[]): Record<string, unknown>[] =>
  lines.filter(
    (l) => typeof l.msg === 'string' && (l.msg.startsWith('catalog file') || l.msg.startsWith('catalog StepAction') || l.msg.startsWith('catalog definition')),
  )

t.test('the server logs each broken file once, with its file, names and errors, and counts them', async (t) => {
  const dir = await tempDir(t)
  const broken = join(dir, 'broken.yaml')
  const invalid = join(dir, 'invalid.yaml')
  const good = join(dir, 'good.yaml')
  await writeFile(broken, brokenNamed('git-clone'))
  await writeFile(invalid, invalidYaml('go-build'))
  await writeFile(good, stepActionYaml('notify', 'curl'))
  const catalog = await DirectoryCatalog.load([dir])
  const server = await startTestServer(t, { certs, catalog })

  const atLoad = reportLines(server.logs.lines())
  t.strictSame(
    atLoad.map((l) => [l.level, l.msg, l.source, l.file, l.definitions, l.errors]),
    [
      [
        40,
        'catalog file does not parse',
        'directory',
        broken,
        ['*/git-clone'],
        ['Nested mappings are not allowed in compact mappings at line 6, column 10 (and 1 more errors)'],
      ],
      [40, 'catalog StepAction is invalid', 'directory', invalid, ['*/go-build'], ['spec.image: missing field(s): image']],
    ],
    'what was broken when it was loaded, one warning a file',
  )
  let metrics = await server.metrics()
  t.equal(sample(metrics, 'stepsplice_catalog_invalid_definitions', { source: 'directory' }), 2)
  t.equal(sample(metrics, 'stepsplice_catalog_invalid_definitions', { source: 'cluster' }), 0)

  t.notOk((await catalog.reload()).changed)
  await writeFile(good, stepActionYaml('notify', 'curl:2'))
  t.ok((await catalog.reload()).changed)
  t.equal(reportLines(server.logs.lines()).length, 2, 'a reload that finds the same broken files says nothing again')

  await writeFile(invalid, stepActionYaml('go-build', 'golang'))
  await writeFile(good, invalidYaml('notify'))
  await catalog.reload()
  t.strictSame(
    reportLines(server.logs.lines())
      .slice(2)
      .map((l) => [l.level, l.msg, l.file]),
    [
      [40, 'catalog StepAction is invalid', good],
      [30, 'catalog definition fixed or gone', invalid],
    ],
    'what broke, and what was fixed',
  )
  metrics = await server.metrics()
  t.equal(sample(metrics, 'stepsplice_catalog_invalid_definitions', { source: 'directory' }), 2)

  // The watched path: a file broken under the watch is reported once, and re-scans do not repeat it.
  const reloads: boolean[] = []
  const watch = catalog.watch({ debounceMs: 20, rescanMs: 30, onReload: (r) => reloads.push(r.changed) })
  t.teardown(() => watch.close())
  await mkdir(join(dir, 'more'))
  const later = join(dir, 'more', 'later.yaml')
  await writeFile(later, garbage)
  await until('the new broken file logged', () => reportLines(server.logs.lines()).some((l) => l.file === later))
  const seen = reloads.length
  await until('three more re-scans', () => reloads.length >= seen + 3)
  const aboutLater = reportLines(server.logs.lines()).filter((l) => l.file === later)
  t.strictSame(
    aboutLater.map((l) => [l.msg, l.definitions, (l.errors as string[]).length]),
    [['catalog file does not parse', undefined, 1]],
    'logged once: no name to give',
  )
  t.equal(sample(await server.metrics(), 'stepsplice_catalog_invalid_definitions', { source: 'directory' }), 3)
})

t.test('the cluster catalog reports invalid StepActions as they arrive, once, and when fixed', async (t) => {
  const kube = await startKubeApi(t, { certs, resources: [tektonResources.stepActions, tektonResources.tasks] })
  const invalid: KubeObject = {
    apiVersion: 'tekton.dev/v1beta1',
    kind: 'StepAction',
    metadata: { name: 'no-image', namespace: 'team-a' },
    spec: { script: 'true' },
  }
  kube.create(invalid)
  kube.create({ apiVersion: 'tekton.dev/v1beta1', kind: 'StepAction', metadata: { name: 'git-clone', namespace: 'team-a' }, spec: { image: 'alpine/git' } })
  const catalog = new ClusterCatalog({ kubeConfig: kube.kubeConfig(), backoff: { initialMs: 20, maxMs: 200 } })
  t.teardown(() => catalog.stop())
  const changes: ReportChange[] = []
  const stop = catalog.watchBroken((c) => changes.push(c))
  t.teardown(stop)
  catalog.start()
  await until('synced', () => catalog.ready && kube.openWatches() === 2)

  t.strictSame(catalog.brokenDefinitions(), [
    { source: 'cluster', kind: 'invalid', namespace: 'team-a', name: 'no-image', errors: ['spec.image: missing field(s): image'] },
  ])
  t.equal(
    errorOf(await catalog.resolve({ namespace: 'team-a', name: 'git-clon' })),
    'stepactions.tekton.dev "git-clon" not found in namespace "team-a"; did you mean git-clone?',
  )
  t.equal(errorOf(await catalog.resolve({ namespace: 'default', name: 'git-clon' })), 'stepactions.tekton.dev "git-clon" not found in namespace "default"')

  const server = await startTestServer(t, { certs, catalog })
  t.strictSame(
    reportLines(server.logs.lines()).map((l) => [l.msg, l.source, l.namespace, l.name, l.errors]),
    [['catalog StepAction is invalid', 'cluster', 'team-a', 'no-image', ['spec.image: missing field(s): image']]],
  )
  t.equal(sample(await server.metrics(), 'stepsplice_catalog_invalid_definitions', { source: 'cluster' }), 1)

  // Modified, still with the same problem: converted again, not reported again.
  const definitionNow = async (): Promise<Definition | undefined> => {
    const r = await catalog.resolve({ namespace: 'team-a', name: 'no-image' })
    return 'definition' in r ? r.definition : undefined
  }
  const before = await definitionNow()
  kube.update({ ...invalid, metadata: { ...invalid.metadata, labels: { touched: 'yes' } } })
  await until('the update converted', async () => (await definitionNow()) !== before)
  kube.update({ ...invalid, spec: { image: 'alpine', script: 'true' } })
  await until('fixed', () => catalog.brokenDefinitions().length === 0)
  t.strictSame(
    changes.map((c) => [c.reported.map((r) => r.name), c.cleared.map((r) => r.name)]),
    [
      [['no-image'], []],
      [[], ['no-image']],
    ],
    'told once when it arrived and once when it was fixed; the touch in between said nothing',
  )
  await until('the fix logged', () => reportLines(server.logs.lines()).length === 2)
  t.match(reportLines(server.logs.lines())[1], { level: 30, msg: 'catalog definition fixed or gone', source: 'cluster', namespace: 'team-a', name: 'no-image' })
  t.equal(sample(await server.metrics(), 'stepsplice_catalog_invalid_definitions', { source: 'cluster' }), 0)
})
