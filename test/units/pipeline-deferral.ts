// PipelineRuns: each pipeline task is expanded exactly as Tekton would
// produce it, or its steps are left for the TaskRun Tekton creates (checked
// as far as they can be now), which the webhook expands when it is admitted
// with Tekton's pipeline-level values applied. The cases the issue measured
// against Tekton's own passes, through the path render and admission share.

import t from 'tap'
import { spliceObject } from '../../src/pipeline/splice.ts'
import { LayeredCatalog } from '../../src/resolution/layered.ts'
import { formatProblem } from '../../src/problems/problem.ts'
import type { KubeObject } from '../../src/types/k8s.ts'
import { catalogOf, clusterCatalogOf, pipelineRun, pipelineStepsOf, stepAction, stepOf } from '../helpers/catalog.ts'

const lister = stepAction('lister', {
  image: 'alpine',
  command: ['ls'],
  args: ['$(params.items[*])'],
  params: [{ name: 'items', type: 'array', default: ['.'] }],
})
const echo = stepAction('echo', { image: 'alpine', args: ['$(params.msg)'], params: [{ name: 'msg', default: 'hello' }] })
const named = stepAction('named', {
  image: 'alpine',
  env: [{ name: 'RUN', value: '$(context.pipelineRun.name)' }],
  args: ['$(params.msg)'],
  params: [{ name: 'msg' }],
})
// Tekton's StepAction validation reads image, script, command, args and env for unknown params; workingDir it does not.
const tagged = stepAction('tagged', { image: 'alpine', workingDir: '/src/$(params.tag)' })
const ownTag = stepAction('own-tag', { image: 'alpine', args: ['$(params.tag)'], params: [{ name: 'tag', default: 'mine' }] })
const catalog = catalogOf(lister, echo, named, tagged, ownTag)

const splice = (obj: KubeObject, c = catalog) => spliceObject(obj, 'default', { catalog: c })
const produce = { name: 'produce', taskSpec: { results: [{ name: 'artifacts', type: 'array' }], steps: [{ name: 'p', image: 'busybox', script: 'true' }] } }

t.test('an array result passed straight to a step param: left for the TaskRun, never refused', async (t) => {
  const step = { name: 'ls', ref: { name: 'lister' }, params: [{ name: 'items', value: '$(tasks.produce.results.artifacts[*])' }] }
  const obj = pipelineRun({ tasks: [produce, { name: 'consume', runAfter: ['produce'], taskSpec: { steps: [step] } }] })
  const e = await splice(obj)
  t.same(e.problems, [], 'no "invalid parameter substitution": Tekton passes the array')
  t.equal(e.changed, false)
  t.same(e.warnings, [
    'spec.pipelineSpec.tasks[1] (task "consume"): steps left for the TaskRun Tekton creates, expanded when it is admitted: a step param uses $(tasks.produce.results.artifacts[*]), which Tekton fills in while the PipelineRun runs',
  ])

  // The TaskRun Tekton creates carries the result as a value: the webhook expands it then, with the array.
  const child: KubeObject = {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { name: 'run-consume', namespace: 'default' },
    spec: { taskSpec: { steps: [{ ...step, params: [{ name: 'items', value: ['a', 'b'] }] }] } },
  }
  const expanded = await splice(child)
  t.same(expanded.problems, [])
  t.strictSame(stepOf(expanded).args, ['a', 'b'], 'the array, as Tekton passes it')
})

