// The one path every caller takes, `render` and the webhook alike:
// measure → plan (pure) → resolve references (the only I/O) → expand (pure).
//
// Limits: an object past one of stepsplice's limits (limits/limits.ts) is
// not the author's mistake. A TaskRun or PipelineRun past one is admitted
// unexpanded with a warning that names the limit, and Tekton expands its
// steps as it always would; a Pod has no Tekton behind it, so there the
// limit is a denial that says which one.

import { checkContainers, producedInitContainers, producedSteps } from '../checks/containers.ts'
import { Budget, LimitExceeded } from '../limits/budget.ts'
import { checkSizeAndDepth } from '../limits/measure.ts'
import { stepsAnnotation } from '../pods/annotation.ts'
import { defaultPrepareImage, expandPod, planPod } from '../pods/expand.ts'
import { prepareName } from '../pods/prepare.ts'
import { formatProblem, type Problem, problem } from '../problems/problem.ts'
import type { Catalog, ResolveOptions } from '../resolution/catalog.ts'
import type { TaskResolution } from '../definitions/reference.ts'
import { resolveReferences } from '../resolution/resolve.ts'
import { expandRun, planRun } from '../runs/expand.ts'
import { inlinableTaskRef, inlineTask, usesStepRefs } from '../runs/inline.ts'
import { isTektonRun } from '../runs/sites.ts'
import { type Expansion, type ProvenanceEntry, provenanceAnnotation } from '../steps/expansion.ts'
import type { UnresolvedPolicy } from '../steps/reference.ts'
import { findGroupSites } from '../groups/sites.ts'
import { expandGroups, groupAsTask, type GroupsOutcome } from './groups.ts'
import { taskKindOf } from '../definitions/task.ts'
import type { KubeObject } from '../types/k8s.ts'
import { isJsonObject } from '../json/values.ts'
import { evaluateImageChanges, evaluatePolicies, needsNamespaceLabels, policiesFor, verdict } from '../policy/evaluate.ts'
import { injectRequiredSteps } from '../policy/required.ts'
import type { LoadedPolicy, PolicyReport } from '../policy/types.ts'
import { verifyProvenance, type VerifiedProvenance } from './provenance.ts'

export interface SpliceDeps {
  catalog: Catalog
  /** Image of the init container that writes Pod step scripts. */
  prepareImage?: string
  /** Write a TaskRun's taskRef out as its Task's spec when the Task's steps reference definitions (default true). */
  inlineTaskRefs?: boolean
  /**
   * Kinds of reference (`git`, `http`, `bundles`, `cluster`, `local`, … or
   * `all`) that must resolve at admission: a TaskRun or PipelineRun with one
   * that does not is denied instead of left for Tekton.
   */
  requireResolution?: ReadonlySet<string>
  /** Step policies, every one loaded; those that apply to the object's namespace are evaluated. */
  policies?: readonly LoadedPolicy[]
  /**
   * A namespace's labels, for ClusterStepPolicies that select namespaces by
   * label; asked only when one does. Undefined when unknown: such a selector
   * then does not match (policy/evaluate.ts#policiesFor).
   */
  namespaceLabels?: (namespace: string, options: ResolveOptions) => Promise<Record<string, string> | undefined>
}

/** What the pipeline made of an object, and what the policies found (for metrics). */
export interface Spliced extends Expansion {
  policyReport?: PolicyReport
}

export interface SpliceOptions extends ResolveOptions {
  /** Expand the Pod templates of Jobs, Deployments and the like (render does; the webhook mutates Pods only). */
  includeWorkloads?: boolean
  /** The object as stored before this request (an UPDATE's oldObject). */
  oldObject?: KubeObject
  /** A TaskRun the Tekton controller created for a PipelineRun, as the request's user says (admission/mutate.ts). */
  createdByTekton?: boolean
  /** Write a TaskGroup object out as the tekton.dev/v1 Task it stands for (render does; admission only validates TaskGroups). */
  groupsAsTasks?: boolean
}

