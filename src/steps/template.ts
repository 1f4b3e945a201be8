// A task's stepTemplate merged into its steps, as Tekton merges them
// (MergeStepsWithStepTemplate, pkg/apis/pipeline/v1/merge.go): the template
// and the step are read as Kubernetes Containers and the step is laid over
// the template with a three-way strategic merge from an empty container.
// What that means, field by field:
//
// - A field the step leaves empty keeps the template's. Empty is what Go's
//   JSON encoding leaves out: for the container's own fields "", false, an
//   empty list or map; inside a securityContext, which holds pointers, only
//   an absent (or null) value; so `privileged: false` there overrides.
// - Scalars and lists without a merge key (command, args, envFrom, a
//   capability list) are replaced by the step's.
// - env (by name), volumeMounts (by mountPath) and volumeDevices (by
//   devicePath) merge item by item: the step's items in its order, each laid
//   over the template's item of its key, and the template's other items
//   slotted in where the template had them relative to those keys
//   (Tekton's own test: template [KEEP, SOME], step [NEW, SOME] gives
//   [NEW, KEEP, SOME]). An env var left with both a value and a valueFrom
//   is the step's as written (amendConflictingContainerFields).
// - Maps (computeResources and its limits and requests, securityContext and
//   what it holds) merge key by key, the step's winning.
// - A step that sets `args: []` keeps the template's args: the empty list is
//   left out like any empty field.
// - What is not a container field (script, timeout, onError, results, params,
//   ref, workspaces, stdoutConfig, stderrConfig, when, and anything unknown)
//   is the step's own; a template has none of them.

import { isJsonObject } from '../json/values.ts'

/** Step fields that are Container fields, and how the strategic merge treats each. */
const containerFields: Record<string, 'scalar' | 'list' | 'map' | { key: string }> = {
  image: 'scalar',
  command: 'list',
  args: 'list',
  workingDir: 'scalar',
  imagePullPolicy: 'scalar',
  envFrom: 'list',
  env: { key: 'name' },
  volumeMounts: { key: 'mountPath' },
  volumeDevices: { key: 'devicePath' },
  computeResources: 'map',
  securityContext: 'map',
}

/** Empty as Go's `omitempty` reads a container's own fields. */
function emptyField(v: unknown): boolean {
  return v === undefined || v === null || v === '' || v === false || (Array.isArray(v) && v.length === 0) || (isJsonObject(v) && Object.keys(v).length === 0)
}

/**
 * Maps merged key by key, the step's value winning unless absent; lists and
 * scalars replaced. `absent` says which values the step does not give: null
 * for what Kubernetes holds as pointers (a securityContext's fields), and ""
 * and false too for an env var's or mount's own strings and booleans.
 */
function mergeMaps(template: Record<string, unknown>, step: Record<string, unknown>, absent: (v: unknown) => boolean = isNull): Record<string, unknown> {
  // The step's keys keep their places and the template's others follow, as a JSON patch from the step would put them:
  // an inline step merged in place reads the same rendered and admitted.
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(step)) {
    const t = template[k]
    if (absent(v)) {
      if (k in template) out[k] = t
      continue
    }
    out[k] = isJsonObject(t) && isJsonObject(v) ? mergeMaps(t, v) : v
  }
  for (const [k, t] of Object.entries(template)) if (!(k in out)) out[k] = t
  return out
}

const isNull = (v: unknown): boolean => v === undefined || v === null
const isOmitted = (v: unknown): boolean => isNull(v) || v === '' || v === false

/**
 * Lists merged by `key`, in the order the strategic merge gives them: the
 * step's items (each laid over the template's item of its key) in the step's
 * order, with the template's own items slotted back in: one goes before the
 * next step item whenever the template had it before that item's key.
 */
function mergeByKey(template: readonly unknown[], step: readonly unknown[], key: string): unknown[] {
  const keyOf = (item: unknown): unknown => (isJsonObject(item) ? item[key] : undefined)
  const templatePosition = new Map<unknown, number>()
  for (const [i, item] of template.entries()) if (!templatePosition.has(keyOf(item))) templatePosition.set(keyOf(item), i)
  const stepKeys = new Set(step.map(keyOf))
  const laid = step.map((item) => {
    const at = templatePosition.get(keyOf(item))
    const under = at === undefined ? undefined : template[at]
    return isJsonObject(under) && isJsonObject(item) ? mergeMaps(under, item, isOmitted) : item
  })
  const templateOnly = template.filter((item) => !stepKeys.has(keyOf(item)))
  const out: unknown[] = []
  let i = 0
  let j = 0
  while (i < templateOnly.length || j < laid.length) {
    if (j >= laid.length) out.push(templateOnly[i++])
    else if (i >= templateOnly.length) out.push(laid[j++])
    else {
      const before = templatePosition.get(keyOf(templateOnly[i]))
      const next = templatePosition.get(keyOf(laid[j]))
      if (before !== undefined && next !== undefined && before < next) out.push(templateOnly[i++])
      else out.push(laid[j++])
    }
  }
  return out
}

/** An env var with both a value and a valueFrom after the merge is the step's own, when the step has one of that name. */
function amendEnv(merged: unknown[], stepEnv: readonly unknown[]): unknown[] {
  const byName = new Map<unknown, unknown>()
  for (const e of stepEnv) if (isJsonObject(e)) byName.set(e.name, e)
  return merged.map((e) =>
    isJsonObject(e) && e.valueFrom != null && typeof e.value === 'string' && e.value !== '' && byName.has(e.name) ? byName.get(e.name) : e,
  )
}

/**
 * `step` with `template` merged under it, as Tekton merges a stepTemplate.
 * The step's own fields keep their place; the template's fields the step
 * lacks follow them.
 */
export function withStepTemplate(step: Record<string, unknown>, template: Record<string, unknown> | undefined): Record<string, unknown> {
  if (template === undefined || Object.keys(template).length === 0) return step
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(step)) {
    const how = containerFields[k]
    const t = template[k]
    if (how === undefined || emptyField(t)) out[k] = v
    else if (emptyField(v)) out[k] = t
    else if (how === 'scalar' || how === 'list') out[k] = v
    else if (how === 'map') out[k] = isJsonObject(t) && isJsonObject(v) ? mergeMaps(t, v) : v
    else {
      const merged = Array.isArray(t) && Array.isArray(v) ? mergeByKey(t, v, how.key) : v
      out[k] = k === 'env' && Array.isArray(merged) && Array.isArray(v) ? amendEnv(merged, v) : merged
    }
  }
  for (const [k, t] of Object.entries(template)) {
    if (k in out || containerFields[k] === undefined || emptyField(t)) continue
    out[k] = t
  }
  return out
}
