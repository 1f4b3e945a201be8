// An admission worker thread: answers one request at a time with the same
// handleAdmission the server would run itself, asking the server's thread
// for each step definition it needs. What it keeps between requests is only
// a cache (the answers by name of the catalog's current generation, and the
// policies), so the pool can stop it at any moment and start a fresh one.

import { parentPort, workerData } from 'node:worker_threads'
import { type AdmissionFields, type Handled, handleAdmission } from '../admission/handle.ts'
import { parseJson } from '../json/parse-json.ts'
import { referenceKey, type Resolution, type StepReference, type TaskReference, type TaskResolution } from '../definitions/reference.ts'
import type { LoadedPolicy } from '../policy/types.ts'
import type { Catalog, ResolveOptions } from '../resolution/catalog.ts'
import { decodedByServerBytes, type FromWorker, monotonicMs, type ToWorker, type WorkerSettings } from './worker-protocol.ts'

const port = parentPort
if (port === null) throw new Error('server/worker.ts runs as a worker thread')

const post = (message: FromWorker): void => port.postMessage(message)
/** The pool's settings, the same for every request (server/pool.ts gives them at the start). */
const settings = workerData as WorkerSettings
const waiting = new Map<number, (answer: unknown) => void>()
let nextRid = 0
/** The policies the pool sent last: kept across requests, so their compiled patterns are too (policy/evaluate.ts). */
let policies: readonly LoadedPolicy[] = []

/**
 * Answers to references by name (no resolver), of the catalog generation the
 * last request carried: while the catalog is unchanged they are what the
 * server's thread would answer again, so a request whose steps name
 * definitions an earlier one named costs no round trip and no parse. Remote
 * resolvers' answers expire on their own clocks: always asked. Bounded; a
 * new generation starts it empty.
 */
const known = new Map<string, unknown>()
let knownGeneration: number | undefined
const maxKnown = 10_000

function remember(key: string, answer: unknown): void {
  if (known.size >= maxKnown) known.clear()
  known.set(key, answer)
}

/** `ask`, through the cache when the reference is by name and the catalog has a generation. */
function askByName<T>(key: string | undefined, asking: () => Promise<T>): Promise<T> {
  if (key === undefined || knownGeneration === undefined) return asking()
  const held = known.get(key)
  if (held !== undefined) return Promise.resolve(held as T)
  return asking().then((answer) => {
    if (isCatalogAnswer(answer)) remember(key, answer)
    return answer
  })
}

/**
 * What the catalog itself answered: a definition or Task, or a name it does
 * not hold. Any other error may be the request's own (cancelled, its
 * deadline passed, the catalog failed): kept, it would be every later
 * request's answer too.
 */
function isCatalogAnswer(answer: unknown): boolean {
  if (typeof answer !== 'object' || answer === null) return false
  return 'definition' in answer || 'task' in answer || ('missing' in answer && (answer as { missing: unknown }).missing === true)
}

const byName = (ref: { resolver?: string }, key: string): string | undefined => (ref.resolver === undefined || ref.resolver === '' ? key : undefined)

/** Asks the server's thread; an abort (the request's own deadline) answers at once with an error. */
function ask<T>(id: number, question: (rid: number) => FromWorker, options: ResolveOptions): Promise<T> {
  const rid = nextRid++
  return new Promise<T>((resolve) => {
    const signal = options.signal
    const onAbort = (): void => {
      waiting.delete(rid)
      post({ type: 'cancel', id, rid })
      resolve({ error: 'resolution was cancelled' } as T)
    }
    waiting.set(rid, (answer) => {
      signal?.removeEventListener('abort', onAbort)
      resolve(answer as T)
    })
    if (signal?.aborted) return onAbort()
    signal?.addEventListener('abort', onAbort, { once: true })
    post(question(rid))
  })
}

function isLabels(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string')
}

/** The catalog of the server's thread, one request's view of it. */
function remoteCatalog(id: number, tasks: boolean, authoritative: boolean): Catalog {
  const catalog: Catalog = {
    size: 0,
    authoritative,
    resolve: (ref: StepReference, options: ResolveOptions = {}) =>
      askByName(byName(ref, `s${referenceKey(ref)}`), () => ask<Resolution>(id, (rid) => ({ type: 'resolve', id, rid, ref }), options)),
  }
  if (tasks)
    catalog.resolveTask = (ref: TaskReference, options: ResolveOptions = {}) =>
      askByName(byName(ref, `t${JSON.stringify([ref.namespace, ref.name, ref.kind ?? 'Task'])}`), () =>
        ask<TaskResolution>(id, (rid) => ({ type: 'resolveTask', id, rid, ref }), options),
      )
  return catalog
}

/** Requests sent ahead wait here: one runs at a time, as the pool's deadlines assume. */
const runs: Extract<ToWorker, { type: 'run' }>[] = []

port.on('message', (message: ToWorker) => {
  if (message.type === 'policies') {
    policies = message.policies
    return
  }
  if (message.type === 'resolved') {
    const done = waiting.get(message.rid)
    waiting.delete(message.rid)
    done?.(parseJson(message.resolution))
    return
  }
  runs.push(message)
  if (runs.length === 1) void next()
})

async function next(): Promise<void> {
  while (runs.length > 0) {
    const message = runs[0] as Extract<ToWorker, { type: 'run' }>
    // Past its deadline before it started: the pool answers it as timed out (its own timer may have already).
    if (monotonicMs() >= message.expires) post({ type: 'skipped', id: message.id })
    else post({ type: 'done', id: message.id, handled: await run(message) })
    runs.shift()
  }
}

async function run(message: Extract<ToWorker, { type: 'run' }>): Promise<Handled> {
  const { id, endpoint, body } = message
  if (message.catalog !== knownGeneration) {
    known.clear()
    knownGeneration = message.catalog
  }
  const { askNamespaceLabels, ...options } = settings
  try {
    return await handleAdmission(endpoint, body, remoteCatalog(id, settings.tasks === true, settings.authoritative === true), {
      ...options,
      ...(policies.length === 0 ? {} : { policies }),
      ...(askNamespaceLabels === true
        ? {
            namespaceLabels: async (namespace: string, resolveOptions: ResolveOptions) => {
              const answer = await ask<{ labels?: unknown }>(id, (rid) => ({ type: 'labels', id, rid, namespace }), resolveOptions)
              return isLabels(answer.labels) ? answer.labels : undefined
            },
          }
        : {}),
      ...(body.length > decodedByServerBytes ? { onDecoded: (fields: AdmissionFields) => post({ type: 'decoded', id, fields }) } : {}),
    })
  } catch (err) {
    // handleAdmission turns its own failures into answers; this is a failure of the worker itself.
    const messageText = err instanceof Error ? err.message : String(err)
    return {
      status: 500,
      body: JSON.stringify({ error: 'internal error' }),
      outcome: 'error',
      allowed: false,
      expandedSteps: 0,
      failure: { message: messageText },
    }
  }
}

// Every module this worker needs is loaded by now: tell the pool it can take requests.
post({ type: 'ready' })
