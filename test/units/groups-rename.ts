// TaskGroups' bindings rename a used Task's params and workspaces to the
// group's: every form Tekton accepts, and nothing that only looks like one.

import fc from 'fast-check'
import t from 'tap'
import { renameIn, renameReferences } from '../../src/groups/rename.ts'

const params = new Map([['url', 'repo-url']])
const none = new Map<string, string>()
const workspaces = new Map([['output', 'source']])

t.test('every param reference form is renamed, with what follows the name kept', async (t) => {
  const cases: [string, string][] = [
    ['$(params.url)', '$(params.repo-url)'],
    ['$(params.url[*])', '$(params.repo-url[*])'],
    ['$(params.url[2])', '$(params.repo-url[2])'],
    ['$(params.url.host)', '$(params.repo-url.host)'],
    ["$(params['url'])", "$(params['repo-url'])"],
    ['$(params["url"])', '$(params["repo-url"])'],
    ["$(params['url'][*])", "$(params['repo-url'][*])"],
    ['git clone $(params.url) && echo $(params["url"])', 'git clone $(params.repo-url) && echo $(params["repo-url"])'],
  ]
  for (const [from, to] of cases) t.equal(renameReferences(from, params, none), to, from)
})

t.test('what is not a reference to that name is left as it is', async (t) => {
  for (const text of [
    '$(params.urls)',
    '$(params.url-2)',
    '$(params.ur)',
    'params.url',
    '$(params.url',
    '$(params.url\n)',
    "$(params['url')",
    '$(param.url)',
    '$(params.other) url',
    '$(context.taskRun.name)',
    '$$(params.x)',
  ]) {
    t.equal(renameReferences(text, params, none), text, JSON.stringify(text))
  }
})

t.test('a new name the dot form cannot hold is written in the bracket form', async (t) => {
  const dotted = new Map([['url', 'git.url']])
  t.equal(renameReferences('$(params.url)', dotted, none), '$(params["git.url"])')
  t.equal(renameReferences('$(params.url[*])', dotted, none), '$(params["git.url"][*])')
  t.equal(renameReferences("$(params['url'])", dotted, none), "$(params['git.url'])", 'a bracket form keeps its own quotes')
})

t.test('workspace references: path, bound, claim and volume', async (t) => {
  for (const field of ['path', 'bound', 'claim', 'volume']) {
    t.equal(renameReferences(`cd $(workspaces.output.${field})`, none, workspaces), `cd $(workspaces.source.${field})`, field)
  }
  for (const text of ['$(workspaces.output.other)', '$(workspaces.outputs.path)', '$(workspaces.output)', 'workspaces.output.path']) {
    t.equal(renameReferences(text, none, workspaces), text, text)
  }
})

t.test('several renames in one pass, and none swaps a name twice', async (t) => {
  const swap = new Map([
    ['a', 'b'],
    ['b', 'a'],
  ])
  t.equal(renameReferences('$(params.a)-$(params.b)-$(params["a"])', swap, none), '$(params.b)-$(params.a)-$(params["b"])')
})

t.test('renameIn: every string of a value, keys untouched, and what did not change is not copied', async (t) => {
  const sidecar = { name: 'db', env: [{ name: 'URL', value: '$(params.url)' }], volumeMounts: [{ name: 'ws', mountPath: '/w' }] }
  const value = {
    steps: [{ name: 's', args: ['$(params.url[*])', 'x'], workingDir: '$(workspaces.output.path)' }],
    sidecars: [sidecar],
    volumes: [{ name: 'v', configMap: { name: '$(params.url)' } }],
    '$(params.url)': 'a key is not substituted',
    untouched: { deep: ['no references'] },
  }
  const out = renameIn(value, params, workspaces)
  t.strictSame(out.steps, [{ name: 's', args: ['$(params.repo-url[*])', 'x'], workingDir: '$(workspaces.source.path)' }])
  t.equal(out.sidecars[0]?.env[0]?.value, '$(params.repo-url)')
  t.equal(out.sidecars[0]?.volumeMounts, sidecar.volumeMounts, 'an unchanged part is shared, not copied')
  t.equal(out.volumes[0]?.configMap.name, '$(params.repo-url)')
  t.equal(out['$(params.url)'], 'a key is not substituted')
  t.equal(out.untouched, value.untouched)
  t.equal(renameIn(value, none, none), value, 'nothing to rename: the value itself')
  t.equal(value.steps[0]?.workingDir, '$(workspaces.output.path)', 'the input is not changed')
})

t.test('renaming there and back is the identity, on arbitrary text', async (t) => {
  const there = new Map([['url', 'repo-url']])
  const back = new Map([['repo-url', 'url']])
  const piece = fc.constantFrom('$(params.url)', '$(params.url[*])', "$(params['url'])", '$(params.urls)', ' ', 'x', '$(', ')', '\n', '$(params.', '[*]', '"])')
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 30 }), (pieces) => {
      const text = pieces.join('')
      // Only a text with no reference to the new name already in it comes back unchanged.
      fc.pre(renameReferences(text, back, none) === text)
      return renameReferences(renameReferences(text, there, none), back, none) === text
    }),
    { numRuns: 500 },
  )
  t.pass('there and back')
})

t.test('hostile text is read in one pass', async (t) => {
  const openers = '$(params.url'.repeat(50_000)
  t.equal(renameReferences(openers, params, none), openers, 'fifty thousand unclosed openers: nothing renamed')
  const many = '$(params.url) '.repeat(20_000)
  t.equal(renameReferences(many, params, none), '$(params.repo-url) '.repeat(20_000))
})

t.test('unclosed bracket openers and workspace openers are read in one pass too', async (t) => {
  const brackets = "$(params['url".repeat(50_000)
  t.equal(renameReferences(brackets, params, none), brackets)
  const spaces = '$(workspaces.output.path'.repeat(50_000)
  t.equal(renameReferences(spaces, none, workspaces), spaces)
})
