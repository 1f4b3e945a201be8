// Who may do what: bearer tokens naming users, RBAC-like denials (403) and
// failures a test injects (any code), each for a resource and some verbs.

import { randomBytes } from 'node:crypto'
import { forbidden, injected, type Status } from './status.ts'

export type Verb = 'get' | 'list' | 'watch'

export interface ResourceRule {
  group: string
  /** The plural, as RBAC names resources. */
  resource: string
  /** Every verb when absent. */
  verbs?: Verb[]
}

export interface Denial extends ResourceRule {
  /** Every user when absent. */
  user?: string
}

export interface Fault extends ResourceRule {
  code: number
  /** How many requests fail before the fault lifts by itself; until lifted when absent. */
  times?: number
}

export interface ResourceAttempt {
  user: string
  verb: Verb
  group: string
  plural: string
  namespace: string | undefined
}

const covers = (rule: ResourceRule, a: ResourceAttempt): boolean =>
  rule.group === a.group && rule.resource === a.plural && (rule.verbs === undefined || rule.verbs.includes(a.verb))

export class Access {
  private readonly users = new Map<string, string>()
  private readonly denials = new Set<Denial>()
  private readonly faults = new Map<Fault, { left: number }>()

  /** Issues a bearer token for `user`. */
  issue(user: string): string {
    const token = randomBytes(24).toString('base64url')
    this.users.set(token, user)
    return token
  }

  /** The user an Authorization header authenticates, or undefined (a 401). */
  authenticate(header: string | undefined): string | undefined {
    const m = /^Bearer (\S+)$/i.exec(header ?? '')
    return m ? this.users.get(m[1] ?? '') : undefined
  }

  deny(rule: Denial): () => void {
    const own = { ...rule }
    this.denials.add(own)
    return () => void this.denials.delete(own)
  }

  inject(fault: Fault): () => void {
    const own = { ...fault }
    this.faults.set(own, { left: fault.times ?? Number.POSITIVE_INFINITY })
    return () => void this.faults.delete(own)
  }

  /** The 403 for a denied attempt; the real server authorizes before it looks for the resource. */
  denial(a: ResourceAttempt): Status | undefined {
    for (const d of this.denials) if (covers(d, a) && (d.user === undefined || d.user === a.user)) return forbidden(a)
    return undefined
  }

  /** The Status of an injected failure covering the attempt, counting it down. */
  fault(a: ResourceAttempt): Status | undefined {
    for (const [fault, count] of this.faults) {
      if (!covers(fault, a)) continue
      if (--count.left <= 0) this.faults.delete(fault)
      return fault.code === 403 ? forbidden(a) : injected(fault.code, a.group, a.plural)
    }
    return undefined
  }
}
