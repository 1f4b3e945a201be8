// Remote step definitions end to end: a real git host (git http-backend), an
// HTTPS file server and an OCI registry on loopback, the resolvers built from
// the same flags `serve` parses, and the real webhook (two worker threads)
// answering real AdmissionReviews over verified TLS. What it checks is the
// rule of remote references: what resolves is spliced with its source
// recorded; a definite error of the user's own denies; anything else is left
// for Tekton with a warning, unless --require-resolution says it must resolve,
// and a Pod, with no Tekton behind it, is denied.

import t from 'tap'
import { parseResolutionFlags, type ResolutionFlags } from '../src/cli/resolution-flags.ts'
import { LayeredCatalog } from '../src/resolution/layered.ts'
import { MemoryCatalog } from '../src/resolution/memory.ts'
import type { KubeObject } from '../src/types/k8s.ts'
import { startGitServer } from './helpers/git-server.ts'
import { startFileServer } from './helpers/https-files.ts'
import { pushBundle } from './helpers/oci-bundle.ts'
import { startFixtureRegistry } from './helpers/oci-registry.ts'
import { podWith, stepsKey } from './helpers/pod.ts'
import { applyEncodedPatch, mintCerts, reviewOf, sleep, startTestServer, type TestServer, tempDir } from './helpers/server.ts'

const certs = await mintCerts(t)
const git = await startGitServer(t, { certs })
const files = await startFileServer(t, { certs })
const registry = await startFixtureRegistry(t, { certs, auth: 'bearer' })

/** A StepAction file as a catalog repository holds it. */
function stepActionYaml(name: string, image: string, extra = ''): string {
  return `apiVersion: tekton.dev/v1beta1
kind: StepAction
metadata:
  name: ${name}
spec:
  image: ${image}
  params:
    - name: target
      default: all
  env:
    - name: TARGET
      value: $(params.target)
  script: |
    echo ${name} "$TARGET"
${extra}`
}

interface Remote {
  server: TestServer
}

/** The webhook with the resolvers `serve` would build from these flags (plus our CA and a fresh cache directory). */
async function webhook(t: Tap, flags: ResolutionFlags = {}, options: { deadlineMs?: number; requireResolution?: string[] } = {}): Promise<Remote> {
  const resolution = parseResolutionFlags({ 'remote-ca': certs.caFile, 'remote-cache-dir': await tempDir(t, 'stepsplice-remote-cache-'), ...flags })
  const empty = MemoryCatalog.of('examples', [])
  const catalog = new LayeredCatalog([{ catalog: empty, origin: 'examples' }], resolution.layered)
  const server = await startTestServer(t, {
    certs,
    catalog,
    workers: 2,
    deadlineMs: options.deadlineMs ?? 5000,
    ...(options.requireResolution === undefined ? {} : { requireResolution: options.requireResolution }),
  })
  return { server }
}
type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

const param = (name: string, value: string) => ({ name, value })

function gitRef(repo: string, revision: string, path: string) {
  return { resolver: 'git', params: [param('url', git.repoUrl(repo)), param('revision', revision), param('pathInRepo', path)] }
}

function taskRunOf(name: string, steps: Record<string, unknown>[]): KubeObject {
  return { apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { name, namespace: 'team-a' }, spec: { taskSpec: { steps } } }
}

interface Answer {
  allowed: boolean
  message: string
  warnings: string[]
  object: KubeObject | undefined
}

async function admit(server: TestServer, object: KubeObject): Promise<Answer> {
  const reply = await server.review('/mutate', reviewOf(object))
  const r = reply.body.response
  return {
    allowed: r.allowed,
    message: r.status?.message ?? '',
    warnings: r.warnings ?? [],
    object: r.patch === undefined ? undefined : (applyEncodedPatch(object, r.patch) as KubeObject),
  }
}

function stepsOf(obj: KubeObject | undefined): Record<string, unknown>[] {
  return ((obj?.spec as { taskSpec?: { steps?: Record<string, unknown>[] } } | undefined)?.taskSpec?.steps ?? []) as Record<string, unknown>[]
}

