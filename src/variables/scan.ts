// Tekton's variable-reference grammar, as its validation and substitution code
// reads it (pkg/substitution). The regular expression is lazy on purpose:
// `$(params.a) $(params.b)` is two references, and `$(params.obj.key)` names
// the param `obj`. Matching Tekton's quirks here is what makes an invalid
// reference fail at admission exactly where Tekton would fail it later.

const patternCache = new Map<string, RegExp>()

/** `prefix` is a regular-expression fragment such as `params` or `params\.obj`. */
function referencePattern(prefix: string): RegExp {
  let re = patternCache.get(prefix)
  if (re === undefined) {
    const inner = String.raw`.*?(?:\[\*\])?`
    re = new RegExp(String.raw`\$\(${prefix}(?:\.(?<var1>${inner})|\["(?<var2>${inner})"\]|\['(?<var3>${inner})'\])\)`, 'g')
    patternCache.set(prefix, re)
  }
  re.lastIndex = 0
  return re
}

export interface Extracted {
  /** The referenced names, one per reference, in order. */
  names: string[]
  /** Set when a reference is malformed, with Tekton's message. */
  error?: string
}

/**
 * The names referenced with `prefix` in `s`. For the dot form only the first
 * component counts (`obj.key` names `obj`); more than two components is an error.
 */
export function extractVariables(s: string, prefix: string): Extracted {
  const names: string[] = []
  for (const m of s.matchAll(referencePattern(prefix))) {
    const g = m.groups ?? {}
    const dotted = g.var1
    if (dotted?.includes('.')) {
      if (dotted.split('.').length > 2) {
        const shown = prefix.replaceAll('\\', '')
        return {
          names,
          error: `Invalid referencing of parameters in "${s}"! Only two dot-separated components after the prefix "${shown}" are allowed.`,
        }
      }
      names.push(dotted.split('.')[0] ?? '')
      continue
    }
    names.push(dotted ?? g.var2 ?? g.var3 ?? '')
  }
  return { names }
}

/** Like extractVariables, but the whole dotted name is kept (`obj.key`). */
export function extractEntireVariables(s: string, prefix: string): string[] {
  return [...s.matchAll(referencePattern(prefix))].map((m) => m.groups?.var1 ?? m.groups?.var2 ?? m.groups?.var3 ?? '')
}

/** The full reference expressions, e.g. `$(params.x)`. */
export function extractExpressions(s: string, prefix: string): string[] {
  return [...s.matchAll(referencePattern(prefix))].map((m) => m[0])
}

/** Drops index suffixes such as `[0]`, `[*]` or `[]` from a referenced name. */
export function trimArrayIndex(name: string): string {
  return name.replace(/\[([0-9])*\*?\]/g, '')
}

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
