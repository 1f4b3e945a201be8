// A bounded cache of fetched things: least recently used goes first, bounded
// by the bytes its entries hold and by their count, and an entry may expire
// (what a branch, a tag or a URL without a digest gave). What a commit, a
// digest or a pinned bundle gave never changes, so it never expires.

export interface CacheOptions {
  maxBytes: number
  maxEntries: number
  /** The clock, for tests; Date.now otherwise. */
  now?: () => number
}

interface Entry<V> {
  value: V
  bytes: number
  /** Epoch ms after which it is stale; undefined: never. */
  expires: number | undefined
}

export class BoundedCache<V> {
  readonly #entries = new Map<string, Entry<V>>()
  readonly #options: CacheOptions
  #bytes = 0

  constructor(options: CacheOptions) {
    this.#options = options
  }

  get(key: string): V | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expires !== undefined && entry.expires <= this.#now()) {
      this.#remove(key, entry)
      return undefined
    }
    // Used again: it moves to the back of the line.
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    return entry.value
  }

  /** The value under `key`, taken out of the cache: for what is to be used once. */
  take(key: string): V | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    this.#remove(key, entry)
    return entry.expires !== undefined && entry.expires <= this.#now() ? undefined : entry.value
  }

  /** Keeps `value` for `ttlMs` (undefined: until evicted). A value larger than the whole cache is not kept. */
  set(key: string, value: V, bytes: number, ttlMs?: number): void {
    const old = this.#entries.get(key)
    if (old !== undefined) this.#remove(key, old)
    if (bytes > this.#options.maxBytes) return
    this.#entries.set(key, { value, bytes, expires: ttlMs === undefined ? undefined : this.#now() + ttlMs })
    this.#bytes += bytes
    for (const [k, e] of this.#entries) {
      if (this.#bytes <= this.#options.maxBytes && this.#entries.size <= this.#options.maxEntries) break
      this.#remove(k, e)
    }
  }

  get size(): number {
    return this.#entries.size
  }

  get bytes(): number {
    return this.#bytes
  }

  #remove(key: string, entry: Entry<V>): void {
    this.#entries.delete(key)
    this.#bytes -= entry.bytes
  }

  #now(): number {
    return (this.#options.now ?? Date.now)()
  }
}
