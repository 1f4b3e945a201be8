// Builds StepActions and catalogs for tests without touching the disk.

import { MemoryCatalog } from '../../src/catalog/memory.ts'
import { type Expansion } from '../../src/expand/object.ts'
import { spliceObject } from '../../src/core/splice.ts'
import type { KubeObject } from '../../src/types/k8s.ts'
import type { StepAction, StepActionSpec } from '../../src/types/tekton.ts'

export function stepAction(name: string, spec: StepActionSpec, extra: { namespace?: string; apiVersion?: string } = {}): StepAction {
  const metadata: StepAction['metadata'] = { name }
  if (extra.namespace !== undefined) metadata.namespace = extra.namespace
  return { apiVersion: extra.apiVersion ?? 'tekton.dev/v1beta1', kind: 'StepAction', metadata, spec }
}

export function catalogOf(...stepActions: StepAction[]): MemoryCatalog {
  return MemoryCatalog.of('test catalog', stepActions)
}

/** A v1 TaskRun in namespace `default` with an inline task spec. */
export function taskRun(taskSpec: Record<string, unknown>, params?: unknown[]): KubeObject {
  const spec: Record<string, unknown> = { taskSpec }
  if (params !== undefined) spec.params = params
  return { apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { name: 'run', namespace: 'default' }, spec }
}

export async function expand(obj: KubeObject, ...stepActions: StepAction[]): Promise<Expansion> {
  return spliceObject(obj, obj.metadata?.namespace ?? 'default', { catalog: catalogOf(...stepActions) })
}

/** The steps of an expanded TaskRun. */
export function stepsOf(e: Expansion): Record<string, unknown>[] {
  const spec = e.object.spec as { taskSpec: { steps: Record<string, unknown>[] } }
  return spec.taskSpec.steps
}
