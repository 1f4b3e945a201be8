// Step policies, pure: loading (every problem at once), globs (adversarial
// patterns too), each rule in both modes for a TaskRun, a PipelineRun and a
// Pod, several policies together, namespace selectors, the bound on
// violations, and the CRDs' schemas agreeing with the loader's.

import { readFile } from 'node:fs/promises'
import { Ajv } from 'ajv'
import t from 'tap'
import { parse } from 'yaml'
import { evaluatePolicies, maxViolations, policiesFor, verdict } from '../src/policy/evaluate.ts'
import { compileGlob } from '../src/policy/glob.ts'
import { closeObjects, readPolicies, stepPolicySchema, stepPolicySpecSchema, validatePolicyObject } from '../src/policy/load.ts'
import type { LoadedPolicy, PolicyInput, StepPolicySpec } from '../src/policy/types.ts'
import type { KubeObject } from '../src/types/k8s.ts'

const gv = 'stepsplice.dev/v1alpha1'
const digest = 'a'.repeat(64)

function policy(spec: StepPolicySpec, options: { name?: string; namespace?: string; cluster?: boolean } = {}): LoadedPolicy {
  const { policies, problems } = readPolicies(
    [
      {
        apiVersion: gv,
        kind: options.cluster === true ? 'ClusterStepPolicy' : 'StepPolicy',
        metadata: { name: options.name ?? 'p', ...(options.cluster === true ? {} : { namespace: options.namespace ?? 'team-a' }) },
        spec,
      },
    ],
    '',
  )
  if (problems.length > 0 || policies[0] === undefined) throw new Error(problems.join('\n'))
  return policies[0]
}

const taskRun = (steps: unknown[], extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'tekton.dev/v1',
  kind: 'TaskRun',
  metadata: { name: 'r', namespace: 'team-a' },
  spec: { taskSpec: { steps }, ...extra },
})

const entry = (path: string, step: string, definition: string, source = 'cluster', sourceDigest?: string): PolicyInput['expanded'][number] => ({
  path,
  step,
  definition,
  source,
  ...(sourceDigest === undefined ? {} : { sourceDigest }),
})

const run = (policies: LoadedPolicy[], object: KubeObject, expanded: PolicyInput['expanded'] = []) =>
  evaluatePolicies(policies, { object, namespace: 'team-a', expanded })

