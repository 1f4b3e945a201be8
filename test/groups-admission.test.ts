// TaskGroups at admission (issue #16), end to end: the example catalog's
// git-clone and kaniko Tasks (the Tekton Catalog's interfaces) merged by a
// TaskGroup, through `render` and `/mutate` alike; a TaskRun's and a pipeline
// task's taskRef to a group, inline `uses`, groups within groups and a cycle,
// a used Task whose step is a StepAction, what cannot be resolved (left for
// Tekton in a PipelineRun, denied in a TaskRun), provenance, and policies
// judging the steps a group brought.

import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { main } from '../src/cli/main.ts'
import { spliceObject } from '../src/pipeline/splice.ts'
import { loadPolicy } from '../src/policy/load.ts'
import type { LoadedPolicy } from '../src/policy/types.ts'
import { DirectoryCatalog } from '../src/resolution/directory.ts'
import { LayeredCatalog } from '../src/resolution/layered.ts'
import type { KubeObject } from '../src/types/k8s.ts'
import { admit, patched } from './helpers/admit.ts'
import { captureIO } from './helpers/cli.ts'
import { applyEncodedPatch, root, startTestServer, tempDir } from './helpers/server.ts'

const examples = ['examples/stepactions', 'examples/tasks'].map((d) => join(root, d))
const gv = 'custom.tekton.dev/v1alpha1'

/** More Tasks and TaskGroups beside the examples, one file each. */
async function catalogWith(objects: KubeObject[]): Promise<DirectoryCatalog> {
  const dir = await tempDir(t, 'stepsplice-groups-')
  await Promise.all(objects.map((o, i) => writeFile(join(dir, `${i}.json`), JSON.stringify(o))))
  return DirectoryCatalog.load([...examples, dir])
}

const group = (name: string, steps: unknown[], extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: gv,
  kind: 'TaskGroup',
  metadata: { name },
  spec: { steps, ...extra },
})
const task = (name: string, steps: unknown[], extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'tekton.dev/v1',
  kind: 'Task',
  metadata: { name },
  spec: { steps, ...extra },
})
const uses = (name: string, ref: Record<string, unknown>, more: Record<string, unknown> = {}) => ({ name, uses: { taskRef: ref, ...more } })
const groupRef = (name: string) => ({ apiVersion: gv, kind: 'TaskGroup', name })
const taskRun = (spec: Record<string, unknown>, apiVersion = 'tekton.dev/v1'): KubeObject => ({
  apiVersion,
  kind: 'TaskRun',
  metadata: { name: 'run', namespace: 'default' },
  spec,
})
const pipelineRun = (tasks: unknown[]): KubeObject => ({
  apiVersion: 'tekton.dev/v1',
  kind: 'PipelineRun',
  metadata: { name: 'pr', namespace: 'default' },
  spec: { pipelineSpec: { tasks } },
})

const catalog = await catalogWith([
  task('leaf', [{ name: 'one', image: 'alpine:3', script: 'echo $(params.word)' }], { params: [{ name: 'word', default: 'hi' }] }),
  group('inner', [uses('a', { name: 'leaf' }), { name: 'own', image: 'busybox', script: 'true' }]),
  group('outer', [uses('b', { ...groupRef('inner'), name: 'inner' })]),
  group('loop-1', [uses('x', groupRef('loop-2'))]),
  group('loop-2', [uses('y', groupRef('loop-1'))]),
  ...[1, 2, 3, 4, 5].map((i) => group(`deep-${i}`, [i === 5 ? uses('s', { name: 'leaf' }) : uses('s', groupRef(`deep-${i + 1}`))])),
  group('bad-binding', [uses('k', { name: 'kaniko' }, { parambindings: [{ name: 'url', param: 'image' }] })], { params: [{ name: 'image' }] }),
  group('remote', [uses('r', { resolver: 'git', params: [{ name: 'url', value: 'https://example.com/r.git' }] })]),
])
const yamlOf = async (file: string): Promise<KubeObject> => parse(await readFile(join(root, file), 'utf8')) as KubeObject
const layered = new LayeredCatalog([{ catalog, origin: 'examples' }])
const splice = (obj: KubeObject, policies?: LoadedPolicy[]) =>
  spliceObject(obj, 'default', { catalog: layered, ...(policies === undefined ? {} : { policies }) }, { includeWorkloads: false })
