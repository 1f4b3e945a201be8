// fast-check arbitraries for property tests: a small catalog of StepActions
// that uses every kind of param, and TaskRuns, PipelineRuns and Pods built
// from it whose param values are awkward text (references to params that
// exist and that do not, stray `$(` and `)`, newlines, quotes, long runs of
// `$(params.`).

import fc, { type Arbitrary } from 'fast-check'
import { stringify } from 'yaml'
import type { KubeObject } from '../../src/types/k8s.ts'
import type { ParamSpec, StepAction } from '../../src/types/tekton.ts'
import { catalogOf, stepAction } from './catalog.ts'

/** Values the catalog's defaults give; a substitution that rescans text would leak them where they do not belong. */
export const otherDefault = 'OTHER-DEFAULT'
export const taskDefault = 'TQ-DEFAULT'

export const propertyActions: StepAction[] = [
  // A required string used whole and inside text, and a defaulted one a value may name.
  stepAction('say', {
    image: 'alpine:3.20',
    params: [{ name: 'msg' }, { name: 'other', default: otherDefault }],
    command: ['echo'],
    args: ['$(params.msg)', '--other=$(params.other)'],
    env: [{ name: 'MSG', value: 'pre-$(params.msg)-post' }],
  }),
  // A default that references another param, and an array used whole and by index.
  stepAction('greet', {
    image: 'alpine:3.20',
    params: [
      { name: 'who', default: 'world' },
      { name: 'greeting', default: 'hello $(params.who)' },
      { name: 'flags', type: 'array', default: ['-n'] },
    ],
    command: ['printf'],
    args: ['$(params.flags[*])', '$(params.greeting)', '$(params.flags[0])'],
    workingDir: '/home/$(params.who)',
  }),
  // An object param with keys, a result, and a script that reads env.
  stepAction('fetch', {
    image: 'curlimages/curl:8.11.1',
    params: [{ name: 'endpoint', type: 'object', properties: { url: {}, method: {} }, default: { url: 'https://example.invalid', method: 'GET' } }],
    results: [{ name: 'body' }],
    env: [
      { name: 'URL', value: '$(params.endpoint.url)' },
      { name: 'METHOD', value: '$(params.endpoint.method)' },
    ],
    script: 'curl -X "$METHOD" "$URL" > $(step.results.body.path)\n',
  }),
  // A volume mount named by a param.
  stepAction('mount', {
    image: 'busybox:1.37',
    params: [
      { name: 'volume', default: 'cache' },
      { name: 'at', default: '/cache' },
    ],
    command: ['ls'],
    args: ['$(params.at)'],
    volumeMounts: [{ name: '$(params.volume)', mountPath: '$(params.at)' }],
  }),
  // v1alpha1: a required array, a default referencing a later param, a script with a shebang and args.
  stepAction(
    'report',
    {
      image: 'busybox:1.37',
      params: [
        { name: 'lines', type: 'array' },
        { name: 'dir', default: '$(params.base)/out' },
        { name: 'base', default: '/workspace' },
      ],
      results: [{ name: 'count' }],
      env: [{ name: 'DIR', value: '$(params.dir)' }],
      args: ['$(params.lines[*])'],
      script: '#!/bin/sh\nprintf "%s\\n" "$@" | tee "$DIR/report" | wc -l > $(step.results.count.path)\n',
    },
    { apiVersion: 'tekton.dev/v1alpha1' },
  ),
]

export const propertyCatalog = catalogOf(...propertyActions)

const actionNames = propertyActions.map((a) => a.metadata?.name ?? '')
const paramsOfAction = new Map(propertyActions.map((a) => [a.metadata?.name ?? '', a.spec?.params ?? []]))

/** Pieces of awkward text, joined by awkwardText. */
const awkwardToken: Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('$(params.msg)', '$(params.other)', '$(params.missing)', '$(params.who)', '$(params.tp)', '$(params.tq)') },
  { weight: 2, arbitrary: fc.constantFrom('$(params.pp)', '$(params["other"])', "$(params['tp'])", '$(params.endpoint.url)', '$(params.a.b.c)') },
  { weight: 8, arbitrary: fc.constantFrom('$(', ')', '\n', '"', "'", '$(params.', '$(params.a.', '["', '[*]', ' ', '\\', '$$', '${x}', '"])') },
  { weight: 1, arbitrary: fc.integer({ min: 2, max: 40 }).map((n) => '$(params.'.repeat(n)) },
  { weight: 4, arbitrary: fc.string({ maxLength: 5 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 2 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 2 }) },
)