t.test("a definition's own $(context.pipelineRun.…) or pipeline param: left for the TaskRun", async (t) => {
  const obj = pipelineRun(
    {
      params: [{ name: 'tag', default: 'v1' }],
      tasks: [
        { name: 'ctx', taskSpec: { steps: [{ name: 'n', ref: { name: 'named' }, params: [{ name: 'msg', value: 'x' }] }] } },
        { name: 'pipeline-param', taskSpec: { steps: [{ name: 't', ref: { name: 'tagged' } }] } },
        { name: 'own-param', taskSpec: { steps: [{ name: 'o', ref: { name: 'own-tag' } }] } },
      ],
    },
    [{ name: 'tag', value: 'v2' }],
  )
  const e = await splice(obj)
  t.same(e.problems, [])
  t.same(e.warnings, [
    `spec.pipelineSpec.tasks[0] (task "ctx"): steps left for the TaskRun Tekton creates, expanded when it is admitted: step "n": the definition's env uses $(context.pipelineRun.name), which Tekton fills in only before the definition is resolved`,
    `spec.pipelineSpec.tasks[1] (task "pipeline-param"): steps left for the TaskRun Tekton creates, expanded when it is admitted: step "t": the definition's workingDir uses $(params.tag), a pipeline param Tekton would fill in only once spliced`,
  ])
  t.equal(e.changed, true, 'the task whose definition names only its own params is expanded')
  t.strictSame(pipelineStepsOf(e, 2)[0]?.args, ['mine'], "the definition's own param, not the pipeline's")
  t.match(pipelineStepsOf(e, 0)[0], { ref: { name: 'named' } }, 'deferred steps stay as written')
  t.match(pipelineStepsOf(e, 1)[0], { ref: { name: 'tagged' } })
  t.same(
    JSON.parse(e.object.metadata?.annotations?.['stepsplice.dev/resolved'] ?? '[]').map((p: { path: string }) => p.path),
    ['spec.pipelineSpec.tasks[2].taskSpec.steps[0]'],
    'provenance lists only what was expanded',
  )
})

