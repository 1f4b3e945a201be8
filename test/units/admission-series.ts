// The admission duration histogram and request counter are kept by hand
// (server/admission-series.ts) and must read exactly as prom-client's own
// Histogram and Counter fed the same observations: the same /metrics text,
// line for line, and the same JSON, for any sequence of series and
// durations, those on a bucket's bound and past the last included.

import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Counter, Histogram, Registry } from 'prom-client'
import t from 'tap'
import { AdmissionSeries } from '../../src/server/admission-series.ts'

const bounds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
const histogramName = 'stepsplice_admission_duration_seconds'
const counterName = 'stepsplice_admission_requests_total'

const observation = fc.record({
  endpoint: fc.constantFrom('mutate', 'validate'),
  resource: fc.constantFrom('taskruns', 'pods', 'other'),
  outcome: fc.constantFrom('patched', 'unchanged', 'denied'),
  seconds: fc.oneof(fc.constantFrom(0, ...bounds, 7, 1e-7), fc.double({ min: 0, max: 10, noNaN: true })),
})

t.test('the same /metrics text and JSON as prom-client', async (t) => {
  let compared = 0
  await fc.assert(
    fc.asyncProperty(fc.array(observation, { maxLength: 40 }), async (observations) => {
      const theirs = new Registry()
      const labelNames = ['endpoint', 'resource', 'outcome'] as const
      const histogram = new Histogram({ name: histogramName, help: 'h', labelNames, buckets: bounds, registers: [theirs] })
      const counter = new Counter({ name: counterName, help: 'c', labelNames, registers: [theirs] })
      const ours = new Registry()
      const series = new AdmissionSeries(bounds)
      series.registerHistogram(ours, histogramName, 'h')
      series.registerCounter(ours, counterName, 'c')
      for (const { seconds, ...labels } of observations) {
        histogram.observe(labels, seconds)
        counter.inc(labels)
        series.observe(labels.endpoint, labels.resource, labels.outcome, seconds)
      }
      assert.equal(await ours.metrics(), await theirs.metrics())
      assert.equal(JSON.stringify(await ours.getMetricsAsJSON()), JSON.stringify(await theirs.getMetricsAsJSON()))
      compared++
    }),
    { numRuns: 60 },
  )
  t.equal(compared, 60, '60 sequences of observations: the same text and JSON')
})
