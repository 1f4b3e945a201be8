// Builds StepActions and catalogs for tests without touching the disk.

import { MemoryCatalog } from '../../src/resolution/memory.ts'
import type { Expansion } from '../../src/steps/expansion.ts'
import { spliceObject } from '../../src/pipeline/splice.ts'
import type { Catalog } from '../../src/resolution/catalog.ts'
import type { KubeObject } from '../../src/types/k8s.ts'
import type { StepAction, StepActionSpec } from '../../src/types/tekton.ts'
import { readPolicies } from '../../src/policy/load.ts'
import type { LoadedPolicy } from '../../src/policy/types.ts'
import { parseAllDocuments } from 'yaml'

export function stepAction(name: string, spec: StepActionSpec, extra: { namespace?: string; apiVersion?: string } = {}): StepAction {
  const metadata: StepAction['metadata'] = { name }
  if (extra.namespace !== undefined) metadata.namespace = extra.namespace
  return { apiVersion: extra.apiVersion ?? 'tekton.dev/v1beta1', kind: 'StepAction', metadata, spec }
}

export function catalogOf(...stepActions: StepAction[]): MemoryCatalog {
  return MemoryCatalog.of('test catalog', stepActions)
}

/** A catalog that speaks for the cluster, as the cluster catalog does: a name it lacks, Tekton lacks too. */
export function clusterCatalogOf(...stepActions: StepAction[]): MemoryCatalog {
  return MemoryCatalog.of('the cluster', stepActions, { kind: 'cluster', location: 'the cluster' }, { authoritative: true })
}

/** A v1 TaskRun in namespace `default` with an inline task spec. */
export function taskRun(taskSpec: Record<string, unknown>, params?: unknown[]): KubeObject {
  const spec: Record<string, unknown> = { taskSpec }
  if (params !== undefined) spec.params = params
  return { apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { name: 'run', namespace: 'default' }, spec }
}

/** A v1 PipelineRun in namespace `default` with an inline pipeline spec. */
export function pipelineRun(pipelineSpec: Record<string, unknown>, params?: unknown[]): KubeObject {
  const spec: Record<string, unknown> = { pipelineSpec }
  if (params !== undefined) spec.params = params
  return { apiVersion: 'tekton.dev/v1', kind: 'PipelineRun', metadata: { name: 'prun', namespace: 'default' }, spec }
}

export async function expand(obj: KubeObject, ...stepActions: StepAction[]): Promise<Expansion> {
  return spliceObject(obj, obj.metadata?.namespace ?? 'default', { catalog: catalogOf(...stepActions) })
}

/** Like expand, with a catalog of the caller's choosing. */
export async function expandWith(obj: KubeObject, catalog: Catalog, namespace = obj.metadata?.namespace ?? 'default'): Promise<Expansion> {
  return spliceObject(obj, namespace, { catalog })
}

/** The steps of an expanded TaskRun. */
export function stepsOf(e: Expansion): Record<string, unknown>[] {
  const spec = e.object.spec as { taskSpec: { steps: Record<string, unknown>[] } }
  return spec.taskSpec.steps
}

/** One step of an expanded TaskRun; fails loudly instead of returning undefined. */
export function stepOf(e: Expansion, index = 0): Record<string, unknown> {
  const step = stepsOf(e)[index]
  if (step === undefined) throw new Error(`no step ${index}`)
  return step
}

/** The steps of one pipeline task (in `tasks`, or `finally`) of an expanded PipelineRun. */
export function pipelineStepsOf(e: Expansion, index: number, field: 'tasks' | 'finally' = 'tasks'): Record<string, unknown>[] {
  const spec = e.object.spec as { pipelineSpec: Record<string, { taskSpec: { steps: Record<string, unknown>[] } }[]> }
  const task = spec.pipelineSpec[field]?.[index]
  if (task === undefined) throw new Error(`no pipeline task ${field}[${index}]`)
  return task.taskSpec.steps
}

/** The valid policies of a YAML text; a problem in it is a mistake in the test. */
export function policiesOf(yaml: string): LoadedPolicy[] {
  const read = readPolicies(
    parseAllDocuments(yaml).map((d) => d.toJS()),
    'test',
  )
  if (read.problems.length > 0) throw new Error(read.problems.join('\n'))
  return read.policies
}
