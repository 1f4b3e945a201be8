// Step policies on the path every caller takes: the real webhook (a worker
// thread) with policies loaded from files, and `render --policy` with the
// same files giving the same verdict. Enforce denies with every violation
// named; Audit admits with warnings; a policy of another namespace does not
// apply.

import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { main } from '../src/cli/main.ts'
import { loadPolicyFlags } from '../src/cli/policy-flags.ts'
import type { KubeObject } from '../src/types/k8s.ts'
import { captureIO } from './helpers/cli.ts'
import { applyEncodedPatch, exampleCatalogDir, reviewOf, root, sample, startTestServer } from './helpers/server.ts'

const dir = await mkdtemp(join(tmpdir(), 'stepsplice-policy-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))

const enforce = join(dir, 'enforce.yaml')
await writeFile(
  enforce,
  `apiVersion: stepsplice.dev/v1alpha1
kind: StepPolicy
metadata: {name: registry-only, namespace: team-a}
spec:
  images:
    allow: ["registry.example.com/**"]
  inlineSteps: Deny
`,
)
const audit = join(dir, 'audit.yaml')
await writeFile(
  audit,
  `apiVersion: stepsplice.dev/v1alpha1
kind: ClusterStepPolicy
metadata: {name: pinned-images}
spec:
  mode: Audit
  images:
    requireDigest: true
`,
)

function taskRun(namespace: string, steps: unknown[]): KubeObject {
  return { apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { name: 'run', namespace }, spec: { taskSpec: { steps } } }
}
const inline = { name: 'inline', image: 'docker.io/library/busybox:1.37', script: 'true' }
const spliced = { name: 'build', ref: { name: 'go-build' }, params: [{ name: 'packages', value: './...' }] }

const policies = await loadPolicyFlags([dir])
const tektonController = 'system:serviceaccount:tekton-pipelines:tekton-pipelines-controller'
const server = await startTestServer(t, { ...(policies === undefined ? {} : { policies }), tektonControllers: [tektonController] })

async function render(object: KubeObject): Promise<{ code: number; out: string; err: string }> {
  const file = join(dir, `object-${Math.random().toString(36).slice(2)}.json`)
  await writeFile(file, JSON.stringify(object))
  const io = captureIO()
  const code = await main(['render', '--catalog', exampleCatalogDir, '--policy', enforce, '--policy', audit, '-f', file, '-o', 'json'], io)
  return { code, out: io.out, err: io.err }
}

t.test('Enforce denies, naming every violation; render gives the same verdict', async (t) => {
  const object = taskRun('team-a', [spliced, inline])
  const reply = await server.review('/mutate', reviewOf(object))
  const r = reply.body.response
  t.equal(r.allowed, false)
  const message = r.status?.message ?? ''
  t.match(message, /policy StepPolicy team-a\/registry-only: images\.allow: .*docker\.io\/library\/busybox:1\.37/)
  t.match(message, /policy StepPolicy team-a\/registry-only: inlineSteps: /)
  const rendered = await render(object)
  t.equal(rendered.code, 1)
  t.match(rendered.err, /images\.allow/)
  t.match(rendered.err, /inlineSteps/)
})

t.test('Audit admits, with the violations as warnings; policies of other namespaces do not apply', async (t) => {
  const object = taskRun('team-b', [spliced, inline])
  const reply = await server.review('/mutate', reviewOf(object))
  const r = reply.body.response
  t.equal(r.allowed, true, 'team-a’s Enforce policy is not team-b’s')
  t.ok(r.patch, 'still expanded')
  t.match(r.warnings, [
    /^policy ClusterStepPolicy pinned-images \(Audit\): spec\.taskSpec\.steps\[0\]: images\.requireDigest: image golang:1\.25 is not pinned by digest/,
    /^policy ClusterStepPolicy pinned-images \(Audit\): spec\.taskSpec\.steps\[1\]: images\.requireDigest: image docker\.io\/library\/busybox:1\.37/,
  ])
  const rendered = await render(object)
  t.equal(rendered.code, 0)
  t.match(rendered.err, /Warning: TaskRun team-b\/run: policy ClusterStepPolicy pinned-images \(Audit\): spec\.taskSpec\.steps\[0\]: images\.requireDigest/)
  t.equal(JSON.stringify(applyEncodedPatch(object, r.patch ?? '')), JSON.stringify(JSON.parse(rendered.out)), 'render prints what admission admits')
})

t.test('the README’s example: examples/policies on examples/taskruns/build.yaml', async (t) => {
  const io = captureIO()
  const code = await main(
    ['render', '--catalog', exampleCatalogDir, '--policy', join(root, 'examples/policies'), '-f', join(root, 'examples/taskruns/build.yaml')],
    io,
  )
  t.equal(code, 1)
  t.match(io.err, /Warning: TaskRun default\/build-\*: policy ClusterStepPolicy pinned-images \(Audit\): spec\.taskSpec\.steps\[0\]: images\.requireDigest/)
  t.match(io.err, /error: TaskRun default\/build-\*: spec\.taskSpec\.steps\[3\]: policy ClusterStepPolicy catalog-steps-only: inlineSteps: /)
  t.notMatch(io.err, /sources\.allow/, 'every spliced step comes from the catalog')
})

t.test('an invalid policy file stops render with every error', async (t) => {
  const bad = join(dir, 'bad')
  await rm(bad, { recursive: true, force: true })
  const { mkdir } = await import('node:fs/promises')
  await mkdir(bad)
  await writeFile(
    join(bad, 'p.yaml'),
    'apiVersion: stepsplice.dev/v1alpha1\nkind: StepPolicy\nmetadata: {name: x}\nspec: {mode: Sometimes, images: {allow: [""]}}\n',
  )
  const io = captureIO('{}')
  const code = await main(['render', '--catalog', exampleCatalogDir, '--policy', bad, '-f', '-'], io)
  t.equal(code, 2)
  t.match(io.err, /invalid policy/)
  t.match(io.err, /mode/)
  t.match(io.err, /namespace/)
})

t.test('/validate refuses an invalid policy object with every error, and admits a valid one', async (t) => {
  const bad: KubeObject = {
    apiVersion: 'stepsplice.dev/v1alpha1',
    kind: 'StepPolicy',
    metadata: { name: 'loose', namespace: 'team-a' },
    spec: { mode: 'Sometimes', images: { allow: ['registry example/**'] }, namespaceSelector: { matchLabels: { a: 'b' } } },
  }
  const reply = await server.review('/validate', reviewOf(bad))
  const r = reply.body.response
  t.equal(r.allowed, false)
  t.equal(r.status?.code, 422)
  const lines = (r.status?.message ?? '').split('\n')
  t.ok(lines.length >= 3, 'one line per problem')
  t.ok(
    lines.every((l) => l.startsWith('StepPolicy team-a/loose: ')),
    'each names the object',
  )
  t.match(r.status?.message, /mode/)
  t.match(r.status?.message, /whitespace/)
  t.match(r.status?.message, /namespaceSelector/)

  const good: KubeObject = { ...bad, spec: { images: { allow: ['registry.example.com/**'] } } }
  t.equal((await server.review('/validate', reviewOf(good))).body.response.allowed, true)
})

t.test('the policies in force are listed in /metrics, with what each evaluated and found, by rule and mode', async (t) => {
  const before = await server.metrics()
  t.equal(sample(before, 'stepsplice_policies', { policy: 'StepPolicy team-a/registry-only', kind: 'StepPolicy', mode: 'Enforce', state: 'active' }), 1)
  t.equal(sample(before, 'stepsplice_policies', { policy: 'ClusterStepPolicy pinned-images', kind: 'ClusterStepPolicy', mode: 'Audit', state: 'active' }), 1)
  const count = (m: string, name: string, labels: Record<string, string>): number => sample(m, name, labels) ?? 0
  const enforce = { policy: 'StepPolicy team-a/registry-only' }
  const audit = { policy: 'ClusterStepPolicy pinned-images' }
  // team-a: both policies judge it; one inline step breaks two Enforce rules, and two unpinned images the Audit one.
  t.equal((await server.review('/mutate', reviewOf(taskRun('team-a', [spliced, inline])))).body.response.allowed, false)
  // team-b: only the ClusterStepPolicy governs it.
  t.equal((await server.review('/mutate', reviewOf(taskRun('team-b', [spliced])))).body.response.allowed, true)
  const after = await server.metrics()
  const delta = (name: string, labels: Record<string, string>): number => count(after, name, labels) - count(before, name, labels)
  t.equal(delta('stepsplice_policy_evaluations_total', enforce), 1, 'the StepPolicy judged team-a’s run only')
  t.equal(delta('stepsplice_policy_evaluations_total', audit), 2, 'the ClusterStepPolicy judged both')
  t.equal(delta('stepsplice_policy_violations_total', { ...enforce, rule: 'images.allow', mode: 'Enforce' }), 2, 'golang and busybox')
  t.equal(delta('stepsplice_policy_violations_total', { ...enforce, rule: 'inlineSteps', mode: 'Enforce' }), 1)
  t.equal(delta('stepsplice_policy_violations_total', { ...audit, rule: 'images.requireDigest', mode: 'Audit' }), 3)
})

t.test('an update may not change a run’s provenance annotation (/validate)', async (t) => {
  const run = taskRun('team-a', [inline])
  const stored = { ...run, metadata: { ...run.metadata, annotations: { 'stepsplice.dev/resolved': '[]' } } }
  const forged = { ...run, metadata: { ...run.metadata, annotations: { 'stepsplice.dev/resolved': '[{"path":"spec.taskSpec.steps[0]"}]' } } }
  const update = (object: KubeObject, old: KubeObject) => {
    const review = reviewOf(object, { operation: 'UPDATE' })
    return { ...review, request: { ...(review.request as object), oldObject: old } }
  }
  const refused = (await server.review('/validate', update(forged, stored))).body.response
  t.equal(refused.allowed, false)
  t.match(refused.status?.message, /^TaskRun team-a\/run: metadata\.annotations\["stepsplice\.dev\/resolved"\]: written by stepsplice when the run was created/)
  t.equal((await server.review('/validate', update(stored, stored))).body.response.allowed, true, 'an update that leaves it alone is admitted')
})

t.test('a Pod’s UPDATE is judged by the images it changes, and never patched', async (t) => {
  const pod = (app: string, sidecar = 'registry.example.com/proxy:1'): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'team-a' },
    spec: {
      initContainers: [{ name: 'init', image: 'registry.example.com/init:1' }],
      containers: [
        { name: 'app', image: app, securityContext: { privileged: true } },
        { name: 'proxy', image: sidecar },
      ],
    },
  })
  const update = (object: KubeObject, old: KubeObject) => {
    const review = reviewOf(object, { operation: 'UPDATE' })
    return { ...review, request: { ...(review.request as object), oldObject: old } }
  }
  // `kubectl set image`: the app's image moves to a registry the policy does not allow.
  const stored = pod('registry.example.com/app:1')
  const denied = (await server.review('/mutate', update(pod('docker.io/library/nginx:1'), stored))).body.response
  t.equal(denied.allowed, false)
  t.match(
    denied.status?.message,
    /^Pod team-a\/web: spec\.containers\[0\]: policy StepPolicy team-a\/registry-only: images\.allow: image docker\.io\/library\/nginx:1 is not allowed/,
  )
  t.notMatch(denied.status?.message, /privileged|proxy|init/, 'only the image it changes, only its images rules')
  t.notOk(denied.patch)

  // An image the policy allows; the Audit policy (digests) says what it would refuse, of the changed image only.
  const allowed = (await server.review('/mutate', update(pod('registry.example.com/app:2'), stored))).body.response
  t.equal(allowed.allowed, true)
  t.notOk(allowed.patch, 'never patched: a Pod’s containers cannot change but for their images')
  t.match(allowed.warnings, [/ClusterStepPolicy pinned-images \(Audit\): spec\.containers\[0\]: images\.requireDigest: image registry\.example\.com\/app:2/])
  t.equal(allowed.warnings?.length, 1)

  // What it ran before the policy came is not judged again when something else changes (a label, say).
  const before = pod('docker.io/library/nginx:1')
  const relabelled = { ...before, metadata: { ...before.metadata, labels: { tier: 'web' } } }
  const same = (await server.review('/mutate', update(relabelled, before))).body.response
  t.equal(same.allowed, true)
  t.notOk(same.warnings)
})

