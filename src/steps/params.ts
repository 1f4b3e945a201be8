// The values a StepAction's params take for one step, in Tekton's documented
// order (applyStepActionParameters):
//   1. the step's param values, substituted with the task's params
//      (run values over task defaults, objects merged key by key);
//   2. the value the step passes;
//   3. defaults that reference other params, resolved in dependency order;
//   4. plain defaults;
//   5. step-result references in the step's values, last.
// The result is a replacement table for the StepAction-derived fields, or the
// messages that explain why there is none.

import { Budget, LimitExceeded, overSubstitution } from '../limits/budget.ts'
import { limits } from '../limits/limits.ts'
import type { Param, ParamSpec, Step } from '../types/tekton.ts'
import { type ParamValue, parseParamValue, stringPart } from '../variables/param-value.ts'
import {
  addParamValue,
  applyLayers,
  emptyReplacements,
  forgetParams,
  type KeyReads,
  mergeInto,
  overlayOf,
  ParamKeys,
  paramKeys,
  type Replacements,
  replacementsFromParams,
} from '../variables/replacements.ts'
import { extractExpressions, scanIndexed } from '../variables/scan.ts'
import { quoteValue } from '../problems/truncate.ts'

interface NamedValue {
  name: string
  value: ParamValue
  /** A plain default, which the defaults table holds already. */
  fromDefault?: true
}

/** One declared param as expansion needs it, worked out once per definition. */
interface CompiledParam {
  spec: ParamSpec
  /** Its keys in every spelling, elements and members included. */
  keys: ParamKeys
  /** The default, parsed; undefined when there is none. */
  value?: ParamValue
  /** For a default that references other params: the names it references, in order. */
  references?: string[]
}

/** A StepAction's params as expansion reads them, with its defaults table (replacementsFromDefaults). */
interface CompiledParams {
  params: CompiledParam[]
  byName: Map<string, CompiledParam>
  declared: string[]
  declaredSet: Set<string>
  defaults: Replacements
  /** What building the defaults table cost; each copy draws that on the request's budget, as building it did. */
  defaultsCost: number
  /**
   * Building the defaults table alone passed what one request may
   * substitute (defaults that double each other): the table is empty and
   * every step naming the definition is over its budget, as building the
   * table for each step was.
   */
  overLimit?: true
  /** The defaults that reference other params, resolved when a step gives none of them a value (referencingAlone). */
  referencing?: ReferencingAlone
}

/**
 * Defaults that reference other params, resolved once for the usual step:
 * one that passes no value to them or to anything they reference. Such a
 * step resolves them to the same values every time (step 3 reads only
 * defaults), so it takes these, and the cost resolving them had.
 */
interface ReferencingAlone {
  /** How many params have a referencing default. */
  count: number
  /** The params those defaults reach, directly or through others, and the params themselves: a value given to one changes them. */
  reach: Set<string>
  /** The resolved values, in the order resolution found them. */
  resolved: NamedValue[]
  cost: number
}

/**
 * Compiled once per definition (its params never change once it is in a
 * catalog) and shared by every step and request that references it: a
 * definition named by many steps was parsed and tabled anew every time.
 * Keyed by the params array itself, so it goes when the definition does.
 */
const compiled = new WeakMap<readonly ParamSpec[], CompiledParams>()

