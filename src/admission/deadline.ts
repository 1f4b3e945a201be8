// A request must be answered before the API server gives up on us (the
// webhook's timeoutSeconds). Past our own deadline we answer with a decision
// instead of letting the call time out into the failurePolicy.

export type Deadlined<T> = { value: T } | { timedOut: true }

export async function withDeadline<T>(ms: number, work: (signal: AbortSignal) => Promise<T>): Promise<Deadlined<T>> {
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<{ timedOut: true }>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error(`deadline of ${ms} ms exceeded`))
      resolve({ timedOut: true })
    }, ms)
  })
  try {
    return await Promise.race([work(controller.signal).then((value) => ({ value })), expired])
  } finally {
    clearTimeout(timer)
  }
}
