// How long and how many: the bounds that keep slow, idle or numerous clients
// from holding the server. The API server waits at most its webhook's
// timeoutSeconds (10 s by default, 30 s at most) for an answer, and --deadline
// is set below that; a client still sending after the deadline can no longer
// get an answer in time, so the request bounds derive from the deadline.

export interface ConnectionLimits {
  /** The whole request, headers and body, must have arrived within this (else 408 and close). */
  requestTimeoutMs: number
  /** The headers must have arrived within this; at most requestTimeoutMs, as Node requires. */
  headersTimeoutMs: number
  /** The TLS handshake must finish within this, before any HTTP timeout applies. */
  handshakeTimeoutMs: number
  /** How often Node looks for requests past the two timeouts above: the cut-off is this late at most. */
  checkIntervalMs: number
  /** A socket with no traffic either way for this long is closed: a stalled reader of our answer. */
  idleTimeoutMs: number
  /** How long a kept-alive connection may sit idle between requests. */
  keepAliveTimeoutMs: number
  /** Bytes of request line and headers. */
  maxHeaderSize: number
  /** Connections open at once; more are closed on arrival. */
  maxConnections: number
  /** Requests served on one connection before it is closed (with `Connection: close`). */
  maxRequestsPerSocket: number
}

/** The default for --max-connections. */
export const defaultMaxConnections = 500

/** The API server's longest webhook timeout: a request still arriving later has no one waiting for it. */
const apiServerMaxTimeoutMs = 30_000

export function connectionLimits(deadlineMs: number, maxConnections: number = defaultMaxConnections): ConnectionLimits {
  // At least a second, so a tiny --deadline does not cut off a 7 MiB body on a busy node.
  const requestTimeoutMs = Math.min(Math.max(deadlineMs, 1000), apiServerMaxTimeoutMs)
  return {
    requestTimeoutMs,
    // The headers are part of the request: a separate, shorter bound would only add a knob.
    headersTimeoutMs: requestTimeoutMs,
    // Node's default is 120 s: a client that connects and says nothing held a socket for two minutes.
    handshakeTimeoutMs: requestTimeoutMs,
    // Node's default is 30 s, which made any request timeout up to 30 s late.
    checkIntervalMs: Math.min(Math.max(Math.floor(requestTimeoutMs / 4), 100), 1000),
    // It runs while we work on a request too (no traffic until we answer), so it must outlast the deadline.
    idleTimeoutMs: Math.min(deadlineMs, apiServerMaxTimeoutMs) + 5000,
    // Longer than the API server's idle timeout (Go's http.Transport, 90 s), so the API server closes
    // idle connections itself and never sends a request into one we are closing at that moment.
    keepAliveTimeoutMs: 95_000,
    // The API server sends a few hundred bytes of headers; Node's default is 16 KiB.
    maxHeaderSize: 8 * 1024,
    maxConnections,
    // The API server keeps connections as long as they serve, so after a replica restarts the other
    // keeps them all; closing after this many requests spreads them again, at one handshake per thousand.
    maxRequestsPerSocket: 1000,
  }
}
