// Whether a URL as a Tekton resolver's Go client requests it is the URL
// stepsplice fetches. stepsplice fetches, caches, records and judges the
// WHATWG form, which resolves dot segments (`..`, `%2e%2e`), reads `\` as
// `/` and spells a host in punycode; Go (net/url) sends the path as written
// when it is validly escaped, and otherwise escapes it again from its
// decoded bytes, and sends the query as written. Where the two requests
// differ, a server may answer them with different documents, so the
// reference is left for Tekton; where Go refuses the URL, likewise.

/** The default port of each scheme, which a URL may name or leave out alike. */
const defaultPorts: Record<string, string> = { 'http:': ':80', 'https:': ':443' }

const isHex = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
const isAlphanumeric = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)

/** net/url's shouldEscape in a path: all but letters, digits, `-_.~` and `$&+,/:;=@`. */
function escapedInPath(c: number): boolean {
  if (isAlphanumeric(c)) return false
  return !'-_.~$&+,/:;=@'.includes(String.fromCharCode(c))
}

/** net/url's validEncoded for a path: what Go sends as written (`%` escapes checked apart). */
function validEncoded(bytes: Buffer): boolean {
  for (const c of bytes) {
    if (!"!$&'()*+,;=:@[]%".includes(String.fromCharCode(c)) && escapedInPath(c)) return false
  }
  return true
}

/** Whether every `%` in `bytes` starts an escape of two hex digits; net/url's unescape fails otherwise. */
function validEscapes(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x25 && !(isHex(bytes[i + 1] ?? 0) && isHex(bytes[i + 2] ?? 0))) return false
  }
  return true
}

/** The path as Go's EscapedPath sends it: as written when validly escaped, else its decoded bytes escaped again. */
function goEscapedPath(path: string): string | undefined {
  const bytes = Buffer.from(path, 'utf8')
  if (!validEscapes(bytes)) return undefined
  if (validEncoded(bytes)) return path
  let out = ''
  for (let i = 0; i < bytes.length; i++) {
    let c = bytes[i] as number
    if (c === 0x25) {
      c = Number.parseInt(String.fromCharCode(bytes[i + 1] as number, bytes[i + 2] as number), 16)
      i += 2
    }
    out += escapedInPath(c) ? `%${c.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(c)
  }
  return out
}

/**
 * What follows the authority of `url` as written (path, query, fragment),
 * when its scheme, user info and host are those of its WHATWG form `parsed`
 * (scheme and host in any letter case, a default port named or not).
 */
function restAfterAuthority(url: string, parsed: URL): { rest: string; asked: string } | undefined {
  const scheme = `${parsed.protocol}//`
  if (url.slice(0, scheme.length).toLowerCase() !== scheme) return undefined
  const afterScheme = url.slice(scheme.length)
  const end = afterScheme.search(/[/?#]/)
  const authority = end < 0 ? afterScheme : afterScheme.slice(0, end)
  const at = authority.lastIndexOf('@')
  const user = authority.slice(0, at + 1)
  const host = authority.slice(at + 1).toLowerCase()
  const href = parsed.href
  const hrefUser = parsed.username === '' && parsed.password === '' ? '' : href.slice(scheme.length, href.indexOf('@', scheme.length) + 1)
  if (user !== hrefUser) return undefined
  if (host !== parsed.host && host !== `${parsed.host}${defaultPorts[parsed.protocol] ?? ''}`) return undefined
  return { rest: end < 0 ? '' : afterScheme.slice(end), asked: href.slice(scheme.length + hrefUser.length + parsed.host.length) }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is looked for
const controlCharacter = /[\u0000-\u001f\u007f]/

/**
 * How `url` as Tekton's http resolver requests it (Go's net/http) compares
 * with its WHATWG form `parsed`: `same` when it asks the same (scheme and
 * host as above, the path Go would send, an empty one `/` to both, and the
 * same query); `refused` when Go's parser refuses it (a control character;
 * a bad `%` escape in the path or fragment; a `#` right after the host,
 * which ParseRequestURI, Tekton's check, reads as part of the host); else
 * `other`.
 */
export function requestForm(url: string, parsed: URL): 'same' | 'other' | 'refused' {
  if (controlCharacter.test(url)) return 'refused'
  const split = restAfterAuthority(url, parsed)
  if (split === undefined) return 'other'
  const { rest } = split
  if (rest.startsWith('#')) return 'refused'
  const hash = rest.indexOf('#')
  const beforeHash = hash < 0 ? rest : rest.slice(0, hash)
  // Neither sends the fragment, but Go unescapes it, and fails as for the path.
  if (hash >= 0 && !validEscapes(Buffer.from(rest.slice(hash + 1), 'utf8'))) return 'refused'
  const question = beforeHash.indexOf('?')
  const path = question < 0 ? beforeHash : beforeHash.slice(0, question)
  const sent = goEscapedPath(path)
  if (sent === undefined) return 'refused'
  if ((sent === '' ? '/' : sent) !== parsed.pathname) return 'other'
  // Go sends `?` alone for an empty query, which asks what no query asks.
  return (question < 0 ? '' : beforeHash.slice(question + 1)) === parsed.search.slice(1) ? 'same' : 'other'
}

/**
 * Whether `url` as Tekton's git resolver clones it (the git CLI, through
 * curl, which sends the path as written: no escaping, no dot segments
 * resolved) asks what its WHATWG form `parsed` asks: the same scheme and
 * host as above, then path, query and fragment character for character.
 */
export function clonedAsWritten(url: string, parsed: URL): boolean {
  if (controlCharacter.test(url)) return false
  const split = restAfterAuthority(url, parsed)
  if (split === undefined) return false
  const { rest, asked } = split
  return rest === asked || (!rest.startsWith('/') && `/${rest}` === asked)
}

/** Why a URL whose form is not `same` is not fetched, for the warning. */
export function unlikeWritten(url: string, fetched: string, form: 'other' | 'refused'): string {
  const written = JSON.stringify(url)
  return form === 'refused'
    ? `url ${written} holds what Go's URL parser refuses (a control character or a % not followed by two hex digits): Tekton fails it`
    : `url ${written} is not written as it is requested (${fetched}): Tekton asks for it as written`
}
