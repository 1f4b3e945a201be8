// Integers Kubernetes keeps and a double cannot: int64 values past 2^53, where
// JSON.parse and the YAML parser would turn 9007199254740993 into …992. They
// are held as JSON.rawJSON values (Node 24): frozen, prototype-less objects
// that JSON.stringify writes back digit for digit. Whatever walks JSON values
// treats one as a leaf, like the number it stands for.

export interface RawNumber {
  readonly rawJSON: string
}

// Source text access (JSON.rawJSON, JSON.isRawJSON) is ES2026; the es2024 lib we type against does not declare it.
const sourceText = JSON as unknown as { rawJSON(text: string): RawNumber; isRawJSON(value: unknown): boolean }

export function isRawNumber(value: unknown): value is RawNumber {
  return sourceText.isRawJSON(value)
}

/** Whether an integer fits Kubernetes' int64. */
export function isInt64(n: bigint): boolean {
  return n >= -(2n ** 63n) && n < 2n ** 63n
}

/**
 * An integer as the API server keeps it: a number when a double holds it
 * exactly, its digits when it fits int64, and otherwise the nearest double,
 * which is what Go's decoder makes of it too; past any double, its digits,
 * so it is never written as null.
 */
export function integerValue(n: bigint): number | RawNumber {
  const nearest = Number(n)
  if (Number.isSafeInteger(nearest) || (!isInt64(n) && Number.isFinite(nearest))) return nearest
  return sourceText.rawJSON(n.toString())
}
