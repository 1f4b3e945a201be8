// How long a request waits for a remote, and what not getting an answer
// means. A request gives up a little before its deadline, so it can still be
// answered with the step left for Tekton rather than time out as a whole.

import { BoundedCache } from '../remote/cache.ts'
import { asFailure, type FailureKind } from '../remote/failure.ts'
import type { SharedFetches } from '../remote/shared.ts'

export interface AskOptions {
  /** Aborted when the request's deadline passes or it no longer needs the answer. */
  signal?: AbortSignal
  /** When the request must be answered (epoch ms). */
  deadline?: number
}

/** The time left after the reserve: a tenth of what remains, at least 100 ms, at most a second. */
export function giveUpAt(options: AskOptions, now: number = Date.now()): number | undefined {
  if (options.deadline === undefined) return undefined
  const remaining = options.deadline - now
  const reserve = Math.min(1000, Math.max(100, remaining / 10))
  return options.deadline - reserve
}

/** What a failure to fetch leaves for the step: never a denial, since Tekton may fetch it later. */
export function notFetched(resolver: string, err: unknown): { unresolved: string; resolver: string } {
  const failure = asFailure(err)
  return { unresolved: failureText(failure.kind, failure.message), resolver }
}

function failureText(kind: FailureKind, message: string): string {
  switch (kind) {
    case 'timeout':
    case 'aborted':
      return `not fetched in time: ${message}`
    default:
      return message
  }
}

/** Waits for the fetch under `key` (starting it, or joining one already running) until the request gives up. */
export function fetchShared<T>(
  fetches: SharedFetches<T>,
  key: string,
  run: (signal: AbortSignal, abandoned: AbortSignal) => Promise<T>,
  options: AskOptions,
  what: string,
): Promise<T> {
  const until = giveUpAt(options)
  return fetches.wait(key, run, {
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(until === undefined ? {} : { until }),
    what,
  })
}

/**
 * What fetches brought after every request waiting for them had given up (a
 * remote slower than their deadline), kept for the next request for the same
 * key, which reads it as it would have, once. Small: each waits only for
 * that request.
 */
export function unclaimedCache<T>(): BoundedCache<T> {
  return new BoundedCache<T>({ maxBytes: 8 * 1024 * 1024, maxEntries: 64 })
}

/** fetchShared, through `unclaimed`: taken from it when a fetch nobody waited for left it there, put there when that happens. */
export async function fetchKeepingUnclaimed<T>(
  fetches: SharedFetches<T>,
  unclaimed: BoundedCache<T>,
  key: string,
  run: (signal: AbortSignal) => Promise<T>,
  keep: { bytes: (value: T) => number; ttlMs: number },
  options: AskOptions,
  what: string,
): Promise<T> {
  const left = unclaimed.take(key)
  if (left !== undefined) return left
  return fetchShared(
    fetches,
    key,
    async (signal, abandoned) => {
      const value = await run(signal)
      // Whoever waits takes it; if nobody does any more, the next request for the key will.
      if (abandoned.aborted) unclaimed.set(key, value, keep.bytes(value), keep.ttlMs)
      return value
    },
    options,
    what,
  )
}
