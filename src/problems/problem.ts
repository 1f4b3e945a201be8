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
  /** The catalog file that definition was read from, when it came from one. */
  file?: string
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

/** A step as messages name it: `step "build"`, or for a step without a name (Tekton's `unnamed-<i>`) its path says which. */
export function stepLabel(name: string): string {
  return name === '' ? 'the unnamed step' : `step ${quoteValue(name, 100)}`
}

/** One line per problem, the same text in `render`'s stderr and an admission denial. */
export function formatProblem(p: Problem): string {
  const context: string[] = []
  if (p.step !== undefined) context.push(stepLabel(p.step))
  if (p.definition !== undefined) context.push(`StepAction ${p.definition}${p.file === undefined ? '' : ` from ${p.file}`}`)
  const where = p.path === '' ? '' : `${p.path}: `
  return `${where}${p.message}${context.length > 0 ? ` (${context.join(', ')})` : ''}`
}

/** Where a path stands in step order: the index of its pipeline task (finally after tasks), then of its step. */
function stepOrderKey(path: string): number[] {
  const key: number[] = []
  for (const m of path.matchAll(/(tasks|finally|steps|"\])\[(\d+)\]/g)) {
    key.push(m[1] === 'finally' ? 1 : 0, Number(m[2]))
  }
  return key
}

/** Problems in the order of the steps they concern; those of one step keep the order they were found in. */
export function inStepOrder(problems: readonly Problem[]): Problem[] {
  const keyed = problems.map((p, i) => ({ p, i, key: stepOrderKey(p.path) }))
  keyed.sort((a, b) => {
    for (let j = 0; j < Math.min(a.key.length, b.key.length); j++) {
      const d = (a.key[j] as number) - (b.key[j] as number)
      if (d !== 0) return d
    }
    return a.key.length - b.key.length || a.i - b.i
  })
  return keyed.map((k) => k.p)
}
