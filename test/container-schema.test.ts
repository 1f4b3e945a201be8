// What stepsplice produces is checked against Kubernetes' Container schema
// before it answers (src/checks/containers.ts): a step Kubernetes or Tekton
// would refuse is a denial naming the field, the step and the definition.
// Through the real pipeline (spliceObject with a real catalog), through
// in-process admission, and once through the real server.

import t from 'tap'
import { checkContainers } from '../src/checks/containers.ts'
import { parseJson } from '../src/json/parse-json.ts'
import { integerValue } from '../src/json/raw-number.ts'
import { formatProblem } from '../src/problems/problem.ts'
import { admit } from './helpers/admit.ts'
import { catalogOf, expand, pipelineRun, stepAction, stepOf, taskRun } from './helpers/catalog.ts'
import { podWith } from './helpers/pod.ts'
import { reviewOf, startTestServer } from './helpers/server.ts'
import type { KubeObject } from '../src/types/k8s.ts'

const quantityMessage = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

const build = stepAction('build', { image: 'golang:1.25', script: 'go build ./...', params: [{ name: 'cpu', default: '1' }] })

/** A TaskRun whose one step references `build`, with `extra` fields of its own. */
function runWith(extra: Record<string, unknown>): KubeObject {
  return taskRun({ steps: [{ name: 'compile', ref: { name: 'build' }, ...extra }] })
}

t.test('a quantity Kubernetes cannot read is a denial naming the field, the step and the definition', async (t) => {
  const e = await expand(runWith({ computeResources: { requests: { cpu: 'lots', memory: '1Gi' }, limits: { memory: '2 Gi' } } }), build)
  t.equal(e.changed, false, 'not spliced')
  t.strictSame(e.problems, [
    {
      path: 'spec.taskSpec.steps[0].computeResources.limits.memory',
      message: `${quantityMessage}, not "2 Gi"`,
      step: 'compile',
      definition: 'default/build',
    },
    {
      path: 'spec.taskSpec.steps[0].computeResources.requests.cpu',
      message: `${quantityMessage}, not "lots"`,
      step: 'compile',
      definition: 'default/build',
    },
  ])
  t.equal(
    formatProblem(e.problems[1] ?? { path: '', message: '' }),
    `spec.taskSpec.steps[0].computeResources.requests.cpu: ${quantityMessage}, not "lots" (step "compile", StepAction default/build)`,
  )
})

/** An integer past 2^53, as the lossless parser keeps it. */
const big = (parseJson('{"v": 9007199254740997}') as { v: unknown }).v

t.test('quantities are read as resource.ParseQuantity reads them', async (t) => {
  // null is Kubernetes' zero; an integer past 2^53 arrives as its digits (json/raw-number.ts).
  const valid = ['100m', '1Gi', '0.5', '1', '+1', '.5', '1.', '1e3', '1E-3', '2Ki', '3M', '0', '-0', 250, 0.25, null, big]
  for (const cpu of valid) {
    const e = await expand(runWith({ computeResources: { limits: { cpu } } }), build)
    t.strictSame(e.problems, [], `${JSON.stringify(cpu)} is a quantity`)
    t.equal(e.changed, true)
  }
  // The schema's own pattern takes the SI prefixes Kubernetes does not: hecto, deca, centi.
  for (const cpu of ['lots', '1 Gi', '1h', '2da', '3c', '1e1.5', '', 'Gi', '1Gb', '1ki', true, { n: 1 }]) {
    const e = await expand(runWith({ computeResources: { limits: { cpu } } }), build)
    t.match(e.problems, [{ path: 'spec.taskSpec.steps[0].computeResources.limits.cpu', message: quantityMessage }], `${JSON.stringify(cpu)} is not`)
    t.equal(e.problems.length, 1)
  }
  for (const cpu of ['-1', '-500m', -2]) {
    const e = await expand(runWith({ computeResources: { requests: { cpu } } }), build)
    t.strictSame(
      e.problems.map((p) => [p.path, p.message]),
      [['spec.taskSpec.steps[0].computeResources.requests.cpu', `must be greater than or equal to 0, not ${JSON.stringify(cpu)}`]],
    )
  }
  const gpu = await expand(runWith({ computeResources: { limits: { 'nvidia.com/gpu': 'one' } } }), build)
  t.equal(gpu.problems[0]?.path, 'spec.taskSpec.steps[0].computeResources.limits["nvidia.com/gpu"]', 'a resource name that is not a plain word is quoted')
})

