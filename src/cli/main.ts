// Command dispatch. Each command returns its exit status; only this file
// turns usage mistakes into exit 2.

import { type CliIO, processIO, UsageError } from './io.ts'
import { renderHelp, runRender } from './render.ts'
import { runServe, serveHelp } from './serve.ts'

export const mainHelp = `stepsplice: reusable steps (Tekton StepActions) spliced into TaskRuns,
PipelineRuns and Pods at admission.

Usage: stepsplice <command> [options]

Commands:
  render   expand step references offline, exactly as admission would
  serve    run the admission webhook (HTTPS)

Run "stepsplice <command> --help" for a command's options.
`

export async function main(argv: string[], io: CliIO): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'render':
        return await runRender(rest, io)
      case 'serve':
        return await runServe(rest, io)
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.stdout(command === undefined ? '' : mainHelp)
        if (command === undefined) io.stderr(mainHelp)
        return command === undefined ? 2 : 0
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`)
    }
  } catch (err) {
    // parseArgs reports unknown or malformed options with these codes.
    const code = (err as { code?: string }).code ?? ''
    if (err instanceof UsageError || code.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`error: ${(err as Error).message}\n`)
      if (command === 'render') io.stderr(`\n${renderHelp}`)
      if (command === 'serve') io.stderr(`\n${serveHelp}`)
      return 2
    }
    throw err
  }
}

if (import.meta.main) {
  // Exit explicitly: after a forced shutdown, stuck connections would keep the process alive.
  process.exit(await main(process.argv.slice(2), processIO()))
}
