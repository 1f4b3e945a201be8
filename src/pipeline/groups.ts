// TaskGroups at admission (issue #16): every site of a run that asks for one
// (groups/sites.ts) gets the merged Task spec written where Tekton will read
// it, before the run's step references are planned, so the steps the used
// Tasks bring are resolved and spliced like the run's own. The only I/O is
// asking the catalog for the group and the Tasks it uses, level by level
// (every `uses` of one group at once); the merge itself is pure
// (groups/merge.ts).
//
// A pipeline task's taskRef that cannot be resolved (or only past a limit,
// or not exactly) is left for Tekton with a warning: a cluster may run
// TaskGroup's own controller. A TaskRun's taskRef and inline `uses`, which
// Tekton cannot run at all, are denied instead, saying why.

import { sha256Digest } from '../json/canonical.ts'
import type { ResolvedTask, TaskKind, TaskReference } from '../definitions/reference.ts'
import { lastApplied, taskGroupApiVersion, taskId } from '../definitions/task.ts'
import { mergeTaskGroup } from '../groups/merge.ts'
import { findGroupSites, type GroupSite, groupsAnnotation, taskGroupLabel } from '../groups/sites.ts'
import { validateTaskGroup } from '../groups/validate.ts'
import type { GroupStep, TaskGroupSpec, UsedTask } from '../groups/types.ts'
import { asList, isJsonObject, valueAtPath, withValueAt } from '../json/values.ts'
import { limits } from '../limits/limits.ts'
import { measure } from '../limits/measure.ts'
import { type Problem, problem } from '../problems/problem.ts'
import { quoteValue } from '../problems/truncate.ts'
import type { Catalog, ResolveOptions } from '../resolution/catalog.ts'
import type { ProvenanceEntry } from '../steps/expansion.ts'
import type { KubeObject } from '../types/k8s.ts'
import type { Param, Step, TaskSpec } from '../types/tekton.ts'

export interface GroupsOutcome {
  /** The run with every group it could merge written in; the input when there were none. */
  object: KubeObject
  changed: boolean
  problems: Problem[]
  warnings: string[]
  /** Where each step a used Task (or a referenced TaskGroup) brought came from, for the provenance annotation and policies. */
  entries: ProvenanceEntry[]
}

/** Where a merged step came from: the Task or TaskGroup object that holds it; none for a step the run's author wrote. */
type Origin = Pick<ProvenanceEntry, 'definition' | 'source' | 'digest' | 'kind' | 'sourceDigest'> | undefined

interface Merged {
  spec: TaskSpec
  /** One per step of spec.steps. */
  origins: Origin[]
  warnings: string[]
}

/** Why a group could not be merged: problems (the author's mistakes), or what stepsplice cannot do (`leave`, `limit`). */
type Failed = { problems: Problem[]; warnings: string[] } | Left

/** Why a group is left for Tekton; `at`, where in the group (`spec.steps[0].uses.taskRef`), when it is one place. */
interface Left {
  leave: string
  at?: string
  warnings: string[]
  /** Definite errors of other uses, found beside what is left: they deny whatever the rest holds. */
  problems?: Problem[]
}

/** One request's walk: lookups counted over all levels against limits.usedTasks, each group merged once. */
interface Walk {
  catalog: Catalog
  namespace: string
  options: ResolveOptions
  used: number
  /** By nesting level and group: a group many sites or steps use is looked up and merged once. */
  merged: Map<string, Promise<Merged | Failed>>
}

/**
 * As a StepAction's: `namespace/name` (a file's without namespace serves the
 * object's), or a remote's canonical source and what was fetched; the
 * catalog; the spec's digest.
 */
function originOf(task: ResolvedTask, namespace: string): Origin {
  const source = task.source ?? 'cluster'
  const remote = source === 'git' || source === 'http' || source === 'bundles'
  const definition = remote ? task.location : `${task.namespace === '' ? namespace : task.namespace}/${task.name}`
  return {
    definition,
    kind: task.kind ?? 'Task',
    source,
    digest: sha256Digest(task.spec),
    ...(task.sourceDigest === undefined ? {} : { sourceDigest: task.sourceDigest }),
  }
}

