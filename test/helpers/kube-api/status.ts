// meta.k8s.io Status bodies, worded as kube-apiserver words them, so a client's
// error handling sees what it would see from a real cluster.

export interface Status {
  kind: 'Status'
  apiVersion: 'v1'
  metadata: Record<string, never>
  status: 'Failure'
  message: string
  reason: string
  details?: Record<string, unknown>
  code: number
}

const reasons: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
}

export function status(code: number, message: string, details?: Record<string, unknown>): Status {
  const body: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: reasons[code] ?? 'Unknown', code }
  if (details !== undefined) body.details = details
  return body
}

/** What the API server's not-found handler answers for a path no API serves (a CRD not installed). */
export const noSuchResource = (): Status => status(404, 'the server could not find the requested resource', {})

export const unauthorized = (): Status => status(401, 'Unauthorized')

export interface AccessAttempt {
  user: string
  verb: string
  group: string
  plural: string
  namespace: string | undefined
}

export function forbidden(a: AccessAttempt): Status {
  const scope = a.namespace === undefined ? 'at the cluster scope' : `in the namespace "${a.namespace}"`
  return status(403, `${a.plural}.${a.group} is forbidden: User "${a.user}" cannot ${a.verb} resource "${a.plural}" in API group "${a.group}" ${scope}`, {
    group: a.group,
    kind: a.plural,
  })
}

/** A failure a test injects: the code's usual reason, with a message naming the injection. */
export function injected(code: number, group: string, plural: string): Status {
  if (code === 500) {
    const message = `injected failure for ${plural}.${group}`
    return status(500, `Internal error occurred: ${message}`, { causes: [{ message }] })
  }
  return status(code, `injected ${code} for ${plural}.${group}`, { group, kind: plural })
}

export const tooOldResourceVersion = (requested: string, oldest: number): Status => status(410, `too old resource version: ${requested} (${oldest})`)