t.test('loading reports every problem of every document at once, naming the object and field', async (t) => {
  const { policies, problems } = readPolicies(
    [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ignored' } },
      {
        apiVersion: gv,
        kind: 'StepPolicy',
        metadata: { name: 'x', namespace: 'team-a' },
        spec: {
          mode: 'Warn',
          images: { allow: ['', 'a b', 'ok/**', 'nul\0x'], requireDigest: 'yes' },
          imagez: {},
          namespaceSelector: { matchLabels: { a: 'b' } },
          securityContext: { privileged: 'Allow' },
        },
      },
      { apiVersion: gv, kind: 'StepPolicy', metadata: { name: 'nons' }, spec: { images: { deny: ['x y'] } } },
      {
        apiVersion: gv,
        kind: 'ClusterStepPolicy',
        metadata: { name: 'c', namespace: 'team-a' },
        spec: {
          namespaceSelector: {
            matchExpressions: [
              { key: 'a', operator: 'In' },
              { key: 'b', operator: 'Exists', values: ['x'] },
            ],
          },
        },
      },
      {
        apiVersion: gv,
        kind: 'ClusterStepPolicy',
        metadata: { name: 'badop' },
        spec: { namespaceSelector: { matchExpressions: [{ key: 'a', operator: 'Equals' }] } },
      },
      { apiVersion: 'stepsplice.dev/v1', kind: 'StepPolicy', metadata: { name: 'old', namespace: 'n' }, spec: {} },
      { apiVersion: gv, kind: 'ClusterStepPolicy', metadata: { name: 'good' }, spec: { mode: 'Audit' } },
      { apiVersion: gv, kind: 'ClusterStepPolicy', metadata: { name: 'good' }, spec: {} },
    ],
    'policies.yaml',
  )
  t.strictSame(policies, [{ id: 'ClusterStepPolicy good', kind: 'ClusterStepPolicy', mode: 'Audit', spec: { mode: 'Audit' } }])
  t.strictSame(problems.sort(), [
    'policies.yaml: ClusterStepPolicy badop: spec.namespaceSelector.matchExpressions[0].operator: must be one of "In", "NotIn", "Exists", "DoesNotExist", not "Equals"',
    'policies.yaml: ClusterStepPolicy c: metadata.namespace: a ClusterStepPolicy is cluster-scoped: remove it',
    'policies.yaml: ClusterStepPolicy c: spec.namespaceSelector.matchExpressions[0].values: In needs at least one value',
    'policies.yaml: ClusterStepPolicy c: spec.namespaceSelector.matchExpressions[1].values: Exists takes no values',
    'policies.yaml: ClusterStepPolicy good: defined more than once',
    'policies.yaml: StepPolicy n/old: apiVersion: "stepsplice.dev/v1" is not served: use stepsplice.dev/v1alpha1',
    'policies.yaml: StepPolicy nons: metadata.namespace: a StepPolicy governs one namespace: set it',
    'policies.yaml: StepPolicy nons: spec.images.deny[0]: a pattern must not contain whitespace',
    'policies.yaml: StepPolicy team-a/x: spec.images.allow[0]: must NOT have fewer than 1 characters',
    'policies.yaml: StepPolicy team-a/x: spec.images.allow[1]: a pattern must not contain whitespace',
    'policies.yaml: StepPolicy team-a/x: spec.images.allow[3]: a pattern must not contain a NUL character',
    'policies.yaml: StepPolicy team-a/x: spec.images.requireDigest: must be boolean',
    'policies.yaml: StepPolicy team-a/x: spec.imagez: unknown field',
    'policies.yaml: StepPolicy team-a/x: spec.mode: must be one of "Enforce", "Audit", not "Warn"',
    'policies.yaml: StepPolicy team-a/x: spec.namespaceSelector: only a ClusterStepPolicy selects namespaces; a StepPolicy governs its own',
    'policies.yaml: StepPolicy team-a/x: spec.securityContext.privileged: must be one of "Deny", not "Allow"',
  ])
  const fixed = validatePolicyObject({
    apiVersion: gv,
    kind: 'StepPolicy',
    metadata: { name: 'x', namespace: 'team-a' },
    spec: { images: { allow: ['a b', 'ok/**', 'nul\0x'] }, namespaceSelector: {} },
  })
  t.strictSame(fixed, [
    'spec.namespaceSelector: only a ClusterStepPolicy selects namespaces; a StepPolicy governs its own',
    'spec.images.allow[0]: a pattern must not contain whitespace',
    'spec.images.allow[2]: a pattern must not contain a NUL character',
  ])
  t.strictSame(validatePolicyObject({ apiVersion: gv, kind: 'StepPolicy', metadata: { name: 'x', namespace: 'a' }, spec: {} }), [])
  t.equal(policy({}).mode, 'Enforce', 'mode defaults to Enforce')
  t.equal(policy({}, { namespace: 'team-b', name: 'only' }).id, 'StepPolicy team-b/only')
})

t.test('globs: * within a segment, ** across, the rest literal', async (t) => {
  const cases: [string, string, boolean][] = [
    ['registry.example.com/**', 'registry.example.com/a/b:1', true],
    ['registry.example.com/**', 'registry.example.com.evil.io/a', false],
    ['registry.example.com/*', 'registry.example.com/a/b', false],
    ['registry.example.com/*', 'registry.example.com/a:1', true],
    ['a.c', 'abc', false],
    ['a+c(x)?', 'a+c(x)?', true],
    ['a+c(x)?', 'aac(x)', false],
    ['*', '', true],
    ['**', 'x/y/z', true],
    ['a/***/b', 'a/x/y/b', true],
    ['cluster:platform/*', 'cluster:platform/build', true],
    ['cluster:platform/*', 'cluster:platform-evil/build', false],
    ['*:platform/*', 'directory:platform/x', true],
    ['x*y*z', 'xaaybbz', true],
    ['x*y*z', 'xaaybb/z', false],
    ['x**y*z', 'xa/a/ybbz', true],
  ]
  for (const [pattern, text, want] of cases) t.equal(compileGlob(pattern)(text), want, `${pattern} ~ ${text}`)
  t.throws(() => compileGlob(''), /empty/)
  t.throws(() => compileGlob('a\tb'), /whitespace/)

  // Adversarial: a backtracking matcher needs exponential or high-polynomial time here; this one reads the text once.
  const evil = `${'*a'.repeat(200)}*b`
  const evilDouble = `${'**a'.repeat(200)}**b`
  const text = 'a'.repeat(20000)
  t.equal(compileGlob(evil)(text), false)
  t.equal(compileGlob(evilDouble)(text), false)
  t.equal(compileGlob(evilDouble)(`${text}b`), true)
  t.equal(compileGlob(evil)(`${'a'.repeat(300)}/b`), false, '* does not cross /')
})