/** The namespace references resolve in: the object's own, else the caller's default. */
export function namespaceOf(obj: KubeObject, fallback: string): string {
  const ns = obj.metadata?.namespace
  return typeof ns === 'string' && ns !== '' ? ns : fallback
}

function unchanged(obj: KubeObject, problems: Problem[], warnings: string[] = []): Expansion {
  return { object: obj, changed: false, problems, warnings, expanded: [] }
}

/**
 * Whether spliceObject gives `obj` back unchanged with nothing to say, told
 * without running it: a Pod that asks for no steps (planPod finds no steps
 * annotation), when no policy is loaded that could judge it. Most Pods a
 * cluster creates are this; the webhook answers them with this check instead
 * of the whole pipeline (admission/mutate.ts). A test holds it to
 * spliceObject's answer for Pods of every shape.
 */
export function leftAsSent(obj: KubeObject, deps: Pick<SpliceDeps, 'policies'>): boolean {
  if (obj.kind !== 'Pod' || (deps.policies?.length ?? 0) > 0) return false
  const metadata: unknown = obj.metadata
  const annotations = isJsonObject(metadata) ? metadata.annotations : undefined
  return !isJsonObject(annotations) || typeof annotations[stepsAnnotation] !== 'string'
}

/** A run past a limit goes to Tekton unexpanded; everything else keeps its problems. */
function limitOutcome(obj: KubeObject, isPod: boolean, problems: Problem[]): Expansion {
  const limited = problems.filter((p) => p.limit !== undefined)
  if (isPod || limited.length === 0) return unchanged(obj, problems)
  const others = problems.filter((p) => p.limit === undefined)
  if (others.length > 0) return unchanged(obj, others)
  const kind = typeof obj.kind === 'string' ? obj.kind : 'object'
  return unchanged(
    obj,
    [],
    limited.map((p) => `stepsplice left this ${kind} for Tekton to expand: ${formatProblem(p)}`),
  )
}

/**
 * The TaskRun to expand: `obj` itself, or, when it names a Task whose steps
 * reference definitions, `obj` with that Task written out (runs/inline.ts).
 * A Task that cannot be found is left for Tekton, which reports it its own way.
 */
async function taskOf(
  obj: KubeObject,
  namespace: string,
  deps: SpliceDeps,
  options: ResolveOptions,
  known?: TaskResolution,
): Promise<{ object: KubeObject } | { warning: string }> {
  // What was found is for the object as sent: one whose Task was written out already has nothing to look up.
  const found = known !== undefined && inlinableTaskRef(obj) !== undefined ? known : await lookUpTask(obj, namespace, deps, options)
  if (found === undefined) return { object: obj }
  // A catalog that does not see the cluster's Tasks (a directory) saying it lacks one says nothing about the cluster.
  if ('missing' in found && deps.catalog.authoritative !== true) return { object: obj }
  if ('error' in found) return { warning: `spec.taskRef: ${found.error}; left for Tekton to resolve` }
  if ('unresolved' in found) return { warning: `spec.taskRef: ${found.unresolved}; left for Tekton to resolve` }
  return usesStepRefs(found.task) ? { object: inlineTask(obj, found.task) } : { object: obj }
}

/** The Task a v1 TaskRun names, when it names one stepsplice may write out and the catalog serves Tasks; undefined otherwise. */
async function lookUpTask(obj: KubeObject, namespace: string, deps: SpliceDeps, options: ResolveOptions): Promise<TaskResolution | undefined> {
  const name = deps.inlineTaskRefs === false ? undefined : inlinableTaskRef(obj)
  if (name === undefined || deps.catalog.resolveTask === undefined) return undefined
  return deps.catalog.resolveTask({ namespace, name }, options)
}

/**
 * plan → resolve → expand → check, then the step policies (policy/): they
 * judge the object as it would be admitted, with what was spliced into it.
 */
