// A stepTemplate merged into a step as Tekton merges it
// (MergeStepsWithStepTemplate): the cases of Tekton's own merge_test.go, and
// the strategic-merge rules src/steps/template.ts documents.

import t from 'tap'
import { withStepTemplate } from '../../src/steps/template.ts'

t.test('Tekton’s own cases', async (t) => {
  t.strictSame(withStepTemplate({ image: 'some-image', onError: 'foo' }, undefined), { image: 'some-image', onError: 'foo' }, 'nil-template')
  t.strictSame(
    withStepTemplate({ image: 'some-image', onError: 'foo' }, { command: ['/somecmd'] }),
    { image: 'some-image', onError: 'foo', command: ['/somecmd'] },
    'not-overlapping',
  )
  t.strictSame(
    withStepTemplate({ image: 'some-other-image' }, { image: 'some-image', command: ['/somecmd'] }),
    { image: 'some-other-image', command: ['/somecmd'] },
    'overwriting-one-field',
  )
  t.strictSame(
    withStepTemplate(
      {
        env: [
          { name: 'NEW_KEY', value: 'A_VALUE' },
          { name: 'SOME_KEY', value: 'NEW_VALUE' },
        ],
      },
      {
        env: [
          { name: 'KEEP_THIS', value: 'A_VALUE' },
          { name: 'SOME_KEY', value: 'ORIGINAL_VALUE' },
        ],
      },
    ).env,
    [
      { name: 'NEW_KEY', value: 'A_VALUE' },
      { name: 'KEEP_THIS', value: 'A_VALUE' },
      { name: 'SOME_KEY', value: 'NEW_VALUE' },
    ],
    'merge-and-overwrite-slice',
  )
  t.strictSame(
    withStepTemplate(
      { image: 'some-image', stdoutConfig: { path: 'stdout.txt' }, stderrConfig: { path: 'stderr.txt' } },
      { volumeMounts: [{ name: 'data', mountPath: '/workspace/data' }] },
    ),
    {
      image: 'some-image',
      stdoutConfig: { path: 'stdout.txt' },
      stderrConfig: { path: 'stderr.txt' },
      volumeMounts: [{ name: 'data', mountPath: '/workspace/data' }],
    },
    'workspace-and-output-config',
  )
  const secret = { secretKeyRef: { key: 'A_KEY', name: 'A_NAME' } }
  t.strictSame(
    withStepTemplate(
      {
        env: [
          { name: 'NEW_KEY', value: 'A_VALUE' },
          { name: 'SOME_KEY_1', value: 'VALUE_1' },
          { name: 'SOME_KEY_2', valueFrom: secret },
        ],
      },
      {
        env: [
          { name: 'KEEP_THIS', value: 'A_VALUE' },
          { name: 'SOME_KEY_1', valueFrom: secret },
          { name: 'SOME_KEY_2', value: 'VALUE_2' },
        ],
      },
    ).env,
    [
      { name: 'NEW_KEY', value: 'A_VALUE' },
      { name: 'KEEP_THIS', value: 'A_VALUE' },
      { name: 'SOME_KEY_1', value: 'VALUE_1' },
      { name: 'SOME_KEY_2', valueFrom: secret },
    ],
    'merge-env-by-step: a var with both value and valueFrom is the step’s own',
  )
})

t.test('empty step fields keep the template’s; a securityContext’s false does not', async (t) => {
  const merged = withStepTemplate(
    { name: 's', image: '', args: [], workingDir: '', securityContext: { privileged: false } },
    { image: 'alpine', args: ['a'], workingDir: '/w', securityContext: { privileged: true, runAsUser: 1000 } },
  )
  t.strictSame(merged, { name: 's', image: 'alpine', args: ['a'], workingDir: '/w', securityContext: { privileged: false, runAsUser: 1000 } })
})

t.test('maps merge key by key; lists without a key are replaced; mounts merge by path', async (t) => {
  const merged = withStepTemplate(
    {
      computeResources: { limits: { memory: '1Gi' } },
      command: ['b'],
      securityContext: { capabilities: { add: ['NET_ADMIN'] } },
      volumeMounts: [
        { name: 'new', mountPath: '/new' },
        { name: 'renamed', mountPath: '/shared', readOnly: false },
      ],
    },
    {
      computeResources: { limits: { cpu: '1' }, requests: { memory: '64Mi' } },
      command: ['a', 'x'],
      securityContext: { capabilities: { add: ['SYS_TIME'], drop: ['ALL'] } },
      volumeMounts: [
        { name: 'shared', mountPath: '/shared', readOnly: true },
        { name: 'tmp', mountPath: '/tmp' },
      ],
    },
  )
  t.strictSame(merged.computeResources, { limits: { cpu: '1', memory: '1Gi' }, requests: { memory: '64Mi' } })
  t.strictSame(merged.command, ['b'])
  t.strictSame(merged.securityContext, { capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] } })
  t.strictSame(
    merged.volumeMounts,
    [
      { name: 'new', mountPath: '/new' },
      { name: 'renamed', mountPath: '/shared', readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
    ],
    'a mount’s own false is left out, as Go leaves it out: the template’s readOnly stays',
  )
})

t.test('what is not a container field is the step’s alone, and nothing is changed in place', async (t) => {
  const step = { name: 's', script: 'echo', ref: undefined, timeout: '1m', results: [{ name: 'r' }], unknownField: 1 }
  const template = { script: 'ignored', timeout: '2m', image: 'alpine' }
  const merged = withStepTemplate(step, template)
  t.strictSame(merged, { name: 's', script: 'echo', ref: undefined, timeout: '1m', results: [{ name: 'r' }], unknownField: 1, image: 'alpine' })
  t.strictSame(template, { script: 'ignored', timeout: '2m', image: 'alpine' })
})
