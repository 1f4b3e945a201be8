// A definition stepsplice finds invalid, by where it came from and how the
// step names it (steps/reference.ts, leftInvalid): Tekton takes a StepAction
// it reads by name from the cluster as its Go types decode it, without
// validating it, so such a step is left for Tekton; through `resolver:
// cluster` only unknown fields are (Tekton dry-run creates what is left);
// anything else, a Pod, `--require-resolution`, or step policies judging the
// object deny. A definition past one of stepsplice's own limits leaves the
// run for Tekton whatever its source.

import t from 'tap'
import { type Definition, type SourceKind, toDefinition } from '../../src/definitions/definition.ts'
import type { StepReference } from '../../src/definitions/reference.ts'
import { spliceObject } from '../../src/pipeline/splice.ts'
import { readPolicies } from '../../src/policy/load.ts'
import type { LoadedPolicy } from '../../src/policy/types.ts'
import type { Catalog } from '../../src/resolution/catalog.ts'
import type { KubeObject } from '../../src/types/k8s.ts'
import type { StepAction } from '../../src/types/tekton.ts'

const stepAction = (name: string, spec: Record<string, unknown>): StepAction =>
  ({ apiVersion: 'tekton.dev/v1beta1', kind: 'StepAction', metadata: { name, namespace: 'team-a' }, spec }) as StepAction

/** A catalog answering every name from `held`, each definition read as if from `source`. */
function catalogOf(source: SourceKind, held: StepAction[]): Catalog {
  const byName = new Map<string, Definition>(
    held.map((doc) => [String(doc.metadata?.name), toDefinition(doc, { kind: source, location: `${source}:${String(doc.metadata?.name)}` })]),
  )
  return {
    size: byName.size,
    async resolve(ref: StepReference) {
      const name = ref.name ?? ref.params?.find((p) => p.name === 'name')?.value
      const definition = byName.get(String(name))
      return definition === undefined ? { error: 'not found', missing: true } : { definition }
    },
  }
}

// A field a newer Tekton has: this one's webhook (and stepsplice) refuses it, its Go types drop it.
const newer = stepAction('newer', {
  image: 'alpine:1',
  imagePullPolicy: 'Always',
  params: [{ name: 'msg', default: 'hi' }],
  command: ['echo', '$(params.msg)'],
})
const noImage = stepAction('no-image', { command: ['echo'] })
const badParams = stepAction('bad-params', { image: 'alpine:1', params: 'oops' })
const longName = stepAction('long-name', { image: 'alpine:1', params: [{ name: `p${'x'.repeat(300)}`, default: 'v' }] })

const byName = (name: string, params?: unknown[]) => ({ name: 's', ref: { name }, ...(params === undefined ? {} : { params }) })
const viaResolver = (name: string) => ({
  name: 's',
  ref: {
    resolver: 'cluster',
    params: [
      { name: 'kind', value: 'stepaction' },
      { name: 'name', value: name },
      { name: 'namespace', value: 'team-a' },
    ],
  },
})
const taskRun = (step: unknown): KubeObject => ({
  apiVersion: 'tekton.dev/v1',
  kind: 'TaskRun',
  metadata: { name: 'r', namespace: 'team-a' },
  spec: { taskSpec: { steps: [step] } },
})

const cluster = catalogOf('cluster', [newer, noImage, badParams, longName])
const directory = catalogOf('directory', [newer, longName])

t.test('named from the cluster: left for Tekton with a warning that says why, whatever the problem', async (t) => {
  for (const [name, problem] of [
    ['newer', 'spec.imagePullPolicy: unknown field'],
    ['no-image', 'spec.image: missing field'],
  ] as const) {
    const sent = taskRun(byName(name))
    const e = await spliceObject(sent, 'team-a', { catalog: cluster })
    t.strictSame(e.problems, [], name)
    t.equal(e.changed, false)
    t.equal(e.object, sent, 'left as written')
    t.match(e.warnings, [
      new RegExp(
        `^spec\\.taskSpec\\.steps\\[0\\]\\.ref \\(step "s"\\): left for Tekton to resolve: StepAction team-a/${name} in the cluster is invalid, and Tekton takes it as its types decode it: ${problem.replace(/[.[\]]/g, '\\$&')}`,
      ),
    ])
  }
})

t.test('named from the cluster, with params it does not declare: denied, as Tekton fails the run for them', async (t) => {
  // A StepAction with no params at all takes none.
  const none = await spliceObject(taskRun(byName('no-image', [{ name: 'x', value: 'y' }])), 'team-a', { catalog: cluster })
  t.match(none.problems, [{ path: 'spec.taskSpec.steps[0].params', message: /^extra params passed by Step to StepAction: \[x\]/ }])
  const e = await spliceObject(taskRun(byName('newer', [{ name: 'msgs', value: 'x' }])), 'team-a', { catalog: cluster })
  t.match(e.problems, [{ path: 'spec.taskSpec.steps[0].params', message: /^extra params passed by Step to StepAction: \[msgs\]; msgs: did you mean msg\?/ }])
  // Params Tekton's types could not read as written are not checked against: left for Tekton.
  const unreadable = await spliceObject(taskRun(byName('bad-params', [{ name: 'x', value: 'y' }])), 'team-a', { catalog: cluster })
  t.strictSame(unreadable.problems, [])
  t.match(unreadable.warnings, [/StepAction team-a\/bad-params in the cluster is invalid/])
})