export async function spliceObject(sent: KubeObject, namespace: string, deps: SpliceDeps, options: SpliceOptions = {}): Promise<Spliced> {
  if (options.groupsAsTasks === true && taskKindOf(sent) === 'TaskGroup') {
    const task = await groupAsTask(sent, namespace, deps.catalog, options)
    return { object: task.problems.length > 0 ? sent : task.object, changed: task.changed, problems: task.problems, warnings: task.warnings, expanded: [] }
  }
  const governing = await policiesOf(sent, namespace, deps, options)
  const undecided = undecidedOutcome(governing, namespace)
  if (undecided.problems.length > 0) return unchanged(sent, undecided.problems, undecided.warnings)
  // TaskGroups first: what they merge in is then planned, spliced, injected into and judged like the run's own steps.
  const groups = await groupsOf(sent, namespace, deps, options)
  if (groups.problems.length > 0) return unchanged(sent, groups.problems, groups.warnings)
  const obj = groups.object
  const policies = governing.policies
  if (policies.some((p) => p.spec.requiredSteps !== undefined)) {
    // Injection walks every task spec: the object is measured against the named limits before that work, as splicing does.
    const measured = checkSizeAndDepth(obj, '', typeof obj.kind === 'string' ? `the ${obj.kind}` : 'the object')
    if (measured.length > 0) return limitOutcome(obj, obj.kind === 'Pod', measured)
  }
  const verified = await provenanceOf(obj, policies, {
    splice: (o) => spliceUnchecked(o, namespace, deps, options),
    regroup: (o) => expandGroups(o, namespace, deps.catalog, options),
    createdByTekton: options.createdByTekton === true,
  })
  // A TaskRun naming its Task is judged by the Task's steps, and gets required steps in the Task written out, when the catalog
  // holds it (looked up once: the splice below is given what was found). Otherwise its steps are not judged, and injection
  // says it cannot add to a TaskRun that references its Task.
  const task = policies.length > 0 ? await lookUpTask(obj, namespace, deps, options) : undefined
  const written = task !== undefined && 'task' in task ? inlineTask(obj, task.task) : obj
  // Required steps are added first, as references: they are resolved, spliced and judged like the object's own.
  const judgedTask = injectRequiredSteps(written, policies, verified.entries)
  // The Task stays referenced when nothing had to be added to it: the run changes only for what a policy requires.
  const injection = judgedTask.injected.length === 0 && judgedTask.problems.length === 0 ? { ...judgedTask, object: obj } : judgedTask
  // The steps a group brought move with the required steps added before them, as verified entries do.
  const groupEntries = groups.entries.map((e) => ({ ...e, path: movedBy(e.path, injection.shifted) }))
  // Only a policy that denies needs to see every step: an Audit policy's verdict is a warning, and a step it cannot see admits as it would.
  const enforcing = policies.some((p) => p.mode === 'Enforce')
  const spliced = await spliceUnchecked(injection.object, namespace, deps, enforcing ? { ...options, judged: true } : options, task, groupEntries)
  // A denial is about the object as sent; an injected step left for Tekton (or a run left unexpanded) is still a change, and so is a merged group.
  const added = injection.injected.length > 0 || groups.changed
  const expansion: Expansion =
    spliced.problems.length > 0 || injection.problems.length > 0
      ? { ...spliced, object: sent, changed: false, problems: [...injection.problems, ...spliced.problems] }
      : added && !spliced.changed
        ? { ...spliced, object: injection.object, changed: true }
        : spliced
  const before = [...undecided.warnings, ...groups.warnings, ...injection.warnings]
  if (before.length > 0) expansion.warnings = [...before, ...expansion.warnings]
  // A denial for what the user wrote already stands; an object stepsplice does not govern (a ConfigMap, a Pod template render does not expand) is not judged.
  if (policies.length === 0 || spliced.problems.length > 0 || !(isTektonRun(obj) || obj.kind === 'Pod')) return expansion
  // What this admission spliced, and what an earlier one did that splicing again confirmed, where the steps are now.
  const fresh = new Set(expansion.expanded.map((e) => e.path))
  const earlier = verified.entries.map((e) => ({ ...e, path: movedBy(e.path, injection.shifted) })).filter((e) => !fresh.has(e.path))
  const expanded = [...expansion.expanded, ...earlier]
  if (verified.refuted > 0)
    expansion.warnings = [
      ...expansion.warnings,
      `${provenanceAnnotation}: ${verified.refuted} of the steps it names are not what their definitions give when spliced again; the policies judge them as inline steps`,
    ]
  // The object as spliced; with a required step that could not be added, without it, so every violation is reported at once.
  // A Task left referenced (nothing to splice or add) still runs its steps: they are what is judged.
  const judgedObject = !spliced.changed && injection.object === obj && written !== obj ? written : spliced.object
  const violations = evaluatePolicies(policies, { object: judgedObject, namespace, expanded })
  const policyReport: PolicyReport = {
    evaluated: policies.map((p) => p.id),
    violations: [...injectionTally(injection), ...violations.map((v) => ({ policy: v.policy, rule: v.rule, mode: v.mode }))],
  }
  const judged = verdict(violations)
  const problems = [...injection.problems, ...judged.problems]
  if (problems.length > 0) return { ...unchanged(sent, problems, [...expansion.warnings, ...judged.warnings]), policyReport }
  return { ...expansion, warnings: [...expansion.warnings, ...judged.warnings], policyReport }
}

