// Variables left after params are applied: result paths become files on the
// stepsplice-results emptyDir; reading a result's value or any other Tekton
// variable needs Tekton and is refused, saying why; Kubernetes' own $(VAR)
// and shell $(…) are left alone.

import t from 'tap'
import type { KubeObject } from '../../src/types/k8s.ts'
import { stepAction } from '../helpers/catalog.ts'
import { catalogWith, containerNamed, decodedScripts, lines, podWith, specOf, splice, volumesOf } from '../helpers/pod.ts'

/** Uses its own results in every field that can hold them. */
const own = stepAction('own', {
  image: 'busybox:1.37',
  results: [{ name: 'out' }, { name: 'meta' }],
  command: ['sh', '-c', 'date > "$1"', '--'],
  args: ['$(step.results.out.path)'],
  env: [
    { name: 'META', value: '$(step.results.meta.path)' },
    { name: 'HOME_DIR', value: '$(HOME)/x' },
  ],
  workingDir: '/tmp',
})

/** A script reading both spellings Tekton accepts for a step's own result. */
const scripted = stepAction('scripted', {
  image: 'busybox:1.37',
  results: [{ name: 'sha' }],
  script: 'echo "$(cat /etc/hostname)" > $(results.sha.path)\ncp $(step.results.sha.path) /tmp/copy\n',
})

/** Refers to a result it does not declare. */
const undeclared = stepAction('undeclared', { image: 'busybox:1.37', results: [{ name: 'out' }], args: ['$(step.results.other.path)'] })

/** Tekton-only variables, one per env var. */
const tektonOnly = stepAction('tekton-only', {
  image: 'busybox:1.37',
  env: [
    { name: 'W', value: '$(workspaces.source.path)' },
    { name: 'C', value: '$(context.taskRun.name)' },
    { name: 'T', value: '$(tasks.build.results.image)' },
    { name: 'F', value: '$(finally.x)' },
  ],
})

const catalog = catalogWith(own, scripted, undeclared, tektonOnly)

const resultsMount = { name: 'stepsplice-results', mountPath: '/stepsplice/results' }
const resultsMountRO = { ...resultsMount, readOnly: true }

async function spliced(pod: KubeObject): Promise<KubeObject> {
  const e = await splice(pod, catalog)
  if (e.problems.length > 0) throw new Error(lines(e).join('\n'))
  return e.object
}

t.test("a step's own result paths, in args, env and script", async (t) => {
  const out = await spliced(
    podWith([
      { name: 'o', ref: { name: 'own' } },
      { name: 's', ref: { name: 'scripted' } },
    ]),
  )
  const o = containerNamed(out, 'step-o')
  t.same(o.args, ['/stepsplice/results/o/out'])
  t.same(
    o.env,
    [
      { name: 'META', value: '/stepsplice/results/o/meta' },
      { name: 'HOME_DIR', value: '$(HOME)/x' },
    ],
    "Kubernetes' $(HOME) left alone",
  )
  t.same(o.command, ['sh', '-c', 'date > "$1"', '--'])
  const scripts = decodedScripts(containerNamed(out, 'stepsplice-prepare'))
  t.equal(
    scripts.STEPSPLICE_SCRIPT_S,
    '#!/bin/sh\nset -e\necho "$(cat /etc/hostname)" > /stepsplice/results/s/sha\ncp /stepsplice/results/s/sha /tmp/copy\n',
    'both spellings rewritten; shell $(…) untouched',
  )
  t.same(o.volumeMounts, [resultsMount, { name: 'stepsplice-workspace', mountPath: '/workspace' }], 'the step mounts results read-write')
  t.same(
    volumesOf(out).find((v) => v.name === 'stepsplice-results'),
    { name: 'stepsplice-results', emptyDir: {} },
  )
})

t.test('a result the StepAction does not declare is refused', async (t) => {
  const e = await splice(podWith([{ name: 'u', ref: { name: 'undeclared' } }]), catalog)
  t.equal(e.changed, false)
  t.same(lines(e), [
    'metadata.annotations["stepsplice.dev/steps"][0]: $(step.results.other.path) names result "other", which the StepAction does not declare (step "u", StepAction default/undeclared)',
  ])
})

t.test("an earlier step's result path passed as a param", async (t) => {
  const out = await spliced(
    podWith([
      { name: 'w', ref: { name: 'writer' }, params: [{ name: 'value', value: 'v' }] },
      { name: 'r', ref: { name: 'reader' }, params: [{ name: 'file', value: '$(steps.w.results.out.path)' }] },
      { name: 'e', ref: { name: 'echo' }, params: [{ name: 'msg', value: 'see $(steps.w.results.extra.path)' }] },
    ]),
  )
  t.same(containerNamed(out, 'step-e').args, ['see /stepsplice/results/w/extra'], 'inside a longer value too')
  const r = containerNamed(out, 'step-r')
  t.same(r.args, ['/stepsplice/results/w/out'])
  t.same(r.env, [{ name: 'FILE', value: '/stepsplice/results/w/out' }])
  t.same(r.volumeMounts?.[0], resultsMount, 'a step without results still mounts them, to read earlier ones')
})

