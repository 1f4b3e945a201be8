// A TaskGroup merged into one Task spec, as a pure function
// (src/groups/merge.ts): steps, names, templates, renames, and every denial.

import t from 'tap'
import { mergeTaskGroup } from '../../src/groups/merge.ts'
import type { TaskGroupSpec, UsedTask } from '../../src/groups/types.ts'
import { formatProblem } from '../../src/problems/problem.ts'

const gitClone: UsedTask = {
  index: 1,
  id: 'Task default/git-clone',
  spec: {
    params: [{ name: 'url' }, { name: 'revision', default: 'main' }],
    workspaces: [{ name: 'output' }],
    results: [{ name: 'commit' }],
    stepTemplate: { env: [{ name: 'HOME', value: '/tekton/home' }] },
    steps: [{ name: 'clone', image: 'git', script: 'git clone $(params.url) $(workspaces.output.path) --branch $(params.revision)' }],
  },
}
const kaniko: UsedTask = {
  index: 2,
  id: 'Task default/kaniko',
  spec: {
    params: [{ name: 'IMAGE' }],
    workspaces: [{ name: 'source' }],
    sidecars: [{ name: 'registry', image: 'registry:2', args: ['--for', '$(params.IMAGE)'] }],
    volumes: [{ name: 'cache', configMap: { name: '$(params.IMAGE)-cache' } }],
    steps: [{ image: 'kaniko', args: ['--destination=$(params.IMAGE)', '--context=$(workspaces.source.path)'] }],
  },
}
const group: TaskGroupSpec = {
  description: 'clone and build',
  params: [{ name: 'repo-url' }, { name: 'image' }],
  workspaces: [{ name: 'shared' }],
  stepTemplate: { env: [{ name: 'GROUP', value: 'yes' }] },
  steps: [
    { name: 'hello', image: 'busybox', script: 'echo hi' },
    {
      name: 'fetch',
      uses: {
        taskRef: { name: 'git-clone' },
        parambindings: [{ name: 'url', param: 'repo-url' }],
        workspacebindings: [{ name: 'output', workspace: 'shared' }],
      },
    },
    {
      uses: { taskRef: { name: 'kaniko' }, parambindings: [{ name: 'IMAGE', param: 'image' }], workspacebindings: [{ name: 'source', workspace: 'shared' }] },
    },
  ],
}

t.test('TEP-0142’s git-clone and kaniko in one Task', async (t) => {
  const m = mergeTaskGroup(group, [gitClone, kaniko])
  t.strictSame(m.problems.map(formatProblem), [])
  t.equal(m.handsOff, undefined)
  t.strictSame(m.spec, {
    description: 'clone and build',
    params: [{ name: 'repo-url' }, { name: 'image' }, { name: 'revision', default: 'main' }],
    workspaces: [{ name: 'shared' }],
    steps: [
      { name: 'hello', image: 'busybox', script: 'echo hi', env: [{ name: 'GROUP', value: 'yes' }] },
      {
        name: 'fetch-clone',
        image: 'git',
        script: 'git clone $(params.repo-url) $(workspaces.shared.path) --branch $(params.revision)',
        env: [{ name: 'HOME', value: '/tekton/home' }],
      },
      { name: 'unnamed-2-unnamed-0', image: 'kaniko', args: ['--destination=$(params.image)', '--context=$(workspaces.shared.path)'] },
    ],
    results: [{ name: 'commit' }],
    sidecars: [{ name: 'registry', image: 'registry:2', args: ['--for', '$(params.image)'] }],
    volumes: [{ name: 'cache', configMap: { name: '$(params.image)-cache' } }],
  })
})

t.test('a uses step with container fields or a ref, or without a taskRef, is a problem', async (t) => {
  const bad: TaskGroupSpec = {
    steps: [
      { name: 'a', image: 'x', script: 'y', uses: { taskRef: { name: 't' } } },
      { name: 'b', ref: { name: 'sa' }, uses: { taskRef: { name: 't' } } },
      { name: 'c', uses: {} },
    ],
  }
  t.strictSame(mergeTaskGroup(bad, []).problems.map(formatProblem), [
    'spec.steps[0]: a step with uses takes its steps from the used Task: it cannot also set image, script; set them in the Task (step "a")',
    'spec.steps[1].ref: a step with uses takes its steps from the used Task: it cannot also have ref (step "b")',
    'spec.steps[2].uses.taskRef: uses needs a taskRef: the Task whose steps this step stands for (step "c")',
  ])
})

