// How fetching can fail, as a value the resolvers sort into "left for Tekton"
// and "the author's mistake". Nothing here knows Tekton: a status code, a
// timeout, a body too large, a scheme refused.

export type FailureKind =
  /** No connection, TLS failure, reset: the remote may answer Tekton later. */
  | 'unreachable'
  /** The fetch took longer than it was given. */
  | 'timeout'
  /** The caller stopped waiting (its deadline passed, or nobody needs the answer any more). */
  | 'aborted'
  /** An answer other than success (the status is in `status`). */
  | 'status'
  /** More bytes than the cap. */
  | 'too-large'
  /** A URL stepsplice does not fetch: a scheme or host it was not allowed. */
  | 'refused'
  /** The remote answered with something that is not what the protocol promises. */
  | 'protocol'

export class FetchFailure extends Error {
  readonly kind: FailureKind
  readonly status: number | undefined

  constructor(kind: FailureKind, message: string, status?: number) {
    super(message)
    this.name = 'FetchFailure'
    this.kind = kind
    this.status = status
  }
}

/** Any thrown value as a FetchFailure: an unknown error is treated as the remote being unreachable. */
export function asFailure(err: unknown): FetchFailure {
  if (err instanceof FetchFailure) return err
  const message = err instanceof Error ? err.message : String(err)
  return new FetchFailure('unreachable', message)
}
