// The declarations of a merged TaskGroup: order, bindings and every clash,
// as a pure function (src/groups/declarations.ts).

import t from 'tap'
import { mergeDeclarations } from '../../src/groups/declarations.ts'
import type { TaskGroupSpec, UsedTask } from '../../src/groups/types.ts'
import { formatProblem } from '../../src/problems/problem.ts'

const gitClone: UsedTask = {
  index: 1,
  id: 'Task default/git-clone',
  spec: {
    params: [{ name: 'url' }, { name: 'revision', default: 'main' }],
    workspaces: [{ name: 'output' }],
    results: [{ name: 'commit' }],
    steps: [{ name: 'clone', image: 'git' }],
  },
}
const kaniko: UsedTask = {
  index: 2,
  id: 'Task default/kaniko',
  spec: {
    params: [{ name: 'IMAGE' }, { name: 'revision', default: 'main' }],
    workspaces: [{ name: 'source' }, { name: 'dockerconfig', mountPath: '/kaniko/.docker', optional: true }],
    results: [{ name: 'IMAGE_DIGEST' }],
    volumes: [{ name: 'cache', emptyDir: {} }],
    steps: [{ name: 'build', image: 'kaniko' }],
  },
}
const group: TaskGroupSpec = {
  params: [{ name: 'repo-url' }, { name: 'image' }],
  workspaces: [{ name: 'shared' }, { name: 'docker', mountPath: '/kaniko/.docker' }],
  results: [{ name: 'summary' }],
  volumes: [{ name: 'cache', emptyDir: {} }],
  steps: [
    { name: 'hello', image: 'busybox' },
    {
      name: 'fetch',
      uses: {
        taskRef: { name: 'git-clone' },
        parambindings: [{ name: 'url', param: 'repo-url' }],
        workspacebindings: [{ name: 'output', workspace: 'shared' }],
      },
    },
    {
      name: 'build',
      uses: {
        taskRef: { name: 'kaniko' },
        parambindings: [{ name: 'IMAGE', param: 'image' }],
        workspacebindings: [
          { name: 'source', workspace: 'shared' },
          { name: 'dockerconfig', workspace: 'docker' },
        ],
      },
    },
  ],
}

const names = (list: { name?: unknown }[]): unknown[] => list.map((x) => x.name)

t.test('TEP-0142’s case: git-clone and kaniko share a workspace and the group’s params', async (t) => {
  const d = mergeDeclarations(group, [gitClone, kaniko])
  t.strictSame(d.problems.map(formatProblem), [])
  t.strictSame(names(d.params), ['repo-url', 'image', 'revision'], 'the group’s first; bound ones not again; revision shared once')
  t.strictSame(names(d.workspaces), ['shared', 'docker'])
  t.strictSame(names(d.results), ['summary', 'commit', 'IMAGE_DIGEST'])
  t.strictSame(names(d.volumes), ['cache'], 'identical volumes of one name merge')
  t.strictSame([...(d.renames.get(1)?.params ?? [])], [['url', 'repo-url']])
  t.strictSame([...(d.renames.get(1)?.workspaces ?? [])], [['output', 'shared']])
  t.strictSame(
    [...(d.renames.get(2)?.workspaces ?? [])],
    [
      ['source', 'shared'],
      ['dockerconfig', 'docker'],
    ],
  )
  t.strictSame(d.warnings, [])
})

t.test('a binding to a param or workspace that is not declared names the valid ones', async (t) => {
  const wrong: TaskGroupSpec = {
    ...group,
    steps: [
      { name: 'hello', image: 'busybox' },
      // TEP-0142's own example binds url on kaniko, which has IMAGE.
      { name: 'fetch', uses: { taskRef: { name: 'git-clone' }, parambindings: [{ name: 'url', param: 'nope' }] } },
      {
        name: 'build',
        uses: { taskRef: { name: 'kaniko' }, parambindings: [{ name: 'url', param: 'repo-url' }], workspacebindings: [{ name: 'src', workspace: 'shared' }] },
      },
    ],
  }
  const d = mergeDeclarations(wrong, [gitClone, kaniko])
  t.strictSame(d.problems.map(formatProblem), [
    'spec.steps[1].uses.parambindings[0].param: the group declares no param "nope"; its params are "repo-url", "image"',
    'spec.steps[2].uses.parambindings[0].name: Task default/kaniko declares no param "url"; its params are "IMAGE", "revision"',
    'spec.steps[2].uses.workspacebindings[0].name: Task default/kaniko declares no workspace "src"; its workspaces are "source", "dockerconfig"',
    // Unbound, kaniko's dockerconfig is a workspace of its own, at the path of the group's docker.
    `spec.workspaces: workspace "docker" of the group and workspace "dockerconfig" of Task default/kaniko are both mounted at "/kaniko/.docker": a Task's workspaces need distinct mountPaths; bind one to the other`,
  ])
})