t.test('sources.deny judges every spelling of a source: either case, a git repository with or without .git and trailing slashes', async (t) => {
  const commit = 'c'.repeat(40)
  const sources = [
    `git+https://github.com/evil/tools@${commit}#s.yaml`,
    `git+https://github.com/evil/tools.git@${commit}#s.yaml`,
    `git+https://github.com/evil/tools/@${commit}#s.yaml`,
    `git+https://github.com/evil/tools.git//@${commit}#s.yaml`,
    `git+https://github.com/EVIL/Tools.GIT@${commit}#s.yaml`,
    `git+https://github.com/evil/toolsmith@${commit}#s.yaml`,
    `git+https://github.com/evil/tools.github@${commit}#s.yaml`,
  ]
  const object = taskRun(sources.map((_, i) => ({ name: `s${i}`, image: 'r.io/x:1' })))
  const expanded = sources.map((source, i) => entry(`spec.taskSpec.steps[${i}]`, `s${i}`, source, 'git', `sha1:${commit}`))
  const denied = (deny: string[]): string[] => run([policy({ sources: { deny } })], object, expanded).map((v) => `${v.step} ${v.rule}`)
  const sameRepository = ['s0 sources.deny', 's1 sources.deny', 's2 sources.deny', 's3 sources.deny', 's4 sources.deny']
  t.strictSame(denied(['git+https://github.com/evil/tools@**']), sameRepository, 'written without .git')
  t.strictSame(denied(['git+https://github.com/evil/tools.git@**']), sameRepository, 'written with .git')
  t.strictSame(denied(['git+https://github.com/Evil/**']), [...sameRepository, 's5 sources.deny', 's6 sources.deny'], 'in another case')
  t.match(
    run([policy({ sources: { deny: ['git+https://github.com/evil/tools@**'] } })], object, expanded)[4],
    { message: `source git+https://github.com/EVIL/Tools.GIT@${commit}#s.yaml is denied by sources.deny pattern git+https://github.com/evil/tools@**` },
    'the message names the source as recorded and the pattern as written',
  )

  // Other sources: any case.
  const http = [entry('spec.taskSpec.steps[0]', 's0', 'https://raw.example.com/EVIL/step.yaml', 'http', `sha256:${digest}`)]
  t.strictSame(
    run([policy({ sources: { deny: ['https://raw.example.com/evil/**'] } })], taskRun([{ name: 's0', image: 'r.io/x:1' }]), http).map((v) => v.rule),
    ['sources.deny'],
  )

  // An allow list lets in only what it names, as recorded.
  const allowed = (allow: string[]): string[] => run([policy({ sources: { allow } })], object, expanded).map((v) => `${v.step}`)
  t.strictSame(allowed(['git+https://github.com/evil/tools@**']), ['s1', 's2', 's3', 's4', 's5', 's6'])
})