t.test('produced names must be unique DNS-1123 labels of at most 63 characters', async (t) => {
  const long = 'x'.repeat(60)
  const task = (index: number, stepName: string): UsedTask => ({ index, id: `Task t${index}`, spec: { steps: [{ name: stepName, image: 'a' }] } })
  const g: TaskGroupSpec = {
    steps: [
      { name: 'a-b', image: 'busybox' },
      { name: 'a', uses: { taskRef: { name: 't1' } } },
      { name: long, uses: { taskRef: { name: 't2' } } },
      { name: 'Upper', uses: { taskRef: { name: 't3' } } },
    ],
  }
  const m = mergeTaskGroup(g, [task(1, 'b'), task(2, 'step'), task(3, 'x')])
  t.equal(m.spec, undefined)
  t.match(m.problems.map(formatProblem), [
    /^spec\.steps\[1\]: step "b" of Task t1 becomes "a-b", the name of the step at spec\.steps\[0\]: step names must be unique/,
    new RegExp(
      `^spec\\.steps\\[2\\]: step "step" of Task t2 becomes "${long}-step" \\(65 characters\\): a step name must be a DNS-1123 label of at most 63 characters`,
    ),
    /^spec\.steps\[3\]: step "x" of Task t3 becomes "Upper-x" \(7 characters\)/,
  ])
})

t.test('each stepTemplate stays with its own steps; a used Task’s ref step under a template is hands-off', async (t) => {
  const withRef: UsedTask = {
    index: 0,
    id: 'Task default/uses-stepaction',
    spec: { stepTemplate: { env: [{ name: 'A', value: '1' }] }, steps: [{ name: 's', ref: { name: 'go-build' } }] },
  }
  const m = mergeTaskGroup({ steps: [{ name: 'u', uses: { taskRef: { name: 'uses-stepaction' } } }] }, [withRef])
  t.match(
    m.handsOff,
    /Task default\/uses-stepaction has a stepTemplate and a step with ref \("s"\): Tekton applies the template after the StepAction is spliced/,
  )
  t.strictSame(m.spec?.steps, [{ name: 'u-s', ref: { name: 'go-build' } }], 'the ref step is left as written')
  const noTemplate = mergeTaskGroup({ steps: [{ name: 'u', uses: { taskRef: { name: 'x' } } }] }, [{ ...withRef, spec: { steps: withRef.spec.steps } }])
  t.equal(noTemplate.handsOff, undefined, 'without a template a ref step is spliced like any other, later')
})

const messagesOf = (problems: Parameters<typeof formatProblem>[0][]): string[] => problems.map(formatProblem)
const one = (spec: UsedTask['spec'], index = 0): UsedTask => ({ index, id: 'Task default/one', spec })

t.test("a used Task's references to its own steps, and its steps' own workspaces, follow the renames", async (t) => {
  const used = one({
    workspaces: [{ name: 'creds' }],
    results: [{ name: 'digest', value: '$(steps.produce.results.out)' }],
    steps: [
      { name: 'produce', image: 'a', results: [{ name: 'out' }], workspaces: [{ name: 'creds' }], script: 'cat $(workspaces.creds.path)' },
      {
        name: 'consume',
        image: 'b',
        env: [{ name: 'IN', value: '$(steps.produce.results.out)' }],
        args: ['$(steps.step-produce.exitCode.path)', '$(steps.producer.results.out)', 'steps.produce.results.out'],
      },
    ],
    sidecars: [{ name: 'side', image: 'c', workspaces: [{ name: 'creds' }] }],
  })
  const merged = mergeTaskGroup(
    {
      workspaces: [{ name: 'secret' }],
      steps: [{ name: 'a', uses: { taskRef: { name: 'one' }, workspacebindings: [{ name: 'creds', workspace: 'secret' }] } }],
    },
    [used],
  )
  t.same(messagesOf(merged.problems), [])
  const steps = merged.spec?.steps as Record<string, unknown>[]
  t.same(steps[0]?.workspaces, [{ name: 'secret' }], "a step's own workspace is the group's now")
  t.equal(steps[0]?.script, 'cat $(workspaces.secret.path)')
  t.same(steps[1]?.env, [{ name: 'IN', value: '$(steps.a-produce.results.out)' }])
  t.same(
    steps[1]?.args,
    ['$(steps.step-a-produce.exitCode.path)', '$(steps.producer.results.out)', 'steps.produce.results.out'],
    'a longer name and text outside $(…) stay',
  )
  t.same(merged.spec?.results, [{ name: 'digest', value: '$(steps.a-produce.results.out)' }])
  t.same(merged.spec?.sidecars, [{ name: 'side', image: 'c', workspaces: [{ name: 'secret' }] }])
})

