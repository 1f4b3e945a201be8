// The merge of a ref step with its definition (Tekton's resolveStepRef,
// reference section 5): which fields come from the StepAction, which stay on
// the step untouched, and what is substituted where.

import t from 'tap'
import { expand, stepAction, stepOf, taskRun } from '../helpers/catalog.ts'

t.test('fields come from the definition', async (t) => {
  const sa = stepAction('full', {
    description: 'not copied',
    image: 'registry.example/tool:$(params.tag)',
    command: ['tool'],
    args: ['--tag', '$(params.tag)'],
    workingDir: '/work/$(params.tag)',
    env: [
      { name: 'TAG_$(params.tag)', value: 'v=$(params.tag)' },
      { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'sec-$(params.tag)', key: 'k-$(params.tag)' } } },
      { name: 'CONF', valueFrom: { configMapKeyRef: { name: 'cm-$(params.tag)', key: 'ck-$(params.tag)', optional: true } } },
      { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ],
    volumeMounts: [{ name: '$(params.vol)', mountPath: '/mnt/$(params.tag)', subPath: 'sub-$(params.tag)', readOnly: true }],
    params: [{ name: 'tag', default: '1.0' }, { name: 'vol' }],
    results: [{ name: 'digest' }, { name: 'list', type: 'array' }, { name: 'meta', properties: { a: {}, b: { type: 'string' } } }],
  })
  const e = await expand(taskRun({ steps: [{ name: 'run', ref: { name: 'full' }, params: [{ name: 'vol', value: 'cache' }] }] }), sa)
  t.strictSame(e.problems, [])
  t.strictSame(stepOf(e), {
    name: 'run',
    image: 'registry.example/tool:1.0',
    command: ['tool'],
    args: ['--tag', '1.0'],
    workingDir: '/work/1.0',
    env: [
      // Env names are not substituted (Tekton's container replacements leave them).
      { name: 'TAG_$(params.tag)', value: 'v=1.0' },
      { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'sec-1.0', key: 'k-1.0' } } },
      { name: 'CONF', valueFrom: { configMapKeyRef: { name: 'cm-1.0', key: 'ck-1.0', optional: true } } },
      { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ],
    volumeMounts: [{ name: 'cache', mountPath: '/mnt/1.0', subPath: 'sub-1.0', readOnly: true }],
    // Result types are defaulted as StepResult.SetDefaults does.
    results: [
      { name: 'digest', type: 'string' },
      { name: 'list', type: 'array' },
      { name: 'meta', properties: { a: { type: 'string' }, b: { type: 'string' } }, type: 'object' },
    ],
  })
})

t.test('a script comes from the definition, with result paths left for Tekton', async (t) => {
  const sa = stepAction('scripted', {
    image: 'alpine',
    script: '#!/bin/sh\necho hi > $(step.results.out.path)\necho $(results.out.path)\n',
    results: [{ name: 'out' }],
  })
  const e = await expand(taskRun({ steps: [{ ref: { name: 'scripted' } }] }), sa)
  t.strictSame(stepOf(e), {
    image: 'alpine',
    script: '#!/bin/sh\necho hi > $(step.results.out.path)\necho $(results.out.path)\n',
    results: [{ name: 'out', type: 'string' }],
  })
})

t.test('fields the definition does not set are not invented', async (t) => {
  const e = await expand(taskRun({ steps: [{ name: 's', ref: { name: 'bare' } }] }), stepAction('bare', { image: 'alpine' }))
  t.strictSame(stepOf(e), { name: 's', image: 'alpine' })
})

t.test('empty lists next to ref stay when the definition has none', async (t) => {
  // Tekton keeps the step's value unless the StepAction's is non-empty.
  const e = await expand(taskRun({ steps: [{ name: 's', ref: { name: 'bare' }, command: [], args: [] }] }), stepAction('bare', { image: 'alpine' }))
  t.strictSame(stepOf(e), { name: 's', image: 'alpine', command: [], args: [] })
  const withArgs = await expand(taskRun({ steps: [{ name: 's', ref: { name: 'a' }, args: [] }] }), stepAction('a', { image: 'alpine', args: ['x'] }))
  t.strictSame(stepOf(withArgs).args, ['x'])
})

t.test('an env list the definition sets, even empty, is written', async (t) => {
  const e = await expand(taskRun({ steps: [{ ref: { name: 'e' } }] }), stepAction('e', { image: 'alpine', env: [] }))
  t.strictSame(stepOf(e), { image: 'alpine', env: [] })
})

