// What stepsplice says back is bounded like what it reads: a denial lists at
// most `limits.problems` problems of at most `limits.problemChars` each and
// counts the rest, and warnings are capped in number and length, so a small
// input can never make a large answer (a step name repeated through YAML
// aliases once turned 1.5 MB in into 154 MB of denial).

import { formatProblem, type Problem } from '../problems/problem.ts'
import { truncateText } from '../problems/truncate.ts'
import { limits } from './limits.ts'

/** One line per problem, `label: ` first, bounded; the last line counts those left out. */
export function problemLines(problems: readonly Problem[], label: string): string[] {
  const shown = problems.slice(0, limits.problems).map((p) => truncateText(`${label}: ${formatProblem(p)}`, limits.problemChars))
  const more = problems.length - shown.length
  return more > 0 ? [...shown, `${label}: and ${more} more problems`] : shown
}

/** Warnings as the API server takes them: at most `limits.warnings`, each at most `limits.warningChars`. */
/** Cut so that the text and the mark saying how long it was fit the length together. */
function fitWarning(w: string): string {
  if (w.length <= limits.warningChars) return w
  return truncateText(w, limits.warningChars - `…(${w.length} chars)`.length)
}

export function boundWarnings(warnings: readonly string[]): string[] {
  const shown = warnings.slice(0, limits.warnings).map(fitWarning)
  const more = warnings.length - shown.length
  if (more > 0) shown[shown.length - 1] = `${more + 1} more warnings`
  return shown
}
