// An admission worker thread: answers one request at a time with the same
// handleAdmission the server would run itself, asking the server's thread
// for each step definition it needs. It holds no state between requests, so
// the pool can stop it at any moment and start a fresh one.

import { parentPort } from 'node:worker_threads'
import { handleAdmission } from '../admission/handle.ts'
import { parseJson } from '../json/parse-json.ts'
import type { Resolution, StepReference, TaskReference, TaskResolution } from '../definitions/reference.ts'
import type { LoadedPolicy } from '../policy/types.ts'
import type { Catalog, ResolveOptions } from '../resolution/catalog.ts'
import type { FromWorker, ToWorker } from './worker-protocol.ts'

const port = parentPort
if (port === null) throw new Error('server/worker.ts runs as a worker thread')

const post = (message: FromWorker): void => port.postMessage(message)
const waiting = new Map<number, (answer: unknown) => void>()
let nextRid = 0
/** The policies the pool sent last: kept across requests, so their compiled patterns are too (policy/evaluate.ts). */
let policies: readonly LoadedPolicy[] = []

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
    resolve: (ref: StepReference, options: ResolveOptions = {}) => ask<Resolution>(id, (rid) => ({ type: 'resolve', id, rid, ref }), options),
  }
  if (tasks)
    catalog.resolveTask = (ref: TaskReference, options: ResolveOptions = {}) =>
      ask<TaskResolution>(id, (rid) => ({ type: 'resolveTask', id, rid, ref }), options)
  return catalog
}

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
  const { id, endpoint, body, settings } = message
  const { askNamespaceLabels, ...options } = settings
  handleAdmission(endpoint, body, remoteCatalog(id, settings.tasks === true, settings.authoritative === true), {
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
    onDecoded: (fields) => post({ type: 'decoded', id, fields }),
  }).then(
    (handled) => post({ type: 'done', id, handled }),
    (err: unknown) => {
      // handleAdmission turns its own failures into answers; this is a failure of the worker itself.
      const messageText = err instanceof Error ? err.message : String(err)
      post({
        type: 'done',
        id,
        handled: {
          status: 500,
          body: JSON.stringify({ error: 'internal error' }),
          outcome: 'error',
          allowed: false,
          expandedSteps: 0,
          failure: { message: messageText },
        },
      })
    },
  )
})

// Every module this worker needs is loaded by now: tell the pool it can take requests.
post({ type: 'ready' })
