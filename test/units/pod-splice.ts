// Splicing steps into a Pod: order and placement, Tekton's param semantics,
// the fields a step carries, workspace, volumes, collisions, provenance and
// idempotency. Everything goes through spliceObject, the entry point render
// and the webhook share.

import t from 'tap'
import { sha256Digest } from '../../src/json/canonical.ts'
import type { Container, KubeObject } from '../../src/types/k8s.ts'
import { stepAction } from '../helpers/catalog.ts'
import {
  actions,
  catalogWith,
  containerNamed,
  initContainers,
  initNames,
  lines,
  placementKey,
  podWith,
  provenanceOf,
  resolvedKey,
  specOf,
  splice,
  stepsKey,
  volumesOf,
  workspaceKey,
} from '../helpers/pod.ts'

const workspaceMount = { name: 'stepsplice-workspace', mountPath: '/workspace' }
const workspaceVolume = { name: 'stepsplice-workspace', emptyDir: {} }

/** Exercises every kind of param Tekton knows. */
const tool = stepAction('tool', {
  image: 'registry.example/tool:$(params.version)',
  params: [
    { name: 'version', default: '1.0' },
    { name: 'target' },
    { name: 'flags', type: 'array', default: ['--quiet'] },
    { name: 'endpoint', type: 'object', properties: { url: {}, method: {} }, default: { url: 'https://default.example', method: 'GET' } },
    { name: 'context', default: '/src' },
    { name: 'dockerfile', default: '$(params.context)/Dockerfile' },
  ],
  workingDir: '$(params.context)',
  command: ['tool'],
  args: ['$(params.flags[*])', '--target=$(params.target)', '$(params.flags[0])', '--method=$(params.endpoint.method)', '$(params.endpoint.url)'],
  env: [{ name: 'DOCKERFILE', value: '$(params.dockerfile)' }],
})

/** Mounts a volume named by a param, as Tekton StepActions do. */
const cache = stepAction('cache', {
  image: 'busybox:1.37',
  params: [
    { name: 'volume', default: 'cache' },
    { name: 'at', default: '/cache' },
  ],
  command: ['ls'],
  volumeMounts: [{ name: '$(params.volume)', mountPath: '$(params.at)' }],
})

const rooted = stepAction('rooted', { image: 'busybox:1.37', command: ['id'], securityContext: { runAsUser: 0 } })

const catalog = catalogWith(tool, cache, rooted)

async function spliced(pod: KubeObject): Promise<KubeObject> {
  const e = await splice(pod, catalog)
  if (e.problems.length > 0) throw new Error(lines(e).join('\n'))
  if (!e.changed) throw new Error('not changed')
  return e.object
}

t.test('a simple step: one init container, workspace, provenance; the input is not modified', async (t) => {
  const pod = podWith([{ name: 'hi', ref: { name: 'echo' } }])
  const before = structuredClone(pod)
  const e = await splice(pod, catalog)
  t.same(e.problems, [])
  t.equal(e.changed, true)
  t.same(pod, before, 'input untouched')
  const spec = specOf(e.object)
  t.same(spec.initContainers, [{ name: 'step-hi', image: 'alpine:3.20', command: ['echo'], args: ['hello'], volumeMounts: [workspaceMount] }])
  t.same(spec.containers, [{ name: 'main', image: 'busybox:1.37', command: ['sh', '-c', 'ls /workspace'], volumeMounts: [workspaceMount] }])
  t.same(spec.volumes, [workspaceVolume])
  t.same(
    e.expanded.map((x) => x.step),
    ['hi'],
  )
  t.equal(e.object.metadata?.annotations?.[stepsKey], pod.metadata?.annotations?.[stepsKey], 'steps annotation kept')
})

t.test("steps run in annotation order after the Pod's own init containers", async (t) => {
  const spec = {
    initContainers: [{ name: 'setup', image: 'busybox:1.37' }],
    containers: [{ name: 'main', image: 'busybox:1.37' }],
  }
  const steps = [
    { name: 'write', ref: { name: 'writer' }, params: [{ name: 'value', value: 'v' }] },
    { name: 'one', ref: { name: 'echo' } },
    { name: 'two', ref: { name: 'echo' }, params: [{ name: 'msg', value: 'second' }] },
  ]
  const last = await spliced(podWith(steps, { spec }))
  t.same(initNames(last), ['setup', 'stepsplice-prepare', 'step-write', 'step-one', 'step-two'], 'default is last')
  const explicit = await spliced(podWith(steps, { spec, annotations: { [placementKey]: 'last' } }))
  t.same(initNames(explicit), initNames(last), 'placement: last is the default')
  const first = await spliced(podWith(steps, { spec, annotations: { [placementKey]: 'first' } }))
  t.same(initNames(first), ['stepsplice-prepare', 'step-write', 'step-one', 'step-two', 'setup'], 'placement: first')
  t.same(containerNamed(first, 'setup'), { name: 'setup', image: 'busybox:1.37' }, "the Pod's own init container is left as it was")
  t.same(containerNamed(first, 'step-two').args, ['second'])
})

