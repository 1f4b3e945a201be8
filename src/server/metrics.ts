// Prometheus metrics, on a registry of their own per server: tests build
// several servers in one process, and nothing here may be a module singleton.
// Every label value comes from a fixed set: each distinct value is a series
// held forever, so a caller's string as a label (a made-up resource name per
// request) grows /metrics and this process without bound.

import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client'
import { AdmissionSeries } from './admission-series.ts'

export interface AdmissionObservation {
  endpoint: 'mutate' | 'validate'
  resource: string
  outcome: string
  allowed: boolean
  seconds: number
  expandedSteps: number
}

export interface Metrics {
  readonly registry: Registry
  observe(o: AdmissionObservation): void
  /** A catalog reload finished; `keptLastGood` lists files served at their last good version. */
  catalogReloaded(r: { changed: boolean; keptLastGood: readonly string[] }): void
  /** A catalog reload failed as a whole: the definitions loaded before stay in use. */
  catalogReloadFailed(): void
  /** A watched cluster resource changed state (cluster.ts): synced, failing, absent. */
  clusterStatus(s: { resource: string; state: string; objects: number }): void
  /** The step policies known now, replacing the last list: their series come and go with them. */
  policiesChanged(list: readonly ListedPolicy[]): void
  /** What the policies did with one admitted object. */
  policiesEvaluated(report: { evaluated: readonly string[]; violations: readonly { policy: string; rule: string; mode: string }[] }): void
}

/** A policy as /metrics lists it: `active` is in force; `invalid` was found wrong in the cluster and is not. */
export interface ListedPolicy {
  id: string
  kind: string
  mode: string
  state: 'active' | 'invalid'
}

export interface MetricsOptions {
  /** stepsplice's version, for stepsplice_build_info. */
  version: string
  /** What the catalog read but cannot serve now (Catalog.brokenDefinitions), read when scraped. */
  brokenDefinitions?: () => readonly { source: string }[]
  /** The step policies at start (policiesChanged replaces them). */
  policies?: readonly ListedPolicy[]
}

/** The catalogs that report broken definitions: a fixed set of label values. */
const brokenSources = ['directory', 'cluster'] as const

/** The resources a label may name; anything else is counted as `other`. */
const resourceLabels = new Set(['taskruns', 'pipelineruns', 'pods', 'stepactions'])
/** Outcomes of admission/mutate.ts and app.ts (`valid`, `error`); anything else is `other`. */
const outcomeLabels = new Set(['patched', 'unchanged', 'denied', 'timeout', 'skipped', 'valid', 'error'])

function fixedLabel(allowed: ReadonlySet<string>, value: string): string {
  return allowed.has(value) ? value : 'other'
}