function compileParams(specs: readonly ParamSpec[]): CompiledParams {
  let held = compiled.get(specs)
  if (held !== undefined) return held
  const params: CompiledParam[] = specs.map((spec) => {
    const param: CompiledParam = { spec, keys: new ParamKeys(spec.name, Object.keys(spec.properties ?? {})) }
    if (spec.default === undefined) return param
    param.value = parseParamValue(spec.default)
    const text = stringPart(param.value)
    if (text.includes('$(params.')) param.references = extractExpressions(text, 'params').map(referencedName)
    return param
  })
  const declared = specs.map((s) => s.name)
  // Bounded like a request's own substitution: thirty defaults that each double the one before reach V8's
  // longest string, and what no request may spend is not worth building.
  const counting = new Budget(limits.substitutedBytes)
  let defaults: Replacements
  let overLimit = false
  try {
    defaults = replacementsFromDefaults(specs, counting)
  } catch (err) {
    if (!(err instanceof LimitExceeded)) throw err
    defaults = emptyReplacements()
    overLimit = true
  }
  held = { params, byName: new Map(params.map((p) => [p.spec.name, p])), declared, declaredSet: new Set(declared), defaults, defaultsCost: counting.spent }
  if (overLimit) held.overLimit = true
  const referencing = overLimit ? undefined : referencingAlone(held)
  if (referencing !== undefined) held.referencing = referencing
  compiled.set(specs, held)
  return held
}

function referencingAlone(params: CompiledParams): ReferencingAlone | undefined {
  const pending = new Map<string, string[]>()
  const plain: NamedValue[] = []
  for (const p of params.params) {
    if (p.references !== undefined) pending.set(p.spec.name, p.references)
    else if (p.value !== undefined) plain.push({ name: p.spec.name, value: p.value })
  }
  if (pending.size === 0) return undefined
  const reach = new Set<string>()
  const walk = [...pending.keys()]
  for (let name = walk.pop(); name !== undefined; name = walk.pop()) {
    if (reach.has(name)) continue
    reach.add(name)
    walk.push(...(pending.get(name) ?? []))
  }
  // Within the request's limit, as a step's own resolving is: past it, each step finds that out itself.
  const budget = new Budget()
  const processed = [...plain]
  try {
    if (resolveReferencingDefaults(params, processed, new Map(pending), budget).length > 0) return undefined
  } catch (err) {
    if (err instanceof LimitExceeded) return undefined
    throw err
  }
  const resolved = processed.slice(plain.length)
  // Kept as long as the definition is: a chain that resolves to more text than real defaults hold is resolved per step instead.
  if (resolved.reduce((n, p) => n + stringPart(p.value).length, 0) > maxAloneText) return undefined
  return { count: pending.size, reach, resolved, cost: budget.spent }
}

/** Characters of resolved defaults a definition's compiled params keep (referencingAlone). */
const maxAloneText = 64 * 1024

/** `$(params.x)` inside a default → `x`, exactly as Tekton trims it (only the dot form is understood). */
function referencedName(expression: string): string {
  return expression.replace(/^\$\(params\./, '').replace(/\)$/, '')
}

/**
 * Replacements from declared defaults (Tekton's replacementsFromDefaultParams):
 * plain defaults first, then defaults that reference one of those.
 */
export function replacementsFromDefaults(specs: readonly ParamSpec[], budget: Budget = Budget.unlimited): Replacements {
  const r = emptyReplacements()
  const referencing: { name: string; text: string }[] = []
  for (const spec of specs) {
    if (spec.default === undefined) continue
    const value = parseParamValue(spec.default)
    if (stringPart(value).includes('$(params.')) referencing.push({ name: spec.name, text: stringPart(value) })
    else addParamValue(r, spec.name, value, budget)
  }
  for (const { name, text } of referencing) {
    const resolved = resolveReferencingDefault(r, name, text, budget)
    if (resolved !== undefined) for (const key of paramKeys(name)) r.strings.set(key, resolved)
  }
  return r
}

/**
 * Tekton starts again from the raw default for every reference it finds, and
 * each result replaces the one before: what stays is the raw text with the
 * last found reference replaced. Only that one (and any a later reference to
 * the param itself reads back) is worked out: replacing the text once per
 * reference made a default with 20,000 of them take seconds.
 */
