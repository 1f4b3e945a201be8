// The CLI talks to the world through this, so tests run commands in-process
// with captured output and the real binary wires it to the process.

export interface CliIO {
  stdout(text: string): void
  stderr(text: string): void
  readStdin(): Promise<string>
}

/** A mistake in how the command was called, or input it cannot read: exit 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}

export function processIO(): CliIO {
  return {
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
    readStdin: async () => {
      const chunks: Buffer[] = []
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
      return Buffer.concat(chunks).toString('utf8')
    },
  }
}
