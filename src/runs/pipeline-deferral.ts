// Which pipeline tasks of a PipelineRun are expanded at its admission, and
// which are left for the TaskRuns Tekton creates from it.
//
// Natively, Tekton runs its pipeline-level passes on the PipelineRun first
// (pipeline params propagated into embedded task specs, `$(context.pipeline…)`
// filled in, task results propagated), and only then, in each child TaskRun,
// resolves StepActions. Splicing at PipelineRun admission turns that order
// around. The outcome is the same only when neither the step's params nor
// what the definition brings hold anything those passes would change; where
// they do, the task's steps are left as written, and the child TaskRun,
// created with Tekton's pipeline-level values already applied, is expanded
// when it reaches the webhook. Exact or hands-off: never an approximation.

import { isJsonObject as isObject } from '../json/values.ts'
import { deferredTarget, runtimeObjectKeys, substitutedTexts } from '../steps/params.ts'
import type { Step, StepActionSpec } from '../types/tekton.ts'
import { parseParamValue } from '../variables/param-value.ts'
import { applyLayers, paramKeys } from '../variables/replacements.ts'
import { extractVariables, isWholeReference, scanIndexed, scanPlainReferences, scanReferences, trimArrayIndex } from '../variables/scan.ts'
import { paramsOf } from './pipeline-params.ts'
import { knownIn, type TaskSite } from './sites.ts'

/** What Tekton's pipeline-level passes fill in, wherever it appears in an embedded task spec. */
const pipelineLevel = ['context.pipelineRun.', 'context.pipeline.', 'context.pipelineTask.', 'tasks.']

/** Every string in `value`, walked with a stack (a step can nest deeply). */
function stringsOf(value: unknown): string[] {
  const out: string[] = []
  const stack: unknown[] = [value]
  while (stack.length > 0) {
    const v = stack.pop()
    if (typeof v === 'string') out.push(v)
    else if (Array.isArray(v)) stack.push(...v)
    else if (isObject(v)) stack.push(...Object.values(v))
  }
  return out
}

function pipelineLevelReference(text: string): string | undefined {
  if (!text.includes('$(')) return undefined
  return scanPlainReferences(text).find((r) => pipelineLevel.some((p) => r.startsWith(p)))
}

/**
 * A `$(workspaces.<w>.…)` in the definition's text that Tekton treats
 * otherwise once it is spliced into the pipeline's task spec:
 * - a workspace the pipeline task does not bind: Tekton binds each workspace
 *   the steps of an embedded task spec name to the pipeline workspace of that
 *   name (propagateWorkspaces), which it does not do for a definition
 *   resolved later, in the TaskRun;
 * - `.bound` of a pipeline workspace the task binds to another one: the
 *   pipeline pass fills it with the pipeline's workspace, the TaskRun with
 *   the one the task's is bound to.
 */
function workspaceReference(text: string, site: TaskSite, usedByTask: () => ReadonlySet<string>): string | undefined {
  const bindings = site.workspaceBindings
  if (bindings === undefined || !text.includes('$(workspaces.')) return undefined
  return scanPlainReferences(text).find((r) => {
    if (!r.startsWith('workspaces.')) return false
    const rest = r.slice('workspaces.'.length)
    const dot = rest.lastIndexOf('.')
    if (dot <= 0) return false
    const name = rest.slice(0, dot)
    const bound = bindings.get(name)
    // Named already where Tekton looks as written: it is bound either way.
    if (bound === undefined) return !usedByTask().has(name)
    return rest.slice(dot + 1) === 'bound' && site.pipelineWorkspaces?.has(name) === true && bound !== name
  })
}

/**
 * The workspaces Tekton's propagateWorkspaces finds in a task spec as
 * written (FindWorkspacesUsedByTask): in its steps' scripts, commands, args,
 * working directories, env values and param values, its sidecars' and its
 * step template's.
 */
