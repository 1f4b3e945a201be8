import t from 'tap'
import { main } from '../src/cli/main.ts'
import type { CliIO } from '../src/cli/io.ts'

function capture(stdin = ''): CliIO & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    stdout(s: string) { io.out += s },
    stderr(s: string) { io.err += s },
    readStdin: async () => stdin,
  }
  return io
}

t.test('every example renders without errors', async (t) => {
  for (const file of ['examples/taskruns/build.yaml', 'examples/taskruns/image-pipeline.yaml']) {
    const io = capture()
    const code = await main(['render', '--catalog', 'examples/stepactions', '-f', file], io)
    t.equal(code, 0, `${file} exit code`)
    t.equal(io.err, '', `${file} stderr`)
    t.match(io.out, /stepsplice\.dev\/resolved/, `${file} has provenance`)
    t.notMatch(io.out, /\bref:/, `${file} has no step refs left`)
  }
})
