// Reusable steps in any Pod: each step of the `stepsplice.dev/steps`
// annotation becomes an init container `step-<name>`. Init containers run one
// after another and share the Pod's volumes, so the steps run in order on one
// filesystem, and then the Pod's own containers start. Pure, like the Tekton
// expansion: definitions arrive already resolved.

import { referenceKey, referenceOf, type Resolution } from '../definitions/reference.ts'
import { canonicalJson } from '../json/canonical.ts'
import { isJsonObject, withValueAt } from '../json/values.ts'
import type { Budget } from '../limits/budget.ts'
import { limits } from '../limits/limits.ts'
import { checkCount } from '../limits/measure.ts'
import { inStepOrder, problem, type Problem } from '../problems/problem.ts'
import { type Expansion, type ProvenanceEntry, provenanceAnnotation } from '../steps/expansion.ts'
import { checkMetadata } from '../steps/metadata.ts'
import { expandReference } from '../steps/reference.ts'
import type { Container, KubeObject, PodSpec, Volume, VolumeMount } from '../types/k8s.ts'
import type { Step } from '../types/tekton.ts'
import { parseStepsAnnotation, placementAnnotation, stepsAnnotation, workspaceAnnotation } from './annotation.ts'
import { prepareContainer, prepareName, resultsVolume, scriptEnvBytes, scriptPath, scriptsRoot, scriptsVolume } from './prepare.ts'
import { checkReserved, reservedPrefix } from './reserved.ts'
import { asServerDefaulted } from './server-defaults.ts'
import { checkPodSpec } from './shape.ts'
import { findPodTemplate, type PodTemplateSite } from './sites.ts'
import { resultsRoot, rewriteVariables, type VariableContext, type VariableError } from './variables.ts'
import { quoteValue } from '../problems/truncate.ts'
import { holdsText, parseParamValue } from '../variables/param-value.ts'

export const workspaceVolume = 'stepsplice-workspace'
export const defaultPrepareImage = 'busybox:1.37.0'

export interface PodSpliceOptions {
  /** Image of the init container that writes scripts; must have sh and base64. */
  prepareImage: string
  /** The request's allowance of substituted text; unlimited when unset. */
  budget?: Budget
}

export interface PodPlan {
  site: PodTemplateSite
  /** Path prefix of the annotation, for problems. */
  annotationPath: string
  /** Parsed steps with their path: all of them when the annotation is valid, else those without problems of their own. */
  refSteps: { step: Step; path: string; index: number }[]
  /** Steps left out of refSteps for their problems: where they stand, and their names when they have one. */
  invalidSteps: { index: number; name?: string }[]
  problems: Problem[]
}

/** Undefined when `obj` holds no Pod spec or the Pod asks for no steps. */
export function planPod(obj: KubeObject, includeWorkloads: boolean): PodPlan | undefined {
  const site = findPodTemplate(obj, includeWorkloads)
  const text = site?.metadata.annotations?.[stepsAnnotation]
  if (site === undefined || typeof text !== 'string') return undefined
  const prefix = site.path === '' ? '' : `${site.path}.`
  const annotationPath = `${prefix}metadata.annotations["${stepsAnnotation}"]`
  const none = (problems: Problem[]): PodPlan => ({ site, annotationPath, refSteps: [], invalidSteps: [], problems })
  const shape = [...checkMetadata(site.holder.metadata, `${prefix}metadata`), ...checkPodSpec(site.holder.spec, `${prefix}spec`)]
  if (shape.length > 0) return none(shape)
  // Checked before parsing: YAML's cost grows with the text, and more so with its errors.
  if (text.length > limits.stepsAnnotationBytes) {
    return none([
      problem(annotationPath, `${text.length} characters: longer than ${limits.stepsAnnotationBytes} (limit stepsAnnotationBytes)`, {
        limit: 'stepsAnnotationBytes',
      }),
    ])
  }
  const parsed = parseStepsAnnotation(text, annotationPath)
  if (parsed.steps === undefined) return none('problems' in parsed ? parsed.problems : [])
  const counted = checkCount(parsed.steps.length, 'steps', annotationPath, 'steps')
  for (const [i, step] of parsed.steps.entries()) {
    counted.push(...checkCount(Array.isArray(step?.params) ? step.params.length : 0, 'params', `${annotationPath}[${i}].params`, 'params'))
  }
  if (counted.length > 0) return none(counted)
  // The steps of the right shape are still resolved and checked when others are not: every problem in one round.
  const invalid = 'invalid' in parsed ? parsed.invalid : undefined
  const plan: PodPlan = { site, annotationPath, refSteps: [], invalidSteps: [], problems: 'problems' in parsed ? parsed.problems : [] }
  for (const [i, step] of parsed.steps.entries()) {
    if (invalid?.has(i) !== true) plan.refSteps.push({ step, path: `${annotationPath}[${i}]`, index: i })
    else plan.invalidSteps.push({ index: i, ...(typeof step?.name === 'string' ? { name: step.name } : {}) })
  }
  return plan
}