function workspacesUsedBy(site: TaskSite): Set<string> {
  const texts: unknown[] = []
  const spec = site.taskSpec as Record<string, unknown>
  const container = (c: unknown, withParams: boolean): void => {
    if (!isObject(c)) return
    texts.push(c.script, c.command, c.args, c.workingDir)
    if (Array.isArray(c.env)) for (const e of c.env) if (isObject(e)) texts.push(e.value)
    if (withParams) for (const p of paramsOf(c.params)) texts.push(p.value)
  }
  for (const step of Array.isArray(spec.steps) ? spec.steps : []) container(step, true)
  for (const sidecar of Array.isArray(spec.sidecars) ? spec.sidecars : []) container(sidecar, false)
  // The step template has no script, as Tekton reads it.
  if (isObject(spec.stepTemplate)) container({ ...spec.stepTemplate, script: undefined }, false)
  const out = new Set<string>()
  for (const text of stringsOf(texts)) if (text.includes('$(workspaces.')) for (const name of extractVariables(text, 'workspaces').names) out.add(name)
  return out
}

/** The param a `$(params.x…)`, `$(params["x"])` or `$(params['x'])` reference names. */
function nameOf(ref: { form: string; name: string }): string {
  return ref.form === 'dot' ? (ref.name.split(/[.[]/)[0] ?? '') : ref.name
}

/** A `$(params…)` reference in `text` naming one of `names`. */
function paramReference(text: string, names: ReadonlySet<string>): string | undefined {
  if (names.size === 0 || !text.includes('$(params')) return undefined
  return scanReferences(text, 'params')
    .map(nameOf)
    .find((n) => names.has(n))
}

/**
 * Why a task's ref steps must wait for its TaskRun, judged before expansion
 * from what the user wrote in the steps' params:
 * - a task result, `$(tasks.…)`: Tekton propagates it into the step's params
 *   as a value (an array result as an array) and reads where it stands for
 *   the pipeline's order;
 * - a pipeline param that is an array or object whose value is known only
 *   while the PipelineRun runs: its elements or keys decide what the
 *   definition's fields become.
 * A string known only later needs no waiting: it stays a reference, and
 * Tekton's passes replace it in the spliced fields as they would have
 * replaced it in the param. So do task params known only later (results
 * passed to the task, matrix values): the TaskRun's own pass fills them in,
 * typed as the task declares them.
 */
export function deferBeforeExpansion(site: TaskSite, refSteps: readonly Step[]): string | undefined {
  const later = new Set([...(site.pipelineParams ?? [])].filter(([n, type]) => type !== 'string' && !knownIn(site.propagated, n)).map(([n]) => n))
  const referencing = referencingDefaults(site)
  for (const step of refSteps) {
    for (const text of stringsOf(paramsOf(step.params).map((p) => p.value))) {
      const fromDefault = paramReference(text, referencing)
      if (fromDefault !== undefined) {
        return `a step param uses task param ${JSON.stringify(fromDefault)}, whose default holds a reference only the TaskRun fills`
      }
      const result = text.includes('$(tasks.') ? scanPlainReferences(text).find((r) => r.startsWith('tasks.')) : undefined
      if (result !== undefined) return `a step param uses $(${result}), which Tekton fills in while the PipelineRun runs`
      const pipelineParam = paramReference(text, later)
      if (pipelineParam !== undefined) {
        return `a step param uses ${site.pipelineParams?.get(pipelineParam) ?? ''} pipeline param ${JSON.stringify(pipelineParam)}, whose value is known only while the PipelineRun runs`
      }
    }
  }
  return undefined
}

/**
 * Why a pipeline task's spliced steps cannot stand: the definition left a
 * reference to one of its own params as written (a key no value gives, an
 * index past the array) that Tekton's pipeline pass fills once spliced, with
 * a pipeline param of the same name; natively the definition is resolved
 * after that pass and the reference stays. The step's params were
 * substituted with that pass's table before expansion, so a reference the
 * table knows can only have come from the definition.
 */
export function leftForPipelinePass(site: TaskSite, steps: Iterable<[number, Step]>, written: ReadonlyMap<number, Step>): string | undefined {
  const table = site.propagated
  // Pipeline params known only at run time are in no table, yet the pass fills them: a reference to one is the
  // definition's unless the step's own params hold one to that param, which the pass would have filled there too.
  const later = new Set([...(site.pipelineParams?.keys() ?? [])].filter((n) => !knownIn(site.propagated, n)))
  for (const [index, step] of steps) {
    let fromValues: ReadonlySet<string> | undefined
    for (const text of substitutedTexts(step)) {
      if (!text.includes('$(params')) continue
      for (const ref of scanReferences(text, 'params')) {
        const key = ref.form === 'dot' ? `params.${ref.name}` : ref.form === 'double' ? `params["${ref.name}"]` : `params['${ref.name}']`
        let filled = table.strings.has(key) || table.objects.has(key) || table.arrays.has(trimArrayIndex(key))
        if (!filled && later.has(nameOf(ref))) {
          fromValues ??= new Set(stringsOf(paramsOf(written.get(index)?.params).map((p) => p.value)).flatMap((t) => scanReferences(t, 'params').map(nameOf)))
          filled = !fromValues.has(nameOf(ref))
        }
        if (filled) {
          return `step ${JSON.stringify(typeof step.name === 'string' ? step.name : '')}: the definition leaves $(${key}) as written, which the pipeline pass would fill once spliced`
        }
      }
    }
  }
  return undefined
}

/**
 * The task params whose default the steps see (TaskSite.defaultsUsed) and
 * that holds a reference. Tekton fills a task's defaults in only in the
 * TaskRun it creates, after its pipeline pass: a `$(context.pipelineRun.…)`,
 * `$(tasks.…)`, `$(workspaces.…)` or `$(params.…)` written there stays as
 * written, or is filled as a TaskRun fills it. Spliced at the PipelineRun's
 * admission, it would be in the step's fields for the pipeline pass to fill.
 */
function referencingDefaults(site: TaskSite): ReadonlySet<string> {
  const used = new Set(site.defaultsUsed ?? [])
  const out = new Set<string>()
  if (used.size === 0) return out
  for (const p of site.declared) if (used.has(p.name) && stringsOf(p.default).some((text) => text.includes('$('))) out.add(p.name)
  return out
}

/**
 * Why a definition cannot be spliced before Tekton's pipeline pass: its own
 * text (fields, param defaults) holds a reference that pass would fill in
 * once spliced, where natively, the definition being resolved after that
 * pass, it is left as written: `$(context.pipelineRun.…)`, `$(tasks.…)`, or
 * a pipeline param that is not one of the definition's own params. What the
 * step's params bring needs no such check: the pass would have replaced it
 * in the params, with the same values.
 */
export function deferForDefinition(spec: StepActionSpec, site: TaskSite): string | undefined {
  const own = new Set((spec.params ?? []).map((p) => p.name))
  let used: Set<string> | undefined
  const usedByTask = (): Set<string> => {
    used ??= workspacesUsedBy(site)
    return used
  }
  for (const [field, value] of Object.entries(spec)) {
    // Descriptions are never spliced; of the params, only their defaults are.
    if (field === 'description') continue
    const read =
      field === 'params'
        ? (spec.params ?? []).map((p) => p.default)
        : field === 'results'
          ? (spec.results ?? []).map(({ description: _, ...result }) => result)
          : value
    for (const text of stringsOf(read)) {
      const late = pipelineLevelReference(text)
      if (late !== undefined) return `the definition's ${field} uses $(${late}), which Tekton fills in only before the definition is resolved`
      const workspace = workspaceReference(text, site, usedByTask)
      if (workspace !== undefined)
        return `the definition's ${field} uses $(${workspace}), a workspace Tekton's pipeline pass would bind or fill otherwise once spliced`
      const param = replacedByPipelinePass(text, site, own)
      if (param !== undefined) return `the definition's ${field} uses $(params.${param}), a pipeline param Tekton would fill in only once spliced`
    }
  }
  return undefined
}

/**
 * A `$(params…)` reference in `text` that Tekton's pipeline pass replaces in
 * this task spec: one naming a pipeline param propagated here whose value at
 * admission has that key or index, or whose value is known only later. A
 * reference it has no value for stays as written either way.
 */
function replacedByPipelinePass(text: string, site: TaskSite, own: ReadonlySet<string>): string | undefined {
  const names = site.pipelineParams
  if (names === undefined || names.size === 0 || !text.includes('$(params')) return undefined
  const table = site.propagated
  for (const ref of scanReferences(text, 'params')) {
    const name = nameOf(ref)
    if (own.has(name) || !names.has(name)) continue
    if (!knownIn(site.propagated, name)) return name
    const key = `params.${ref.name}`
    if (table.strings.has(key) || table.objects.has(key) || table.arrays.has(`params.${trimArrayIndex(ref.name)}`)) return name
  }
  return undefined
}

/**
 * Why a step that gives one of the definition's array or object params a
 * task param known only at run time (a task result reaching the task) cannot
 * be spliced before its TaskRun: the definition reads an element of the
 * array by index, or a key of the object the task param neither declares nor
 * defaults. Tekton merges the run-time value over the StepAction's default
 * element by element or key by key, so whether it comes from the result,
 * from the default, or from neither is known only then.
 */
export function deferForRuntimeObject(step: Step, spec: StepActionSpec, site: TaskSite): string | undefined {
  if (site.runtimeParams.length === 0) return undefined
  // Only a whole reference can be a run-time value (steps/params.ts#deferredTarget): one table value, never text built up.
  const given = paramsOf(step.params).filter((p) => typeof p.value === 'string' && isWholeReference(p.value))
  if (given.length === 0) return undefined
  const objects = new Map((spec.params ?? []).filter((s) => s.type === 'object').map((s) => [s.name, s]))
  const arrays = new Map((spec.params ?? []).filter((s) => s.type === 'array').map((s) => [s.name, s]))
  const layers = [site.propagated, site.task]
  // The definition's object params given a run-time value, and the task param each is given.
  const targets = new Map<string, string>()
  for (const p of given) {
    const array = arrays.get(p.name)
    if (array !== undefined) {
      // How many elements a run-time array has is known only then: an element the definition reads may be the
      // value's, the default's (Tekton keeps the default's element keys under a shorter value) or none.
      const target = deferredTarget(applyLayers(parseParamValue(p.value), layers), array, site.declared, site.runtimeParams)
      const element = target === undefined ? undefined : elementRead(spec, p.name)
      if (element !== undefined) {
        return `array param ${JSON.stringify(p.name)} gets $(params.${target}[*]) only at run time, and the definition reads its element ${element}`
      }
      continue
    }
    const own = objects.get(p.name)
    const target = own === undefined ? undefined : deferredTarget(applyLayers(parseParamValue(p.value), layers), own, site.declared, site.runtimeParams)
    if (target !== undefined) targets.set(p.name, target)
  }
  if (targets.size === 0) return undefined
  const sure = new Map<string, Set<string>>()
  for (const { param, key } of keysRead(spec, targets)) {
    const target = targets.get(param) as string
    let keys = sure.get(target)
    if (keys === undefined) {
      keys = runtimeObjectKeys(site.declared, target)
      sure.set(target, keys)
    }
    // Short: a warning is cut at 256 characters, and the pipeline task's path and the reason for waiting come first.
    if (!keys.has(key)) {
      return `object param ${JSON.stringify(param)} gets $(params.${target}) only at run time, and the definition reads key ${JSON.stringify(key)}, which task param ${JSON.stringify(target)} does not declare`
    }
  }
  return undefined
}

/** The first element of array param `name` the definition's fields read by index (`[2]`), in any spelling. */
function elementRead(spec: StepActionSpec, name: string): string | undefined {
  for (const [field, value] of Object.entries(spec)) {
    if (field === 'params') continue
    for (const text of stringsOf(value)) {
      for (const base of paramKeys(name)) {
        const use = scanIndexed(text, base).find((u) => u.digits !== '')
        if (use !== undefined) return `[${use.digits}]`
      }
    }
  }
  return undefined
}

/**
 * Every `$(params.name.key)` the definition's fields read of a param in
 * `names`, in order. A name may hold dots itself, so each dot of a
 * reference is tried as the end of the name: linear in the text.
 */
function keysRead(spec: StepActionSpec, names: ReadonlyMap<string, unknown>): { param: string; key: string }[] {
  const out: { param: string; key: string }[] = []
  for (const [field, value] of Object.entries(spec)) {
    if (field === 'params') continue
    for (const text of stringsOf(value)) {
      for (const ref of scanReferences(text, 'params')) {
        if (ref.form !== 'dot') continue
        for (let dot = ref.name.indexOf('.'); dot > 0; dot = ref.name.indexOf('.', dot + 1)) {
          if (names.has(ref.name.slice(0, dot))) out.push({ param: ref.name.slice(0, dot), key: ref.name.slice(dot + 1) })
        }
      }
    }
  }
  return out
}
