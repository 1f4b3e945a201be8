// Serving certificates that change under a running server. cert-manager (or
// a Secret update) replaces the mounted files; the kubelet swaps a symlink in
// the directory, so we watch directories, not files, and reload only a pair
// that parses: a half-written update must never take the listener down.

import { watch, type FSWatcher } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { createSecureContext } from 'node:tls'

export interface KeyPair {
  cert: Buffer
  key: Buffer
}

export async function readKeyPair(certFile: string, keyFile: string): Promise<KeyPair> {
  const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)])
  // Throws on a malformed or mismatched pair, before anyone serves it.
  createSecureContext({ cert, key })
  return { cert, key }
}

export interface CertificateWatch {
  close(): void
}

export interface WatchOptions {
  certFile: string
  keyFile: string
  onReload(pair: KeyPair): void
  onError(err: Error): void
  /** Waits for a burst of file events to settle before reading. */
  debounceMs?: number
}

export function watchCertificates(options: WatchOptions): CertificateWatch {
  const { certFile, keyFile } = options
  let timer: NodeJS.Timeout | undefined
  let last: KeyPair | undefined
  const reload = (): void => {
    readKeyPair(certFile, keyFile).then(
      (pair) => {
        if (last?.cert.equals(pair.cert) && last.key.equals(pair.key)) return
        last = pair
        options.onReload(pair)
      },
      (err: Error) => options.onError(err),
    )
  }
  const schedule = (): void => {
    clearTimeout(timer)
    timer = setTimeout(reload, options.debounceMs ?? 200)
  }
  const watchers: FSWatcher[] = [...new Set([dirname(certFile), dirname(keyFile)])].map((dir) => watch(dir, schedule))
  // Remember what is served now, so an event that changes nothing reloads nothing.
  readKeyPair(certFile, keyFile).then(
    (pair) => (last ??= pair),
    () => undefined,
  )
  return {
    close() {
      clearTimeout(timer)
      for (const w of watchers) w.close()
    },
  }
}