t.test('TaskRun: every rule, in Enforce and in Audit', async (t) => {
  const spec: StepPolicySpec = {
    sources: { allow: ['cluster:platform/*', 'git+https://github.com/acme/**'], deny: ['cluster:platform/legacy-*'], requireDigest: true },
    images: { allow: ['registry.example.com/**'], deny: ['registry.example.com/banned/**'], requireDigest: true },
    inlineSteps: 'Deny',
    securityContext: { privileged: 'Deny', allowPrivilegeEscalation: 'Deny', runAsNonRoot: 'Require', capabilities: { allow: ['NET_BIND_SERVICE'] } },
  }
  const pinned = `registry.example.com/tools/build@sha256:${digest}`
  const object = taskRun(
    [
      { name: 'ok', image: pinned, securityContext: { runAsNonRoot: true, capabilities: { add: ['CAP_NET_BIND_SERVICE'] } } },
      { name: 'inline', image: 'docker.io/evil:1', securityContext: { privileged: true, runAsNonRoot: true } },
      {
        name: 'legacy',
        image: `registry.example.com/banned/x@sha256:${digest}`,
        securityContext: { runAsNonRoot: false, capabilities: { add: ['SYS_ADMIN'] } },
      },
      { name: 'other', image: 'registry.example.com/x:1', securityContext: { allowPrivilegeEscalation: true } },
      { name: 'deferred', ref: { name: 'left-for-tekton' }, image: 'docker.io/evil:1' },
      { name: 'remote', image: pinned },
    ],
    { podTemplate: { securityContext: { runAsNonRoot: true } } },
  )
  const expanded = [
    entry('spec.taskSpec.steps[0]', 'ok', 'platform/build'),
    entry('spec.taskSpec.steps[2]', 'legacy', 'platform/legacy-build'),
    entry('spec.taskSpec.steps[3]', 'other', 'team-a/mine', 'directory'),
    entry('spec.taskSpec.steps[5]', 'remote', 'https://example.com/step.yaml', 'http', 'sha256:short'),
  ]
  const violations = run([policy(spec)], object, expanded)
  const brief = violations.map((v) => `${v.path} ${v.step} ${v.rule}${v.source === undefined ? '' : ` <${v.source}>`}: ${v.message}`)
  t.strictSame(brief, [
    'spec.taskSpec.steps[1] inline inlineSteps: inline steps are not allowed: the step must come from a step definition (ref)',
    'spec.taskSpec.steps[1] inline images.allow: image docker.io/evil:1 (docker.io/library/evil:1) is not allowed by images.allow [registry.example.com/**]',
    'spec.taskSpec.steps[1] inline images.requireDigest: image docker.io/evil:1 is not pinned by digest (@sha256: and 64 hex digits)',
    'spec.taskSpec.steps[1] inline securityContext.privileged: privileged: true is not allowed',
    'spec.taskSpec.steps[1] inline securityContext.allowPrivilegeEscalation: privileged: true is not allowed: it always allows privilege escalation',
    'spec.taskSpec.steps[2] legacy sources.deny <cluster:platform/legacy-build>: source cluster:platform/legacy-build is denied by sources.deny pattern cluster:platform/legacy-*',
    `spec.taskSpec.steps[2] legacy images.deny <cluster:platform/legacy-build>: image registry.example.com/banned/x@sha256:${digest} is denied by images.deny pattern registry.example.com/banned/**`,
    'spec.taskSpec.steps[2] legacy securityContext.runAsNonRoot <cluster:platform/legacy-build>: runAsNonRoot: false is not allowed: it must be true',
    'spec.taskSpec.steps[2] legacy securityContext.capabilities.allow <cluster:platform/legacy-build>: capability SYS_ADMIN is not allowed by securityContext.capabilities.allow [NET_BIND_SERVICE]',
    'spec.taskSpec.steps[3] other sources.allow <directory:team-a/mine>: source directory:team-a/mine is not allowed by sources.allow [cluster:platform/*, git+https://github.com/acme/**]',
    'spec.taskSpec.steps[3] other images.requireDigest <directory:team-a/mine>: image registry.example.com/x:1 is not pinned by digest (@sha256: and 64 hex digits)',
    'spec.taskSpec.steps[3] other securityContext.allowPrivilegeEscalation <directory:team-a/mine>: allowPrivilegeEscalation: true is not allowed',
    'spec.taskSpec.steps[5] remote sources.allow <https://example.com/step.yaml>: source https://example.com/step.yaml is not allowed by sources.allow [cluster:platform/*, git+https://github.com/acme/**]',
    'spec.taskSpec.steps[5] remote sources.requireDigest <https://example.com/step.yaml>: source https://example.com/step.yaml (http) is not pinned: its reference must name a commit (git revision), a digest (http digest param) or a bundle by @sha256:',
  ])
  t.ok(
    violations.every((v) => v.policy === 'StepPolicy team-a/p' && v.mode === 'Enforce'),
    'each names the policy and its mode',
  )

  const enforced = verdict(violations)
  t.equal(enforced.warnings.length, 0)
  t.strictSame(enforced.problems[1], {
    path: 'spec.taskSpec.steps[1]',
    message:
      'policy StepPolicy team-a/p: images.allow: image docker.io/evil:1 (docker.io/library/evil:1) is not allowed by images.allow [registry.example.com/**]',
    step: 'inline',
  })

  const audited = verdict(run([policy({ ...spec, mode: 'Audit' })], object, expanded))
  t.equal(audited.problems.length, 0, 'Audit never denies')
  t.equal(audited.warnings.length, 14)
  t.equal(
    audited.warnings[1],
    'policy StepPolicy team-a/p (Audit): spec.taskSpec.steps[1]: images.allow: image docker.io/evil:1 (docker.io/library/evil:1) is not allowed by images.allow [registry.example.com/**] (step "inline")',
  )

  t.strictSame(run([policy({})], object, expanded), [], 'an empty policy allows everything')
})

