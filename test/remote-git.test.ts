// Remote step definitions from git, end to end: a real git host (git
// http-backend) on loopback, the resolvers built from the flags `serve`
// parses, and the real webhook (worker threads) answering real
// AdmissionReviews over verified TLS. Pinned and moving revisions, the
// shape real catalogs use, fetches shared across requests, and a remote
// that does not answer before the deadline.

import t from 'tap'
import { startGitServer } from './helpers/git-server.ts'
import { admit, catalogRepo, gitRef, param, provenance, remoteWebhook, stepActionYaml, stepsOf, taskRunOf } from './helpers/remote-webhook.ts'
import { mintCerts, sleep } from './helpers/server.ts'

const certs = await mintCerts(t)
const git = await startGitServer(t, { certs })
const { names, pinned } = await catalogRepo(git)
// A webhook with no flags of its own, for tests that need no empty cache: each start costs a worker thread.
const plain = await remoteWebhook(t, certs)

t.test('git, pinned to a commit: spliced, its source recorded, fetched once however many steps and requests', async (t) => {
  const server = plain
  const before = git.uploadPackPosts('catalog')
  const one = await admit(server, taskRunOf('one', [{ name: 'a', ref: gitRef(git, 'catalog', pinned, 'stepactions/step-00/step-00.yaml') }]))
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
  const fresh = await remoteWebhook(t, certs)
  const manyBefore = git.uploadPackPosts('catalog')
  const many = await admit(
    fresh,
    taskRunOf(
      'many',
      names.slice(1).map((n) => ({ name: n, ref: gitRef(git, 'catalog', pinned, `stepactions/${n}/${n}.yaml`), params: [param('target', n)] })),
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
    [1, 2, 3, 4].map((i) =>
      admit(fresh, taskRunOf(`again-${i}`, [{ name: 'a', ref: gitRef(git, 'catalog', pinned, `stepactions/step-0${i}/step-0${i}.yaml`) }])),
    ),
  )
  t.ok(
    answers.every((a) => a.allowed && stepsOf(a.object).length === 1),
    'all spliced',
  )
  t.equal(git.uploadPackPosts('catalog'), again, 'a commit is cached: no fetch at all')
})

t.test('concurrent requests for what no one has fetched yet share one fetch', async (t) => {
  // Two worker threads: their questions meet on the server's thread, where the fetches are shared.
  const server = await remoteWebhook(t, certs, {}, { workers: 2 })
  const [commit = ''] = await git.createRepo('shared-fetch', [{ files: { 'a.yaml': stepActionYaml('a', 'img/a:1') } }])
  git.setDelay(200)
  t.teardown(() => git.setDelay(0))
  const answers = await Promise.all(
    [1, 2, 3, 4, 5, 6].map((i) => admit(server, taskRunOf(`c-${i}`, [{ name: 's', ref: gitRef(git, 'shared-fetch', commit, 'a.yaml') }]))),
  )
  t.ok(
    answers.every((a) => a.allowed && stepsOf(a.object)[0]?.image === 'img/a:1'),
    'every request spliced',
  )
  git.setDelay(0)
  // What one fetch costs, measured on a second repository with one request.
  const [other = ''] = await git.createRepo('single-fetch', [{ files: { 'a.yaml': stepActionYaml('a', 'img/a:1') } }])
  const fresh = plain
  t.ok((await admit(fresh, taskRunOf('s', [{ name: 's', ref: gitRef(git, 'single-fetch', other, 'a.yaml') }]))).allowed)
  t.equal(git.uploadPackPosts('shared-fetch'), git.uploadPackPosts('single-fetch'), 'six requests at once fetched as one')
})

t.test('git, a branch: the commit it named is recorded and kept for the TTL, then asked again', async (t) => {
  // Long enough that a loaded machine (git commits, the whole suite in parallel) stays within it between the first two requests.
  const ttlMs = 3000
  const server = await remoteWebhook(t, certs, { 'remote-ttl': `${ttlMs}ms` })
  const [first = ''] = await git.createRepo('moving', [{ files: { 'tool.yaml': stepActionYaml('tool', 'img/tool:1') } }])
  const ref = gitRef(git, 'moving', 'main', 'tool.yaml')
  const a = await admit(server, taskRunOf('a', [{ name: 's', ref }]))
  // The branch's commit is kept for the TTL from when it was fetched, which is before this.
  const fetchedBy = Date.now()
  t.equal(stepsOf(a.object)[0]?.image, 'img/tool:1')
  t.match(provenance(a.object), [{ definition: `git+${git.repoUrl('moving')}@${first}#tool.yaml`, sourceDigest: `sha1:${first}` }], 'the commit main named')
  const second = await git.advance('moving', { 'tool.yaml': stepActionYaml('tool', 'img/tool:2') })
  const posts = git.uploadPackPosts('moving')
  const b = await admit(server, taskRunOf('b', [{ name: 's', ref }]))
  t.equal(stepsOf(b.object)[0]?.image, 'img/tool:1', 'within the TTL, the branch is not asked again')
  t.equal(git.uploadPackPosts('moving'), posts, 'nothing fetched')
  await sleep(Math.max(0, fetchedBy + ttlMs + 100 - Date.now()))
  const c = await admit(server, taskRunOf('c', [{ name: 's', ref }]))
  t.equal(stepsOf(c.object)[0]?.image, 'img/tool:2', 'after it, the new commit')
  t.match(provenance(c.object), [{ sourceDigest: `sha1:${second}` }])
})

t.test('a remote that does not answer in time: the step is left for Tekton before the deadline, or denied when required', async (t) => {
  const server = await remoteWebhook(t, certs, {}, { deadlineMs: 1000 })
  const [commit = ''] = await git.createRepo('slow', [{ files: { 'a.yaml': stepActionYaml('a', 'img/a:1') } }])
  git.setHang(true)
  t.teardown(() => git.setHang(false))
  const slow = await admit(server, taskRunOf('slow', [{ name: 's', ref: gitRef(git, 'slow', commit, 'a.yaml') }]))
  t.ok(slow.allowed, 'answered, within the deadline, not timed out')
  t.equal(slow.object, undefined)
  t.match(slow.warnings, [/spec\.taskSpec\.steps\[0\]\.ref \(step "s"\): left for Tekton to resolve: not fetched in time/])

  const strict = await remoteWebhook(t, certs, {}, { deadlineMs: 1000, requireResolution: ['git'] })
  const denied = await admit(strict, taskRunOf('slow', [{ name: 's', ref: gitRef(git, 'slow', commit, 'a.yaml') }]))
  t.notOk(denied.allowed, '--require-resolution git')
  t.match(denied.message, /not fetched in time.*; git references must resolve at admission \(--require-resolution\)/)
  git.setHang(false)
})
