// Scripts and the stepsplice-prepare init container: the exact file each
// script becomes (Tekton's `#!/bin/sh\nset -e\n` preamble when there is no
// shebang), and the prepare program itself, run with /bin/sh in a temp dir
// standing in for the /stepsplice volumes.

import { execFile } from 'node:child_process'
import { mkdir, readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import type { Container, KubeObject } from '../src/types/k8s.ts'
import { stepAction } from './helpers/catalog.ts'
import { catalogWith, containerNamed, decodedScripts, initNames, lines, podWith, splice, volumesOf } from './helpers/pod.ts'
import { tempDir, type TapTest } from './helpers/server.ts'

const run = promisify(execFile)

const plainScript = 'echo "hello $1"\nprintf \'%s\\n\' "$@"\n'
const bangScript = '#!/bin/sh\necho "bang $*"\n'
const trickyScript = "printf '%s %d\\n' \"$(whoami)\" `echo 1` 'it'\\''s' \"é ✓\" \\\\ $HOME ${PATH:+set}\nexit 0\n"

const actionsForScripts = [
  stepAction('plain', { image: 'busybox:1.37', params: [{ name: 'who', default: 'world' }], script: plainScript, args: ['$(params.who)', 'b c'] }),
  stepAction('bang', { image: 'busybox:1.37', script: bangScript }),
  stepAction('indented', { image: 'busybox:1.37', script: '\n  \n#!/bin/sh\necho indented\n' }),
  stepAction('tricky', { image: 'busybox:1.37', script: trickyScript }),
  stepAction('results-only', { image: 'busybox:1.37', results: [{ name: 'a' }, { name: 'b' }], command: ['touch'], args: ['$(step.results.a.path)'] }),
]
const catalog = catalogWith(...actionsForScripts)

async function spliced(pod: KubeObject): Promise<KubeObject> {
  const e = await splice(pod, catalog)
  if (e.problems.length > 0) throw new Error(lines(e).join('\n'))
  return e.object
}

const allSteps = [
  { name: 'say-hi', ref: { name: 'plain' }, params: [{ name: 'who', value: 'pod' }] },
  { name: 'bang', ref: { name: 'bang' } },
  { name: 'indented', ref: { name: 'indented' } },
  { name: 'tricky', ref: { name: 'tricky' } },
  { name: 'res', ref: { name: 'results-only' } },
  { name: 'w', ref: { name: 'writer' }, params: [{ name: 'value', value: 'v' }] },
]

t.test('script files: the preamble without a shebang, the script as written with one', async (t) => {
  const out = await spliced(podWith(allSteps))
  const prepare = containerNamed(out, 'stepsplice-prepare')
  t.same(Object.keys(decodedScripts(prepare)), [
    'STEPSPLICE_SCRIPT_SAY_HI',
    'STEPSPLICE_SCRIPT_BANG',
    'STEPSPLICE_SCRIPT_INDENTED',
    'STEPSPLICE_SCRIPT_TRICKY',
    'STEPSPLICE_SCRIPT_W',
  ])
  const scripts = decodedScripts(prepare)
  t.equal(scripts.STEPSPLICE_SCRIPT_SAY_HI, `#!/bin/sh\nset -e\n${plainScript}`)
  t.equal(scripts.STEPSPLICE_SCRIPT_BANG, bangScript)
  t.equal(scripts.STEPSPLICE_SCRIPT_INDENTED, '#!/bin/sh\necho indented\n', 'blank lines before the shebang dropped, so the kernel sees it')
  t.equal(scripts.STEPSPLICE_SCRIPT_TRICKY, `#!/bin/sh\nset -e\n${trickyScript}`, 'quotes, $, backticks and UTF-8 byte for byte')
  t.equal(scripts.STEPSPLICE_SCRIPT_W, '#!/bin/sh\nset -e\nprintf %s "$V" > /stepsplice/results/w/out\n')
  for (const e of prepare.env ?? []) t.match(e.value, /^[A-Za-z0-9+/]*={0,2}$/, `${e.name} is plain base64: nothing for the kubelet to expand`)
})

t.test('a script step runs its file, with the args appended', async (t) => {
  const out = await spliced(podWith(allSteps))
  const hi = containerNamed(out, 'step-say-hi')
  t.same(hi.command, ['/stepsplice/scripts/say-hi'])
  t.same(hi.args, ['pod', 'b c'])
  t.same(hi.volumeMounts?.[0], { name: 'stepsplice-scripts', mountPath: '/stepsplice/scripts', readOnly: true }, 'scripts read-only in the step')
  const bang = containerNamed(out, 'step-bang')
  t.same(bang.command, ['/stepsplice/scripts/bang'])
  t.notOk('args' in bang, 'no empty args')
  const res = containerNamed(out, 'step-res')
  t.same(res.command, ['touch'], 'a step without a script keeps its command')
  t.notOk(
    res.volumeMounts?.some((m) => m.name === 'stepsplice-scripts'),
    'and mounts no scripts',
  )
})

t.test('the prepare container: first, a constant program, items and mounts', async (t) => {
  const out = await spliced(podWith(allSteps, { spec: { initContainers: [{ name: 'own', image: 'x' }], containers: [{ name: 'main', image: 'x' }] } }))
  t.same(initNames(out), ['own', 'stepsplice-prepare', 'step-say-hi', 'step-bang', 'step-indented', 'step-tricky', 'step-res', 'step-w'])
  const prepare = containerNamed(out, 'stepsplice-prepare')
  t.equal(prepare.image, 'busybox:1.37.0')
  t.same(prepare.command?.slice(0, 2), ['sh', '-c'])
  t.same(prepare.command?.slice(3), [
    'stepsplice-prepare',
    'results=res',
    'results=w',
    'script=say-hi=STEPSPLICE_SCRIPT_SAY_HI',
    'script=bang=STEPSPLICE_SCRIPT_BANG',
    'script=indented=STEPSPLICE_SCRIPT_INDENTED',
    'script=tricky=STEPSPLICE_SCRIPT_TRICKY',
    'script=w=STEPSPLICE_SCRIPT_W',
  ])
  t.same(prepare.volumeMounts, [
    { name: 'stepsplice-scripts', mountPath: '/stepsplice/scripts' },
    { name: 'stepsplice-results', mountPath: '/stepsplice/results' },
  ])
  t.notOk('args' in prepare)
  t.same(
    prepare.securityContext,
    { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } },
    'fits the restricted Pod Security level',
  )
  t.same(volumesOf(out), [
    { name: 'stepsplice-workspace', emptyDir: {} },
    { name: 'stepsplice-results', emptyDir: {} },
    { name: 'stepsplice-scripts', emptyDir: {} },
  ])

  const other = await spliced(podWith([{ name: 'x', ref: { name: 'tricky' } }]))
  const program = prepare.command?.[2] ?? ''
  t.equal(containerNamed(other, 'stepsplice-prepare').command?.[2], program, 'the program is the same for every Pod')
  t.notMatch(program, /hello|bang|indented|whoami/, 'no script text in the program')
})

