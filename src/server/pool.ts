// Admission work on worker threads, so the deadline holds for any input.
//
// A timer cannot fire while synchronous work holds the event loop: with all
// expansion on the server's own thread, a request that took 3 s of CPU was
// answered after 3 s whatever --deadline said, and /healthz waited with it.
// Here each request runs on a worker, one at a time per worker; the server's
// thread only does HTTP, answers catalog lookups from memory, and keeps the
// clock. When a request's deadline passes, it is answered from here and its
// worker, if the request is still on one, is terminated and replaced: no
// input can keep a thread busy past its deadline.
//
// A worker is sent the next requests before it finishes the one it runs
// (`sendAheadFor`), and starts each when the one before is done: otherwise it
// would idle for every round trip through the server's busy thread, which
// measured here halved what a worker answers. A request waiting on a worker
// that is terminated is sent again, elsewhere: it never started.
//
// Why not piscina: measured here, a round trip through it cost 140 us per
// call under concurrency against 21 us for a plain postMessage protocol,
// and its cancellation is what this file does in a few lines.

import { Worker } from 'node:worker_threads'
import { type AdmissionFields, decodeFields, type Endpoint, envelopeFields, type Handled } from '../admission/handle.ts'
import type { PolicySource } from '../policy/types.ts'
import { waitFor } from './label-wait.ts'
import type { Catalog } from '../resolution/catalog.ts'
import { decodedByServerBytes, type FromWorker, monotonicMs, type ToWorker, type WorkerSettings } from './worker-protocol.ts'

export type PoolAnswer =
  | { handled: Handled }
  /** Past the deadline. `fields` when the request was decoded by then; `resolving` when it was waiting on the catalog. */
  | { timedOut: true; fields?: AdmissionFields; resolving: boolean }
  /** The worker died under the request (a bug, or out of memory). */
  | { failed: string; fields?: AdmissionFields }
  /** More requests waiting than the pool takes. */
  | { overloaded: true }

interface Task {
  id: number
  endpoint: Endpoint
  body: string
  finish: (answer: PoolAnswer) => void
  timer: NodeJS.Timeout
  /** When it must be answered (epoch ms): catalogs that fetch give up before it. */
  deadline: number
  /** The same moment on the monotonic clock (worker-protocol.ts#monotonicMs): what the worker and the watchdog go by. */
  expires: number
  fields?: AdmissionFields
  lookups: Map<number, AbortController>
  /**
   * A lookup the worker gave up at its own deadline: its cancel can reach this
   * thread in the turn before #expire runs, and the request was still waiting
   * on the catalog all the same.
   */
  cancelledLate?: boolean
  slot?: Slot
}

/**
 * The request's fields, for answering it without its worker: a large body's
 * arrive from the worker (`decoded`), or, if it never started, are read here
 * from the envelope alone; a small one's are read here, only now
 * (worker-protocol.ts, decodedByServerBytes).
 */
function withFields(task: Task): { fields?: AdmissionFields } {
  if (task.fields === undefined) {
    // A large body is not parsed here: its envelope is read from its first bytes, its objects stepped over.
    const fields = task.body.length <= decodedByServerBytes ? decodeFields(task.endpoint, task.body) : envelopeFields(task.endpoint, task.body)
    if (fields !== undefined) task.fields = fields
  }
  return task.fields === undefined ? {} : { fields: task.fields }
}

/**
 * Requests a worker holds at once: the one it runs and those sent ahead.
 * With one worker every request waits for it in arrival order wherever it
 * waits, so up to 16 are sent: where the server's thread and the worker share
 * a CPU they then take turns once per batch rather than once per request, and
 * each turn costs both of them their caches (CPU per TaskRun on one core, best
 * of alternating rounds: 398 us with 2 held, 244 with 16, 255 with no worker).
 * With several workers, 2 each: a worker waiting on a slow fetch holds back
 * one request, not a batch that an idle worker could have taken.
 */
export function sendAheadFor(workers: number): number {
  return workers === 1 ? 16 : 2
}

/** A worker's young generation (V8's two semi-spaces and more): 24 MB, as the server's own thread gets (Dockerfile's NODE_OPTIONS). */
const youngGenerationMb = 24

