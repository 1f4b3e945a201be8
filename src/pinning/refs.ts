// Where a YAML document names something through one of Tekton's resolvers:
// every `ref`, `taskRef` and `pipelineRef` mapping with a `resolver` and a
// `params` list, found in the document's node tree (not in a plain copy), so
// pinning can change a value and keep every comment and the layout around it.

import { type Document, isMap, isScalar, isSeq, type Node, type Scalar, type YAMLMap, type YAMLSeq } from 'yaml'

/** The keys under which Tekton takes a resolver reference. */
const refKeys = new Set(['ref', 'taskRef', 'pipelineRef'])

export interface ParamNode {
  name: string
  /** The value's scalar node, when it is a plain string; undefined for arrays, objects and aliases. */
  value: Scalar | undefined
}

export interface ResolverRef {
  /** Where it is: `spec.taskSpec.steps[0].ref`. */
  path: string
  resolver: string
  params: ParamNode[]
  /** The `params` sequence, where a param is added. */
  list: YAMLSeq
}

/** Every resolver reference of `doc`, in document order. Walks with a stack: a document may nest deeply. */
export function resolverRefs(doc: Document): ResolverRef[] {
  const out: ResolverRef[] = []
  const stack: { node: unknown; path: string }[] = [{ node: doc.contents, path: '' }]
  while (stack.length > 0) {
    const { node, path } = stack.pop() as { node: unknown; path: string }
    const children: { node: unknown; path: string }[] = []
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : undefined
        if (key === undefined) continue
        const at = path === '' ? key : `${path}.${key}`
        if (refKeys.has(key) && isMap(pair.value)) {
          const ref = readRef(pair.value, at)
          if (ref !== undefined) out.push(ref)
        }
        children.push({ node: pair.value, path: at })
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        children.push({ node: item, path: `${path}[${i}]` })
      })
    }
    // Pushed in reverse, so they come off the stack in document order.
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i] as { node: unknown; path: string })
  }
  return out
}

function readRef(map: YAMLMap, path: string): ResolverRef | undefined {
  const resolver = map.get('resolver', true)
  const list = map.get('params', true)
  if (!isScalar(resolver) || typeof resolver.value !== 'string' || !isSeq(list)) return undefined
  const params: ParamNode[] = []
  for (const item of list.items) {
    if (!isMap(item)) continue
    const name = item.get('name', true)
    const value = item.get('value', true) as Node | undefined
    if (!isScalar(name) || typeof name.value !== 'string') continue
    params.push({ name: name.value, value: isScalar(value) && typeof value.value === 'string' ? value : undefined })
  }
  return { path, resolver: resolver.value, params, list }
}

/** The params as Tekton's resolvers read them: the string ones, by name. */
export function paramValues(ref: ResolverRef): Map<string, string> {
  const out = new Map<string, string>()
  for (const p of ref.params) if (p.value !== undefined) out.set(p.name, String(p.value.value))
  return out
}