/** A StepPolicy in namespace default, loaded as files are. */
function policyOf(spec: Record<string, unknown>, name = 'p'): LoadedPolicy {
  const loaded = loadPolicy({ apiVersion: 'stepsplice.dev/v1alpha1', kind: 'StepPolicy', metadata: { name, namespace: 'default' }, spec })
  if (!('policy' in loaded)) throw new Error(loaded.problems.join('; '))
  return loaded.policy
}
const messages = (e: { problems: { path: string; message: string }[] }): string[] => e.problems.map((p) => `${p.path}: ${p.message}`)
type Spec = {
  steps: { name: string; image?: string; args?: string[]; script?: string }[]
  params: { name: string }[]
  workspaces: { name: string; mountPath?: string }[]
  results: { name: string }[]
}

t.test('the example runs: render and /mutate give the same bytes, through the real server too', async (t) => {
  const server = await startTestServer(t, { catalog: layered })
  for (const file of ['examples/taskgroups/taskrun.yaml', 'examples/taskgroups/pipelinerun.yaml', 'examples/taskgroups/taskrun-inline.yaml']) {
    const io = captureIO()
    t.equal(await main(['render', ...examples.flatMap((d) => ['--catalog', d]), '-f', join(root, file), '-o', 'json'], io), 0, `${file}: ${io.err}`)
    const object = await yamlOf(file)
    const response = await admit(object, layered)
    t.equal(response.allowed, true)
    t.equal(`${JSON.stringify(patched(object, response), null, 2)}\n`, io.out, `${file}: render equals admission`)
    const reply = await server.review('/mutate', {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'u',
        kind: { group: 'tekton.dev', version: 'v1', kind: object.kind },
        resource: { group: 'tekton.dev', version: 'v1', resource: `${String(object.kind).toLowerCase()}s` },
        namespace: 'default',
        operation: 'CREATE',
        userInfo: { username: 'dev' },
        object,
      },
    })
    t.same(applyEncodedPatch(object, reply.body.response.patch ?? ''), JSON.parse(io.out), `${file}: the HTTPS server's patch gives the same object`)
  }
})

