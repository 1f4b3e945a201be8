// Whether a JSON text names one key twice in an object. JSON.parse keeps the
// last silently; YAML (with uniqueKeys) refuses the text. A reader that takes
// the fast JSON path for text YAML would read asks this first, so both paths
// agree. One pass over text JSON.parse has already accepted: only strings,
// braces, brackets and colons matter, and a key is compared as decoded
// (`"a"` and `"\u0061"` are one key).

/** `text` must be valid JSON (JSON.parse accepted it). */
export function hasDuplicateKeys(text: string): boolean {
  // One entry per open container: the keys of an object, or undefined for an array.
  const stack: (Set<string> | undefined)[] = []
  let i = 0
  while (i < text.length) {
    const c = text.charCodeAt(i)
    if (c === 0x7b /* { */) {
      stack.push(new Set())
      i++
    } else if (c === 0x5b /* [ */) {
      stack.push(undefined)
      i++
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop()
      i++
    } else if (c === 0x22 /* " */) {
      let j = i + 1
      let escaped = false
      while (j < text.length) {
        const d = text.charCodeAt(j)
        if (d === 0x5c /* \ */) {
          escaped = true
          j += 2
          continue
        }
        if (d === 0x22) break
        j++
      }
      const token = text.slice(i, j + 1)
      i = j + 1
      // A key is a string followed by a colon, in an object.
      let k = i
      while (k < text.length && (text[k] === ' ' || text[k] === '\n' || text[k] === '\r' || text[k] === '\t')) k++
      const keys = stack.at(-1)
      if (text[k] !== ':' || keys === undefined) continue
      const key = escaped ? (JSON.parse(token) as string) : token.slice(1, -1)
      if (keys.has(key)) return true
      keys.add(key)
    } else i++
  }
  return false
}
