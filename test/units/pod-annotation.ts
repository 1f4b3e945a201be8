// The `stepsplice.dev/steps` annotation: YAML or JSON, and every error names
// the step (when it has a name) and the exact field, so a Pod author fixes all
// of them in one round.

import t from 'tap'
import { stringify } from 'yaml'
import { parseStepsAnnotation } from '../../src/pods/annotation.ts'
import type { Problem } from '../../src/problems/problem.ts'
import { catalogWith, lines, podWith, splice } from '../helpers/pod.ts'

const base = 'metadata.annotations["stepsplice.dev/steps"]'

function problemsOf(text: string): Problem[] {
  const parsed = parseStepsAnnotation(text)
  if (!('problems' in parsed)) throw new Error(`expected problems, got steps ${JSON.stringify(parsed.steps)}`)
  return parsed.problems
}

t.test('YAML and JSON give the same steps, every allowed field kept', async (t) => {
  const yaml = `- name: clone
  ref: {name: git-clone}
  params:
    - {name: url, value: "https://example.com/r.git"}
    - {name: flags, value: ["-a", "-b"]}
    - {name: endpoint, value: {url: "https://x", method: PUT}}
  computeResources:
    requests: {cpu: "1"}
  envFrom:
    - configMapRef: {name: cfg}
  imagePullPolicy: IfNotPresent
  securityContext: {runAsNonRoot: true}
- name: build
  ref: {name: go-build}
`
  const json = JSON.stringify([
    {
      name: 'clone',
      ref: { name: 'git-clone' },
      params: [
        { name: 'url', value: 'https://example.com/r.git' },
        { name: 'flags', value: ['-a', '-b'] },
        { name: 'endpoint', value: { url: 'https://x', method: 'PUT' } },
      ],
      computeResources: { requests: { cpu: '1' } },
      envFrom: [{ configMapRef: { name: 'cfg' } }],
      imagePullPolicy: 'IfNotPresent',
      securityContext: { runAsNonRoot: true },
    },
    { name: 'build', ref: { name: 'go-build' } },
  ])
  const fromYaml = parseStepsAnnotation(yaml)
  const fromJson = parseStepsAnnotation(json)
  t.same(fromYaml, fromJson, 'same result from YAML and JSON')
  t.notOk('problems' in fromYaml, 'parsed without problems')
  if ('problems' in fromYaml || fromYaml.steps === undefined) return
  t.equal(fromYaml.steps.length, 2)
  t.same(fromYaml.steps[0], JSON.parse(json)[0], 'every field kept as written')
})

t.test('a step without a name or without a ref', async (t) => {
  t.same(problemsOf('- ref: {name: echo}'), [{ path: `${base}[0].name`, message: 'missing field' }], 'nameless: the field, by index')
  t.same(problemsOf('- name: a'), [{ path: `${base}[0].ref`, message: 'missing field', step: 'a' }])
  t.same(problemsOf('- name: a\n  ref: {}'), [{ path: `${base}[0].ref.name`, message: 'missing field(s): name', step: 'a' }], 'a ref without a name')
  t.same(problemsOf('- name: 5\n  ref: {name: echo}'), [{ path: `${base}[0].name`, message: 'must be string' }])
})

t.test('a name that is not a DNS label, too long or empty', async (t) => {
  t.same(problemsOf('- name: Build_It\n  ref: {name: e}'), [
    { path: `${base}[0].name`, message: 'must be a lowercase RFC 1123 label (letters, digits and "-")', step: 'Build_It' },
  ])
  t.same(problemsOf('- name: -lead\n  ref: {name: e}')[0], {
    path: `${base}[0].name`,
    message: 'must be a lowercase RFC 1123 label (letters, digits and "-")',
    step: '-lead',
  })
  // step-<name> must fit the 63 characters of a container name.
  const long = 'a'.repeat(59)
  t.same(problemsOf(`- name: ${long}\n  ref: {name: e}`), [{ path: `${base}[0].name`, message: 'must NOT have more than 58 characters', step: long }])
  t.notOk('problems' in parseStepsAnnotation(`- name: ${'a'.repeat(58)}\n  ref: {name: e}`), '58 characters are fine')
  const empty = problemsOf('- name: ""\n  ref: {name: e}')
  t.ok(empty.length > 0)
  t.ok(
    empty.every((p) => p.path === `${base}[0].name` && p.step === ''),
    'an empty name is the name field of step ""',
  )
})

t.test('duplicate step names are refused at the later step', async (t) => {
  t.same(problemsOf('- {name: a, ref: {name: e}}\n- {name: b, ref: {name: e}}\n- {name: a, ref: {name: f}}'), [
    { path: `${base}[2].name`, message: 'duplicate step name "a"', step: 'a' },
  ])
})