t.test('a Pod’s UPDATE may not change the image of a step stepsplice spliced, under a policy of sources or required steps', async (t) => {
  const own = await mkdtemp(join(tmpdir(), 'stepsplice-policy-'))
  t.teardown(() => rm(own, { recursive: true, force: true }))
  await writeFile(
    join(own, 'sources.yaml'),
    `apiVersion: stepsplice.dev/v1alpha1
kind: StepPolicy
metadata: {name: catalog-only, namespace: team-c}
spec:
  sources:
    allow: ["directory:**"]
`,
  )
  const loaded = await loadPolicyFlags([own])
  const guarded = await startTestServer(t, loaded === undefined ? {} : { policies: loaded })
  const steps = JSON.stringify([{ name: 'build', ref: { name: 'go-build' }, params: [{ name: 'packages', value: './...' }] }])
  const created = await guarded.review(
    '/mutate',
    reviewOf({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'team-c', annotations: { 'stepsplice.dev/steps': steps } },
      spec: { containers: [{ name: 'app', image: 'registry.example.com/app:1' }] },
    }),
  )
  t.equal(created.body.response.allowed, true, created.body.response.status?.message ?? '')
  const stored = applyEncodedPatch(
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'team-c', annotations: { 'stepsplice.dev/steps': steps } },
      spec: { containers: [{ name: 'app', image: 'registry.example.com/app:1' }] },
    },
    created.body.response.patch ?? '',
  ) as KubeObject
  const spec = stored.spec as { initContainers: { name: string; image: string }[]; containers: { name: string; image: string }[] }
  t.ok(
    spec.initContainers.some((c) => c.name === 'step-build'),
    'step-build spliced',
  )
  const update = (object: KubeObject) => {
    const review = reviewOf(object, { operation: 'UPDATE' })
    return { ...review, request: { ...(review.request as object), oldObject: stored } }
  }
  const swapped = structuredClone(stored)
  const swappedSpec = swapped.spec as typeof spec
  for (const c of swappedSpec.initContainers) if (c.name === 'step-build') c.image = 'evil.example.com/miner:1'
  // The annotation dropped in the same update changes nothing: the Pod as stored says what was spliced.
  delete (swapped.metadata as { annotations?: unknown }).annotations
  const denied = (await guarded.review('/mutate', update(swapped))).body.response
  t.equal(denied.allowed, false)
  t.match(
    denied.status?.message,
    /policy StepPolicy team-c\/catalog-only: sources: the image of step-build, which stepsplice spliced for step "build", cannot change/,
  )
  // Two updates: the first drops the annotation (no image changes, so the webhook is not even called), the second
  // swaps the image. The stored Pod's step containers, which cannot be renamed, are the record.
  const unannotated = structuredClone(stored)
  delete (unannotated.metadata as { annotations?: unknown }).annotations
  const swappedLater = structuredClone(unannotated)
  for (const c of (swappedLater.spec as typeof spec).initContainers) if (c.name === 'step-build') c.image = 'evil.example.com/miner:1'
  const later = swappedLater
  const reviewLater = reviewOf(later, { operation: 'UPDATE' })
  const deniedLater = (await guarded.review('/mutate', { ...reviewLater, request: { ...(reviewLater.request as object), oldObject: unannotated } })).body
    .response
  t.equal(deniedLater.allowed, false, 'denied after the annotation was dropped by an earlier update')
  t.match(deniedLater.status?.message, /sources: the image of step-build, which stepsplice spliced for step "build", cannot change/)
  const appOnly = structuredClone(stored)
  for (const c of (appOnly.spec as typeof spec).containers) c.image = 'registry.example.com/app:2'
  t.equal((await guarded.review('/mutate', update(appOnly))).body.response.allowed, true, 'the Pod’s own container may change image')
})