t.test('a TaskRun naming the TaskGroup runs git-clone and kaniko in one Task, renamed to the group', async (t) => {
  const e = await splice(await yamlOf('examples/taskgroups/taskrun.yaml'))
  t.same(e.problems, [])
  const spec = e.object.spec as { taskRef?: unknown; taskSpec: Spec }
  t.equal(spec.taskRef, undefined, 'the taskRef is replaced')
  t.equal(e.object.metadata?.labels?.['custom.tekton.dev/taskGroup'], 'clone-and-build')
  t.same(
    spec.taskSpec.steps.map((s) => s.name),
    ['clone-clone', 'build-build-and-push', 'build-write-url', 'report'],
  )
  t.same(
    spec.taskSpec.params.map((p) => p.name),
    ['repo-url', 'revision', 'image', 'depth', 'gitInitImage', 'DOCKERFILE', 'CONTEXT', 'EXTRA_ARGS', 'BUILDER_IMAGE'],
    "the group's params, then each Task's unbound ones; bound ones are not declared again",
  )
  t.same(spec.taskSpec.workspaces, [
    { name: 'source' },
    { name: 'dockerconfig', optional: true, mountPath: '/kaniko/.docker' },
    { name: 'ssh-directory', optional: true },
  ])
  t.same(
    spec.taskSpec.results.map((r) => r.name),
    ['commit', 'url', 'IMAGE_DIGEST', 'IMAGE_URL'],
  )
  const build = spec.taskSpec.steps[1]
  t.ok(build?.args?.includes('--destination=$(params.image)'), 'IMAGE is the group’s image')
  t.match(spec.taskSpec.steps[0]?.script, /cd "\$\(workspaces\.source\.path\)"/, 'output is the group’s source')
  t.same((spec.taskSpec.steps[0] as Record<string, unknown>).computeResources, { requests: { cpu: '100m' } }, 'the v1beta1 Task read as v1')
  const entries = JSON.parse(e.object.metadata?.annotations?.['stepsplice.dev/resolved'] ?? '[]') as Record<string, unknown>[]
  t.match(entries, [
    { path: 'spec.taskSpec.steps[0]', step: 'clone-clone', definition: 'default/git-clone', kind: 'Task', source: 'directory', digest: /^sha256:/ },
    { path: 'spec.taskSpec.steps[1]', definition: 'default/kaniko', kind: 'Task' },
    { path: 'spec.taskSpec.steps[2]', definition: 'default/kaniko', kind: 'Task' },
    { path: 'spec.taskSpec.steps[3]', step: 'report', definition: 'default/clone-and-build', kind: 'TaskGroup' },
  ])
})

t.test('a pipeline task naming the TaskGroup gets its Task written in and labelled; its results reach the next task', async (t) => {
  const e = await splice(await yamlOf('examples/taskgroups/pipelinerun.yaml'))
  t.same(e.problems, [])
  const tasks = (e.object.spec as { pipelineSpec: { tasks: { taskRef?: unknown; taskSpec: Spec & { metadata: unknown }; params: unknown }[] } }).pipelineSpec
    .tasks
  t.equal(tasks[0]?.taskRef, undefined)
  t.same(tasks[0]?.taskSpec.metadata, { labels: { 'custom.tekton.dev/taskGroup': 'clone-and-build' } })
  t.ok(
    tasks[0]?.taskSpec.results.some((r) => r.name === 'IMAGE_DIGEST'),
    'the result the next task reads is declared',
  )
  t.same(tasks[1]?.params, [{ name: 'digest', value: '$(tasks.image.results.IMAGE_DIGEST)' }], 'the next task is as written')
  t.match(JSON.parse(e.object.metadata?.annotations?.['stepsplice.dev/resolved'] ?? '[]'), [
    { path: 'spec.pipelineSpec.tasks[0].taskSpec.steps[0]', task: 'image' },
  ])
})

t.test('inline uses: the task spec is the group, merged in place; a used Task’s StepAction is spliced', async (t) => {
  const e = await splice(await yamlOf('examples/taskgroups/taskrun-inline.yaml'))
  t.same(e.problems, [])
  const steps = (e.object.spec as { taskSpec: Spec }).taskSpec.steps
  t.same(
    steps.map((s) => s.name),
    ['get-clone', 'tell-post'],
  )
  t.equal(steps[1]?.image, 'curlimages/curl:8.11.1', 'notify, the StepAction announce’s step refers to')
  t.ok(steps[1]?.args?.includes('https://chat.example.com/hooks/builds'), 'its param bound to the group’s, with the group’s default')
  t.notOk(JSON.stringify(e.object).includes('"uses"'), 'no uses is left for Tekton to refuse')
  t.match(JSON.parse(e.object.metadata?.annotations?.['stepsplice.dev/resolved'] ?? '[]'), [
    { step: 'get-clone', kind: 'Task' },
    { step: 'tell-post', definition: 'default/notify', written: { ref: { name: 'notify' } } },
  ])
})

