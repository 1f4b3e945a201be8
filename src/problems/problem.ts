// Problems are values, not exceptions: every stage returns all it found, so a
// user fixes a request in one round instead of one error per try.

import { quoteValue } from './truncate.ts'

export interface Problem {
  /** Field path inside the object the problem belongs to, e.g. `spec.taskSpec.steps[2].params`. */
  path: string
  message: string
  /** The step the problem concerns, when there is one (`""` for an unnamed step). */
  step?: string
  /** The step definition concerned: `namespace/name`, or a URL for remote definitions. */
  definition?: string
  /**
   * Set when the problem is one of stepsplice's own limits rather than a
   * mistake in the object: Tekton would still run a TaskRun that passes one,
   * so such a run is left for Tekton instead of denied.
   */
  limit?: string
}

export function problem(path: string, message: string, extra: Omit<Problem, 'path' | 'message'> = {}): Problem {
  return { path, message, ...extra }
}

/** One line per problem, the same text in `render`'s stderr and an admission denial. */
export function formatProblem(p: Problem): string {
  const context: string[] = []
  if (p.step !== undefined) context.push(`step ${quoteValue(p.step, 100)}`)
  if (p.definition !== undefined) context.push(`StepAction ${p.definition}`)
  const where = p.path === '' ? '' : `${p.path}: `
  return `${where}${p.message}${context.length > 0 ? ` (${context.join(', ')})` : ''}`
}
