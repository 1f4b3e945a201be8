// A PipelineRun's param values as Tekton's pipeline-level pass computes them
// before it creates TaskRuns: run values, defaults resolved against them, and
// the params whose value is known only at run time set aside.

import { defaultParamSpec } from '../definitions/defaults.ts'
import { asList, isJsonObject as isObject } from '../json/values.ts'
import type { Budget } from '../limits/budget.ts'
import type { Param, ParamSpec, PipelineRun } from '../types/tekton.ts'
import { parseParamValue, stringPart } from '../variables/param-value.ts'
import { scanPlainReferences } from '../variables/scan.ts'
import { addParamValue, applyString, forgetParams, paramKeys, type Replacements, replacementsFromParams } from '../variables/replacements.ts'

/** The entries of a params list that have a name; the rest are Tekton's to reject. */
export function paramsOf(v: unknown): Param[] {
  return asList<Param>(v).filter((p) => isObject(p) && typeof p.name === 'string')
}

/** A value still holding `$(…)` after pipeline params are applied is decided at run time. */
export const holdsReference = (v: unknown): boolean => v !== undefined && JSON.stringify(v).includes('$(')

const maxReferenceDepth = 10

/**
 * PipelineRun values and pipeline defaults, as Tekton's pipeline-level
 * ApplyParameters resolves them: run values as given; string defaults of
 * params the run does not set resolved recursively against run values and
 * each other (a default may name a run value); then array and object defaults,
 * their strings substituted. A default the run overrides is not used at all,
 * objects included (no key-by-key merge at this level). A default that names
 * an undefined param, or a cycle, fails the PipelineRun in Tekton: such params
 * get no value here, so their references stay for Tekton to report.
 */
function resolvePipelineParams(declared: readonly ParamSpec[], run: readonly Param[], budget: Budget): Replacements {
  const table = replacementsFromParams(
    run.map((p) => ({ name: p.name, value: parseParamValue(p.value) })),
    budget,
  )
  const given = new Set(run.map((p) => p.name))
  const unset = declared.filter((p) => p.default !== undefined && !given.has(p.name))
  const stringDefaults = new Map<string, string>()
  for (const p of unset.filter((q) => q.type === 'string')) for (const key of paramKeys(p.name)) stringDefaults.set(key, stringPart(parseParamValue(p.default)))
  const failed = new Set<string>()
  const resolve = (key: string, visiting: Set<string>): boolean => {
    if (table.strings.has(key)) return true
    const text = stringDefaults.get(key)
    if (text === undefined || failed.has(key) || visiting.has(key) || visiting.size > maxReferenceDepth) return false
    visiting.add(key)
    // Tekton's pipeline-level resolution recognises only the plain dot forms: `$(params["x"])` is not one.
    const refs = scanPlainReferences(text).filter((r) => r.startsWith('params.'))
    const ok = refs.every((r) => resolve(r, visiting))
    visiting.delete(key)
    if (!ok) {
      failed.add(key)
      return false
    }
    table.strings.set(key, applyString(text, table.strings, budget))
    return true
  }
  for (const key of stringDefaults.keys()) resolve(key, new Set())
  for (const p of unset.filter((q) => q.type === 'array' || q.type === 'object')) {
    const value = parseParamValue(p.default)
    if (value.type === 'array') addParamValue(table, p.name, { type: 'array', array: value.array.map((v) => applyString(v, table.strings, budget)) }, budget)
    if (value.type === 'object') {
      const object = Object.fromEntries(Object.entries(value.object).map(([k, v]) => [k, applyString(v, table.strings, budget)]))
      addParamValue(table, p.name, { type: 'object', object }, budget)
    }
  }
  return table
}

/** The pipeline's param values, without the params whose value is decided at run time. */
export function pipelineTable(pr: PipelineRun, budget: Budget): Replacements {
  const pipelineSpec = pr.spec?.pipelineSpec
  const declared = paramsOf(pipelineSpec?.params).map(defaultParamSpec)
  const table = resolvePipelineParams(declared, paramsOf(pr.spec?.params), budget)
  const decidedLater: string[] = []
  for (const name of new Set([...declared.map((p) => p.name), ...paramsOf(pr.spec?.params).map((p) => p.name)])) {
    const value = table.strings.get(`params.${name}`) ?? table.arrays.get(`params.${name}`) ?? table.objects.get(`params.${name}`)
    if (holdsReference(value)) decidedLater.push(name)
  }
  forgetParams(table, decidedLater)
  return table
}