t.test('TaskRun: stepTemplate, pod template, Docker Hub names and variables', async (t) => {
  const object: KubeObject = {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { name: 'r' },
    spec: {
      taskSpec: {
        stepTemplate: { image: 'alpine:3', securityContext: { privileged: true } },
        steps: [{ name: 'a' }, { name: 'b', image: '$(params.image)', securityContext: { privileged: false } }],
      },
    },
  }
  const found = run([policy({ images: { deny: ['docker.io/library/**'] }, securityContext: { privileged: 'Deny', runAsNonRoot: 'Require' } })], object)
  t.strictSame(
    found.map((v) => `${v.path} ${v.rule}: ${v.message}`),
    [
      'spec.taskSpec.steps[0] images.deny: image alpine:3 (docker.io/library/alpine:3) is denied by images.deny pattern docker.io/library/**',
      'spec.taskSpec.steps[0] securityContext.privileged: privileged: true is not allowed',
      "spec.taskSpec.steps[0] securityContext.runAsNonRoot: runAsNonRoot must be true, on the step or container or on the pod's securityContext",
      'spec.taskSpec.steps[1] images.deny: image $(params.image) holds a variable substituted at run time: images.deny cannot check it',
      "spec.taskSpec.steps[1] securityContext.runAsNonRoot: runAsNonRoot must be true, on the step or container or on the pod's securityContext",
    ],
  )
  const allowHub = run([policy({ images: { allow: ['docker.io/library/alpine:*'] } })], object)
  t.strictSame(
    allowHub.map((v) => v.message),
    ['image $(params.image) is not allowed by images.allow [docker.io/library/alpine:*]'],
    'the short name is allowed in full',
  )
  // One registry, one spelling: a host in another case, the default port, Docker Hub's other names.
  for (const image of ['EVIL.IO/x/y:1', 'evil.io:443/x/y:1', `Evil.io:443/x/y@sha256:${'a'.repeat(64)}`]) {
    const spelled: KubeObject = { ...object, spec: { taskSpec: { steps: [{ name: 'a', image }] } } }
    t.match(
      run([policy({ images: { deny: ['evil.io/**'] } })], spelled).map((v) => v.rule),
      ['images.deny'],
      `${image} is evil.io's`,
    )
  }
  for (const image of ['registry-1.docker.io/library/alpine:3', 'index.docker.io/library/alpine:3', 'Docker.IO/library/alpine:3']) {
    const spelled: KubeObject = { ...object, spec: { taskSpec: { steps: [{ name: 'a', image }] } } }
    t.match(
      run([policy({ images: { deny: ['docker.io/library/alpine:*'] } })], spelled).map((v) => v.rule),
      ['images.deny'],
      `${image} is Docker Hub's alpine`,
    )
  }
  const pinned = run([policy({ images: { requireDigest: true } })], object)
  t.strictSame(
    pinned.map((v) => v.message),
    [
      'image alpine:3 is not pinned by digest (@sha256: and 64 hex digits)',
      'image $(params.image) holds a variable substituted at run time: it cannot be shown to be pinned by digest',
    ],
    'a variable is not taken for an image that lacks a digest',
  )
})

