// TLS on the real server: no protocol older than TLS 1.2, and a rotated
// certificate picked up for new connections without dropping open ones.

import { X509Certificate } from 'node:crypto'
import { copyFile, mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises'
import https from 'node:https'
import { join } from 'node:path'
import tls from 'node:tls'
import t from 'tap'
import { type KeyPair, watchCertificates, watchFiles } from '../src/server/certificates.ts'
import { type Certs, httpsRequest, mintCerts, replaceServingPair, sleep, startTestServer, tempDir, type TestServer, until } from './helpers/server.ts'

interface Handshake {
  protocol?: string | null
  fingerprint256?: string
  error?: NodeJS.ErrnoException
}

/** One fresh TLS connection to the server, verified against `ca`, closed at once. */
function handshake(port: number, ca: Buffer | Buffer[], options: tls.ConnectionOptions = {}): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ...options }, () => {
      resolve({ protocol: socket.getProtocol(), fingerprint256: socket.getPeerCertificate().fingerprint256 })
      socket.end()
    })
    socket.on('error', (error: NodeJS.ErrnoException) => resolve({ error }))
  })
}

// The first two tests only connect: they share one server (each start is a worker thread and a TLS context).
const plain = await startTestServer(t)

t.test('TLS 1.1 is refused by the server, TLS 1.2 and 1.3 are served', async (t) => {
  const server = plain
  const port = server.running.port
  // SECLEVEL=0 lets this client offer TLS 1.1 at all; without it OpenSSL 3
  // refuses locally and the server would never be asked.
  const old = await handshake(port, server.certs.ca, { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' })
  t.equal(old.error?.code, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'the server answers TLS 1.1 with a protocol_version alert')
  t.equal(old.fingerprint256, undefined, 'no session')

  const v12 = await handshake(port, server.certs.ca, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' })
  t.equal(v12.error, undefined, 'TLS 1.2 handshake succeeds')
  t.equal(v12.protocol, 'TLSv1.2')
  t.equal(v12.fingerprint256, server.certs.fingerprint256, 'presents the minted certificate')

  const res = await new Promise<number>((resolve, reject) => {
    const req = https.get(new URL('/healthz', server.url), { ca: server.certs.ca, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', agent: false }, (r) => {
      r.resume()
      r.on('end', () => resolve(r.statusCode ?? 0))
    })
    req.on('error', reject)
  })
  t.equal(res, 200, 'an HTTP request over TLS 1.2 is served')

  const v13 = await handshake(port, server.certs.ca)
  t.equal(v13.protocol, 'TLSv1.3')
})

t.test('a client that does not trust the CA is refused (verification is real)', async (t) => {
  const server = plain
  const other = await mintCerts(t)
  const res = await handshake(server.running.port, other.ca)
  t.match(res.error?.code, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/, `untrusted: ${res.error?.code}`)
})

/** Starts a server reading its pair from a directory of its own, seeded with `initial`. */
async function rotatingServer(t: Parameters<typeof startTestServer>[0], initial: Certs): Promise<{ server: TestServer; served: string }> {
  const served = await tempDir(t, 'stepsplice-served-')
  await copyFile(initial.certFile, join(served, 'tls.crt'))
  await copyFile(initial.keyFile, join(served, 'tls.key'))
  const server = await startTestServer(t, { certs: initial, certFile: join(served, 'tls.crt'), keyFile: join(served, 'tls.key'), certDebounceMs: 50 })
  return { server, served }
}

/** Polls new connections (at most ~5 s) until one presents `fingerprint`. */
async function waitForCertificate(port: number, cas: Buffer[], fingerprint: string): Promise<Handshake> {
  let last: Handshake = {}
  for (let i = 0; i < 100; i++) {
    last = await handshake(port, cas)
    if (last.fingerprint256 === fingerprint) return last
    await sleep(50)
  }
  return last
}

t.test('a rotated certificate is served to new connections; open keep-alive connections keep working', async (t) => {
  const a = await mintCerts(t)
  const { server, served } = await rotatingServer(t, a)
  const port = server.running.port

  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const viaAgent = async (): Promise<{ status: number; reused: boolean; localPort?: number; fingerprint256?: string }> => {
    return new Promise((resolve, reject) => {
      const req = https.get(new URL('/healthz', server.url), { ca: a.ca, agent }, (res) => {
        const socket = res.socket as tls.TLSSocket
        const fingerprint256 = socket.getPeerCertificate().fingerprint256
        res.resume()
        res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket, localPort: socket.localPort, fingerprint256 }))
      })
      req.on('error', reject)
    })
  }
  const first = await viaAgent()
  t.equal(first.status, 200)
  t.equal(first.fingerprint256, a.fingerprint256, 'certificate A served at first')

  const b = await mintCerts(t)
  t.not(b.fingerprint256, a.fingerprint256, 'A and B differ')
  await replaceServingPair(b, served)

  const seen = await waitForCertificate(port, [a.ca, b.ca], b.fingerprint256)
  t.equal(seen.fingerprint256, b.fingerprint256, 'a new connection presents certificate B')
  t.equal(seen.error, undefined)
  t.ok(
    server.logs.lines().some((l) => l.msg === 'serving certificate reloaded'),
    'reload logged',
  )

  const onlyB = await handshake(port, b.ca)
  t.equal(onlyB.fingerprint256, b.fingerprint256, 'B verifies against its own CA alone')
  const onlyA = await handshake(port, a.ca)
  t.ok(onlyA.error, 'a new connection trusting only CA A is refused: B is really served')

  const second = await viaAgent()
  t.equal(second.status, 200, 'the old keep-alive connection still serves a request')
  t.equal(second.reused, true, 'over the same connection')
  t.equal(second.localPort, first.localPort, 'same socket')
  t.equal(second.fingerprint256, a.fingerprint256, 'which still speaks with certificate A')

  const oldProtocol = await handshake(port, [a.ca, b.ca], { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' })
  t.equal(oldProtocol.error?.code, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'TLS 1.1 is still refused after the reload')

  const reply = await httpsRequest(server.url, b.ca, '/readyz')
  t.equal(reply.status, 200, 'HTTP works over the new certificate')
})

t.test('a half-replaced pair (new cert, old key) is not served; the previous pair stays until the key arrives', async (t) => {
  const a = await mintCerts(t)
  const { server, served } = await rotatingServer(t, a)
  const port = server.running.port
  const b = await mintCerts(t)

  // Only the certificate: it does not match the key in place.
  const tmp = join(served, '.tls.crt.tmp')
  await copyFile(b.certFile, tmp)
  await rename(tmp, join(served, 'tls.crt'))
  const warned = async (): Promise<boolean> =>
    server.logs.lines().some((l) => l.msg === 'certificate files changed but cannot be used yet; still serving the previous pair')
  for (let i = 0; i < 100 && !(await warned()); i++) await sleep(50)
  t.ok(await warned(), 'the unusable pair is reported')
  const meanwhile = await handshake(port, [a.ca, b.ca])
  t.equal(meanwhile.fingerprint256, a.fingerprint256, 'still serving A')

  const tmpKey = join(served, '.tls.key.tmp')
  await copyFile(b.keyFile, tmpKey)
  await rename(tmpKey, join(served, 'tls.key'))
  const seen = await waitForCertificate(port, [a.ca, b.ca], b.fingerprint256)
  t.equal(seen.fingerprint256, b.fingerprint256, 'B once the key matches')
  t.equal(new X509Certificate(await readFile(join(served, 'tls.crt'))).fingerprint256, b.fingerprint256)
})

t.test('a Secret volume update (kubelet swaps the ..data symlink) is picked up', async (t) => {
  // The layout kubelet's AtomicWriter keeps: tls.crt -> ..data/tls.crt, ..data -> ..<timestamp>.
  const a = await mintCerts(t)
  const b = await mintCerts(t)
  const volume = await tempDir(t, 'stepsplice-volume-')
  const version = async (name: string, certs: Certs): Promise<void> => {
    await mkdir(join(volume, name))
    await copyFile(certs.certFile, join(volume, name, 'tls.crt'))
    await copyFile(certs.keyFile, join(volume, name, 'tls.key'))
  }
  await version('..v1', a)
  await symlink('..v1', join(volume, '..data'))
  await symlink('..data/tls.crt', join(volume, 'tls.crt'))
  await symlink('..data/tls.key', join(volume, 'tls.key'))
  const server = await startTestServer(t, { certs: a, certFile: join(volume, 'tls.crt'), keyFile: join(volume, 'tls.key'), certDebounceMs: 50 })
  const port = server.running.port
  t.equal((await handshake(port, [a.ca, b.ca])).fingerprint256, a.fingerprint256, 'A at first')

  await version('..v2', b)
  await symlink('..v2', join(volume, '..data_tmp'))
  await rename(join(volume, '..data_tmp'), join(volume, '..data'))
  await rm(join(volume, '..v1'), { recursive: true })

  const seen = await waitForCertificate(port, [a.ca, b.ca], b.fingerprint256)
  t.equal(seen.fingerprint256, b.fingerprint256, 'B after the symlink swap')
})

t.test('a pair that changed before the files were watched is still picked up: the watch starts from what is served', async (t) => {
  const a = await mintCerts(t)
  const b = await mintCerts(t)
  const dir = await tempDir(t, 'stepsplice-watched-')
  // The server read A; by the time it watches, the files hold B (a rotation during start), with no event to come.
  await replaceServingPair(b, dir)
  const served: KeyPair = { cert: await readFile(a.certFile), key: await readFile(a.keyFile) }
  const reloaded: KeyPair[] = []
  const watch = watchCertificates({
    certFile: join(dir, 'tls.crt'),
    keyFile: join(dir, 'tls.key'),
    served,
    debounceMs: 10,
    onReload: (pair) => reloaded.push(pair),
    onError: (err) => t.fail(err.message),
  })
  t.teardown(() => watch.close())
  await until('B is reloaded', () => reloaded.length > 0)
  t.equal(new X509Certificate(reloaded[0]?.cert ?? '').fingerprint256, b.fingerprint256, 'B, read once the watch began')
  await sleep(100)
  t.equal(reloaded.length, 1, 'once')
})

t.test('reads that finish out of order: the latest one started wins', async (t) => {
  const dir = await tempDir(t, 'stepsplice-watched-')
  const file = join(dir, 'value')
  // Whole files, as a Secret volume swaps them: a read never sees one half written.
  const put = async (text: string): Promise<void> => {
    await writeFile(`${file}.tmp`, text)
    await rename(`${file}.tmp`, file)
  }
  await put('A')
  // The first read after an event is slow (a stalled disk); the second, for a later event, is not.
  const slowFirst: { release?: () => void } = {}
  let reads = 0
  const reloaded: string[] = []
  const watch = watchFiles<string>({
    files: [file],
    served: 'A',
    debounceMs: 10,
    async read() {
      reads++
      const text = await readFile(file, 'utf8')
      if (reads === 2) await new Promise<void>((resolve) => (slowFirst.release = resolve))
      return text
    },
    same: (x, y) => x === y,
    onReload: (value) => reloaded.push(value),
    onError: (err) => t.fail(err.message),
  })
  t.teardown(() => watch.close())
  await until('the look at start is done', () => reads === 1)
  await put('B')
  await until('the read of B is under way', () => slowFirst.release !== undefined)
  await put('C')
  await until('C is reloaded', () => reloaded.includes('C'))
  slowFirst.release?.()
  await sleep(50)
  t.same(reloaded, ['C'], 'B, read before C but finished after it, is not applied over C')
})
