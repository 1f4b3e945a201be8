// Remote step definitions end to end: a real git host (git http-backend), an
// HTTPS file server and an OCI registry on loopback, the resolvers built from
// the same flags `serve` parses, and the real webhook (two worker threads)
// answering real AdmissionReviews over verified TLS. What it checks is the
// rule of remote references: what resolves is spliced with its source
// recorded; a definite error of the user's own denies; anything else is left
// for Tekton with a warning, unless --require-resolution says it must resolve,
// and a Pod, with no Tekton behind it, is denied.

import { createHash } from 'node:crypto'
import t from 'tap'
import { startGitServer } from './helpers/git-server.ts'
import { startFileServer } from './helpers/https-files.ts'
import { pushBundle } from './helpers/oci-bundle.ts'
import { startFixtureRegistry } from './helpers/oci-registry.ts'
import { podWith, stepsKey } from './helpers/pod.ts'
import { admit, catalogRepo, gitRef, param, provenance, remoteWebhook, stepActionYaml, stepsOf, taskRunOf } from './helpers/remote-webhook.ts'
import { mintCerts } from './helpers/server.ts'

const certs = await mintCerts(t)
const git = await startGitServer(t, { certs })
const files = await startFileServer(t, { certs })
const registry = await startFixtureRegistry(t, { certs, auth: 'bearer' })
const { pinned } = await catalogRepo(git)
// One webhook for the tests that need no flags of their own: each start costs a worker thread.
const shared = await remoteWebhook(t, certs)

t.test("git errors of the user's own deny; what git cannot give now is left for Tekton", async (t) => {
  const server = shared
  const missing = await admit(server, taskRunOf('missing', [{ name: 's', ref: gitRef(git, 'catalog', pinned, 'stepactions/nope.yaml') }]))
  t.notOk(missing.allowed, 'a file the commit does not hold: Tekton would fail it too')
  t.match(missing.message, /spec\.taskSpec\.steps\[0\]\.ref: git resolver: error opening file "stepactions\/nope\.yaml": file does not exist/)
  t.match(missing.message, /\(step "s"\)/)

  const invalid = await admit(server, taskRunOf('invalid', [{ name: 's', ref: gitRef(git, 'catalog', pinned, 'stepactions/bad.yaml') }]))
  t.notOk(invalid.allowed, 'an invalid definition denies')
  t.match(invalid.message, /command and script cannot be used together|script.*command/i)

  const noParam = await admit(
    server,
    taskRunOf('no-path', [{ name: 's', ref: { resolver: 'git', params: [param('url', git.repoUrl('catalog')), param('revision', pinned)] } }]),
  )
  t.notOk(noParam.allowed)
  t.match(noParam.message, /missing required git resolver params: pathInRepo/)

  const link = await admit(server, taskRunOf('link', [{ name: 's', ref: gitRef(git, 'catalog', pinned, 'stepactions/link.yaml') }]))
  t.ok(link.allowed, 'a symbolic link: Tekton may read it; we do not follow it')
  t.equal(link.object, undefined, 'nothing changed')
  t.match(link.warnings, [/^spec\.taskSpec\.steps\[0\]\.ref \(step "s"\): left for Tekton to resolve: git: stepactions\/link\.yaml is behind a symbolic link/])

  const unknownRepo = await admit(server, taskRunOf('gone', [{ name: 's', ref: gitRef(git, 'no-such-repo', pinned, 'a.yaml') }]))
  t.ok(unknownRepo.allowed, 'a repository we cannot fetch from: perhaps Tekton can (credentials, network)')
  t.match(unknownRepo.warnings, [/left for Tekton to resolve: .*git/])

  const runtime = await admit(server, taskRunOf('runtime', [{ name: 's', ref: gitRef(git, 'catalog', '$(params.revision)', 'a.yaml') }]))
  t.ok(runtime.allowed)
  t.match(runtime.warnings, [/param "revision" holds \$\(params\.revision\), which has no value at admission/])
})