t.test("a used Task's workspace mountPath speaks the group's param names, as Tekton substitutes it", async (t) => {
  const used = one({
    params: [{ name: 'sub', default: 'cache' }],
    workspaces: [{ name: 'cache', mountPath: '/caches/$(params.sub)' }],
    steps: [{ name: 's', image: 'busybox', script: 'ls $(workspaces.cache.path)' }],
  })
  const merged = mergeTaskGroup(
    { params: [{ name: 'dir' }], steps: [{ name: 'u', uses: { taskRef: { name: 'one' }, parambindings: [{ name: 'sub', param: 'dir' }] } }] },
    [used],
  )
  t.same(messagesOf(merged.problems), [])
  t.same(merged.spec?.workspaces, [{ name: 'cache', mountPath: '/caches/$(params.dir)' }], 'not $(params.sub), which the merged Task no longer declares')
})

t.test("a group's own declarations twice or without a name, and a Task's workspace bound twice, are refused, not dropped", async (t) => {
  const used = one({ workspaces: [{ name: 'creds' }], steps: [{ name: 's', image: 'busybox' }] })
  const merged = mergeTaskGroup(
    {
      params: [{ name: 'gx', default: 'one' }, { name: 'gx', default: 'two' }, { description: 'nameless' } as never],
      workspaces: [{ name: 'gw' }, { name: 'gw', readOnly: true }],
      sidecars: [{ image: 'redis' }],
      steps: [
        {
          name: 'u',
          uses: {
            taskRef: { name: 'one' },
            workspacebindings: [
              { name: 'creds', workspace: 'gw' },
              { name: 'creds', workspace: 'gw' },
            ],
          },
        },
      ],
    },
    [used],
  )
  t.strictSame(messagesOf(merged.problems), [
    'spec.params[1].name: "gx" is declared twice',
    'spec.params[2].name: missing',
    'spec.workspaces[1].name: "gw" is declared twice',
    'spec.sidecars[0].name: missing',
    `spec.steps[0].uses.workspacebindings[1].name: Task default/one's workspace "creds" is bound already, by workspacebindings[0]`,
  ])
})

t.test("a read-only workspace bound to the group's writable one is said in a warning", async (t) => {
  const wro = one({ workspaces: [{ name: 'creds', readOnly: true }], steps: [{ name: 's', image: 'busybox' }] })
  const merged = mergeTaskGroup(
    {
      workspaces: [{ name: 'shared' }],
      steps: [{ name: 'u', uses: { taskRef: { name: 'one' }, workspacebindings: [{ name: 'creds', workspace: 'shared' }] } }],
    },
    [wro],
  )
  t.same(messagesOf(merged.problems), [])
  t.strictSame(merged.warnings, [
    `spec.steps[0].uses.workspacebindings[0]: Task default/one declares workspace "creds" readOnly; the group's "shared" is not, so its steps mount it writable`,
  ])
})

t.test("a used Task's sidecar without a name is refused, not dropped from the merge", async (t) => {
  const dind = one({ sidecars: [{ image: 'docker:dind' }], steps: [{ name: 's', image: 'docker' }] })
  const merged = mergeTaskGroup({ steps: [{ name: 'u', uses: { taskRef: { name: 'one' } } }] }, [dind])
  t.strictSame(messagesOf(merged.problems), ["spec.steps[0].uses: Task default/one's spec.sidecars[0].name: missing"])
})

t.test('a param two used Tasks share: properties that differ are refused, enums that differ said', async (t) => {
  const task = (index: number, name: string, params: unknown[]): UsedTask => ({
    index,
    id: `Task default/${name}`,
    spec: { params: params as never, steps: [{ name: 's', image: 'busybox' }] },
  })
  const steps = [
    { name: 'a', uses: { taskRef: { name: 'e1' } } },
    { name: 'b', uses: { taskRef: { name: 'e2' } } },
  ]
  const enums = mergeTaskGroup({ steps }, [
    task(0, 'e1', [{ name: 'mode', enum: ['fast', 'slow'] }]),
    task(1, 'e2', [{ name: 'mode', enum: ['debug', 'release'] }]),
  ])
  t.same(messagesOf(enums.problems), [])
  t.strictSame(enums.warnings, [
    `spec.steps[1].uses: param "mode" is shared by Task default/e1 and Task default/e2, whose enums differ; the first declaration's enum is used`,
  ])
  const objects = mergeTaskGroup({ steps }, [
    task(0, 'e1', [{ name: 'cfg', type: 'object', properties: { a: {} } }]),
    task(1, 'e2', [{ name: 'cfg', type: 'object', properties: { b: {} } }]),
  ])
  t.strictSame(messagesOf(objects.problems), [
    `spec.steps[1].uses: param "cfg" is shared by Task default/e1 and Task default/e2, whose properties differ; bind one of them to another group param`,
  ])
})

