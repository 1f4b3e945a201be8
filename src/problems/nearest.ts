// The names nearest to one that was not found ("did you mean git-clone?"),
// for definitions and for params alike.
//
// Bounded: suggestions are looked for only among at most `suggestionScope`
// names, a candidate whose length differs by more than 2 is skipped at once,
// and the edit distance is computed in a band of width 5, giving up as soon
// as it passes 2: a miss costs at most a few thousand short comparisons.

/** Past this many names visible in a namespace, a miss suggests nothing rather than compare with them all. */
export const suggestionScope = 5000

/** Suggestions given at most. */
const maxSuggestions = 3
/** Edits (insert, delete, replace, swap two neighbours) a suggestion is at most away from the name. */
const maxDistance = 2
/** A shared prefix counts when the shorter name has at least this many characters. */
const minPrefix = 3

/**
 * The optimal string alignment distance between `a` and `b` when it is at
 * most maxDistance, else undefined. Only cells within maxDistance of the
 * diagonal are computed; a row whose cells all pass the bound ends it.
 */
function distanceWithinBound(a: string, b: string): number | undefined {
  if (Math.abs(a.length - b.length) > maxDistance) return undefined
  const far = maxDistance + 1
  const width = b.length + 1
  let before = new Array<number>(width).fill(far)
  let previous = new Array<number>(width).fill(far)
  for (let j = 0; j <= Math.min(b.length, maxDistance); j++) previous[j] = j
  for (let i = 1; i <= a.length; i++) {
    const current = new Array<number>(width).fill(far)
    if (i <= maxDistance) current[0] = i
    let rowBest = current[0] as number
    for (let j = Math.max(1, i - maxDistance); j <= Math.min(b.length, i + maxDistance); j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1
      let d = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + cost)
      if (i > 1 && j > 1 && a.charCodeAt(i - 1) === b.charCodeAt(j - 2) && a.charCodeAt(i - 2) === b.charCodeAt(j - 1)) {
        d = Math.min(d, (before[j - 2] as number) + 1)
      }
      current[j] = Math.min(d, far)
      rowBest = Math.min(rowBest, current[j] as number)
    }
    if (rowBest > maxDistance) return undefined
    before = previous
    previous = current
  }
  const d = previous[b.length] as number
  return d <= maxDistance ? d : undefined
}

function sharesPrefix(name: string, candidate: string): boolean {
  const [short, long] = name.length <= candidate.length ? [name, candidate] : [candidate, name]
  return short.length >= minPrefix && long.startsWith(short)
}

/**
 * Up to three of `candidates` nearest to `name`: within two edits first
 * (fewest first), then those that start with it or that it starts with;
 * ties in name order. Empty when there are more than suggestionScope.
 */
export function nearestNames(name: string, candidates: readonly string[]): string[] {
  if (name === '' || candidates.length > suggestionScope) return []
  const ranked: { candidate: string; rank: number }[] = []
  for (const candidate of new Set(candidates)) {
    if (candidate === name || candidate === '') continue
    const d = distanceWithinBound(name, candidate)
    if (d !== undefined) ranked.push({ candidate, rank: d })
    else if (sharesPrefix(name, candidate)) ranked.push({ candidate, rank: maxDistance + 1 })
  }
  ranked.sort((x, y) => x.rank - y.rank || (x.candidate < y.candidate ? -1 : x.candidate > y.candidate ? 1 : 0))
  return ranked.slice(0, maxSuggestions).map((r) => r.candidate)
}
