// What a catalog says when it holds nothing by a step's name: the name and
// namespace as Tekton says them, the nearest names it does hold ("did you
// mean git-clone?", problems/nearest.ts), and what else it knows that bears
// on it (files that do not parse and may define the name). One function, so
// every catalog and the layered one say it the same way.

import type { Resolution, TaskReference, TaskResolution } from '../definitions/reference.ts'
import { nearestNames } from '../problems/nearest.ts'
import { quoteValue, truncateText } from '../problems/truncate.ts'

function listed(names: readonly string[]): string {
  const shown = names.map((n) => truncateText(n, 80))
  return shown.length <= 1 ? (shown[0] ?? '') : `${shown.slice(0, -1).join(', ')} or ${shown.at(-1)}`
}

/**
 * The answer for a name a catalog does not hold. `names` are the names
 * visible in the namespace (undefined: too many to look through); `notes`
 * what else bears on it.
 */
export function notFound(name: string, namespace: string, names: readonly string[] | undefined, notes: readonly string[] = []): Resolution {
  let error = `stepactions.tekton.dev ${quoteValue(name)} not found in namespace ${quoteValue(namespace)}`
  const near = names === undefined ? [] : nearestNames(name, names)
  if (near.length > 0) error += `; did you mean ${listed(near)}?`
  for (const note of notes) error += `; ${note}`
  return notes.length === 0 ? { error, missing: true } : { error, missing: true, notes: [...notes] }
}

/** The answer for a Task or TaskGroup a catalog does not hold, named as the API names its resource. */
export function taskNotFound(ref: TaskReference, names?: readonly string[]): TaskResolution {
  const resource = ref.kind === 'TaskGroup' ? 'taskgroups.custom.tekton.dev' : 'tasks.tekton.dev'
  let error = `${resource} ${quoteValue(ref.name)} not found in namespace ${quoteValue(ref.namespace)}`
  const near = names === undefined ? [] : nearestNames(ref.name, names)
  if (near.length > 0) error += `; did you mean ${listed(near)}?`
  return { error, missing: true }
}
