// What operators see: health endpoints, Prometheus metrics, and one
// structured log line per admission that never copies the object.

import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { parseDocuments } from '../src/json/documents.ts'
import type { KubeObject } from '../src/types/k8s.ts'
import { reviewOf, root, sample, startTestServer } from './helpers/server.ts'

const example = JSON.parse(await readFile(join(root, 'examples/admission/taskrun-review.json'), 'utf8')) as {
  request: Record<string, unknown> & { uid: string; object: KubeObject }
}
const pipelineRun = parseDocuments(await readFile(join(root, 'examples/taskruns/image-pipeline.yaml'), 'utf8'), 'image-pipeline.yaml')
  .documents[0] as KubeObject

const denied: KubeObject = {
  apiVersion: 'tekton.dev/v1',
  kind: 'TaskRun',
  metadata: { name: 'denied-run', namespace: 'team-b' },
  spec: { taskSpec: { steps: [{ name: 'x', image: 'busybox', params: [{ name: 'a', value: 'b' }] }] } },
}

// Health probes log nothing and count nothing, so the log test reuses their server.
const probed = await startTestServer(t)

t.test('health endpoints', async (t) => {
  const server = probed
  const healthz = await server.request('/healthz')
  t.equal(healthz.status, 200)
  t.same(JSON.parse(healthz.text), { status: 'ok' })
  const readyz = await server.request('/readyz')
  t.equal(readyz.status, 200)
  t.same(JSON.parse(readyz.text), { status: 'ready' })
  t.equal(server.logs.admissionLines().length, 0, 'probes are not admissions')
})