/** Text a param value may hold: everything substitution must treat as data. */
export const awkwardText: Arbitrary<string> = fc.string({ unit: awkwardToken, maxLength: 8 })

/** Awkward text without `$(params.…)`: what a Pod step can pass and still be spliced, since a Pod keeps no reference for later. */
const podToken: Arbitrary<string> = fc.oneof(
  fc.constantFrom('$(', ')', '\n', '"', "'", '["', '[*]', ' ', '\\', '$$', '${x}', '$(HOME)', '$()'),
  fc.string({ maxLength: 5 }).filter((s) => !s.includes('params')),
)
/** Text with no `$(…)` that a Pod step may not hold once substituted: it reaches the step's container as written. */
export const podSafeText: Arbitrary<string> = fc
  .string({ unit: podToken, maxLength: 6 })
  .filter((s) => !/\$\((inputs\.)?(params|steps?|results|workspaces|context|tasks|finally)\b/.test(s))
const podText: Arbitrary<string> = fc.oneof({ weight: 4, arbitrary: podSafeText }, { weight: 1, arbitrary: awkwardText })

/** True about once in `n`. */
const oneIn = (n: number): Arbitrary<boolean> => fc.integer({ min: 1, max: n }).map((i) => i === 1)

/** `arb` about one time in four, else undefined. */
const sometimes = <T>(arb: Arbitrary<T>): Arbitrary<T | undefined> => fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb })

/** A value for one StepAction param: `text` for strings, lists or maps of it otherwise, sometimes a whole task param reference. */
function paramValue(spec: ParamSpec, text: Arbitrary<string>, wholeRefs: readonly string[]): Arbitrary<unknown> {
  const type = spec.type ?? (spec.properties !== undefined ? 'object' : Array.isArray(spec.default) ? 'array' : 'string')
  if (type === 'array') {
    const whole = wholeRefs.length > 0 ? [fc.constantFrom(...wholeRefs.filter((r) => r.endsWith('[*])')))] : []
    return fc.oneof(fc.array(text, { maxLength: 3 }), ...whole)
  }
  if (type === 'object') return fc.record({ url: text, method: text }, { requiredKeys: ['url'] })
  return text
}

export interface StepChoices {
  /** Text for param values. */
  text: Arbitrary<string>
  /** Whole references to task params a value may be (`$(params.ta[*])`). */
  wholeRefs?: readonly string[]
  /** Fields the step may carry besides ref and params. */
  extras: Arbitrary<Record<string, unknown>>
  /** Steps that are wrong in ways a denial must report. */
  broken?: boolean
}

/** One step with `ref` to an action of the catalog, its required params always passed, the others sometimes. */
function refStep(name: string, choices: StepChoices): Arbitrary<Record<string, unknown>> {
  const action = choices.broken ? fc.constantFrom(...actionNames, 'nope') : fc.constantFrom(...actionNames)
  return action.chain((ref) => {
    const specs = paramsOfAction.get(ref) ?? []
    const params = specs.map((spec) => {
      const given = paramValue(spec, choices.text, choices.wholeRefs ?? []).map((value) => ({ name: spec.name, value }))
      return spec.default === undefined ? given.map((p) => [p]) : fc.option(given, { nil: undefined }).map((p) => (p === undefined ? [] : [p]))
    })
    const extra = choices.broken ? sometimes(fc.constant([{ name: 'unknown', value: 'x' }])) : fc.constant(undefined)
    return fc.tuple(fc.tuple(...params), choices.extras, extra).map(([ps, extras, more]) => {
      const step: Record<string, unknown> = { name, ref: { name: ref }, ...extras }
      const all = [...ps.flat(), ...(more ?? [])]
      if (all.length > 0) step.params = all
      return step
    })
  })
}

const tektonExtras: Arbitrary<Record<string, unknown>> = fc.record(
  { computeResources: fc.constant({ requests: { cpu: '100m' } }), timeout: fc.constant('1m'), onError: fc.constantFrom('continue', 'stopAndFail') },
  { requiredKeys: [] },
)

