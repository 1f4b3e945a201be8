// The fetches running now, by what they fetch: a second request for the same
// thing waits on the first one's fetch, and every fetch takes a slot of the
// limiter, so how many run at once does not depend on what requests ask. A
// request stops waiting at its deadline; a fetch waiting for a slot then
// leaves the line, and one under way finishes for the requests after it.

import { Flight, type WaitOptions } from './flight.ts'
import type { Limiter } from './limiter.ts'

/** The signal of a fetch that has started: never aborted by waiters leaving. */
const background = new AbortController().signal

export class SharedFetches<V> {
  readonly #running = new Map<string, Flight<V>>()
  readonly #limiter: Limiter

  constructor(limiter: Limiter) {
    this.#limiter = limiter
  }

  /** Waits for the fetch of `key`, starting `work` when none runs. */
  wait(key: string, work: (signal: AbortSignal) => Promise<V>, options: WaitOptions): Promise<V> {
    let flight = this.#running.get(key)
    // One nobody waited for any more is abandoned: a new request starts afresh rather than inherit its fate.
    if (flight === undefined || flight.settled || flight.signal.aborted) {
      const started: Flight<V> = new Flight<V>((signal) =>
        this.#limiter
          // Waiting for a slot ends when nobody waits; a fetch under way runs on (bounded by its own timeout), so the
          // next request finds it cached: a remote slower than one deadline still resolves, once.
          .run(() => work(background), signal)
          .finally(() => {
            if (this.#running.get(key) === started) this.#running.delete(key)
          }),
      )
      flight = started
      this.#running.set(key, flight)
    }
    return flight.wait(options)
  }

  /** Fetches running or waiting for a slot. */
  get size(): number {
    return this.#running.size
  }
}