t.test('http: a digest pins the body; a mismatch denies; the fetched digest is recorded', async (t) => {
  const server = shared
  const body = stepActionYaml('fetched', 'img/fetched:1')
  files.put('/defs/fetched.yaml', body)
  const sha = createHash('sha256').update(body).digest('hex')
  const url = `${files.url}/defs/fetched.yaml`
  const httpRef = (extra: { name: string; value: string }[] = []) => ({ resolver: 'http', params: [param('url', url), ...extra] })

  const plain = await admit(server, taskRunOf('plain', [{ name: 's', ref: httpRef() }]))
  t.ok(plain.allowed, plain.message)
  t.equal(stepsOf(plain.object)[0]?.image, 'img/fetched:1')
  t.match(provenance(plain.object), [{ definition: url, source: 'http', sourceDigest: `sha256:${sha}` }])

  const pinnedRun = await admit(server, taskRunOf('pinned', [{ name: 's', ref: httpRef([param('digest', `sha256:${sha}`)]) }]))
  t.equal(stepsOf(pinnedRun.object)[0]?.image, 'img/fetched:1', 'the digest matches')

  const wrong = await admit(server, taskRunOf('wrong', [{ name: 's', ref: httpRef([param('digest', `sha256:${'0'.repeat(64)}`)]) }]))
  t.notOk(wrong.allowed, 'a digest mismatch is a definite error')
  t.match(wrong.message, /error validating digest: SHA mismatch, expected 0{64}, got [0-9a-f]{64}/)

  files.putGenerated('/defs/huge.yaml', 2 * 1024 * 1024)
  const huge = await admit(server, taskRunOf('huge', [{ name: 's', ref: { resolver: 'http', params: [param('url', `${files.url}/defs/huge.yaml`)] } }]))
  t.notOk(huge.allowed, 'past Tekton’s own 1 MiB: Tekton would refuse it too')
  t.match(huge.message, /response body exceeds maximum allowed size of 1048576 bytes/)

  const missing = await admit(server, taskRunOf('404', [{ name: 's', ref: { resolver: 'http', params: [param('url', `${files.url}/defs/none.yaml`)] } }]))
  t.ok(missing.allowed, 'a status other than 200 is left for Tekton')
  t.match(missing.warnings, [/left for Tekton to resolve: http: .* answered 404/])
})

t.test('bundles: by tag and by digest, through a registry that wants a token', async (t) => {
  const server = shared
  const pushed = await pushBundle(registry, 'team/steps', 'v1', [
    { apiVersion: 'tekton.dev/v1beta1', kind: 'stepaction', name: 'bundled', content: stepActionYaml('bundled', 'img/bundled:1') },
  ])
  const bundleRef = (bundle: string) => ({ resolver: 'bundles', params: [param('bundle', bundle), param('name', 'bundled'), param('kind', 'stepaction')] })
  const byTag = await admit(server, taskRunOf('tag', [{ name: 's', ref: bundleRef(pushed.reference) }]))
  t.ok(byTag.allowed, byTag.message)
  t.equal(stepsOf(byTag.object)[0]?.image, 'img/bundled:1')
  t.match(provenance(byTag.object), [{ source: 'bundles', definition: `oci://${registry.host}/team/steps@${pushed.digest}#stepaction/bundled` }])
  const manifests = registry.count('manifest', 'team/steps')
  const byDigest = await admit(server, taskRunOf('digest', [{ name: 's', ref: bundleRef(pushed.byDigest) }]))
  t.equal(stepsOf(byDigest.object)[0]?.image, 'img/bundled:1')
  const again = await admit(server, taskRunOf('digest-again', [{ name: 's', ref: bundleRef(pushed.byDigest) }]))
  t.equal(stepsOf(again.object)[0]?.image, 'img/bundled:1')
  t.ok(registry.count('manifest', 'team/steps') - manifests <= 1, 'a digest is fetched at most once')

  const absent = await admit(
    server,
    taskRunOf('absent', [
      { name: 's', ref: { ...bundleRef(pushed.reference), params: [param('bundle', pushed.reference), param('name', 'other'), param('kind', 'stepaction')] } },
    ]),
  )
  t.notOk(absent.allowed, 'a bundle that does not hold the name: Tekton fails it too')
  t.match(absent.message, /other/)
})

t.test('resolvers stepsplice does not run, or was told not to, leave the step for Tekton', async (t) => {
  const server = await remoteWebhook(t, certs, { resolvers: 'cluster,http' })
  const hub = await admit(server, taskRunOf('hub', [{ name: 's', ref: { resolver: 'hub', params: [param('name', 'git-clone')] } }]))
  t.ok(hub.allowed)
  t.match(hub.warnings, [/left for Tekton to resolve: stepsplice does not run the "hub" resolver \(it runs cluster, http\)/])
  const off = await admit(server, taskRunOf('off', [{ name: 's', ref: gitRef(git, 'catalog', pinned, 'stepactions/step-00/step-00.yaml') }]))
  t.ok(off.allowed)
  t.match(off.warnings, [/the git resolver is switched off here \(--resolvers\)/])

  const strict = await remoteWebhook(t, certs, { resolvers: 'none' }, { requireResolution: ['all'] })
  const denied = await admit(strict, taskRunOf('hub', [{ name: 's', ref: { resolver: 'hub', params: [param('name', 'git-clone')] } }]))
  t.notOk(denied.allowed, 'all references must resolve')
  t.match(denied.message, /hub references must resolve at admission \(--require-resolution\)/)
})

