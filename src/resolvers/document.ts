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
import { Worker } from 'node:worker_threads'
import { exactDocumentsAsWritten, fastDocumentsAsWritten, type ParseResult, parseDocumentsAsWritten } from '../json/documents.ts'
import { parseJson } from '../json/parse-json.ts'
import { detachedJson, isJsonObject } from '../json/values.ts'
import { quoteValue, truncateText } from '../problems/truncate.ts'
import type { StepAction } from '../types/tekton.ts'

const stepActionVersions = new Set(['tekton.dev/v1alpha1', 'tekton.dev/v1beta1'])

export type Read = { definition: Definition } | { task: ResolvedTask } | { error: string } | { unresolved: string; resolver?: string }

/** Read on the calling thread, whatever the text: for what is not fetched from anyone (tests). The resolvers use readFetched. */
export function readDocument(bytes: Buffer, source: DefinitionSource, what: string): Read {
  return fromParsed(parseDocumentsAsWritten(bytes.toString('utf8'), what), source, what)
}

/**
 * A fetched file, read on the server's thread only where that is cheap: by
 * the fast reading (yaml-fast.ts), which takes the common document, or by the
 * exact one when the text is small. The exact reading of a large text it
 * cannot read fast is done on a thread of its own, one at a time, within
 * exactReadMs: the yaml package words every error, and a 1 MiB file of a
 * million bad lines took it 22 s, during which the server's thread, which
 * answers every request at its deadline, would have answered nothing.
 */
export async function readFetched(bytes: Buffer, source: DefinitionSource, what: string): Promise<Read> {
  const text = bytes.toString('utf8')
  const fast = fastDocumentsAsWritten(text)
  if (fast !== undefined) return fromParsed({ documents: fast, errors: [] }, source, what)
  if (text.length <= exactOnThreadChars) return fromParsed(exactDocumentsAsWritten(text, what), source, what)
  const parsed = await exactOffThread(text, what)
  return 'unresolved' in parsed ? parsed : fromParsed(parsed, source, what)
}

/** Text the exact reading may take on the server's thread: its worst, an error on every line, is some milliseconds. */
const exactOnThreadChars = 4 * 1024

/** How long the exact reading of one fetched file may take on its thread; past it, the file is left for Tekton. */
export const exactReadMs = 2000

// Sources as .ts (the repository, the image's sources); the package ships .js.
const exactReadWorker = new URL(`./exact-read-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url)

/** One exact reading at a time: however many files need it, at most one thread spends a CPU on them. */
let exactQueue: Promise<unknown> = Promise.resolve()

function exactOffThread(text: string, what: string): Promise<ParseResult | { unresolved: string }> {
  const run = exactQueue.then(
    () =>
      new Promise<ParseResult | { unresolved: string }>((resolve) => {
        const worker = new Worker(exactReadWorker, {
          workerData: { text, source: what },
          resourceLimits: { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 16 },
        })
        const timer = setTimeout(() => {
          void worker.terminate()
          resolve({ unresolved: `${what}: reading it as YAML took longer than ${exactReadMs} ms; left for Tekton` })
        }, exactReadMs)
        worker.once('message', (answer: { json: string; errors: string[] }) => {
          clearTimeout(timer)
          void worker.terminate()
          resolve({ documents: parseJson(answer.json) as unknown[], errors: answer.errors })
        })
        worker.once('error', (err) => {
          clearTimeout(timer)
          resolve({ unresolved: `${what}: could not be read as YAML (${truncateText(err.message)}); left for Tekton` })
        })
      }),
  )
  exactQueue = run.catch(() => undefined)
  return run
}

function fromParsed(parsed: ParseResult, source: DefinitionSource, what: string): Read {
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