export function createMetrics(catalogSize: () => number, options: MetricsOptions = { version: 'unknown' }): Metrics {
  const registry = new Registry()
  // Process and Node.js metrics (memory, CPU, event loop lag, GC), read when scraped.
  collectDefaultMetrics({ register: registry })
  new Gauge({
    name: 'stepsplice_build_info',
    help: 'Always 1; the labels say which stepsplice and which Node.js are running.',
    labelNames: ['version', 'node'],
    registers: [registry],
  }).set({ version: options.version, node: process.version }, 1)
  // Policy names are labels: operators and namespace admins choose them, so a series lives only as long as its policy.
  const listed = new Gauge({
    name: 'stepsplice_policies',
    help: 'The step policies known (always 1), by policy, kind, mode and state: active (in force) or invalid (not in force).',
    labelNames: ['policy', 'kind', 'mode', 'state'],
    registers: [registry],
  })
  const evaluations = new Counter({
    name: 'stepsplice_policy_evaluations_total',
    help: 'Objects each step policy judged.',
    labelNames: ['policy'],
    registers: [registry],
  })
  const violations = new Counter({
    name: 'stepsplice_policy_violations_total',
    help: 'Violations each step policy found, by rule and mode (Enforce denied the object, Audit warned).',
    labelNames: ['policy', 'rule', 'mode'],
    registers: [registry],
  })
  let known = new Set<string>()
  /** The rule and mode series each policy has, so all of them go when it does (prom-client removes one series at a time). */
  const violationSeries = new Map<string, Map<string, { rule: string; mode: string }>>()
  const policiesChanged = (list: readonly ListedPolicy[]): void => {
    const next = new Set(list.filter((p) => p.state === 'active').map((p) => p.id))
    listed.reset()
    for (const p of list) listed.set({ policy: p.id, kind: p.kind, mode: p.mode, state: p.state }, 1)
    for (const id of known) {
      if (next.has(id)) continue
      evaluations.remove({ policy: id })
      for (const { rule, mode } of violationSeries.get(id)?.values() ?? []) violations.remove({ policy: id, rule, mode })
      violationSeries.delete(id)
    }
    known = next
  }
  policiesChanged(options.policies ?? [])
  // Every admission observes these two: kept by hand, shown as prom-client shows a Histogram and a Counter (admission-series.ts).
  const admissions = new AdmissionSeries([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5])
  admissions.registerHistogram(registry, 'stepsplice_admission_duration_seconds', 'Time to answer an admission request, by resource and outcome.')
  admissions.registerCounter(registry, 'stepsplice_admission_requests_total', 'Admission requests answered.')
  const denials = new Counter({
    name: 'stepsplice_admission_denials_total',
    help: 'Admission requests denied.',
    labelNames: ['endpoint', 'resource'],
    registers: [registry],
  })
  const expanded = new Counter({
    name: 'stepsplice_expanded_steps_total',
    help: 'Step references expanded into admitted objects.',
    labelNames: ['resource'],
    registers: [registry],
  })
  const deadline = new Counter({
    name: 'stepsplice_admission_deadline_exceeded_total',
    help: 'Admission requests whose step resolution ran past the deadline.',
    labelNames: ['resource'],
    registers: [registry],
  })
  new Gauge({
    name: 'stepsplice_catalog_definitions',
    help: 'Step definitions held by the catalog.',
    registers: [registry],
    collect() {
      this.set(catalogSize())
    },
  })
  const brokenDefinitions = options.brokenDefinitions
  new Gauge({
    name: 'stepsplice_catalog_invalid_definitions',
    help: 'What the catalog read but cannot serve: files that do not parse or cannot be read, or hold an invalid StepAction (source directory), and invalid StepActions (source cluster).',
    labelNames: ['source'],
    registers: [registry],
    collect() {
      const held = brokenDefinitions?.() ?? []
      for (const source of brokenSources) this.set({ source }, held.filter((r) => r.source === source).length)
    },
  })
  const reloads = new Counter({
    name: 'stepsplice_catalog_reloads_total',
    help: 'Catalog reloads, by outcome: changed, unchanged (a re-scan that found nothing new) or failed.',
    labelNames: ['outcome'],
    registers: [registry],
  })
  const keptLastGood = new Gauge({
    name: 'stepsplice_catalog_files_kept_last_good',
    help: 'Catalog files that no longer parse or validate and are served at their last good version.',
    registers: [registry],
  })
  const clusterStates = ['syncing', 'synced', 'failing', 'absent']
  const clusterState = new Gauge({
    name: 'stepsplice_cluster_resource_state',
    help: 'State of each watched cluster resource: 1 for its current state (syncing, synced, failing, absent), 0 for the others.',
    labelNames: ['resource', 'state'],
    registers: [registry],
  })
  const clusterObjects = new Gauge({
    name: 'stepsplice_cluster_resource_objects',
    help: 'Objects held from each watched cluster resource.',
    labelNames: ['resource'],
    registers: [registry],
  })
  return {
    registry,
    policiesChanged,
    policiesEvaluated(report) {
      // A policy that left while the object was judged is not counted: its series are gone for good.
      for (const id of report.evaluated) if (known.has(id)) evaluations.inc({ policy: id })
      for (const v of report.violations) {
        if (!known.has(v.policy)) continue
        const series = violationSeries.get(v.policy) ?? new Map<string, { rule: string; mode: string }>()
        violationSeries.set(v.policy, series)
        series.set(`${v.rule} ${v.mode}`, { rule: v.rule, mode: v.mode })
        violations.inc({ policy: v.policy, rule: v.rule, mode: v.mode })
      }
    },
    clusterStatus(s) {
      // The resource names are stepsplice's own (stepactions.tekton.dev/v1beta1, tasks.tekton.dev/v1): a fixed set.
      for (const state of clusterStates) clusterState.set({ resource: s.resource, state }, s.state === state ? 1 : 0)
      clusterObjects.set({ resource: s.resource }, s.objects)
    },
    catalogReloaded(r) {
      reloads.inc({ outcome: r.changed ? 'changed' : 'unchanged' })
      keptLastGood.set(r.keptLastGood.length)
    },
    catalogReloadFailed() {
      reloads.inc({ outcome: 'failed' })
    },
    observe(o) {
      const endpoint = o.endpoint
      const resource = fixedLabel(resourceLabels, o.resource)
      admissions.observe(endpoint, resource, fixedLabel(outcomeLabels, o.outcome), o.seconds)
      if (!o.allowed) denials.inc({ endpoint, resource })
      if (o.outcome === 'timeout') deadline.inc({ resource })
      if (o.expandedSteps > 0) expanded.inc({ resource }, o.expandedSteps)
    },
  }
}
