// A request's allowance of substituted text. Expansion is pure and deep:
// a value can grow at any of a dozen substitution sites, and a chain of
// defaults that reference each other doubles it per link. Threading a
// result value through every site to stop that would bury the semantics, so
// the budget throws LimitExceeded instead, and the one place that starts an
// expansion catches it and turns it into a problem value.

import { type LimitName, limits } from './limits.ts'

export class LimitExceeded extends Error {
  override name = 'LimitExceeded'
  readonly limit: LimitName

  constructor(limit: LimitName, detail: string) {
    super(detail)
    this.limit = limit
  }
}

/** What passing `total` characters of substitution throws: the one wording of limit substitutedBytes. */
export function overSubstitution(total: number): LimitExceeded {
  return new LimitExceeded('substitutedBytes', `substitution would produce more than ${total} characters (limit substitutedBytes)`)
}

export class Budget {
  /** For callers that expand trusted input (tests, benchmarks): counts nothing. */
  static readonly unlimited = new Budget(Number.POSITIVE_INFINITY)
  #left: number
  readonly #total: number

  constructor(total: number = limits.substitutedBytes) {
    this.#total = total
    this.#left = total
  }

  /** What was spent so far. */
  get spent(): number {
    return this.#total - this.#left
  }

  /** Records `chars` produced; throws once the total passes the limit. */
  spend(chars: number): void {
    if (this.#total === Number.POSITIVE_INFINITY) return
    this.#left -= chars
    if (this.#left < 0) throw overSubstitution(this.#total)
  }
}