function provenance(obj: KubeObject | undefined): { step: string; definition: string; source: string; sourceDigest?: string }[] {
  return JSON.parse(obj?.metadata?.annotations?.['stepsplice.dev/resolved'] ?? '[]')
}

// One catalog repository: a dozen StepActions at one commit, as Konflux's build-definitions hold them.
const names = Array.from({ length: 12 }, (_, i) => `step-${String(i).padStart(2, '0')}`)
const [pinned = ''] = await git.createRepo('catalog', [
  {
    files: {
      ...Object.fromEntries(names.map((n) => [`stepactions/${n}/${n}.yaml`, stepActionYaml(n, `registry.example/${n}:1`)])),
      'stepactions/bad.yaml': 'apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata:\n  name: bad\nspec:\n  image: x\n  command: [a]\n  script: echo\n',
      'stepactions/link.yaml': { symlink: 'step-00/step-00.yaml' },
      'README.md': 'catalog\n',
    },
  },
])

t.test('git, pinned to a commit: spliced, its source recorded, fetched once however many steps and requests', async (t) => {
  const { server } = await webhook(t)
  const before = git.uploadPackPosts('catalog')
  const one = await admit(server, taskRunOf('one', [{ name: 'a', ref: gitRef('catalog', pinned, 'stepactions/step-00/step-00.yaml') }]))
  t.ok(one.allowed, one.message)
  t.same(one.warnings, [])
  t.equal(stepsOf(one.object)[0]?.image, 'registry.example/step-00:1', 'the definition from the repository is spliced')
  t.match(stepsOf(one.object)[0], { env: [{ name: 'TARGET', value: 'all' }] }, 'its params resolved')
  t.notOk('ref' in (stepsOf(one.object)[0] ?? {}), 'the ref is gone')
  t.match(provenance(one.object), [
    {
      step: 'a',
      definition: `git+${git.repoUrl('catalog')}@${pinned}#stepactions/step-00/step-00.yaml`,
      source: 'git',
      sourceDigest: `sha1:${pinned}`,
    },
  ])
  const oneFetch = git.uploadPackPosts('catalog') - before
  t.ok(oneFetch > 0, 'the first reference fetches')

  // The Konflux shape: every step of a Task a file of the same repository at one commit, on a webhook
  // whose cache is empty.
  const { server: fresh } = await webhook(t)
  const manyBefore = git.uploadPackPosts('catalog')
  const many = await admit(
    fresh,
    taskRunOf(
      'many',
      names.slice(1).map((n) => ({ name: n, ref: gitRef('catalog', pinned, `stepactions/${n}/${n}.yaml`), params: [param('target', n)] })),
    ),
  )
  t.ok(many.allowed, many.message)
  t.same(
    stepsOf(many.object).map((s) => s.image),
    names.slice(1).map((n) => `registry.example/${n}:1`),
  )
  t.equal(git.uploadPackPosts('catalog') - manyBefore, oneFetch, 'eleven files of one commit cost what one file does')

  // Again, from several requests at once: all from the cache, nothing fetched.
  const again = git.uploadPackPosts('catalog')
  const answers = await Promise.all(
    [1, 2, 3, 4].map((i) => admit(fresh, taskRunOf(`again-${i}`, [{ name: 'a', ref: gitRef('catalog', pinned, `stepactions/step-0${i}/step-0${i}.yaml`) }]))),
  )
  t.ok(
    answers.every((a) => a.allowed && stepsOf(a.object).length === 1),
    'all spliced',
  )
  t.equal(git.uploadPackPosts('catalog'), again, 'a commit is cached: no fetch at all')
})

