// What a resolver fetched, read as Tekton reads it: one YAML or JSON document
// that must be a StepAction (`resource is not a StepAction` otherwise), then
// validated like any other definition. What the remote sent is not repeated
// in messages beyond its kind: a URL anyone can name must not become a way
// to read what stepsplice can reach.

import { type Definition, type DefinitionSource, toDefinition } from '../definitions/definition.ts'
import { parseDocuments } from '../json/documents.ts'
import { isJsonObject } from '../json/values.ts'
import { quoteValue } from '../problems/truncate.ts'
import type { StepAction } from '../types/tekton.ts'

const stepActionVersions = new Set(['tekton.dev/v1alpha1', 'tekton.dev/v1beta1'])

export type Read = { definition: Definition } | { error: string } | { unresolved: string }

export function readStepAction(bytes: Buffer, source: DefinitionSource, what: string): Read {
  const text = bytes.toString('utf8')
  const parsed = parseDocuments(text, what)
  if (parsed.errors.length > 0) return { error: `${what} is not YAML or JSON: ${parsed.errors[0] ?? ''}` }
  // Which of several documents Tekton's decoder takes is its business: exact or hands-off.
  if (parsed.documents.length > 1) return { unresolved: `${what} holds ${parsed.documents.length} documents, not one` }
  const doc = parsed.documents[0]
  if (!isJsonObject(doc)) return { error: `${what} is empty or not an object` }
  if (doc.kind !== 'StepAction' || typeof doc.apiVersion !== 'string' || !stepActionVersions.has(doc.apiVersion)) {
    return { error: `${what}: resource is not a StepAction (it is ${quoteValue(doc.apiVersion ?? '', 60)} ${quoteValue(doc.kind ?? '', 60)})` }
  }
  return { definition: toDefinition(doc as StepAction, source) }
}