/** Steps of an inline task spec: mostly `ref` steps, sometimes a plain one. */
function taskSteps(choices: StepChoices): Arbitrary<Record<string, unknown>[]> {
  return fc
    .integer({ min: 1, max: 3 })
    .chain((n) =>
      fc.tuple(
        ...Array.from({ length: n }, (_, i) =>
          fc.oneof(
            { weight: 5, arbitrary: refStep(`s${i}`, choices) },
            { weight: 1, arbitrary: fc.constant({ name: `s${i}`, image: 'busybox:1.37', script: 'true' }) },
          ),
        ),
      ),
    )
}

const taskTextChoices = (broken: boolean): StepChoices => ({
  text: fc.oneof(
    { weight: 3, arbitrary: awkwardText },
    { weight: 1, arbitrary: fc.constantFrom('$(params.tp)', '$(params.tq)', '$(params.ta[0])', '$(params.to.k)') },
  ),
  wholeRefs: ['$(params.ta[*])'],
  extras: tektonExtras,
  broken,
})

/** The params an inline task spec declares: a string, a defaulted string, an array and an object. */
const taskParamSpecs = (tqDefault: string): ParamSpec[] => [
  { name: 'tp' },
  { name: 'tq', default: tqDefault },
  { name: 'ta', type: 'array', default: [] },
  { name: 'to', type: 'object', properties: { k: {} }, default: { k: 'K' } },
]

/** A v1 TaskRun with an inline task spec whose steps reference the catalog. */
export const taskRunArb: Arbitrary<KubeObject> = fc
  .record({
    broken: oneIn(4),
    tp: awkwardText,
    tq: fc.option(awkwardText, { nil: undefined }),
    tqDefault: fc.oneof(fc.constant(taskDefault), awkwardText),
    ta: fc.option(fc.array(awkwardText, { maxLength: 3 }), { nil: undefined }),
  })
  .chain((r) =>
    taskSteps(taskTextChoices(r.broken)).map((steps): KubeObject => {
      const params: unknown[] = [{ name: 'tp', value: r.tp }]
      if (r.tq !== undefined) params.push({ name: 'tq', value: r.tq })
      if (r.ta !== undefined) params.push({ name: 'ta', value: r.ta })
      return {
        apiVersion: 'tekton.dev/v1',
        kind: 'TaskRun',
        metadata: { name: 'run', namespace: 'default' },
        spec: { params, taskSpec: { params: taskParamSpecs(r.tqDefault), steps } },
      }
    }),
  )

const pipelineTextChoices = (broken: boolean): StepChoices => ({
  text: fc.oneof(
    { weight: 3, arbitrary: awkwardText },
    {
      weight: 2,
      arbitrary: fc.constantFrom('$(params.tp)', '$(params.tq)', '$(params.pp)', '$(params.pd)', '$(params.ta[0])', '$(params.to.k)', '$(tasks.t0.results.r)'),
    },
  ),
  wholeRefs: ['$(params.ta[*])', '$(params.parr[*])'],
  extras: tektonExtras,
  broken,
})

/** A pipeline task with an inline task spec; its params come from pipeline params, task results, text, and sometimes a matrix. */
function pipelineTask(name: string, broken: boolean): Arbitrary<Record<string, unknown>> {
  return fc
    .record({
      tp: fc.oneof(awkwardText, fc.constantFrom('$(params.pp)', '$(params.pd)', 'plain', '$(tasks.t0.results.r)')),
      ta: sometimes(fc.constantFrom<unknown>('$(params.parr[*])', ['a', '$(params.pp)'])),
      matrix: oneIn(6),
      tqDefault: fc.oneof(fc.constant(taskDefault), awkwardText),
      steps: taskSteps(pipelineTextChoices(broken)),
    })
    .map((r) => {
      const params: unknown[] = [{ name: 'tp', value: r.tp }]
      if (r.ta !== undefined) params.push({ name: 'ta', value: r.ta })
      const task: Record<string, unknown> = { name, params, taskSpec: { params: taskParamSpecs(r.tqDefault), steps: r.steps } }
      if (r.matrix) task.matrix = { params: [{ name: 'tq', value: ['m1', 'm2'] }] }
      return task
    })
}

