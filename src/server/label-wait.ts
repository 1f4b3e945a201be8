// How long a namespace-label lookup may wait for a namespace the watch has
// not delivered yet: the API server admits nothing into a namespace that does
// not exist, so a miss is a watch a moment behind, worth a second's wait, but
// never one that takes the request past its deadline.

import type { ResolveOptions } from '../resolution/catalog.ts'

/** At most a second, and a quarter of a second short of the deadline. */
export function waitFor(options: ResolveOptions): number {
  const left = options.deadline === undefined ? 1000 : options.deadline - Date.now() - 250
  return Math.max(0, Math.min(1000, left))
}
