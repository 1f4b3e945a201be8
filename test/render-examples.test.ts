import t from 'tap'
import { main } from '../src/cli/main.ts'
import { captureIO as capture } from './helpers/cli.ts'

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
