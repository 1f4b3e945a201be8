// The CLI talks to the world through this, so tests run commands in-process
// with captured output and the real binary wires it to the process.

export interface CliIO {
  stdout(text: string): void
  stderr(text: string): void
  readStdin(): Promise<string>
  /** Whether stdin is a terminal, where nobody may know we are waiting for input (unset: not a terminal). */
  stdinIsTTY?: boolean
}

/** A command as main.ts dispatches it: what runs it, and its help (where a misspelt flag's guesses come from). */
export interface CommandModule {
  run: (argv: string[], io: CliIO) => Promise<number>
  help: string
}

/** A mistake in how the command was called (a flag, its value, an argument): one line, a pointer to --help, exit 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** Input the command cannot read (a file named on its command line, YAML that does not parse): one line, exit 2. */
export class InputError extends Error {
  override name = 'InputError'
}

/** A failure while running that is no mistake in the command line (a port in use, an unreadable certificate): one line, exit 1. */
export class RuntimeError extends Error {
  override name = 'RuntimeError'
}

/** What the usual file system errors mean, in the words `ls` would use. */
const fsWords: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long',
}

/**
 * Why a file could not be read, as a short phrase: "no such file or
 * directory", not the code alone, nor Node's "ENOENT: no such file or
 * directory, realpath '/x'", which repeats the path and names a syscall.
 * Anything else keeps its own message.
 */
export function fsReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  const words = code === undefined ? undefined : fsWords[code]
  if (words !== undefined) return words
  if (err instanceof Error) return code === undefined || err.message.includes(code) ? err.message : `${code}: ${err.message}`
  return String(err)
}

/** The path a file system error is about, when it names one. */
export function fsPath(err: unknown): string | undefined {
  const path = (err as NodeJS.ErrnoException | undefined)?.path
  return typeof path === 'string' ? path : undefined
}

/** The process's own streams, which can say when what was written has left. */
export interface ProcessIO extends CliIO {
  /**
   * Resolves once everything written so far has reached the OS: a pipe takes
   * 64 KiB at once and the rest only as its reader reads, so exiting earlier
   * cuts the output short. Resolves with the first write error, if any.
   */
  written(): Promise<Error | undefined>
}

interface Writer {
  write(text: string): void
  written(): Promise<Error | undefined>
}

function writerTo(stream: NodeJS.WriteStream): Writer {
  let failure: Error | undefined
  let last: Promise<void> = Promise.resolve()
  // A reader that goes away (EPIPE) fails the pending writes; unheard, the error would crash the process.
  stream.on('error', (err) => {
    failure ??= err
  })
  return {
    write(text) {
      // Writes finish in order, so the last one's callback covers all before it.
      last = new Promise((resolve) =>
        stream.write(text, (err) => {
          if (err) failure ??= err
          resolve()
        }),
      )
    },
    written: () => last.then(() => failure),
  }
}

export function processIO(): ProcessIO {
  const out = writerTo(process.stdout)
  const err = writerTo(process.stderr)
  return {
    stdout: (t) => out.write(t),
    stderr: (t) => err.write(t),
    written: async () => (await out.written()) ?? (await err.written()),
    stdinIsTTY: process.stdin.isTTY === true,
    readStdin: async () => {
      const chunks: Buffer[] = []
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
      return Buffer.concat(chunks).toString('utf8')
    },
  }
}
