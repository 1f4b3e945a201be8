// Provenance of a run stepsplice expanded before, verified rather than
// believed. A run comes back already expanded when the API server calls the
// webhook again (reinvocationPolicy IfNeeded, after another webhook changed
// it) or, carrying its PipelineRun's annotations, as a TaskRun Tekton created
// for a pipeline task. Its spliced steps hold no `ref` any more, and the
// stepsplice.dev/resolved annotation says where they came from: text anyone
// can write. Policies that ask where a step came from (inlineSteps, sources,
// requiredSteps) must not take that on trust, nor refuse a run for what
// stepsplice itself did.
//
// So each claim is checked the only way that cannot be forged: the annotation
// keeps every step as it was written, `ref` and all; those steps are put back
// and the object spliced again, in its own context, with the definitions as
// they are now. A claim holds when splicing gives exactly the step that is
// there; its provenance is then the one this splice computed. A claim that
// does not hold leaves its step an inline step.
//
// A step a TaskGroup brought (its entry has `kind`: Task or TaskGroup) has no
// `ref` to splice again: the sites were recorded as written
// (stepsplice.dev/taskgroups), so they are put back and merged again, and a
// claim holds when the merge gives a step of its name, from the same
// definition, exactly as it is there. On a TaskRun Tekton created for a
// pipeline task its claims are believed as the others are.

import { asList, isJsonObject, pathSegments, valueAtPath, withValueAt } from '../json/values.ts'
import { groupsAnnotation, sitePath } from '../groups/sites.ts'
import { limits } from '../limits/limits.ts'
import type { GroupsOutcome } from './groups.ts'
import { comparable } from '../limits/measure.ts'
import { entriesOf, stepPath } from '../runs/provenance.ts'
import { type Expansion, type ProvenanceEntry, provenanceAnnotation } from '../steps/expansion.ts'
import type { KubeObject } from '../types/k8s.ts'

/** Sets of claims spliced again at most: a TaskRun of a pipeline task is tried against each task its claims could be from. */
const maxAttempts = 4

export interface VerifiedProvenance {
  /** The claims that held, as this splice records them, at their path in this object. */
  entries: ProvenanceEntry[]
  /** Claims made that did not hold (their steps are judged as inline steps). */
  refuted: number
}

const none: VerifiedProvenance = { entries: [], refuted: 0 }

/** The label Tekton puts on the TaskRun it creates for a pipeline task: the task's name. */
const pipelineTaskLabel = 'tekton.dev/pipelineTask'

/** A claim read from the annotation, with what an entry needs when it is believed. */
interface ReadClaim {
  /** Where the step is in this object. */
  target: string
  /** Unset for a step a TaskGroup brought: there is nothing to splice again. */
  written?: Record<string, unknown>
  entry: ProvenanceEntry
  /** `spec.taskSpec`, or the pipeline task spec path it was recorded at. */
  site: string
}

function readClaims(obj: KubeObject): ReadClaim[] {
  const isTaskRun = obj.kind === 'TaskRun'
  const out: ReadClaim[] = []
  for (const c of entriesOf(obj)) {
    if (!isJsonObject(c) || typeof c.path !== 'string') continue
    const grouped = c.kind === 'Task' || c.kind === 'TaskGroup'
    const written = !grouped && isJsonObject(c.written) && isJsonObject(c.written.ref) ? c.written : undefined
    if (!grouped && written === undefined) continue
    if (typeof c.step !== 'string' || typeof c.definition !== 'string' || typeof c.source !== 'string' || typeof c.digest !== 'string') continue
    const m = stepPath.exec(c.path)
    if (m === null) continue
    const target = isTaskRun ? `spec.taskSpec.steps[${m[3]}]` : c.path
    const step = valueAtPath(obj, target)
    // Only a step without `ref`, of the name the claim wrote, can be the claim's: anything else is not worth splicing.
    if (!isJsonObject(step) || step.ref !== undefined || step.name !== (written === undefined ? c.step : written.name)) continue
    const entry: ProvenanceEntry = {
      path: target,
      step: c.step,
      definition: c.definition,
      source: c.source as ProvenanceEntry['source'],
      digest: c.digest,
      ...(written === undefined ? { kind: c.kind as 'Task' | 'TaskGroup' } : { written }),
      ...(typeof c.sourceDigest === 'string' ? { sourceDigest: c.sourceDigest } : {}),
      ...(typeof c.task === 'string' ? { task: c.task } : {}),
    }
    out.push({ target, ...(written === undefined ? {} : { written }), entry, site: m[1] as string })
  }
  return out
}

/**
 * The claims that could hold, grouped by where they are checked: claims about
 * this object's own steps in one group; a TaskRun's claims about the pipeline
 * task it was created for (named by its label, when the claims name tasks),
 * one group per task.
 */
function groupsOf(obj: KubeObject, claims: readonly ReadClaim[]): ReadClaim[][] {
  const own = claims.filter((c) => c.site === 'spec.taskSpec' || obj.kind !== 'TaskRun')
  const task = obj.metadata?.labels?.[pipelineTaskLabel]
  const byTask = new Map<string, ReadClaim[]>()
  for (const c of claims) {
    if (own.includes(c)) continue
    // The label names the task: the claims of the other tasks are not this TaskRun's.
    if (task !== undefined && c.entry.task !== undefined && c.entry.task !== task) continue
    byTask.set(c.site, [...(byTask.get(c.site) ?? []), c])
  }
  return [...(own.length > 0 ? [own] : []), ...byTask.values()].slice(0, maxAttempts)
}

