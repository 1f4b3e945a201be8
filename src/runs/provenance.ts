// The provenance annotation of a TaskRun or PipelineRun: which definition each
// expanded step came from. It is user-editable text, so it is never taken on
// trust: when stepsplice writes it, it writes the entries it computed in
// this admission, and keeps an earlier entry only when the object already
// held it before this request (an UPDATE whose stored object has the same
// entry and the same step at its path). Anything else the caller put there
// is dropped, with a warning, so nobody can make stepsplice record
// provenance it did not compute.

import { asList, isJsonObject, valueAtPath } from '../json/values.ts'
import { limits } from '../limits/limits.ts'
import { comparable } from '../limits/measure.ts'
import { provenanceAnnotation, type ProvenanceEntry } from '../steps/expansion.ts'
import type { KubeObject } from '../types/k8s.ts'

/** The entries of an object's provenance annotation, as written (unchecked), at most one per step a run may hold. */
export function entriesOf(obj: KubeObject | undefined): unknown[] {
  const text = obj?.metadata?.annotations?.[provenanceAnnotation]
  if (typeof text !== 'string' || text.length > limits.objectBytes) return []
  try {
    return asList<unknown>(JSON.parse(text)).slice(0, limits.steps)
  } catch {
    return []
  }
}

/**
 * The only paths stepsplice writes entries for: a step of the TaskRun's or a
 * pipeline task's spec. Group 1 is the task spec's path, group 3 the step's index.
 */
export const stepPath = /^(spec\.(?:taskSpec|pipelineSpec\.(tasks|finally)\[\d{1,6}\]\.taskSpec))\.steps\[(\d{1,6})\]$/

export interface ProvenanceValue {
  /** The annotation's new text. */
  text: string
  /** Entries of the incoming annotation that were not kept. */
  dropped: number
}

/**
 * The annotation after expanding `entries` into `obj`. `stored` is the object
 * as the API server holds it (an UPDATE's oldObject), when there is one.
 */
export function provenanceValue(obj: KubeObject, entries: readonly ProvenanceEntry[], stored?: KubeObject): ProvenanceValue {
  const incoming = entriesOf(obj)
  // What the resolver was asked is for this admission's policies only: the steps as written say it again.
  const recorded = entries.map((e) => (e.resolverParams === undefined ? e : withoutResolverParams(e)))
  // A new object's annotation is usually absent: nothing to keep or drop.
  if (incoming.length === 0) return withinLimit(recorded, [], 0)
  const paths = new Set(entries.map((e) => e.path))
  const storedEntries =
    stored === undefined
      ? new Set<string | undefined>()
      : new Set(
          entriesOf(stored)
            .slice(0, limits.steps)
            .map((e) => comparable(e)),
        )
  // Each step is compared once, however many entries name it: steps are disjoint, so all comparing together reads the object once.
  const sameStep = new Map<string, boolean>()
  const unchangedAt = (path: string): boolean => {
    let same = sameStep.get(path)
    if (same === undefined) {
      const now = comparable(valueAtPath(obj, path))
      same = now !== undefined && now === comparable(valueAtPath(stored, path))
      sameStep.set(path, same)
    }
    return same
  }
  const kept: unknown[] = []
  for (const e of incoming) {
    if (!isJsonObject(e) || typeof e.path !== 'string' || paths.has(e.path) || !stepPath.test(e.path)) continue
    const key = comparable(e)
    if (key === undefined || !storedEntries.has(key)) continue
    if (unchangedAt(e.path)) kept.push(e)
  }
  const dropped = incoming.length - kept.length - incoming.filter((e) => isJsonObject(e) && typeof e.path === 'string' && paths.has(e.path)).length
  return withinLimit(recorded, kept, dropped)
}

function withoutResolverParams({ resolverParams: _, ...entry }: ProvenanceEntry): ProvenanceEntry {
  return entry
}

/** The annotation's text: the entries kept, then this admission's. */
function withinLimit(recorded: readonly ProvenanceEntry[], kept: readonly unknown[], dropped: number): ProvenanceValue {
  const text = JSON.stringify(kept.length === 0 ? recorded : [...kept, ...recorded])
  // The steps as written keep the annotation checkable; past their limit they go, and only the claims stay.
  // They are part of the text, so a text within the limit holds them within it: measured only past it.
  if (text.length <= limits.writtenStepsBytes) return { text, dropped }
  const written = recorded.reduce((n, e) => n + (e.written === undefined ? 0 : JSON.stringify(e.written).length), 0)
  if (written <= limits.writtenStepsBytes) return { text, dropped }
  return { text: JSON.stringify([...kept, ...recorded.map((entry) => ({ ...entry, written: undefined }))]), dropped }
}