/** What a `uses.taskRef` asks the catalog for; a problem when it asks for something that is neither a Task nor a TaskGroup. */
function referenceOf(taskRef: Record<string, unknown>, namespace: string): TaskReference | string {
  const kind: TaskKind = taskRef.kind === 'TaskGroup' ? 'TaskGroup' : 'Task'
  if (taskRef.kind !== undefined && taskRef.kind !== 'Task' && taskRef.kind !== 'TaskGroup')
    return `kind must be Task or TaskGroup, not ${quoteValue(taskRef.kind)}`
  if (kind === 'TaskGroup' && taskRef.apiVersion !== undefined && taskRef.apiVersion !== taskGroupApiVersion)
    return `a TaskGroup's apiVersion is ${taskGroupApiVersion}, not ${quoteValue(taskRef.apiVersion)}`
  const resolver = typeof taskRef.resolver === 'string' && taskRef.resolver !== '' ? taskRef.resolver : undefined
  const name = typeof taskRef.name === 'string' ? taskRef.name : ''
  if (resolver === undefined && name === '') return 'needs a name, or a resolver and its params'
  if (resolver !== undefined && kind === 'TaskGroup') return 'a TaskGroup is used by name, not through a resolver'
  const ref: TaskReference = { namespace, name, kind }
  if (resolver !== undefined) {
    ref.resolver = resolver
    ref.params = asList<Param>(taskRef.params)
  }
  return ref
}

/** How messages name a Task or TaskGroup: a file's without namespace as the object's namespace sees it. */
const idOf = (task: ResolvedTask, namespace: string): string =>
  task.source === 'git' || task.source === 'http' || task.source === 'bundles'
    ? `${task.kind ?? 'Task'} ${task.location}`
    : taskId({ ...task, namespace: task.namespace === '' ? namespace : task.namespace })

/** A problem of a group referenced by name, said on the site that references it: `TaskGroup a → TaskGroup b: spec.steps[1]: …`. */
function within(chain: readonly string[], at: string, p: Problem): Problem {
  // An inline group's paths are its task spec's: `spec.steps[1]` of the group is `<at>.steps[1]`.
  const inner = p.path.replace(/^spec\.?/, '')
  if (chain.length === 0) return { ...p, path: inner === '' ? at : `${at}.${inner}` }
  return { ...p, path: at, message: `${chain.join(' → ')}: ${p.path === '' ? '' : `${p.path}: `}${p.message}` }
}

/**
 * `group` merged with every Task it uses, TaskGroups within merged first.
 * `chain` names the referenced groups above it (for cycles and messages);
 * `own` is where the group's own inline steps came from.
 */