export interface VerifyOptions {
  /** Merges an object's TaskGroups again (pipeline/groups.ts), for the claims of steps a group brought. */
  regroup?: (o: KubeObject) => Promise<GroupsOutcome>
  /**
   * The object is a TaskRun the Tekton controller created for a PipelineRun
   * (the request's user, not anything in the object): its claims about its
   * pipeline task are what stepsplice recorded when it admitted that
   * PipelineRun, which Tekton copies, having filled in pipeline params and
   * context, so they are believed rather than spliced again.
   */
  createdByTekton?: boolean
}

/**
 * The claims of `obj`'s provenance annotation that hold. `splice` is the
 * pipeline's splice without policies: the claims are put back as written and
 * it runs once per group of claims.
 */
export async function verifyProvenance(
  obj: KubeObject,
  splice: (o: KubeObject) => Promise<Expansion>,
  options: VerifyOptions = {},
): Promise<VerifiedProvenance> {
  const claims = readClaims(obj)
  const groups = groupsOf(obj, claims)
  if (groups.length === 0) return none
  const verified = new Map<string, ProvenanceEntry>()
  const task = obj.metadata?.labels?.[pipelineTaskLabel]
  if (options.createdByTekton === true && obj.kind === 'TaskRun' && task !== undefined) {
    for (const c of claims) if (c.site !== 'spec.taskSpec' && c.entry.task === task && !verified.has(c.target)) verified.set(c.target, c.entry)
  }
  const { [provenanceAnnotation]: _claims, ...otherAnnotations } = obj.metadata?.annotations ?? {}
  const base: KubeObject = { ...obj, metadata: { ...obj.metadata, annotations: otherAnnotations } }
  const spliceWith = (claims: readonly ReadClaim[]): Promise<Expansion> => {
    let written = base
    for (const c of claims) written = withValueAt(written, pathSegments(c.target), c.written)
    return splice(written)
  }
  const grouped = claims.filter((c) => c.written === undefined && !verified.has(c.target) && (c.site === 'spec.taskSpec' || obj.kind !== 'TaskRun'))
  if (grouped.length > 0 && options.regroup !== undefined) for (const e of await mergedAgain(obj, grouped, options.regroup)) verified.set(e.path, e)
  for (const group of groups) {
    // What a TaskGroup brought is not spliced again: merged again above, or believed.
    let open = group.filter((c) => !verified.has(c.target) && c.written !== undefined)
    if (open.length === 0) continue
    let again = await spliceWith(open)
    if (again.problems.length > 0) {
      // A claim whose definition no longer resolves (or is no longer valid) fails alone: the others are spliced once more without it.
      const failed = open.filter((c) => again.problems.some((p) => p.path === c.target || p.path.startsWith(`${c.target}.`)))
      if (failed.length === 0 || failed.length === open.length) continue
      open = open.filter((c) => !failed.includes(c))
      again = await spliceWith(open)
      if (again.problems.length > 0) continue
    }
    if (!again.changed) continue
    for (const c of open) {
      if (verified.has(c.target)) continue
      const entry = again.expanded.find((e) => e.path === c.target)
      const now = comparable(valueAtPath(obj, c.target))
      if (entry !== undefined && now !== undefined && now === comparable(valueAtPath(again.object, c.target))) verified.set(c.target, entry)
    }
  }
  // A TaskRun's step may be claimed for several pipeline tasks: it counts once, refuted when no claim on it held.
  const targets = new Set([...groups.flatMap((g) => g.filter((c) => c.written !== undefined).map((c) => c.target)), ...grouped.map((c) => c.target)])
  return { entries: [...verified.values()], refuted: targets.size - verified.size }
}

/** The recorded sites of a run's TaskGroups, as written; none when the annotation is absent or not what stepsplice writes. */
function recordedSites(obj: KubeObject): { path: string; taskRef?: unknown; taskSpec?: unknown }[] {
  const text = obj.metadata?.annotations?.[groupsAnnotation]
  if (typeof text !== 'string' || text.length > limits.writtenStepsBytes) return []
  try {
    return asList<unknown>(JSON.parse(text)).filter(
      (r): r is { path: string; taskRef?: unknown; taskSpec?: unknown } =>
        isJsonObject(r) && typeof r.path === 'string' && sitePath.test(r.path) && (isJsonObject(r.taskRef) || isJsonObject(r.taskSpec)),
    )
  } catch {
    return []
  }
}

/** The group claims that hold: the sites put back as written and merged again give the step there, from the same definition. */
async function mergedAgain(obj: KubeObject, claims: readonly ReadClaim[], regroup: (o: KubeObject) => Promise<GroupsOutcome>): Promise<ProvenanceEntry[]> {
  const sites = recordedSites(obj)
  if (sites.length === 0) return []
  let rebuilt = obj
  for (const site of sites) {
    const holder = valueAtPath(rebuilt, site.path)
    if (!isJsonObject(holder)) continue
    const { taskSpec: _merged, ...rest } = holder
    rebuilt = withValueAt(
      rebuilt,
      pathSegments(site.path),
      site.taskRef !== undefined ? { ...rest, taskRef: site.taskRef } : { ...rest, taskSpec: site.taskSpec },
    )
  }
  const again = await regroup(rebuilt)
  if (again.problems.length > 0 || !again.changed) return []
  const out: ProvenanceEntry[] = []
  for (const c of claims) {
    const spec = c.target.replace(/\.steps\[\d+\]$/, '')
    const entry = again.entries.find((e) => e.step === c.entry.step && e.path.startsWith(`${spec}.steps[`))
    if (entry === undefined || entry.definition !== c.entry.definition || entry.digest !== c.entry.digest) continue
    const now = comparable(valueAtPath(obj, c.target))
    if (now !== undefined && now === comparable(valueAtPath(again.object, entry.path))) out.push({ ...entry, path: c.target })
  }
  return out
}
