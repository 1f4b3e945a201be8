// The fetches running now, by what they fetch: a second request for the same
// thing waits on the first one's fetch, and every fetch takes a slot of the
// limiter, so how many run at once does not depend on what requests ask.

import { Flight, type WaitOptions } from './flight.ts'
import type { Limiter } from './limiter.ts'

export class SharedFetches<V> {
  readonly #running = new Map<string, Flight<V>>()
  readonly #limiter: Limiter

  constructor(limiter: Limiter) {
    this.#limiter = limiter
  }

  /** Waits for the fetch of `key`, starting `work` when none runs. */
  wait(key: string, work: (signal: AbortSignal) => Promise<V>, options: WaitOptions): Promise<V> {
    let flight = this.#running.get(key)
    if (flight === undefined || flight.settled) {
      const started: Flight<V> = new Flight<V>((signal) =>
        this.#limiter
          .run(() => work(signal), signal)
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