t.test('result paths of later, unknown or undeclared results are refused', async (t) => {
  const e = await splice(
    podWith([
      { name: 'r', ref: { name: 'reader' }, params: [{ name: 'file', value: '$(steps.w.results.out.path)' }] },
      { name: 'w', ref: { name: 'writer' }, params: [{ name: 'value', value: 'v' }] },
      { name: 'x', ref: { name: 'reader' }, params: [{ name: 'file', value: '$(steps.w.results.nope.path)' }] },
      { name: 'y', ref: { name: 'reader' }, params: [{ name: 'file', value: '$(steps.ghost.results.out.path)' }] },
      { name: 'z', ref: { name: 'reader' }, params: [{ name: 'file', value: '$(steps.z.results.out.path)' }] },
    ]),
    catalog,
  )
  t.equal(e.changed, false)
  const found = lines(e)
  const param = (i: number): string => `metadata.annotations["stepsplice.dev/steps"][${i}].params[0].value`
  t.same(
    found,
    [
      `${param(0)}: $(steps.w.results.out.path): step "w" is not an earlier step of this Pod (step "r", StepAction default/reader)`,
      `${param(2)}: $(steps.w.results.nope.path): step "w" declares no result "nope" (step "x", StepAction default/reader)`,
      `${param(3)}: $(steps.ghost.results.out.path): step "ghost" is not an earlier step of this Pod (step "y", StepAction default/reader)`,
      `${param(4)}: $(steps.z.results.out.path): step "z" is not an earlier step of this Pod (step "z", StepAction default/reader)`,
    ],
    'each named once, at the param value that wrote it, though the definition uses it in args and env',
  )
})

t.test("reading a result's value is refused, pointing at the .path form", async (t) => {
  const e = await splice(
    podWith([
      { name: 'w', ref: { name: 'writer' }, params: [{ name: 'value', value: 'v' }] },
      { name: 'e', ref: { name: 'echo' }, params: [{ name: 'msg', value: 'commit $(steps.w.results.out)' }] },
    ]),
    catalog,
  )
  t.equal(e.changed, false)
  t.same(lines(e), [
    'metadata.annotations["stepsplice.dev/steps"][1].params[0].value: $(steps.w.results.out) needs Tekton\'s entrypoint to read the value; read the file at $(steps.w.results.out.path) instead (step "e", StepAction default/echo)',
  ])
  const whole = await splice(
    podWith([
      { name: 'w', ref: { name: 'writer' }, params: [{ name: 'value', value: 'v' }] },
      { name: 'r', ref: { name: 'reader' }, params: [{ name: 'file', value: '$(steps.w.results.out)' }] },
    ]),
    catalog,
  )
  t.equal(whole.problems.length, 1, 'a whole-value param reference too, used in args and env: one mistake, said once')
  t.match(lines(whole)[0], /^metadata\.annotations\["stepsplice\.dev\/steps"\]\[1\]\.params\[0\]\.value: /)
  t.ok(lines(whole).every((l) => l.includes('read the file at $(steps.w.results.out.path) instead')))
})

t.test('Tekton-only variables are refused, each named', async (t) => {
  const e = await splice(podWith([{ name: 't', ref: { name: 'tekton-only' } }]), catalog)
  t.equal(e.changed, false)
  const at = 'metadata.annotations["stepsplice.dev/steps"][0]'
  const ctx = '(step "t", StepAction default/tekton-only)'
  t.same(lines(e), [
    `${at}: $(workspaces.source.path) is a Tekton variable and has no value in a Pod ${ctx}`,
    `${at}: $(context.taskRun.name) is a Tekton variable and has no value in a Pod ${ctx}`,
    `${at}: $(tasks.build.results.image) is a Tekton variable and has no value in a Pod ${ctx}`,
    `${at}: $(finally.x) is a Tekton variable and has no value in a Pod ${ctx}`,
  ])
})

t.test('a param reference nothing can fill is refused', async (t) => {
  const e = await splice(podWith([{ name: 'e', ref: { name: 'echo' }, params: [{ name: 'msg', value: '$(params.other)' }] }]), catalog)
  t.same(lines(e), [
    'metadata.annotations["stepsplice.dev/steps"][0].params[0].value: $(params.other) has no value: the StepAction declares no such param or key, so nothing can fill it in (step "e", StepAction default/echo)',
  ])
})