/**
 * The containers stepsplice spliced into a stored Pod, by name, with the
 * step each runs ('' for the prepare container): every init container named
 * `step-<name>` or the prepare container's name. A Pod's containers cannot
 * change names once it exists, but its annotations can: an earlier update
 * may have dropped or rewritten the steps annotation, so the stored init
 * containers are the record. (A Pod's own init container named `step-…`
 * counts too: it cannot be told apart.)
 */
function splicedContainers(stored: KubeObject): Map<string, string> {
  const out = new Map<string, string>()
  const spec = isJsonObject(stored.spec) ? stored.spec : {}
  for (const c of Array.isArray(spec.initContainers) ? spec.initContainers : []) {
    const name = isJsonObject(c) && typeof c.name === 'string' ? c.name : undefined
    if (name === prepareName) out.set(name, '')
    else if (name?.startsWith(stepContainerPrefix)) out.set(name, name.slice(stepContainerPrefix.length))
  }
  return out
}

/** What a spliced step's init container is named before the step's name (pods/expand.ts). */
const stepContainerPrefix = 'step-'

/**
 * A Pod's UPDATE, judged: nothing is spliced (the API server refuses any
 * change to a Pod's containers but their images), and only the images it
 * changes are held to the images rules of the policies that govern it.
 */
export async function judgeImageUpdate(sent: KubeObject, old: KubeObject, namespace: string, deps: SpliceDeps, options: ResolveOptions = {}): Promise<Spliced> {
  const governing = await policiesOf(sent, namespace, deps, options)
  const undecided = undecidedOutcome(governing, namespace)
  if (undecided.problems.length > 0) return unchanged(sent, undecided.problems, undecided.warnings)
  const policies = governing.policies
  if (policies.length === 0) return unchanged(sent, [], undecided.warnings)
  const violations = evaluateImageChanges(policies, sent, old, splicedContainers(old))
  const policyReport: PolicyReport = {
    evaluated: policies.map((p) => p.id),
    violations: violations.map((v) => ({ policy: v.policy, rule: v.rule, mode: v.mode })),
  }
  const judged = verdict(violations)
  return { ...unchanged(sent, judged.problems, [...undecided.warnings, ...judged.warnings]), policyReport }
}

/** A step's path after required steps were added before the existing ones of its task spec. */
function movedBy(path: string, shifted: ReadonlyMap<string, number>): string {
  const m = /^(.*)\.steps\[(\d+)\]$/.exec(path)
  const shift = m === null ? undefined : shifted.get(m[1] as string)
  return m === null || shift === undefined ? path : `${m[1]}.steps[${Number(m[2]) + shift}]`
}

