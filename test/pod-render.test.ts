// `stepsplice render` on Pods and on the Pod templates of workloads, run
// in-process through main(): every template expanded as a Pod would be, the
// output stable when rendered again, and a Pod the cluster creates from a
// rendered template left alone by the webhook's splice.

import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { main } from '../src/cli/main.ts'
import { DirectoryCatalog } from '../src/resolution/directory.ts'
import { parseDocuments } from '../src/json/documents.ts'
import type { KubeObject, PodSpec } from '../src/types/k8s.ts'
import { captureIO, exampleCatalogDir, root } from './helpers/server.ts'
import { lines, splice } from './helpers/pod.ts'

interface Run {
  code: number
  out: string
  err: string
}

async function render(input: string, ...flags: string[]): Promise<Run> {
  const io = captureIO(input)
  const code = await main(['render', '--catalog', exampleCatalogDir, '-f', '-', ...flags], io)
  return { code, out: io.out, err: io.err }
}

async function renderJson(objects: unknown[], ...flags: string[]): Promise<KubeObject[]> {
  const r = await render(JSON.stringify(objects), '-o', 'json', ...flags)
  if (r.code !== 0) throw new Error(`render exited ${r.code}: ${r.err}`)
  const out = JSON.parse(r.out) as KubeObject | KubeObject[]
  return Array.isArray(out) ? out : [out]
}

const examplePod = parseDocuments(await readFile(join(root, 'examples/pods/pod.yaml'), 'utf8'), 'pod.yaml').documents[0] as KubeObject
const exampleJob = parseDocuments(await readFile(join(root, 'examples/pods/build-job.yaml'), 'utf8'), 'build-job.yaml').documents[0] as KubeObject

/** The Pod template of the example Job: what every workload below carries. */
const template = (exampleJob.spec as { template: { metadata: Record<string, unknown>; spec: PodSpec } }).template
const selector = { matchLabels: { app: 'build' } }
const labelled = { metadata: { ...template.metadata, labels: { app: 'build' } }, spec: { ...template.spec, restartPolicy: 'Always' } }

const workloads: { kind: string; object: KubeObject; path: string[] }[] = [
  { kind: 'Job', object: exampleJob, path: ['spec', 'template'] },
  {
    kind: 'CronJob',
    object: {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'nightly', namespace: 'default' },
      spec: { schedule: '0 3 * * *', jobTemplate: { spec: { template } } },
    },
    path: ['spec', 'jobTemplate', 'spec', 'template'],
  },
  {
    kind: 'Deployment',
    object: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace: 'default' }, spec: { replicas: 2, selector, template: labelled } },
    path: ['spec', 'template'],
  },
  {
    kind: 'StatefulSet',
    object: {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 's', namespace: 'default' },
      spec: { serviceName: 's', selector, template: labelled },
    },
    path: ['spec', 'template'],
  },
  {
    kind: 'DaemonSet',
    object: { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'ds', namespace: 'default' }, spec: { selector, template: labelled } },
    path: ['spec', 'template'],
  },
  {
    kind: 'ReplicaSet',
    object: { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'rs', namespace: 'default' }, spec: { replicas: 1, selector, template: labelled } },
    path: ['spec', 'template'],
  },
]

function at(obj: unknown, path: readonly string[]): { metadata: { annotations: Record<string, string>; labels?: Record<string, string> }; spec: PodSpec } {
  let v = obj as Record<string, unknown>
  for (const p of path) v = v[p] as Record<string, unknown>
  return v as unknown as ReturnType<typeof at>
}

const stepContainerNames = ['stepsplice-prepare', 'step-clone', 'step-build']

t.test('the example Pod renders: steps, prepare, workspace, results in the main container', async (t) => {
  const [pod] = await renderJson([examplePod])
  const spec = pod?.spec as PodSpec
  t.same(
    spec.initContainers?.map((c) => c.name),
    stepContainerNames,
  )
  t.same(spec.containers?.[0]?.command, ['sh', '-c', 'echo built commit $(cat /stepsplice/results/clone/commit); ls -l /workspace/bin'])
  t.same(spec.initContainers?.[2]?.args, ['-trimpath', '-o', '/workspace/bin/', './cmd/controller'])
  t.same(spec.initContainers?.[2]?.resources, { requests: { cpu: '1', memory: '1Gi' } })
  t.same(
    spec.volumes?.map((v) => v.name),
    ['stepsplice-workspace', 'stepsplice-results', 'stepsplice-scripts'],
  )
  t.equal(pod?.metadata?.generateName, 'build-app-')
})

