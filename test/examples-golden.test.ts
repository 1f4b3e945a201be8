// The bytes users see, pinned: `render` of every example (YAML and JSON; the
// TaskGroup examples with examples/tasks as a second catalog) and
// the webhook's answer to every example AdmissionReview, compared with files
// in test/golden. A refactor that changes any byte fails here; a change that
// means to change output regenerates them with STEPSPLICE_UPDATE_GOLDEN=1 and
// shows the difference in review.

import { readdir, readFile, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import t from 'tap'
import { main } from '../src/cli/main.ts'
import { captureIO } from './helpers/cli.ts'
import { decodePatch, root, startTestServer, type TapTest } from './helpers/server.ts'

const goldenDir = join(root, 'test/golden')
const update = process.env.STEPSPLICE_UPDATE_GOLDEN === '1'

async function checkGolden(t: TapTest, name: string, actual: string): Promise<void> {
  const file = join(goldenDir, name)
  if (update) await writeFile(file, actual)
  const expected = await readFile(file, 'utf8').catch(() => undefined)
  t.ok(expected !== undefined, `${name} exists (STEPSPLICE_UPDATE_GOLDEN=1 writes it)`)
  t.equal(actual, expected, `${name} is byte-identical`)
}

async function filesIn(dir: string): Promise<string[]> {
  return (await readdir(join(root, dir)))
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .sort()
    .map((f) => `${dir}/${f}`)
}

const renderInputs = [
  ...(await filesIn('examples/taskruns')),
  ...(await filesIn('examples/pods')),
  ...(await filesIn('examples/taskgroups')),
  'examples/tasks/clone-and-build.yaml',
  'test/golden/inputs/broken.yaml',
]

t.test('render of every example', async (t) => {
  for (const file of renderInputs) {
    for (const output of ['yaml', 'json']) {
      const io = captureIO()
      const code = await main(['render', '--catalog', 'examples/stepactions', '--catalog', 'examples/tasks', '-f', file, '-o', output], io)
      await checkGolden(t, `render/${basename(file)}.${output}.out`, `exit ${code}\n--- stdout\n${io.out}--- stderr\n${io.err}`)
    }
  }
})

t.test('/mutate of every example review', async (t) => {
  const server = await startTestServer(t)
  for (const file of await filesIn('examples/admission')) {
    const review: unknown = JSON.parse(await readFile(join(root, file), 'utf8'))
    const reply = await server.review('/mutate', review)
    const { patch, ...response } = reply.body.response
    const shown = { status: reply.status, response, patch: patch === undefined ? undefined : decodePatch(patch) }
    await checkGolden(t, `mutate/${basename(file)}`, `${JSON.stringify(shown, null, 2)}\n`)
  }
})