t.test('a placement or workspace that makes no sense is refused', async (t) => {
  const e = await splice(podWith([{ name: 'hi', ref: { name: 'echo' } }], { annotations: { [placementKey]: 'middle', [workspaceKey]: 'workspace' } }), catalog)
  t.equal(e.changed, false)
  t.same(lines(e), [
    'metadata.annotations["stepsplice.dev/workspace"]: must be an absolute path or "none"',
    'metadata.annotations["stepsplice.dev/placement"]: must be "first" or "last"',
  ])
})

t.test('params follow Tekton: values, defaults, whole arrays, array elements, objects, chains', async (t) => {
  const out = await spliced(
    podWith([
      {
        name: 'given',
        ref: { name: 'tool' },
        params: [
          { name: 'target', value: 'app' },
          { name: 'version', value: '2.1' },
          { name: 'flags', value: ['-v', '--json'] },
          { name: 'endpoint', value: { url: 'https://hook.example' } },
          { name: 'context', value: '/work' },
        ],
      },
      { name: 'defaults', ref: { name: 'tool' }, params: [{ name: 'target', value: 'lib' }] },
      {
        name: 'explicit',
        ref: { name: 'tool' },
        params: [
          { name: 'target', value: 'x' },
          { name: 'flags', value: [] },
          { name: 'dockerfile', value: '/d/Containerfile' },
        ],
      },
    ]),
  )
  const given = containerNamed(out, 'step-given')
  t.equal(given.image, 'registry.example/tool:2.1', 'image substituted')
  t.equal(given.workingDir, '/work')
  t.same(given.command, ['tool'])
  t.same(
    given.args,
    ['-v', '--json', '--target=app', '-v', '--method=GET', 'https://hook.example'],
    'array spliced as whole args; object key from the value, the other from the default',
  )
  t.same(given.env, [{ name: 'DOCKERFILE', value: '/work/Dockerfile' }], 'a default that references a param follows the value given')

  const defaults = containerNamed(out, 'step-defaults')
  t.equal(defaults.image, 'registry.example/tool:1.0')
  t.equal(defaults.workingDir, '/src')
  t.same(defaults.args, ['--quiet', '--target=lib', '--quiet', '--method=GET', 'https://default.example'])
  t.same(defaults.env, [{ name: 'DOCKERFILE', value: '/src/Dockerfile' }], 'chain resolved from defaults')

  const explicit = containerNamed(out, 'step-explicit')
  t.same(explicit.args?.slice(0, 1), ['--target=x'], 'an empty array adds no args')
  t.same(explicit.env, [{ name: 'DOCKERFILE', value: '/d/Containerfile' }], 'a value given beats the chained default')

  t.notMatch(JSON.stringify(specOf(out)), /\$\(params/, 'no param reference left anywhere')
})

t.test("extra and missing params are refused with Tekton's words, naming step and StepAction", async (t) => {
  const extra = await splice(podWith([{ name: 'a', ref: { name: 'echo' }, params: [{ name: 'colour', value: 'blue' }] }]), catalog)
  t.equal(extra.changed, false)
  t.same(extra.problems, [
    {
      path: 'metadata.annotations["stepsplice.dev/steps"][0].params',
      message: 'extra params passed by Step to StepAction: [colour]; the StepAction takes msg',
      step: 'a',
      definition: 'default/echo',
    },
  ])
  const missing = await splice(
    podWith([
      { name: 'ok', ref: { name: 'echo' } },
      { name: 'b', ref: { name: 'tool' } },
    ]),
    catalog,
  )
  t.same(lines(missing), [
    'metadata.annotations["stepsplice.dev/steps"][1].params: non-existent params in Step: [target]; the StepAction requires target: pass it in params (step "b", StepAction default/tool)',
  ])
  const unknown = await splice(podWith([{ name: 'c', ref: { name: 'nope' } }]), catalog)
  t.same(lines(unknown), ['metadata.annotations["stepsplice.dev/steps"][0].ref: stepactions.tekton.dev "nope" not found in namespace "default" (step "c")'])
  const both = await splice(
    podWith([
      { name: 'a', ref: { name: 'echo' }, params: [{ name: 'colour', value: 'blue' }] },
      { name: 'c', ref: { name: 'nope' } },
    ]),
    catalog,
  )
  t.equal(both.problems.length, 2, 'problems of every step at once')
})

t.test("StepActions resolve in the Pod's namespace", async (t) => {
  const teamEcho = stepAction('echo', { image: 'team-image', command: ['echo'] }, { namespace: 'team-a' })
  const out = await splice(podWith([{ name: 'hi', ref: { name: 'echo' } }], { namespace: 'team-a' }), catalogWith(teamEcho))
  t.equal(containerNamed(out.object, 'step-hi').image, 'team-image')
  t.equal((provenanceOf(out.object) as { definition: string }[])[0]?.definition, 'team-a/echo')
})

t.test('computeResources, envFrom and imagePullPolicy are carried to the container', async (t) => {
  const out = await spliced(
    podWith([
      {
        name: 'hi',
        ref: { name: 'echo' },
        computeResources: { requests: { cpu: '250m', memory: '64Mi' }, limits: { memory: '128Mi' } },
        envFrom: [{ configMapRef: { name: 'settings' } }, { secretRef: { name: 'creds' }, prefix: 'S_' }],
        imagePullPolicy: 'Always',
      },
      { name: 'plain', ref: { name: 'echo' } },
    ]),
  )
  const c = containerNamed(out, 'step-hi')
  t.same(c.resources, { requests: { cpu: '250m', memory: '64Mi' }, limits: { memory: '128Mi' } })
  t.same(c.envFrom, [{ configMapRef: { name: 'settings' } }, { secretRef: { name: 'creds' }, prefix: 'S_' }])
  t.equal(c.imagePullPolicy, 'Always')
  t.notOk('computeResources' in c, 'no Tekton field name leaks into the container')
  const plain = containerNamed(out, 'step-plain')
  for (const f of ['resources', 'envFrom', 'imagePullPolicy', 'securityContext', 'env', 'workingDir']) t.notOk(f in plain, `${f} absent when not asked for`)
})

t.test("securityContext: the definition's wins; the step's is kept when the definition has none", async (t) => {
  const out = await spliced(
    podWith([
      { name: 'root', ref: { name: 'rooted' }, securityContext: { runAsNonRoot: true } },
      { name: 'kept', ref: { name: 'echo' }, securityContext: { runAsNonRoot: true, readOnlyRootFilesystem: true } },
      { name: 'root-only', ref: { name: 'rooted' } },
    ]),
  )
  t.same(containerNamed(out, 'step-root').securityContext, { runAsUser: 0 })
  t.same(containerNamed(out, 'step-kept').securityContext, { runAsNonRoot: true, readOnlyRootFilesystem: true })
  t.same(containerNamed(out, 'step-root-only').securityContext, { runAsUser: 0 })
})

t.test('workspace: default, custom path, none', async (t) => {
  const steps = [{ name: 'hi', ref: { name: 'echo' } }]
  const custom = await spliced(podWith(steps, { annotations: { [workspaceKey]: '/data/ws' } }))
  const customMount = { name: 'stepsplice-workspace', mountPath: '/data/ws' }
  t.same(containerNamed(custom, 'step-hi').volumeMounts, [customMount])
  t.same(containerNamed(custom, 'main').volumeMounts, [customMount])
  t.same(volumesOf(custom), [workspaceVolume])

  const none = await spliced(podWith(steps, { annotations: { [workspaceKey]: 'none' } }))
  t.same(containerNamed(none, 'step-hi').volumeMounts ?? [], [], 'no mount in the step')
  t.same(containerNamed(none, 'main').volumeMounts ?? [], [], 'no mount in the container')
  t.same(volumesOf(none), [], 'no volume')
  t.notMatch(JSON.stringify(none), /stepsplice-workspace/)
})

t.test('a container that already mounts the workspace path: its volume becomes the workspace', async (t) => {
  const spec = {
    containers: [
      { name: 'main', image: 'busybox:1.37', volumeMounts: [{ name: 'data', mountPath: '/workspace' }] },
      { name: 'sidecar', image: 'busybox:1.37', volumeMounts: [{ name: 'data', mountPath: '/data' }] },
    ],
    volumes: [{ name: 'data', emptyDir: { medium: 'Memory' } }],
  }
  const out = await spliced(podWith([{ name: 'hi', ref: { name: 'echo' } }], { spec }))
  t.same(containerNamed(out, 'main').volumeMounts, [{ name: 'data', mountPath: '/workspace' }], 'unchanged')
  const dataAtWorkspace = { name: 'data', mountPath: '/workspace' }
  t.same(containerNamed(out, 'sidecar').volumeMounts, [{ name: 'data', mountPath: '/data' }, dataAtWorkspace], 'others mount the same volume there')
  t.same(containerNamed(out, 'step-hi').volumeMounts, [dataAtWorkspace], 'steps write where the container reads')
  t.same(volumesOf(out), [{ name: 'data', emptyDir: { medium: 'Memory' } }], 'no stepsplice-workspace emptyDir')
})

t.test('a workspace mount written with a trailing slash is the same path', async (t) => {
  const spec = {
    containers: [{ name: 'main', image: 'busybox:1.37', volumeMounts: [{ name: 'data', mountPath: '/workspace/' }] }],
    volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'pvc' } }],
  }
  const out = await spliced(podWith([{ name: 'hi', ref: { name: 'echo' } }], { spec }))
  t.same(containerNamed(out, 'main').volumeMounts, [{ name: 'data', mountPath: '/workspace/' }], 'not given a second mount over its own')
  t.same(containerNamed(out, 'step-hi').volumeMounts, [{ name: 'data', mountPath: '/workspace' }], 'the PVC is the workspace')
  t.same(volumesOf(out), [{ name: 'data', persistentVolumeClaim: { claimName: 'pvc' } }], 'no emptyDir hiding it')
})

