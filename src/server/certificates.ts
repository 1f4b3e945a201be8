// Serving certificates that change under a running server. cert-manager (or
// a Secret update) replaces the mounted files; the kubelet swaps a symlink in
// the directory, so we watch directories, not files, and reload only what
// parses: a half-written update must never take the listener down. The
// client CA (--client-ca) is followed the same way.

import { X509Certificate } from 'node:crypto'
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

const pemCertificate = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g

/**
 * A PEM bundle of the CAs client certificates must chain to. Throws unless
 * every certificate in it parses and there is at least one: OpenSSL skips
 * what it cannot read, and an empty trust list would refuse every client
 * without saying why.
 */
export async function readClientCa(file: string): Promise<Buffer> {
  const ca = await readFile(file)
  const blocks = ca.toString('utf8').match(pemCertificate) ?? []
  if (blocks.length === 0) throw new Error(`${file} holds no PEM certificate`)
  for (const block of blocks) new X509Certificate(block)
  createSecureContext({ ca })
  return ca
}

export interface CertificateWatch {
  close(): void
}

export interface FileWatch<T> {
  files: string[]
  /** What is served now: the read the server started with, not a read of its own (the files may have changed since). */
  served: T
  read(): Promise<T>
  same(a: T, b: T): boolean
  onReload(value: T): void
  onError(err: Error): void
  debounceMs: number
}

/** Reads `files` again whenever their directories change, and reports what parsed and differs. */
export function watchFiles<T>(w: FileWatch<T>): CertificateWatch {
  let timer: NodeJS.Timeout | undefined
  let last = w.served
  // Reads may finish out of order (a slow disk): only the latest one started says what the files hold now.
  let started = 0
  const reload = (): void => {
    const mine = ++started
    w.read().then(
      (value) => {
        if (mine !== started || w.same(last, value)) return
        last = value
        w.onReload(value)
      },
      (err: Error) => {
        if (mine === started) w.onError(err)
      },
    )
  }
  const schedule = (): void => {
    clearTimeout(timer)
    timer = setTimeout(reload, w.debounceMs)
  }
  const watchers: FSWatcher[] = [...new Set(w.files.map((f) => dirname(f)))].map((dir) => watch(dir, schedule))
  // A change between the server's read and the watchers' start has no event of its own: look once now.
  schedule()
  return {
    close() {
      clearTimeout(timer)
      for (const watcher of watchers) watcher.close()
    },
  }
}

export interface WatchOptions {
  certFile: string
  keyFile: string
  /** The pair the server serves now. */
  served: KeyPair
  onReload(pair: KeyPair): void
  onError(err: Error): void
  /** Waits for a burst of file events to settle before reading. */
  debounceMs?: number
}

export function watchCertificates(options: WatchOptions): CertificateWatch {
  const { certFile, keyFile } = options
  return watchFiles({
    files: [certFile, keyFile],
    served: options.served,
    read: () => readKeyPair(certFile, keyFile),
    same: (a, b) => a.cert.equals(b.cert) && a.key.equals(b.key),
    onReload: options.onReload,
    onError: options.onError,
    debounceMs: options.debounceMs ?? 200,
  })
}

export interface ClientCaWatchOptions {
  file: string
  /** The CA bundle the server trusts now. */
  served: Buffer
  onReload(ca: Buffer): void
  onError(err: Error): void
  debounceMs?: number
}

export function watchClientCa(options: ClientCaWatchOptions): CertificateWatch {
  return watchFiles({
    files: [options.file],
    served: options.served,
    read: () => readClientCa(options.file),
    same: (a, b) => a.equals(b),
    onReload: options.onReload,
    onError: options.onError,
    debounceMs: options.debounceMs ?? 200,
  })
}
