// Label and field selectors, the equality subset (`a=b`, `a==b`, `a!=b`) that
// informers use; anything else is refused as the API server refuses a selector
// it cannot parse, so a test never silently gets an unfiltered list.

import type { KubeObject } from '../../../src/types/k8s.ts'

export type Predicate = (object: KubeObject) => boolean

interface Requirement {
  key: string
  equals: boolean
  value: string
}

function parse(selector: string, what: string): Requirement[] {
  if (selector.trim() === '') return []
  return selector.split(',').map((term) => {
    const m = /^\s*([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)\s*$/.exec(term)
    if (!m) throw new Error(`unable to parse requirement: ${what} "${term}" is not of the form key=value or key!=value`)
    return { key: m[1] ?? '', equals: m[2] !== '!=', value: m[3] ?? '' }
  })
}

const fields: Record<string, (o: KubeObject) => string | undefined> = {
  'metadata.name': (o) => o.metadata?.name,
  'metadata.namespace': (o) => o.metadata?.namespace,
}

/** One predicate for both selectors; throws with the API server's kind of message on a selector it does not support. */
export function selectorPredicate(labelSelector: string | undefined, fieldSelector: string | undefined): Predicate {
  const labels = parse(labelSelector ?? '', 'label selector')
  const fieldReqs = parse(fieldSelector ?? '', 'field selector')
  for (const r of fieldReqs) {
    if (fields[r.key] === undefined) throw new Error(`field label not supported: ${r.key}`)
  }
  return (object) =>
    labels.every((r) => (object.metadata?.labels?.[r.key] === r.value) === r.equals) &&
    fieldReqs.every((r) => (fields[r.key]?.(object) === r.value) === r.equals)
}