t.test('PipelineRun: tasks and finally, sources and run-level pod templates', async (t) => {
  const object: KubeObject = {
    apiVersion: 'tekton.dev/v1',
    kind: 'PipelineRun',
    metadata: { name: 'pr' },
    spec: {
      taskRunTemplate: { podTemplate: { securityContext: { runAsNonRoot: true } } },
      taskRunSpecs: [{ pipelineTaskName: 'root', podTemplate: { securityContext: { runAsUser: 0 } } }],
      pipelineSpec: {
        tasks: [
          {
            name: 'build',
            taskSpec: {
              steps: [
                { name: 'clone', image: 'r.io/git:1' },
                { name: 'make', image: 'r.io/make:1' },
              ],
            },
          },
          { name: 'root', taskSpec: { steps: [{ name: 'x', image: 'r.io/x:1' }] } },
          { name: 'other', taskRef: { name: 'elsewhere' } },
        ],
        finally: [{ name: 'notify', taskSpec: { steps: [{ name: 'send', image: 'r.io/send:1' }] } }],
      },
    },
  }
  const expanded = [
    entry(
      'spec.pipelineSpec.tasks[0].taskSpec.steps[0]',
      'clone',
      `git+https://github.com/acme/steps@${'b'.repeat(40)}#git-clone.yaml`,
      'git',
      `sha1:${'b'.repeat(40)}`,
    ),
    entry('spec.pipelineSpec.finally[0].taskSpec.steps[0]', 'send', `oci://r.io/steps:1#stepaction/send`, 'bundles', `sha256:${digest}`),
  ]
  const p = policy({
    sources: { allow: ['git+https://github.com/acme/**'], requireDigest: true },
    inlineSteps: 'Deny',
    securityContext: { runAsNonRoot: 'Require' },
  })
  t.strictSame(
    run([p], object, expanded).map((v) => `${v.path} ${v.step} ${v.rule}`),
    [
      'spec.pipelineSpec.tasks[0].taskSpec.steps[1] make inlineSteps',
      'spec.pipelineSpec.tasks[1].taskSpec.steps[0] x inlineSteps',
      'spec.pipelineSpec.tasks[1].taskSpec.steps[0] x securityContext.runAsNonRoot',
      'spec.pipelineSpec.finally[0].taskSpec.steps[0] send sources.allow',
      'spec.pipelineSpec.finally[0].taskSpec.steps[0] send sources.requireDigest',
    ],
  )
  const pinnedBundle = [
    expanded[0] as PolicyInput['expanded'][number],
    { ...(expanded[1] as PolicyInput['expanded'][number]), definition: `oci://r.io/steps@sha256:${digest}#stepaction/send` },
  ]
  t.strictSame(
    run([policy({ sources: { requireDigest: true } })], object, pinnedBundle),
    [],
    'a git source with its commit and a bundle with its digest are pinned',
  )
  // What was fetched is always a commit or a digest: the reference as written must name one too.
  const written = (e: PolicyInput['expanded'][number], params: Record<string, string>): PolicyInput['expanded'][number] => ({
    ...e,
    written: { name: e.step, ref: { resolver: e.source, params: Object.entries(params).map(([name, value]) => ({ name, value })) } },
  })
  const [git, bundle] = pinnedBundle as [PolicyInput['expanded'][number], PolicyInput['expanded'][number]]
  const requireDigest = [policy({ sources: { requireDigest: true } })]
  const judged = (entries: PolicyInput['expanded']): string[] => run(requireDigest, object, entries).map((v) => `${v.step} ${v.rule}`)
  t.strictSame(
    judged([written(git, { url: 'https://github.com/acme/steps', revision: 'main' }), written(bundle, { bundle: 'r.io/steps:1', name: 'send' })]),
    ['clone sources.requireDigest', 'send sources.requireDigest'],
    'a branch and a tag are not pinned, though they were fetched at a commit and a digest',
  )
  t.strictSame(
    judged([
      written(git, { url: 'https://github.com/acme/steps', revision: 'b'.repeat(40) }),
      written(bundle, { bundle: `r.io/steps@sha256:${digest}`, name: 'send' }),
    ]),
    [],
    'a commit and a digest as written are',
  )
  const http = entry('spec.pipelineSpec.tasks[0].taskSpec.steps[0]', 'clone', 'https://example.com/step.yaml', 'http', `sha256:${digest}`)
  t.strictSame(judged([written(http, { url: 'https://example.com/step.yaml' })]), ['clone sources.requireDigest'], 'an http URL without its digest is not')
  t.strictSame(judged([written(http, { url: 'https://example.com/step.yaml', digest: `sha256:${digest}` })]), [], 'with it, it is')
})

const podObject: KubeObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'team-a', annotations: { 'stepsplice.dev/steps': '- name: build\n  ref: {name: build}\n' } },
  spec: {
    securityContext: { runAsNonRoot: true },
    initContainers: [
      { name: 'stepsplice-prepare', image: 'busybox:1.37.0' },
      { name: 'step-build', image: 'docker.io/evil/build:1', securityContext: { capabilities: { add: ['NET_ADMIN'] } } },
    ],
    containers: [{ name: 'main', image: `registry.example.com/app@sha256:${digest}`, securityContext: { runAsNonRoot: false } }],
  },
}
const podEntries = [entry('metadata.annotations["stepsplice.dev/steps"][0]', 'build', 'platform/build', 'directory')]

t.test('Pod: every container; spliced init containers carry their step and source', async (t) => {
  const p = policy({
    sources: { deny: ['directory:platform/**'] },
    images: { allow: ['registry.example.com/**', 'docker.io/library/busybox:*'] },
    inlineSteps: 'Deny',
    securityContext: { runAsNonRoot: 'Require', capabilities: { allow: [] } },
  })
  const found = run([p], podObject, podEntries)
  t.strictSame(
    found.map((v) => ({ path: v.path, step: v.step, container: v.container, source: v.source, rule: v.rule })),
    [
      { path: 'spec.initContainers[1]', step: 'build', container: 'step-build', source: 'directory:platform/build', rule: 'sources.deny' },
      { path: 'spec.initContainers[1]', step: 'build', container: 'step-build', source: 'directory:platform/build', rule: 'images.allow' },
      {
        path: 'spec.initContainers[1]',
        step: 'build',
        container: 'step-build',
        source: 'directory:platform/build',
        rule: 'securityContext.capabilities.allow',
      },
      { path: 'spec.containers[0]', step: undefined, container: 'main', source: undefined, rule: 'securityContext.runAsNonRoot' },
    ],
    'inlineSteps does not apply to Pods; the pod-level runAsNonRoot counts unless a container overrides it',
  )
  const audit = verdict(run([policy({ mode: 'Audit', images: { requireDigest: true } })], podObject, podEntries))
  t.strictSame(audit.problems, [])
  t.strictSame(audit.warnings, [
    'policy StepPolicy team-a/p (Audit): spec.initContainers[0]: images.requireDigest: image busybox:1.37.0 is not pinned by digest (@sha256: and 64 hex digits)',
    'policy StepPolicy team-a/p (Audit): spec.initContainers[1]: images.requireDigest: image docker.io/evil/build:1 is not pinned by digest (@sha256: and 64 hex digits) (step "build")',
  ])
})