t.test('unknown fields are named', async (t) => {
  t.same(problemsOf('- name: a\n  ref: {name: e}\n  colour: blue'), [{ path: `${base}[0].colour`, message: 'unknown field', step: 'a' }])
  t.same(problemsOf('- name: a\n  ref: {name: e, colour: red}'), [{ path: `${base}[0].ref.colour`, message: 'unknown field', step: 'a' }])
  t.same(problemsOf('- name: a\n  ref: {name: e}\n  params: [{name: x, value: v, extra: 1}]'), [
    { path: `${base}[0].params[0].extra`, message: 'unknown field', step: 'a' },
  ])
})

t.test('uses (a whole Task, TaskGroups) says it is for TaskRuns and PipelineRuns', async (t) => {
  t.same(problemsOf('- name: build\n  uses: {taskRef: {name: kaniko}}'), [
    { path: `${base}[0].ref`, message: 'missing field', step: 'build' },
    {
      path: `${base}[0].uses`,
      message: 'uses (a whole Task as steps) is for TaskRuns and PipelineRuns: a Pod runs step definitions by ref',
      step: 'build',
    },
  ])
})

t.test("Tekton-only fields say they need Tekton's entrypoint", async (t) => {
  const fields: Record<string, string> = {
    timeout: '10m',
    onError: 'continue',
    when: '[{input: a, operator: in, values: [a]}]',
    stdoutConfig: '{path: /tmp/out}',
    stderrConfig: '{path: /tmp/err}',
    workspaces: '[{name: src}]',
  }
  for (const [field, value] of Object.entries(fields)) {
    t.same(
      problemsOf(`- name: s\n  ref: {name: e}\n  ${field}: ${value}`),
      [{ path: `${base}[0].${field}`, message: `${field} needs Tekton's entrypoint and cannot be used in a Pod`, step: 's' }],
      field,
    )
  }
})

t.test('fields the StepAction provides are refused next to ref', async (t) => {
  const fields: Record<string, string> = {
    image: 'alpine',
    command: '[echo]',
    args: '[hi]',
    script: 'echo hi',
    workingDir: /* a path */ '/src',
    env: '[{name: A, value: b}]',
    volumeMounts: '[{name: v, mountPath: /v}]',
    results: '[{name: r}]',
  }
  for (const [field, value] of Object.entries(fields)) {
    t.same(
      problemsOf(`- name: s\n  ref: {name: e}\n  ${field}: ${value}`),
      [{ path: `${base}[0].${field}`, message: `${field} cannot be used with Ref: the StepAction provides it`, step: 's' }],
      field,
    )
  }
})

t.test('param values must be a string, a list of strings or a map of strings', async (t) => {
  const text = `- name: a
  ref: {name: e}
  params:
    - {name: number, value: 3}
    - {name: numbers, value: [1, 2]}
    - {name: map, value: {k: 1}}
    - {name: missing}
    - {name: flag, value: yes}
    - {name: ok, value: fine}
    - {name: nested, value: [[a]]}
`
  const values = (i: number) => ({ path: `${base}[0].params[${i}].value`, message: 'must be a string, a list of strings or a map of strings', step: 'a' })
  // YAML 1.2: `yes` is the string "yes", not a boolean.
  t.same(problemsOf(text), [values(0), values(1), values(2), { path: `${base}[0].params[3].value`, message: 'missing field', step: 'a' }, values(6)])
  t.same(problemsOf('- name: a\n  ref: {name: e}\n  params: {x: "1"}'), [{ path: `${base}[0].params`, message: 'must be array', step: 'a' }])
  t.same(problemsOf('- name: a\n  ref: {name: e}\n  params: [{name: "", value: v}]')[0]?.path, `${base}[0].params[0].name`)
})

t.test('other field types are checked', async (t) => {
  t.same(problemsOf('- name: a\n  ref: {name: e}\n  imagePullPolicy: Sometimes'), [
    { path: `${base}[0].imagePullPolicy`, message: 'must be one of Always, IfNotPresent, Never', step: 'a' },
  ])
  t.same(problemsOf('- name: a\n  ref: {name: e}\n  computeResources: 4'), [{ path: `${base}[0].computeResources`, message: 'must be object', step: 'a' }])
  t.same(problemsOf('- name: a\n  ref: {name: e}\n  envFrom: {configMapRef: {name: c}}'), [{ path: `${base}[0].envFrom`, message: 'must be array', step: 'a' }])
  t.same(problemsOf('- name: a\n  ref: {name: e}\n  securityContext: []'), [{ path: `${base}[0].securityContext`, message: 'must be object', step: 'a' }])
})

t.test('the annotation must be a list', async (t) => {
  for (const text of ['{name: a, ref: {name: e}}', '"a string"', '', 'null', '42']) {
    t.same(problemsOf(text), [{ path: base, message: 'must be a list of steps' }], JSON.stringify(text))
  }
  t.same(problemsOf('[1]'), [{ path: `${base}[0]`, message: 'must be object' }], 'a list of something else')
})