interface Built {
  name: string
  container: Container
  script?: string
  results: Set<string>
  entry: ProvenanceEntry
}

function toContainer(step: Step, name: string): { container: Container; script?: string } {
  const c: Container = { name: `step-${name}`, image: step.image ?? '' }
  if (typeof step.imagePullPolicy === 'string') c.imagePullPolicy = step.imagePullPolicy
  const script = typeof step.script === 'string' && step.script !== '' ? step.script : undefined
  if (script !== undefined) c.command = [scriptPath(name)]
  else if (step.command !== undefined) c.command = step.command
  if (step.args !== undefined && step.args.length > 0) c.args = step.args
  if (step.workingDir) c.workingDir = step.workingDir
  if (step.env !== undefined) c.env = step.env
  if (Array.isArray(step.envFrom)) c.envFrom = step.envFrom
  if (typeof step.computeResources === 'object' && step.computeResources !== null) c.resources = step.computeResources as Container['resources']
  if (step.securityContext !== undefined) c.securityContext = step.securityContext
  c.volumeMounts = [...(step.volumeMounts ?? [])]
  return script === undefined ? { container: c } : { container: c, script }
}

/** Applies rewriteVariables to every text field of a step container. */
function rewriteContainer(c: Container, script: string | undefined, ctx: VariableContext): { script?: string; errors: VariableError[] } {
  const errors: VariableError[] = []
  const fix = (s: string): string => {
    const r = rewriteVariables(s, ctx)
    errors.push(...r.errors)
    return r.text
  }
  if (c.command) c.command = c.command.map(fix)
  if (c.args) c.args = c.args.map(fix)
  if (c.workingDir) c.workingDir = fix(c.workingDir)
  c.env = c.env?.map((e) => (typeof e.value === 'string' ? { ...e, value: fix(e.value) } : e))
  if (c.env === undefined) delete c.env
  c.volumeMounts = c.volumeMounts?.map((m) => ({ ...m, mountPath: fix(m.mountPath), ...(typeof m.subPath === 'string' ? { subPath: fix(m.subPath) } : {}) }))
  const rewritten = script === undefined ? undefined : fix(script)
  return rewritten === undefined ? { errors } : { script: rewritten, errors }
}

/**
 * Where a variable found in a step's container was written: the value of the
 * first of the step's params that holds it (the definition put it there from
 * that value), else the step itself (the definition's own text).
 */
function writtenAt(step: Step, path: string, variable: string): string {
  const params: unknown[] = Array.isArray(step.params) ? step.params : []
  const i = params.findIndex((p) => isJsonObject(p) && holdsText(parseParamValue(p.value), variable))
  return i < 0 ? path : `${path}.params[${i}].value`
}

/** A mount path as the kubelet reads it: `/workspace/` and `/workspace//` are `/workspace`. */
const pathOf = (p: unknown): string => (typeof p === 'string' ? p.replace(/\/+$/, '') || '/' : '')

const mountsPath = (c: Container, path: string): boolean => (c.volumeMounts ?? []).some((m) => pathOf(m.mountPath) === pathOf(path))

