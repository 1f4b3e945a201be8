// Glob patterns of step policies: `*` matches any text within one path
// segment (never `/`), `**` any text across segments (`/` included), and
// every other character only itself. Patterns are written by users, so they
// are never turned into a backtracking regular expression: the matcher below
// simulates the pattern's automaton over the text in one pass, in time
// proportional to text length × pattern length whatever the pattern.

const tokenKind = { literal: 0, star: 1, globstar: 2 } as const

interface Token {
  kind: 0 | 1 | 2
  char: string
}

/** Why `pattern` is not a valid glob, or undefined when it is. */
export function globError(pattern: string): string | undefined {
  if (pattern === '') return 'an empty pattern'
  if (pattern.includes('\0')) return 'a pattern must not contain a NUL character'
  if (/\s/u.test(pattern)) return 'a pattern must not contain whitespace'
  return undefined
}

function tokens(pattern: string): Token[] {
  const out: Token[] = []
  const chars = [...pattern]
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string
    if (c !== '*') {
      out.push({ kind: tokenKind.literal, char: c })
      continue
    }
    // A run of two or more stars is one `**`.
    let j = i
    while (chars[j + 1] === '*') j++
    out.push({ kind: j > i ? tokenKind.globstar : tokenKind.star, char: '*' })
    i = j
  }
  return out
}

/** A matcher for the whole of a text; throws on a pattern globError refuses. */
export function compileGlob(pattern: string): (text: string) => boolean {
  const error = globError(pattern)
  if (error !== undefined) throw new Error(`invalid pattern ${JSON.stringify(pattern)}: ${error}`)
  const toks = tokens(pattern)
  if (toks.every((t) => t.kind === tokenKind.literal)) return (text) => text === pattern
  const m = toks.length
  return (text: string): boolean => {
    // State i: the first i tokens have matched the text read so far. A star matches
    // the empty text, so a state at a star also stands at the token after it.
    let current = new Uint8Array(m + 1)
    let next = new Uint8Array(m + 1)
    const close = (set: Uint8Array): boolean => {
      let any = false
      for (let i = 0; i <= m; i++) {
        if (set[i] === 0) continue
        any = true
        if (i < m && (toks[i] as Token).kind !== tokenKind.literal) set[i + 1] = 1
      }
      return any
    }
    current[0] = 1
    close(current)
    for (const c of text) {
      next.fill(0)
      for (let i = 0; i < m; i++) {
        if (current[i] === 0) continue
        const t = toks[i] as Token
        if (t.kind === tokenKind.literal) {
          if (t.char === c) next[i + 1] = 1
        } else if (t.kind === tokenKind.globstar || c !== '/') next[i] = 1
      }
      if (!close(next)) return false
      ;[current, next] = [next, current]
    }
    return current[m] === 1
  }
}