/** The requiredSteps violations of an injection, for metrics: its denials (Enforce) and warnings (Audit) name their policy first. */
function injectionTally(injection: { problems: readonly Problem[]; warnings: readonly string[] }): PolicyReport['violations'] {
  const policyOf = (text: string): string | undefined => /^policy ((?:StepPolicy|ClusterStepPolicy) [^ :]+)[ :]/.exec(text)?.[1]
  const out: { policy: string; rule: string; mode: 'Enforce' | 'Audit' }[] = []
  for (const p of injection.problems) {
    const policy = policyOf(p.message)
    if (policy !== undefined) out.push({ policy, rule: 'requiredSteps', mode: 'Enforce' })
  }
  for (const w of injection.warnings) {
    const policy = policyOf(w)
    if (policy !== undefined) out.push({ policy, rule: 'requiredSteps', mode: 'Audit' })
  }
  return out
}

/** Rules that ask where a step came from, and so need the provenance of steps an earlier admission spliced. */
const asksProvenance = (p: LoadedPolicy): boolean => p.spec.inlineSteps === 'Deny' || p.spec.sources !== undefined || p.spec.requiredSteps !== undefined

/** The verified provenance of a run expanded before, when a policy needs it (pipeline/provenance.ts). */
async function provenanceOf(
  obj: KubeObject,
  policies: readonly LoadedPolicy[],
  again: { splice: (o: KubeObject) => Promise<Expansion>; regroup: (o: KubeObject) => Promise<GroupsOutcome>; createdByTekton: boolean },
): Promise<VerifiedProvenance> {
  if (!isTektonRun(obj) || obj.metadata?.annotations?.[provenanceAnnotation] === undefined || !policies.some(asksProvenance)) return { entries: [], refuted: 0 }
  return verifyProvenance(obj, again.splice, { createdByTekton: again.createdByTekton, regroup: again.regroup })
}

interface Governing {
  policies: LoadedPolicy[]
  /** Label-selecting ClusterStepPolicies that cannot be told to apply or not: the namespace's labels are not known (cluster mode). */
  undecided: LoadedPolicy[]
}

/** The policies governing the object's namespace; its labels are looked up only when a selector needs them. */
async function policiesOf(obj: KubeObject, namespace: string, deps: SpliceDeps, options: ResolveOptions): Promise<Governing> {
  const all = deps.policies ?? []
  if (all.length === 0 || !(isTektonRun(obj) || obj.kind === 'Pod')) return { policies: [], undecided: [] }
  if (deps.namespaceLabels === undefined || !needsNamespaceLabels(all)) return { policies: policiesFor(all, namespace), undecided: [] }
  const labels = await deps.namespaceLabels(namespace, options)
  if (labels !== undefined) return { policies: policiesFor(all, namespace, labels), undecided: [] }
  // Knowing only the name, some selectors decide; the others wait on labels the watch has not delivered.
  const decided = policiesFor(all, namespace)
  const undecided = all.filter((p) => !decided.includes(p) && needsNamespaceLabels([p]))
  return { policies: decided, undecided }
}

/** What cannot be judged without the namespace's labels: a denial for an Enforce policy, a warning for an Audit one. */
function undecidedOutcome(governing: Governing, namespace: string): { problems: Problem[]; warnings: string[] } {
  const problems: Problem[] = []
  const warnings: string[] = []
  for (const p of governing.undecided) {
    const text = `policy ${p.id}: namespaceSelector: the labels of namespace ${JSON.stringify(namespace)} are not known to stepsplice yet, so whether this policy applies cannot be told; try again`
    if (p.mode === 'Enforce') problems.push(problem('metadata.namespace', text))
    else warnings.push(text.replace(`policy ${p.id}:`, `policy ${p.id} (Audit):`))
  }
  return { problems, warnings }
}