t.test('every workload kind has its Pod template expanded like the Pod', async (t) => {
  const [pod, ...rendered] = await renderJson([examplePod, ...workloads.map((w) => w.object)])
  const podSpec = pod?.spec as PodSpec
  t.equal(rendered.length, workloads.length)
  workloads.forEach((w, i) => {
    const out = rendered[i]
    t.equal(out?.kind, w.kind)
    const tpl = at(out, w.path)
    t.same(tpl.spec.initContainers, podSpec.initContainers, `${w.kind}: same init containers as the Pod`)
    t.same(tpl.spec.volumes, podSpec.volumes, `${w.kind}: same volumes`)
    t.same(tpl.spec.containers, podSpec.containers, `${w.kind}: same containers`)
    t.equal(
      tpl.metadata.annotations['stepsplice.dev/resolved'],
      pod?.metadata?.annotations?.['stepsplice.dev/resolved'],
      `${w.kind}: the same provenance as the Pod, so the Pods it creates match it`,
    )
    t.notOk(out?.metadata?.annotations?.['stepsplice.dev/resolved'], `${w.kind}: not on the workload itself`)
    // Everything outside the template is as it was.
    const before = structuredClone(w.object) as Record<string, unknown>
    const after = structuredClone(out) as Record<string, unknown>
    const strip = (o: Record<string, unknown>): void => {
      let v = o
      for (const p of w.path.slice(0, -1)) v = v[p] as Record<string, unknown>
      delete v[w.path[w.path.length - 1] ?? '']
    }
    strip(before)
    strip(after)
    t.same(after, before, `${w.kind}: the rest untouched`)
    if (tpl.metadata.labels) t.same(tpl.metadata.labels, { app: 'build' }, `${w.kind}: template labels kept`)
  })
})

t.test('render output rendered again is byte-identical', async (t) => {
  const objects = [examplePod, ...workloads.map((w) => w.object)]
  const first = await render(JSON.stringify(objects), '-o', 'json')
  t.equal(first.code, 0, first.err)
  const second = await render(first.out, '-o', 'json')
  t.equal(second.code, 0, second.err)
  t.equal(second.out, first.out)
  const yamlFirst = await render(JSON.stringify(objects))
  const yamlSecond = await render(yamlFirst.out)
  t.equal(yamlSecond.code, 0, yamlSecond.err)
  t.equal(yamlSecond.out, yamlFirst.out, 'YAML too')
  t.same(
    parseAllDocuments(yamlFirst.out).map((d) => d.toJS()),
    JSON.parse(first.out),
    'YAML and JSON say the same',
  )
})

t.test('a Pod created from a rendered template is left alone by the webhook splice', async (t) => {
  const catalog = await DirectoryCatalog.load([exampleCatalogDir])
  const rendered = await renderJson(workloads.map((w) => w.object))
  for (const [i, w] of workloads.entries()) {
    // What the workload's controller creates: the template's metadata and spec.
    const tpl = at(rendered[i], w.path)
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { ...tpl.metadata, generateName: `${w.kind.toLowerCase()}-`, namespace: 'default' },
      spec: tpl.spec,
    }
    const e = await splice(pod, catalog)
    t.same(lines(e), [], `${w.kind}: not refused`)
    t.equal(e.changed, false, `${w.kind}: not spliced twice`)
  }
})

t.test('--prepare-image sets the prepare container image in Pods and templates', async (t) => {
  const [pod, job] = await renderJson([examplePod, exampleJob], '--prepare-image', 'mirror.example/busybox:stable')
  t.equal((pod?.spec as PodSpec | undefined)?.initContainers?.[0]?.image, 'mirror.example/busybox:stable')
  t.equal(at(job, ['spec', 'template']).spec.initContainers?.[0]?.image, 'mirror.example/busybox:stable')
  const [byDefault] = await renderJson([examplePod])
  t.equal((byDefault?.spec as PodSpec | undefined)?.initContainers?.[0]?.image, 'busybox:1.37.0')
  const help = captureIO()
  t.equal(await main(['render', '--help'], help), 0)
  t.match(help.out, /--prepare-image IMG/)
})

t.test('objects without steps come out unchanged', async (t) => {
  const plainPod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'plain', namespace: 'default', annotations: { a: 'b' } },
    spec: { containers: [{ name: 'c', image: 'i' }] },
  }
  const plainJob = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'j' },
    spec: { template: { spec: { containers: [{ name: 'c', image: 'i' }], restartPolicy: 'Never' } } },
  }
  const configMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'cm', annotations: { 'stepsplice.dev/steps': '- {name: x, ref: {name: echo}}' } },
    data: { a: 'b' },
  }
  const objects = [plainPod, plainJob, configMap]
  t.same(await renderJson(objects), objects)
})

t.test('a List of Pods has each item expanded', async (t) => {
  const [list] = await renderJson([{ apiVersion: 'v1', kind: 'List', items: [examplePod, exampleJob] }])
  const items = (list as { items: KubeObject[] }).items
  t.same(
    (items[0]?.spec as PodSpec | undefined)?.initContainers?.map((c) => c.name),
    stepContainerNames,
  )
  t.same(
    at(items[1], ['spec', 'template']).spec.initContainers?.map((c) => c.name),
    stepContainerNames,
  )
})

