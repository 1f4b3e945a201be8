// The part of autocannon's programmatic API the benchmarks use: the package
// ships no types, and no @types package is installed.

declare module 'autocannon' {
  export interface Options {
    url: string
    method?: string
    headers?: Record<string, string>
    body?: string
    connections?: number
    /** Seconds. */
    duration?: number
    /** Threads that send the requests; 0 sends them from the calling thread. */
    workers?: number
    servername?: string
    tlsOptions?: { ca?: string }
    warmup?: { connections?: number; duration?: number }
    /** Requests after which a connection is closed and opened again. */
    reconnectRate?: number
    /** Requests per second over all connections: a fixed rate instead of as fast as the server answers. */
    overallRate?: number
  }

  /** Latencies are whole milliseconds (autocannon's histogram records integers). */
  export interface Histogram {
    average: number
    mean: number
    p50: number
    p90: number
    p99: number
    max: number
    total: number
  }

  export interface Result {
    /** Seconds. */
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    '2xx': number
    latency: Histogram
    requests: Histogram
    /** Responses by HTTP status. */
    statusCodeStats: Record<string, { count: number }>
  }

  function autocannon(options: Options): Promise<Result>
  export default autocannon
}