t.test("the definition's securityContext is checked against Kubernetes' types", async (t) => {
  const privileged = stepAction('privileged', {
    image: 'alpine:3',
    script: 'id',
    securityContext: { runAsUser: 'root', capabilities: { add: 'NET_ADMIN' }, seccompProfile: { type: 'Sometimes' }, privileged: true },
  })
  const e = await expand(taskRun({ steps: [{ name: 'who', ref: { name: 'privileged' } }] }), privileged)
  t.strictSame(
    e.problems.map((p) => formatProblem(p)),
    [
      'spec.taskSpec.steps[0].securityContext.capabilities.add: must be an array (step "who", StepAction default/privileged)',
      'spec.taskSpec.steps[0].securityContext.runAsUser: must be an integer (step "who", StepAction default/privileged)',
      'spec.taskSpec.steps[0].securityContext.seccompProfile.type: must be one of Localhost, RuntimeDefault, Unconfined (step "who", StepAction default/privileged)',
    ],
  )
  t.equal(e.changed, false)
})

t.test('env entries need a name; a secretKeyRef needs its key', async (t) => {
  const fromSecret = stepAction('from-secret', {
    image: 'alpine:3',
    script: 'env',
    env: [
      { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'creds' } } },
      { name: 'PLAIN', value: 'x' },
    ],
  })
  const e = await expand(taskRun({ steps: [{ ref: { name: 'from-secret' } }] }), fromSecret)
  t.strictSame(e.problems, [
    { path: 'spec.taskSpec.steps[0].env[0].valueFrom.secretKeyRef.key', message: 'missing field', step: '', definition: 'default/from-secret' },
  ])
})

t.test("Tekton's own step fields are not a Container's and pass; an unnamed step passes", async (t) => {
  const full = stepAction('full', {
    image: 'alpine:3',
    script: 'echo hi > $(step.results.out.path)',
    results: [{ name: 'out' }],
    params: [{ name: 'p', default: 'v' }],
    env: [{ name: 'P', value: '$(params.p)' }],
    volumeMounts: [{ name: '$(params.p)', mountPath: '/data' }],
  })
  const run = taskRun({
    steps: [
      {
        ref: { name: 'full' },
        timeout: '1m',
        onError: 'continue',
        stdoutConfig: { path: '/tmp/out' },
        when: [{ input: 'a', operator: 'in', values: ['a'] }],
        computeResources: { requests: { cpu: '100m', memory: '64Mi' } },
      },
    ],
  })
  const e = await expand(run, full)
  t.strictSame(e.problems, [])
  t.equal(e.changed, true)
  t.match(stepOf(e), { image: 'alpine:3', timeout: '1m', onError: 'continue', computeResources: { requests: { cpu: '100m' } } })
})

t.test('a value that still holds a variable is left for Tekton to substitute', async (t) => {
  const e = await expand(
    runWith({ computeResources: { limits: { cpu: '$(params.cpu)', memory: 'a$(params.mem)' } } }),
    stepAction('build', { image: 'golang:1.25', script: 'go build' }),
  )
  t.strictSame(e.problems, [])
  t.equal(e.changed, true)
})

t.test("only what stepsplice produced is checked: the user's own steps are the API server's business", async (t) => {
  const run = taskRun({
    steps: [
      { name: 'own', image: 'alpine:3', script: 'true', computeResources: { limits: { cpu: 'lots' } } },
      { name: 'compile', ref: { name: 'build' } },
    ],
  })
  const e = await expand(run, build)
  t.strictSame(e.problems, [])
  t.equal(e.changed, true)
})

t.test('PipelineRuns: the path is the pipeline task step', async (t) => {
  const run = pipelineRun({
    tasks: [
      { name: 'first', taskSpec: { steps: [{ name: 'a', image: 'alpine:3', script: 'true' }] } },
      {
        name: 'second',
        taskSpec: {
          steps: [
            { name: 'one', image: 'alpine', script: 'true' },
            { name: 'compile', ref: { name: 'build' }, computeResources: { limits: { memory: 'much' } } },
          ],
        },
      },
    ],
  })
  const e = await expand(run, build)
  t.strictSame(
    e.problems.map((p) => [p.path, p.step, p.definition]),
    [['spec.pipelineSpec.tasks[1].taskSpec.steps[1].computeResources.limits.memory', 'compile', 'default/build']],
  )
})

