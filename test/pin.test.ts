// `stepsplice pin`, run in-process against a real git host, an HTTPS file
// server and an OCI registry on loopback: branches and tags become commits,
// URLs and bundle tags gain digests, every other byte of the file stays, and
// what cannot be pinned is said, with exit status 1.

import { createHash } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { main } from '../src/cli/main.ts'
import { startGitServer } from './helpers/git-server.ts'
import { startFileServer } from './helpers/https-files.ts'
import { pushBundle } from './helpers/oci-bundle.ts'
import { startFixtureRegistry } from './helpers/oci-registry.ts'
import { captureIO, mintCerts, tempDir } from './helpers/server.ts'

const certs = await mintCerts(t)
const git = await startGitServer(t, { certs })
const files = await startFileServer(t, { certs })
const registry = await startFixtureRegistry(t, { certs, auth: 'bearer' })

const stepAction = (image: string) => `apiVersion: tekton.dev/v1beta1
kind: StepAction
metadata:
  name: s
spec:
  image: ${image}
  script: echo
`
const [first = '', second = ''] = await git.createRepo('steps', [
  { files: { 'a.yaml': stepAction('a:1') }, tag: 'v1', annotatedTag: 'v1-annotated' },
  { files: { 'a.yaml': stepAction('a:2') } },
])
const body = stepAction('fetched:1')
files.put('/a.yaml', body)
const sha = createHash('sha256').update(body).digest('hex')
const pushed = await pushBundle(registry, 'team/steps', 'v1', [{ apiVersion: 'tekton.dev/v1beta1', kind: 'stepaction', name: 's', content: body }])

async function pin(args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  const io = captureIO(stdin)
  const code = await main(['pin', '--remote-ca', certs.caFile, ...args], io)
  return { code, out: io.out, err: io.err }
}

const task = `# Build, from steps kept in git.
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: build   # the name
spec:
  steps:
    - name: main
      ref:
        resolver: git
        params:
          - name: url
            value: ${git.repoUrl('steps')}
          - name: revision
            value: main
          - name: pathInRepo
            value: a.yaml
    - name: tagged
      ref: {resolver: git, params: [{name: url, value: "${git.repoUrl('steps')}"}, {name: revision, value: 'v1-annotated'}, {name: pathInRepo, value: a.yaml}]}
    - name: pinned
      ref:
        resolver: git
        params:
          - { name: url, value: ${git.repoUrl('steps')} }
          - { name: revision, value: ${first} }
          - { name: pathInRepo, value: a.yaml }
    - name: fetched
      ref:
        resolver: http
        params:
          - name: url   # a plain URL
            value: ${files.url}/a.yaml
    - name: bundled
      ref:
        resolver: bundles
        params:
          - { name: bundle, value: ${pushed.reference} }
          - { name: name, value: s }
          - { name: kind, value: stepaction }
    - name: local
      ref:
        name: not-remote
`

t.test('branches, tags, URLs and bundle tags pinned; every other byte kept', async (t) => {
  const { code, out, err } = await pin(['-f', '-'], task)
  t.equal(code, 0, err)
  const expected = task
    .replace('            value: main\n', `            value: ${second} # main\n`)
    .replace("{name: revision, value: 'v1-annotated'}", `{name: revision, value: '${first}'}`)
    .replace(`            value: ${files.url}/a.yaml\n`, `            value: ${files.url}/a.yaml\n          - name: digest\n            value: sha256:${sha}\n`)
    .replace(`{ name: bundle, value: ${pushed.reference} }`, `{ name: bundle, value: ${pushed.reference}@${pushed.digest} }`)
  t.equal(out, expected)
  t.match(err, `pinned <stdin>: spec.steps[0].ref: git revision main → ${second}`)
  t.match(err, `pinned <stdin>: spec.steps[1].ref: git revision v1-annotated → ${first}`, 'an annotated tag names the commit it points at')
  t.match(err, `spec.steps[3].ref: http digest sha256:${sha}`)
  t.match(err, `spec.steps[4].ref: bundle ${pushed.reference} → @${pushed.digest}`)
  t.notMatch(err, 'steps[2]', 'a commit is left alone')

  const again = await pin(['-f', '-'], out)
  t.equal(again.code, 0)
  t.equal(again.out, out, 'pinning what is pinned changes nothing')
  t.equal(again.err, '')
})

t.test('in place, several files; JSON stays JSON', async (t) => {
  const dir = await tempDir(t)
  const yamlFile = join(dir, 'task.yaml')
  const jsonFile = join(dir, 'run.json')
  const untouched = join(dir, 'plain.yaml')
  await writeFile(yamlFile, task)
  const run = {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { name: 'r' },
    spec: { taskSpec: { steps: [{ name: 's', ref: { resolver: 'http', params: [{ name: 'url', value: `${files.url}/a.yaml` }] } }] } },
  }
  await writeFile(jsonFile, JSON.stringify(run, null, 2))
  await writeFile(untouched, 'kind: ConfigMap\n')
  const { code, out, err } = await pin(['-i', '-f', yamlFile, '-f', jsonFile, '-f', untouched])
  t.equal(code, 0, err)
  t.equal(out, '', 'nothing printed')
  t.match(await readFile(yamlFile, 'utf8'), `value: ${second} # main`)
  const pinnedRun = JSON.parse(await readFile(jsonFile, 'utf8'))
  t.same(pinnedRun.spec.taskSpec.steps[0].ref.params, [
    { name: 'url', value: `${files.url}/a.yaml` },
    { name: 'digest', value: `sha256:${sha}` },
  ])
  t.equal(await readFile(untouched, 'utf8'), 'kind: ConfigMap\n')
})

