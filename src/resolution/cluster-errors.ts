// What went wrong talking to the API server, said once, in words an operator
// can act on. The client reports failures in several shapes (an ApiException
// holding the Status text for a list, an Error with only the status line for
// a watch, fetch's TypeError with the socket error as its cause), and they
// reach the informer as they are.

import { ApiException } from '@kubernetes/client-node/dist/gen/apis/exception.js'

export type RequestVerb = 'list' | 'watch'

function causeChain(err: unknown): string {
  const parts: string[] = []
  let current: unknown = err
  for (let depth = 0; current !== undefined && current !== null && depth < 4; depth++) {
    const message = current instanceof Error ? current.message : String(current)
    if (message !== '' && !parts.includes(message)) parts.push(message)
    current = current instanceof Error ? current.cause : undefined
  }
  return parts.join(': ') || 'unknown error'
}

/** The message of the Status an ApiException carries as text, when it does. */
function statusMessage(body: unknown): string | undefined {
  if (typeof body !== 'string') return undefined
  try {
    const status: unknown = JSON.parse(body)
    const message = typeof status === 'object' && status !== null ? (status as { message?: unknown }).message : undefined
    return typeof message === 'string' && message !== '' ? message : undefined
  } catch {
    return undefined
  }
}

/** The HTTP status the API server answered with, when it answered. */
export function httpStatusOf(err: unknown): number | undefined {
  if (err instanceof ClusterRequestError) return err.httpStatus
  if (err instanceof ApiException) return err.code
  const status = (err as { statusCode?: unknown } | null)?.statusCode
  return typeof status === 'number' ? status : undefined
}

// A refused watch says only "Forbidden" or "Unauthorized": say what is missing.
const hints: Record<number, string> = {
  401: ' (the API server does not accept the credentials stepsplice was given)',
  403: ' (stepsplice needs get, list and watch on it in all namespaces)',
}

/** A list or watch that failed; `message` names the resource, the verb and the cause. */
export class ClusterRequestError extends Error {
  readonly httpStatus: number | undefined

  constructor(verb: RequestVerb, resource: string, cause: unknown) {
    const status = httpStatusOf(cause)
    let reason: string
    if (status === undefined) reason = causeChain(cause)
    else if (cause instanceof ApiException) reason = `HTTP ${status}${prefixed(': ', statusMessage(cause.body))}`
    else reason = `HTTP ${status}${prefixed(' ', cause instanceof Error ? cause.message : undefined)}`
    super(`cannot ${verb} ${resource}: ${reason}${hints[status ?? 0] ?? ''}`, { cause })
    this.name = 'ClusterRequestError'
    this.httpStatus = status
  }
}

function prefixed(separator: string, text: string | undefined): string {
  return text === undefined || text === '' ? '' : `${separator}${text}`
}
