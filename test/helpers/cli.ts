// Runs CLI commands in-process with captured output.

import type { CliIO } from '../../src/cli/io.ts'

export interface Captured extends CliIO {
  out: string
  err: string
}

export function captureIO(stdin = ''): Captured {
  const io: Captured = {
    out: '',
    err: '',
    stdout(s: string) {
      io.out += s
    },
    stderr(s: string) {
      io.err += s
    },
    readStdin: async () => stdin,
  }
  return io
}
