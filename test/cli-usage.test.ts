// How the CLI fails: a mistake in the command line is one line and a pointer
// to the command's --help (exit 2); a failure to run, such as a port in use
// or a certificate that cannot be read, is one line (exit 1), no help.

import { spawnSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import net from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { main } from '../src/cli/main.ts'
import { userAgent } from '../src/cli/version.ts'
import { captureIO } from './helpers/cli.ts'
import { exampleCatalogDir, mintCerts, root, tempDir } from './helpers/server.ts'

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIO()
  const code = await main(argv, io)
  return { code, out: io.out, err: io.err }
}

t.test('--version prints package.json’s version', async (t) => {
  const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string }
  t.same(await run(['--version']), { code: 0, out: `${version}\n`, err: '' })
  const binary = spawnSync(process.execPath, [join(root, 'bin/stepsplice.js'), '--version'], { encoding: 'utf8', timeout: 20_000 })
  t.same([binary.status, binary.stdout, binary.stderr], [0, `${version}\n`, ''], 'the binary too')
  t.equal(userAgent, `stepsplice/${version}`, 'what it calls itself when it asks a server')
  t.match((await run(['--help'])).out, /--version/, 'the help says so')
})

t.test('a usage error is one line and a pointer to --help, for every command', async (t) => {
  for (const command of ['render', 'lint', 'pin', 'serve']) {
    const r = await run([command, '--frobnicate'])
    t.equal(r.code, 2, command)
    t.equal(r.out, '', `${command}: nothing on stdout`)
    t.match(r.err, /^error: unknown flag --frobnicate\nRun 'stepsplice [a-z]+ --help' for usage\.\n$/, `${command}: two lines`)
    t.match(r.err, `Run 'stepsplice ${command} --help'`, `${command}: its own help`)
  }
  // A misspelt flag is answered with the command's own flags that are near it.
  for (const [argv, meant] of [
    [['render', '--catalg', 'x'], '--catalog'],
    [['lint', '--namspace', 'x'], '--namespace'],
    [['pin', '--in-plac'], '--in-place'],
    [['serve', '--deadlin', '1s'], '--deadline'],
    [['serve', '--kubeconfg', 'x'], '--kubeconfig or --kube'],
  ] as const) {
    const r = await run([...argv])
    t.equal(r.code, 2)
    t.equal(r.err.split('\n')[0], `error: unknown flag ${argv[1]}; did you mean ${meant}?`, argv.join(' '))
  }
  t.equal((await run(['render', '-z'])).err.split('\n')[0], 'error: unknown flag -z', 'a short one: no guess')
  t.equal((await run(['render', "--catalog's", 'x'])).err.split('\n')[0], "error: unknown flag --catalog's; did you mean --catalog?", 'named whole')
  for (const command of ['render', 'lint', 'serve']) {
    const r = await run([command, '--catalog='])
    t.same([r.code, r.err.split('\n')[0]], [2, 'error: --catalog needs a directory'], `${command}: an empty --catalog`)
  }
  for (const unknown of ['frobnicate', 'toString', '__proto__']) {
    t.same(await run([unknown]), { code: 2, out: '', err: `error: unknown command ${JSON.stringify(unknown)}\nRun 'stepsplice --help' for usage.\n` }, unknown)
  }
})

t.test('serve: failures to run exit 1 with one line, no help', async (t) => {
  const certs = await mintCerts(t)
  const dir = await tempDir(t)
  const serve = (extra: string[]) =>
    run(['serve', '--catalog', exampleCatalogDir, '--tls-cert', certs.certFile, '--tls-key', certs.keyFile, '--host', '127.0.0.1', '--workers', '0', ...extra])

  // A port someone else holds.
  const holder = net.createServer()
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
  t.teardown(() => holder.close())
  const port = (holder.address() as net.AddressInfo).port
  const taken = await serve(['--port', String(port)])
  t.equal(taken.code, 1, 'port in use: exit 1')
  t.equal(taken.err, `error: cannot listen on 127.0.0.1:${port}: the address is in use (another stepsplice? --port picks another)\n`)

  const missing = await serve(['--port', '0', '--tls-cert', join(dir, 'none.crt')])
  t.equal(missing.code, 1, 'missing certificate: exit 1')
  t.equal(missing.err, `error: cannot read ${join(dir, 'none.crt')}: no such file; run "make certs" or pass --tls-cert/--tls-key\n`)

  const directory = await serve(['--port', '0', '--tls-key', dir])
  t.equal(directory.code, 1, 'a key that is a directory: exit 1')
  t.equal(directory.err, `error: cannot read ${certs.certFile} or ${dir}: a directory\n`, 'names the files, as Node does not say which')

  const catalog = await run(['serve', '--catalog', join(dir, 'no-such-dir'), '--port', '0', '--workers', '0'])
  t.equal(catalog.code, 1, 'a catalog directory that is not there: exit 1')
  t.match(catalog.err, /^error: cannot read catalog [^\n]*no-such-dir: no such file or directory\n$/)

  const remoteCa = await serve(['--port', '0', '--remote-ca', join(dir, 'none.pem')])
  t.same(
    [remoteCa.code, remoteCa.err],
    [1, `error: cannot read --remote-ca ${join(dir, 'none.pem')}: no such file or directory\n`],
    'an unreadable --remote-ca: exit 1',
  )

  const flag = await serve(['--port', 'many'])
  t.same(
    [flag.code, flag.err],
    [2, `error: --port must be 0 to 65535, not "many"\nRun 'stepsplice serve --help' for usage.\n`],
    'a bad flag stays a usage error',
  )
})

t.test('every help fits a terminal of 80 columns', async (t) => {
  for (const argv of [['--help'], ['render', '--help'], ['lint', '--help'], ['pin', '--help'], ['serve', '--help']]) {
    const { code, out } = await run(argv)
    t.equal(code, 0, argv.join(' '))
    const wide = out.split('\n').filter((line) => line.length > 80)
    t.same(wide, [], `${argv.join(' ')}: no line past 80 columns`)
  }
})
