// Several catalogs answered as one, and Tekton's cluster resolver form: the
// first catalog that holds a name answers, a StepAction of another namespace
// is reached only through --shared-namespace, and a denied reference says
// how to allow it. Through the same entry point render and admission use.

import t from 'tap'
import { spliceObject } from '../src/pipeline/splice.ts'
import { formatProblem } from '../src/problems/problem.ts'
import { LayeredCatalog } from '../src/resolution/layered.ts'
import { MemoryCatalog } from '../src/resolution/memory.ts'
import type { KubeObject } from '../src/types/k8s.ts'
import { stepAction, stepOf, taskRun } from './helpers/catalog.ts'

const inTeam = (name: string, image: string) => stepAction(name, { image, command: ['run'] }, { namespace: 'team-a' })
const shared = (name: string, image: string) => stepAction(name, { image, command: ['run'] }, { namespace: 'shared' })

const clusterLike = MemoryCatalog.of('the cluster', [inTeam('build', 'cluster/build:1'), shared('scan', 'shared/scan:1')])
const directory = MemoryCatalog.of('a directory', [
  stepAction('build', { image: 'dir/build:1', command: ['run'] }),
  stepAction('lint', { image: 'dir/lint:1', command: ['run'] }),
])

function run(step: Record<string, unknown>): KubeObject {
  const obj = taskRun({ steps: [{ name: 's', ...step }] })
  obj.metadata = { ...obj.metadata, namespace: 'team-a' }
  return obj
}

const clusterRef = (params: Record<string, string>) => ({
  ref: { resolver: 'cluster', params: Object.entries(params).map(([name, value]) => ({ name, value })) },
})

t.test('the first catalog that holds a name answers; the others fill in', async (t) => {
  const catalog = new LayeredCatalog([
    { catalog: clusterLike, origin: 'the cluster' },
    { catalog: directory, origin: 'a directory' },
  ])
  const build = await spliceObject(run({ ref: { name: 'build' } }), 'team-a', { catalog })
  t.equal(stepOf(build).image, 'cluster/build:1', 'the cluster wins: it is what Tekton would resolve')
  const lint = await spliceObject(run({ ref: { name: 'lint' } }), 'team-a', { catalog })
  t.equal(stepOf(lint).image, 'dir/lint:1', 'a name only the directory holds')
  const missing = await spliceObject(run({ ref: { name: 'nope' } }), 'team-a', { catalog })
  t.same(missing.problems.map(formatProblem), ['spec.taskSpec.steps[0].ref: stepactions.tekton.dev "nope" not found in namespace "team-a" (step "s")'])
  t.equal(catalog.size, clusterLike.size + directory.size)
})

t.test('the cluster resolver reaches a shared namespace only', async (t) => {
  const open = new LayeredCatalog([{ catalog: clusterLike, origin: 'the cluster' }], ['shared'])
  const allowed = await spliceObject(run(clusterRef({ kind: 'stepaction', name: 'scan', namespace: 'shared' })), 'team-a', { catalog: open })
  t.same(allowed.problems, [])
  t.equal(stepOf(allowed).image, 'shared/scan:1')

  const closed = new LayeredCatalog([{ catalog: clusterLike, origin: 'the cluster' }])
  const denied = await spliceObject(run(clusterRef({ kind: 'stepaction', name: 'scan', namespace: 'shared' })), 'team-a', { catalog: closed })
  t.same(denied.problems.map(formatProblem), [
    'spec.taskSpec.steps[0].ref: cluster resolver: StepActions of namespace "shared" are not shared with namespace "team-a"; a platform team shares a namespace\'s StepActions by starting stepsplice with --shared-namespace shared (step "s")',
  ])

  const own = await spliceObject(run(clusterRef({ kind: 'stepaction', name: 'build' })), 'team-a', { catalog: closed })
  t.equal(stepOf(own).image, 'cluster/build:1', "the object's own namespace needs no sharing")

  const wrongKind = await spliceObject(run(clusterRef({ kind: 'task', name: 'build' })), 'team-a', { catalog: open })
  t.match(wrongKind.problems.map(formatProblem), [/cluster resolver: kind must be "stepaction" for a step, not "task"/])
  const noName = await spliceObject(run(clusterRef({ kind: 'stepaction' })), 'team-a', { catalog: open })
  t.match(noName.problems.map(formatProblem), [/cluster resolver: missing param "name"/])
  const absent = await spliceObject(run(clusterRef({ kind: 'stepaction', name: 'gone', namespace: 'shared' })), 'team-a', { catalog: open })
  t.match(absent.problems.map(formatProblem), [/stepactions\.tekton\.dev "gone" not found in namespace "shared"/])
})

t.test('other resolvers are named as not available, with where definitions come from', async (t) => {
  const catalog = new LayeredCatalog([
    { catalog: clusterLike, origin: 'the cluster' },
    { catalog: directory, origin: 'a directory' },
  ])
  const git = await spliceObject(run({ ref: { resolver: 'git', params: [{ name: 'url', value: 'https://example.com/r.git' }] } }), 'team-a', { catalog })
  t.match(git.problems.map(formatProblem), [
    /resolver "git" is not available: StepActions come from the cluster and a directory, by name or through the cluster resolver/,
  ])
})

t.test("without a layer that holds Tasks, a TaskRun's taskRef is left alone", async (t) => {
  const catalog = new LayeredCatalog([{ catalog: directory, origin: 'a directory' }])
  t.equal(catalog.resolveTask, undefined)
  const obj: KubeObject = { apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { name: 'r', namespace: 'team-a' }, spec: { taskRef: { name: 'build' } } }
  const e = await spliceObject(obj, 'team-a', { catalog })
  t.same(e, { object: obj, changed: false, problems: [], warnings: [], expanded: [] })
})
