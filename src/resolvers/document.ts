// What a resolver fetched, read as Tekton reads it: one YAML or JSON document
// that must be a StepAction (`resource is not a StepAction` otherwise), then
// validated like any other definition; or, for a TaskGroup's `uses`, a Task
// (issue #16). One reading serves both questions: what a file is does not
// depend on who asked, so caches keep the reading and each asker is given its
// answer (stepActionAnswer, taskAnswer). What the remote sent is not repeated
// in messages beyond its kind: a URL anyone can name must not become a way
// to read what stepsplice can reach.

import { type Definition, type DefinitionSource, toDefinition } from '../definitions/definition.ts'
import type { ResolvedTask, Resolution, TaskResolution } from '../definitions/reference.ts'
import { taskKindOf, toResolvedTask } from '../definitions/task.ts'
import type { KubeObject } from '../types/k8s.ts'
import { parseDocumentsAsWritten } from '../json/documents.ts'
import { detachedJson, isJsonObject } from '../json/values.ts'
import { quoteValue } from '../problems/truncate.ts'
import type { StepAction } from '../types/tekton.ts'

const stepActionVersions = new Set(['tekton.dev/v1alpha1', 'tekton.dev/v1beta1'])

export type Read = { definition: Definition } | { task: ResolvedTask } | { error: string } | { unresolved: string; resolver?: string }

export function readDocument(bytes: Buffer, source: DefinitionSource, what: string): Read {
  const text = bytes.toString('utf8')
  const parsed = parseDocumentsAsWritten(text, what)
  if (parsed.errors.length > 0) return { error: `${what} is not YAML or JSON: ${parsed.errors[0] ?? ''}` }
  // A stream's trailing `---` ends in an empty document, which Tekton's decoder never reaches.
  const documents = parsed.documents
  while (documents.length > 1 && documents.at(-1) === null) documents.pop()
  // Tekton decodes the first document: an empty one is no object ("Object 'Kind' is missing"), and a list
  // ("cannot unmarshal array") is not several resources to it, as it is to a catalog file.
  if (documents[0] === null || documents[0] === undefined) return { error: `${what} is empty or begins with an empty document` }
  if (Array.isArray(documents[0])) return { error: `${what} is a list, not one resource` }
  // Which of several documents Tekton's decoder takes is its business: exact or hands-off.
  if (documents.length > 1) return { unresolved: `${what} holds ${documents.length} documents, not one` }
  // Cached for as long as the source is: nothing of it may keep the fetched text alive.
  const doc = detachedJson(documents[0])
  if (!isJsonObject(doc)) return { error: `${what} is not an object` }
  if (taskKindOf(doc) === 'Task') {
    const task = toResolvedTask(doc as KubeObject, source.kind, source.location) as ResolvedTask
    if (source.sourceDigest !== undefined) task.sourceDigest = source.sourceDigest
    return { task }
  }
  if (doc.kind !== 'StepAction' || typeof doc.apiVersion !== 'string' || !stepActionVersions.has(doc.apiVersion)) {
    return { error: `${what}: resource is not a StepAction or a Task (it is ${quoteValue(doc.apiVersion ?? '', 60)} ${quoteValue(doc.kind ?? '', 60)})` }
  }
  return { definition: toDefinition(doc as StepAction, source) }
}

/** What a step's `ref` is given for a reading. */
export function stepActionAnswer(read: Read, resolver: string): Resolution {
  if ('unresolved' in read) return { unresolved: read.unresolved, resolver }
  if ('task' in read) return { error: `${read.task.location}: resource is not a StepAction (it is a Task)` }
  return read
}

/** What a TaskGroup's `uses` is given for a reading. */
export function taskAnswer(read: Read): TaskResolution {
  if ('definition' in read) return { error: `${read.definition.source.location}: resource is not a Task (it is a StepAction)` }
  if ('task' in read && read.task.error !== undefined) return { error: `${read.task.location}: ${read.task.error}` }
  return read
}