t.test('through resolver: cluster only unknown fields are left for Tekton; other problems deny', async (t) => {
  const left = await spliceObject(taskRun(viaResolver('newer')), 'team-a', { catalog: cluster })
  t.strictSame(left.problems, [])
  t.match(left.warnings, [
    /left for Tekton to resolve: StepAction team-a\/newer in the cluster is invalid, and Tekton takes it as its types decode it: spec\.imagePullPolicy: unknown field/,
  ])
  const denied = await spliceObject(taskRun(viaResolver('no-image')), 'team-a', { catalog: cluster })
  t.match(denied.problems, [{ path: 'spec.taskSpec.steps[0].ref', message: 'StepAction is invalid: spec.image: missing field' }])
})

t.test('a directory, a Pod, --require-resolution and step policies deny', async (t) => {
  const fromDirectory = await spliceObject(taskRun(byName('newer')), 'team-a', { catalog: directory })
  t.match(fromDirectory.problems, [{ message: 'StepAction is invalid: spec.imagePullPolicy: unknown field' }], 'a directory has no Tekton behind it')

  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'team-a', annotations: { 'stepsplice.dev/steps': JSON.stringify([byName('newer')]) } },
    spec: { containers: [{ name: 'main', image: 'app:1' }] },
  }
  t.match(
    (await spliceObject(pod, 'team-a', { catalog: cluster })).problems,
    [{ message: /StepAction is invalid: spec\.imagePullPolicy: unknown field/ }],
    'a Pod',
  )

  for (const [require, step] of [
    ['local', byName('newer')],
    ['all', byName('newer')],
    ['cluster', viaResolver('newer')],
  ] as const) {
    const e = await spliceObject(taskRun(step), 'team-a', { catalog: cluster, requireResolution: new Set([require]) })
    t.match(e.problems, [{ message: 'StepAction is invalid: spec.imagePullPolicy: unknown field' }], `--require-resolution ${require}`)
  }

  const { policies, problems } = readPolicies(
    [
      {
        apiVersion: 'stepsplice.dev/v1alpha1',
        kind: 'StepPolicy',
        metadata: { name: 'images', namespace: 'team-a' },
        spec: { images: { allow: ['alpine*'] } },
      },
    ],
    '',
  )
  t.strictSame(problems, [])
  const judged = await spliceObject(taskRun(byName('newer')), 'team-a', { catalog: cluster, policies: policies as LoadedPolicy[] })
  t.match(
    judged.problems,
    [{ message: 'StepAction is invalid: spec.imagePullPolicy: unknown field' }],
    'a step the policies could not see is not left behind them',
  )
  // An Audit policy's verdict is a warning: a step it cannot see is left for Tekton as without it.
  const audit = readPolicies(
    [
      {
        apiVersion: 'stepsplice.dev/v1alpha1',
        kind: 'StepPolicy',
        metadata: { name: 'watch', namespace: 'team-a' },
        spec: { mode: 'Audit', images: { allow: ['alpine*'] } },
      },
    ],
    '',
  ).policies as LoadedPolicy[]
  const audited = await spliceObject(taskRun(byName('newer')), 'team-a', { catalog: cluster, policies: audit })
  t.strictSame(audited.problems, [], 'an Audit policy does not deny it')
  t.match(audited.warnings, [/StepAction team-a\/newer in the cluster is invalid/])
  // Past a limit, an enforcing policy still must see the step: denied, not left for Tekton.
  const limited = await spliceObject(taskRun(byName('long-name')), 'team-a', { catalog: cluster, policies: policies as LoadedPolicy[] })
  t.match(limited.problems, [{ message: /^StepAction is invalid: .*nameLength/ }], 'a definition past a limit is not left behind an enforcing policy')
  t.equal(limited.problems[0]?.limit, undefined, 'a denial, not a run left for Tekton')
  const elsewhere = await spliceObject({ ...taskRun(byName('newer')), metadata: { name: 'r', namespace: 'team-b' } }, 'team-b', {
    catalog: cluster,
    policies: policies as LoadedPolicy[],
  })
  t.strictSame(elsewhere.problems, [], 'where no policy governs, it is left for Tekton')
})

t.test("past one of stepsplice's own limits: the run is left for Tekton, whatever the definition's source; a Pod is denied", async (t) => {
  for (const [label, catalog, step] of [
    ['cluster, by name', cluster, byName('long-name')],
    ['cluster, resolver', cluster, viaResolver('long-name')],
    ['directory', directory, byName('long-name')],
  ] as const) {
    const sent = taskRun(step)
    const e = await spliceObject(sent, 'team-a', { catalog })
    t.strictSame(e.problems, [], label)
    t.equal(e.object, sent)
    t.match(e.warnings, [/nameLength/], 'the warning names the limit')
  }
  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'team-a', annotations: { 'stepsplice.dev/steps': JSON.stringify([byName('long-name')]) } },
    spec: { containers: [{ name: 'main', image: 'app:1' }] },
  }
  t.match((await spliceObject(pod, 'team-a', { catalog: cluster })).problems, [{ limit: 'nameLength' }], 'a Pod is denied, naming the limit')
})

t.test('a PipelineRun whose task names a definition with params of the wrong shape is answered, not failed', async (t) => {
  const run: KubeObject = {
    apiVersion: 'tekton.dev/v1',
    kind: 'PipelineRun',
    metadata: { name: 'pr', namespace: 'team-a' },
    spec: {
      params: [{ name: 'x', value: 'y' }],
      pipelineSpec: {
        params: [{ name: 'x' }],
        tasks: [{ name: 't', params: [{ name: 'x', value: '$(params.x)' }], taskSpec: { params: [{ name: 'x' }], steps: [byName('bad-params')] } }],
      },
    },
  }
  const e = await spliceObject(run, 'team-a', { catalog: cluster })
  t.strictSame(e.problems, [])
  t.match(e.warnings, [/StepAction team-a\/bad-params in the cluster is invalid/])
})
