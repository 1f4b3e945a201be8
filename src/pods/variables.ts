// After params are applied, a Pod step must hold no Tekton variable: there is
// no Tekton to fill it in later. Result paths become files on a shared
// emptyDir; everything else that needs Tekton is an error that says so.
// Other `$(NAME)` text is left alone: in command, args and env values it is
// Kubernetes' own env-var expansion.

import { quoteValue } from '../problems/truncate.ts'

export const resultsRoot = '/stepsplice/results'

export function resultPath(step: string, result: string): string {
  return `${resultsRoot}/${step}/${result}`
}

export interface VariableContext {
  /** The step being written; undefined for the Pod's own containers. */
  step?: string
  /** Results the step's definition declares. */
  declaredResults: ReadonlySet<string>
  /** Steps that run before this one, with the results each declares. */
  earlier: ReadonlyMap<string, ReadonlySet<string>>
  /** Earlier steps that could not be built (their own problems are reported): their results are not judged. */
  unknown?: ReadonlySet<string>
}

/** A variable that cannot be written as asked: the variable as written, and why. */
export interface VariableError {
  variable: string
  message: string
}

export type Rewrite = { text: string; errors: VariableError[] }

const reference = /\$\(([^()]*)\)/g
const ownResult = /^(?:step\.)?results(?:\.([^.[\]]+)|\["([^"]+)"\]|\['([^']+)'\])\.path$/
const otherResult = /^steps\.([^.]+)\.results\.([^.[\]]+)\.path$/
const resultValue = /^steps\.([^.]+)\.results\.([^.[\]]+)/
const tektonOnly = /^(workspaces|context|tasks|finally)\./
const unresolvedParam = /^(inputs\.)?params[.[]/

export function rewriteVariables(text: string, ctx: VariableContext): Rewrite {
  const errors: VariableError[] = []
  const fail = (variable: string, message: string): void => void errors.push({ variable, message })
  const out = text.replace(reference, (whole, inner: string) => {
    const own = ownResult.exec(inner)
    if (own && ctx.step !== undefined) {
      const name = own[1] ?? own[2] ?? own[3] ?? ''
      if (!ctx.declaredResults.has(name)) {
        fail(whole, `${whole} names result ${quoteValue(name)}, which the StepAction does not declare`)
        return whole
      }
      return resultPath(ctx.step, name)
    }
    const other = otherResult.exec(inner)
    if (other) {
      const [, step = '', result = ''] = other
      // Checked first: an earlier step of the same name (a duplicate) is not the one that failed.
      if (ctx.step !== undefined && ctx.unknown?.has(step) === true) return whole
      const results = ctx.earlier.get(step)
      if (results === undefined) {
        if (ctx.step === undefined) return whole
        fail(whole, `${whole}: step ${quoteValue(step)} is not an earlier step of this Pod`)
        return whole
      }
      if (!results.has(result)) {
        fail(whole, `${whole}: step ${quoteValue(step)} declares no result ${quoteValue(result)}`)
        return whole
      }
      return resultPath(step, result)
    }
    const value = resultValue.exec(inner)
    // In the Pod's own containers only our steps' results are ours (other dotted
    // `$(…)` may be an env var); a value read there would stay literal text.
    if (value && (ctx.step !== undefined || ctx.earlier.has(value[1] ?? ''))) {
      fail(whole, `${whole} needs Tekton's entrypoint to read the value; read the file at $(steps.${value[1]}.results.${value[2]}.path) instead`)
      return whole
    }
    if (ctx.step === undefined) return whole
    if (tektonOnly.test(inner)) fail(whole, `${whole} is a Tekton variable and has no value in a Pod`)
    else if (unresolvedParam.test(inner)) fail(whole, `${whole} has no value: the StepAction declares no such param or key, so nothing can fill it in`)
    return whole
  })
  return { text: out, errors }
}
