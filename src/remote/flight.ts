// One fetch that any number of requests wait on. A request that arrives
// while the fetch runs waits on the same one instead of starting another, and
// stops waiting at its own deadline without stopping the others. When the
// last waiter has gone, the fetch is aborted: nobody needs its answer, and a
// slow remote must not hold a fetch slot for no one.

import { FetchFailure } from './failure.ts'

export interface WaitOptions {
  signal?: AbortSignal
  /** Epoch ms at which this waiter gives up with a `timeout` failure. */
  until?: number
  /** Says who gave up, in the failure's message. */
  what: string
}

export class Flight<V> {
  readonly #controller = new AbortController()
  readonly #done: Promise<{ value: V } | { error: unknown }>
  #waiters = 0
  #settled = false

  /** Starts `work` at once; it should stop when its signal aborts. */
  constructor(work: (signal: AbortSignal) => Promise<V>) {
    this.#done = work(this.#controller.signal).then(
      (value) => {
        this.#settled = true
        return { value }
      },
      (error: unknown) => {
        this.#settled = true
        return { error }
      },
    )
  }

  /** Settled, with a value or a failure. */
  get settled(): boolean {
    return this.#settled
  }

  /** The work's own signal: aborted once nobody waits. */
  get signal(): AbortSignal {
    return this.#controller.signal
  }

  wait(options: WaitOptions): Promise<V> {
    this.#waiters++
    return new Promise<V>((resolve, reject) => {
      let left = false
      const leave = (failure: FetchFailure | undefined, outcome?: { value: V } | { error: unknown }): void => {
        if (left) return
        left = true
        clearTimeout(timer)
        options.signal?.removeEventListener('abort', onAbort)
        this.#waiters--
        if (this.#waiters === 0 && !this.#settled) this.#controller.abort(new FetchFailure('aborted', 'nobody waits for it any more'))
        if (failure !== undefined) reject(failure)
        else if (outcome !== undefined && 'value' in outcome) resolve(outcome.value)
        else reject(outcome?.error)
      }
      const onAbort = (): void => leave(new FetchFailure('aborted', `stopped waiting for ${options.what}`))
      const remaining = options.until === undefined ? undefined : options.until - Date.now()
      const timer =
        remaining === undefined
          ? undefined
          : setTimeout(() => leave(new FetchFailure('timeout', `${options.what} did not answer in time`)), Math.max(0, remaining))
      if (options.signal?.aborted) return onAbort()
      options.signal?.addEventListener('abort', onAbort, { once: true })
      void this.#done.then((outcome) => leave(undefined, outcome))
    })
  }
}