t.test('groups within groups; a cycle and nesting past the limit', async (t) => {
  const nested = await splice(taskRun({ taskRef: groupRef('outer') }))
  t.same(
    (nested.object.spec as { taskSpec: Spec }).taskSpec.steps.map((s) => `${s.name} ${s.script}`),
    ['b-a-one echo $(params.word)', 'b-own true'],
  )
  t.match(JSON.parse(nested.object.metadata?.annotations?.['stepsplice.dev/resolved'] ?? '[]'), [
    { step: 'b-a-one', definition: 'default/leaf', kind: 'Task' },
    { step: 'b-own', definition: 'default/inner', kind: 'TaskGroup' },
  ])
  const cycle = await splice(taskRun({ taskRef: groupRef('loop-1') }))
  t.match(messages(cycle), [
    // Where in each group: loop-1's step 0 uses loop-2, whose step 0 uses loop-1 again.
    /^spec\.taskRef: TaskGroup default\/loop-1: spec\.steps\[0\]\.uses\.taskRef: TaskGroup default\/loop-2: spec\.steps\[0\]\.uses\.taskRef: TaskGroups use each other in a cycle: TaskGroup default\/loop-1 → TaskGroup default\/loop-2 → TaskGroup default\/loop-1$/,
  ])
  const deep = await splice(taskRun({ taskRef: groupRef('deep-1') }))
  t.match(messages(deep), [/^spec\.taskRef: .*TaskGroups nest deeper than 4 \(limit groupNesting\); Tekton cannot run a TaskGroup itself/])
  const deepInPipeline = await splice(pipelineRun([{ name: 'd', taskRef: groupRef('deep-1') }]))
  t.same(deepInPipeline.problems, [])
  t.equal(deepInPipeline.changed, false)
  t.match(deepInPipeline.warnings, [/^spec\.pipelineSpec\.tasks\[0\]\.taskRef: stepsplice left this TaskGroup for Tekton: .*limit groupNesting/])
})

t.test('what cannot be resolved: left for Tekton in a PipelineRun, denied where Tekton cannot run it', async (t) => {
  const missingInPipeline = await splice(pipelineRun([{ name: 'g', taskRef: groupRef('nowhere') }]))
  t.equal(missingInPipeline.changed, false)
  t.same(missingInPipeline.problems, [])
  t.match(missingInPipeline.warnings, [/stepsplice left this TaskGroup for Tekton: taskgroups\.custom\.tekton\.dev "nowhere" not found/])
  t.same(messages(await splice(taskRun({ taskRef: groupRef('nowhere') }))), [
    'spec.taskRef: taskgroups.custom.tekton.dev "nowhere" not found in namespace "default"',
  ])
  const inline = await splice(taskRun({ taskSpec: { steps: [uses('get', { name: 'git-clon' })] } }))
  t.same(messages(inline), [
    'spec.taskSpec.steps[0].uses.taskRef: tasks.tekton.dev "git-clon" not found in namespace "default"; did you mean git-clone?; Tekton cannot run a TaskGroup itself',
  ])
  const remoteInPipeline = await splice(pipelineRun([{ name: 'g', taskRef: groupRef('remote') }]))
  t.match(remoteInPipeline.warnings, [
    /^spec\.pipelineSpec\.tasks\[0\]\.taskRef: stepsplice left this TaskGroup for Tekton: TaskGroup default\/remote: spec\.steps\[0\]\.uses\.taskRef: stepsplice does not run the "git" resolver \(it runs cluster\)$/,
  ])
  t.match(messages(await splice(taskRun({ taskRef: groupRef('clone-and-build') }, 'tekton.dev/v1beta1'))), [/merged into tekton\.dev\/v1 runs only/])
})

t.test("a group's mistakes deny with the group, the step and the valid names", async (t) => {
  const e = await splice(taskRun({ taskRef: groupRef('bad-binding') }))
  t.match(messages(e), [
    /^spec\.taskRef: TaskGroup default\/bad-binding: spec\.steps\[0\]\.uses\.parambindings\[0\]\.name: Task default\/kaniko declares no param "url"; its params are "IMAGE", /,
  ])
})

