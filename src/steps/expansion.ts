// What expanding an object reports, for TaskRuns, PipelineRuns and Pods alike:
// the object, every problem, warnings, and where each spliced step came from.

import type { SourceKind } from '../definitions/definition.ts'
import type { Problem } from '../problems/problem.ts'
import type { KubeObject } from '../types/k8s.ts'

/** Records, on the object, which definition each spliced step came from: for audits and for idempotency. */
export const provenanceAnnotation = 'stepsplice.dev/resolved'

export interface ProvenanceEntry {
  path: string
  step: string
  /** `namespace/name`, or for a remote definition its canonical source (`git+https://…@<commit>#<path>`). */
  definition: string
  source: SourceKind
  /** Set when the step came from a Task or TaskGroup a TaskGroup used (issue #16); absent for a StepAction. */
  kind?: 'Task' | 'TaskGroup'
  /** Digest of the definition's spec. */
  digest: string
  /** For a remote definition, the digest of what was fetched: the commit, the body, the image manifest. */
  sourceDigest?: string
  /**
   * The step as the user wrote it, `ref` and all (TaskRuns and PipelineRuns):
   * splicing it again must give the step at `path`, which is how a re-admitted
   * run's provenance is verified rather than believed (pipeline/provenance.ts).
   */
  written?: Record<string, unknown>
  /** A pipeline task's step: the pipeline task's name, so the TaskRun Tekton creates for it finds its own entries. */
  task?: string
  /**
   * Not recorded: the ref's resolver params as the resolver was asked, task
   * params substituted (`revision: $(params.revision)` as the commit it was).
   */
  resolverParams?: readonly { name: string; value: unknown }[]
}

export interface Expansion {
  /** The expanded object; the input itself when nothing changed or when there are problems. */
  object: KubeObject
  changed: boolean
  problems: Problem[]
  warnings: string[]
  expanded: ProvenanceEntry[]
}