t.test('Pods: the init containers stepsplice added are checked as Containers', async (t) => {
  const catalog = catalogOf(build)
  const pod = podWith([{ name: 'compile', ref: { name: 'build' }, computeResources: { requests: { cpu: 'lots' } } }])
  const response = await admit(pod, catalog)
  t.equal(response.allowed, false)
  t.match(
    response.status?.message,
    /spec\.initContainers\[1\]\.resources\.requests\.cpu: quantities must match the regular expression .*, not "lots" \(step "compile", StepAction default\/build\)/,
  )

  const fine = await admit(podWith([{ name: 'compile', ref: { name: 'build' }, computeResources: { requests: { cpu: '250m' } } }]), catalog)
  t.equal(fine.allowed, true)
  t.type(fine.patch, 'string', 'spliced')
})

t.test('checkContainers on its own: a Pod container needs its name, a Tekton step does not', async (t) => {
  t.strictSame(checkContainers([{ path: 'spec.initContainers[0]', value: { image: 'x' }, shape: 'container', step: 's' }]), [
    { path: 'spec.initContainers[0].name', message: 'missing field', step: 's' },
  ])
  t.strictSame(checkContainers([{ path: 'spec.steps[0]', value: { image: 'x', script: 'true' }, shape: 'step' }]), [])
  t.strictSame(
    checkContainers([
      {
        path: 'spec.initContainers[0]',
        value: { name: 'c', ports: [{ containerPort: 'http' }], livenessProbe: { httpGet: { port: true } } },
        shape: 'container',
      },
    ]),
    [
      { path: 'spec.initContainers[0].livenessProbe.httpGet.port', message: 'must be an integer or a string' },
      { path: 'spec.initContainers[0].ports[0].containerPort', message: 'must be an integer' },
    ],
  )
  t.strictSame(
    checkContainers([
      {
        path: 'c',
        value: {
          name: 'c',
          env: null,
          ports: [{ containerPort: big }, { containerPort: 2 ** 31 }, { containerPort: 80.5 }],
          securityContext: { runAsUser: big },
        },
        shape: 'container',
      },
    ]),
    [
      { path: 'c.ports[0].containerPort', message: 'must be an integer of at most 32 bits' },
      { path: 'c.ports[1].containerPort', message: 'must be an integer of at most 32 bits' },
      { path: 'c.ports[2].containerPort', message: 'must be an integer' },
    ],
    'null is a zero value; an int64 past 2^53 is an int64, not an int32',
  )
  // Raw numbers hold integers past int64 too (and past any double): those are no int64.
  const past = [integerValue(2n ** 63n), integerValue(-(2n ** 63n) - 1n), integerValue(10n ** 309n)]
  t.strictSame(
    checkContainers([
      { path: 'c', value: { name: 'c', securityContext: { runAsUser: integerValue(2n ** 63n - 1n), runAsGroup: past[0] } }, shape: 'container' },
    ]),
    [{ path: 'c.securityContext.runAsGroup', message: 'must be an integer of at most 64 bits' }],
  )
  for (const n of past.slice(1)) {
    t.strictSame(
      checkContainers([{ path: 'c', value: { name: 'c', securityContext: { runAsUser: n } }, shape: 'container' }]).map((p) => p.message),
      ['must be an integer of at most 64 bits'],
      JSON.stringify(n),
    )
  }
  t.strictSame(checkContainers([{ path: 'p', value: 'text', shape: 'step', step: 'x', definition: 'd' }]), [
    { path: 'p', message: 'must be an object', step: 'x', definition: 'd' },
  ])
  const many = { name: 'c', env: Array.from({ length: 30 }, () => ({ value: 'v' })) }
  const bounded = checkContainers([{ path: 'c', value: many, shape: 'container' }])
  t.equal(bounded.length, 21, 'at most 20 problems a container, and a count of the rest')
  t.equal(bounded.at(-1)?.message, 'and 10 more problems')
})

t.test('through the real server: a TaskRun with cpu: lots is denied with the field named', async (t) => {
  const server = await startTestServer(t, { catalog: catalogOf(build) })
  const reply = await server.review('/mutate', reviewOf(runWith({ computeResources: { requests: { cpu: 'lots' } } })))
  t.equal(reply.status, 200)
  t.equal(reply.body.response.allowed, false)
  t.equal(reply.body.response.status?.code, 422)
  t.match(
    reply.body.response.status?.message,
    `spec.taskSpec.steps[0].computeResources.requests.cpu: ${quantityMessage}, not "lots" (step "compile", StepAction default/build)`,
  )
})
