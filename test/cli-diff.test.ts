// `render --diff`: the unified diff (src/cli/diff.ts) is correct and minimal
// on generated texts, applied back by a strict reader of our own and by
// `patch` where the machine has it; render prints one per changed object;
// and render says when it waits on a terminal's stdin.

import { spawnSync } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import fc from 'fast-check'
import t from 'tap'
import { commonRuns, unifiedDiff } from '../src/cli/diff.ts'
import { main } from '../src/cli/main.ts'
import { formatDocuments, parseDocuments } from '../src/json/documents.ts'
import { captureIO } from './helpers/cli.ts'
import { exampleCatalogDir, root, tempDir } from './helpers/server.ts'

/**
 * `diff` applied to `a`, reading it strictly: every header, count and
 * context or removed line must be right, or it throws.
 */
function applyDiff(a: string, diff: string): string {
  if (diff === '') return a
  const lines = diff.split('\n')
  if (lines.at(-1) !== '') throw new Error('a diff ends with a newline')
  lines.pop()
  const source = a === '' ? [] : (a.endsWith('\n') ? a.slice(0, -1) : a).split('\n')
  let sourceFinal = a === '' || a.endsWith('\n')
  if (!lines[0]?.startsWith('--- ') || !lines[1]?.startsWith('+++ ')) throw new Error('no headers')
  const out: string[] = []
  let outFinal = true
  let next = 0
  let i = 2
  while (i < lines.length) {
    const m = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@$/.exec(lines[i] ?? '')
    if (m === null) throw new Error(`not a hunk header: ${lines[i]}`)
    const [aCount, bCount] = [Number(m[2] ?? 1), Number(m[4] ?? 1)]
    const aStart = aCount === 0 ? Number(m[1]) : Number(m[1]) - 1
    if (aStart < next) throw new Error('hunks overlap or go backwards')
    out.push(...source.slice(next, aStart))
    next = aStart
    let [seenA, seenB] = [0, 0]
    i++
    while (i < lines.length && !lines[i]?.startsWith('@@')) {
      const line = lines[i] as string
      const text = line.slice(1)
      const noNewline = lines[i + 1] === '\\ No newline at end of file'
      if (line[0] === ' ' || line[0] === '-') {
        if (source[next] !== text) throw new Error(`line ${next + 1} is ${JSON.stringify(source[next])}, the diff says ${JSON.stringify(text)}`)
        if (noNewline !== (next === source.length - 1 && !sourceFinal)) throw new Error(`line ${next + 1}: newline marker wrong`)
        next++
        seenA++
      }
      if (line[0] === ' ' || line[0] === '+') {
        out.push(text)
        outFinal = !noNewline
        seenB++
      }
      if (!' -+'.includes(line[0] ?? '')) throw new Error(`not a diff line: ${line}`)
      i += noNewline ? 2 : 1
    }
    if (seenA !== aCount || seenB !== bCount) throw new Error(`hunk counts ${aCount},${bCount} but holds ${seenA},${seenB}`)
  }
  if (next < source.length) {
    out.push(...source.slice(next))
    outFinal = sourceFinal
  }
  sourceFinal = outFinal
  return out.length === 0 ? '' : `${out.join('\n')}${sourceFinal ? '\n' : ''}`
}

/** The length of a longest common subsequence, the slow sure way. */
function lcsLength(a: string[], b: string[]): number {
  const row = new Array<number>(b.length + 1).fill(0)
  for (const x of a) {
    let diagonal = 0
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] as number
      row[j] = x === b[j - 1] ? diagonal + 1 : Math.max(above, row[j - 1] as number)
      diagonal = above
    }
  }
  return row[b.length] as number
}

/** patch, where the machine has it (PATCH=gpatch names another): the reader of unified diffs people use. */
const patch = (args: string[]) => spawnSync(process.env.PATCH ?? 'patch', args, { encoding: 'utf8' })
const hasPatch = patch(['--version']).status === 0