t.test('an existing workspace mount with a subPath is followed, read-only is not', async (t) => {
  const spec = {
    containers: [{ name: 'main', image: 'busybox:1.37', volumeMounts: [{ name: 'data', mountPath: '/workspace', subPath: 'ws', readOnly: true }] }],
    volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'pvc' } }],
  }
  const out = await spliced(podWith([{ name: 'hi', ref: { name: 'echo' } }], { spec }))
  t.same(containerNamed(out, 'step-hi').volumeMounts, [{ name: 'data', mountPath: '/workspace', subPath: 'ws' }])
})

t.test('a step whose definition mounts the workspace path keeps that mount', async (t) => {
  const out = await spliced(podWith([{ name: 'c', ref: { name: 'cache' }, params: [{ name: 'at', value: '/workspace' }] }]))
  t.same(containerNamed(out, 'step-c').volumeMounts, [{ name: 'cache', mountPath: '/workspace' }])
})

t.test("param-named volumes bind to the Pod's volume of that name, or get a new emptyDir", async (t) => {
  const spec = {
    containers: [{ name: 'main', image: 'busybox:1.37' }],
    volumes: [{ name: 'shared', persistentVolumeClaim: { claimName: 'shared-pvc' } }],
  }
  const out = await spliced(
    podWith(
      [
        { name: 'bound', ref: { name: 'cache' }, params: [{ name: 'volume', value: 'shared' }] },
        { name: 'fresh', ref: { name: 'cache' }, params: [{ name: 'at', value: '/other' }] },
        { name: 'again', ref: { name: 'cache' } },
      ],
      { spec },
    ),
  )
  t.same(containerNamed(out, 'step-bound').volumeMounts, [{ name: 'shared', mountPath: '/cache' }, workspaceMount])
  t.same(containerNamed(out, 'step-fresh').volumeMounts, [{ name: 'cache', mountPath: '/other' }, workspaceMount])
  t.same(containerNamed(out, 'step-again').volumeMounts, [{ name: 'cache', mountPath: '/cache' }, workspaceMount])
  t.same(
    volumesOf(out),
    [{ name: 'shared', persistentVolumeClaim: { claimName: 'shared-pvc' } }, workspaceVolume, { name: 'cache', emptyDir: {} }],
    'one new emptyDir, the PVC untouched',
  )
  t.same(containerNamed(out, 'main').volumeMounts, [workspaceMount], 'the main container does not mount step volumes')
})

