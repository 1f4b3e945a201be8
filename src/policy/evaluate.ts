// Evaluating step policies against an object as stepsplice would admit it:
// every step (TaskRuns, PipelineRuns) or container (Pods) with its image,
// its effective securityContext and, when stepsplice spliced it, the
// canonical source of its definition. Pure and bounded: the work grows with
// steps × policies × patterns, all of them capped, and at most
// maxViolations violations are returned.

import { asList, isJsonObject } from '../json/values.ts'
import { problem, type Problem } from '../problems/problem.ts'
import { findPodTemplate } from '../pods/sites.ts'
import { parseImageReference } from '../remote/image-reference.ts'
import type { KubeObject } from '../types/k8s.ts'
import { compileGlob } from './glob.ts'
import type { LabelSelector, LoadedPolicy, PolicyInput, PolicyMode, StepPolicySpec, Violation } from './types.ts'

export const maxViolations = 100

/** The label Kubernetes sets on every namespace: known even when the other labels are not. */
const namespaceNameLabel = 'kubernetes.io/metadata.name'

function selects(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key)
    const value = labels[e.key]
    const values = e.values ?? []
    const ok =
      e.operator === 'In'
        ? has && values.includes(value as string)
        : e.operator === 'NotIn'
          ? !has || !values.includes(value as string)
          : e.operator === 'Exists'
            ? has
            : !has
    if (!ok) return false
  }
  return true
}

function selectorKeys(selector: LabelSelector): string[] {
  return [...Object.keys(selector.matchLabels ?? {}), ...(selector.matchExpressions ?? []).map((e) => e.key)]
}

/** Whether any ClusterStepPolicy selects namespaces by a label other than their name: only then are the labels looked up. */
export function needsNamespaceLabels(policies: readonly LoadedPolicy[]): boolean {
  return policies.some(
    (p) =>
      p.kind === 'ClusterStepPolicy' && p.spec.namespaceSelector !== undefined && selectorKeys(p.spec.namespaceSelector).some((k) => k !== namespaceNameLabel),
  )
}

/**
 * The policies that govern `namespace`: its StepPolicies, and the
 * ClusterStepPolicies whose namespaceSelector matches. When the labels are
 * unknown, a selector naming any label but kubernetes.io/metadata.name does
 * not match.
 */
export function policiesFor(policies: readonly LoadedPolicy[], namespace: string, namespaceLabels?: Record<string, string>): LoadedPolicy[] {
  return policies.filter((p) => {
    if (p.kind === 'StepPolicy') return p.namespace === namespace
    const selector = p.spec.namespaceSelector
    if (selector === undefined) return true
    if (namespaceLabels !== undefined) return selects(selector, { ...namespaceLabels, [namespaceNameLabel]: namespace })
    if (selectorKeys(selector).some((k) => k !== namespaceNameLabel)) return false
    return selects(selector, { [namespaceNameLabel]: namespace })
  })
}

type Entry = PolicyInput['expanded'][number]

/** A step or container to check. */
interface Subject {
  path: string
  /** Tekton steps: the step's name; spliced Pod init containers: the step they came from. */
  step?: string
  container?: string
  image?: string
  /** The effective securityContext: stepTemplate's merged under the step's. */
  securityContext: Record<string, unknown>
  /** runAsNonRoot of the pod's securityContext, when set. */
  podRunAsNonRoot?: unknown
  /** Whether this is a Tekton step (inlineSteps applies). */
  tektonStep: boolean
  entry?: Entry
}

const obj = (v: unknown): Record<string, unknown> => (isJsonObject(v) ? v : {})
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

function tektonSteps(taskSpec: unknown, path: string, podRunAsNonRoot: unknown, byPath: Map<string, Entry>, out: Subject[]): void {
  const spec = obj(taskSpec)
  const template = obj(spec.stepTemplate)
  for (const [i, s] of asList<unknown>(spec.steps).entries()) {
    const step = obj(s)
    // A step still holding `ref` was not spliced: stepsplice left it for Tekton
    // (a deferred or unresolved definition), so what it will run is not known
    // here. No rule applies to it; docs/policies.md says so.
    if (step.ref !== undefined) continue
    const stepPath = `${path}.steps[${i}]`
    const image = str(step.image) ?? str(template.image)
    const entry = byPath.get(stepPath)
    out.push({
      path: stepPath,
      step: str(step.name) ?? '',
      ...(image === undefined ? {} : { image }),
      securityContext: { ...obj(template.securityContext), ...obj(step.securityContext) },
      podRunAsNonRoot,
      tektonStep: true,
      ...(entry === undefined ? {} : { entry }),
    })
  }
  // Sidecars run in the same Pod: their images and securityContext count, but they are not steps (stepTemplate and inlineSteps do not apply).
  for (const [i, c] of asList<unknown>(spec.sidecars).entries()) {
    const sidecar = obj(c)
    const image = str(sidecar.image)
    out.push({
      path: `${path}.sidecars[${i}]`,
      container: str(sidecar.name) ?? '',
      ...(image === undefined ? {} : { image }),
      securityContext: obj(sidecar.securityContext),
      podRunAsNonRoot,
      tektonStep: false,
    })
  }
}