t.test('a Pod has no Tekton behind it: a reference that does not resolve is denied, one that does is spliced', async (t) => {
  const server = shared
  const ok = await admit(server, podWith([{ name: 'a', ref: gitRef(git, 'catalog', pinned, 'stepactions/step-03/step-03.yaml') }]))
  t.ok(ok.allowed, ok.message)
  const containers = ((ok.object?.spec as { initContainers?: { image?: string }[] } | undefined)?.initContainers ?? []).map((c) => c.image)
  t.ok(containers.includes('registry.example/step-03:1'), 'the step is an init container from the fetched definition')
  const hub = await admit(server, podWith([{ name: 'a', ref: { resolver: 'hub', params: [param('name', 'x')] } }]))
  t.notOk(hub.allowed)
  t.match(hub.message, new RegExp(`${stepsKey.replace('.', '\\.')}.*\\[0\\]\\.ref: stepsplice does not run the "hub" resolver`))
})

t.test('a remote that refuses connections leaves its steps for Tekton at once, in one warning per reason', async (t) => {
  const server = shared
  // A port nothing listens on: bound, then closed.
  const { createServer } = await import('node:net')
  const closed = createServer()
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as { port: number }).port
  await new Promise<void>((resolve) => closed.close(() => resolve()))
  const url = `https://127.0.0.1:${port}/steps.git`
  const ref = (path: string) => ({ resolver: 'git', params: [param('url', url), param('revision', pinned), param('pathInRepo', path)] })
  const steps = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((name) => ({ name, ref: ref(`${name}.yaml`) }))
  const answer = await admit(server, taskRunOf('down', [...steps, { name: 'inline', image: 'busybox', script: 'echo' }]))
  t.ok(answer.allowed, 'admitted: Tekton may reach it')
  t.equal(answer.object, undefined, 'nothing changed')
  t.equal(answer.warnings.length, 1, 'one warning for seven steps left for the same reason')
  t.match(
    answer.warnings[0],
    /^spec\.taskSpec\.steps\[0\]\.ref \(step "a"\): left for Tekton to resolve: git fetch: .*Couldn't connect to server; so are 6 more/,
  )
  t.ok((answer.warnings[0] ?? '').length <= 256, 'within the length the API server keeps')
})

t.test("a TaskGroup's uses through git, http and bundles: the same fetches, the Task's source recorded", async (t) => {
  const server = shared
  const taskYaml = (name: string, image: string): string =>
    `apiVersion: tekton.dev/v1\nkind: Task\nmetadata:\n  name: ${name}\nspec:\n  steps:\n    - name: run\n      image: ${image}\n      script: "true"\n`
  files.put('/tasks/fmt.yaml', taskYaml('fmt', 'img/fmt:1'))
  const pushed = await pushBundle(registry, 'team/tasks', 'v1', [
    { apiVersion: 'tekton.dev/v1', kind: 'task', name: 'scan', content: taskYaml('scan', 'img/scan:1') },
  ])
  const uses = (name: string, taskRef: Record<string, unknown>, more: Record<string, unknown> = {}) => ({ name, uses: { taskRef, ...more } })
  const run = taskRunOf('grouped', [
    uses('l', gitRef(git, 'catalog', pinned, 'tasks/lint.yaml'), { parambindings: [{ name: 'dir', param: 'src' }] }),
    uses('f', { resolver: 'http', params: [param('url', `${files.url}/tasks/fmt.yaml`)] }),
    uses('s', { resolver: 'bundles', params: [param('bundle', pushed.byDigest), param('name', 'scan'), param('kind', 'task')] }),
  ])
  ;(run.spec as { taskSpec: Record<string, unknown> }).taskSpec.params = [{ name: 'src', default: '.' }]
  const grouped = await admit(server, run)
  t.ok(grouped.allowed, grouped.message)
  t.same(
    stepsOf(grouped.object).map((s) => `${String(s.name)} ${String(s.image)} ${String(s.script)}`),
    ['l-run registry.example/lint:1 lint $(params.src)', 'f-run img/fmt:1 true', 's-run img/scan:1 true'],
  )
  t.match(provenance(grouped.object), [
    { kind: 'Task', source: 'git', definition: `git+${git.repoUrl('catalog')}@${pinned}#tasks/lint.yaml`, sourceDigest: `sha1:${pinned}` },
    { kind: 'Task', source: 'http', definition: `${files.url}/tasks/fmt.yaml`, sourceDigest: /^sha256:/ },
    { kind: 'Task', source: 'bundles', definition: `oci://${registry.host}/team/tasks@${pushed.digest}#task/scan` },
  ])
  const notATask = await admit(server, taskRunOf('step-not-task', [uses('x', gitRef(git, 'catalog', pinned, 'stepactions/step-00/step-00.yaml'))]))
  t.notOk(notATask.allowed, 'a StepAction where a Task is used')
  t.match(notATask.message, /resource is not a Task \(it is a StepAction\)/)
  const stepNotTask = await admit(server, taskRunOf('task-as-step', [{ name: 's', ref: gitRef(git, 'catalog', pinned, 'tasks/lint.yaml') }]))
  t.notOk(stepNotTask.allowed, 'and a Task where a StepAction is referenced')
  t.match(stepNotTask.message, /resource is not a StepAction \(it is a Task\)/)
})
