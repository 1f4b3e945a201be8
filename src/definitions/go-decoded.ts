// A StepAction as Tekton reads it: through Go's JSON decoding into its types,
// where `null` is no value. A field written `description:` or `script:` with
// nothing after it (YAML's null) is left at its zero value, as if absent; a
// null element of a list of strings is ""; a null in a map is its zero value
// ("" in labels and an object default, {} in properties). Tekton accepts such
// a StepAction, from a resolver or applied to the cluster, so stepsplice reads
// it the same way instead of refusing `spec.script: must be string`.

/** Where a null is an element or entry of this kind rather than a field to leave out. */
type Zero = '' | 'object'

/** What a null inside the list or map at `path` becomes (paths joined with `.`, list items as `[]`). */
function zeroAt(path: string, inList: boolean, parent: unknown): Zero | undefined {
  if (inList) {
    if (
      path === 'spec.command' ||
      path === 'spec.args' ||
      path === 'spec.params.[].enum' ||
      path === 'spec.params.[].default' ||
      path.endsWith('.capabilities.add') ||
      path.endsWith('.capabilities.drop')
    )
      return ''
    return 'object'
  }
  if (path === 'metadata.labels' || path === 'metadata.annotations') return ''
  if (path === 'spec.params.[].properties' || path === 'spec.results.[].properties') return 'object'
  // An object default is a map of strings; a list default was handled above.
  if (path === 'spec.params.[].default' && typeof parent === 'object' && parent !== null && !Array.isArray(parent)) return ''
  return undefined
}

function holdsNull(value: unknown): boolean {
  if (value === null) return true
  if (typeof value !== 'object') return false
  for (const child of Array.isArray(value) ? value : Object.values(value)) if (holdsNull(child)) return true
  return false
}

function decode(value: unknown, path: string): unknown {
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) {
    const zero = zeroAt(path, true, value)
    const itemPath = `${path}.[]`
    return value.map((item) => (item === null ? (zero === '' ? '' : {}) : decode(item, itemPath)))
  }
  const zero = zeroAt(path, false, value)
  const out: Record<string, unknown> = {}
  for (const [key, child] of Object.entries(value)) {
    if (child === null) {
      // A struct's field: no value. A map's entry: the entry, at its zero value.
      if (zero !== undefined) Object.defineProperty(out, key, { value: zero === '' ? '' : {}, enumerable: true, writable: true, configurable: true })
      continue
    }
    Object.defineProperty(out, key, { value: decode(child, path === '' ? key : `${path}.${key}`), enumerable: true, writable: true, configurable: true })
  }
  return out
}

/**
 * The document as Tekton's Go types decode it: itself when it holds no
 * null (most do), else a copy with each null resolved. Called after the
 * document's depth was checked (limits/measure.ts), so recursion is bounded.
 */
export function decodedAsTekton<T>(doc: T): T {
  return holdsNull(doc) ? (decode(doc, '') as T) : doc
}