function podRunAsNonRootOf(podTemplate: unknown): unknown {
  return obj(obj(podTemplate).securityContext).runAsNonRoot
}

/** Every step or container of `object` the rules look at. */
function subjectsOf(object: KubeObject, expanded: readonly Entry[]): Subject[] {
  const out: Subject[] = []
  const byPath = new Map(expanded.map((e) => [e.path, e]))
  const spec = obj(object.spec)
  const tekton = typeof object.apiVersion === 'string' && object.apiVersion.startsWith('tekton.dev/')
  if (tekton && object.kind === 'TaskRun') {
    tektonSteps(spec.taskSpec, 'spec.taskSpec', podRunAsNonRootOf(spec.podTemplate), byPath, out)
    return out
  }
  if (tekton && object.kind === 'PipelineRun') {
    const pipelineSpec = obj(spec.pipelineSpec)
    // tekton.dev/v1: taskRunTemplate.podTemplate; v1beta1: podTemplate. taskRunSpecs override per task.
    const runTemplate = spec.taskRunTemplate !== undefined ? obj(spec.taskRunTemplate).podTemplate : spec.podTemplate
    const perTask = new Map<string, unknown>()
    for (const t of asList<unknown>(spec.taskRunSpecs)) {
      const name = str(obj(t).pipelineTaskName)
      const pod = obj(obj(t).podTemplate)
      if (name !== undefined && pod.securityContext !== undefined) perTask.set(name, pod)
    }
    for (const list of ['tasks', 'finally'] as const) {
      for (const [j, task] of asList<unknown>(pipelineSpec[list]).entries()) {
        const t = obj(task)
        const podTemplate = perTask.get(str(t.name) ?? '') ?? runTemplate
        tektonSteps(t.taskSpec, `spec.pipelineSpec.${list}[${j}].taskSpec`, podRunAsNonRootOf(podTemplate), byPath, out)
      }
    }
    return out
  }
  // Pods, and the Pod templates of workloads (`render` expands those): every container.
  const site = findPodTemplate(object, true)
  if (site === undefined) return out
  const prefix = site.path === '' ? '' : `${site.path}.`
  const bySteps = new Map(expanded.filter((e) => e.path.startsWith('metadata.annotations[')).map((e) => [`step-${e.step}`, e]))
  const podRunAsNonRoot = podRunAsNonRootOf(site.spec)
  for (const list of ['initContainers', 'containers'] as const) {
    for (const [i, c] of asList<unknown>(site.spec[list]).entries()) {
      const container = obj(c)
      const name = str(container.name) ?? ''
      const entry = list === 'initContainers' ? bySteps.get(name) : undefined
      const image = str(container.image)
      out.push({
        path: `${prefix}spec.${list}[${i}]`,
        ...(entry === undefined ? {} : { step: entry.step }),
        container: name,
        ...(image === undefined ? {} : { image }),
        securityContext: obj(container.securityContext),
        podRunAsNonRoot,
        tektonStep: false,
        ...(entry === undefined ? {} : { entry }),
      })
    }
  }
  return out
}

/** The canonical source of a spliced step: `directory:ns/name`, `cluster:ns/name`, or the remote's pinned location. */
export function canonicalSource(entry: Entry): string {
  return entry.source === 'directory' || entry.source === 'cluster' ? `${entry.source}:${entry.definition}` : entry.definition
}

const compiled = new WeakMap<readonly string[], ((text: string) => boolean)[]>()
const compiledCaseless = new WeakMap<readonly string[], ((text: string) => boolean)[]>()

/** The first pattern of `patterns` that matches one of `texts` (with `caseless`, both in lower case), as written; or undefined. */
function firstMatch(patterns: readonly string[], texts: readonly string[], caseless = false): string | undefined {
  const cache = caseless ? compiledCaseless : compiled
  let matchers = cache.get(patterns)
  if (matchers === undefined) {
    matchers = patterns.map((p) => compileGlob(caseless ? p.toLowerCase() : p))
    cache.set(patterns, matchers)
  }
  const subjects = caseless ? texts.map((t) => t.toLowerCase()) : texts
  for (const [i, m] of matchers.entries()) if (subjects.some(m)) return patterns[i]
  return undefined
}

