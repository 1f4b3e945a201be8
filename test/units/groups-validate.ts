// A TaskGroup object checked as written (src/groups/validate.ts): every
// problem at once, each with its path, before any used Task is fetched.

import t from 'tap'
import { validateTaskGroup } from '../../src/groups/validate.ts'
import { formatProblem } from '../../src/problems/problem.ts'

const valid = {
  apiVersion: 'custom.tekton.dev/v1alpha1',
  kind: 'TaskGroup',
  metadata: { name: 'clone-and-build' },
  spec: {
    params: [{ name: 'repo-url' }],
    workspaces: [{ name: 'shared' }],
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
        uses: {
          taskRef: { resolver: 'git', params: [{ name: 'url', value: 'https://example.com/r' }] },
          workspacebindings: [{ name: 'source', param: 'shared' }],
        },
      },
    ],
  },
}

t.test('a valid TaskGroup has no problem', async (t) => {
  t.strictSame(validateTaskGroup(valid), [])
})

t.test('every problem of one object at once, each with its path', async (t) => {
  const bad = {
    apiVersion: 'custom.tekton.dev/v1',
    kind: 'TaskGroup',
    metadata: { name: 'Bad_Name' },
    spec: {
      params: [{ name: 'p' }, { name: 'p' }],
      workspaces: [{}],
      steps: [
        { name: 'a', image: 'busybox' },
        { name: 'a', uses: { taskRef: { name: 't' }, parambindings: [{ name: 'x' }], workspacebindings: ['w'] }, script: 'echo' },
        { name: 'b', ref: { name: 'sa' }, uses: {} },
      ],
    },
  }
  t.strictSame(validateTaskGroup(bad).map(formatProblem), [
    'apiVersion: must be custom.tekton.dev/v1alpha1, not "custom.tekton.dev/v1"',
    'metadata.name: must be a DNS-1123 label of at most 63 characters',
    'spec.steps[1].name: the name of spec.steps[0] too: step names must be unique',
    "spec.steps[1].uses.parambindings[0]: a param binding is {name: <the used Task's param>, param: <the group's param>}",
    "spec.steps[1].uses.workspacebindings[0]: a workspace binding is {name: <the used Task's workspace>, workspace: <the group's workspace>}",
    'spec.params[1].name: "p" is declared twice',
    'spec.workspaces[0].name: missing',
    'spec.steps[1]: a step with uses takes its steps from the used Task: it cannot also set script; set them in the Task (step "a")',
    'spec.steps[2].ref: a step with uses takes its steps from the used Task: it cannot also have ref (step "b")',
    'spec.steps[2].uses.taskRef: uses needs a taskRef: the Task whose steps this step stands for (step "b")',
  ])
})

t.test('no spec, or no steps', async (t) => {
  t.match(validateTaskGroup({ ...valid, spec: undefined }).map(formatProblem), ['spec: missing: a TaskGroup is a Task spec whose steps may use Tasks'])
  t.match(validateTaskGroup({ ...valid, spec: { steps: [] } }).map(formatProblem), ['spec.steps: a TaskGroup needs at least one step'])
  t.match(validateTaskGroup('x').map(formatProblem), [/a TaskGroup must be an object/])
})
