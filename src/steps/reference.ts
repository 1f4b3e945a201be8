// One referenced step expanded, given what its reference resolved to: shared
// by TaskRuns, PipelineRuns and Pods, so a reference fails the same way, with
// the same messages, wherever it is written.

import { type Definition, definitionId } from '../definitions/definition.ts'
import { unknownField } from '../definitions/schema.ts'
import { type Resolution, resolverOf } from '../definitions/reference.ts'
import type { Budget } from '../limits/budget.ts'
import { formatProblem, problem, type Problem, stepLabel } from '../problems/problem.ts'
import type { ParamSpec, Step } from '../types/tekton.ts'
import type { Replacements } from '../variables/replacements.ts'
import { expandStep } from './expand.ts'
import { nearestNames } from '../problems/nearest.ts'
import { checkProvidedParams, missingKeysMessage } from './params.ts'
import type { ProvenanceEntry } from './expansion.ts'
import { quoteValue } from '../problems/truncate.ts'

/** What the step's param values see: see expandStep. */
export interface ParamScope {
  layers: readonly Replacements[]
  taskParams?: readonly ParamSpec[]
  runtimeParams?: readonly string[]
  /** The request's allowance of substituted text; unlimited when unset. */
  budget?: Budget
}

/** What to do with a reference that could not be resolved (definitions/reference.ts#Unresolved). */
export interface UnresolvedPolicy {
  /** Kinds of reference (`git`, `local`, … or `all`) that must resolve: for them, not resolving denies. */
  require?: ReadonlySet<string>
  /** Pods: nothing resolves a step later, so every unresolved reference denies. */
  always?: boolean
  /**
   * Enforcing step policies judge the object. A step left for Tekton is one
   * they cannot see; a definition stepsplice found invalid or past a limit,
   * which Tekton might still run, is then denied rather than left behind them
   * (leftInvalid).
   */
  judged?: boolean
}

export type ExpandedReference =
  | { step: Step; definition: Definition; context: { step: string; definition: string; file?: string }; entry: ProvenanceEntry; warnings: string[] }
  | { problems: Problem[] }
  /** Left as written, for Tekton to resolve: which step (its `ref`'s path and name) and why. */
  | { deferred: Deferred }

export interface Deferred {
  path: string
  step: string
  reason: string
}

/**
 * One warning per reason: a Task of a dozen git steps whose repository is
 * down says so once, naming the first step and counting the others, rather
 * than a dozen times (admission keeps at most 20 warnings).
 */
export function deferredWarnings(deferred: readonly Deferred[]): string[] {
  const byReason = new Map<string, Deferred[]>()
  for (const d of deferred) {
    const group = byReason.get(d.reason)
    if (group === undefined) byReason.set(d.reason, [d])
    else group.push(d)
  }
  return [...byReason].map(([reason, [first, ...rest]]) => {
    const text = `${first?.path} (step ${quoteValue(first?.step ?? '')}): left for Tekton to resolve: ${reason}`
    if (rest.length === 0) return text
    // The reason comes first: a warning past 256 characters is cut, and the names matter less.
    const names = rest.slice(0, 5).map((d) => quoteValue(d.step, 40))
    return `${text}; so ${rest.length === 1 ? 'is 1 more step' : `are ${rest.length} more steps`}, for the same reason: ${names.join(', ')}${rest.length > 5 ? ', …' : ''}`
  })
}

/**
 * Expands a step given what its reference resolved to (undefined: it was
 * never asked, which is a bug reported as a problem); `path` is the step's
 * path for problems.
 */
export function expandReference(
  step: Step,
  path: string,
  namespace: string,
  resolution: Resolution | undefined,
  scope: ParamScope,
  policy: UnresolvedPolicy = {},
): ExpandedReference {
  const head = resolvedDefinition(step, path, namespace, resolution, policy)
  if (!('definition' in head)) return head
  const d = head.definition
  const name = typeof step.name === 'string' ? step.name : ''
  const context = contextOf(name, d, namespace)
  const result = expandStep(step, d, scope.layers, scope.taskParams ?? [], scope.runtimeParams ?? [], scope.budget)
  if ('errors' in result)
    return { problems: result.errors.map((e) => problem(e.param === undefined ? `${path}.params` : `${path}.params[${e.param}].value`, e.message, context)) }
  // Nothing fills a Pod's step later: a key no value gives, read by the definition, would reach the container as written.
  if (result.unfilled.size > 0 && policy.always === true) return { problems: [problem(`${path}.params`, missingKeysMessage(result.unfilled), context)] }
  // The definition's securityContext wins, as in Tekton; the step's own settings it drops are said out loud.
  const warnings =
    result.lostSecurity.length === 0
      ? []
      : [`${path}: StepAction ${context.definition} replaces the securityContext of ${stepLabel(name)}; lost: ${result.lostSecurity.join(', ')}`]
  // Tekton runs such a step, leaving the reference as written: said, not refused.
  for (const [param, keys] of result.unfilled) {
    const refs = keys.map((k) => `$(params.${param}.${k})`).join(', ')
    warnings.push(
      `${path}: ${stepLabel(name)} gives param ${quoteValue(param)} no key ${keys.map((k) => quoteValue(k)).join(', ')}, which StepAction ${context.definition} declares and reads, and its default has none: ${refs} stays as written, as Tekton leaves it`,
    )
  }
  return {
    step: result.step,
    definition: d,
    context,
    entry: provenanceEntry(path, name, context.definition, d),
    warnings,
  }
}

/**
 * What can be checked of a reference without expanding it: that it resolved
 * (or is left for Tekton, or must resolve), that the definition is valid,
 * and that the step passes only params it declares and every one it
 * requires. For steps whose expansion waits for a later admission (a
 * pipeline task left for its TaskRun): their errors are known now.
 */