t.test('orchestration fields stay as written and are not substituted with step params', async (t) => {
  const sa = stepAction('echo', { image: 'alpine', args: ['$(params.p)'], params: [{ name: 'p' }] })
  const own = {
    name: 'echo',
    displayName: 'Echo $(params.p)',
    timeout: '10m',
    onError: '$(params.p)',
    imagePullPolicy: '$(params.p)',
    computeResources: { requests: { cpu: '$(params.p)', memory: '1Gi' } },
    envFrom: [{ configMapRef: { name: '$(params.p)' } }],
    when: [{ input: '$(params.p)', operator: 'in', values: ['$(params.p)'] }],
    stdoutConfig: { path: '$(params.p)' },
    stderrConfig: { path: '/tmp/err' },
    workspaces: [{ name: 'src', mountPath: '/src' }],
    volumeDevices: [{ name: 'dev', devicePath: '/dev/x' }],
    'x-custom': { nested: ['$(params.p)'], n: 1, flag: true },
  }
  const obj = taskRun({ steps: [{ ...own, ref: { name: 'echo' }, params: [{ name: 'p', value: 'substituted' }] }] })
  const e = await expand(obj, sa)
  t.strictSame(e.problems, [])
  t.strictSame(stepOf(e), { ...own, image: 'alpine', args: ['substituted'] })
})

t.test('ref and params are removed', async (t) => {
  const sa = stepAction('echo', { image: 'alpine', args: ['$(params.p)'], params: [{ name: 'p' }] })
  const step = stepOf(await expand(taskRun({ steps: [{ name: 's', ref: { name: 'echo' }, params: [{ name: 'p', value: 'x' }] }] }), sa))
  t.notOk('ref' in step)
  t.notOk('params' in step)
})

t.test('the input object is not modified', async (t) => {
  const sa = stepAction('echo', { image: 'alpine', args: ['$(params.p)'], params: [{ name: 'p' }] })
  const obj = taskRun({ steps: [{ name: 's', ref: { name: 'echo' }, params: [{ name: 'p', value: 'x' }] }] })
  const before = structuredClone(obj)
  const e = await expand(obj, sa)
  t.equal(e.changed, true)
  t.not(e.object, obj)
  t.strictSame(obj, before)
})

t.test('securityContext', async (t) => {
  const withContext = stepAction('sc', {
    image: 'alpine',
    params: [{ name: 'p', default: 'x' }],
    securityContext: { runAsUser: 1000, seLinuxOptions: { user: '$(params.p)' } },
  })
  const without = stepAction('nosc', { image: 'alpine' })
  const stepContext = { runAsUser: 1001, runAsNonRoot: true }

  t.test("the definition's wins over the step's", async (t) => {
    const e = await expand(taskRun({ steps: [{ ref: { name: 'sc' }, securityContext: stepContext }] }), withContext)
    // Not merged, not substituted (Tekton's replacements skip securityContext).
    t.strictSame(stepOf(e).securityContext, { runAsUser: 1000, seLinuxOptions: { user: '$(params.p)' } })
  })
  t.test("the definition's applies to a step without one", async (t) => {
    const e = await expand(taskRun({ steps: [{ ref: { name: 'sc' } }] }), withContext)
    t.strictSame(stepOf(e).securityContext, { runAsUser: 1000, seLinuxOptions: { user: '$(params.p)' } })
  })
  t.test("the step's is kept when the definition sets none (deliberate: tektoncd/pipeline#10634)", async (t) => {
    const e = await expand(taskRun({ steps: [{ ref: { name: 'nosc' }, securityContext: stepContext }] }), without)
    t.strictSame(stepOf(e).securityContext, stepContext)
  })
  t.test('neither sets one', async (t) => {
    const e = await expand(taskRun({ steps: [{ ref: { name: 'nosc' } }] }), without)
    t.notOk('securityContext' in stepOf(e))
  })
})

t.test('inline steps around ref steps are unchanged and keep their order', async (t) => {
  const inlineA = { name: 'a', image: 'busybox', script: 'echo $(params.p)', 'x-extra': 1 }
  const inlineC = { name: 'c', image: 'busybox', env: [{ name: 'X', value: '$(steps.b.results.r)' }] }
  const sa = stepAction('b', { image: 'alpine', results: [{ name: 'r' }] })
  const e = await expand(taskRun({ steps: [inlineA, { name: 'b', ref: { name: 'b' } }, inlineC] }), sa)
  t.strictSame(e.object.spec, {
    taskSpec: { steps: [inlineA, { name: 'b', image: 'alpine', results: [{ name: 'r', type: 'string' }] }, inlineC] },
  })
})

t.test('several ref steps, the same definition twice', async (t) => {
  const sa = stepAction('echo', { image: 'alpine', args: ['$(params.msg)'], params: [{ name: 'msg', default: 'default' }] })
  const e = await expand(
    taskRun({
      steps: [
        { name: 'one', ref: { name: 'echo' }, params: [{ name: 'msg', value: 'first' }] },
        { name: 'two', ref: { name: 'echo' } },
      ],
    }),
    sa,
  )
  t.strictSame(stepOf(e, 0), { name: 'one', image: 'alpine', args: ['first'] })
  t.strictSame(stepOf(e, 1), { name: 'two', image: 'alpine', args: ['default'] })
})
