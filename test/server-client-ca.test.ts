// --client-ca: the server asks for a client certificate and refuses, at the
// TLS handshake, any client without one from that CA; the CA file is followed
// like the serving certificate. Real certificates from certs/mint.sh
// (CLIENT_CERT=1 adds a client certificate), the real server, real TLS.

import { execFile } from 'node:child_process'
import { copyFile, readFile, rename, writeFile } from 'node:fs/promises'
import https from 'node:https'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { startServer, type RunningServer } from '../src/server/serve.ts'
import {
  captureIO,
  captureLogs,
  certsIn,
  type Certs,
  type LogCapture,
  loadExampleCatalog,
  mintCerts,
  root,
  sleep,
  type Teardown,
  tempDir,
} from './helpers/server.ts'
import { main } from '../src/cli/main.ts'

const run = promisify(execFile)

interface ClientCerts extends Certs {
  clientCert: Buffer
  clientKey: Buffer
}

/** A CA, a serving certificate and a client certificate, all from certs/mint.sh. */
async function mintWithClient(t: Teardown): Promise<ClientCerts> {
  const dir = await tempDir(t, 'stepsplice-client-')
  await run('bash', [join(root, 'certs/mint.sh'), dir], { env: { ...process.env, CERT_DAYS: '2', CLIENT_CERT: '1' } })
  return { ...(await certsIn(dir)), clientCert: await readFile(join(dir, 'client.crt')), clientKey: await readFile(join(dir, 'client.key')) }
}

const example = await readFile(join(root, 'examples/admission/taskrun-review.json'))

interface Outcome {
  status?: number
  allowed?: boolean
  error?: NodeJS.ErrnoException
}

/** POSTs the example review to /mutate on a fresh connection, with `client` as the client certificate if given. */
function mutateAs(server: RunningServer, ca: Buffer, client?: { cert: Buffer; key: Buffer }): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = https.request(
      new URL('/mutate', server.url),
      { method: 'POST', ca, agent: false, headers: { 'content-type': 'application/json' }, ...(client ?? {}) },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (text += c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, allowed: (JSON.parse(text) as { response: { allowed: boolean } }).response.allowed }))
        res.on('error', (error) => resolve({ error }))
      },
    )
    req.on('error', (error) => resolve({ error }))
    req.end(example)
  })
}

async function serve(t: Teardown, certs: Certs, clientCaFile?: string): Promise<{ server: RunningServer; logs: LogCapture }> {
  const logs = captureLogs()
  const server = await startServer({
    workers: 1,
    host: '127.0.0.1',
    port: 0,
    certFile: certs.certFile,
    keyFile: certs.keyFile,
    catalog: await loadExampleCatalog(),
    logger: logs.logger,
    deadlineMs: 5000,
    onTimeout: 'deny',
    certDebounceMs: 50,
    ...(clientCaFile === undefined ? {} : { clientCaFile }),
  })
  t.teardown(() => server.close())
  return { server, logs }
}

// Without a certificate TLS 1.3 says so in an alert; a certificate that does not
// verify makes Node drop the connection right after the handshake, before any
// HTTP: the client sees a reset.
const refused = /CERTIFICATE_REQUIRED|UNKNOWN_CA|BAD_CERTIFICATE|UNSUPPORTED_CERTIFICATE|ECONNRESET|EPIPE|socket hang up/

t.test('with --client-ca, only a client certificate from that CA gets through the handshake', async (t) => {
  const mine = await mintWithClient(t)
  const other = await mintWithClient(t)
  const { server, logs } = await serve(t, mine, mine.caFile)

  const none = await mutateAs(server, mine.ca)
  t.match(none.error?.code ?? none.error?.message, refused, `no client certificate: refused (${none.error?.code ?? none.status})`)

  const foreign = await mutateAs(server, mine.ca, { cert: other.clientCert, key: other.clientKey })
  t.match(foreign.error?.code ?? foreign.error?.message, refused, `a client certificate from another CA: refused (${foreign.error?.code ?? foreign.status})`)

  // Signed by the right CA, but for serving (extendedKeyUsage serverAuth): not a client certificate.
  const serving = await mutateAs(server, mine.ca, { cert: await readFile(mine.certFile), key: await readFile(mine.keyFile) })
  t.match(
    serving.error?.code ?? serving.error?.message,
    refused,
    `a serving certificate as a client certificate: refused (${serving.error?.code ?? serving.status})`,
  )

  const good = await mutateAs(server, mine.ca, { cert: mine.clientCert, key: mine.clientKey })
  t.same(good, { status: 200, allowed: true }, 'the client certificate minted with the CA: 200, admitted')
  t.equal(logs.admissionLines().length, 1, 'only that request reached admission')
})