t.test('a group of many params: a bad binding lists ten of them and counts the rest, however many bindings are bad', async (t) => {
  // One message per bad binding, each listing every param, grew with their product (12,000 bindings to a group of
  // 1,000 params: 14 s and 1.7 GB).
  const params = Array.from({ length: 30 }, (_, i) => ({ name: `p${i}` }))
  const bindings = Array.from({ length: 3 }, () => ({ name: 'url', param: 'nope' }))
  const many: TaskGroupSpec = {
    ...group,
    params,
    steps: [
      { name: 'hello', image: 'busybox' },
      { name: 'fetch', uses: { taskRef: { name: 'git-clone' }, parambindings: bindings } },
    ],
  }
  const d = mergeDeclarations(many, [gitClone])
  const shown = params
    .slice(0, 10)
    .map((p) => `"${p.name}"`)
    .join(', ')
  t.strictSame(d.problems.map(formatProblem), [
    `spec.steps[1].uses.parambindings[0].param: the group declares no param "nope"; its params are ${shown} and 20 more`,
    // The same Task param again: said once, cheaply.
    'spec.steps[1].uses.parambindings[1].name: Task default/git-clone\'s param "url" is bound already, by parambindings[0]',
    'spec.steps[1].uses.parambindings[2].name: Task default/git-clone\'s param "url" is bound already, by parambindings[0]',
  ])
})

t.test('a bound workspace the used Task mounts at a path needs the group’s to declare that path', async (t) => {
  const noPath: TaskGroupSpec = { ...group, workspaces: [{ name: 'shared' }, { name: 'docker' }] }
  const d = mergeDeclarations(noPath, [gitClone, kaniko])
  t.match(d.problems.map(formatProblem), [
    /^spec\.steps\[2\]\.uses\.workspacebindings\[1\]\.workspace: Task default\/kaniko mounts workspace "dockerconfig" at "\/kaniko\/\.docker", where its steps expect it: the group's workspace "docker" must declare mountPath: \/kaniko\/\.docker$/,
  ])
})

t.test('param: for workspace: is accepted with a warning', async (t) => {
  const old: TaskGroupSpec = {
    ...group,
    steps: [group.steps?.[0] ?? {}, { name: 'fetch', uses: { taskRef: { name: 'git-clone' }, workspacebindings: [{ name: 'output', param: 'shared' }] } }],
  }
  const d = mergeDeclarations(old, [gitClone])
  t.strictSame([...(d.renames.get(1)?.workspaces ?? [])], [['output', 'shared']])
  t.match(d.warnings, [/^spec\.steps\[1\]\.uses\.workspacebindings\[0\]: "param" is a deprecated spelling of "workspace"/])
})

t.test('clashes: param types, defaults, results, sidecars, volumes and workspaces', async (t) => {
  const a: UsedTask = {
    index: 0,
    id: 'Task default/a',
    spec: {
      params: [
        { name: 'flags', type: 'array' },
        { name: 'level', default: 'high' },
      ],
      results: [{ name: 'out' }],
      sidecars: [{ name: 'db', image: 'postgres' }],
      volumes: [{ name: 'v', emptyDir: {} }],
      workspaces: [{ name: 'w', readOnly: true }],
    },
  }
  const b: UsedTask = {
    index: 1,
    id: 'Task default/b',
    spec: {
      params: [
        { name: 'flags', default: '-v' },
        { name: 'level', default: 'low' },
      ],
      results: [{ name: 'out' }],
      sidecars: [{ name: 'db', image: 'mysql' }],
      volumes: [{ name: 'v', configMap: { name: 'x' } }],
      workspaces: [{ name: 'w' }],
    },
  }
  const twoUses: TaskGroupSpec = {
    steps: [
      { name: 'a', uses: { taskRef: { name: 'a' } } },
      { name: 'b', uses: { taskRef: { name: 'b' } } },
    ],
  }
  const d = mergeDeclarations(twoUses, [a, b])
  t.strictSame(d.problems.map(formatProblem), [
    'spec.steps[1].uses: param "flags" is array in Task default/a and string in Task default/b; bind one of them to another group param',
    'spec.steps[1].uses: workspace "w" is declared by Task default/a and by Task default/b with a different mountPath, readOnly or optional',
    'spec.steps[1].uses: result "out" is declared by Task default/a and by Task default/b: both would write the same file',
    'spec.steps[1].uses: sidecar "db" is declared by Task default/a and by Task default/b: a Pod\'s containers need distinct names',
    'spec.steps[1].uses: volume "v" is declared differently by Task default/a and by Task default/b',
  ])
  t.strictSame(d.warnings, [
    'spec.steps[1].uses: param "level" is shared by Task default/a and Task default/b, whose defaults differ; the first declaration\'s default is used',
  ])
  t.strictSame(names(d.params), ['flags', 'level'])
})

t.test('a type inferred from a default counts as declared', async (t) => {
  const a: UsedTask = { index: 0, id: 'Task a', spec: { params: [{ name: 'list', default: ['x'] }] } }
  const b: UsedTask = { index: 1, id: 'Task b', spec: { params: [{ name: 'list', type: 'array' }] } }
  const d = mergeDeclarations({ steps: [{ uses: {} }, { uses: {} }] }, [a, b])
  t.strictSame(d.problems, [], 'both are arrays')
})