async function mergeGroup(group: TaskGroupSpec, chain: readonly string[], own: Origin, walk: Walk): Promise<Merged | Failed> {
  const steps = asList<GroupStep>(group.steps)
  const problems: Problem[] = []
  const warnings: string[] = []
  const uses = [...steps.entries()].filter(([, s]) => isJsonObject(s) && isJsonObject(s.uses) && isJsonObject(s.uses.taskRef))
  walk.used += uses.length
  if (walk.used > limits.usedTasks) return { leave: `the TaskGroups of this object use more than ${limits.usedTasks} Tasks (limit usedTasks)`, warnings }
  const answers = await Promise.all(
    uses.map(async ([i, s]) => {
      const ref = referenceOf((s.uses as { taskRef: Record<string, unknown> }).taskRef, walk.namespace)
      if (typeof ref === 'string') return { i, problem: ref }
      const found = walk.catalog.resolveTask === undefined ? { unresolved: 'no catalog here holds Tasks' } : await walk.catalog.resolveTask(ref, walk.options)
      return { i, ref, found }
    }),
  )
  const used: UsedTask[] = []
  const origins = new Map<number, Origin[]>()
  // What stepsplice cannot do here (the first such use) leaves the group for Tekton, but only once every use was
  // looked at: a use the author got wrong is a definite error whatever the others hold, and denies.
  let left: Left | undefined
  for (const answer of answers) {
    const at = `spec.steps[${answer.i}].uses.taskRef`
    const stepName = steps[answer.i]?.name
    const step = typeof stepName === 'string' ? { step: stepName } : {}
    if ('problem' in answer) {
      problems.push(problem(at, answer.problem as string, step))
      continue
    }
    const { found } = answer
    if (found === undefined) continue
    if ('unresolved' in found) {
      left ??= { leave: found.unresolved, at, warnings }
      continue
    }
    if ('error' in found) {
      // A catalog that does not see the cluster's Tasks (a directory) lacking one says nothing of the cluster.
      if ('missing' in found && found.missing === true && walk.catalog.authoritative !== true) {
        left ??= { leave: found.error, at, warnings }
        continue
      }
      problems.push(problem(at, found.error, step))
      continue
    }
    const task = found.task
    const id = idOf(task, walk.namespace)
    if ((task.kind ?? 'Task') === 'Task') {
      used.push({ index: answer.i, id, spec: task.spec })
      const origin = originOf(task, walk.namespace)
      origins.set(
        answer.i,
        asList<unknown>(task.spec.steps).map(() => origin),
      )
      continue
    }
    if (chain.includes(id)) {
      problems.push(problem(at, `TaskGroups use each other in a cycle: ${[...chain, id].join(' → ')}`, step))
      continue
    }
    if (chain.length + 1 > limits.groupNesting) {
      left ??= { leave: `${[...chain, id].join(' → ')}: TaskGroups nest deeper than ${limits.groupNesting} (limit groupNesting)`, warnings }
      continue
    }
    const inner = await mergeOnce(task, [...chain, id], walk)
    // Said from here: which step of this group uses the group that could not be merged, and where in that one.
    if ('leave' in inner) {
      warnings.push(...inner.warnings)
      problems.push(...(inner.problems ?? []).map((p) => within([id], at, p)))
      left ??= { leave: `${id}: ${inner.at === undefined ? '' : `${inner.at}: `}${inner.leave}`, at, warnings }
      continue
    }
    warnings.push(...inner.warnings)
    if ('problems' in inner) {
      problems.push(...inner.problems.map((p) => within([id], at, p)))
      continue
    }
    used.push({ index: answer.i, id, spec: inner.spec })
    origins.set(answer.i, inner.origins)
  }
  // Not merged without a use that is not known: it would report what that use would have brought as missing.
  if (left !== undefined) return problems.length > 0 ? { ...left, problems } : left
  // What the Tasks found give is merged too, so every problem of the group is reported at once.
  const merged = mergeTaskGroup(group, used)
  warnings.push(...merged.warnings)
  problems.push(...merged.problems)
  if (problems.length > 0 || merged.spec === undefined) return { problems, warnings }
  if (merged.handsOff !== undefined) return { leave: merged.handsOff, warnings }
  const stepOrigins: Origin[] = []
  for (const [i, s] of steps.entries()) {
    if (isJsonObject(s) && s.uses !== undefined) stepOrigins.push(...(origins.get(i) ?? []))
    else stepOrigins.push(own)
  }
  return { spec: merged.spec, origins: stepOrigins, warnings }
}

/** A referenced TaskGroup merged, once per request and nesting level however many sites or steps use it. */
function mergeOnce(task: ResolvedTask, chain: readonly string[], walk: Walk): Promise<Merged | Failed> {
  const key = `${chain.length}\0${chain.at(-1) ?? ''}`
  let merged = walk.merged.get(key)
  if (merged === undefined) {
    merged = mergeGroup(task.spec as TaskGroupSpec, chain, originOf(task, walk.namespace), walk)
    walk.merged.set(key, merged)
  }
  return merged
}

/** The group a site asks for: its inline spec, or the TaskGroup its taskRef names. */
async function groupOf(
  site: GroupSite,
  walk: Walk,
): Promise<{ inline: TaskGroupSpec } | { task: ResolvedTask; id: string } | { problems: Problem[] } | { leave: string }> {
  if (site.ref === undefined) return { inline: site.inline ?? {} }
  if (site.ref === '') return { problems: [problem(`${site.path}.taskRef.name`, 'a taskRef to a TaskGroup needs its name')] }
  if (walk.catalog.resolveTask === undefined) return { leave: `taskgroups.custom.tekton.dev ${quoteValue(site.ref)}: no catalog here holds TaskGroups` }
  walk.used += 1
  if (walk.used > limits.usedTasks) return { leave: `the TaskGroups of this object use more than ${limits.usedTasks} Tasks (limit usedTasks)` }
  const found = await walk.catalog.resolveTask({ namespace: walk.namespace, name: site.ref, kind: 'TaskGroup' }, walk.options)
  if ('unresolved' in found) return { leave: found.unresolved }
  if ('error' in found)
    return 'missing' in found && site.leaveUnresolved ? { leave: found.error } : { problems: [problem(`${site.path}.taskRef`, found.error)] }
  return { task: found.task, id: idOf(found.task, walk.namespace) }
}

/** The site's task spec path, where the merged steps are. */
const taskSpecPath = (site: GroupSite): string => `${site.path}.taskSpec`