t.test('several policies: each reports its own; Enforce ones come first, deny wins over allow', async (t) => {
  const strict = policy({ images: { allow: ['r.io/**'], deny: ['r.io/bad/**'] } }, { name: 'strict' })
  const audit = policy({ mode: 'Audit', images: { requireDigest: true } }, { name: 'audit' })
  const cluster = policy({ securityContext: { privileged: 'Deny' } }, { name: 'base', cluster: true })
  const object = taskRun([{ name: 'a', image: 'r.io/bad/x:1', securityContext: { privileged: true } }])
  const found = run([audit, strict, cluster], object)
  t.strictSame(
    found.map((v) => `${v.policy} ${v.mode} ${v.rule}`),
    [
      'StepPolicy team-a/strict Enforce images.deny',
      'ClusterStepPolicy base Enforce securityContext.privileged',
      'StepPolicy team-a/audit Audit images.requireDigest',
    ],
  )
  const { problems, warnings } = verdict(found)
  t.equal(problems.length, 2)
  t.equal(warnings.length, 1)
})

t.test('namespace selectors', async (t) => {
  const own = policy({}, { name: 'own', namespace: 'team-a' })
  const otherNs = policy({}, { name: 'other', namespace: 'team-b' })
  const all = policy({}, { name: 'all', cluster: true })
  const prod = policy({ namespaceSelector: { matchLabels: { env: 'prod' } } }, { name: 'prod', cluster: true })
  const notDev = policy({ namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['dev'] }] } }, { name: 'not-dev', cluster: true })
  const byName = policy(
    { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['team-a'] }] } },
    { name: 'by-name', cluster: true },
  )
  const hasTeam = policy({ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'Exists' }] } }, { name: 'has-team', cluster: true })
  const noTeam = policy({ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }] } }, { name: 'no-team', cluster: true })
  const everything = [own, otherNs, all, prod, notDev, byName, hasTeam, noTeam]
  const ids = (ps: LoadedPolicy[]) => ps.map((p) => p.id)
  t.strictSame(ids(policiesFor(everything, 'team-a', { env: 'prod', team: 'a' })), [
    'StepPolicy team-a/own',
    'ClusterStepPolicy all',
    'ClusterStepPolicy prod',
    'ClusterStepPolicy not-dev',
    'ClusterStepPolicy by-name',
    'ClusterStepPolicy has-team',
  ])
  t.strictSame(ids(policiesFor(everything, 'team-b', { env: 'dev' })), ['StepPolicy team-b/other', 'ClusterStepPolicy all', 'ClusterStepPolicy no-team'])
  t.strictSame(
    ids(policiesFor(everything, 'team-a')),
    ['StepPolicy team-a/own', 'ClusterStepPolicy all', 'ClusterStepPolicy by-name'],
    'labels unknown: only selectors on the namespace name can match',
  )
})

t.test('at most 100 violations; the rest are counted, and still deny when any is enforced', async (t) => {
  const steps = Array.from({ length: 120 }, (_, i) => ({ name: `s${i}`, image: 'docker.io/x:1' }))
  const audit = policy({ mode: 'Audit', images: { requireDigest: true } }, { name: 'audit' })
  const enforce = policy({ images: { allow: ['r.io/**'] } }, { name: 'enforce' })
  const found = run([audit, enforce], taskRun(steps))
  t.equal(found.length, maxViolations)
  t.ok(found.slice(0, 99).every((v) => v.policy === 'StepPolicy team-a/enforce'))
  t.strictSame(found[99], {
    policy: 'StepPolicy team-a/enforce, StepPolicy team-a/audit',
    mode: 'Enforce',
    rule: 'limit',
    path: '',
    message: '141 more violations not listed (at most 100 are)',
  })
  const { problems } = verdict(found)
  t.equal(problems.at(-1)?.message, 'policy StepPolicy team-a/enforce, StepPolicy team-a/audit: limit: 141 more violations not listed (at most 100 are)')
  t.equal(run([audit], taskRun(steps)).at(-1)?.mode, 'Audit')
})

