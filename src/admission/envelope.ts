// The envelope of an AdmissionReview read from its text without building
// what it carries: the request's uid, kinds, name, namespace and operation,
// for an answer at the deadline to a request whose body the server's thread
// must not parse (a large one that never reached a worker). The API server
// writes the request's fields in its Go struct's order, the object and the
// old object after them, so the envelope is read from the first bytes; the
// objects themselves are stepped over, never parsed, and the reading gives up
// past a bound whatever the text holds.

/** The request's members that carry the objects: stepped over, never built. */
const carried = new Set(['object', 'oldObject', 'options'])

/** What the answer needs: past these, nothing more is read. */
const needed = ['uid', 'kind', 'operation'] as const

class GiveUp extends Error {}

/** A cursor over JSON text that refuses to look past `limit`. */
class Cursor {
  readonly #text: string
  readonly #limit: number
  pos = 0

  constructor(text: string, limit: number) {
    this.#text = text
    this.#limit = Math.min(limit, text.length)
  }

  #at(i: number): number {
    if (i >= this.#limit) throw new GiveUp()
    return this.#text.charCodeAt(i)
  }

  peek(): number {
    this.ws()
    return this.#at(this.pos)
  }

  ws(): void {
    for (;;) {
      const c = this.#at(this.pos)
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return
      this.pos++
    }
  }

  expect(char: string): void {
    if (this.peek() !== char.charCodeAt(0)) throw new GiveUp()
    this.pos++
  }

  /** Past a string starting at `pos` (a `"`). */
  #skipString(): void {
    this.pos++
    for (;;) {
      const c = this.#at(this.pos++)
      if (c === 0x5c) this.pos++
      else if (c === 0x22) return
    }
  }

  /** Past one value, however nested: strings and brackets counted, nothing built. */
  skipValue(): void {
    const first = this.peek()
    if (first === 0x22) {
      this.#skipString()
      return
    }
    if (first !== 0x7b && first !== 0x5b) {
      // A number, true, false or null: up to the next delimiter.
      for (;;) {
        const c = this.#at(this.pos)
        if (c === 0x2c || c === 0x7d || c === 0x5d || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) return
        this.pos++
      }
    }
    let depth = 0
    for (;;) {
      const c = this.#at(this.pos)
      if (c === 0x22) {
        this.#skipString()
        continue
      }
      this.pos++
      if (c === 0x7b || c === 0x5b) depth++
      else if ((c === 0x7d || c === 0x5d) && --depth === 0) return
    }
  }

  /** One value, built: for the envelope's small members. */
  value(): unknown {
    this.ws()
    const start = this.pos
    this.skipValue()
    return JSON.parse(this.#text.slice(start, this.pos))
  }

  /** The members of the object starting at `pos`, each key yielded with the cursor at its value, which the caller reads or skips. */
  *members(): Generator<string> {
    this.expect('{')
    if (this.peek() === 0x7d) {
      this.pos++
      return
    }
    for (;;) {
      this.ws()
      const start = this.pos
      if (this.#at(start) !== 0x22) throw new GiveUp()
      this.#skipString()
      const key = JSON.parse(this.#text.slice(start, this.pos)) as string
      this.expect(':')
      yield key
      const next = this.peek()
      this.pos++
      if (next === 0x7d) return
      if (next !== 0x2c) throw new GiveUp()
    }
  }
}

/**
 * The review with its request's fields up to the objects, or undefined when
 * they are not within the first `limit` characters or the text is not JSON
 * there. What it returns is a review to decode (decode.ts) like any other.
 */
export function envelopeOf(text: string, limit: number): Record<string, unknown> | undefined {
  const cursor = new Cursor(text, limit)
  const review: Record<string, unknown> = {}
  try {
    for (const key of cursor.members()) {
      if (key !== 'request' || cursor.peek() !== 0x7b) {
        review[key] = cursor.value()
        continue
      }
      const request: Record<string, unknown> = {}
      review.request = request
      let complete = false
      for (const member of cursor.members()) {
        if (!carried.has(member)) {
          request[member] = cursor.value()
          continue
        }
        // The objects come after what the answer needs, as the API server writes a review: done.
        if (needed.every((n) => request[n] !== undefined)) {
          complete = true
          break
        }
        cursor.skipValue()
      }
      // Whatever follows the request (the review's kind, where a client wrote it last) is not read.
      if (complete) break
    }
  } catch (err) {
    if (err instanceof GiveUp || err instanceof SyntaxError) return undefined
    throw err
  }
  // The API server writes kind and apiVersion first; a review read only up to its objects is taken to be one.
  review.kind ??= 'AdmissionReview'
  review.apiVersion ??= 'admission.k8s.io/v1'
  return review
}
