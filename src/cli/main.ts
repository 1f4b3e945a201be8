// Command dispatch. Each command returns its exit status; only this file
// turns errors into one line and a status: a mistake in the command line
// (UsageError) is exit 2 with a pointer to the command's --help, input it
// cannot read (InputError) exit 2, a failure to run (RuntimeError) exit 1.

import { type CliIO, type CommandModule, InputError, processIO, RuntimeError, UsageError } from './io.ts'
import { packageVersion } from './version.ts'
import { nearestNames } from '../problems/nearest.ts'

export const mainHelp = `stepsplice: reusable steps (Tekton StepActions) spliced into TaskRuns,
PipelineRuns and Pods at admission.

Usage: stepsplice <command> [options]

Commands:
  render   expand step references offline, exactly as admission would
  lint     check a catalog: its StepActions, and the Tasks and Pipelines
           whose steps reference them
  pin      rewrite git, http and bundle references to commits and digests
  serve    run the admission webhook (HTTPS)

Options:
  -h, --help     show this help
  --version      print stepsplice's version

Run "stepsplice <command> --help" for a command's options.
`

/** Each command loads only its own modules: `render` never loads the server (fastify, metrics, workers). */
const commands: Record<string, () => Promise<CommandModule>> = {
  render: async () => (await import('./render.ts')).command,
  lint: async () => (await import('./lint.ts')).command,
  pin: async () => (await import('./pin.ts')).command,
  serve: async () => (await import('./serve.ts')).command,
}

/**
 * parseArgs' own wording, in ours: "unknown flag --ctalog; did you mean
 * --catalog?" rather than "Unknown option '--ctalog'". The flags are those
 * the command's help lists.
 */
async function usageMessage(err: Error & { code?: string }, load: (() => Promise<CommandModule>) | undefined): Promise<string> {
  const unknown = err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /^Unknown option '(.*?)'(?:\. To specify|$)/s.exec(err.message)?.[1] : undefined
  if (unknown === undefined) return err.message
  const help = load === undefined ? '' : (await load()).help
  const flags = [...new Set([...help.matchAll(/(?<![\w-])--[a-z][a-z-]*/g)].map((m) => m[0]))]
  const near = unknown.startsWith('--') ? nearestNames(unknown, flags) : []
  return `unknown flag ${unknown}${near.length === 0 ? '' : `; did you mean ${near.join(' or ')}?`}`
}

export async function main(argv: string[], io: CliIO): Promise<number> {
  const [command, ...rest] = argv
  const load = command !== undefined && Object.hasOwn(commands, command) ? commands[command] : undefined
  try {
    if (load !== undefined) return await (await load()).run(rest, io)
    switch (command) {
      case undefined:
        io.stderr(mainHelp)
        return 2
      case '-h':
      case '--help':
      case 'help':
        io.stdout(mainHelp)
        return 0
      case '--version':
        io.stdout(`${packageVersion}\n`)
        return 0
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`)
    }
  } catch (err) {
    // parseArgs reports unknown or malformed options with these codes.
    const code = (err as { code?: string }).code ?? ''
    if (err instanceof UsageError || code.startsWith('ERR_PARSE_ARGS')) {
      const message = await usageMessage(err as Error & { code?: string }, load)
      io.stderr(`error: ${message}\nRun 'stepsplice ${load === undefined ? '' : `${command} `}--help' for usage.\n`)
      return 2
    }
    if (err instanceof InputError) {
      io.stderr(`error: ${err.message}\n`)
      return 2
    }
    if (err instanceof RuntimeError) {
      io.stderr(`error: ${err.message}\n`)
      return 1
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
