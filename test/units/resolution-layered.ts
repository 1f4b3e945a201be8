// Several catalogs answered as one, and Tekton's cluster resolver form: the
// first catalog that holds a name answers, a StepAction of another namespace
// is reached only through --shared-namespace, and what the catalogs cannot
// resolve is left for Tekton with a warning that says why, unless it must
// resolve (--require-resolution). Through the same entry point render and
// admission use.

import t from 'tap'
import { spliceObject } from '../../src/pipeline/splice.ts'
import { formatProblem } from '../../src/problems/problem.ts'
import { LayeredCatalog } from '../../src/resolution/layered.ts'
import { MemoryCatalog } from '../../src/resolution/memory.ts'
import type { KubeObject } from '../../src/types/k8s.ts'
import { pipelineRun, stepAction, stepOf, taskRun } from '../helpers/catalog.ts'

const inTeam = (name: string, image: string) => stepAction(name, { image, command: ['run'] }, { namespace: 'team-a' })
const shared = (name: string, image: string) => stepAction(name, { image, command: ['run'] }, { namespace: 'shared' })

const clusterLike = MemoryCatalog.of(
  'the cluster',
  [inTeam('build', 'cluster/build:1'), shared('scan', 'shared/scan:1')],
  { kind: 'cluster', location: 'the cluster' },
  { authoritative: true },
)
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
  t.same(
    missing.problems.map(formatProblem),
    ['spec.taskSpec.steps[0].ref: stepactions.tekton.dev "nope" not found in namespace "team-a" (step "s")'],
    'the cluster is one of the layers: a name it lacks, Tekton lacks too',
  )
  t.equal(catalog.size, clusterLike.size + directory.size)

  const directoryOnly = new LayeredCatalog([{ catalog: directory, origin: 'a directory' }])
  const unseen = await spliceObject(run({ ref: { name: 'nope' } }), 'team-a', { catalog: directoryOnly })
  t.same(unseen.problems, [], 'a directory is not what Tekton sees: no denial')
  t.same(unseen.warnings, ['spec.taskSpec.steps[0].ref (step "s"): left for Tekton to resolve: stepactions.tekton.dev "nope" not found in namespace "team-a"'])
  t.equal(unseen.changed, false)
})

t.test('the cluster resolver reaches a shared namespace only', async (t) => {
  const open = new LayeredCatalog([{ catalog: clusterLike, origin: 'the cluster' }], { shared: ['shared'] })
  const allowed = await spliceObject(run(clusterRef({ kind: 'stepaction', name: 'scan', namespace: 'shared' })), 'team-a', { catalog: open })
  t.same(allowed.problems, [])
  t.equal(stepOf(allowed).image, 'shared/scan:1')

  const closed = new LayeredCatalog([{ catalog: clusterLike, origin: 'the cluster' }])
  const notShared = await spliceObject(run(clusterRef({ kind: 'stepaction', name: 'scan', namespace: 'shared' })), 'team-a', { catalog: closed })
  t.same(notShared.problems, [], "Tekton's cluster resolver has its own rules on namespaces: not stepsplice's to deny")
  t.same(notShared.warnings, [
    'spec.taskSpec.steps[0].ref (step "s"): left for Tekton to resolve: cluster: namespace "shared" is not shared with stepsplice (--shared-namespace shared)',
  ])
  const required = await spliceObject(run(clusterRef({ kind: 'stepaction', name: 'scan', namespace: 'shared' })), 'team-a', {
    catalog: closed,
    requireResolution: new Set(['cluster']),
  })
  t.match(required.problems.map(formatProblem), [/is not shared with stepsplice .*; cluster references must resolve at admission \(--require-resolution\)/])

  const own = await spliceObject(run(clusterRef({ kind: 'stepaction', name: 'build', namespace: 'team-a' })), 'team-a', { catalog: closed })
  t.equal(stepOf(own).image, 'cluster/build:1', "the object's own namespace needs no sharing")
  // Without kind or namespace, Tekton takes default-kind or default-namespace from its ConfigMap (shipped: "task" and
  // none), never the object's namespace: not known here, so left for Tekton.
  for (const [param, params] of [
    ['namespace', { kind: 'stepaction', name: 'build' }],
    ['namespace', { kind: 'stepaction', name: 'build', namespace: '' }],
    ['kind', { name: 'build', namespace: 'team-a' }],
  ] as const) {
    const left = await spliceObject(run(clusterRef(params)), 'team-a', { catalog: closed })
    t.same(left.problems, [], `no ${param}: nothing denied`)
    t.same(left.warnings, [
      `spec.taskSpec.steps[0].ref (step "s"): left for Tekton to resolve: cluster: no ${param}, and the default-${param} Tekton uses (cluster-resolver-config) is not known here`,
    ])
  }

  const wrongKind = await spliceObject(run(clusterRef({ kind: 'task', name: 'build' })), 'team-a', { catalog: open })
  t.match(wrongKind.problems.map(formatProblem), [/cluster resolver: kind must be "stepaction" for a step, not "task"/])
  const noName = await spliceObject(run(clusterRef({ kind: 'stepaction' })), 'team-a', { catalog: open })
  t.match(noName.problems.map(formatProblem), [/cluster resolver: missing param "name"/])
  const absent = await spliceObject(run(clusterRef({ kind: 'stepaction', name: 'gone', namespace: 'shared' })), 'team-a', { catalog: open })
  t.match(absent.problems.map(formatProblem), [/stepactions\.tekton\.dev "gone" not found in namespace "shared"/])
})