t.test('a param-named volume binds to the Pod volume of that name, or gets an emptyDir; never a stepsplice- name', async (t) => {
  // The Pod's own volume: the step asked for it by name.
  const spec = { containers: [{ name: 'main', image: 'busybox:1.37' }], volumes: [{ name: 'cache', persistentVolumeClaim: { claimName: 'c' } }] }
  const bound = await splice(podWith([{ name: 'c', ref: { name: 'cache' }, params: [{ name: 'volume', value: 'cache' }] }], { spec }), catalog)
  t.same(lines(bound), [])
  t.same(volumesOf(bound.object), [{ name: 'cache', persistentVolumeClaim: { claimName: 'c' } }, workspaceVolume])
  // Not in the Pod: a new emptyDir, never a mount of a volume that does not exist.
  const fresh = await spliced(podWith([{ name: 'c', ref: { name: 'cache' }, params: [{ name: 'volume', value: 'scratch' }] }]))
  t.same(containerNamed(fresh, 'step-c').volumeMounts, [{ name: 'scratch', mountPath: '/cache' }, workspaceMount])
  t.same(volumesOf(fresh), [workspaceVolume, { name: 'scratch', emptyDir: {} }])
  for (const obj of [bound.object, fresh]) {
    const names = new Set(volumesOf(obj).map((v) => v.name))
    for (const c of [...initContainers(obj), ...(specOf(obj).containers ?? [])]) {
      for (const m of c.volumeMounts ?? []) t.ok(names.has(m.name), `${c.name} mounts ${m.name}, which exists`)
    }
  }
  // Through a param, a step could mount stepsplice's own volumes read-write (and rewrite later steps' scripts): refused.
  for (const value of ['stepsplice-scripts', 'stepsplice-cache']) {
    const reserved = await splice(podWith([{ name: 'c', ref: { name: 'cache' }, params: [{ name: 'volume', value }] }]), catalog)
    t.equal(reserved.changed, false)
    t.same(lines(reserved), [
      `metadata.annotations["stepsplice.dev/steps"][0].params: the definition's volume mount is named "${value}": names starting with "stepsplice-" are reserved for stepsplice (step "c", StepAction default/cache)`,
    ])
  }
})