function resolveReferencingDefault(r: Replacements, name: string, text: string, budget: Budget): string | undefined {
  const expressions = extractExpressions(text, 'params')
  const names = expressions.map(referencedName)
  const lookup = (ref: string): string | undefined => {
    const key = paramKeys(ref).find((k) => r.strings.has(k))
    return key === undefined ? undefined : r.strings.get(key)
  }
  // Which references are found: a reference to the param itself is, once an earlier one was.
  const found: number[] = []
  for (const [i, ref] of names.entries()) if ((ref === name && found.length > 0) || (ref !== name && lookup(ref) !== undefined)) found.push(i)
  const last = found.at(-1)
  if (last === undefined) return undefined
  const readBack = new Set<number>()
  let selfLater = false
  for (let k = found.length - 1; k >= 0; k--) {
    const i = found[k] as number
    if (selfLater) readBack.add(i)
    if (names[i] === name) selfLater = true
  }
  let current: string | undefined
  for (const i of found) {
    if (i !== last && !readBack.has(i)) continue
    const value = names[i] === name ? (current ?? '') : (lookup(names[i] as string) ?? '')
    // A function, not a string: in a replacement string `$&`, `$$` and the like are patterns, and values are literal text.
    current = text.replaceAll(expressions[i] as string, () => value)
    budget.spend(current.length)
  }
  return current
}

/** Run values over task defaults (Tekton's getTaskParameters). */
export function taskReplacements(taskParams: readonly ParamSpec[], runParams: readonly Param[], budget: Budget = Budget.unlimited): Replacements {
  const r = replacementsFromDefaults(taskParams, budget)
  const run = replacementsFromParams(
    runParams.map((p) => ({ name: p.name, value: parseParamValue(p.value) })),
    budget,
  )
  mergeRunValues(r, run, budget)
  return r
}

/**
 * A run's param values merged over a task's defaults as Tekton's
 * getTaskParameters merges them: an object value member by member, so an
 * empty one adds nothing, not even the param, unless a default put it there.
 */
export function mergeRunValues(r: Replacements, run: Replacements, budget: Budget = Budget.unlimited): void {
  run.objects.forEach((value, key) => {
    if (Object.keys(value).length === 0 && !r.objects.has(key)) run.objects.delete(key)
  })
  mergeInto(r, run, budget)
}