const tasksOf = (prefix: string, min: number, max: number, broken: boolean): Arbitrary<Record<string, unknown>[]> =>
  fc.integer({ min, max }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => pipelineTask(`${prefix}${i}`, broken))))

/** A v1 PipelineRun with an inline pipeline spec: pipeline params wired through task params into inline task specs. */
export const pipelineRunArb: Arbitrary<KubeObject> = oneIn(4).chain((broken) =>
  fc
    .record({
      pp: sometimes(awkwardText),
      ppDefault: fc.option(fc.oneof(fc.constant('pp-default'), awkwardText), { nil: undefined }),
      pd: fc.oneof(fc.constant('d-$(params.pp)'), awkwardText),
      parr: sometimes(fc.array(awkwardText, { maxLength: 2 })),
      tasks: tasksOf('t', 1, 3, broken),
      finally: tasksOf('f', 0, 2, broken),
    })
    .map((r): KubeObject => {
      const params: unknown[] = []
      if (r.pp !== undefined) params.push({ name: 'pp', value: r.pp })
      if (r.parr !== undefined) params.push({ name: 'parr', value: r.parr })
      const pp: ParamSpec = r.ppDefault === undefined ? { name: 'pp' } : { name: 'pp', default: r.ppDefault }
      const pipelineSpec: Record<string, unknown> = {
        params: [pp, { name: 'pd', default: r.pd }, { name: 'parr', type: 'array', default: ['x'] }],
        tasks: r.tasks,
      }
      if (r.finally.length > 0) pipelineSpec.finally = r.finally
      return { apiVersion: 'tekton.dev/v1', kind: 'PipelineRun', metadata: { name: 'prun', namespace: 'default' }, spec: { params, pipelineSpec } }
    }),
)

const podExtras: Arbitrary<Record<string, unknown>> = fc.record(
  {
    computeResources: fc.constant({ requests: { cpu: '100m', memory: '64Mi' } }),
    imagePullPolicy: fc.constantFrom('Always', 'IfNotPresent'),
    envFrom: fc.constant([{ configMapRef: { name: 'settings' } }]),
  },
  { requiredKeys: [] },
)

/** A Pod asking for steps of the catalog through `stepsplice.dev/steps`, written as JSON or YAML. */
export const podArb: Arbitrary<KubeObject> = fc
  .record({
    broken: oneIn(6),
    yaml: fc.boolean(),
    placement: sometimes(fc.constantFrom('first', 'last')),
    workspace: sometimes(fc.constantFrom('/data', 'none')),
    ownInit: fc.boolean(),
    cacheVolume: fc.boolean(),
    ownWorkspace: oneIn(4),
    main: fc.constantFrom('ls /workspace', 'cat $(steps.s0.results.body.path)', 'echo $(HOME)'),
  })
  .chain((r) =>
    fc.integer({ min: 1, max: 3 }).chain((n) =>
      fc.tuple(...Array.from({ length: n }, (_, i) => refStep(`s${i}`, { text: podText, extras: podExtras, broken: r.broken }))).map((steps): KubeObject => {
        const annotations: Record<string, string> = { 'stepsplice.dev/steps': r.yaml ? stringify(steps) : JSON.stringify(steps) }
        if (r.placement !== undefined) annotations['stepsplice.dev/placement'] = r.placement
        if (r.workspace !== undefined) annotations['stepsplice.dev/workspace'] = r.workspace
        const main: Record<string, unknown> = { name: 'main', image: 'busybox:1.37', command: ['sh', '-c', r.main] }
        const volumes: Record<string, unknown>[] = []
        if (r.cacheVolume) volumes.push({ name: 'cache', emptyDir: { medium: 'Memory' } })
        if (r.ownWorkspace) {
          volumes.push({ name: 'shared', emptyDir: {} })
          main.volumeMounts = [{ name: 'shared', mountPath: '/workspace' }]
        }
        const spec: Record<string, unknown> = { containers: [main] }
        if (r.ownInit) spec.initContainers = [{ name: 'init0', image: 'busybox:1.37', command: ['true'] }]
        if (volumes.length > 0) spec.volumes = volumes
        return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', annotations }, spec }
      }),
    ),
  )