t.test('an empty list of steps changes nothing', async (t) => {
  for (const text of ['[]', '--- []\n']) {
    const pod = podWith(text)
    const e = await splice(pod, catalog)
    t.same(e.problems, [])
    t.equal(e.changed, false, JSON.stringify(text))
    t.equal(e.object, pod)
  }
  const bad = await splice(podWith('[]', { annotations: { [placementKey]: 'middle' } }), catalog)
  t.same(lines(bad), ['metadata.annotations["stepsplice.dev/placement"]: must be "first" or "last"'], 'a bad placement is still reported')
})

t.test('a different volume under a stepsplice- name is refused; an identical one is reused', async (t) => {
  const steps = [{ name: 'w', ref: { name: 'writer' }, params: [{ name: 'value', value: 'x' }] }]
  const taken = await splice(
    podWith(steps, {
      spec: {
        containers: [{ name: 'main', image: 'busybox:1.37' }],
        volumes: [
          { name: 'data', emptyDir: {} },
          { name: 'stepsplice-workspace', persistentVolumeClaim: { claimName: 'ws' } },
          { name: 'stepsplice-results', hostPath: { path: '/tmp' } },
        ],
      },
    }),
    catalog,
  )
  t.equal(taken.changed, false)
  t.same(lines(taken), [
    'spec.volumes[1]: volume "stepsplice-workspace" already exists with a different source; names starting with "stepsplice-" are reserved',
    'spec.volumes[2]: volume "stepsplice-results" already exists with a different source; names starting with "stepsplice-" are reserved',
  ])

  // Written by hand or kept from an earlier tool: the same emptyDir, keys in any order.
  const identical = await splice(
    podWith(steps, {
      spec: {
        containers: [{ name: 'main', image: 'busybox:1.37' }],
        volumes: [
          { emptyDir: {}, name: 'stepsplice-workspace' },
          { name: 'stepsplice-scripts', emptyDir: {} },
        ],
      },
    }),
    catalog,
  )
  t.same(lines(identical), [], 'an identical volume is not a collision')
  t.same(
    volumesOf(identical.object).map((v) => v.name),
    ['stepsplice-workspace', 'stepsplice-scripts', 'stepsplice-results'],
    'reused, not duplicated',
  )
})

t.test('container names stepsplice needs are refused when taken', async (t) => {
  const steps = [{ name: 'build', ref: { name: 'writer' }, params: [{ name: 'value', value: 'x' }] }]
  const e = await splice(
    podWith(steps, {
      spec: {
        initContainers: [{ name: 'step-build', image: 'busybox:1.37' }],
        containers: [{ name: 'stepsplice-prepare', image: 'busybox:1.37' }],
      },
    }),
    catalog,
  )
  t.equal(e.changed, false)
  t.same(lines(e).sort(), [
    'spec.containers[0].name: container name "stepsplice-prepare" is taken; stepsplice needs it for writing scripts',
    'spec.initContainers[0].name: container name "step-build" is taken; stepsplice needs it for step "build"',
  ])

  // Known before resolving: reported together with the steps' own problems.
  const withOthers = await splice(
    podWith([...steps, { name: 'gone', ref: { name: 'nope' } }], {
      spec: { initContainers: [{ name: 'step-build', image: 'busybox:1.37' }], containers: [{ name: 'main', image: 'x' }] },
    }),
    catalog,
  )
  t.same(lines(withOthers), [
    'spec.initContainers[0].name: container name "step-build" is taken; stepsplice needs it for step "build"',
    'metadata.annotations["stepsplice.dev/steps"][1].ref: stepactions.tekton.dev "nope" not found in namespace "default" (step "gone")',
  ])
})