t.test('metrics count requests, durations, denials, expanded steps and the catalog', async (t) => {
  const server = await startTestServer(t)
  const first = await server.request('/metrics')
  t.equal(first.status, 200)
  t.match(first.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.equal(sample(first.text, 'stepsplice_catalog_definitions'), 5, 'catalog size: the five example StepActions')
  t.equal(sample(first.text, 'stepsplice_expanded_steps_total', { resource: 'taskruns' }), undefined, 'nothing expanded yet')

  t.equal((await server.review('/mutate', example)).body.response.allowed, true)
  t.equal((await server.review('/mutate', example)).body.response.allowed, true)
  t.equal((await server.review('/mutate', reviewOf(pipelineRun))).body.response.allowed, true)
  t.equal((await server.review('/mutate', reviewOf(denied))).body.response.allowed, false)

  const m = await server.metrics()
  const taskruns = { endpoint: 'mutate', resource: 'taskruns' }
  t.equal(sample(m, 'stepsplice_admission_requests_total', { ...taskruns, outcome: 'patched' }), 2)
  t.equal(sample(m, 'stepsplice_admission_requests_total', { ...taskruns, outcome: 'denied' }), 1)
  t.equal(sample(m, 'stepsplice_admission_requests_total', { endpoint: 'mutate', resource: 'pipelineruns', outcome: 'patched' }), 1)
  t.equal(sample(m, 'stepsplice_admission_duration_seconds_count', { ...taskruns, outcome: 'patched' }), 2, 'duration histogram observed')
  t.equal(sample(m, 'stepsplice_admission_duration_seconds_bucket', { ...taskruns, outcome: 'patched', le: '+Inf' }), 2)
  t.ok((sample(m, 'stepsplice_admission_duration_seconds_sum', { ...taskruns, outcome: 'patched' }) ?? -1) > 0, 'durations summed')
  t.equal(sample(m, 'stepsplice_admission_denials_total', taskruns), 1)
  t.equal(sample(m, 'stepsplice_admission_denials_total', { endpoint: 'mutate', resource: 'pipelineruns' }), undefined, 'no pipelinerun denials')
  t.equal(sample(m, 'stepsplice_expanded_steps_total', { resource: 'taskruns' }), 6, 'three ref steps, twice')
  t.equal(sample(m, 'stepsplice_expanded_steps_total', { resource: 'pipelineruns' }), 3, 'clone, build, notify')
  t.equal(sample(m, 'stepsplice_catalog_definitions'), 5)
  t.match(m, /# TYPE stepsplice_admission_deadline_exceeded_total counter/, 'deadline counter exported')
})

t.test('exactly one admission log line per request, with its facts and without the object', async (t) => {
  const server = probed
  const dry = structuredClone(example)
  dry.request.uid = 'dry-uid'
  dry.request.dryRun = true
  const requests: { path: '/mutate' | '/validate'; review: unknown; expect: Record<string, unknown> }[] = [
    {
      path: '/mutate',
      review: example,
      expect: {
        uid: example.request.uid,
        kind: 'TaskRun',
        namespace: 'default',
        name: 'build-*',
        operation: 'CREATE',
        dryRun: false,
        outcome: 'patched',
        expandedSteps: 3,
      },
    },
    {
      path: '/mutate',
      review: dry,
      expect: {
        uid: 'dry-uid',
        kind: 'TaskRun',
        namespace: 'default',
        name: 'build-*',
        operation: 'CREATE',
        dryRun: true,
        outcome: 'patched',
        expandedSteps: 3,
      },
    },
    {
      path: '/mutate',
      review: reviewOf(pipelineRun, { uid: 'pr-uid' }),
      expect: {
        uid: 'pr-uid',
        kind: 'PipelineRun',
        namespace: 'default',
        name: 'image-pipeline',
        operation: 'CREATE',
        dryRun: false,
        outcome: 'patched',
        expandedSteps: 3,
      },
    },
    {
      path: '/mutate',
      review: reviewOf(denied, { uid: 'deny-uid' }),
      expect: {
        uid: 'deny-uid',
        kind: 'TaskRun',
        namespace: 'team-b',
        name: 'denied-run',
        operation: 'CREATE',
        dryRun: false,
        outcome: 'denied',
        expandedSteps: 0,
      },
    },
    {
      path: '/mutate',
      review: reviewOf(denied, { uid: 'del-uid', operation: 'DELETE', name: 'denied-run' }),
      expect: {
        uid: 'del-uid',
        kind: 'TaskRun',
        namespace: 'team-b',
        name: 'denied-run',
        operation: 'DELETE',
        dryRun: false,
        outcome: 'skipped',
        expandedSteps: 0,
      },
    },
    {
      path: '/validate',
      review: reviewOf(
        {
          apiVersion: 'tekton.dev/v1beta1',
          kind: 'StepAction',
          metadata: { name: 'sa', namespace: 'default' },
          spec: { image: 'alpine:3.22', script: 'true' },
        },
        { uid: 'sa-uid', kind: { group: 'tekton.dev', version: 'v1beta1', kind: 'StepAction' } },
      ),
      expect: { uid: 'sa-uid', kind: 'StepAction', namespace: 'default', name: 'sa', operation: 'CREATE', dryRun: false, outcome: 'valid', expandedSteps: 0 },
    },
  ]
  for (const [i, r] of requests.entries()) {
    await server.review(r.path, r.review)
    const lines = server.logs.admissionLines()
    t.equal(lines.length, i + 1, `one more admission line after request ${i + 1}`)
    const line = lines.at(-1) ?? {}
    t.match(line, { ...r.expect, level: 30, endpoint: r.path.slice(1) }, `fields of ${r.expect.uid}`)
    t.type(line.durationMs, 'number', 'durationMs is a number')
    t.ok((line.durationMs as number) >= 0, 'durationMs is not negative')
    t.type(line.reqId, 'string', 'carries the request id')
    // Nothing else: not the uid a second time, nor the metrics' resource label.
    const keys = ['level', 'time', 'service', 'reqId', 'endpoint', 'uid', 'kind', 'namespace', 'name', 'operation', 'dryRun']
    t.same(Object.keys(line), [...keys, 'outcome', 'allowed', 'durationMs', 'expandedSteps', 'msg'], `the fields of ${r.expect.uid}'s line, in order`)
  }
  const text = server.logs.text()
  // (Not the bare word "image": the PipelineRun is called image-pipeline.)
  for (const leak of [
    'spec',
    '"image"',
    'taskSpec',
    'tektoncd/pipeline',
    'registry.example.com',
    'git-clone',
    'busybox',
    'userInfo',
    'developer@example.com',
  ]) {
    t.notOk(text.includes(leak), `logs never contain ${JSON.stringify(leak)}`)
  }
})