/** The run with its TaskGroups merged in (pipeline/groups.ts), measured first: merging walks what it holds. */
async function groupsOf(obj: KubeObject, namespace: string, deps: SpliceDeps, options: ResolveOptions): Promise<GroupsOutcome> {
  const none: GroupsOutcome = { object: obj, changed: false, problems: [], warnings: [], entries: [] }
  if (!isTektonRun(obj) || findGroupSites(obj).length === 0) return none
  const measured = checkSizeAndDepth(obj, '', `the ${String(obj.kind)}`)
  if (measured.length > 0) return { ...none, problems: measured }
  return expandGroups(obj, namespace, deps.catalog, options)
}

interface UncheckedOptions extends SpliceOptions {
  /** Enforcing step policies judge what comes out (steps/reference.ts, UnresolvedPolicy.judged). */
  judged?: boolean
}

/**
 * `task`: what the TaskRun's taskRef was found to be, when the caller looked
 * it up already; `entries`: the provenance of steps merged in from TaskGroups.
 */
async function spliceUnchecked(
  obj: KubeObject,
  namespace: string,
  deps: SpliceDeps,
  options: UncheckedOptions,
  task?: TaskResolution,
  entries?: readonly ProvenanceEntry[],
): Promise<Expansion> {
  const includeWorkloads = options.includeWorkloads ?? false
  const budget = new Budget()
  const podPlan = planPod(obj, includeWorkloads)
  const isPod = podPlan !== undefined
  if (!isPod && !isTektonRun(obj)) return unchanged(obj, [])
  const measured = checkSizeAndDepth(obj, '', typeof obj.kind === 'string' ? `the ${obj.kind}` : 'the object')
  if (measured.length > 0) return limitOutcome(obj, isPod, measured)
  try {
    let expansion: Expansion
    if (podPlan !== undefined) {
      const resolutions = await resolveReferences(podPlan, namespace, deps.catalog, options)
      expansion = expandPod(obj, podPlan, namespace, resolutions, { prepareImage: deps.prepareImage ?? defaultPrepareImage, budget })
    } else {
      const withTask = await taskOf(obj, namespace, deps, options, task)
      if ('warning' in withTask) return unchanged(obj, [], [withTask.warning])
      const run = withTask.object
      const plan = planRun(run, budget)
      if (plan.problems.some((p) => p.limit !== undefined)) return limitOutcome(obj, false, plan.problems)
      const resolutions = await resolveReferences(plan, namespace, deps.catalog, options)
      const unresolved: UnresolvedPolicy = {
        ...(deps.requireResolution === undefined ? {} : { require: deps.requireResolution }),
        ...(options.judged === true ? { judged: true } : {}),
      }
      expansion = expandRun(run, plan, namespace, resolutions, {
        budget,
        ...(options.oldObject === undefined ? {} : { stored: options.oldObject }),
        unresolved,
        ...(entries === undefined || entries.length === 0 ? {} : { entries }),
      })
      // A denial or a change is about the object as sent; the Task written into it is part of the change.
      if (!expansion.changed) expansion = { ...expansion, object: obj }
    }
    if (expansion.problems.some((p) => p.limit !== undefined)) return limitOutcome(obj, isPod, expansion.problems)
    // What we produce is bounded like what we read: the API server would refuse a larger object.
    const produced = expansion.changed ? checkSizeAndDepth(expansion.object, '', `the expanded ${typeof obj.kind === 'string' ? obj.kind : 'object'}`) : []
    if (produced.length > 0) return limitOutcome(obj, isPod, produced)
    // And it must be what Kubernetes accepts: a definition or a param value that makes a step it would refuse is denied here, naming the field.
    if (!expansion.changed || expansion.problems.length > 0) return expansion
    const containers = podPlan === undefined ? producedSteps(expansion) : producedInitContainers(expansion, podPlan.site)
    const invalid = checkContainers(containers)
    return invalid.length > 0 ? unchanged(obj, invalid, expansion.warnings) : expansion
  } catch (err) {
    if (!(err instanceof LimitExceeded)) throw err
    return limitOutcome(obj, isPod, [problem('', err.message, { limit: err.limit })])
  }
}
