// Command dispatch. Each command returns its exit status; only this file
// turns usage mistakes into exit 2.

import { type CliIO, processIO, UsageError } from './io.ts'
import { pinHelp, runPin } from './pin.ts'
import { renderHelp, runRender } from './render.ts'
import { runServe, serveHelp } from './serve.ts'

export const mainHelp = `stepsplice: reusable steps (Tekton StepActions) spliced into TaskRuns,
PipelineRuns and Pods at admission.

Usage: stepsplice <command> [options]

Commands:
  render   expand step references offline, exactly as admission would
  pin      rewrite git, http and bundle references to commits and digests
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
      case 'pin':
        return await runPin(rest, io)
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
      if (command === 'pin') io.stderr(`\n${pinHelp}`)
      return 2
    }
    throw err
  }
}

/**
 * The command as the process: its exit status once stdout and stderr have
 * taken everything it wrote. Exiting explicitly, because after a forced
 * shutdown stuck connections would keep the process alive; but only then,
 * because exit drops what a pipe has not yet taken.
 */
export async function runProcess(argv: string[]): Promise<never> {
  const io = processIO()
  let code: number
  try {
    code = await main(argv, io)
  } catch (err) {
    io.stderr(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    code = 1
  }
  const failure = await io.written()
  if (failure !== undefined && code === 0) {
    // Best effort: when stderr is the stream that failed, the status still says it.
    io.stderr(`error: output was cut short: ${failure.message}\n`)
    await io.written()
    code = 1
  }
  process.exit(code)
}

if (import.meta.main) await runProcess(process.argv.slice(2))
