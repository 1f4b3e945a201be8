// Bounds what a caller wrote before we repeat it. Anything echoed into an
// error body, a denial or a log line passes through here, so a 1 MiB field
// costs a 1 MiB request, never a 1 MiB answer or log line.

/** How much of a caller's text messages and logs repeat by default. */
export const echoLimit = 200

/**
 * `text` when it is at most `max` characters; otherwise its first `max`
 * characters followed by `…(N chars)`, N being the full length, so a reader
 * knows both that it was cut and how big it was.
 */
export function truncateText(text: string, max: number = echoLimit): string {
  return text.length <= max ? text : `${head(text, max)}…(${text.length} chars)`
}

/** A caller's value as JSON (strings quoted), bounded like truncateText: `"abc…"…(N chars)`. */
export function quoteValue(value: unknown, max: number = echoLimit): string {
  // A long string is cut before JSON.stringify copies and escapes all of it.
  if (typeof value === 'string') return value.length <= max ? JSON.stringify(value) : `${JSON.stringify(head(value, max))}…(${value.length} chars)`
  return truncateText(JSON.stringify(value ?? null), max)
}

function head(text: string, max: number): string {
  // Never split a surrogate pair: half of one is not text, and JSON writers escape it oddly.
  const code = text.charCodeAt(max - 1)
  return text.slice(0, max > 0 && code >= 0xd800 && code <= 0xdbff ? max - 1 : max)
}