export function checkReference(
  step: Step,
  path: string,
  namespace: string,
  resolution: Resolution | undefined,
  policy: UnresolvedPolicy = {},
): { problems: Problem[] } | { deferred: Deferred } | { definition: Definition } {
  const head = resolvedDefinition(step, path, namespace, resolution, policy)
  if (!('definition' in head)) return head
  const d = head.definition
  const context = contextOf(typeof step.name === 'string' ? step.name : '', d, namespace)
  const errors = checkProvidedParams(step.params, d.spec.params ?? [], nearestNames)
  return errors.length > 0 ? { problems: errors.map((m) => problem(`${path}.params`, m, context)) } : head
}

/** The definition a reference resolved to, valid; or why there is none. */
function resolvedDefinition(
  step: Step,
  path: string,
  namespace: string,
  resolution: Resolution | undefined,
  policy: UnresolvedPolicy,
): { problems: Problem[] } | { deferred: Deferred } | { definition: Definition } {
  const name = typeof step.name === 'string' ? step.name : ''
  if (resolution === undefined || 'error' in resolution) {
    return { problems: [problem(`${path}.ref`, resolution?.error ?? 'reference was not resolved', { step: name })] }
  }
  if ('unresolved' in resolution) {
    const required = requires(policy, resolution.resolver)
    if (policy.always === true) return { problems: [problem(`${path}.ref`, resolution.unresolved, { step: name })] }
    if (required) {
      return {
        problems: [
          problem(`${path}.ref`, `${resolution.unresolved}; ${resolution.resolver} references must resolve at admission (--require-resolution)`, {
            step: name,
          }),
        ],
      }
    }
    return { deferred: { path: `${path}.ref`, step: name, reason: resolution.unresolved } }
  }
  const d = resolution.definition
  if (d.problems.length > 0) {
    const context = contextOf(name, d, namespace)
    // Past one of stepsplice's own limits, not Tekton's: the run is left for Tekton as a whole, a Pod denied
    // (pipeline/splice.ts#limitOutcome); but where an enforcing policy judges the object, a step it could not see is denied.
    const problems = d.problems.map((p) =>
      problem(
        `${path}.ref`,
        `StepAction is invalid: ${formatProblem(p)}`,
        p.limit === undefined || policy.judged === true ? context : { ...context, limit: p.limit },
      ),
    )
    if (d.problems.some((p) => p.limit !== undefined) || !leftInvalid(step, d, policy)) return { problems }
    // What the step passes is checked against what the definition declares, when that much of it is well-formed: Tekton checks it too.
    const wrongParams = paramsReadable(d) ? checkProvidedParams(step.params, d.spec.params ?? [], nearestNames) : []
    if (wrongParams.length > 0) return { problems: wrongParams.map((m) => problem(`${path}.params`, m, context)) }
    return { deferred: { path: `${path}.ref`, step: name, reason: invalidReason(context.definition, d) } }
  }
  return { definition: d }
}

function requires(policy: UnresolvedPolicy, kind: string): boolean {
  return policy.require?.has(kind) === true || policy.require?.has('all') === true
}

/**
 * Whether Tekton runs what it takes of an invalid definition, so it is left
 * to Tekton rather than denied: a StepAction read from the cluster, which
 * Tekton decodes into its Go types (an unknown field dropped) and, named by
 * the step (no resolver), expands without validating it
 * (LocalStepActionRefResolver); through `resolver: cluster` it validates what
 * is left after decoding (a dry-run create), so there only unknown fields
 * are left to it. A directory's definition has no Tekton behind it; a Pod has
 * no Tekton at all; and where step policies judge the object, a step they
 * could not see is not left behind them.
 */
function leftInvalid(step: Step, d: Definition, policy: UnresolvedPolicy): boolean {
  if (d.source.kind !== 'cluster' || policy.always === true || policy.judged === true) return false
  const kind = resolverOf(step.ref ?? {})
  if (requires(policy, kind)) return false
  return kind === 'local' || (kind === 'cluster' && d.problems.every((p) => p.message === unknownField))
}

/** Whether the definition's params are as Tekton's types read them: nothing wrong at or under `spec.params`. */
function paramsReadable(d: Definition): boolean {
  return (
    (d.spec.params === undefined || Array.isArray(d.spec.params)) &&
    !d.problems.some((p) => p.path === 'spec.params' || p.path.startsWith('spec.params.') || p.path.startsWith('spec.params['))
  )
}

/** Why an invalid StepAction in the cluster is left to Tekton: the reason first, as a warning is cut at 256 characters. */
function invalidReason(definition: string, d: Definition): string {
  const [first, ...rest] = d.problems
  const more = rest.length === 0 ? '' : ` (and ${rest.length} more)`
  return `StepAction ${definition} in the cluster is invalid, and Tekton takes it as its types decode it: ${first === undefined ? '' : formatProblem(first)}${more}`
}

/** What a problem of this step names: the step, the definition, and the file it was read from. */
function contextOf(step: string, d: Definition, namespace: string): { step: string; definition: string; file?: string } {
  const definition = definitionId(d, namespace)
  // Only a catalog file has a file to name; the cluster and remotes are named by the definition itself.
  return d.source.kind === 'directory' && /\.(ya?ml|json)$/i.test(d.source.location) ? { step, definition, file: d.source.location } : { step, definition }
}

/** One line of the provenance annotation; a remote definition adds where it was fetched from, pinned. */
function provenanceEntry(path: string, step: string, definition: string, d: Definition): ProvenanceEntry {
  const entry: ProvenanceEntry = { path, step, definition, source: d.source.kind, digest: d.digest }
  if (d.source.sourceDigest !== undefined) entry.sourceDigest = d.source.sourceDigest
  return entry
}
