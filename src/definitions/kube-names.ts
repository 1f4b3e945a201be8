// Kubernetes' name syntax (apimachinery's validation), as Tekton's checks and
// the API server apply it: shared by the step shape checks and the metadata
// of a fetched StepAction.

const qualifiedNamePart = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const labelValueText = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/

/** IsQualifiedName: an optional DNS subdomain prefix and `/`, then a name of at most 63 (a label or annotation key, a ref name). */
export function isQualifiedName(name: string): boolean {
  const parts = name.split('/')
  if (parts.length > 2) return false
  const [prefix, local] = parts.length === 2 ? parts : [undefined, parts[0] ?? '']
  if (prefix !== undefined && (prefix === '' || prefix.length > 253 || !dnsSubdomain.test(prefix))) return false
  return local !== undefined && local.length <= 63 && qualifiedNamePart.test(local)
}

/** IsValidLabelValue: empty, or at most 63 alphanumeric characters, `-`, `_` or `.`, starting and ending alphanumeric. */
export function isLabelValue(value: string): boolean {
  return value.length <= 63 && labelValueText.test(value)
}