t.test('what cannot be pinned is said, the rest is pinned, exit 1', async (t) => {
  files.put('/changed.yaml', 'new body')
  const text = `steps:
  - ref:
      resolver: git
      params:
        - { name: url, value: ${git.repoUrl('steps')} }
        - { name: revision, value: no-such-branch }
        - { name: pathInRepo, value: a.yaml }
  - ref:
      resolver: git
      params:
        - { name: url, value: ${git.repoUrl('steps')} }
        - { name: revision, value: $(params.revision) }
        - { name: pathInRepo, value: a.yaml }
  - ref:
      resolver: http
      params:
        - { name: url, value: ${files.url}/changed.yaml }
        - { name: digest, value: sha256:${sha} }
  - ref:
      resolver: git
      params:
        - { name: url, value: ${git.repoUrl('steps')} }
        - { name: revision, value: v1 }
        - { name: pathInRepo, value: a.yaml }
`
  const { code, out, err } = await pin(['-f', '-'], text)
  t.equal(code, 1)
  t.match(err, /error: <stdin>: steps\[0\]\.ref: git fetch: .*no-such-branch/)
  t.match(err, /error: <stdin>: steps\[1\]\.ref: param "revision" holds \$\(params\.revision\), which has a value only when the run starts/)
  t.match(err, new RegExp(`error: <stdin>: steps\\[2\\]\\.ref: http: .*changed\\.yaml now serves sha256:[0-9a-f]{64}, not the pinned sha256:${sha}`))
  t.match(out, `{ name: revision, value: ${first} }`, 'the tag that resolves is pinned all the same')
  t.match(out, '{ name: revision, value: no-such-branch }')
})

t.test('usage errors exit 2', async (t) => {
  const io = captureIO()
  t.equal(await main(['pin', '-f', '/no/such/file.yaml'], io), 2)
  t.match(io.err, /cannot read \/no\/such\/file\.yaml: no such file or directory\n$/)
  const help = captureIO()
  t.equal(await main(['pin', '--help'], help), 0)
  t.match(help.out, /Usage: stepsplice pin/)
})

t.test('--update moves pins forward to what their branch, tag or URL names now', async (t) => {
  const [old = ''] = await git.createRepo('bumped', [{ files: { 'a.yaml': stepAction('a:1') } }])
  files.put('/bumped.yaml', body)
  const oldBundle = await pushBundle(registry, 'team/bumped', 'v2', [{ apiVersion: 'tekton.dev/v1beta1', kind: 'stepaction', name: 's', content: body }])
  const text = `steps:
  - ref:
      resolver: git
      params:
        - name: url
          value: ${git.repoUrl('bumped')}
        - name: revision
          value: ${old} # main
        - name: pathInRepo
          value: a.yaml
  - ref:
      resolver: http
      params:
        - { name: url, value: ${files.url}/bumped.yaml }
        - { name: digest, value: sha256:${sha} }
  - ref:
      resolver: bundles
      params:
        - { name: bundle, value: ${oldBundle.reference}@${oldBundle.digest} }
        - { name: name, value: s }
        - { name: kind, value: stepaction }
`
  const unchanged = await pin(['--update', '-f', '-'], text)
  t.equal(unchanged.code, 0, unchanged.err)
  t.equal(unchanged.out, text, 'nothing moved: nothing changes')

  const next = await git.advance('bumped', { 'a.yaml': stepAction('a:2') })
  const newBody = stepAction('fetched:2')
  files.put('/bumped.yaml', newBody)
  const newSha = createHash('sha256').update(newBody).digest('hex')
  const newBundle = await pushBundle(registry, 'team/bumped', 'v2', [{ apiVersion: 'tekton.dev/v1beta1', kind: 'stepaction', name: 's', content: newBody }])
  t.not(newBundle.digest, oldBundle.digest)

  const checked = await pin(['-f', '-'], text)
  t.equal(checked.code, 1, 'without --update a digest that moved is an error')
  t.match(checked.err, /bumped\.yaml now serves sha256:/)

  const { code, out, err } = await pin(['-u', '-f', '-'], text)
  t.equal(code, 0, err)
  t.equal(
    out,
    text
      .replace(`value: ${old} # main`, `value: ${next} # main`)
      .replace(`sha256:${sha} }`, `sha256:${newSha} }`)
      .replace(`${oldBundle.reference}@${oldBundle.digest}`, `${oldBundle.reference}@${newBundle.digest}`),
  )
  t.match(err, `git revision main: ${old} → ${next}`)
})