t.test('a resolver stepsplice does not run, or was told not to, is left for Tekton; a Pod is refused', async (t) => {
  const catalog = new LayeredCatalog(
    [
      { catalog: clusterLike, origin: 'the cluster' },
      { catalog: directory, origin: 'a directory' },
    ],
    { switchedOff: ['git'] },
  )
  const hub = await spliceObject(run({ ref: { resolver: 'hub', params: [{ name: 'name', value: 'x' }] } }), 'team-a', { catalog })
  t.same(hub.problems, [])
  t.same(hub.warnings, ['spec.taskSpec.steps[0].ref (step "s"): left for Tekton to resolve: stepsplice does not run the "hub" resolver (it runs cluster)'])
  const git = await spliceObject(run({ ref: { resolver: 'git', params: [{ name: 'url', value: 'https://example.com/r.git' }] } }), 'team-a', { catalog })
  t.same(git.warnings, ['spec.taskSpec.steps[0].ref (step "s"): left for Tekton to resolve: the git resolver is switched off here (--resolvers)'])

  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'p',
      namespace: 'team-a',
      annotations: { 'stepsplice.dev/steps': JSON.stringify([{ name: 's', ref: { resolver: 'hub', params: [{ name: 'name', value: 'x' }] } }]) },
    },
    spec: { containers: [{ name: 'main', image: 'busybox' }] },
  }
  const refused = await spliceObject(pod, 'team-a', { catalog })
  t.match(refused.problems.map(formatProblem), [/ref: stepsplice does not run the "hub" resolver/], 'no Tekton behind a Pod: a denial that says why')
})

t.test('resolver params are filled from task params first; one known only at run time leaves the step for Tekton', async (t) => {
  const seen: unknown[] = []
  const recording = new LayeredCatalog([{ catalog: directory, origin: 'a directory' }], {
    resolvers: [
      {
        name: 'git',
        async resolve(ref) {
          seen.push(ref.params)
          return { error: 'stop here' }
        },
      },
    ],
  })
  const obj = taskRun(
    {
      params: [{ name: 'rev', default: 'main' }, { name: 'repo' }],
      steps: [
        {
          name: 's',
          ref: {
            resolver: 'git',
            params: [
              { name: 'url', value: '$(params.repo)' },
              { name: 'revision', value: '$(params.rev)' },
              { name: 'pathInRepo', value: 'a.yaml' },
            ],
          },
        },
      ],
    },
    [{ name: 'repo', value: 'https://example.com/r.git' }],
  )
  obj.metadata = { ...obj.metadata, namespace: 'team-a' }
  const e = await spliceObject(obj, 'team-a', { catalog: recording })
  t.same(seen, [
    [
      { name: 'url', value: 'https://example.com/r.git' },
      { name: 'revision', value: 'main' },
      { name: 'pathInRepo', value: 'a.yaml' },
    ],
  ])
  t.match(e.problems.map(formatProblem), [/stop here/])

  const later = pipelineRun({
    tasks: [
      {
        name: 'late',
        params: [
          { name: 'rev', value: '$(tasks.first.results.sha)' },
          { name: 'repo', value: 'https://example.com/r.git' },
        ],
        taskSpec: (obj.spec as { taskSpec: unknown }).taskSpec,
      },
    ],
  })
  seen.length = 0
  const deferred = await spliceObject(later, 'team-a', { catalog: recording })
  t.same(seen, [], 'nothing to ask: the revision comes from a task result')
  t.same(deferred.problems, [])
  t.match(deferred.warnings, [/left for Tekton to resolve: param "revision" holds \$\(params\.rev\), which has no value at admission/])
})

t.test("a directory that lacks the Task: a TaskRun's taskRef is left alone, without a word (the cluster may hold it)", async (t) => {
  const catalog = new LayeredCatalog([{ catalog: directory, origin: 'a directory' }])
  const obj: KubeObject = { apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { name: 'r', namespace: 'team-a' }, spec: { taskRef: { name: 'build' } } }
  const e = await spliceObject(obj, 'team-a', { catalog })
  t.same(e, { object: obj, changed: false, problems: [], warnings: [], expanded: [] })
})
