// The fetches running now, by what they fetch: a second request for the same
// thing waits on the first one's fetch, and every fetch takes a slot of the
// limiter, so how many run at once does not depend on what requests ask. A
// request stops waiting at its deadline; a fetch waiting for a slot then
// leaves the line, and one under way finishes for the requests after it,
// which join it rather than start another.

import { Flight, type WaitOptions } from './flight.ts'
import type { Limiter } from './limiter.ts'

/** The signal of a fetch that has started: never aborted by waiters leaving. */
const background = new AbortController().signal

export class SharedFetches<V> {
  /** Each fetch, and whether its work has started (it may still wait for a slot). */
  readonly #running = new Map<string, { flight: Flight<V>; underWay: boolean }>()
  readonly #limiter: Limiter

  constructor(limiter: Limiter) {
    this.#limiter = limiter
  }

  /**
   * Waits for the fetch of `key`, starting `work` when none runs. `work` is given a signal that never aborts (what has
   * started runs on, within its own timeout) and one that aborts once nobody waits for its answer any more, for work
   * that wants to keep what it brings for later.
   */
  wait(key: string, work: (signal: AbortSignal, abandoned: AbortSignal) => Promise<V>, options: WaitOptions): Promise<V> {
    let running = this.#running.get(key)
    // One that nobody waited for any more is joined if its work has started, which runs on for whoever comes: a new
    // fetch of the same thing would take a second slot (a review's eight requests for one hanging URL took eight, and
    // starved every other fetch). One that left the line before its work started is gone: start afresh.
    if (running === undefined || running.flight.settled || (running.flight.signal.aborted && !running.underWay)) {
      const entry = { underWay: false } as { flight: Flight<V>; underWay: boolean }
      entry.flight = new Flight<V>((signal) =>
        this.#limiter
          // Waiting for a slot ends when nobody waits; a fetch under way runs on (bounded by its own timeout).
          .run(() => {
            entry.underWay = true
            return work(background, signal)
          }, signal)
          .finally(() => {
            if (this.#running.get(key) === entry) this.#running.delete(key)
          }),
      )
      running = entry
      this.#running.set(key, entry)
    }
    return running.flight.wait(options)
  }

  /** Fetches running or waiting for a slot. */
  get size(): number {
    return this.#running.size
  }
}