t.test('a TaskRun the Tekton controller creates for a PipelineRun is judged with the provenance stepsplice recorded for it', async (t) => {
  // team-a's StepPolicy denies inline steps. The PipelineRun's task is spliced at its admission; Tekton then
  // creates the TaskRun with the task spec (pipeline params filled in) and the PipelineRun's annotations.
  const pr: KubeObject = {
    apiVersion: 'tekton.dev/v1',
    kind: 'PipelineRun',
    metadata: { name: 'pr', namespace: 'team-a' },
    spec: {
      params: [{ name: 'pkgs', value: './cmd/...' }],
      pipelineSpec: {
        params: [{ name: 'pkgs' }],
        tasks: [
          { name: 'build', taskSpec: { steps: [{ name: 'build', ref: { name: 'go-build' }, params: [{ name: 'packages', value: '$(params.pkgs)' }] }] } },
        ],
      },
    },
  }
  const admitted = (await server.review('/mutate', reviewOf(pr))).body.response
  t.equal(admitted.allowed, false, 'the registry-only policy of team-a denies golang, but not for being inline')
  t.notMatch(admitted.status?.message, /inlineSteps/)
  const expanded = applyEncodedPatch(
    pr,
    (await server.review('/mutate', reviewOf({ ...pr, metadata: { ...pr.metadata, namespace: 'team-b' } }))).body.response.patch ?? '',
  ) as KubeObject
  const task = (expanded.spec as { pipelineSpec: { tasks: { taskSpec: unknown }[] } }).pipelineSpec.tasks[0]?.taskSpec
  const child: KubeObject = {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: {
      name: 'pr-build',
      namespace: 'team-a',
      labels: { 'tekton.dev/pipelineTask': 'build' },
      annotations: { ...expanded.metadata?.annotations },
      ownerReferences: [{ apiVersion: 'tekton.dev/v1', kind: 'PipelineRun', name: 'pr', uid: 'u', controller: true }],
    },
    spec: { taskSpec: JSON.parse(JSON.stringify(task).replaceAll('$(params.pkgs)', './cmd/...')) },
  }
  const as = (username: string) => {
    const review = reviewOf(child)
    return { ...review, request: { ...(review.request as object), userInfo: { username } } }
  }
  const byTekton = (await server.review('/mutate', as(tektonController))).body.response
  t.notMatch(byTekton.status?.message ?? '', /inlineSteps/, 'created by the controller: the build step is the definition’s')
  t.match(byTekton.status?.message, /images\.allow/, 'and still judged for its image')
  const byUser = (await server.review('/mutate', as('alice'))).body.response
  t.match(byUser.status?.message, /inlineSteps/, 'the same object from a user: nothing vouches for the step')
})
