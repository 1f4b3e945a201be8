// Whether a URL as a Tekton resolver's Go client requests it is the URL
// stepsplice fetches. Go sends the path and query as written; stepsplice
// fetches, caches, records and judges the WHATWG form, which resolves dot
// segments (`..`, `%2e%2e`), escapes spaces and other characters, and spells
// a host in punycode. Where the two differ, a server may answer them with
// different documents, so the reference is left for Tekton.

/** The default port of each scheme, which a URL may name or leave out alike. */
const defaultPorts: Record<string, string> = { 'http:': ':80', 'https:': ':443' }

/**
 * Whether `url` as written asks what its WHATWG form `parsed` asks: the same
 * scheme and host in any letter case, a default port named or not, the same
 * user info, and then the same path, query and fragment character for
 * character (an empty path is `/` to Go's client and to the WHATWG form).
 */
export function requestsAsWritten(url: string, parsed: URL): boolean {
  const scheme = `${parsed.protocol}//`
  if (url.slice(0, scheme.length).toLowerCase() !== scheme) return false
  const afterScheme = url.slice(scheme.length)
  const end = afterScheme.search(/[/?#]/)
  const authority = end < 0 ? afterScheme : afterScheme.slice(0, end)
  const rest = end < 0 ? '' : afterScheme.slice(end)
  const at = authority.lastIndexOf('@')
  const user = authority.slice(0, at + 1)
  const host = authority.slice(at + 1).toLowerCase()
  const href = parsed.href
  const hrefUser = parsed.username === '' && parsed.password === '' ? '' : href.slice(scheme.length, href.indexOf('@', scheme.length) + 1)
  if (user !== hrefUser) return false
  if (host !== parsed.host && host !== `${parsed.host}${defaultPorts[parsed.protocol] ?? ''}`) return false
  const asked = href.slice(scheme.length + hrefUser.length + parsed.host.length)
  return rest === asked || (!rest.startsWith('/') && `/${rest}` === asked)
}