interface Slot {
  worker: Worker
  /** Its modules are loaded and it takes requests. */
  online: boolean
  /** What it was sent and has not answered, in order: the first is the one it runs. */
  tasks: Task[]
  /** The generation of the policies it holds; -1 before the first are sent. */
  policies: number
  /** Set while the request at the head of `tasks` is one already answered (see #headChanged). */
  watchdog?: NodeJS.Timeout
  /**
   * Told to stop: what it still sends (its messages arrive until it has
   * exited) is ignored, so `tasks` stays as it was, the one it ran first:
   * #exited answers that one and sends the others elsewhere.
   */
  stopping?: boolean
}

/**
 * How long past its deadline a worker may take to set aside a request that
 * was answered while it waited there. It skips one whose deadline has passed
 * by its own clock at once; this is for one it started anyway (the pool's
 * timer fired a moment before the worker's clock said so, or it was waiting
 * on the catalog at its deadline), which nothing else would stop if it
 * computed forever. A second, not less: the worker's "skipped" may sit
 * unread while this thread is held up, and stopping a worker for that
 * would send everything it holds elsewhere for nothing.
 */
const staleGraceMs = 1000

/** A catalog question of a request past its deadline, answered with the deadline's error so the worker ends it. */
const lateAnswer = JSON.stringify({ error: 'deadline exceeded' })
function answerLate(slot: Slot, id: number, rid: number): void {
  const message: ToWorker = { type: 'resolved', id, rid, resolution: lateAnswer }
  slot.worker.postMessage(message)
}

export interface PoolOptions {
  /** Worker threads; each answers one request at a time. */
  size: number
  catalog: Catalog
  settings: WorkerSettings
  /** The step policies in force, read at each dispatch: a worker is sent them when its copy is stale. */
  policies?: PolicySource
  /** Namespaces' labels as the server's thread knows them (cluster mode), for workers that ask. */
  namespaceLabels?: (namespace: string, waitMs: number) => Promise<Record<string, string> | undefined>
  /** Requests that may wait for a free worker; more are answered as overloaded. */
  maxQueue?: number
  /** Called when a worker fails in a way no request explains (it could not start, say). */
  onWorkerError?: (err: Error) => void
  /** The worker's module: worker.ts, unless a test brings one that speaks the same protocol. */
  workerUrl?: URL
}