function addMount(c: Container, mount: VolumeMount): Container {
  // By path only: one volume may be mounted at several paths, but a path holds one mount.
  if (mountsPath(c, mount.mountPath)) return c
  return { ...c, volumeMounts: [...(c.volumeMounts ?? []), mount] }
}

/** What stepsplice itself mounts into the Pod's own containers (the workspace, the results); any other use of its volumes there is refused. */
function stepspliceMounts(workspace: { name: string; mountPath: string } | undefined): (c: Container, m: { name: string; mountPath: string }) => boolean {
  return (_c, m) => (m.name === workspace?.name && m.mountPath === workspace.mountPath) || (m.name === resultsVolume && m.mountPath === resultsRoot)
}

/** The mount of a Pod container at the workspace path, whose volume is then the workspace; undefined when none. */
function adoptedWorkspace(spec: PodSpec, workspace: string | undefined): VolumeMount | undefined {
  if (workspace === undefined) return undefined
  return (spec.containers ?? []).flatMap((c) => c.volumeMounts ?? []).find((m) => pathOf(m.mountPath) === pathOf(workspace))
}

/**
 * The reserved-name and volume problems of a Pod some of whose steps could
 * not be built, so that they come with the steps' own in one round. What
 * the missing steps would decide (whether results or scripts are needed, and
 * so which of stepsplice's volumes are added) is taken at its most
 * permissive: a problem found here is one the whole Pod has too.
 */
function reservedBeforeBuild(spec: PodSpec, prefix: string, workspace: string | undefined, clashes: readonly Problem[]): Problem[] {
  const adopted = adoptedWorkspace(spec, workspace)
  const workspaceName = workspace === undefined ? undefined : (adopted?.name ?? workspaceVolume)
  const ownVolumes: Volume[] = [resultsVolume, scriptsVolume, ...(workspaceName === workspaceVolume ? [workspaceVolume] : [])].map((name) => ({
    name,
    emptyDir: {},
  }))
  const allowedMount = stepspliceMounts(workspaceName === undefined || workspace === undefined ? undefined : { name: workspaceName, mountPath: workspace })
  const reported = new Set(clashes.map((c) => c.path))
  const reserved = checkReserved(spec, prefix, { ours: new Set(), volumes: new Set(ownVolumes.map((v) => v.name)), allowedMounts: allowedMount })
  return [...reserved.filter((p) => !reported.has(p.path)), ...planVolumes(spec, ownVolumes, prefix).problems]
}

/** Resolves the user's and our volumes: reuse an identical one, refuse a different one under our name. */
function planVolumes(spec: PodSpec, wanted: Volume[], at: string): { volumes: Volume[]; problems: Problem[] } {
  const volumes = [...(spec.volumes ?? [])]
  const problems: Problem[] = []
  const byName = new Map<string, number>()
  for (const [i, v] of volumes.entries()) if (!byName.has(v.name)) byName.set(v.name, i)
  for (const v of wanted) {
    const i = byName.get(v.name) ?? -1
    if (i < 0) volumes.push(v)
    // Compared with sorted keys: `{emptyDir: {}, name: …}` written in another key order is the same volume.
    else if (v.name.startsWith('stepsplice-') && canonicalJson(volumes[i]) !== canonicalJson(v)) {
      problems.push(
        problem(
          `${at}spec.volumes[${i}]`,
          `volume ${quoteValue(v.name)} already exists with a different source; names starting with "stepsplice-" are reserved`,
        ),
      )
    }
  }
  return { volumes, problems }
}

function workspacePath(site: PodTemplateSite): string | undefined {
  const value = site.metadata.annotations?.[workspaceAnnotation]
  if (value === 'none') return undefined
  return value?.startsWith('/') ? value : '/workspace'
}

/** Which fields of two containers differ, for a message: `image, command`. */
function differences(a: Container, b: Container): string {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])]
  return keys.filter((k) => canonicalJson(a[k]) !== canonicalJson(b[k])).join(', ') || 'order'
}

