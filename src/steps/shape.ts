// The shape checks Tekton's admission applies to a step before anything is
// resolved: what may stand next to `ref`, what a `ref` must hold, and names.

import { isQualifiedName } from '../definitions/kube-names.ts'
import { problem, type Problem } from '../problems/problem.ts'
import type { Step } from '../types/tekton.ts'
import { quoteValue } from '../problems/truncate.ts'

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

/** Set, as Go's omitempty sees a field: a non-empty list or string, or any other non-null value. */
export const nonEmpty = (v: unknown): boolean => (Array.isArray(v) ? v.length > 0 : typeof v === 'string' ? v !== '' : v != null)

/** Fields a Step may not set next to `ref`. `env` is checked for presence: Tekton rejects even `env: []`. */
const forbiddenWithRef: { field: keyof Step; label: string; present: (v: unknown) => boolean }[] = [
  { field: 'image', label: 'image', present: nonEmpty },
  { field: 'command', label: 'command', present: nonEmpty },
  { field: 'args', label: 'args', present: nonEmpty },
  { field: 'script', label: 'script', present: nonEmpty },
  { field: 'workingDir', label: 'working dir', present: nonEmpty },
  { field: 'env', label: 'env', present: (v) => v != null },
  { field: 'volumeMounts', label: 'volumeMounts', present: nonEmpty },
  { field: 'results', label: 'results', present: nonEmpty },
]

const isWordChar = (c: string | undefined): boolean => c !== undefined && /[\w-]/.test(c)

/**
 * Tekton's test for a name that is really a URL (`[\w-]+:\/\/*`): a word
 * character or `-`, then `:/`. Written as a scan because the regular
 * expression, unanchored, backtracks over every start in a long name.
 */
function isUrlLike(name: string): boolean {
  for (let i = name.indexOf(':/'); i >= 0; i = name.indexOf(':/', i + 1)) if (isWordChar(name[i - 1])) return true
  return false
}

function checkRef(step: Step, at: string): Problem[] {
  const ref = step.ref
  const refAt = `${at}.ref`
  if (typeof ref !== 'object' || ref === null || Array.isArray(ref)) return [problem(refAt, 'must be an object with name, or resolver and params')]
  const name = typeof ref.name === 'string' ? ref.name : ''
  const resolver = typeof ref.resolver === 'string' ? ref.resolver : ''
  const out: Problem[] = []
  if (resolver !== '' || ref.params != null) {
    if (ref.params != null) {
      if (name !== '') out.push(problem(refAt, 'expected exactly one, got both: name, params'))
      if (resolver === '') out.push(problem(`${refAt}.resolver`, 'missing field(s): resolver'))
    }
    if (resolver !== '' && name !== '' && !isUrlLike(name)) out.push(problem(`${refAt}.name`, `invalid value: invalid URI for request: ${name}`))
    // Tekton's ValidateParameters: names unique in any letter case. The ref is gone once spliced, so its webhook never
    // sees the duplicate: refused here as it would refuse it.
    const seen = new Set<string>()
    for (const p of Array.isArray(ref.params) ? (ref.params as unknown[]) : []) {
      const paramName = typeof p === 'object' && p !== null && typeof (p as { name?: unknown }).name === 'string' ? (p as { name: string }).name : undefined
      if (paramName === undefined) continue
      const key = paramName.toLowerCase()
      if (seen.has(key)) out.push(problem(`${refAt}.params[${paramName}].name`, 'expected exactly one, got both'))
      seen.add(key)
    }
  } else if (name !== '') {
    if (isUrlLike(name)) out.push(problem(`${refAt}.resolver`, `missing field(s): resolver (the name ${quoteValue(name)} is a URL)`))
    else if (!isQualifiedName(name)) {
      out.push(
        problem(
          `${refAt}.name`,
          `invalid value: ${quoteValue(name)}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
        ),
      )
    }
  } else {
    out.push(problem(`${refAt}.name`, 'missing field(s): name'))
  }
  return out
}

/** Admission-time checks of a step's shape; `at` is the step's path. */
export function checkStepShape(step: Step, at: string): Problem[] {
  const stepName = typeof step.name === 'string' ? step.name : ''
  const out: Problem[] = []
  if (step.ref == null) {
    if (nonEmpty(step.params)) out.push(problem(`${at}.params`, 'params cannot be used without Ref'))
    return out.map((p) => ({ ...p, step: stepName }))
  }
  out.push(...checkRef(step, at))
  for (const f of forbiddenWithRef) {
    if (f.present(step[f.field])) out.push(problem(`${at}.${String(f.field)}`, `${f.label} cannot be used with Ref`))
  }
  if (stepName !== '' && (stepName.length > 63 || !dnsLabel.test(stepName)))
    out.push(problem(`${at}.name`, `invalid value ${quoteValue(stepName)}: Task step name must be a valid DNS Label`))
  if (step.params != null && !Array.isArray(step.params)) out.push(problem(`${at}.params`, 'must be a list of {name, value}'))
  else {
    step.params?.forEach((p, i) => {
      if (typeof p?.name !== 'string' || p.name === '') out.push(problem(`${at}.params[${i}].name`, 'missing field(s): name'))
    })
  }
  return out.map((p) => ({ ...p, step: stepName }))
}