t.test('render -f taskgroup.yaml prints the Task it stands for; an invalid one is an error', async (t) => {
  const io = captureIO()
  t.equal(await main(['render', ...examples.flatMap((d) => ['--catalog', d]), '-f', join(root, 'examples/tasks/clone-and-build.yaml'), '-o', 'json'], io), 0)
  const out = JSON.parse(io.out) as KubeObject
  t.match(out, { apiVersion: 'tekton.dev/v1', kind: 'Task', metadata: { name: 'clone-and-build', labels: { team: 'platform' } } })
  t.same(
    (out.spec as Spec).steps.map((s) => s.name),
    ['clone-clone', 'build-build-and-push', 'build-write-url', 'report'],
  )
  const dir = await tempDir(t)
  await writeFile(join(dir, 'g.json'), JSON.stringify(group('Bad_Name', [uses('k', { name: 'kaniko' }, { parambindings: [{ name: 'IMAGE', param: 'img' }] })])))
  const bad = captureIO()
  t.equal(await main(['render', ...examples.flatMap((d) => ['--catalog', d]), '-f', join(dir, 'g.json')], bad), 1)
  t.match(bad.err, /metadata\.name: must be a DNS-1123 label/)
})

t.test('policies judge the steps a group brought by where they came from', async (t) => {
  const policy = (spec: Record<string, unknown>): LoadedPolicy => policyOf(spec)
  const run = await yamlOf('examples/taskgroups/taskrun.yaml')
  t.same((await splice(run, [policy({ inlineSteps: 'Deny' })])).problems, [], 'every step came from a catalog object: none is inline')
  const onlyGitClone = await splice(run, [policy({ sources: { allow: ['directory:*/git-clone', 'directory:*/clone-and-build'] } })])
  t.match(messages(onlyGitClone), [
    /steps\[1\].*source directory:default\/kaniko is not allowed/,
    /steps\[2\].*source directory:default\/kaniko is not allowed/,
  ])
  const inline = taskRun({
    taskSpec: { steps: [uses('get', { name: 'git-clone' }, { parambindings: [] }), { name: 'mine', image: 'busybox', script: 'true' }] },
  })
  t.match(messages(await splice(inline, [policy({ inlineSteps: 'Deny' })])), [/steps\[1\].*inline/], 'the run author’s own step is inline')
})

t.test('the TaskRun Tekton creates for a group’s pipeline task keeps its provenance; on re-admission elsewhere the steps are inline', async (t) => {
  const loaded = { policy: policyOf({ inlineSteps: 'Deny' }, 'p') }
  const noInline = [loaded.policy]
  const pr = await splice(await yamlOf('examples/taskgroups/pipelinerun.yaml'))
  t.same(pr.problems, [])
  const image = (pr.object.spec as { pipelineSpec: { tasks: { taskSpec: Record<string, unknown> }[] } }).pipelineSpec.tasks[0]?.taskSpec ?? {}
  const { metadata: taskMetadata, ...taskSpec } = image as { metadata: { labels: Record<string, string> } }
  const child: KubeObject = {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: {
      name: 'release-image',
      namespace: 'default',
      labels: { ...taskMetadata.labels, 'tekton.dev/pipelineRun': 'release', 'tekton.dev/pipelineTask': 'image' },
      annotations: { ...pr.object.metadata?.annotations },
      ownerReferences: [{ apiVersion: 'tekton.dev/v1', kind: 'PipelineRun', name: 'release', uid: 'u', controller: true }],
    },
    spec: { taskSpec },
  }
  const trusted = await spliceObject(child, 'default', { catalog: layered, policies: noInline }, { createdByTekton: true })
  t.same(messages(trusted), [], 'created by the Tekton controller: the group’s entries hold')
  const other = await spliceObject(child, 'default', { catalog: layered, policies: noInline })
  t.equal(other.problems.length, 4, 'created by anyone else, nothing vouches for the steps: each is inline')
  t.match(messages(other)[0], /inlineSteps/)
})

