// At most N fetches at once, whatever the requests ask for: a burst of
// TaskRuns naming a hundred repositories must not open a hundred
// connections. A fetch waiting for a slot that nobody needs any more leaves
// the line without ever starting.

import { FetchFailure } from './failure.ts'

export class Limiter {
  readonly #max: number
  #running = 0
  readonly #queue: { start: () => void; signal: AbortSignal | undefined }[] = []

  constructor(max: number) {
    this.#max = Math.max(1, max)
  }

  async run<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.#slot(signal)
    try {
      return await work()
    } finally {
      this.#running--
      this.#next()
    }
  }

  #slot(signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(new FetchFailure('aborted', 'nobody waits for it any more'))
    if (this.#running < this.#max) {
      this.#running++
      return Promise.resolve()
    }
    return new Promise<void>((resolve, reject) => {
      const entry = {
        signal,
        start: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        },
      }
      const onAbort = (): void => {
        const i = this.#queue.indexOf(entry)
        if (i >= 0) this.#queue.splice(i, 1)
        reject(new FetchFailure('aborted', 'nobody waits for it any more'))
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#queue.push(entry)
    })
  }

  #next(): void {
    const entry = this.#queue.shift()
    if (entry === undefined) return
    this.#running++
    entry.start()
  }
}