t.test('the CRDs carry the loader schema and accept and refuse the same documents', async (t) => {
  const crds = {
    StepPolicy: parse(await readFile(new URL('../deploy/crds/stepsplice.dev_steppolicies.yaml', import.meta.url), 'utf8')),
    ClusterStepPolicy: parse(await readFile(new URL('../deploy/crds/stepsplice.dev_clustersteppolicies.yaml', import.meta.url), 'utf8')),
  }
  t.equal(crds.StepPolicy.spec.scope, 'Namespaced')
  t.equal(crds.ClusterStepPolicy.spec.scope, 'Cluster')
  t.strictSame(crds.StepPolicy.spec.names.shortNames, ['stp'])
  t.strictSame(crds.ClusterStepPolicy.spec.names.shortNames, ['cstp'])
  const specs: Record<string, unknown>[] = [
    {},
    { mode: 'Audit', images: { allow: ['r.io/**'], deny: ['r.io/x'], requireDigest: true } },
    { sources: { allow: ['cluster:platform/*'], requireDigest: false }, inlineSteps: 'Deny' },
    { securityContext: { privileged: 'Deny', allowPrivilegeEscalation: 'Deny', runAsNonRoot: 'Require', capabilities: { allow: ['NET_ADMIN'] } } },
    { namespaceSelector: { matchLabels: { a: 'b' }, matchExpressions: [{ key: 'a', operator: 'In', values: ['b'] }] } },
    { mode: 'Warn' },
    { images: { allow: [''] } },
    { images: { allow: 'r.io/**' } },
    { images: { allowed: [] } },
    { inlineSteps: 'Maybe' },
    { securityContext: { privileged: true } },
    { securityContext: { capabilities: { allow: [1] } } },
    { namespaceSelector: { matchExpressions: [{ key: 'a', operator: 'Like' }] } },
    { namespaceSelector: { matchExpressions: [{ operator: 'Exists' }] } },
    { namespaceSelector: { matchLabels: { a: 1 } } },
    { extra: true },
    { images: { allow: Array.from({ length: 257 }, () => 'x') } },
  ]
  for (const [kind, crd] of Object.entries(crds)) {
    const version = crd.spec.versions[0]
    t.strictSame([version.name, version.served, version.storage, crd.spec.versions.length], ['v1alpha1', true, true, 1], `${kind}: one version`)
    const specSchema = version.schema.openAPIV3Schema.properties.spec
    t.strictSame(specSchema, stepPolicySpecSchema, `${kind}: the spec schema is the loader's`)
    // The API server refuses unknown fields under strict field validation (kubectl's default): closeObjects says the same.
    const crdCheck = new Ajv({ strict: false }).compile(closeObjects(specSchema) as object)
    const loaderCheck = new Ajv({ strict: false }).compile(stepPolicySchema)
    const metadata = kind === 'StepPolicy' ? { name: 'x', namespace: 'team-a' } : { name: 'x' }
    const verdicts = specs.map((spec) => [crdCheck(spec), loaderCheck({ apiVersion: gv, kind, metadata, spec })])
    t.strictSame(
      verdicts.map(([crd]) => crd),
      [true, true, true, true, true, false, false, false, false, false, false, false, false, false, false, false, false],
      `${kind}: the CRD accepts the valid specs and refuses the rest`,
    )
    t.strictSame(
      verdicts.map(([, loader]) => loader),
      verdicts.map(([crd]) => crd),
      `${kind}: the loader agrees`,
    )
  }
})

t.test('sidecars of an inline task are judged for images and securityContext, not as steps', async (t) => {
  const object: KubeObject = {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { name: 'r', namespace: 'team-a' },
    spec: {
      taskSpec: {
        stepTemplate: { image: 'registry.example.com/template:1' },
        steps: [{ name: 'build', image: 'registry.example.com/build:1' }],
        sidecars: [{ name: 'docker', image: 'docker:dind', securityContext: { privileged: true } }, { name: 'cache' }],
      },
    },
  }
  const p = policy({ images: { allow: ['registry.example.com/**'] }, inlineSteps: 'Deny', securityContext: { privileged: 'Deny' } })
  const found = run([p], object, [entry('spec.taskSpec.steps[0]', 'build', 'platform/build')])
  t.strictSame(
    found.map((v) => `${v.path} ${v.container ?? ''} ${v.rule}`),
    ['spec.taskSpec.sidecars[0] docker images.allow', 'spec.taskSpec.sidecars[0] docker securityContext.privileged'],
    'no inlineSteps for a sidecar, and no stepTemplate image for one without an image',
  )
})