t.test('required steps shift the steps a group brought, and their provenance with them', async (t) => {
  const loaded = {
    policy: policyOf(
      { inlineSteps: 'Deny', requiredSteps: [{ name: 'sum', ref: { name: 'summarize' }, params: [{ name: 'commit', value: 'abc' }], position: 'First' }] },
      'scan',
    ),
  }
  const e = await splice(await yamlOf('examples/taskgroups/taskrun.yaml'), [loaded.policy])
  t.same(messages(e), [])
  const steps = (e.object.spec as { taskSpec: Spec }).taskSpec.steps.map((s) => s.name)
  t.same(steps, ['sum', 'clone-clone', 'build-build-and-push', 'build-write-url', 'report'])
  const entries = JSON.parse(e.object.metadata?.annotations?.['stepsplice.dev/resolved'] ?? '[]') as { path: string; step: string }[]
  for (const entry of entries) t.equal(steps[Number(/steps\[(\d+)\]$/.exec(entry.path)?.[1])], entry.step, `${entry.step} is recorded where it is`)
})

t.test('a merge past the limits: a pipeline task is left as it is, a TaskRun denied; a group many tasks name is merged once', async (t) => {
  const big = await catalogWith([
    task('wide', [{ name: 's', image: 'alpine', script: 'x'.repeat(200_000) }]),
    group('fan', [uses('w', { name: 'wide' })]),
    task(
      'many',
      Array.from({ length: 600 }, (_, i) => ({ name: `s${i}`, image: 'alpine', script: 'true' })),
    ),
    group('lots', [uses('a', { name: 'many' }), uses('b', { name: 'many' })]),
  ])
  const catalogOf = new LayeredCatalog([{ catalog: big, origin: 'big' }])
  let asked = 0
  const counting = {
    ...catalogOf,
    size: 0,
    resolve: catalogOf.resolve.bind(catalogOf),
    resolveTask: (...a: Parameters<NonNullable<typeof catalogOf.resolveTask>>) => {
      asked++
      return (catalogOf.resolveTask as NonNullable<typeof catalogOf.resolveTask>)(...a)
    },
  }
  const fan = pipelineRun(Array.from({ length: 20 }, (_, i) => ({ name: `t${i}`, taskRef: groupRef('fan') })))
  const e = await spliceObject(fan, 'default', { catalog: counting }, {})
  t.same(e.problems, [])
  const tasks = (e.object.spec as { pipelineSpec: { tasks: { taskRef?: unknown; taskSpec?: unknown }[] } }).pipelineSpec.tasks
  t.ok(tasks.filter((x) => x.taskSpec !== undefined).length < 20, 'merged while the object stays within objectBytes')
  t.ok(
    tasks.some((x) => x.taskRef !== undefined),
    'the rest left as written',
  )
  t.match(e.warnings.join('\n'), /stepsplice left this TaskGroup for Tekton: merged, the object would pass stepsplice's limit objectBytes/)
  t.ok(asked <= 21, `the group and its Task looked up once each, however many tasks name it (${asked} lookups)`)
  const tooMany = await spliceObject(taskRun({ taskRef: groupRef('lots') }), 'default', { catalog: catalogOf }, {})
  t.match(messages(tooMany), [/^spec\.taskRef: merged, the object would pass stepsplice's limit steps \(1000\); Tekton cannot run a TaskGroup itself/])
})

t.test('a used Task the directory lacks: left for Tekton in a PipelineRun (the cluster may hold it); every problem of a group at once', async (t) => {
  const c = await catalogWith([
    group('needs-cluster', [uses('a', { name: 'in-cluster-only' })]),
    group('broken', [
      uses('a', { name: 'nowhere' }),
      { name: 'b', image: 'x', uses: { taskRef: { name: 'kaniko' }, parambindings: [{ name: 'IMG', param: 'image' }] } },
    ]),
  ])
  const lc = new LayeredCatalog([{ catalog: c, origin: 'dir' }])
  const lc2 = new LayeredCatalog([{ catalog: await catalogWith([group('wrong-too', [uses('a', { name: 'in-cluster-only' }), uses('b', {})])]), origin: 'dir' }])
  const pr = await spliceObject(pipelineRun([{ name: 'p', taskRef: groupRef('needs-cluster') }]), 'default', { catalog: lc }, {})
  t.same(pr.problems, [])
  t.match(pr.warnings, [
    /left this TaskGroup for Tekton: TaskGroup default\/needs-cluster: spec\.steps\[0\]\.uses\.taskRef: tasks\.tekton\.dev "in-cluster-only" not found/,
  ])
  const broken = await spliceObject(pipelineRun([{ name: 'p', taskRef: groupRef('broken') }]), 'default', { catalog: lc }, {})
  t.same(broken.problems, [], 'a used Task a directory lacks leaves the whole group for Tekton in a PipelineRun')
  // A use the author got wrong is a definite error whatever the others hold: not hidden behind the one the directory lacks.
  const wrongToo = await spliceObject(
    pipelineRun([{ name: 'p', taskSpec: { steps: [uses('a', { name: 'in-cluster-only' }), uses('b', {})] } }]),
    'default',
    { catalog: lc },
    {},
  )
  t.match(
    messages(wrongToo),
    [/^spec\.pipelineSpec\.tasks\[0\]\.taskSpec\.steps\[1\]\.uses\.taskRef: .*name/, /steps\[0\]\.uses\.taskRef: .*"in-cluster-only" not found/],
    'denied for the use without a name, and (an inline group Tekton cannot run) for the Task not found',
  )
  t.equal(wrongToo.problems.length, 2, 'nothing is merged without the Task not known')
  const wrongInGroup = await spliceObject(pipelineRun([{ name: 'p', taskRef: groupRef('wrong-too') }]), 'default', { catalog: lc2 }, {})
  t.match(
    messages(wrongInGroup),
    [/^spec\.pipelineSpec\.tasks\[0\]\.taskRef: .*steps\[1\]\.uses\.taskRef: .*name/],
    'a TaskGroup Tekton could run: denied for the use without a name',
  )
  t.equal(wrongInGroup.problems.length, 1)
  t.same(wrongInGroup.warnings, [], 'and not said to be left to Tekton')
  const c2 = await spliceObject(
    taskRun({
      taskSpec: {
        params: [{ name: 'image' }],
        steps: [
          { name: 'b', image: 'x', uses: { taskRef: { name: 'kaniko' }, parambindings: [{ name: 'IMG', param: 'image' }] } },
          uses('c', { name: 'git-clone' }, { parambindings: [{ name: 'url', param: 'nope' }] }),
          uses('d', { name: 'build', kind: 'ClusterTask' }),
        ],
      },
    }),
    'default',
    { catalog: lc },
    {},
  )
  t.same(
    messages(c2).map((m) => m.split(':')[0]),
    [
      'spec.taskSpec.steps[2].uses.taskRef',
      'spec.taskSpec.steps[0]',
      'spec.taskSpec.steps[0].uses.parambindings[0].name',
      'spec.taskSpec.steps[1].uses.parambindings[0].param',
    ],
    'a lookup that cannot be made and the merge’s problems, all at once',
  )
})

t.test(
  'render writes a new Task: the group’s bookkeeping is not copied; an inline group with a stepTemplate reads the same rendered and admitted',
  async (t) => {
    const applied = {
      ...group('g', [uses('a', { name: 'git-clone' }, { parambindings: [{ name: 'url', param: 'u' }] })], { params: [{ name: 'u' }] }),
    }
    applied.metadata = {
      name: 'g',
      namespace: 'default',
      uid: 'u-1',
      resourceVersion: '42',
      generation: 3,
      creationTimestamp: '2026-01-01T00:00:00Z',
      labels: { team: 'a' },
      annotations: { owner: 'a', 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
    }
    const task = await spliceObject(applied, 'default', { catalog: layered }, { groupsAsTasks: true })
    t.same(task.object.metadata, { name: 'g', namespace: 'default', labels: { team: 'a' }, annotations: { owner: 'a' } })

    const inline = taskRun({
      taskSpec: {
        stepTemplate: { securityContext: { runAsNonRoot: true }, env: [{ name: 'A', value: '1' }] },
        steps: [
          { name: 'mine', image: 'busybox', securityContext: { runAsUser: 1000 }, script: 'true' },
          uses('get', { name: 'git-clone' }, { parambindings: [] }),
        ],
        params: [{ name: 'url' }],
      },
    })
    const rendered = await splice(inline)
    t.same(rendered.problems, [])
    const admitted = patched(inline, await admit(inline, layered))
    t.equal(JSON.stringify(admitted), JSON.stringify(rendered.object), 'the same bytes')
    t.same((rendered.object.spec as { taskSpec: Spec }).taskSpec.steps[0], {
      name: 'mine',
      image: 'busybox',
      securityContext: { runAsUser: 1000, runAsNonRoot: true },
      script: 'true',
      env: [{ name: 'A', value: '1' }],
    })
  },
)

t.test('a merged run admitted again (reinvocation) has its group steps merged again and verified; an edited one is not', async (t) => {
  const loaded = { policy: policyOf({ inlineSteps: 'Deny' }, 'p') }
  for (const file of ['examples/taskgroups/taskrun.yaml', 'examples/taskgroups/taskrun-inline.yaml']) {
    const first = await splice(await yamlOf(file), [loaded.policy])
    t.same(messages(first), [], `${file}: admitted`)
    t.ok(first.object.metadata?.annotations?.['stepsplice.dev/taskgroups'], 'the sites are recorded as written')
    // Another webhook (Tekton's defaulting) changes the run; the API server calls stepsplice again.
    const again = { ...first.object, spec: { ...(first.object.spec as object), timeout: '1h0m0s' } }
    const second = await splice(again, [loaded.policy])
    t.same(messages(second), [], `${file}: admitted again`)
    t.equal(JSON.stringify(second.object.spec), JSON.stringify(again.spec), 'and left as it is')
  }
  // A PipelineRun's group, with a policy on sources: re-admitted, the group's steps still come from the directory.
  const sources = {
    policy: policyOf(
      {
        sources: { allow: ['directory:default/*'] },
        requiredSteps: [{ name: 'sum', ref: { name: 'summarize' }, params: [{ name: 'commit', value: 'abc' }], position: 'Last' }],
      },
      's',
    ),
  }
  const pr = await splice(await yamlOf('examples/taskgroups/pipelinerun.yaml'), [sources.policy])
  t.same(messages(pr), [])
  const prAgain = await splice({ ...pr.object, spec: { ...(pr.object.spec as object), timeouts: { pipeline: '1h0m0s' } } }, [sources.policy])
  t.same(messages(prAgain), [])
  t.same(
    prAgain.warnings.filter((w) => w.includes('not what their definitions give')),
    [],
    'every claim verified',
  )
  const first = await splice(await yamlOf('examples/taskgroups/taskrun.yaml'), [loaded.policy])
  const edited = structuredClone(first.object)
  const steps = (edited.spec as { taskSpec: Spec }).taskSpec.steps
  if (steps[1] !== undefined) steps[1].image = 'evil/kaniko:latest'
  t.match(messages(await splice(edited, [loaded.policy])), [/^spec\.taskSpec\.steps\[1\]: .*inlineSteps/], 'only the edited step is inline')
})
