// `stepsplice lint`: catalogs on disk, good and broken, checked through
// main() as CI would run it: every problem on its own line, a summary, the
// exit status.

import { cp, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { main } from '../src/cli/main.ts'
import { captureIO } from './helpers/cli.ts'
import { exampleCatalogDir, tempDir } from './helpers/server.ts'

async function lint(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIO()
  const code = await main(['lint', ...args], io)
  return { code, out: io.out, err: io.err }
}

const goodTask = `apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: build
spec:
  params:
    - name: repo
    - name: flags
      type: array
  steps:
    - name: clone
      ref: {name: git-clone}
      params:
        - {name: url, value: $(params.repo)}
    - name: build
      ref: {name: go-build}
      params:
        - {name: flags, value: ["$(params.flags[*])"]}
    - name: plain
      image: alpine
      script: echo done
`
const goodPipeline = `apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: ship
spec:
  params:
    - name: repo
  tasks:
    - name: fetch
      params:
        - {name: repo, value: $(params.repo)}
      taskSpec:
        params: [{name: repo}]
        steps:
          - name: clone
            ref: {name: git-clone}
            params:
              - {name: url, value: $(params.repo)}
`

t.test('a clean catalog: a summary line, exit 0', async (t) => {
  const dir = await tempDir(t)
  await cp(exampleCatalogDir, join(dir, 'stepactions'), { recursive: true })
  await mkdir(join(dir, 'tasks'))
  await writeFile(join(dir, 'tasks', 'build.yaml'), `${goodTask}---\n${goodPipeline}`)
  await writeFile(join(dir, 'kustomization.yaml'), 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n')
  const r = await lint(['--catalog', dir])
  t.equal(r.err, '')
  t.equal(r.out, 'stepsplice lint: 5 StepActions, 1 Task and 1 Pipeline in 7 files (1 other document skipped): no problems\n')
  t.equal(r.code, 0)
})

t.test('a broken catalog: every problem, one line each, exit 1', async (t) => {
  const dir = await tempDir(t)
  await cp(exampleCatalogDir, join(dir, 'stepactions'), { recursive: true })
  const invalid = `apiVersion: tekton.dev/v1beta1
kind: StepAction
metadata:
  name: broken
spec:
  image: alpine
  params:
    - name: p
      typo: 1
`
  await writeFile(join(dir, 'broken.yaml'), invalid)
  await writeFile(join(dir, 'broken-again.yaml'), invalid)
  await writeFile(
    join(dir, 'team.yaml'),
    'apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata: {name: team-step, namespace: team-a}\nspec: {image: alpine, script: echo, bogus: 1}\n',
  )
  await writeFile(join(dir, 'syntax.yaml'), 'kind: StepAction\nmetadata: {name: [\n')
  const task = goodTask
    .replace('- {name: url, value: $(params.repo)}', '- {name: url, value: $(params.repo)}\n        - {name: branch, value: main}')
    .replace(
      '    - name: plain\n      image: alpine\n      script: echo done\n',
      '    - name: gone\n      ref: {name: no-such-step}\n    - name: uses-broken\n      ref: {name: broken}\n',
    )
  const pipeline = goodPipeline.replace(
    '- {name: url, value: $(params.repo)}',
    '- {name: url, value: $(params.repo)}\n              - {name: depthh, value: "2"}',
  )
  const remote = `apiVersion: tekton.dev/v1
kind: Task
metadata: {name: remote, namespace: team-a}
spec:
  steps:
    - name: fetched
      ref:
        resolver: git
        params:
          - {name: url, value: "https://git.example/steps.git"}
          - {name: revision, value: main}
          - {name: pathInRepo, value: step.yaml}
`
  await writeFile(join(dir, 'tasks.yaml'), `${task}---\n${pipeline}---\n${remote}`)

  const r = await lint(['--catalog', dir, '--resolvers', 'none'])
  t.equal(r.code, 1)
  const lines = r.out.replaceAll(dir, 'CAT').trimEnd().split('\n')
  t.equal(lines.length, 11, r.out)
  // Files in the order the catalog reads them; what lint itself says, word for word.
  t.same(lines.slice(0, 3), [
    'CAT/broken-again.yaml: StepAction */broken: spec.params[0].typo: unknown field',
    'CAT/broken.yaml: StepAction */broken: spec.params[0].typo: unknown field',
    'CAT/broken.yaml: StepAction */broken: defined more than once, in CAT/broken-again.yaml and CAT/broken.yaml',
  ])
  t.match(lines[3], /^CAT\/syntax\.yaml: .* at line \d+, column \d+$/)
  t.match(lines[4], /^CAT\/syntax\.yaml: .* at line \d+, column \d+$/)
  // The splice's own words, with the Task's or Pipeline's paths.
  t.match(
    lines[5],
    /^CAT\/tasks\.yaml: Task default\/build: spec\.steps\[0\]\.params: extra params passed by Step to StepAction: \[branch\].*\(step "clone", StepAction default\/git-clone\b/,
  )
  t.match(lines[6], /^CAT\/tasks\.yaml: Task default\/build: spec\.steps\[2\]\.ref: stepactions\.tekton\.dev "no-such-step" not found in namespace "default"/)
  t.notMatch(lines[6], /--require-resolution/, 'no pointer to a flag lint sets itself')
  t.match(lines[7], /^CAT\/tasks\.yaml: Task default\/build: spec\.steps\[3\]\.ref: StepAction is invalid: /)
  t.match(
    lines[8],
    /^CAT\/tasks\.yaml: Pipeline default\/ship: spec\.tasks\[0\]\.taskSpec\.steps\[0\]\.params: extra params passed by Step to StepAction: \[depthh\]/,
  )
  t.equal(lines[9], 'CAT/team.yaml: StepAction team-a/team-step: spec.bogus: unknown field', 'a namespaced StepAction shows its namespace')
  t.equal(lines[10], 'stepsplice lint: 8 StepActions, 2 Tasks and 1 Pipeline in 10 files: 10 problems')
  // A reference lint cannot follow is a warning, not a problem.
  t.match(r.err, /^Warning: .*tasks\.yaml: Task team-a\/remote: spec\.steps\[0\]\.ref \(step "fetched"\): left for Tekton/m)
  t.notMatch(r.out, /remote/)
})

t.test('policy objects in the catalog are validated; --policy judges its Tasks and Pipelines as admission would', async (t) => {
  const dir = await tempDir(t)
  await cp(exampleCatalogDir, join(dir, 'stepactions'), { recursive: true })
  await mkdir(join(dir, 'tasks'))
  await writeFile(join(dir, 'tasks', 'build.yaml'), `${goodTask}---\n${goodPipeline}`)
  await mkdir(join(dir, 'policies'))
  await writeFile(
    join(dir, 'policies', 'platform.yaml'),
    `apiVersion: stepsplice.dev/v1alpha1
kind: ClusterStepPolicy
metadata: {name: platform-only}
spec:
  inlineSteps: Deny
---
apiVersion: stepsplice.dev/v1alpha1
kind: StepPolicy
metadata: {name: loose, namespace: team-a}
spec: {mode: Sometimes}
`,
  )
  const validated = await lint(['--catalog', dir])
  t.equal(validated.code, 1)
  t.match(validated.out, /policies\/platform\.yaml: StepPolicy team-a\/loose: spec\.mode: /)
  t.match(validated.out, /5 StepActions, 2 policy objects, 1 Task and 1 Pipeline in 7 files: 1 problem\n$/)

  const policyDir = await tempDir(t)
  await writeFile(
    join(policyDir, 'p.yaml'),
    'apiVersion: stepsplice.dev/v1alpha1\nkind: ClusterStepPolicy\nmetadata: {name: platform-only}\nspec: {inlineSteps: Deny}\n',
  )
  await writeFile(
    join(policyDir, 'audit.yaml'),
    'apiVersion: stepsplice.dev/v1alpha1\nkind: ClusterStepPolicy\nmetadata: {name: pinned}\nspec: {mode: Audit, images: {requireDigest: true}}\n',
  )
  const judged = await lint(['--catalog', join(dir, 'stepactions'), '--catalog', join(dir, 'tasks'), '--policy', policyDir])
  t.equal(judged.code, 1)
  t.match(judged.out, /tasks\/build\.yaml: Task default\/build: spec\.steps\[2\]: policy ClusterStepPolicy platform-only: inlineSteps: /)
  t.match(judged.err, /Warning: .*tasks\/build\.yaml: Task default\/build: policy ClusterStepPolicy pinned \(Audit\): spec\.steps\[0\]: images\.requireDigest/)
  t.notMatch(judged.out, /Pipeline default\/ship/, 'the Pipeline’s one step is spliced: no inline step there')
})

t.test('TaskGroups in the catalog are validated as written', async (t) => {
  const dir = await tempDir(t)
  await cp(exampleCatalogDir, join(dir, 'stepactions'), { recursive: true })
  await writeFile(
    join(dir, 'group.yaml'),
    `apiVersion: custom.tekton.dev/v1alpha1
kind: TaskGroup
metadata: {name: clone-and-build}
spec:
  steps:
    - {name: fetch, image: git, uses: {taskRef: {name: git-clone}}}
`,
  )
  const r = await lint(['--catalog', dir])
  t.equal(r.code, 1)
  t.match(
    r.out,
    /group\.yaml: TaskGroup default\/clone-and-build: spec\.steps\[0\]: a step with uses takes its steps from the used Task: it cannot also set image/,
  )
  t.match(r.out, /5 StepActions, 1 TaskGroup, 0 Tasks and 0 Pipelines in 6 files: 1 problem\n$/)
})

t.test('usage errors and unreadable directories exit 2', async (t) => {
  const none = await lint([])
  t.equal(none.code, 2)
  t.equal(none.err, "error: at least one --catalog DIR is required\nRun 'stepsplice lint --help' for usage.\n")
  const missing = await lint(['--catalog', '/no/such/catalog'])
  t.equal(missing.code, 2)
  t.match(missing.err, /^error: cannot read catalog [^\n]*\/no\/such\/catalog: no such file or directory\n$/)
  t.equal(missing.out, '')
  const help = await lint(['--help'])
  t.equal(help.code, 0)
  t.match(help.out, /^Usage: stepsplice lint --catalog DIR/)
  t.match(help.out, /FILE: KIND NAMESPACE\/NAME: PATH: MESSAGE/)
})
