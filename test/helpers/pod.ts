// Pods and StepActions for the Pod-splice tests: build a Pod around a steps
// annotation, splice it through the same entry point render and the webhook
// use, and read the result back without undefined slipping through.

import { stringify } from 'yaml'
import type { Catalog } from '../../src/resolution/catalog.ts'
import { spliceObject } from '../../src/pipeline/splice.ts'
import { formatProblem } from '../../src/problems/problem.ts'
import type { Expansion } from '../../src/steps/expansion.ts'
import type { Container, KubeObject, PodSpec, Volume } from '../../src/types/k8s.ts'
import type { StepAction } from '../../src/types/tekton.ts'
import { catalogOf, stepAction } from './catalog.ts'

export const stepsKey = 'stepsplice.dev/steps'
export const placementKey = 'stepsplice.dev/placement'
export const workspaceKey = 'stepsplice.dev/workspace'
export const resolvedKey = 'stepsplice.dev/resolved'

/** The steps annotation as a Pod author writes it: a YAML list, in the YAML 1.1 the annotation is read as (`y` is a boolean there). */
export function stepsYaml(steps: unknown[]): string {
  return stringify(steps, { version: '1.1' })
}

export interface PodOptions {
  annotations?: Record<string, string>
  name?: string
  generateName?: string
  namespace?: string
  spec?: PodSpec
}

/** A Pod with one `main` container and the given steps (a list, or annotation text as is). */
export function podWith(steps: unknown[] | string | undefined, options: PodOptions = {}): KubeObject {
  const annotations: Record<string, string> = { ...options.annotations }
  if (steps !== undefined) annotations[stepsKey] = typeof steps === 'string' ? steps : stepsYaml(steps)
  const metadata: Record<string, unknown> = { namespace: options.namespace ?? 'default', annotations }
  if (options.generateName !== undefined) metadata.generateName = options.generateName
  else metadata.name = options.name ?? 'p'
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata,
    spec: options.spec ?? { containers: [{ name: 'main', image: 'busybox:1.37', command: ['sh', '-c', 'ls /workspace'] }] },
  }
}

/** The StepActions most tests use. */
export const actions = {
  /** No script, a defaulted string param. */
  echo: stepAction('echo', { image: 'alpine:3.20', params: [{ name: 'msg', default: 'hello' }], command: ['echo'], args: ['$(params.msg)'] }),
  /** Writes a result from a script without a shebang. */
  writer: stepAction('writer', {
    image: 'busybox:1.37',
    params: [{ name: 'value' }],
    results: [{ name: 'out' }, { name: 'extra' }],
    env: [{ name: 'V', value: '$(params.value)' }],
    script: 'printf %s "$V" > $(step.results.out.path)\n',
  }),
  /** Reads a file named by a param. */
  reader: stepAction('reader', {
    image: 'busybox:1.37',
    params: [{ name: 'file' }],
    env: [{ name: 'FILE', value: '$(params.file)' }],
    command: ['cat'],
    args: ['$(params.file)'],
  }),
}

export function catalogWith(...extra: StepAction[]): Catalog {
  return catalogOf(...Object.values(actions), ...extra)
}

export interface SpliceTestOptions {
  prepareImage?: string
  includeWorkloads?: boolean
  namespace?: string
}

export function splice(obj: KubeObject, catalog: Catalog, options: SpliceTestOptions = {}): Promise<Expansion> {
  return spliceObject(
    obj,
    options.namespace ?? obj.metadata?.namespace ?? 'default',
    { catalog, ...(options.prepareImage === undefined ? {} : { prepareImage: options.prepareImage }) },
    { includeWorkloads: options.includeWorkloads ?? false },
  )
}

/** Problems as render and a denial print them. */
export function lines(e: Expansion): string[] {
  return e.problems.map(formatProblem)
}

export function specOf(obj: KubeObject): PodSpec {
  const spec = obj.spec as PodSpec | undefined
  if (spec === undefined) throw new Error('object has no spec')
  return spec
}

export function initContainers(obj: KubeObject): Container[] {
  return specOf(obj).initContainers ?? []
}

export function initNames(obj: KubeObject): (string | undefined)[] {
  return initContainers(obj).map((c) => c.name)
}

/** One container (init or main) by name; throws instead of returning undefined. */
export function containerNamed(obj: KubeObject, name: string): Container {
  const spec = specOf(obj)
  const c = [...(spec.initContainers ?? []), ...(spec.containers ?? [])].find((x) => x.name === name)
  if (c === undefined) throw new Error(`no container ${name}`)
  return c
}

export function volumesOf(obj: KubeObject): Volume[] {
  return specOf(obj).volumes ?? []
}

/** The decoded content of each script the prepare container carries, by env var name. */
export function decodedScripts(prepare: Container): Record<string, string> {
  const out: Record<string, string> = {}
  for (const e of prepare.env ?? []) out[e.name] = Buffer.from(e.value ?? '', 'base64').toString('utf8')
  return out
}

export function provenanceOf(obj: KubeObject): unknown {
  const text = obj.metadata?.annotations?.[resolvedKey]
  if (text === undefined) throw new Error('no provenance annotation')
  return JSON.parse(text)
}