t.test('errors: exit 1, nothing on stdout, each line naming the object, the path and the step', async (t) => {
  const badPod = structuredClone(examplePod)
  const badJob = structuredClone(exampleJob)
  const podAnnotations = badPod.metadata?.annotations ?? {}
  podAnnotations['stepsplice.dev/steps'] = '- {name: clone, ref: {name: git-clone}, timeout: 5m}\n'
  const jobTemplate = at(badJob, ['spec', 'template'])
  jobTemplate.metadata.annotations['stepsplice.dev/steps'] = '- {name: clone, ref: {name: git-clone}}\n'
  const r = await render(JSON.stringify([badPod, badJob]), '-o', 'json')
  t.equal(r.code, 1)
  t.equal(r.out, '')
  t.same(r.err.trimEnd().split('\n'), [
    `error: Pod default/build-app-*: metadata.annotations["stepsplice.dev/steps"][0].timeout: timeout needs Tekton's entrypoint and cannot be used in a Pod (step "clone")`,
    `error: Job default/build-app: spec.template.metadata.annotations["stepsplice.dev/steps"][0].params: non-existent params in Step: [url]; the StepAction requires url: pass it in params (step "clone", StepAction default/git-clone from ${join(exampleCatalogDir, 'git-clone.yaml')})`,
  ])
})

t.test('a step of the wrong shape does not hide the other steps’ problems', async (t) => {
  const pod = (steps: unknown[]): string =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'default', annotations: { 'stepsplice.dev/steps': JSON.stringify(steps) } },
      spec: { containers: [{ name: 'main', image: 'busybox' }] },
    })
  const at = (i: number): string => `metadata.annotations["stepsplice.dev/steps"][${i}]`
  const r = await render(
    pod([
      { name: 'clone', ref: { name: 'git-clone' }, image: 'alpine', params: [{ name: 'url', value: 'x' }] },
      { name: 'build', ref: { name: 'go-bild' } },
      { name: 'use', ref: { name: 'go-build' }, params: [{ name: 'packages', value: '$(steps.clone.results.commit)' }] },
    ]),
  )
  t.equal(r.code, 1)
  const errors = r.err.trim().split('\n')
  t.equal(errors.length, 3, 'three problems, one round')
  t.match(errors[0], `${at(0)}.image: image cannot be used with Ref`)
  t.match(errors[1], `${at(1)}.ref: stepactions.tekton.dev "go-bild" not found`)
  t.match(errors[2], `${at(2)}.params[0].value: $(steps.clone.results.commit) needs Tekton's entrypoint`, 'named where it was written')

  // What an earlier step that could not be built declares is unknown: a reference to it is not judged. A step
  // that comes later is not earlier, whatever its shape.
  const paths = await render(
    pod([
      { name: 'clone', ref: { name: 'git-clone' }, timeout: '1m', params: [{ name: 'url', value: 'x' }] },
      { name: 'missing', ref: { name: 'no-such-step' } },
      {
        name: 'use',
        ref: { name: 'go-build' },
        params: [
          { name: 'packages', value: '$(steps.clone.results.commit.path)' },
          { name: 'flags', value: ['$(steps.missing.results.x.path)', '$(steps.later.results.x.path)'] },
        ],
      },
      { name: 'later', ref: { name: 'git-clone' }, image: 'alpine' },
    ]),
  )
  t.equal(paths.code, 1)
  const found = paths.err.trim().split('\n')
  t.match(found[0], `${at(0)}.timeout: timeout needs Tekton's entrypoint`)
  t.match(found[1], `${at(1)}.ref: stepactions.tekton.dev "no-such-step" not found`)
  t.match(found[2], `${at(2)}.params[1].value: $(steps.later.results.x.path): step "later" is not an earlier step of this Pod`)
  t.match(found[3], `${at(3)}.image: image cannot be used with Ref`)
  t.equal(found.length, 4, 'nothing about clone or missing')

  // A name given twice: the second step is the one in error, and which of the two a later step means is unknown.
  const twice = await render(
    pod([
      { name: 'a', ref: { name: 'git-clone' }, params: [{ name: 'url', value: 'x' }] },
      { name: 'a', ref: { name: 'summarize' } },
      { name: 'use', ref: { name: 'go-build' }, params: [{ name: 'packages', value: '$(steps.a.results.short-sha.path)' }] },
    ]),
  )
  t.equal(twice.code, 1)
  t.same(
    twice.err
      .trim()
      .split('\n')
      .map((line) => line.replace(/^error: Pod default\/p: /, '')),
    [`${at(1)}.name: duplicate step name "a" (step "a")`],
    'only the duplicate',
  )

  // A list whose every step is of the wrong shape is reported as before; so is a problem with the list itself.
  const all = await render(pod([{ name: 'a', ref: { name: 'git-clone' }, image: 'x' }, { name: 'Bad' }]))
  t.equal(all.code, 1)
  t.equal(all.err.trim().split('\n').length, 3, 'image beside ref; the bad name; the missing ref')
})