t.test("a task default holding a reference: left for the TaskRun, which fills it after Tekton's pipeline pass", async (t) => {
  const obj = pipelineRun({
    params: [{ name: 'shared', default: 'pipeline' }],
    tasks: [
      {
        name: 'ctx',
        taskSpec: {
          params: [{ name: 'run', default: '$(context.pipelineRun.name)' }],
          steps: [{ name: 's', ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.run)' }] }],
        },
      },
      // The pipeline's value reaches the step before any default would: nothing waits.
      {
        name: 'propagated',
        taskSpec: {
          params: [{ name: 'shared', default: '$(context.pipelineRun.name)' }],
          steps: [{ name: 's', ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.shared)' }] }],
        },
      },
      {
        name: 'passed',
        params: [{ name: 'run', value: 'given' }],
        taskSpec: {
          params: [{ name: 'run', default: '$(context.pipelineRun.name)' }],
          steps: [{ name: 's', ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.run)' }] }],
        },
      },
    ],
  })
  const e = await splice(obj)
  t.same(e.problems, [])
  t.same(e.warnings, [
    'spec.pipelineSpec.tasks[0] (task "ctx"): steps left for the TaskRun Tekton creates, expanded when it is admitted: a step param uses task param "run", whose default holds a reference only the TaskRun fills',
  ])
  t.match(pipelineStepsOf(e, 0)[0], { ref: { name: 'echo' } }, 'left as written')
  t.strictSame(pipelineStepsOf(e, 1)[0]?.args, ['pipeline'])
  t.strictSame(pipelineStepsOf(e, 2)[0]?.args, ['given'])
})

t.test('a pipeline param known only at run time stays for the pipeline pass, over a task default of its name', async (t) => {
  const obj = pipelineRun(
    {
      params: [{ name: 'x' }],
      tasks: [
        {
          name: 't',
          taskSpec: {
            params: [{ name: 'x', default: 'task default' }],
            steps: [{ name: 's', ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.x)' }] }],
          },
        },
      ],
    },
    [{ name: 'x', value: '$(context.pipelineRun.name)' }],
  )
  const e = await splice(obj)
  t.same(e.problems, [])
  // Tekton's pipeline pass puts the run's value there first (and fills the context in); the TaskRun's default never applies.
  t.strictSame(pipelineStepsOf(e, 0)[0]?.args, ['$(params.x)'])
  // A resolver param is filled only in the TaskRun, which knows the task's default and not the pipeline's params.
  const resolved = pipelineRun(
    {
      params: [{ name: 'which' }],
      tasks: [
        {
          name: 't',
          taskSpec: {
            params: [{ name: 'which', default: 'echo' }],
            steps: [
              {
                name: 's',
                ref: {
                  resolver: 'cluster',
                  params: [
                    { name: 'kind', value: 'stepaction' },
                    { name: 'name', value: '$(params.which)' },
                    { name: 'namespace', value: 'default' },
                  ],
                },
              },
            ],
          },
        },
      ],
    },
    [{ name: 'which', value: '$(context.pipelineRun.name)' }],
  )
  const r = await spliceObject(resolved, 'default', {
    catalog: new LayeredCatalog([{ catalog: clusterCatalogOf(echo), origin: 'the cluster' }], { shared: [] }),
  })
  t.same(r.problems, [])
  t.match(r.expanded, [{ definition: 'default/echo' }])
})

t.test('a reference the definition leaves as written, which the pipeline pass would fill once spliced: left for the TaskRun', async (t) => {
  const cfg = stepAction('cfg', {
    image: 'alpine',
    args: ['$(params.cfg.a)', '$(params.cfg.b)'],
    params: [{ name: 'cfg', type: 'object', properties: { a: {}, b: {} }, default: { a: 'd' } }],
  })
  const idx = stepAction('idx', { image: 'alpine', args: ['$(params.xs[0])', '$(params.xs[3])'], params: [{ name: 'xs', type: 'array', default: ['SA0'] }] })
  const obj = pipelineRun({
    params: [
      { name: 'cfg', type: 'object', properties: { a: {}, b: {} }, default: { a: 'P-a', b: 'P-b' } },
      { name: 'xs', type: 'array', default: ['P0', 'P1', 'P2', 'P3'] },
    ],
    tasks: [
      // The step gives cfg no key b: the reference stays, and the pipeline's cfg.b would fill it.
      { name: 'key', taskSpec: { steps: [{ name: 'k', ref: { name: 'cfg' }, params: [{ name: 'cfg', value: { a: 'x' } }] }] } },
      // Index 3 is past the definition's own array: the pipeline's xs[3] would fill it.
      { name: 'index', taskSpec: { steps: [{ name: 'i', ref: { name: 'idx' } }] } },
    ],
  })
  const e = await spliceObject(obj, 'default', { catalog: catalogOf(cfg, idx) })
  t.same(e.problems, [])
  t.same(e.warnings, [
    'spec.pipelineSpec.tasks[0] (task "key"): steps left for the TaskRun Tekton creates, expanded when it is admitted: step "k": the definition leaves $(params.cfg.b) as written, which the pipeline pass would fill once spliced',
    'spec.pipelineSpec.tasks[1] (task "index"): steps left for the TaskRun Tekton creates, expanded when it is admitted: step "i": the definition leaves $(params.xs[3]) as written, which the pipeline pass would fill once spliced',
  ])
  t.equal(e.changed, false)
  // The same with pipeline values known only at run time: in no table, yet the pass fills them.
  const later = pipelineRun(
    {
      params: [{ name: 'xs', type: 'array' }],
      tasks: [{ name: 'index', taskSpec: { steps: [{ name: 'i', ref: { name: 'idx' } }] } }],
    },
    [{ name: 'xs', value: ['$(context.pipelineRun.name)', 'P1', 'P2', 'P3'] }],
  )
  t.match((await spliceObject(later, 'default', { catalog: catalogOf(cfg, idx) })).warnings, [/the definition leaves \$\(params\.xs\[3\]\) as written/])
  // But a step param that passes such a param on by the same name is the step's: the pass fills it there as it would have in the param.
  const echoed = stepAction('echoed', { image: 'alpine', args: ['$(params.msg)'], params: [{ name: 'msg' }] })
  const passedOn = pipelineRun(
    {
      params: [{ name: 'msg' }],
      tasks: [{ name: 't', taskSpec: { steps: [{ name: 's', ref: { name: 'echoed' }, params: [{ name: 'msg', value: '$(params.msg)' }] }] } }],
    },
    [{ name: 'msg', value: '$(context.pipelineRun.name)' }],
  )
  const kept = await spliceObject(passedOn, 'default', { catalog: catalogOf(echoed) })
  t.same(kept.warnings, [])
  t.strictSame(pipelineStepsOf(kept, 0)[0]?.args, ['$(params.msg)'])
  // No pipeline param of that name: the reference stays as written either way, and the task is spliced.
  const alone = pipelineRun({ tasks: [{ name: 'index', taskSpec: { steps: [{ name: 'i', ref: { name: 'idx' } }] } }] })
  const spliced = await spliceObject(alone, 'default', { catalog: catalogOf(cfg, idx) })
  t.strictSame(pipelineStepsOf(spliced, 0)[0]?.args, ['SA0', '$(params.xs[3])'])
})

t.test("a definition's $(workspaces.<w>.bound) of a pipeline workspace: left for the TaskRun", async (t) => {
  const ws = stepAction('ws', { image: 'alpine', args: ['$(workspaces.src.bound)', '$(workspaces.src.path)'] })
  const pipeline = (workspaces: unknown[]) =>
    pipelineRun({
      workspaces,
      tasks: [
        {
          name: 't',
          workspaces: [{ name: 'src', workspace: 'shared' }],
          taskSpec: { workspaces: [{ name: 'src' }], steps: [{ name: 's', ref: { name: 'ws' } }] },
        },
      ],
    })
  // The pipeline pass would fill it with the pipeline's optional, unbound src, where the TaskRun fills it with the task's src, bound to shared.
  const e = await spliceObject(pipeline([{ name: 'shared' }, { name: 'src', optional: true }]), 'default', { catalog: catalogOf(ws) })
  t.same(e.warnings, [
    'spec.pipelineSpec.tasks[0] (task "t"): steps left for the TaskRun Tekton creates, expanded when it is admitted: step "s": the definition\'s args uses $(workspaces.src.bound), a workspace Tekton\'s pipeline pass would bind or fill otherwise once spliced',
  ])
  // No pipeline workspace of that name: the pipeline pass leaves it, and the task is spliced.
  const spliced = await spliceObject(pipeline([{ name: 'shared' }]), 'default', { catalog: catalogOf(ws) })
  t.same(spliced.warnings, [])
  t.strictSame(pipelineStepsOf(spliced, 0)[0]?.args, ['$(workspaces.src.bound)', '$(workspaces.src.path)'])
  // The usual binding, a task workspace to the pipeline's of the same name: both passes agree, so it is spliced.
  const usual = pipelineRun({
    workspaces: [{ name: 'src' }],
    tasks: [
      { name: 't', workspaces: [{ name: 'src', workspace: 'src' }], taskSpec: { workspaces: [{ name: 'src' }], steps: [{ name: 's', ref: { name: 'ws' } }] } },
    ],
  })
  t.same((await spliceObject(usual, 'default', { catalog: catalogOf(ws) })).warnings, [], 'spliced')
  // A workspace the pipeline task does not bind: Tekton binds the ones an embedded task's steps name (propagateWorkspaces),
  // which it never does for a definition resolved in the TaskRun.
  const unbound = pipelineRun({
    workspaces: [{ name: 'src' }],
    tasks: [{ name: 't', taskSpec: { workspaces: [{ name: 'src', optional: true }], steps: [{ name: 's', ref: { name: 'ws' } }] } }],
  })
  t.match((await spliceObject(unbound, 'default', { catalog: catalogOf(ws) })).warnings, [
    /left for the TaskRun Tekton creates.*\$\(workspaces\.src\.(bound|path)\), a workspace Tekton's pipeline pass would bind/,
  ])
  // Unless the task as written names it already where Tekton looks (an inline step's script): bound either way.
  const named = pipelineRun({
    workspaces: [{ name: 'src' }],
    tasks: [
      {
        name: 't',
        taskSpec: {
          workspaces: [{ name: 'src', optional: true }],
          steps: [
            { name: 'clone', image: 'alpine', script: 'ls $(workspaces.src.path)' },
            { name: 's', ref: { name: 'ws' } },
          ],
        },
      },
    ],
  })
  t.same((await spliceObject(named, 'default', { catalog: catalogOf(ws) })).warnings, [], 'named by an inline step: spliced')
  // A description is never spliced: what it mentions changes nothing.
  const described = stepAction('described', {
    image: 'alpine',
    description: 'names $(context.pipelineRun.name) and $(workspaces.x.bound)',
    args: ['hi'],
    results: [{ name: 'out', description: 'for $(context.pipelineRun.name)' }],
  })
  const plain = pipelineRun({ tasks: [{ name: 't', taskSpec: { steps: [{ name: 's', ref: { name: 'described' } }] } }] })
  t.same((await spliceObject(plain, 'default', { catalog: catalogOf(described) })).warnings, [], 'a description is not read')
})

t.test('values Tekton fills in as strings are exact at PipelineRun admission: expanded', async (t) => {
  const obj = pipelineRun({
    params: [{ name: 'ctx', default: '$(context.pipelineRun.name)' }],
    tasks: [
      {
        name: 'uses',
        params: [{ name: 'commit', value: '$(tasks.clone.results.commit)' }],
        taskSpec: {
          params: [{ name: 'commit' }],
          steps: [
            { name: 'a', ref: { name: 'echo' }, params: [{ name: 'msg', value: 'run $(context.pipelineRun.name)' }] },
            { name: 'b', ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.commit)@$(params.ctx)' }] },
          ],
        },
      },
    ],
  })
  const e = await splice(obj)
  t.same(e.problems, [])
  t.same(e.warnings, [])
  t.strictSame(
    pipelineStepsOf(e, 0).map((s) => s.args),
    [['run $(context.pipelineRun.name)'], ['$(params.commit)@$(params.ctx)']],
    "references Tekton's passes fill in, in the spliced field as they would in the param",
  )
})

t.test('a task left for its TaskRun is still checked: definite errors deny now', async (t) => {
  const result = '$(tasks.produce.results.artifacts[*])'
  const obj = pipelineRun({
    tasks: [
      produce,
      {
        name: 'consume',
        taskSpec: {
          steps: [
            {
              name: 'extra',
              ref: { name: 'lister' },
              params: [
                { name: 'items', value: result },
                { name: 'nope', value: 'x' },
              ],
            },
            { name: 'missing', ref: { name: 'named' }, params: [{ name: 'other', value: result }] },
            { name: 'unknown', ref: { name: 'not-there' }, params: [{ name: 'x', value: result }] },
          ],
        },
      },
    ],
  })
  const e = await splice(obj, clusterCatalogOf(lister, named))
  t.same(e.problems.map(formatProblem), [
    'spec.pipelineSpec.tasks[1].taskSpec.steps[0].params: extra params passed by Step to StepAction: [nope]; the StepAction takes items (step "extra", StepAction default/lister)',
    'spec.pipelineSpec.tasks[1].taskSpec.steps[1].params: extra params passed by Step to StepAction: [other]; the StepAction takes msg (step "missing", StepAction default/named)',
    'spec.pipelineSpec.tasks[1].taskSpec.steps[1].params: non-existent params in Step: [msg]; the StepAction requires msg: pass it in params (step "missing", StepAction default/named)',
    'spec.pipelineSpec.tasks[1].taskSpec.steps[2].ref: stepactions.tekton.dev "not-there" not found in namespace "default" (step "unknown")',
  ])
})
