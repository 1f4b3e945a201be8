// Prometheus metrics, on a registry of their own per server: tests build
// several servers in one process, and nothing here may be a module singleton.

import { Counter, Gauge, Histogram, Registry } from 'prom-client'

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
}

export function createMetrics(catalogSize: () => number): Metrics {
  const registry = new Registry()
  const labelNames = ['endpoint', 'resource', 'outcome'] as const
  const duration = new Histogram({
    name: 'stepsplice_admission_duration_seconds',
    help: 'Time to answer an admission request, by resource and outcome.',
    labelNames,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  })
  const requests = new Counter({ name: 'stepsplice_admission_requests_total', help: 'Admission requests answered.', labelNames, registers: [registry] })
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
  return {
    registry,
    observe(o) {
      const labels = { endpoint: o.endpoint, resource: o.resource, outcome: o.outcome }
      duration.observe(labels, o.seconds)
      requests.inc(labels)
      if (!o.allowed) denials.inc({ endpoint: o.endpoint, resource: o.resource })
      if (o.outcome === 'timeout') deadline.inc({ resource: o.resource })
      if (o.expandedSteps > 0) expanded.inc({ resource: o.resource }, o.expandedSteps)
    },
  }
}
