// The real binary writes all its output before it exits. A pipe takes 64 KiB
// at once and the rest only as its reader reads; exiting before then cut
// `render … | kubectl apply -f -` short with status 0. Here the readers are
// slow on purpose, and everything must still arrive.

import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { open, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import t from 'tap'
import { main } from '../src/cli/main.ts'
import { captureIO } from './helpers/cli.ts'
import { exampleCatalogDir, root, sleep, tempDir } from './helpers/server.ts'

const bin = join(root, 'bin/stepsplice.js')

/** Many documents, so the output is several times what a pipe holds. */
async function manyTaskRuns(count: number, transform: (yaml: string) => string = (y) => y): Promise<string> {
  const one = transform(await readFile(join(root, 'examples/taskruns/build.yaml'), 'utf8'))
  return Array.from({ length: count }, (_, i) => one.replace('generateName: build-', `name: build-${i}`)).join('---\n')
}

/** What `render` prints for `file`, run in-process: the bytes the binary must deliver. */
async function expected(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIO()
  const code = await main(args, io)
  return { code, out: io.out, err: io.err }
}

/** Reads all of `stream`, pausing after every chunk: a reader slower than the writer. */
async function readSlowly(stream: Readable): Promise<{ text: string; chunks: number }> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer)
    await sleep(5)
  }
  return { text: Buffer.concat(chunks).toString('utf8'), chunks: chunks.length }
}

function spawnRender(args: string[], stdout: 'pipe' | number) {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', stdout, 'pipe'] })
  // A generous ceiling, never an assertion: a hung child fails the test instead of the run.
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  const closed = once(child, 'close').then(([code, signal]) => {
    clearTimeout(timer)
    return { code: code as number | null, signal: signal as NodeJS.Signals | null }
  })
  return { child, closed }
}

t.test('render -o json into a slowly read pipe: every byte, exit 0', async (t) => {
  const dir = await tempDir(t)
  const input = join(dir, 'many.yaml')
  await writeFile(input, await manyTaskRuns(60))
  const args = ['render', '--catalog', exampleCatalogDir, '-f', input, '-o', 'json']
  const want = await expected(args)
  t.equal(want.code, 0, want.err)
  t.ok(want.out.length > 3 * 65536, `the output (${want.out.length} bytes) is many times a pipe's buffer`)

  const { child, closed } = spawnRender(args, 'pipe')
  if (child.stdout === null || child.stderr === null) throw new Error('spawned with pipes, but they are missing')
  const [out, err] = await Promise.all([readSlowly(child.stdout), readSlowly(child.stderr)])
  t.same(await closed, { code: 0, signal: null }, 'exit 0')
  t.equal(err.text, '', 'nothing on stderr')
  t.equal(out.text.length, want.out.length, 'all bytes arrived')
  t.equal(out.text, want.out, 'exactly what render prints in-process')
  t.ok(out.chunks > 1, `read in ${out.chunks} chunks`)
})

t.test('render into a file: every byte, exit 0', async (t) => {
  const dir = await tempDir(t)
  const input = join(dir, 'many.yaml')
  await writeFile(input, await manyTaskRuns(60))
  const args = ['render', '--catalog', exampleCatalogDir, '-f', input]
  const want = await expected(args)
  t.equal(want.code, 0, want.err)

  const outFile = join(dir, 'out.yaml')
  const handle = await open(outFile, 'w')
  try {
    const { child, closed } = spawnRender(args, handle.fd)
    if (child.stderr === null) throw new Error('spawned with stderr piped, but it is missing')
    const err = await readSlowly(child.stderr)
    t.same(await closed, { code: 0, signal: null }, 'exit 0')
    t.equal(err.text, '')
  } finally {
    await handle.close()
  }
  t.equal(await readFile(outFile, 'utf8'), want.out, 'the file holds exactly what render prints')
})

t.test('exit 1 with many errors: stderr arrives in full through a slowly read pipe', async (t) => {
  const dir = await tempDir(t)
  const input = join(dir, 'broken.yaml')
  // Every reference of every document is missing: three errors each.
  await writeFile(input, await manyTaskRuns(300, (y) => y.replace(/name: (git-clone|go-build|summarize)$/gm, 'name: missing-$1')))
  const args = ['render', '--catalog', exampleCatalogDir, '--require-resolution', 'local', '-f', input]
  const want = await expected(args)
  t.equal(want.code, 1)
  t.ok(want.err.length > 2 * 65536, `stderr (${want.err.length} bytes) is more than a pipe holds`)

  const { child, closed } = spawnRender(args, 'pipe')
  if (child.stdout === null || child.stderr === null) throw new Error('spawned with pipes, but they are missing')
  const [out, err] = await Promise.all([readSlowly(child.stdout), readSlowly(child.stderr)])
  t.same(await closed, { code: 1, signal: null }, 'exit 1')
  t.equal(out.text, '', 'nothing on stdout')
  t.equal(err.text, want.err, 'every error line')
  t.match(err.text.split('\n').at(-2), /^error: TaskRun default\/build-299: .*"missing-summarize" not found/, 'down to the last document')
})
