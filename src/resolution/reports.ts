// Definitions a catalog read but cannot serve (a file that does not parse or
// cannot be read, a StepAction that is invalid), said when they are read, not
// only when a step references them. A catalog keeps what is broken now on a
// board; whoever watches it (the server: a log line and a metric) is told
// each report once when it appears or changes, and once when it clears: a
// re-scan that finds the same broken file says nothing again.

import { truncateText } from '../problems/truncate.ts'

export interface DefinitionReport {
  /** Which catalog read it. */
  source: 'directory' | 'cluster'
  /** What is wrong: the text does not parse, it cannot be read, or a StepAction in it is invalid. */
  kind: 'unparsable' | 'unreadable' | 'invalid'
  /** The file (directory catalog). */
  file?: string
  /** The StepAction's namespace and name, when known (cluster catalog: always). */
  namespace?: string
  name?: string
  /** The StepActions a file defines or tries to, as `namespace/name` (`*` for none), when known. */
  definitions?: string[]
  /** Why, one line each, bounded. */
  errors: string[]
}

export interface ReportChange {
  /** New reports, and reports whose errors changed. */
  reported: DefinitionReport[]
  /** Reports of what is fixed or gone. */
  cleared: DefinitionReport[]
}

export type ReportListener = (change: ReportChange) => void

/** Lines of errors a report keeps, and characters each. */
const maxErrors = 20
const maxErrorLength = 500

/** `errors` bounded, the rest counted, so a file full of mistakes makes one bounded log line. */
export function boundedErrors(errors: readonly string[]): string[] {
  const shown = errors.slice(0, maxErrors).map((e) => truncateText(e, maxErrorLength))
  return errors.length > maxErrors ? [...shown, `and ${errors.length - maxErrors} more`] : shown
}

export class ReportBoard {
  readonly #current = new Map<string, { report: DefinitionReport; text: string }>()
  readonly #listeners = new Set<ReportListener>()

  /** What is broken now. */
  get reports(): DefinitionReport[] {
    return [...this.#current.values()].map((r) => r.report)
  }

  /** Replaces everything held with `next` (by key), telling watchers only what changed. */
  replaceAll(next: ReadonlyMap<string, DefinitionReport>): void {
    const change: ReportChange = { reported: [], cleared: [] }
    for (const [key, held] of this.#current) {
      if (next.has(key)) continue
      this.#current.delete(key)
      change.cleared.push(held.report)
    }
    for (const [key, report] of next) this.#put(key, report, change)
    this.#tell(change)
  }

  /** Sets one key: a report, or undefined when what it named is fixed or gone. */
  set(key: string, report: DefinitionReport | undefined): void {
    const change: ReportChange = { reported: [], cleared: [] }
    if (report !== undefined) this.#put(key, report, change)
    else {
      const held = this.#current.get(key)
      if (held !== undefined) {
        this.#current.delete(key)
        change.cleared.push(held.report)
      }
    }
    this.#tell(change)
  }

  /** Calls `listener` at once with what is broken now (when anything is), then with each change; returns how to stop. */
  watch(listener: ReportListener): () => void {
    this.#listeners.add(listener)
    const now = this.reports
    if (now.length > 0) listener({ reported: now, cleared: [] })
    return () => void this.#listeners.delete(listener)
  }

  #put(key: string, report: DefinitionReport, change: ReportChange): void {
    const text = JSON.stringify(report)
    if (this.#current.get(key)?.text === text) return
    this.#current.set(key, { report, text })
    change.reported.push(report)
  }

  #tell(change: ReportChange): void {
    if (change.reported.length === 0 && change.cleared.length === 0) return
    for (const listener of this.#listeners) listener(change)
  }
}