t.test('YAML and JSON syntax errors', async (t) => {
  const yaml = problemsOf('- name: [unclosed')
  t.equal(yaml.length, 1)
  t.equal(yaml[0]?.path, base)
  t.match(yaml[0]?.message, /^not valid YAML or JSON: .*line 1/)
  const json = problemsOf('[{"name": "a", "ref": {"name": "e"}')
  t.match(json[0]?.message, /^not valid YAML or JSON: /)
  const dup = problemsOf('- name: a\n  name: b\n  ref: {name: e}')
  t.match(dup[0]?.message, /^not valid YAML or JSON: Map keys must be unique/, 'duplicate keys are an error, not last-wins')
})

t.test('every problem of every step is reported at once', async (t) => {
  const found = problemsOf(`- name: a
  ref: {name: e}
  timeout: 1m
- name: Bad
  ref: {name: e}
- name: c
  ref: {name: e}
  image: alpine
  params: [{name: p, value: 1}]
`)
  t.same(
    found.map((p) => `${p.path} ${p.step}`).sort(),
    [`${base}[0].timeout a`, `${base}[1].name Bad`, `${base}[2].image c`, `${base}[2].params[0].value c`].sort(),
  )
})

t.test('shape problems do not hide duplicate names or empty refs', async (t) => {
  t.same(problemsOf('- {name: a, ref: {name: e}, timeout: 1m}\n- {name: b, ref: {}}\n- {name: a, ref: {name: f}}\n- 7\n- {name: c, ref: nope}'), [
    { path: `${base}[0].timeout`, message: "timeout needs Tekton's entrypoint and cannot be used in a Pod", step: 'a' },
    { path: `${base}[3]`, message: 'must be object' },
    { path: `${base}[4].ref`, message: 'must be object', step: 'c' },
    { path: `${base}[1].ref.name`, message: 'missing field(s): name', step: 'b' },
    { path: `${base}[2].name`, message: 'duplicate step name "a"', step: 'a' },
  ])
})

t.test('through the splice: problems carry the template path and the step, and nothing changes', async (t) => {
  const job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'j', namespace: 'default' },
    spec: { template: podWith('- name: a\n  ref: {name: echo}\n  onError: continue\n') },
  }
  const e = await splice(job, catalogWith(), { includeWorkloads: true })
  t.equal(e.changed, false)
  t.equal(e.object, job, 'the object itself comes back')
  t.same(lines(e), [
    `spec.template.metadata.annotations["stepsplice.dev/steps"][0].onError: onError needs Tekton's entrypoint and cannot be used in a Pod (step "a")`,
  ])
  const pod = podWith('- name: a\n  ref: {name: echo}\n  onError: continue\n')
  t.same(lines(await splice(pod, catalogWith())), [
    `metadata.annotations["stepsplice.dev/steps"][0].onError: onError needs Tekton's entrypoint and cannot be used in a Pod (step "a")`,
  ])
})

t.test('the annotation as JSON reads as its YAML reading does: values, exact integers, duplicate keys', async (t) => {
  const steps = [
    {
      name: 'build',
      ref: { name: 'go-build' },
      params: [
        { name: 'n', value: '12345678901234567890' },
        { name: 'o', value: { a: 'b' } },
      ],
    },
    {
      name: 'say',
      image: 'busybox',
      script: 'echo "hi"\nls\t-l',
      env: [{ name: 'BIG', value: '1' }],
      timeout: '1m',
      nested: [1, 2.5, true, null],
    },
  ]
  const json = JSON.stringify(steps)
  t.equal(JSON.stringify(parseStepsAnnotation(json)), JSON.stringify(parseStepsAnnotation(stringify(steps))), 'the same steps, the same problems')
  const big = '[{"name": "a", "ref": {"name": "go-build"}, "securityContext": {"runAsUser": 9223372036854775807}}]'
  const bigYaml = '- name: a\n  ref: {name: go-build}\n  securityContext: {runAsUser: 9223372036854775807}\n'
  t.equal(JSON.stringify(parseStepsAnnotation(big)), JSON.stringify(parseStepsAnnotation(bigYaml)))
  t.match(JSON.stringify(parseStepsAnnotation(big)), /"runAsUser":9223372036854775807/, 'an integer past 2^53 keeps its digits')
  const twice = '[{"name": "a", "image": "x", "image": "y"}]'
  t.match(
    parseStepsAnnotation(twice),
    { problems: [{ message: /not valid YAML or JSON: Map keys must be unique/ }] },
    'a key named twice is refused, as YAML refuses it',
  )
  const spelled = '[{"name": "a", "im\\u0061ge": "x", "image": "y"}]'
  t.match(parseStepsAnnotation(spelled), { problems: [{ message: /Map keys must be unique/ }] }, 'however it is spelled')
  t.same(parseStepsAnnotation('  [ {"name":"a","ref":{"name":"go-build"}} ]'), parseStepsAnnotation('- name: a\n  ref:\n    name: go-build\n'))
})