t.test('provenance names each step, its definition, source and digest', async (t) => {
  const out = await spliced(
    podWith([
      { name: 'hi', ref: { name: 'echo' } },
      { name: 'w', ref: { name: 'writer' }, params: [{ name: 'value', value: 'x' }] },
    ]),
  )
  t.same(provenanceOf(out), [
    {
      path: 'metadata.annotations["stepsplice.dev/steps"][0]',
      step: 'hi',
      definition: 'default/echo',
      source: 'directory',
      digest: sha256Digest(actions.echo.spec),
    },
    {
      path: 'metadata.annotations["stepsplice.dev/steps"][1]',
      step: 'w',
      definition: 'default/writer',
      source: 'directory',
      digest: sha256Digest(actions.writer.spec),
    },
  ])
})

t.test('idempotent: a spliced Pod spliced again is left alone', async (t) => {
  const steps = [
    { name: 'w', ref: { name: 'writer' }, params: [{ name: 'value', value: 'x' }] },
    { name: 'hi', ref: { name: 'echo' } },
  ]
  const once = await spliced(podWith(steps, { annotations: { [placementKey]: 'first' } }))
  const again = await splice(once, catalog)
  t.same(again.problems, [])
  t.equal(again.changed, false)
  t.equal(again.object, once, 'the same object back')
  t.same(again.expanded, [])
})

t.test("idempotent after the API server's defaults: a later webhook's change calls stepsplice again", async (t) => {
  // After any webhook's patch the API server applies its defaults again; a sidecar injector after stepsplice makes it
  // call stepsplice again (reinvocationPolicy IfNeeded) with its containers defaulted, and a sidecar added.
  const steps = [
    { name: 'w', ref: { name: 'writer' }, params: [{ name: 'value', value: 'x' }] },
    { name: 'hi', ref: { name: 'echo' } },
  ]
  const once = await spliced(podWith(steps))
  const defaulted = structuredClone(once)
  const spec = specOf(defaulted)
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    c.terminationMessagePath = '/dev/termination-log'
    c.terminationMessagePolicy = 'File'
    c.imagePullPolicy = String(c.image).endsWith(':latest') || !String(c.image).includes(':') ? 'Always' : 'IfNotPresent'
    c.resources ??= {}
  }
  const again = await splice(defaulted, catalog)
  t.same(lines(again), [])
  t.equal(again.changed, false, 'no patch')
  // With the sidecar the later webhook added: not refused; the sidecar gets the workspace, as the Pod's own containers do.
  const withSidecar = structuredClone(defaulted)
  specOf(withSidecar).containers?.push({ name: 'istio-proxy', image: 'istio/proxyv2:1.24.0' })
  const sidecar = await splice(withSidecar, catalog)
  t.same(lines(sidecar), [])
  t.ok(containerNamed(sidecar.object, 'istio-proxy').volumeMounts?.some((m) => m.name === workspaceMount.name && m.mountPath === workspaceMount.mountPath))

  // Only the API server's values: a pull policy it would not give is a change to stepsplice's container.
  const never = structuredClone(defaulted)
  const step = specOf(never).initContainers?.find((c) => c.name === 'step-hi')
  if (step !== undefined) step.imagePullPolicy = 'Never'
  t.match(lines(await splice(never, catalog)), [/already spliced from other step definitions \(step-hi differs in imagePullPolicy\)/])
  const limited = structuredClone(defaulted)
  const prepare = specOf(limited).initContainers?.find((c) => c.name === 'stepsplice-prepare')
  if (prepare !== undefined) prepare.resources = { limits: { cpu: '1m' } }
  t.match(lines(await splice(limited, catalog)), [/stepsplice-prepare differs in resources/])
})

t.test('a Pod spliced from other definitions is refused, not spliced twice', async (t) => {
  const once = await spliced(podWith([{ name: 'hi', ref: { name: 'echo' } }]))
  const edited = structuredClone(once)
  const annotations = edited.metadata?.annotations ?? {}
  annotations[stepsKey] = '- {name: hi, ref: {name: echo}}\n- {name: more, ref: {name: echo}}\n'
  const e = await splice(edited, catalog)
  t.equal(e.changed, false)
  t.same(lines(e), [
    'metadata.annotations["stepsplice.dev/resolved"]: the Pod was already spliced from other step definitions (it holds [step-hi] where its steps give [step-hi, step-more]); remove this annotation and the step-* init containers to splice it again',
  ])

  // The definition changed since (a new digest): also refused.
  const changedEcho = stepAction('echo', { image: 'alpine:3.21', command: ['echo'] })
  const moved = await splice(once, catalogWith(changedEcho))
  t.equal(moved.changed, false)
  t.match(lines(moved), [/stepsplice\.dev\/resolved.*already spliced from other step definitions/])

  const forged = podWith([{ name: 'hi', ref: { name: 'echo' } }], { annotations: { [resolvedKey]: 'not json' } })
  t.equal((await splice(forged, catalog)).problems.length, 1, 'a forged provenance is refused too')
})