t.test('concurrent requests for what no one has fetched yet share one fetch', async (t) => {
  const { server } = await webhook(t)
  const [commit = ''] = await git.createRepo('shared-fetch', [{ files: { 'a.yaml': stepActionYaml('a', 'img/a:1') } }])
  git.setDelay(200)
  t.teardown(() => git.setDelay(0))
  const answers = await Promise.all(
    [1, 2, 3, 4, 5, 6].map((i) => admit(server, taskRunOf(`c-${i}`, [{ name: 's', ref: gitRef('shared-fetch', commit, 'a.yaml') }]))),
  )
  t.ok(
    answers.every((a) => a.allowed && stepsOf(a.object)[0]?.image === 'img/a:1'),
    'every request spliced',
  )
  git.setDelay(0)
  // What one fetch costs, measured on a second repository with one request.
  const [other = ''] = await git.createRepo('single-fetch', [{ files: { 'a.yaml': stepActionYaml('a', 'img/a:1') } }])
  const { server: fresh } = await webhook(t)
  t.ok((await admit(fresh, taskRunOf('s', [{ name: 's', ref: gitRef('single-fetch', other, 'a.yaml') }]))).allowed)
  t.equal(git.uploadPackPosts('shared-fetch'), git.uploadPackPosts('single-fetch'), 'six requests at once fetched as one')
})

t.test('git, a branch: the commit it named is recorded and kept for the TTL, then asked again', async (t) => {
  const { server } = await webhook(t, { 'remote-ttl': '1s' })
  const [first = ''] = await git.createRepo('moving', [{ files: { 'tool.yaml': stepActionYaml('tool', 'img/tool:1') } }])
  const ref = gitRef('moving', 'main', 'tool.yaml')
  const a = await admit(server, taskRunOf('a', [{ name: 's', ref }]))
  t.equal(stepsOf(a.object)[0]?.image, 'img/tool:1')
  t.match(provenance(a.object), [{ definition: `git+${git.repoUrl('moving')}@${first}#tool.yaml`, sourceDigest: `sha1:${first}` }], 'the commit main named')
  const second = await git.advance('moving', { 'tool.yaml': stepActionYaml('tool', 'img/tool:2') })
  const posts = git.uploadPackPosts('moving')
  const b = await admit(server, taskRunOf('b', [{ name: 's', ref }]))
  t.equal(stepsOf(b.object)[0]?.image, 'img/tool:1', 'within the TTL, the branch is not asked again')
  t.equal(git.uploadPackPosts('moving'), posts, 'nothing fetched')
  await sleep(1200)
  const c = await admit(server, taskRunOf('c', [{ name: 's', ref }]))
  t.equal(stepsOf(c.object)[0]?.image, 'img/tool:2', 'after it, the new commit')
  t.match(provenance(c.object), [{ sourceDigest: `sha1:${second}` }])
})

t.test("git errors of the user's own deny; what git cannot give now is left for Tekton", async (t) => {
  const { server } = await webhook(t)
  const missing = await admit(server, taskRunOf('missing', [{ name: 's', ref: gitRef('catalog', pinned, 'stepactions/nope.yaml') }]))
  t.notOk(missing.allowed, 'a file the commit does not hold: Tekton would fail it too')
  t.match(missing.message, /spec\.taskSpec\.steps\[0\]\.ref: git resolver: error opening file "stepactions\/nope\.yaml": file does not exist/)
  t.match(missing.message, /\(step "s"\)/)

  const invalid = await admit(server, taskRunOf('invalid', [{ name: 's', ref: gitRef('catalog', pinned, 'stepactions/bad.yaml') }]))
  t.notOk(invalid.allowed, 'an invalid definition denies')
  t.match(invalid.message, /command and script cannot be used together|script.*command/i)

  const noParam = await admit(
    server,
    taskRunOf('no-path', [{ name: 's', ref: { resolver: 'git', params: [param('url', git.repoUrl('catalog')), param('revision', pinned)] } }]),
  )
  t.notOk(noParam.allowed)
  t.match(noParam.message, /missing required git resolver params: pathInRepo/)

  const link = await admit(server, taskRunOf('link', [{ name: 's', ref: gitRef('catalog', pinned, 'stepactions/link.yaml') }]))
  t.ok(link.allowed, 'a symbolic link: Tekton may read it; we do not follow it')
  t.equal(link.object, undefined, 'nothing changed')
  t.match(link.warnings, [/^spec\.taskSpec\.steps\[0\]\.ref \(step "s"\): left for Tekton to resolve: git: stepactions\/link\.yaml is behind a symbolic link/])

  const unknownRepo = await admit(server, taskRunOf('gone', [{ name: 's', ref: gitRef('no-such-repo', pinned, 'a.yaml') }]))
  t.ok(unknownRepo.allowed, 'a repository we cannot fetch from: perhaps Tekton can (credentials, network)')
  t.match(unknownRepo.warnings, [/left for Tekton to resolve: .*git/])

  const runtime = await admit(server, taskRunOf('runtime', [{ name: 's', ref: gitRef('catalog', '$(params.revision)', 'a.yaml') }]))
  t.ok(runtime.allowed)
  t.match(runtime.warnings, [/param "revision" holds \$\(params\.revision\), which has no value at admission/])
})