t.test('the diff of generated texts applies, is minimal, and keeps three lines of context', async (t) => {
  const text = fc.record({ lines: fc.array(fc.constantFrom('a', 'b', 'c', 'd', '', ' x'), { maxLength: 30 }), final: fc.boolean() })
  const asText = (v: { lines: string[]; final: boolean }): string => (v.lines.length === 0 ? '' : `${v.lines.join('\n')}${v.final ? '\n' : ''}`)
  const out = fc.check(
    fc.property(text, text, (av, bv) => {
      const [a, b] = [asText(av), asText(bv)]
      const diff = unifiedDiff(a, b, { from: 'a/x', to: 'b/x' })
      if ((diff === '') !== (a === b)) return false
      if (applyDiff(a, diff) !== b) return false
      const changed = diff.split('\n').filter((l) => /^[-+](?![-+]{2} )/.test(l)).length
      // Minimal: a last line without its newline is a line of its own, as it is to diff and patch.
      const keyed = (text: string): string[] => {
        if (text === '') return []
        const lines = (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n')
        return text.endsWith('\n') ? lines : [...lines.slice(0, -1), `${lines.at(-1)}\u0000`]
      }
      const [ak, bk] = [keyed(a), keyed(b)]
      if (changed !== ak.length + bk.length - 2 * lcsLength(ak, bk)) return false
      // Context: no hunk starts or ends with more than 3 unchanged lines.
      for (const hunk of diff.split(/^@@.*@@\n/m).slice(1)) {
        const body = hunk.split('\n').filter((l) => l !== '' && !l.startsWith('\\'))
        const lead = body.findIndex((l) => !l.startsWith(' '))
        const trail = body.toReversed().findIndex((l) => !l.startsWith(' '))
        if (lead > 3 || trail > 3 || lead === -1) return false
      }
      return true
    }),
    { numRuns: 1000, seed: 20_261_202 },
  )
  t.notOk(out.failed, out.counterexample === null ? 'holds' : `counterexample: ${JSON.stringify(out.counterexample)}`)
})

t.test('a known diff, byte for byte, and what patch makes of it', async (t) => {
  const words = ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen']
  const a = `${words.join('\n')}\n`
  const b = words.map((w) => (w === 'six' ? 'SIX' : w)).join('\n')
  const diff = unifiedDiff(a, b, { from: 'a/ConfigMap/x', to: 'b/ConfigMap/x' })
  // As GNU diff -u prints it: the last line lost its newline, so it changed.
  t.equal(
    diff,
    [
      '--- a/ConfigMap/x',
      '+++ b/ConfigMap/x',
      '@@ -3,7 +3,7 @@',
      ' three',
      ' four',
      ' five',
      '-six',
      '+SIX',
      ' seven',
      ' eight',
      ' nine',
      '@@ -12,4 +12,4 @@',
      ' twelve',
      ' thirteen',
      ' fourteen',
      '-fifteen',
      '+fifteen',
      '\\ No newline at end of file',
      '',
    ].join('\n'),
  )
  t.equal(applyDiff(a, diff), b)
  t.equal(unifiedDiff('', 'x\n', { from: 'a', to: 'b' }), '--- a\n+++ b\n@@ -0,0 +1 @@\n+x\n', 'an insertion into nothing starts at line 0')
  t.equal(unifiedDiff('x\n', 'x\n', { from: 'a', to: 'b' }), '', 'no change, no output')
  if (!hasPatch) return
  const dir = await tempDir(t)
  await writeFile(join(dir, 'a.txt'), a)
  await writeFile(join(dir, 'd.patch'), diff)
  const patched = patch(['-s', '-o', join(dir, 'b.txt'), join(dir, 'a.txt'), join(dir, 'd.patch')])
  t.equal(patched.status, 0, patched.stderr)
  t.equal(await readFile(join(dir, 'b.txt'), 'utf8'), b, 'patch agrees')
})

t.test('past its budget the diff is coarser, never wrong', async (t) => {
  const a = Array.from({ length: 3000 }, (_, i) => `line ${(i * 7919) % 3001}`)
  const b = a.toReversed()
  const [aText, bText] = [`${a.join('\n')}\n`, `${b.join('\n')}\n`]
  const tight = unifiedDiff(aText, bText, { from: 'a', to: 'b', budget: 10_000 })
  t.equal(applyDiff(aText, tight), bText)
  const shared = (runs: { length: number }[]): number => runs.reduce((n, r) => n + r.length, 0)
  t.ok(shared(commonRuns(a, b, 10_000)) < shared(commonRuns(a, b)), 'the budget cut the search short')
  const [head, tail] = [a.slice(0, 50), a.slice(50, 80)]
  t.equal(shared(commonRuns([...head, 'x', 'y', ...tail], [...head, 'z', ...tail], 1)), 80, 'the common head and tail are found whatever the budget')
})

async function render(args: string[], options: { stdin?: string; tty?: boolean } = {}): Promise<{ code: number; out: string; err: string }> {
  const io = captureIO(options.stdin ?? '')
  if (options.tty !== undefined) io.stdinIsTTY = options.tty
  const code = await main(['render', '--catalog', exampleCatalogDir, ...args], io)
  return { code, out: io.out, err: io.err }
}

t.test('render --diff: one diff per changed object, which turns the input into render’s output', async (t) => {
  const build = await readFile(join(root, 'examples/taskruns/build.yaml'), 'utf8')
  const configMap = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: untouched}\ndata: {a: "1"}\n'
  const input = `${build}---\n${configMap}`
  const diff = await render(['--diff'], { stdin: input })
  t.equal(diff.code, 0, diff.err)
  t.equal(diff.err, '')
  t.same(
    diff.out.split('\n').filter((l) => /^(---|\+\+\+) /.test(l)),
    ['--- a/TaskRun/build-', '+++ b/TaskRun/build-'],
    'the TaskRun only: the ConfigMap is unchanged',
  )
  t.match(diff.out, /^-\s+ref:$/m, 'the ref goes')
  t.match(diff.out, /^\+\s+image: golang:1\.25$/m, 'the definition comes in')
  const plain = await render([], { stdin: build })
  const before = formatDocuments(parseDocuments(build, 'build.yaml').documents, 'yaml')
  t.equal(applyDiff(before, diff.out), plain.out, 'the diff applied to the input as YAML is render’s output')

  if (hasPatch) {
    const dir = await tempDir(t)
    await writeFile(join(dir, 'in.yaml'), before)
    await writeFile(join(dir, 'd.patch'), diff.out)
    const patched = patch(['-s', '-o', join(dir, 'out.yaml'), join(dir, 'in.yaml'), join(dir, 'd.patch')])
    t.equal(patched.status, 0, patched.stderr)
    t.equal(await readFile(join(dir, 'out.yaml'), 'utf8'), plain.out, 'and so does patch')
  }

  const json = await render(['--diff', '-o', 'json'], { stdin: build })
  const jsonBefore = formatDocuments(parseDocuments(build, 'build.yaml').documents, 'json')
  t.equal(applyDiff(jsonBefore, json.out), (await render(['-o', 'json'], { stdin: build })).out, '-o json diffs the JSON')

  const list = { apiVersion: 'v1', kind: 'List', items: [parseDocuments(configMap, 'x').documents[0], parseDocuments(build, 'x').documents[0]] }
  const listed = await render(['--diff'], { stdin: JSON.stringify(list) })
  t.equal(listed.code, 0, listed.err)
  t.match(listed.out, /^--- a\/TaskRun\/build-\n\+\+\+ b\/TaskRun\/build-\n@@ /, 'a List’s items each, as objects of their own')

  const unchanged = await render(['--diff'], { stdin: configMap })
  t.same([unchanged.code, unchanged.out, unchanged.err], [0, '', ''], 'nothing changed, nothing printed')

  const broken = await render(['--diff', '--require-resolution', 'local'], { stdin: build.replace('name: go-build', 'name: go-bild') })
  t.equal(broken.code, 1)
  t.equal(broken.out, '', 'errors print no diff')
  t.match(broken.err, /error: TaskRun default\/build-\*: spec\.taskSpec\.steps\[1\]\.ref: .*"go-bild" not found/)
})

t.test('render on a terminal says it reads stdin; otherwise it says nothing', async (t) => {
  const notice = 'stepsplice render: reading objects from stdin (end with Ctrl-D; -f FILE reads a file)\n'
  const cm = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n'
  const tty = await render([], { stdin: cm, tty: true })
  t.equal(tty.code, 0)
  t.equal(tty.err, notice)
  t.equal(tty.out, cm, 'the notice is on stderr only')
  t.equal((await render([], { stdin: cm, tty: false })).err, '', 'a pipe')
  t.equal((await render(['-f', '-'], { stdin: cm, tty: true })).err, '', '-f - says where the input comes from already')
})