/** `a, b and c`. */
function listed(names: readonly string[]): string {
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`
}

/** Go's %v of a map of lists: keys sorted, `map[a:[x y] b:[z]]`. */
function goMapOfLists(m: ReadonlyMap<string, readonly string[]>): string {
  return `map[${[...m.keys()]
    .sort()
    .map((k) => `${k}:[${[...(m.get(k) ?? [])].sort().join(' ')}]`)
    .join(' ')}]`
}

/**
 * What is wrong with the params a step passes, all at once, in Tekton's
 * order and words (extra params, then missing required ones), each followed
 * by what Tekton leaves out: which params the StepAction takes, and what to
 * pass. `suggest` names the declared params nearest to an unknown one.
 * An object value lacking keys the properties declare is not among them:
 * Tekton checks that of a TaskRun's params, never of a step's, and runs
 * the step (see lackingKeys).
 */
export function checkProvidedParams(
  stepParams: readonly Param[] | undefined,
  specs: readonly ParamSpec[],
  suggest: (name: string, candidates: readonly string[]) => string[] = () => [],
): string[] {
  const errors: string[] = []
  const { declared, declaredSet } = compileParams(specs)
  // Every step of every request passes here: nothing is built for what is right.
  const provided = new Map<string, unknown>()
  let anyExtra = false
  for (const p of stepParams ?? []) {
    provided.set(p.name, p.value)
    if (!declaredSet.has(p.name)) anyExtra = true
  }
  if (anyExtra) {
    const extra = [...provided.keys()].filter((n) => !declaredSet.has(n))
    const hints = extra.flatMap((n) => {
      const near = suggest(n, declared)
      return near.length === 0 ? [] : [`${n}: did you mean ${near.length === 1 ? near[0] : `${near.slice(0, -1).join(', ')} or ${near.at(-1)}`}?`]
    })
    const takes = declared.length === 0 ? 'the StepAction takes no params' : `the StepAction takes ${listed(declared)}`
    errors.push(`extra params passed by Step to StepAction: [${extra.join(' ')}]; ${[...hints, takes].join('; ')}`)
  }
  const missing: string[] = []
  for (const s of specs) if (s.default === undefined && !provided.has(s.name)) missing.push(s.name)
  if (missing.length > 0) {
    errors.push(
      `non-existent params in Step: [${missing.join(' ')}]; the StepAction requires ${listed(missing)}: pass ${missing.length === 1 ? 'it' : 'them'} in params`,
    )
  }
  return errors
}

/**
 * The keys an object param's properties declare that neither the value the
 * step passes (if it passes one) nor the StepAction's default holds, by param. Tekton runs such
 * a step (it checks missing keys of a TaskRun's params, not of a step's): a
 * reference to such a key stays as written.
 */
export function lackingKeys(stepParams: readonly Param[] | undefined, specs: readonly ParamSpec[]): Map<string, string[]> {
  const lacking = new Map<string, string[]>()
  if (!specs.some((spec) => spec.type === 'object' && spec.properties !== undefined)) return lacking
  const provided = new Map<string, unknown>()
  for (const p of stepParams ?? []) provided.set(p.name, p.value)
  for (const spec of specs) {
    if (spec.type !== 'object' || spec.properties === undefined) continue
    // Not passed, the default alone gives the keys (without one the param is required, which is another error).
    const value = provided.has(spec.name) ? provided.get(spec.name) : spec.default !== undefined ? {} : undefined
    if (!isPlainObject(value)) continue
    const fallback = isPlainObject(spec.default) ? spec.default : undefined
    let needs: string[] | undefined
    for (const k of Object.keys(spec.properties)) {
      if (Object.hasOwn(value, k) || (fallback !== undefined && Object.hasOwn(fallback, k))) continue
      needs ??= []
      needs.push(k)
    }
    if (needs !== undefined) lacking.set(spec.name, needs)
  }
  return lacking
}

/** Tekton's words for missing keys (MissingKeysObjectParamNames), then each param's in plain words. */
export function missingKeysMessage(lacking: ReadonlyMap<string, readonly string[]>): string {
  const plain = [...lacking].map(([name, keys]) => `${name} needs ${listed(keys)}`).join('; ')
  return `missing keys for these params which are required in ParamSpec's properties ${goMapOfLists(lacking)}; ${plain}`
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * Resolves defaults that reference other params, reporting unknown
 * references and cycles. Each default is resolved once, after the params it
 * references (a depth-first walk with an explicit stack, so a long chain
 * cannot overflow the call stack): linear in params and references.
 */
function resolveReferencingDefaults(params: CompiledParams, processed: NamedValue[], pending: Map<string, string[]>, budget: Budget): string[] {
  const values = new Map(processed.map((p) => [p.name, p.value]))
  const failed = new Set<string>()
  const resolveOne = (name: string, refs: readonly string[]): void => {
    const own = params.byName.get(name)?.value
    let text = own === undefined ? '' : stringPart(own)
    for (const ref of refs) {
      const value = stringPart(values.get(ref) ?? { type: 'string', string: '' })
      text = text.replaceAll(`$(params.${ref})`, () => value)
      budget.spend(text.length)
    }
    const value: ParamValue = { type: 'string', string: text }
    values.set(name, value)
    processed.push({ name, value })
  }
  for (const [root, rootRefs] of pending) {
    if (values.has(root) || failed.has(root)) continue
    // The usual default names only params known already: resolved at once, nothing to walk.
    if (rootRefs.every((ref) => values.has(ref))) {
      resolveOne(root, rootRefs)
      continue
    }
    // Walk the references depth first; a name on the current path again is a cycle.
    const onPath = new Set<string>([root])
    const stack: { name: string; next: number }[] = [{ name: root, next: 0 }]
    while (stack.length > 0) {
      const frame = stack[stack.length - 1] as { name: string; next: number }
      const refs = pending.get(frame.name) ?? []
      if (frame.next < refs.length) {
        const ref = refs[frame.next++] as string
        if (values.has(ref)) continue
        const blocked = failed.has(ref) || onPath.has(ref) || !pending.has(ref)
        if (blocked) {
          for (const f of stack) failed.add(f.name)
          break
        }
        onPath.add(ref)
        stack.push({ name: ref, next: 0 })
        continue
      }
      resolveOne(frame.name, refs)
      onPath.delete(frame.name)
      stack.pop()
    }
  }
  const unresolved = [...pending.keys()].filter((name) => !values.has(name))
  if (unresolved.length === 0) return []
  // As Tekton judges a default it cannot resolve: by the first of its
  // references that is not resolved (applyStepActionParameters records only
  // that one); undeclared, it is named, else the default is in a cycle. A
  // default stuck on a cycle is a cycle even if a later reference is undeclared.
  const unknown: string[] = []
  for (const name of unresolved) {
    const first = (pending.get(name) ?? []).find((ref) => !values.has(ref))
    if (first !== undefined && !params.declaredSet.has(first))
      unknown.push(`parameter ${quoteValue(name)} references non-existent parameter ${quoteValue(first)}`)
  }
  if (unknown.length > 0) return unknown
  return [`circular dependency detected in parameter references: ${unresolved.join(', ')}`]
}

const stepExpressionHelp =
  'must be one of the form 1). "steps.<stepName>.results.<resultName>"; 2). "steps.<stepName>.results.<objectResultName>.<individualAttribute>"'
/** What Tekton says of an expression shaped like a step result's but with more parts (resultref.parseExpression): all four forms. */
const resultExpressionHelp =
  'must be one of the form 1). "tasks.<taskName>.results.<resultName>"; 2). "tasks.<taskName>.results.<objectResultName>.<individualAttribute>"; 3). "steps.<stepName>.results.<resultName>"; 4). "steps.<stepName>.results.<objectResultName>.<individualAttribute>"'

/** `steps.<name>.results.…` with at least four parts (Tekton's looksLikeStepResultRef). */
function looksLikeStepResult(parts: readonly string[]): boolean {
  return parts.length >= 4 && parts[0] === 'steps' && parts[2] === 'results'
}

interface StepResultRef {
  step: string
  result: string
}

function parseStepResultReference(expression: string): StepResultRef | undefined {
  const parts = expression.split('.')
  if (!looksLikeStepResult(parts)) return undefined
  if (parts.length !== 4 && parts.length !== 5) return undefined
  const result = parts.length === 4 ? (parts[3] ?? '').replace(/\[([0-9])*\*?\]/g, '') : (parts[3] ?? '')
  return { step: parts[1] ?? '', result }
}

/** `$(params.p[2])` used in the derived step's command, args or env → the result's element. */
function indexedUsages(step: Step, name: string, ref: StepResultRef): Map<string, string> {
  const out = new Map<string, string>()
  const texts = [...(step.command ?? []), ...(step.args ?? []), ...(step.env ?? []).map((e) => e.value ?? '')]
  for (const base of [`params.${name}`, `params[${JSON.stringify(name)}]`, `params['${name}']`]) {
    for (const text of texts) {
      for (const use of scanIndexed(text, base)) {
        if (use.digits !== '') out.set(use.expression.slice(2, -1), `$(steps.${ref.step}.results.${ref.result}[${use.digits}])`)
      }
    }
  }
  return out
}

/**
 * Step 5: a param whose value is `$(steps.s.results.r…)` is rewritten to that
 * result reference. `provided` is in the order of the step's params.
 */
function stepResultReplacements(step: Step, provided: readonly NamedValue[], params: CompiledParams): Map<string, string> | ParamError {
  const out = new Map<string, string>()
  for (const [i, p] of provided.entries()) {
    const text = stringPart(p.value)
    if (!text.startsWith('$(steps.')) continue
    const expression = text.replace(/^\$\(/, '').replace(/\)$/, '')
    const ref = parseStepResultReference(expression)
    if (ref === undefined) {
      const help = looksLikeStepResult(expression.split('.')) ? resultExpressionHelp : stepExpressionHelp
      return { message: `invalid step result reference ${quoteValue(text)} in param ${quoteValue(p.name)}: ${help}`, param: i }
    }
    const spec = params.byName.get(p.name)?.spec
    if (spec === undefined) continue
    if (spec.type === 'object') {
      for (const key of Object.keys(spec.properties ?? {})) out.set(`params.${spec.name}.${key}`, `$(steps.${ref.step}.results.${ref.result}.${key})`)
    } else if (spec.type === 'array') {
      for (const key of paramKeys(spec.name)) out.set(`${key}[*]`, `$(steps.${ref.step}.results.${ref.result}[*])`)
      for (const [k, v] of indexedUsages(step, spec.name, ref)) out.set(k, v)
    } else {
      for (const key of paramKeys(spec.name)) out.set(key, text)
    }
  }
  return out
}

/** The declared name behind a replacement key such as `params["x"]` or `inputs.params.x`. */
function nameOfKey(key: string): string {
  const m = /^(?:inputs\.)?params(?:\.(.+)|\["(.+)"\]|\['(.+)'\])$/.exec(key)
  return m?.[1] ?? m?.[2] ?? m?.[3] ?? key
}

/** A key that is both a string and an array means the default and the passed value disagree on type. */
function typeMismatches(r: Replacements): string[] {
  let names: Set<string> | undefined
  // The arrays are the fewer keys; the names are sorted, so which table is walked does not show.
  r.arrays.forEach((_, key) => {
    if (!r.strings.has(key)) return
    names ??= new Set()
    names.add(nameOfKey(key))
  })
  if (names === undefined) return []
  return [...names].sort().map((n) => `invalid parameter substitution: ${spelledAsTekton(n)}. Please check the types of the default value and the passed value`)
}

/**
 * A mismatched param as Tekton's message names it: it takes the first of
 * the param's keys in sorted order, `inputs.params.<name>`, and cuts the
 * name out only when it is all word characters (paramNameFromReplacementKey);
 * a name with `-` or `.` is given as the whole key.
 */
function spelledAsTekton(name: string): string {
  return /^\w+$/.test(name) ? name : `inputs.params.${name}`
}

/** An array or object StepAction param whose value is a task param known only at run time. */
interface Deferred {
  spec: ParamSpec
  /** The task param it is given, e.g. `f` for `$(params.f[*])`. */
  target: string
}

const wholeParamReference = /^\$\(params\.([_a-zA-Z][_a-zA-Z0-9.-]*)(?:\[\*\])?\)$/

/**
 * A step value still exactly `$(params.x)` or `$(params.x[*])` after the
 * task's params were applied names a param whose value only exists at run
 * time (a task result or matrix value reaching an embedded task). Tekton
 * expands the step when that value is known, so an array or object StepAction
 * param receives a real array or object. A string cannot stand in for one
 * (`$(params.list[*])` would stay literal and nothing would ever fill it), so
 * such a value is deferred: the StepAction's references become references to
 * `x`, which Tekton fills when the TaskRun runs. A task param declared with
 * another type is not deferred, so Tekton's type checks still apply.
 */
export function deferredTarget(value: ParamValue, spec: ParamSpec, taskParams: readonly ParamSpec[], runtimeParams: readonly string[]): string | undefined {
  if (value.type !== 'string' || (spec.type !== 'array' && spec.type !== 'object')) return undefined
  const target = wholeParamReference.exec(value.string)?.[1]
  // Only a param known to be decided at run time: any other reference left is one Tekton will not fill either.
  if (target === undefined || !runtimeParams.includes(target)) return undefined
  const declared = taskParams.find((p) => p.name === target)
  return declared === undefined || declared.type === spec.type ? target : undefined
}

/** Every text of a derived step that substitution touches (steps/expand.ts, applyToDerived). */
export function substitutedTexts(step: Step): string[] {
  // Strings only, as applyToDerived substitutes only strings: a definition's schema does not type every field.
  const texts: unknown[] = [step.image, step.script, step.workingDir, ...(step.command ?? []), ...(step.args ?? [])]
  for (const e of step.env ?? []) {
    texts.push(e.value)
    for (const sel of [e.valueFrom?.secretKeyRef, e.valueFrom?.configMapKeyRef]) texts.push(sel?.name, sel?.key)
  }
  for (const m of step.volumeMounts ?? []) texts.push(m.name, m.mountPath, m.subPath)
  return texts.filter((t): t is string => typeof t === 'string')
}

/**
 * The keys a run-time value of object task param `target` is sure to hold:
 * those its properties declare (Tekton requires them) and those of its
 * default (merged under the value key by key).
 */
export function runtimeObjectKeys(taskParams: readonly ParamSpec[], target: string): Set<string> {
  const declared = taskParams.find((p) => p.name === target)
  const declaredDefault = parseParamValue(declared?.default)
  return new Set([...Object.keys(declared?.properties ?? {}), ...(declaredDefault.type === 'object' ? Object.keys(declaredDefault.object) : [])])
}

function addDeferredReferences(r: Replacements, d: Deferred): void {
  const { spec, target } = d
  forgetParams(r, [spec.name])
  if (spec.type === 'array') {
    // Whole-array uses become `$(params.x[*])`, which Tekton expands when it is a whole command/args element, as ours was.
    // An element read by index is not written: how many elements the value has is known only at run time, so such a
    // definition leaves its pipeline task for the TaskRun (runs/pipeline-deferral.ts, deferForRuntimeObject).
    for (const key of paramKeys(spec.name)) {
      r.strings.set(key, `$(params.${target}[*])`)
      r.strings.set(`${key}[*]`, `$(params.${target}[*])`)
    }
    return
  }
  // Objects: Tekton merges the run-time value over the StepAction default key
  // by key, so each key the definition reads must be one the value is sure to
  // hold (runtimeObjectKeys): where it reads another, whether the value or the
  // default gives it is known only at run time, and the pipeline task is left
  // for its TaskRun before expansion (runs/pipeline-deferral.ts).
  for (const key of Object.keys(spec.properties ?? {})) r.strings.set(`params.${spec.name}.${key}`, `$(params.${target}.${key})`)
}

/**
 * The value given for a name, the last given winning as in a map. A step
 * passes a handful: looked up in the list; past that, in a map.
 */
function valueLookup(provided: readonly NamedValue[]): (name: string) => ParamValue | undefined {
  if (provided.length > 8) {
    const byName = new Map(provided.map((p) => [p.name, p.value]))
    return (name) => byName.get(name)
  }
  return (name) => {
    for (let i = provided.length - 1; i >= 0; i--) if ((provided[i] as NamedValue).name === name) return (provided[i] as NamedValue).value
    return undefined
  }
}

/** What is wrong with a step's params; `param`, when it is about one value: its index in the step's params. */
export interface ParamError {
  message: string
  param?: number
}

export type ParamResolution = { replacements: Replacements } | { errors: ParamError[] }

function rawOf(value: ParamValue): string | string[] | Record<string, string> {
  return value.type === 'array' ? value.array : value.type === 'object' ? value.object : value.string
}

/**
 * Params with the values of `layers` substituted in order, as written back
 * into an object: how Tekton fills a step's resolver params with task params
 * before asking the resolver. An entry that is not a param is kept as it is,
 * for the shape checks to report.
 */
export function substituteParams(params: readonly Param[], layers: readonly Replacements[], budget: Budget = Budget.unlimited): Param[] {
  return params.map((p) => {
    if (typeof p !== 'object' || p === null || typeof p.name !== 'string') return p
    return { ...p, value: rawOf(applyLayers(parseParamValue(p.value), layers, budget)) }
  })
}

/**
 * The replacement table for one referenced step. `derived` is the step built
 * from the StepAction (needed to find indexed uses of result-fed arrays),
 * `specs` its defaulted params, `layers` the tables step 1 applies in order
 * (pipeline params propagated into an embedded task, then the task's own),
 * `taskParams` the enclosing task's declared (defaulted) params and
 * `runtimeParams` the names of those whose value is known only at run time.
 * With `reads` (the keys `derived`'s texts can look up), the step's own
 * values are written only under those keys: the table serves that step alone.
 */
export function resolveStepActionParams(
  derived: Step,
  stepParams: readonly Param[] | undefined,
  specs: readonly ParamSpec[],
  layers: readonly Replacements[],
  taskParams: readonly ParamSpec[] = [],
  runtimeParams: readonly string[] = [],
  budget: Budget = Budget.unlimited,
  reads?: KeyReads,
): ParamResolution {
  const provided: NamedValue[] = (stepParams ?? []).map((p) => ({ name: p.name, value: applyLayers(parseParamValue(p.value), layers, budget) }))
  const givenValue = valueLookup(provided)
  const compiledParams = compileParams(specs)
  // Whatever the budget, even an unlimited one: the table it would need was never built.
  if (compiledParams.overLimit === true) throw overSubstitution(limits.substitutedBytes)
  budget.spend(compiledParams.defaultsCost)
  const r = overlayOf(compiledParams.defaults)
  const processed: NamedValue[] = []
  const pending = new Map<string, string[]>()
  const deferred: Deferred[] = []
  for (const param of compiledParams.params) {
    const spec = param.spec
    const given = givenValue(spec.name)
    const target = given === undefined ? undefined : deferredTarget(given, spec, taskParams, runtimeParams)
    if (target !== undefined) {
      deferred.push({ spec, target })
      // Typed as declared, as the run-time value will be; like Go's StringVal of
      // an array, its string part (seen by referencing defaults) is empty.
      processed.push({ name: spec.name, value: spec.type === 'array' ? { type: 'array', array: [] } : { type: 'object', object: {} } })
      continue
    }
    if (given !== undefined) {
      processed.push({ name: spec.name, value: given })
      continue
    }
    if (param.value === undefined) continue
    // A plain default is in the table already (the compiled defaults); what references others is resolved below.
    if (param.references === undefined) processed.push({ name: spec.name, value: param.value, fromDefault: true })
    else pending.set(spec.name, param.references)
  }
  const alone = compiledParams.referencing
  if (alone !== undefined && pending.size === alone.count && !provided.some((p) => alone.reach.has(p.name))) {
    budget.spend(alone.cost)
    for (const p of alone.resolved) processed.push(p)
  } else if (pending.size > 0) {
    const chainErrors = resolveReferencingDefaults(compiledParams, processed, pending, budget)
    if (chainErrors.length > 0) return { errors: chainErrors.map((message) => ({ message })) }
  }
  // Written straight over the defaults, objects merged key by key: what tabling these values and merging the table did.
  for (const p of processed) {
    if (p.fromDefault === true) continue
    addParamValue(r, p.name, p.value, budget, compiledParams.byName.get(p.name)?.keys, true, reads)
  }
  for (const d of deferred) addDeferredReferences(r, d)
  const fromResults = stepResultReplacements(derived, provided, compiledParams)
  if (!(fromResults instanceof Map)) return { errors: [fromResults] }
  for (const [k, v] of fromResults) r.strings.set(k, v)
  const mismatches = typeMismatches(r)
  if (mismatches.length > 0) return { errors: mismatches.map((message) => ({ message })) }
  return { replacements: r }
}
