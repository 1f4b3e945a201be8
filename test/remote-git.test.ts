// Remote step definitions from git, end to end: a real git host (git
// http-backend) on loopback, the resolvers built from the flags `serve`
// parses, and the real webhook (worker threads) answering real
// AdmissionReviews over verified TLS. Pinned and moving revisions, the
// shape real catalogs use, fetches shared across requests, files past what
// one file or one fetch may read, and a remote that does not answer before
// the deadline.

import { readFileSync } from 'node:fs'
import t from 'tap'
import { BoundedCache } from '../src/remote/cache.ts'
import { GitClient, type GitFiles, gitBounds } from '../src/remote/git.ts'
import { Limiter } from '../src/remote/limiter.ts'
import { SharedFetches } from '../src/remote/shared.ts'
import { Transport } from '../src/remote/transport.ts'
import { LayeredCatalog } from '../src/resolution/layered.ts'
import { MemoryCatalog } from '../src/resolution/memory.ts'
import type { Read } from '../src/resolvers/document.ts'
import { GitResolver } from '../src/resolvers/git.ts'
import { startGitServer } from './helpers/git-server.ts'
import { admit, catalogRepo, gitRef, param, provenance, remoteWebhook, stepActionYaml, stepsOf, taskRunOf } from './helpers/remote-webhook.ts'
import { mintCerts, sleep, startTestServer, tempDir } from './helpers/server.ts'

const certs = await mintCerts(t)
const git = await startGitServer(t, { certs })
const { names, pinned } = await catalogRepo(git)
// A webhook with no flags of its own, for tests that need no empty cache: each start costs a worker thread.
const plain = await remoteWebhook(t, certs)

// What one file and one fetch may read, as `serve` bounds them (1 MiB, 16 MiB), scaled down so that files of a few
// hundred bytes reach them: one file 2000 bytes, the files one fetch reads 1500. `serve` takes no flag for them, so the
// webhook is given a git resolver built with them, as remoteResolvers builds it.
const bounds = { maxFileBytes: 2000, maxReadBytes: 1500 }
const bounded = await startTestServer(t, {
  certs,
  workers: 1,
  catalog: new LayeredCatalog([{ catalog: MemoryCatalog.of('examples', []), origin: 'examples' }], {
    resolvers: [
      new GitResolver({
        client: new GitClient({
          transport: new Transport({ extraCa: readFileSync(certs.caFile, 'utf8') }),
          cacheDir: await tempDir(t, 'stepsplice-remote-cache-'),
          timeoutMs: 10_000,
          ...gitBounds,
          ...bounds,
        }),
        files: new BoundedCache<Read>({ maxBytes: 1024 * 1024, maxEntries: 100 }),
        revisions: new BoundedCache<string>({ maxBytes: 1024 * 1024, maxEntries: 100 }),
        fetches: new SharedFetches<GitFiles>(new Limiter(8)),
        ttlMs: 60_000,
      }),
    ],
  }),
})

/** A StepAction file of exactly `bytes` bytes: its YAML, then a comment. */
function stepActionOfSize(name: string, bytes: number): string {
  const yaml = stepActionYaml(name, `img/${name}:1`)
  return `${yaml}#${'x'.repeat(bytes - Buffer.byteLength(yaml) - 2)}\n`
}

const [sized = ''] = await git.createRepo('sized', [
  {
    files: {
      // Together 1400 bytes: what one fetch reads, with no room for small.yaml after them.
      'big-1.yaml': stepActionOfSize('big-1', 700),
      'big-2.yaml': stepActionOfSize('big-2', 700),
      'small.yaml': stepActionYaml('small', 'img/small:1'),
      'huge.yaml': stepActionOfSize('huge', 2500),
      'heavy.yaml': stepActionOfSize('heavy', 1800),
    },
  },
])

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

t.test('git: a file crowded out of what one fetch reads is read alone and spliced; a file too large is left for Tekton, saying so', async (t) => {
  // The steps' files are gathered into one fetch, in the order asked: the two big ones take what it reads, the huge one
  // is past what any fetch reads and counts for nothing, and small.yaml is left out. Its step must not be left for
  // Tekton for what the other steps asked for.
  const steps = ['big-1', 'big-2', 'huge', 'small'].map((n) => ({ name: n, ref: gitRef(git, 'sized', sized, `${n}.yaml`) }))
  const answer = await admit(bounded, taskRunOf('sized', steps))
  t.ok(answer.allowed, answer.message)
  t.same(answer.warnings, ['spec.taskSpec.steps[2].ref (step "huge"): left for Tekton to resolve: git: huge.yaml is 2500 bytes, more than stepsplice reads'])
  const spliced = stepsOf(answer.object)
  t.same(
    spliced.map((s) => s.image),
    ['img/big-1:1', 'img/big-2:1', undefined, 'img/small:1'],
    'the crowded-out file spliced beside the two that took the fetch',
  )
  t.same(spliced[2]?.ref, steps[2]?.ref, 'the huge one keeps its ref, for Tekton')
  t.match(provenance(answer.object), [
    { step: 'big-1' },
    { step: 'big-2' },
    { step: 'small', definition: `git+${git.repoUrl('sized')}@${sized}#small.yaml`, sourceDigest: `sha1:${sized}` },
  ])
})

t.test('git: a file that alone is past what one fetch reads is left for Tekton, saying so', async (t) => {
  // Within what one file may be, past what one fetch reads: read alone, it still does not fit.
  const answer = await admit(bounded, taskRunOf('heavy', [{ name: 'heavy', ref: gitRef(git, 'sized', sized, 'heavy.yaml') }]))
  t.ok(answer.allowed, answer.message)
  t.equal(answer.object, undefined, 'nothing spliced')
  t.same(answer.warnings, [
    `spec.taskSpec.steps[0].ref (step "heavy"): left for Tekton to resolve: git: heavy.yaml was not read: the files read with it from ${git.repoUrl('sized')} came to 1500 bytes, what stepsplice reads at once`,
  ])
})