// The sources run as .ts (the repository, the image); the package ships them compiled to .js.
const defaultWorker = new URL(`./worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url)

export class AdmissionPool {
  readonly #options: PoolOptions
  readonly #slots: Slot[] = []
  readonly #queue: Task[] = []
  readonly #tasks = new Map<number, Task>()
  readonly #depth: number
  #nextId = 0
  #closed = false
  #online = 0
  readonly #started: Promise<void>
  #markStarted: () => void = () => {}

  constructor(options: PoolOptions) {
    this.#options = options
    this.#depth = sendAheadFor(options.size)
    this.#started = new Promise<void>((resolve) => {
      this.#markStarted = resolve
    })
    for (let i = 0; i < options.size; i++) this.#slots.push(this.#spawn())
  }

  /** Resolves once every worker is up: loading the admission code takes a moment, and the first requests must not pay for it. */
  started(): Promise<void> {
    return this.#started
  }

  /** True once every worker has started. */
  get ready(): boolean {
    return this.#online >= this.#slots.length
  }

  /** Answers one request; `deadlineMs` counts from now, queueing included. */
  run(endpoint: Endpoint, body: string, deadlineMs: number): Promise<PoolAnswer> {
    if (this.#queue.length >= (this.#options.maxQueue ?? this.#slots.length * 64)) return Promise.resolve({ overloaded: true })
    return new Promise<PoolAnswer>((finish) => {
      const id = this.#nextId++
      const task: Task = {
        id,
        endpoint,
        body,
        finish,
        lookups: new Map(),
        deadline: Date.now() + deadlineMs,
        expires: monotonicMs() + deadlineMs,
        timer: setTimeout(() => this.#due(task), deadlineMs),
      }
      this.#tasks.set(id, task)
      this.#queue.push(task)
      this.#dispatch()
    })
  }

  async close(): Promise<void> {
    this.#closed = true
    for (const task of [...this.#tasks.values()]) this.#settle(task, { timedOut: true, resolving: false, ...withFields(task) })
    await Promise.all(this.#slots.map((s) => s.worker.terminate()))
  }

  #spawn(): Slot {
    // V8 sizes a thread's young generation by the machine's memory (over 100 MB on a large node), and an admission's
    // garbage is small and short-lived: a fixed, small one keeps each worker's memory to what it holds.
    // The settings are the pool's for its life: given once, as the worker's data, not cloned into every request.
    const worker = new Worker(this.#options.workerUrl ?? defaultWorker, {
      resourceLimits: { maxYoungGenerationSizeMb: youngGenerationMb },
      workerData: this.#options.settings,
    })
    const slot: Slot = { worker, online: false, tasks: [], policies: -1 }
    worker.on('message', (message: FromWorker) => {
      if (message.type !== 'ready') return this.#receive(slot, message)
      slot.online = true
      this.#online++
      if (this.ready) this.#markStarted()
      this.#dispatch()
    })
    worker.on('error', (err) => {
      if (slot.tasks.length === 0) this.#options.onWorkerError?.(err)
    })
    worker.once('exit', () => this.#exited(slot))
    return slot
  }

  #dispatch(): void {
    // Idle workers first, then one more to each busy one, and so on.
    for (let held = 0; held < this.#depth; held++) {
      for (const slot of this.#slots) {
        if (this.#queue.length === 0) return
        if (slot.online && slot.stopping !== true && slot.tasks.length === held) this.#send(slot, this.#queue.shift() as Task)
      }
    }
  }

  #send(slot: Slot, task: Task): void {
    slot.tasks.push(task)
    task.slot = slot
    const current = this.#options.policies?.current()
    if (current !== undefined && current.generation !== slot.policies) {
      // Messages arrive in order: the worker holds these before it reads the request.
      const update: ToWorker = { type: 'policies', generation: current.generation, policies: current.policies }
      slot.worker.postMessage(update)
      slot.policies = current.generation
    }
    const generation = this.#options.catalog.generation
    const message: ToWorker = {
      type: 'run',
      id: task.id,
      endpoint: task.endpoint,
      body: task.body,
      deadline: task.deadline,
      expires: task.expires,
      ...(generation === undefined ? {} : { catalog: generation }),
    }
    slot.worker.postMessage(message)
  }

  #receive(slot: Slot, message: Exclude<FromWorker, { type: 'ready' }>): void {
    if (slot.stopping === true) return
    const task = slot.tasks.find((t) => t.id === message.id)
    if (task === undefined) return
    // A task answered at its deadline stays on its worker until the worker finishes with it.
    if (!this.#tasks.has(task.id)) {
      if (message.type === 'done' || message.type === 'skipped') this.#finished(slot, task)
      // Started after all: what it asks is answered at once, so it ends rather than waits.
      else if (message.type === 'resolve' || message.type === 'resolveTask' || message.type === 'labels') {
        answerLate(slot, task.id, message.rid)
      }
      return
    }
    switch (message.type) {
      case 'decoded':
        task.fields = message.fields
        return
      case 'resolve':
        this.#lookup(slot, task, message.rid, (signal) => this.#options.catalog.resolve(message.ref, { signal, deadline: task.deadline }))
        return
      case 'resolveTask': {
        const catalog = this.#options.catalog
        this.#lookup(slot, task, message.rid, (signal) =>
          catalog.resolveTask === undefined
            ? Promise.resolve({ error: 'no Tasks are served', missing: true })
            : catalog.resolveTask(message.ref, { signal, deadline: task.deadline }),
        )
        return
      }
      case 'labels': {
        const lookup = this.#options.namespaceLabels
        // Wrapped, so an error answer (the deadline) is never taken for labels.
        this.#lookup(slot, task, message.rid, async () => ({
          labels: lookup === undefined ? null : ((await lookup(message.namespace, waitFor({ deadline: task.deadline }))) ?? null),
        }))
        return
      }
      case 'cancel':
        task.lookups.get(message.rid)?.abort(new Error('the request no longer needs it'))
        if (task.lookups.delete(message.rid) && monotonicMs() >= task.expires) task.cancelledLate = true
        return
      case 'done':
        this.#settle(task, { handled: message.handled })
        this.#finished(slot, task)
        return
      case 'skipped':
        // The worker's clock passed the deadline before the pool's timer fired: answered here as that timer would.
        this.#settle(task, { timedOut: true, resolving: false, ...withFields(task) })
        this.#finished(slot, task)
    }
  }

  /** The worker is done with `task`: the next it holds is the one it runs. */
  #finished(slot: Slot, task: Task): void {
    slot.tasks.splice(slot.tasks.indexOf(task), 1)
    this.#headChanged(slot)
    this.#dispatch()
  }

  /**
   * A request answered at its deadline while it waited in a worker may come
   * to the head, the one the worker runs: the worker should set it aside at
   * once. If it is still there `staleGraceMs` past its deadline, the worker
   * is computing it for nobody, and is replaced as #expire would.
   */
  #headChanged(slot: Slot): void {
    clearTimeout(slot.watchdog)
    slot.watchdog = undefined
    const head = slot.tasks[0]
    if (head === undefined || this.#tasks.has(head.id)) return
    slot.watchdog = setTimeout(
      () => {
        slot.watchdog = undefined
        if (slot.tasks[0] === head) this.#stop(slot)
      },
      Math.max(0, head.expires - monotonicMs()) + staleGraceMs,
    )
  }

  #lookup(slot: Slot, task: Task, rid: number, question: (signal: AbortSignal) => Promise<unknown>): void {
    const controller = new AbortController()
    task.lookups.set(rid, controller)
    question(controller.signal)
      .catch((err: unknown) => ({ error: `catalog failed: ${err instanceof Error ? err.message : String(err)}` }))
      .then((resolution) => {
        if (!task.lookups.delete(rid) || !slot.tasks.includes(task) || !this.#tasks.has(task.id)) return
        const message: ToWorker = { type: 'resolved', id: task.id, rid, resolution: JSON.stringify(resolution) }
        slot.worker.postMessage(message)
      })
  }

  /**
   * The deadline's timer. Timers run first in a turn of the event loop,
   * before what workers posted is read: for a request on a worker, whose
   * answer may have come while this thread was held up (a long callback),
   * the deadline acts once the turn's messages are read, so that answer is
   * taken rather than the worker stopped for a request it had finished. One
   * still queued acts now: left there, the turn's answers would free a
   * worker and hand it the expired request, and that worker be stopped.
   */
  #due(task: Task): void {
    const slot = task.slot
    if (slot === undefined) this.#expire(task)
    // Moved to another worker in that turn (its own stopped, it was sent on): that one has not started it, and sets
    // it aside past its deadline; stopped only if it computes on (the watchdog of a stale head).
    else setImmediate(() => this.#expire(task, task.slot === slot))
  }

  /**
   * The deadline passed: answer now. A worker waiting on the catalog is idle:
   * its lookups are answered with an error so it finishes, and it stays
   * assigned until it says so. A worker still computing is terminated: that is
   * the one way to stop synchronous work, and 'exit' starts its successor.
   */
  #expire(task: Task, mayStop = true): void {
    if (!this.#tasks.has(task.id)) return
    const pending = [...task.lookups.keys()]
    const queued = this.#queue.indexOf(task)
    if (queued >= 0) this.#queue.splice(queued, 1)
    const slot = task.slot
    this.#settle(task, { timedOut: true, resolving: pending.length > 0 || task.cancelledLate === true, ...withFields(task) })
    // Still waiting in the worker: it skips what is past its deadline when it gets there.
    if (slot === undefined || slot.tasks[0] !== task) return
    if (pending.length === 0) {
      // A worker that gave up its lookup at its own deadline is finishing, not computing: the stale-head watchdog covers it.
      if (mayStop && task.cancelledLate !== true) this.#stop(slot)
      else this.#headChanged(slot)
      return
    }
    for (const rid of pending) answerLate(slot, task.id, rid)
    // It should finish at once now; if it computes on instead, it is replaced like any stale head.
    this.#headChanged(slot)
  }

  /** Stops a worker; 'exit' answers or re-queues what it held and starts its successor. */
  #stop(slot: Slot): void {
    slot.stopping = true
    clearTimeout(slot.watchdog)
    void slot.worker.terminate()
  }

  #exited(slot: Slot): void {
    clearTimeout(slot.watchdog)
    if (slot.online) this.#online--
    slot.online = false
    const [task, ...waiting] = slot.tasks
    slot.tasks = []
    if (task !== undefined && this.#tasks.has(task.id)) this.#settle(task, { failed: 'the admission worker stopped', ...withFields(task) })
    // What it had not started goes to the front of the queue: to a worker that is free now, or else to the first
    // that frees up (its successor takes a moment to start, and may not be the first).
    const requeued = waiting.filter((t) => this.#tasks.has(t.id))
    for (const t of requeued) t.slot = undefined
    this.#queue.unshift(...requeued)
    if (this.#closed) return
    const i = this.#slots.indexOf(slot)
    if (i >= 0) this.#slots[i] = this.#spawn()
    this.#dispatch()
  }

  #settle(task: Task, answer: PoolAnswer): void {
    if (!this.#tasks.delete(task.id)) return
    clearTimeout(task.timer)
    for (const controller of task.lookups.values()) controller.abort(new Error('deadline exceeded'))
    task.lookups.clear()
    task.finish(answer)
  }
}