t.test('Pods without the steps annotation are never touched', async (t) => {
  const plain = podWith(undefined, { annotations: { other: 'x', [placementKey]: 'first', [workspaceKey]: '/w' } })
  const e = await splice(plain, catalog)
  t.equal(e.changed, false)
  t.equal(e.object, plain)
  t.same(e.problems, [])
  const withProvenance = podWith(undefined, { annotations: { [resolvedKey]: '[]' } })
  t.equal((await splice(withProvenance, catalog)).changed, false, 'a provenance annotation alone does nothing')
  const noMeta: KubeObject = { apiVersion: 'v1', kind: 'Pod', spec: { containers: [{ name: 'c', image: 'i' }] } }
  const bare = await splice(noMeta, catalog)
  t.equal(bare.object, noMeta)
  t.same(bare.problems, [])
})

t.test('the webhook splices Pods only: workload templates are left alone unless asked', async (t) => {
  const job: KubeObject = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'j', namespace: 'default' },
    spec: { template: podWith([{ name: 'hi', ref: { name: 'echo' } }]) },
  }
  const e = await splice(job, catalog)
  t.equal(e.changed, false)
  t.equal(e.object, job)
  const rendered = await splice(job, catalog, { includeWorkloads: true })
  t.equal(rendered.changed, true)
  const wrongGroup: KubeObject = { ...job, apiVersion: 'example.com/v1' }
  t.equal((await splice(wrongGroup, catalog, { includeWorkloads: true })).changed, false, 'a Job of another group is not a batch Job')
})

t.test('a generateName-only Pod is spliced', async (t) => {
  const pod = podWith([{ name: 'hi', ref: { name: 'echo' } }], { generateName: 'build-' })
  const out = await spliced(pod)
  t.equal(out.metadata?.generateName, 'build-')
  t.notOk(out.metadata?.name)
  t.same(initNames(out), ['step-hi'])
})

t.test('the prepare image is the one asked for', async (t) => {
  const pod = podWith([{ name: 'w', ref: { name: 'writer' }, params: [{ name: 'value', value: 'x' }] }])
  const byDefault = await splice(pod, catalog)
  t.equal(initContainers(byDefault.object)[0]?.image, 'busybox:1.37.0')
  const custom = await splice(pod, catalog, { prepareImage: 'registry.internal/tools/busybox:1' })
  t.equal(initContainers(custom.object)[0]?.image, 'registry.internal/tools/busybox:1')
})

t.test('fields of the Pod that stepsplice does not own pass through', async (t) => {
  const spec = {
    restartPolicy: 'Never',
    serviceAccountName: 'builder',
    nodeSelector: { pool: 'build' },
    containers: [{ name: 'main', image: 'busybox:1.37', ports: [{ containerPort: 80 }], env: [{ name: 'A', value: '$(B)' }] }],
  }
  const out = await spliced(podWith([{ name: 'hi', ref: { name: 'echo' } }], { spec, annotations: { keep: 'me' }, name: 'named' }))
  const s = specOf(out)
  t.equal(s.restartPolicy, 'Never')
  t.equal(s.serviceAccountName, 'builder')
  t.same(s.nodeSelector, { pool: 'build' })
  const main = s.containers?.[0] as Container
  t.same(main.ports, [{ containerPort: 80 }])
  t.same(main.env, [{ name: 'A', value: '$(B)' }], "Kubernetes' own $(VAR) left alone")
  t.equal(out.metadata?.annotations?.keep, 'me')
  t.equal(out.metadata?.name, 'named')
})