/** `obj` with the merged spec written at `site`: a taskRef replaced and labelled, or the inline spec replaced in place. */
function written(obj: KubeObject, site: GroupSite, spec: TaskSpec): KubeObject {
  const holder = valueAtPath(obj, site.path) as Record<string, unknown>
  if (site.ref === undefined) return withValueAt(obj, [...site.holder, 'taskSpec'], spec)
  const replaced: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(holder)) if (k !== 'taskRef') replaced[k] = v
  if (site.holder.length === 1) {
    // The TaskRun: its own labels say which group it runs, as TaskGroup's controller labels the TaskRuns it creates.
    replaced.taskSpec = spec
    const metadata = obj.metadata ?? {}
    const out = withValueAt(obj, site.holder, replaced)
    return withValueAt(out, ['metadata'], { ...metadata, labels: { ...(metadata.labels ?? {}), [taskGroupLabel]: site.ref } })
  }
  // A pipeline task: the embedded spec's metadata labels the TaskRun Tekton creates for it.
  const metadata = isJsonObject(spec.metadata) ? spec.metadata : {}
  const labels = isJsonObject(metadata.labels) ? metadata.labels : {}
  replaced.taskSpec = { ...spec, metadata: { ...metadata, labels: { ...labels, [taskGroupLabel]: site.ref } } }
  return withValueAt(obj, site.holder, replaced)
}

/** Every TaskGroup of `obj` merged in; the object untouched when it has none. */
export async function expandGroups(obj: KubeObject, namespace: string, catalog: Catalog, options: ResolveOptions = {}): Promise<GroupsOutcome> {
  const sites = findGroupSites(obj)
  const outcome: GroupsOutcome = { object: obj, changed: false, problems: [], warnings: [], entries: [] }
  if (sites.length === 0) return outcome
  const walk: Walk = { catalog, namespace, options, used: 0, merged: new Map() }
  // What the merged specs add is bounded like the object: a small run naming a large group many times must not grow past
  // what the API server stores (counted generously: a merged spec's whole size, and every step it holds).
  const budget = { bytes: limits.objectBytes - measure(obj).bytes, steps: limits.steps }
  const sizes = new WeakMap<TaskSpec, number>()
  let out = obj
  for (const site of sites) {
    const leave = (why: string, limit?: string, path?: string): void => {
      const at = path ?? (site.ref === undefined ? `${site.path}.taskSpec` : `${site.path}.taskRef`)
      if (site.leaveUnresolved) outcome.warnings.push(`${at}: stepsplice left this TaskGroup for Tekton: ${why}`)
      else outcome.problems.push(problem(at, `${why}; Tekton cannot run a TaskGroup itself`, limit === undefined ? {} : { limit }))
    }
    if (site.notV1) {
      leave(`a TaskGroup is merged into tekton.dev/v1 runs only; write this ${String(obj.kind)} as tekton.dev/v1`)
      continue
    }
    const group = await groupOf(site, walk)
    if ('leave' in group) {
      leave(group.leave)
      continue
    }
    if ('problems' in group) {
      outcome.problems.push(...group.problems)
      continue
    }
    const chain = 'id' in group ? [group.id] : []
    const merged = 'task' in group ? await mergeOnce(group.task, chain, walk) : await mergeGroup(group.inline, [], undefined, walk)
    outcome.warnings.push(...merged.warnings.map((w) => `${site.path}: ${w}`))
    if ('leave' in merged) {
      // The author's own errors beside it deny; with them, a group Tekton could run is not said to be left to it.
      const definite = merged.problems ?? []
      outcome.problems.push(...definite.map((p) => within(chain, site.ref === undefined ? taskSpecPath(site) : `${site.path}.taskRef`, p)))
      if (definite.length > 0 && site.leaveUnresolved) continue
      if (merged.at === undefined) leave(merged.leave)
      else if (site.ref === undefined) leave(merged.leave, undefined, `${taskSpecPath(site)}.${merged.at.replace(/^spec\./, '')}`)
      else leave(`${chain.join(' → ')}: ${merged.at}: ${merged.leave}`)
      continue
    }
    if ('problems' in merged) {
      const at = site.ref === undefined ? taskSpecPath(site) : `${site.path}.taskRef`
      outcome.problems.push(...merged.problems.map((p) => within(chain, at, p)))
      continue
    }
    const steps = asList<Step>(merged.spec.steps)
    let bytes = sizes.get(merged.spec)
    if (bytes === undefined) {
      bytes = measure(merged.spec, { bytes: limits.objectBytes, depth: limits.depth }).bytes
      sizes.set(merged.spec, bytes)
    }
    if (bytes > budget.bytes || steps.length > budget.steps) {
      const limit = bytes > budget.bytes ? 'objectBytes' : 'steps'
      leave(`merged, the object would pass stepsplice's limit ${limit} (${limit === 'steps' ? limits.steps : limits.objectBytes})`, limit)
      continue
    }
    budget.bytes -= bytes
    budget.steps -= steps.length
    out = written(out, site, merged.spec)
    const task = site.holder.length === 1 ? undefined : pipelineTaskName(obj, site)
    for (const [j, s] of steps.entries()) {
      const origin = merged.origins[j]
      // A step with ref is recorded when its StepAction is spliced, as its own definition.
      if (origin === undefined || !isJsonObject(s) || s.ref != null) continue
      outcome.entries.push({
        path: `${taskSpecPath(site)}.steps[${j}]`,
        step: typeof s.name === 'string' ? s.name : '',
        ...origin,
        ...(task === undefined ? {} : { task }),
      })
    }
  }
  if (outcome.problems.length > 0) return { ...outcome, entries: [] }
  if (out === obj) return outcome
  return { ...outcome, object: withSitesRecorded(out, obj, sites), changed: true }
}