/** A git source as recorded: the repository URL, then the commit and the path. */
const gitSource = /^git\+(.*?)(@(?:[0-9a-f]{40}|[0-9a-f]{64})#.*)$/is

/**
 * The spellings of one source a deny pattern is matched against. A deny list
 * is about what must not run, so every spelling that reaches the same
 * definition counts: letters in either case (GitHub and most hosts read an
 * owner and a repository in any case), and for git the repository URL with
 * and without `.git` and trailing slashes, which git hosts clone alike. An
 * allow list is matched as the source is recorded, so it never lets in more
 * than it names.
 */
function denialSpellings(entry: Entry, source: string): string[] {
  if (entry.source !== 'git') return [source]
  const m = gitSource.exec(source)
  if (m === null) return [source]
  const base = (m[1] as string)
    .replace(/\/+$/, '')
    .replace(/\.git$/i, '')
    .replace(/\/+$/, '')
  const rest = m[2] as string
  return [source, `git+${base}${rest}`, `git+${base}.git${rest}`]
}

const listed = (patterns: readonly string[]): string => `[${patterns.join(', ')}]`

/** Docker Hub's other names, as clients and pull-through configurations write them. */
const dockerHubNames = new Set(['index.docker.io', 'registry-1.docker.io'])

/**
 * An image in full, as a registry reads it (`alpine:3` → `docker.io/library/alpine:3`), or undefined when it does not
 * parse. One registry is one spelling: its host in lower case (host names are), without the default port 443, and
 * Docker Hub by one name; so `EVIL.IO/x`, `evil.io:443/x` and `registry-1.docker.io/library/alpine` meet the patterns
 * written for `evil.io/x` and `docker.io/library/alpine`.
 */
function fullImage(image: string): string | undefined {
  const ref = parseImageReference(image)
  if ('error' in ref) return undefined
  const host = ref.registry.toLowerCase().replace(/:443$/, '')
  const registry = dockerHubNames.has(host) ? 'docker.io' : host
  const tag = ref.tag === undefined ? '' : `:${ref.tag}`
  return `${registry}/${ref.repository}${tag}${ref.digest === undefined ? '' : `@${ref.digest}`}`
}

const digestPinned = /@sha256:[0-9a-f]{64}$/
const gitPinned = /@([0-9a-f]{40}|[0-9a-f]{64})#/
const variable = '$('

/** The string params of a step's `ref` as the resolver was asked: task params substituted, else as written. */
function refParams(entry: Entry): Map<string, string> {
  const out = new Map<string, string>()
  for (const p of entry.resolverParams ?? asList<unknown>(obj(obj(entry.written).ref).params)) {
    const { name, value } = obj(p)
    if (typeof name === 'string' && typeof value === 'string') out.set(name, value)
  }
  return out
}

/**
 * Whether the reference as written names content, so it always gives the same
 * definition: a git `revision` that is a full commit, an http `digest`, a
 * `bundle` by `@sha256:`. What was fetched is always some commit or digest; a
 * branch or a tag is still not pinned.
 */
function writtenPinned(entry: Entry): boolean {
  const params = refParams(entry)
  if (entry.source === 'git') return /^([0-9a-f]{40}|[0-9a-f]{64})$/i.test(params.get('revision') ?? '')
  if (entry.source === 'http') return /^sha(256|512):[0-9a-f]+$/i.test(params.get('digest') ?? '')
  if (entry.source === 'bundles') return /@sha256:[0-9a-f]{64}$/.test(params.get('bundle') ?? '')
  return true
}

/** Whether a remote source is identified by content, as written and as fetched (see docs/policies.md, sources.requireDigest). */
function sourcePinned(entry: Entry): boolean {
  const digest = entry.sourceDigest ?? ''
  // Without the step as written (an entry recorded by an older stepsplice), only what was fetched can be judged.
  if (entry.written !== undefined && !writtenPinned(entry)) return false
  if (entry.source === 'git') return gitPinned.test(entry.definition) && /^sha(1|256):[0-9a-f]{40,64}$/.test(digest)
  if (entry.source === 'http') return /^sha256:[0-9a-f]{64}$/.test(digest)
  if (entry.source === 'bundles') return /@sha256:[0-9a-f]{64}#/.test(entry.definition) && /^sha256:[0-9a-f]{64}$/.test(digest)
  return true
}

const capability = (c: string): string => c.toUpperCase().replace(/^CAP_/, '')

function checkSubject(spec: StepPolicySpec, s: Subject, report: (rule: string, message: string) => void): void {
  const source = s.entry === undefined ? undefined : canonicalSource(s.entry)
  if (source !== undefined && s.entry !== undefined) {
    const rule = spec.sources ?? {}
    const deny = rule.deny ?? []
    const denied = deny.length > 0 ? firstMatch(deny, denialSpellings(s.entry, source), true) : undefined
    if (denied !== undefined) report('sources.deny', `source ${source} is denied by sources.deny pattern ${denied}`)
    else if (rule.allow !== undefined && rule.allow.length > 0 && firstMatch(rule.allow, [source]) === undefined)
      report('sources.allow', `source ${source} is not allowed by sources.allow ${listed(rule.allow)}`)
    if (rule.requireDigest === true && !sourcePinned(s.entry))
      report(
        'sources.requireDigest',
        `source ${source} (${s.entry.source}) is not pinned: its reference must name a commit (git revision), a digest (http digest param) or a bundle by @sha256:`,
      )
  }
  if (spec.inlineSteps === 'Deny' && s.tektonStep && s.entry === undefined)
    report('inlineSteps', 'inline steps are not allowed: the step must come from a step definition (ref)')

  const images = spec.images ?? {}
  if (s.image !== undefined && s.image !== '') {
    const image = s.image
    const full = fullImage(image)
    const shown = full === undefined || full === image ? image : `${image} (${full})`
    const deny = images.deny ?? []
    // A variable is substituted by Tekton at run time: what it becomes cannot be checked against a deny list.
    const denied = deny.length > 0 ? (image.includes(variable) ? '(a variable)' : firstMatch(deny, full === undefined ? [image] : [image, full])) : undefined
    if (denied === '(a variable)') report('images.deny', `image ${image} holds a variable substituted at run time: images.deny cannot check it`)
    else if (denied !== undefined) report('images.deny', `image ${shown} is denied by images.deny pattern ${denied}`)
    else if (images.allow !== undefined && images.allow.length > 0 && firstMatch(images.allow, [full ?? image]) === undefined)
      report('images.allow', `image ${shown} is not allowed by images.allow ${listed(images.allow)}`)
    if (images.requireDigest === true && !digestPinned.test(image)) {
      // A variable may well become a pinned image at run time, but nothing here can know it will.
      if (image.includes(variable))
        report('images.requireDigest', `image ${image} holds a variable substituted at run time: it cannot be shown to be pinned by digest`)
      else report('images.requireDigest', `image ${image} is not pinned by digest (@sha256: and 64 hex digits)`)
    }
  }

  const rules = spec.securityContext ?? {}
  const sc = s.securityContext
  if (rules.privileged === 'Deny' && sc.privileged === true) report('securityContext.privileged', 'privileged: true is not allowed')
  if (rules.allowPrivilegeEscalation === 'Deny') {
    if (sc.allowPrivilegeEscalation === true) report('securityContext.allowPrivilegeEscalation', 'allowPrivilegeEscalation: true is not allowed')
    else if (sc.privileged === true)
      report('securityContext.allowPrivilegeEscalation', 'privileged: true is not allowed: it always allows privilege escalation')
  }
  if (rules.runAsNonRoot === 'Require') {
    const effective = sc.runAsNonRoot !== undefined ? sc.runAsNonRoot : s.podRunAsNonRoot
    if (effective !== true)
      report(
        'securityContext.runAsNonRoot',
        sc.runAsNonRoot === false
          ? 'runAsNonRoot: false is not allowed: it must be true'
          : "runAsNonRoot must be true, on the step or container or on the pod's securityContext",
      )
  }
  const allowedCaps = rules.capabilities?.allow
  if (allowedCaps !== undefined) {
    const allowed = new Set(allowedCaps.map(capability))
    for (const c of asList<unknown>(obj(sc.capabilities).add)) {
      if (typeof c === 'string' && !allowed.has(capability(c)))
        report('securityContext.capabilities.allow', `capability ${c} is not allowed by securityContext.capabilities.allow ${listed(allowedCaps)}`)
    }
  }
}

/**
 * What `policies` find wrong with the object. Enforce violations come first;
 * past maxViolations, the rest are counted in a final violation, which is
 * Enforce when any of them is.
 */
export function evaluatePolicies(policies: readonly LoadedPolicy[], input: PolicyInput): Violation[] {
  if (policies.length === 0) return []
  return judge(policies, subjectsOf(input.object, input.expanded), (spec) => spec)
}

/** Which container a subject of a Pod is, whatever its place: `containers/app`. */
const containerKey = (s: Subject): string => `${s.path.replace(/\[\d+\]$/, '')}/${s.container ?? ''}`

/**
 * What `policies` find wrong with the images a Pod's UPDATE changes. Once a
 * Pod exists only its containers' images may change (the API server refuses
 * any other change to them), so the images rules are all an UPDATE can
 * break; a container whose image is as it was is not judged again, so a
 * policy that came after the Pod does not refuse updates of what it runs.
 */
export function evaluateImageChanges(
  policies: readonly LoadedPolicy[],
  object: KubeObject,
  oldObject: KubeObject,
  spliced: ReadonlyMap<string, string>,
): Violation[] {
  if (policies.length === 0) return []
  const before = new Map(subjectsOf(oldObject, []).map((s) => [containerKey(s), s.image]))
  const changed = subjectsOf(object, []).filter((s) => s.image !== before.get(containerKey(s)))
  const found = judge(policies, changed, (spec) => (spec.images === undefined ? {} : { images: spec.images }))
  // A container stepsplice spliced runs what its definition gives: under a policy that says which steps run or where
  // they come from, its image changed is no longer that step.
  for (const p of policies) {
    const rule = p.spec.requiredSteps !== undefined ? 'requiredSteps' : p.spec.sources !== undefined ? 'sources' : undefined
    if (rule === undefined) continue
    for (const s of changed) {
      const from = s.path.includes('initContainers') ? spliced.get(s.container ?? '') : undefined
      if (from === undefined) continue
      found.push({
        policy: p.id,
        mode: p.mode,
        rule,
        path: s.path,
        container: s.container ?? '',
        ...(from === '' ? {} : { step: from }),
        message: `the image of ${s.container}, which stepsplice spliced${from === '' ? '' : ` for step ${JSON.stringify(from)}`}, cannot change: it runs what its definition gives (${before.get(containerKey(s)) ?? 'none'} before, ${s.image ?? 'none'} now)`,
      })
    }
  }
  return ordered(found)
}

/** Every subject against every policy (the part of its spec `rules` keeps); Enforce first, at most maxViolations. */
function judge(policies: readonly LoadedPolicy[], subjects: readonly Subject[], rules: (spec: StepPolicySpec) => StepPolicySpec): Violation[] {
  const found: Violation[] = []
  for (const p of policies) {
    const spec = rules(p.spec)
    for (const s of subjects) {
      const source = s.entry === undefined ? undefined : canonicalSource(s.entry)
      checkSubject(spec, s, (rule, message) => {
        found.push({
          policy: p.id,
          mode: p.mode,
          rule,
          path: s.path,
          ...(s.step === undefined ? {} : { step: s.step }),
          ...(s.container === undefined ? {} : { container: s.container }),
          ...(source === undefined ? {} : { source }),
          message,
        })
      })
    }
  }
  return ordered(found)
}

/** Enforce violations first; past maxViolations, the rest counted in a last one. */
function ordered(found: readonly Violation[]): Violation[] {
  const all = [...found.filter((v) => v.mode === 'Enforce'), ...found.filter((v) => v.mode !== 'Enforce')]
  if (all.length <= maxViolations) return all
  const kept = all.slice(0, maxViolations - 1)
  const rest = all.slice(maxViolations - 1)
  const ids = [...new Set(rest.map((v) => v.policy))]
  const mode: PolicyMode = rest.some((v) => v.mode === 'Enforce') ? 'Enforce' : 'Audit'
  kept.push({
    policy: ids.length <= 3 ? ids.join(', ') : `${ids.length} policies`,
    mode,
    rule: 'limit',
    path: '',
    message: `${rest.length} more violations not listed (at most ${maxViolations} are)`,
  })
  return kept
}

/** Enforce violations deny the object; Audit ones are warnings on an admitted one. */
export function verdict(violations: readonly Violation[]): { problems: Problem[]; warnings: string[] } {
  const problems: Problem[] = []
  const warnings: string[] = []
  for (const v of violations) {
    const where = v.path === '' ? '' : `${v.path}: `
    const step = v.step === undefined ? {} : { step: v.step }
    if (v.mode === 'Enforce') problems.push(problem(v.path, `policy ${v.policy}: ${v.rule}: ${v.message}`, step))
    else warnings.push(`policy ${v.policy} (Audit): ${where}${v.rule}: ${v.message}${v.step === undefined ? '' : ` (step ${JSON.stringify(v.step)})`}`)
  }
  return { problems, warnings }
}