t.test('a remote that does not answer in time: the step is left for Tekton before the deadline, or denied when required', async (t) => {
  const { server } = await webhook(t, {}, { deadlineMs: 1500 })
  const [commit = ''] = await git.createRepo('slow', [{ files: { 'a.yaml': stepActionYaml('a', 'img/a:1') } }])
  git.setHang(true)
  t.teardown(() => git.setHang(false))
  const slow = await admit(server, taskRunOf('slow', [{ name: 's', ref: gitRef('slow', commit, 'a.yaml') }]))
  t.ok(slow.allowed, 'answered, within the deadline, not timed out')
  t.equal(slow.object, undefined)
  t.match(slow.warnings, [/spec\.taskSpec\.steps\[0\]\.ref \(step "s"\): left for Tekton to resolve: not fetched in time/])

  const { server: strict } = await webhook(t, {}, { deadlineMs: 1500, requireResolution: ['git'] })
  const denied = await admit(strict, taskRunOf('slow', [{ name: 's', ref: gitRef('slow', commit, 'a.yaml') }]))
  t.notOk(denied.allowed, '--require-resolution git')
  t.match(denied.message, /not fetched in time.*; git references must resolve at admission \(--require-resolution\)/)
  git.setHang(false)
})

t.test('http: a digest pins the body; a mismatch denies; the fetched digest is recorded', async (t) => {
  const { server } = await webhook(t)
  const body = stepActionYaml('fetched', 'img/fetched:1')
  files.put('/defs/fetched.yaml', body)
  const { createHash } = await import('node:crypto')
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
  const { server } = await webhook(t)
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
  const { server } = await webhook(t, { resolvers: 'cluster,http' })
  const hub = await admit(server, taskRunOf('hub', [{ name: 's', ref: { resolver: 'hub', params: [param('name', 'git-clone')] } }]))
  t.ok(hub.allowed)
  t.match(hub.warnings, [/left for Tekton to resolve: stepsplice does not run the "hub" resolver \(it runs cluster, http\)/])
  const off = await admit(server, taskRunOf('off', [{ name: 's', ref: gitRef('catalog', pinned, 'stepactions/step-00/step-00.yaml') }]))
  t.ok(off.allowed)
  t.match(off.warnings, [/the git resolver is switched off here \(--resolvers\)/])

  const { server: strict } = await webhook(t, { resolvers: 'none' }, { requireResolution: ['all'] })
  const denied = await admit(strict, taskRunOf('hub', [{ name: 's', ref: { resolver: 'hub', params: [param('name', 'git-clone')] } }]))
  t.notOk(denied.allowed, 'all references must resolve')
  t.match(denied.message, /hub references must resolve at admission \(--require-resolution\)/)
})

t.test('a Pod has no Tekton behind it: a reference that does not resolve is denied, one that does is spliced', async (t) => {
  const { server } = await webhook(t)
  const ok = await admit(server, podWith([{ name: 'a', ref: gitRef('catalog', pinned, 'stepactions/step-03/step-03.yaml') }]))
  t.ok(ok.allowed, ok.message)
  const containers = ((ok.object?.spec as { initContainers?: { image?: string }[] } | undefined)?.initContainers ?? []).map((c) => c.image)
  t.ok(containers.includes('registry.example/step-03:1'), 'the step is an init container from the fetched definition')
  const hub = await admit(server, podWith([{ name: 'a', ref: { resolver: 'hub', params: [param('name', 'x')] } }]))
  t.notOk(hub.allowed)
  t.match(hub.message, new RegExp(`${stepsKey.replace('.', '\\.')}.*\\[0\\]\\.ref: stepsplice does not run the "hub" resolver`))
})
