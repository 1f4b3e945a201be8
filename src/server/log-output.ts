// The server's log output: lines written in one turn of the event loop go
// out in one write. Under load a turn admits several requests, each logging a
// line, and a system call per line was a tenth of a pass-through admission's
// cost; when idle a line still goes out at once, on the next turn, so nobody
// waits for a log line. What is pending when the process exits is written
// then, synchronously.

interface Output {
  write(text: string): unknown
}

export class BatchedOutput {
  readonly #out: Output
  #pending: string[] = []
  #scheduled = false

  constructor(out: Output) {
    this.#out = out
    process.once('exit', () => this.flush())
  }

  write(line: string): void {
    this.#pending.push(line)
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(() => this.flush())
  }

  flush(): void {
    this.#scheduled = false
    if (this.#pending.length === 0) return
    const text = this.#pending.join('')
    this.#pending = []
    this.#out.write(text)
  }
}