/** The merged sites as they were written, kept so a re-admission can merge them again; past writtenStepsBytes, not kept. */
function withSitesRecorded(out: KubeObject, sent: KubeObject, sites: readonly GroupSite[]): KubeObject {
  const recorded: Record<string, unknown>[] = []
  for (const site of sites) {
    const before = valueAtPath(sent, site.path)
    const after = valueAtPath(out, site.path)
    if (!isJsonObject(before) || !isJsonObject(after) || after.taskRef !== undefined || before.taskSpec === after.taskSpec) continue
    recorded.push(site.ref === undefined ? { path: site.path, taskSpec: before.taskSpec } : { path: site.path, taskRef: before.taskRef })
  }
  const text = JSON.stringify(recorded)
  if (recorded.length === 0 || text.length > limits.writtenStepsBytes) return out
  const metadata = out.metadata ?? {}
  return withValueAt(out, ['metadata'], { ...metadata, annotations: { ...(metadata.annotations ?? {}), [groupsAnnotation]: text } })
}

function pipelineTaskName(obj: KubeObject, site: GroupSite): string | undefined {
  const pt = valueAtPath(obj, site.path)
  return isJsonObject(pt) && typeof pt.name === 'string' ? pt.name : undefined
}

/**
 * A TaskGroup object as the tekton.dev/v1 Task it stands for (`stepsplice
 * render -f taskgroup.yaml`): the group merged with what it uses, named as
 * the group, its labels and annotations kept, so a team can apply the Task
 * and stop running TaskGroup's controller. Problems of the object as written
 * (groups/validate.ts) come first, then those of the merge.
 */
export async function groupAsTask(obj: KubeObject, namespace: string, catalog: Catalog, options: ResolveOptions = {}): Promise<GroupsOutcome> {
  const outcome: GroupsOutcome = { object: obj, changed: false, problems: [], warnings: [], entries: [] }
  const written = validateTaskGroup(obj)
  if (written.length > 0) return { ...outcome, problems: written }
  const walk: Walk = { catalog, namespace, options, used: 0, merged: new Map() }
  const metadata = obj.metadata ?? {}
  const id = taskId({ kind: 'TaskGroup', namespace: metadata.namespace ?? namespace, name: metadata.name ?? '' })
  const merged = await mergeGroup(obj.spec as TaskGroupSpec, [id], undefined, walk)
  if ('leave' in merged)
    return {
      ...outcome,
      problems: [...(merged.problems ?? []), problem('spec', `${merged.leave}: the Task cannot be written exactly`)],
      warnings: merged.warnings,
    }
  if ('problems' in merged) return { ...outcome, problems: merged.problems, warnings: merged.warnings }
  // What a new object keeps of the group's: its name, namespace, labels and annotations (not the server's bookkeeping,
  // nor kubectl's copy of the TaskGroup as applied).
  const kept: Record<string, unknown> = {}
  for (const field of ['name', 'generateName', 'namespace', 'labels'] as const) if (metadata[field] !== undefined) kept[field] = metadata[field]
  const annotations = Object.entries(metadata.annotations ?? {}).filter(([k]) => k !== lastApplied)
  if (annotations.length > 0) kept.annotations = Object.fromEntries(annotations)
  const task: KubeObject = { apiVersion: 'tekton.dev/v1', kind: 'Task', metadata: kept, spec: merged.spec }
  return { ...outcome, object: task, changed: true, warnings: merged.warnings }
}