t.test('results without scripts: the prepare container only makes directories', async (t) => {
  const out = await spliced(podWith([{ name: 'res', ref: { name: 'results-only' } }]))
  const prepare = containerNamed(out, 'stepsplice-prepare')
  t.notOk('env' in prepare, 'no env')
  t.same(prepare.command?.slice(3), ['stepsplice-prepare', 'results=res'])
  t.same(prepare.volumeMounts, [{ name: 'stepsplice-results', mountPath: '/stepsplice/results' }])
  t.same(
    volumesOf(out).map((v) => v.name),
    ['stepsplice-workspace', 'stepsplice-results'],
    'no scripts volume',
  )
  t.same(containerNamed(out, 'step-res').args, ['/stepsplice/results/res/a'])
})

t.test('no scripts and no results: no prepare container', async (t) => {
  const out = await spliced(podWith([{ name: 'hi', ref: { name: 'echo' } }]))
  t.same(initNames(out), ['step-hi'])
  t.notMatch(JSON.stringify(out), /stepsplice-scripts|stepsplice-prepare/)
})

/**
 * Runs the prepare container's program with /bin/sh, its /stepsplice paths
 * moved under `root`, where the volumes it mounts exist as empty directories.
 */
async function runPrepare(t: TapTest, prepare: Container, root: string): Promise<{ stdout: string; stderr: string }> {
  const command = prepare.command ?? []
  t.equal(command[0], 'sh')
  const program = (command[2] ?? '').replaceAll('/stepsplice/', `${root}/`)
  t.notMatch(program, /\/stepsplice\//, 'every /stepsplice path moved')
  for (const m of prepare.volumeMounts ?? []) await mkdir(m.mountPath.replace(/^\/stepsplice\//, `${root}/`), { recursive: true })
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' }
  for (const e of prepare.env ?? []) env[e.name] = e.value ?? ''
  return run('/bin/sh', ['-c', program, ...command.slice(3)], { env, cwd: root })
}

t.test('the prepare program, run: script files with their content and mode, result directories', async (t) => {
  const out = await spliced(podWith(allSteps))
  const prepare = containerNamed(out, 'stepsplice-prepare')
  const root = await tempDir(t, 'stepsplice-prepare-')
  const { stdout, stderr } = await runPrepare(t, prepare, root)
  t.equal(stdout, '')
  t.equal(stderr, '')

  const expected = decodedScripts(prepare)
  const files = (await readdir(join(root, 'scripts'))).sort()
  t.same(files, ['bang', 'indented', 'say-hi', 'tricky', 'w'], 'one file per script step')
  for (const [step, variable] of [
    ['say-hi', 'STEPSPLICE_SCRIPT_SAY_HI'],
    ['bang', 'STEPSPLICE_SCRIPT_BANG'],
    ['indented', 'STEPSPLICE_SCRIPT_INDENTED'],
    ['tricky', 'STEPSPLICE_SCRIPT_TRICKY'],
    ['w', 'STEPSPLICE_SCRIPT_W'],
  ] as const) {
    const file = join(root, 'scripts', step)
    t.equal(await readFile(file, 'utf8'), expected[variable], `${step}: content`)
    t.equal((await stat(file)).mode & 0o777, 0o755, `${step}: mode 0755`)
  }
  t.equal(await readFile(join(root, 'scripts', 'say-hi'), 'utf8'), `#!/bin/sh\nset -e\n${plainScript}`)

  t.same((await readdir(join(root, 'results'))).sort(), ['res', 'w'], 'one directory per step with results')
  for (const step of ['res', 'w']) {
    const s = await stat(join(root, 'results', step))
    t.ok(s.isDirectory(), `${step}: a directory`)
    t.equal(s.mode & 0o777, 0o777, `${step}: mode 0777, for steps running as any user`)
    t.same(await readdir(join(root, 'results', step)), [], `${step}: empty`)
  }

  // The files run as the step container would run them: command, then args.
  const hi = containerNamed(out, 'step-say-hi')
  const ran = await run(join(root, 'scripts', 'say-hi'), hi.args ?? [])
  t.equal(ran.stdout, 'hello pod\npod\nb c\n')
  t.equal((await run(join(root, 'scripts', 'bang'), ['x', 'y'])).stdout, 'bang x y\n')
  t.equal((await run(join(root, 'scripts', 'indented'))).stdout, 'indented\n')
})

t.test('the prepare program with results only, and with a step name full of dashes', async (t) => {
  const out = await spliced(
    podWith([
      { name: 'res', ref: { name: 'results-only' } },
      { name: 'a-b-c-1', ref: { name: 'bang' } },
    ]),
  )
  const prepare = containerNamed(out, 'stepsplice-prepare')
  t.same(
    prepare.env?.map((e) => e.name),
    ['STEPSPLICE_SCRIPT_A_B_C_1'],
  )
  const root = await tempDir(t, 'stepsplice-prepare-')
  await runPrepare(t, prepare, root)
  t.same(await readdir(join(root, 'scripts')), ['a-b-c-1'])
  t.equal(await readFile(join(root, 'scripts', 'a-b-c-1'), 'utf8'), bangScript)
  t.same(await readdir(join(root, 'results')), ['res'])
})

t.test('the prepare program fails loudly when a script cannot be written', async (t) => {
  const out = await spliced(podWith([{ name: 'bang', ref: { name: 'bang' } }]))
  const prepare = containerNamed(out, 'stepsplice-prepare')
  const root = await tempDir(t, 'stepsplice-prepare-')
  // No scripts directory: the volume is missing, as if the mount failed.
  const program = (prepare.command?.[2] ?? '').replaceAll('/stepsplice/', `${root}/`)
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...Object.fromEntries((prepare.env ?? []).map((e) => [e.name, e.value ?? ''])) }
  await t.rejects(run('/bin/sh', ['-c', program, ...(prepare.command ?? []).slice(3)], { env }), 'non-zero exit: set -e stops the Pod before the steps')
})