/**
 * Why the containers a Pod holds under stepsplice's names are not the ones
 * its steps produce now, or undefined when they are exactly those.
 */
function mismatch(present: readonly Container[], ours: readonly Container[]): string | undefined {
  const names = (list: readonly Container[]): string => list.map((c) => c.name).join(', ')
  if (present.length !== ours.length || present.some((c, i) => c.name !== ours[i]?.name)) {
    return `it holds [${names(present)}] where its steps give [${names(ours)}]`
  }
  for (const [i, c] of present.entries()) {
    // The API server's own defaults, written in after a later webhook changed the Pod, are no difference.
    const want = asServerDefaulted(ours[i] as Container, c)
    if (canonicalJson(c) !== canonicalJson(want)) return `${String(c.name)} differs in ${differences(c, want)}`
  }
  return undefined
}

/**
 * Splices the planned steps into the Pod spec. `resolutions` holds what the
 * catalog answered per reference; `namespace` is where they were resolved.
 *
 * A Pod that says it was spliced (it carries the provenance annotation) is
 * never taken at its word: the containers its steps produce now are computed
 * and must equal the ones it holds under those names, or it is refused.
 * Equal, it is left as it is (a reinvocation), apart from anything a later
 * webhook left out that a splice adds: a mount, a volume, the annotation.
 */