t.test('an object param key with no value is refused, not left for nobody to fill', async (t) => {
  const endpoint = stepAction('endpoint', {
    image: 'busybox:1.37',
    params: [{ name: 'endpoint', type: 'object', properties: { url: {}, method: {} }, default: { method: 'GET' } }],
    args: ['$(params.endpoint.method)', '$(params.endpoint.url)'],
  })
  const e = await splice(podWith([{ name: 'o', ref: { name: 'endpoint' } }]), catalogWith(endpoint))
  t.equal(e.changed, false)
  t.equal(e.problems.length, 1)
  // The key is declared: what is missing is its value, said as the key the param needs.
  t.match(e.problems[0], {
    path: 'metadata.annotations["stepsplice.dev/steps"][0].params',
    step: 'o',
    definition: 'default/endpoint',
    message: /^missing keys for these params which are required in ParamSpec's properties map\[endpoint:\[url\]\]; endpoint needs url$/,
  })
  const given = await splice(
    podWith([{ name: 'o', ref: { name: 'endpoint' }, params: [{ name: 'endpoint', value: { url: 'https://x' } }] }]),
    catalogWith(endpoint),
  )
  t.same(containerNamed(given.object, 'step-o').args, ['GET', 'https://x'])
})

t.test("the Pod's own containers read results by path, mounted read-only", async (t) => {
  const spec = {
    containers: [
      {
        name: 'main',
        image: 'busybox:1.37',
        command: ['sh', '-c', 'cat $(steps.w.results.out.path)'],
        args: ['$(steps.w.results.extra.path)', '$(steps.other.results.x.path)', '$(MY_VAR)'],
        env: [
          { name: 'OUT', value: '$(steps.w.results.out.path)' },
          { name: 'FROM', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        ],
      },
    ],
  }
  const out = await spliced(podWith([{ name: 'w', ref: { name: 'writer' }, params: [{ name: 'value', value: 'v' }] }], { spec }))
  const main = containerNamed(out, 'main')
  t.same(main.command, ['sh', '-c', 'cat /stepsplice/results/w/out'])
  t.same(main.args, ['/stepsplice/results/w/extra', '$(steps.other.results.x.path)', '$(MY_VAR)'], 'not one of our steps: left for Kubernetes')
  t.same(main.env, [
    { name: 'OUT', value: '/stepsplice/results/w/out' },
    { name: 'FROM', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  ])
  t.same(main.volumeMounts, [{ name: 'stepsplice-workspace', mountPath: '/workspace' }, resultsMountRO])
})

t.test("the Pod's own containers: a step's result value or an undeclared result is refused", async (t) => {
  const steps = [
    { name: 'w', ref: { name: 'writer' }, params: [{ name: 'value', value: 'v' }] },
    { name: 'hi', ref: { name: 'echo' } },
  ]
  const spec = {
    containers: [
      { name: 'ok', image: 'busybox:1.37', command: ['cat', '$(steps.w.results.out.path)'] },
      {
        name: 'main',
        image: 'busybox:1.37',
        command: ['echo', '$(steps.w.results.out)'],
        args: ['$(steps.w.results.typo.path)'],
        env: [{ name: 'X', value: '$(steps.hi.results.x.path)' }],
      },
    ],
  }
  const e = await splice(podWith(steps, { spec }), catalog)
  t.equal(e.changed, false, 'refused: left literal, these would run with the text instead of a path')
  t.same(lines(e), [
    "spec.containers[1].command[1]: $(steps.w.results.out) needs Tekton's entrypoint to read the value; read the file at $(steps.w.results.out.path) instead",
    'spec.containers[1].args[0]: $(steps.w.results.typo.path): step "w" declares no result "typo"',
    'spec.containers[1].env[0].value: $(steps.hi.results.x.path): step "hi" declares no result "x"',
  ])
})

t.test("the Pod's own containers: Tekton-looking text that is not about our steps is theirs", async (t) => {
  const spec = { containers: [{ name: 'main', image: 'busybox:1.37', args: ['$(workspaces.x.path)', '$(params.y)', '$(steps.elsewhere.results.z)'] }] }
  const out = await spliced(podWith([{ name: 'hi', ref: { name: 'echo' } }], { spec }))
  t.same(containerNamed(out, 'main').args, ['$(workspaces.x.path)', '$(params.y)', '$(steps.elsewhere.results.z)'])
})

t.test('no results anywhere: no results volume and no results mounts', async (t) => {
  const out = await spliced(
    podWith([
      { name: 'hi', ref: { name: 'echo' } },
      { name: 'c', ref: { name: 'echo' } },
    ]),
  )
  t.notMatch(JSON.stringify(specOf(out)), /stepsplice-results|\/stepsplice\/results/)
  t.same(
    volumesOf(out).map((v) => v.name),
    ['stepsplice-workspace'],
  )
})

t.test('results with the workspace off', async (t) => {
  const out = await spliced(
    podWith([{ name: 'w', ref: { name: 'writer' }, params: [{ name: 'value', value: 'v' }] }], { annotations: { 'stepsplice.dev/workspace': 'none' } }),
  )
  t.same(containerNamed(out, 'step-w').volumeMounts, [{ name: 'stepsplice-scripts', mountPath: '/stepsplice/scripts', readOnly: true }, resultsMount])
  t.same(containerNamed(out, 'main').volumeMounts, [resultsMountRO])
  t.same(
    volumesOf(out).map((v) => v.name),
    ['stepsplice-results', 'stepsplice-scripts'],
  )
})