t.test('without --client-ca nothing changes: no client certificate is asked for', async (t) => {
  const mine = await mintWithClient(t)
  const { server } = await serve(t, mine)
  t.same(await mutateAs(server, mine.ca), { status: 200, allowed: true }, 'a client without a certificate is served')
  t.same(await mutateAs(server, mine.ca, { cert: mine.clientCert, key: mine.clientKey }), { status: 200, allowed: true }, 'and so is one with a certificate')
})

/** Polls fresh requests (at most ~5 s) until `done` holds for the outcome. */
async function waitFor(probe: () => Promise<Outcome>, done: (o: Outcome) => boolean): Promise<Outcome> {
  let last: Outcome = {}
  for (let i = 0; i < 100; i++) {
    last = await probe()
    if (done(last)) return last
    await sleep(50)
  }
  return last
}

t.test('the client CA file is reloaded when it changes; a file that does not parse is not used', async (t) => {
  const a = await mintWithClient(t)
  const b = await mintWithClient(t)
  const dir = await tempDir(t, 'stepsplice-client-ca-')
  const caFile = join(dir, 'client-ca.crt')
  await copyFile(a.caFile, caFile)
  const { server, logs } = await serve(t, a, caFile)
  const asA = () => mutateAs(server, a.ca, { cert: a.clientCert, key: a.clientKey })
  const asB = () => mutateAs(server, a.ca, { cert: b.clientCert, key: b.clientKey })
  t.equal((await asA()).status, 200, "A's client is served at first")
  t.ok((await asB()).error, "B's client is refused")

  // Replaced the way the kubelet and careful writers do it: a new file renamed over the old.
  await copyFile(b.caFile, join(dir, '.tmp'))
  await rename(join(dir, '.tmp'), caFile)
  t.equal((await waitFor(asB, (o) => o.status === 200)).status, 200, "after the change B's client is served")
  t.ok((await asA()).error, "and A's is refused")
  t.ok(
    logs.lines().some((l) => l.msg === 'client CA reloaded'),
    'the reload is logged',
  )

  await writeFile(join(dir, '.tmp'), 'not a certificate\n')
  await rename(join(dir, '.tmp'), caFile)
  const warned = await waitFor(
    async () => ({ status: logs.lines().some((l) => l.msg === 'client CA file changed but cannot be used yet; still trusting the previous one') ? 1 : 0 }),
    (o) => o.status === 1,
  )
  t.equal(warned.status, 1, 'a file without a certificate is reported')
  t.equal((await asB()).status, 200, 'and B is still trusted')
})

t.test('serve: --client-ca and --max-connections are checked before anything starts', async (t) => {
  const certs = await mintCerts(t)
  const dir = await tempDir(t)
  const empty = join(dir, 'empty.crt')
  await writeFile(empty, '')
  const common = [
    'serve',
    '--catalog',
    join(root, 'examples/stepactions'),
    '--tls-cert',
    certs.certFile,
    '--tls-key',
    certs.keyFile,
    '--port',
    '0',
    '--host',
    '127.0.0.1',
  ]
  // A file that cannot be used is a failure to start (exit 1); a bad flag value is a usage error (exit 2).
  const cases: [string[], number, RegExp][] = [
    [['--client-ca', join(dir, 'missing.crt')], 1, /^error: cannot read --client-ca .*missing\.crt: no such file\n$/],
    [['--client-ca', empty], 1, /^error: cannot start: .*empty\.crt holds no PEM certificate\n$/],
    [['--max-connections', '0'], 2, /error: --max-connections must be a whole number of at least 1, not "0"/],
    [['--max-connections', 'lots'], 2, /error: --max-connections must be a whole number of at least 1, not "lots"/],
  ]
  for (const [extra, status, message] of cases) {
    const io = captureIO()
    const code = await main([...common, ...extra], io)
    t.equal(code, status, `${extra.join(' ')}: exit ${status}`)
    t.match(io.err, message, `${extra.join(' ')}: says why`)
  }
})