export function expandPod(
  obj: KubeObject,
  plan: PodPlan,
  namespace: string,
  resolutions: ReadonlyMap<string, Resolution>,
  options: PodSpliceOptions,
): Expansion {
  // Listed in step order, whichever stage found them.
  const unchanged = (problems: Problem[], warnings: string[] = []): Expansion => ({
    object: obj,
    changed: false,
    problems: inStepOrder(problems),
    warnings,
    expanded: [],
  })
  if (plan.problems.length > 0 && plan.refSteps.length === 0) return unchanged(plan.problems)
  const { site } = plan
  const prefix = site.path === '' ? '' : `${site.path}.`
  // Steps of the wrong shape were reported by the plan; the others are resolved and checked beside them.
  const problems: Problem[] = [...plan.problems]
  const warnings: string[] = []
  const workspaceAnnotationValue = site.metadata.annotations?.[workspaceAnnotation]
  if (workspaceAnnotationValue !== undefined && workspaceAnnotationValue !== 'none' && !workspaceAnnotationValue.startsWith('/')) {
    problems.push(problem(`${prefix}metadata.annotations["${workspaceAnnotation}"]`, 'must be an absolute path or "none"'))
  } else if (workspaceAnnotationValue === '/stepsplice' || workspaceAnnotationValue?.startsWith('/stepsplice/')) {
    // Scripts and results live there: a workspace on top would hand the steps a writable view of them.
    problems.push(
      problem(
        `${prefix}metadata.annotations["${workspaceAnnotation}"]`,
        'must not be /stepsplice or below it: stepsplice keeps step scripts and results there',
      ),
    )
  }
  const placement = site.metadata.annotations?.[placementAnnotation]
  if (placement !== undefined && placement !== 'first' && placement !== 'last') {
    problems.push(problem(`${prefix}metadata.annotations["${placementAnnotation}"]`, 'must be "first" or "last"'))
  }
  const workspace = workspacePath(site)
  // `[]` asks for no steps: nothing to splice, so no workspace and no provenance either. A provenance
  // record on such a Pod describes nothing stepsplice did: it must not vouch for the Pod's containers.
  if (plan.refSteps.length === 0) {
    if (site.metadata.annotations?.[provenanceAnnotation] !== undefined) {
      problems.push(
        problem(
          `${prefix}metadata.annotations["${provenanceAnnotation}"]`,
          `lists steps this Pod's ${stepsAnnotation} does not ask for; remove the annotation (stepsplice writes it)`,
        ),
      )
    }
    return unchanged(problems)
  }

  const spec = site.spec
  const provenancePath = `${prefix}metadata.annotations["${provenanceAnnotation}"]`
  const claimsSpliced = site.metadata.annotations?.[provenanceAnnotation] !== undefined
  const existing = new Map<string, string>()
  for (const [i, c] of (spec.initContainers ?? []).entries())
    if (typeof c.name === 'string' && !existing.has(c.name)) existing.set(c.name, `spec.initContainers[${i}]`)
  for (const [i, c] of (spec.containers ?? []).entries()) if (typeof c.name === 'string' && !existing.has(c.name)) existing.set(c.name, `spec.containers[${i}]`)
  const clashes: Problem[] = []
  const clashWith = (name: string, purpose: string): void => {
    const at = existing.get(name)
    if (at !== undefined) clashes.push(problem(`${prefix}${at}.name`, `container name ${quoteValue(name)} is taken; stepsplice needs it for ${purpose}`))
  }
  // Step container names are known before resolving, so a clash is reported with the steps' own problems.
  // A Pod that says it was spliced holds them already; they are checked against what the steps give below.
  if (!claimsSpliced) for (const { step } of plan.refSteps) clashWith(`step-${step.name ?? ''}`, `step ${quoteValue(step.name ?? '')}`)

  const built: Built[] = []
  /** What the steps' scripts take of the prepare container's environment together. */
  let scriptsBytes = 0
  const earlier = new Map<string, Set<string>>()
  // Earlier steps that could not be built: what results they have is unknown, so references to them are not judged.
  const unknown = new Set<string>()
  const invalidSteps = plan.invalidSteps.values()
  let nextInvalid = invalidSteps.next()
  for (const { step, path, index } of plan.refSteps) {
    const name = step.name ?? ''
    for (; !nextInvalid.done && nextInvalid.value.index < index; nextInvalid = invalidSteps.next()) {
      if (nextInvalid.value.name !== undefined) unknown.add(nextInvalid.value.name)
    }
    // A Pod has no task params: step values are taken as written, and nothing fills anything in later.
    const expanded = expandReference(
      step,
      path,
      namespace,
      resolutions.get(referenceKey(referenceOf(step, namespace))),
      { layers: [], ...(options.budget === undefined ? {} : { budget: options.budget }) },
      // Nothing resolves a Pod's step later: what stepsplice cannot resolve, the Pod cannot run.
      { always: true },
    )
    if ('problems' in expanded) {
      problems.push(...expanded.problems)
      unknown.add(name)
      continue
    }
    if ('deferred' in expanded) {
      unknown.add(name)
      continue
    }
    const { definition: d, context } = expanded
    warnings.push(...expanded.warnings)
    const results = new Set((d.spec.results ?? []).map((r) => r.name))
    const { container, script } = toContainer(expanded.step, name)
    for (const m of container.volumeMounts ?? []) {
      // Param-named mounts take their name from the step's values: stepsplice's own volumes must stay out of reach.
      if (m.name.startsWith(reservedPrefix)) {
        problems.push(
          problem(
            `${path}.params`,
            `the definition's volume mount is named ${quoteValue(m.name)}: names starting with "${reservedPrefix}" are reserved for stepsplice`,
            context,
          ),
        )
      }
    }
    const rewritten = rewriteContainer(container, script, { step: name, declaredResults: results, earlier, unknown })
    // Named where it was written: a param's value used in args and env is one mistake, said once.
    const said = new Set<string>()
    for (const e of rewritten.errors) {
      const at = writtenAt(step, path, e.variable)
      const key = `${at}\n${e.message}`
      if (said.has(key)) continue
      said.add(key)
      problems.push(problem(at, e.message, context))
    }
    if (rewritten.script !== undefined) {
      const envBytes = scriptEnvBytes(name, rewritten.script)
      scriptsBytes += envBytes
      if (envBytes > limits.scriptEnvBytes) {
        problems.push(
          problem(
            path,
            `the step's script takes ${envBytes} bytes of the prepare container's environment (base64), more than the ${limits.scriptEnvBytes} Linux allows one variable: the Pod could never start (limit scriptEnvBytes)`,
            context,
          ),
        )
      }
    }
    earlier.set(name, results)
    built.push({
      name,
      container,
      ...(rewritten.script === undefined ? {} : { script: rewritten.script }),
      results,
      // Relative to the Pod, not to the workload: the template's annotations are
      // copied into every Pod it creates, and that Pod must compare equal below.
      entry: { ...expanded.entry, path: path.slice(prefix.length), written: step as unknown as Record<string, unknown> },
    })
  }
  if (scriptsBytes > limits.scriptsEnvBytes) {
    problems.push(
      problem(
        `${prefix}metadata.annotations["${stepsAnnotation}"]`,
        `the steps' scripts take ${scriptsBytes} bytes of the prepare container's environment (base64), more than ${limits.scriptsEnvBytes}: with what the kubelet adds, the Pod might never start (limit scriptsEnvBytes)`,
      ),
    )
  }
  if (problems.length > 0) {
    if (!claimsSpliced) problems.push(...reservedBeforeBuild(spec, prefix, workspace, clashes))
    return unchanged([...problems, ...clashes])
  }

  // Paths name the annotation's steps, not container indexes, so a second pass compares equal.
  const entries = built.map((b) => b.entry)

  // When a Pod container already mounts the workspace path, its volume is the workspace: the
  // steps mount it too, so what they leave there reaches that container (an emptyDir would not).
  const existingWorkspace = adoptedWorkspace(spec, workspace)
  // Adopting a volume of stepsplice's own as the workspace would mount it writable into every step.
  if (existingWorkspace?.name.startsWith(reservedPrefix) && existingWorkspace.name !== workspaceVolume) {
    return unchanged([
      problem(
        `${prefix}spec.containers`,
        `a container mounts volume ${quoteValue(existingWorkspace.name)} at the workspace path ${quoteValue(workspace)}: names starting with "${reservedPrefix}" are reserved for stepsplice`,
      ),
    ])
  }
  const workspaceMount: VolumeMount | undefined =
    workspace === undefined
      ? undefined
      : existingWorkspace === undefined
        ? { name: workspaceVolume, mountPath: workspace }
        : {
            name: existingWorkspace.name,
            mountPath: workspace,
            ...(typeof existingWorkspace.subPath === 'string' ? { subPath: existingWorkspace.subPath } : {}),
          }
  const scripts = built.filter((b) => b.script !== undefined).map((b) => ({ step: b.name, script: b.script ?? '' }))
  const resultSteps = built.filter((b) => b.results.size > 0).map((b) => b.name)
  const needResults = resultSteps.length > 0
  const ours: Container[] = []
  if (scripts.length > 0 || needResults) ours.push(prepareContainer(options.prepareImage, { scripts, resultSteps }))
  for (const b of built) {
    let c = b.container
    if (b.script !== undefined) c = addMount(c, { name: scriptsVolume, mountPath: scriptsRoot, readOnly: true })
    if (needResults) c = addMount(c, { name: resultsVolume, mountPath: resultsRoot })
    if (workspaceMount !== undefined && !mountsPath(c, workspaceMount.mountPath)) c = addMount(c, workspaceMount)
    ours.push(c)
  }

  const wanted: Volume[] = []
  if (workspaceMount?.name === workspaceVolume) wanted.push({ name: workspaceVolume, emptyDir: {} })
  if (needResults) wanted.push({ name: resultsVolume, emptyDir: {} })
  if (scripts.length > 0) wanted.push({ name: scriptsVolume, emptyDir: {} })
  // A definition's param-named mount binds to the Pod's volume of that name, or to a new emptyDir.
  // Skipping by name, not by prefix: a `stepsplice-x` that is neither ours nor the Pod's
  // used to get no volume at all, and a mount of a missing volume makes the Pod invalid.
  const podVolumes = new Set((spec.volumes ?? []).map((v) => v.name))
  const wantedNames = new Set(wanted.map((v) => v.name))
  for (const b of built) {
    for (const m of b.container.volumeMounts ?? []) {
      if (!podVolumes.has(m.name) && !wantedNames.has(m.name)) {
        wanted.push({ name: m.name, emptyDir: {} })
        wantedNames.add(m.name)
      }
    }
  }

  const oursNames = new Set(ours.map((c) => String(c.name)))
  const allowedMount = stepspliceMounts(workspaceMount)
  if (claimsSpliced) {
    // Every init container under one of our names, wherever a later webhook moved it, must be exactly ours.
    const present = (spec.initContainers ?? []).filter((c) => oursNames.has(String(c.name)) || c.name === prepareName)
    const why = mismatch(present, ours)
    if (why !== undefined) {
      return unchanged([
        problem(
          provenancePath,
          `the Pod was already spliced from other step definitions (${why}); remove this annotation and the step-* init containers to splice it again`,
        ),
      ])
    }
    problems.push(...checkReserved(spec, prefix, { ours: oursNames, volumes: wantedNames, allowedMounts: allowedMount }))
  } else {
    if (ours[0]?.name === prepareName) clashWith(prepareName, 'writing scripts')
    problems.push(...clashes)
    const reported = new Set(clashes.map((c) => c.path))
    const reserved = checkReserved(spec, prefix, { ours: new Set(), volumes: wantedNames, allowedMounts: allowedMount })
    problems.push(...reserved.filter((p) => !reported.has(p.path)))
  }
  const volumes = planVolumes(spec, wanted, prefix)
  problems.push(...volumes.problems)

  // The Pod's own containers see the workspace and, read-only, the results; `$(steps.s.results.r.path)` works there too.
  // Rewritten even when no step declares results, and errors kept: a reference
  // to one of our steps that cannot be resolved would otherwise run as literal text.
  const containers = (spec.containers ?? []).map((c, i) => {
    let out = c
    if (workspaceMount !== undefined && !mountsPath(out, workspaceMount.mountPath)) out = addMount(out, workspaceMount)
    if (needResults) out = addMount(out, { name: resultsVolume, mountPath: resultsRoot, readOnly: true })
    const ctx: VariableContext = { declaredResults: new Set(), earlier }
    // Named at the field the user wrote it in: the container's own command, args or env value.
    const fix = (s: string, field: string): string => {
      const r = rewriteVariables(s, ctx)
      for (const e of r.errors) problems.push(problem(`${prefix}spec.containers[${i}].${field}`, e.message))
      return r.text
    }
    if (out.command) out = { ...out, command: out.command.map((s, j) => fix(s, `command[${j}]`)) }
    if (out.args) out = { ...out, args: out.args.map((s, j) => fix(s, `args[${j}]`)) }
    if (out.env) out = { ...out, env: out.env.map((e, j) => (typeof e.value === 'string' ? { ...e, value: fix(e.value, `env[${j}].value`) } : e)) }
    return out
  })
  if (problems.length > 0) return unchanged(problems, warnings)
  const own = spec.initContainers ?? []
  // A spliced Pod keeps its init containers where they are: a later webhook may have added its own after ours.
  const initContainers = claimsSpliced ? own : placement === 'first' ? [...ours, ...own] : [...own, ...ours]
  // The steps as written are the stepsplice.dev/steps annotation itself: kept for the policies, not written twice.
  const provenance = JSON.stringify(entries.map(({ written: _, ...entry }) => entry))

  if (
    claimsSpliced &&
    site.metadata.annotations?.[provenanceAnnotation] === provenance &&
    canonicalJson(containers) === canonicalJson(spec.containers ?? []) &&
    canonicalJson(volumes.volumes) === canonicalJson(spec.volumes ?? [])
  ) {
    return unchanged([], warnings)
  }
  let out = obj
  const specAt = [...site.segments, 'spec']
  out = withValueAt(out, [...specAt, 'initContainers'], initContainers)
  out = withValueAt(out, [...specAt, 'containers'], containers)
  out = withValueAt(out, [...specAt, 'volumes'], volumes.volumes)
  out = withValueAt(out, [...site.segments, 'metadata', 'annotations'], {
    ...(site.metadata.annotations ?? {}),
    [provenanceAnnotation]: provenance,
  })
  return { object: out, changed: true, problems: [], warnings, expanded: entries }
}