t.test('two used Tasks whose workspaces are mounted at one path: refused naming both, not left for Tekton to refuse', async (t) => {
  const ma: UsedTask = {
    index: 0,
    id: 'Task default/ma',
    spec: { workspaces: [{ name: 'creds', mountPath: '/root/.docker' }], steps: [{ name: 's', image: 'a' }] },
  }
  const mb: UsedTask = {
    index: 1,
    id: 'Task default/mb',
    spec: { workspaces: [{ name: 'dockercfg', mountPath: '/root/.docker' }], steps: [{ name: 's', image: 'b' }] },
  }
  const merged = mergeTaskGroup(
    {
      steps: [
        { name: 'a', uses: { taskRef: { name: 'ma' } } },
        { name: 'b', uses: { taskRef: { name: 'mb' } } },
      ],
    },
    [ma, mb],
  )
  t.strictSame(messagesOf(merged.problems), [
    `spec.workspaces: workspace "creds" of Task default/ma and workspace "dockercfg" of Task default/mb are both mounted at "/root/.docker": a Task's workspaces need distinct mountPaths; bind one to the other`,
  ])
})

t.test('names the merge cannot give, fields a uses step cannot hold, a Task that itself uses Tasks, bindings of another type', async (t) => {
  const clash = mergeTaskGroup(
    {
      steps: [
        { name: 'a', uses: { taskRef: { name: 'one' } } },
        { name: 'a-b', image: 'x' },
      ],
    },
    [one({ steps: [{ name: 'b', image: 'y' }] })],
  )
  t.match(messagesOf(clash.problems), [/^spec\.steps\[1\]\.name: "a-b" is the name of the step at spec\.steps\[0\] \(Task default\/one\) too/])
  const fields = mergeTaskGroup({ steps: [{ name: 'a', onError: 'continue', timeout: '1m', uses: { taskRef: { name: 'one' } } }] }, [
    one({ steps: [{ name: 'b', image: 'y' }] }),
  ])
  t.match(messagesOf(fields.problems), [/^spec\.steps\[0\]: a step with uses .* cannot also set onError, timeout; set them in the Task/])
  const nested = mergeTaskGroup({ steps: [{ name: 'a', uses: { taskRef: { name: 'one' } } }] }, [
    one({ steps: [{ name: 'x', uses: { taskRef: { name: 'z' } } }] }),
  ])
  t.match(messagesOf(nested.problems), [
    /^spec\.steps\[0\]\.uses\.taskRef: Task default\/one is a Task whose step 0 has uses: only a TaskGroup's steps may use Tasks/,
  ])
  const types = mergeTaskGroup(
    { params: [{ name: 'flags' }], steps: [{ name: 'a', uses: { taskRef: { name: 'one' }, parambindings: [{ name: 'EXTRA', param: 'flags' }] } }] },
    [one({ params: [{ name: 'EXTRA', type: 'array' }], steps: [{ name: 'b', image: 'y', args: ['$(params.EXTRA[*])'] }] })],
  )
  t.match(messagesOf(types.problems), [/parambindings\[0\]\.param: Task default\/one's param "EXTRA" is array, the group's param "flags" is string/])
})

t.test("the group's stepTemplate beside its own step with ref cannot be merged exactly", async (t) => {
  const merged = mergeTaskGroup(
    {
      stepTemplate: { env: [{ name: 'A', value: '1' }] },
      steps: [
        { name: 'note', ref: { name: 'notify' } },
        { name: 'a', uses: { taskRef: { name: 'one' } } },
      ],
    },
    [one({ steps: [{ name: 'b', image: 'y' }] }, 1)],
  )
  t.match(merged.handsOff, /the group has a stepTemplate and a step with ref \("note"\)/)
  t.same(((merged.spec?.steps ?? []) as unknown[])[0], { name: 'note', ref: { name: 'notify' } }, 'the template is not laid over the ref step')
})