t.test('an object value lacking a key the definition reads is refused in a Pod: nothing would fill it in', async (t) => {
  const caller = stepAction('caller', {
    image: 'alpine:3.20',
    params: [{ name: 'endpoint', type: 'object', properties: { url: {}, token: {} } }],
    args: ['$(params.endpoint.url)'],
  })
  const withCaller = catalogWith(caller)
  const e = await splice(podWith([{ name: 'call', ref: { name: 'caller' }, params: [{ name: 'endpoint', value: { token: 't' } }] }]), withCaller)
  t.equal(e.changed, false)
  t.same(lines(e), [
    `metadata.annotations["stepsplice.dev/steps"][0].params: missing keys for these params which are required in ParamSpec's properties map[endpoint:[url]]; endpoint needs url (step "call", StepAction default/caller)`,
  ])
  // Not passed at all, a default lacking the key read: the same, not "declares no such param or key".
  const defaulted = stepAction('caller', {
    image: 'alpine:3.20',
    params: [{ name: 'endpoint', type: 'object', properties: { url: {}, token: {} }, default: { token: 'd' } }],
    args: ['$(params.endpoint.url)'],
  })
  const unpassed = await splice(podWith([{ name: 'call', ref: { name: 'caller' } }]), catalogWith(defaulted))
  t.same(lines(unpassed), [
    `metadata.annotations["stepsplice.dev/steps"][0].params: missing keys for these params which are required in ParamSpec's properties map[endpoint:[url]]; endpoint needs url (step "call", StepAction default/caller)`,
  ])
  // token is lacking too, but nothing reads it: the Pod is spliced.
  const fine = await splice(podWith([{ name: 'call', ref: { name: 'caller' }, params: [{ name: 'endpoint', value: { url: 'u' } }] }]), withCaller)
  t.same(lines(fine), [])
  t.same(containerNamed(fine.object, 'step-call').args, ['u'])
})

t.test("a script too large for the prepare container's environment is refused: the Pod could never start", async (t) => {
  const scripted = (name: string, bytes: number) => stepAction(name, { image: 'alpine:3.20', script: `echo ${'x'.repeat(bytes)}` })
  // 100,000 bytes are 133,360 as base64 with the name: past the 131,072 Linux takes for one variable.
  const big = await splice(podWith([{ name: 'big', ref: { name: 'big' } }]), catalogWith(scripted('big', 100_000)))
  t.equal(big.changed, false)
  t.match(lines(big), [
    /^metadata\.annotations\["stepsplice\.dev\/steps"\]\[0\]: the step's script takes 1333\d\d bytes .*\(limit scriptEnvBytes\) \(step "big", StepAction default\/big/,
  ])
  // Each within the limit, twelve of them together past 1 MiB.
  const steps = Array.from({ length: 12 }, (_, i) => ({ name: `s${i}`, ref: { name: 'large' } }))
  const many = await splice(podWith(steps), catalogWith(scripted('large', 90_000)))
  t.equal(many.changed, false)
  t.match(lines(many), [/^metadata\.annotations\["stepsplice\.dev\/steps"\]: the steps' scripts take \d+ bytes .*\(limit scriptsEnvBytes\)$/])
  // Within both: spliced.
  t.same(lines(await splice(podWith(steps.slice(0, 2)), catalogWith(scripted('large', 90_000)))), [])
})

t.test("a step that cannot be built and the Pod's own misuse of reserved names: all in one round", async (t) => {
  const spec = {
    containers: [{ name: 'main', image: 'busybox:1.37', volumeMounts: [{ name: 'stepsplice-x', mountPath: '/x' }] }],
    volumes: [
      { name: 'stepsplice-workspace', hostPath: { path: '/var' } },
      { name: 'stepsplice-x', emptyDir: {} },
    ],
  }
  const e = await splice(podWith([{ name: 'c', ref: { name: 'git-clon' } }], { spec }), catalog)
  t.equal(e.changed, false)
  const found = lines(e)
  t.equal(found.length, 4, found.join('\n'))
  t.ok(
    found.some((l) => /stepsplice\.dev\/steps"\]\[0\]\.ref: .*git-clon/.test(l)),
    'the step',
  )
  t.ok(
    found.some((l) => l.startsWith('spec.containers[0].volumeMounts[0].name: mounts volume "stepsplice-x"')),
    'the reserved mount',
  )
  t.ok(
    found.some((l) => l.startsWith('spec.volumes[1].name: volume "stepsplice-x"')),
    'the reserved volume',
  )
  t.ok(
    found.some((l) => l.startsWith('spec.volumes[0]: volume "stepsplice-workspace" already exists with a different source')),
    'our workspace, taken',
  )
  // The steps' own volumes, as the Pod writes them identically, are no problem when a step fails.
  const tidy = await splice(
    podWith([{ name: 'c', ref: { name: 'git-clon' } }], {
      spec: { containers: [{ name: 'main', image: 'busybox:1.37' }], volumes: [{ name: 'stepsplice-results', emptyDir: {} }] },
    }),
    catalog,
  )
  t.equal(lines(tidy).length, 1, 'only the step')
})
