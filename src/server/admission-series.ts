// The admission duration histogram and request counter, kept by hand.
// prom-client's Histogram and Counter check and hash a series' labels on
// every observation, and the Histogram turns each bucket bound into a string
// twice; on the server that was a measurable share of a pass-through Pod's
// admission. Here a series is found by one string key and its buckets are a
// typed array. The registry shows them exactly as prom-client's Histogram
// and Counter would: the same values in the same order, formatted by the
// registry itself (test/units/admission-series.ts compares the two).

import type { Metric, Registry } from 'prom-client'

type AdmissionLabels = { endpoint: string; resource: string; outcome: string }

interface Series {
  labels: AdmissionLabels
  /** Observations per bucket, not cumulative; the last slot is past every bound. */
  buckets: Float64Array
  sum: number
  count: number
}

/** One value as prom-client's registry formats it: `labels` first, then `sharedLabels`. */
interface Value {
  labels: Record<string, string | number>
  sharedLabels?: Record<string, string>
  value: number
  metricName?: string
  exemplar?: null
}

export class AdmissionSeries {
  readonly #bounds: readonly number[]
  readonly #series = new Map<string, Series>()

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds
  }

  /** One admission; the series' labels object is made only the first time it is seen. */
  observe(endpoint: string, resource: string, outcome: string, seconds: number): void {
    const key = `${endpoint}\u0000${resource}\u0000${outcome}`
    let series = this.#series.get(key)
    if (series === undefined) {
      series = {
        labels: { endpoint, resource, outcome },
        buckets: new Float64Array(this.#bounds.length + 1),
        sum: 0,
        count: 0,
      }
      this.#series.set(key, series)
    }
    let bucket = 0
    while (bucket < this.#bounds.length && seconds > (this.#bounds[bucket] as number)) bucket++
    series.buckets[bucket] = (series.buckets[bucket] as number) + 1
    series.sum += seconds
    series.count++
  }

  /** The histogram, registered on `registry` under `name`. */
  registerHistogram(registry: Registry, name: string, help: string): void {
    const values = (): Value[] => {
      const out: Value[] = []
      for (const s of this.#series.values()) {
        let cumulative = 0
        for (let i = 0; i < this.#bounds.length; i++) {
          cumulative += s.buckets[i] as number
          out.push({ labels: { le: this.#bounds[i] as number }, sharedLabels: s.labels, value: cumulative, metricName: `${name}_bucket`, exemplar: null })
        }
        out.push({ labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: `${name}_bucket`, exemplar: null })
        out.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${name}_sum` })
        out.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${name}_count` })
      }
      return out
    }
    this.#register(registry, {
      name,
      help,
      type: 'histogram',
      // What prom-client's Histogram.get gives (getMetricsAsJSON): each value's labels with its series' merged in.
      get: async () => ({
        name,
        help,
        type: 'histogram',
        values: values().map(({ labels, sharedLabels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } })),
        aggregator: 'sum',
      }),
      getForPromString: async () => ({ name, help, type: 'histogram', aggregator: 'sum', values: values() }),
    })
  }

  /** The counter of observations, registered on `registry` under `name`. */
  registerCounter(registry: Registry, name: string, help: string): void {
    const values = (): Value[] => [...this.#series.values()].map((s) => ({ value: s.count, labels: s.labels }))
    this.#register(registry, {
      name,
      help,
      type: 'counter',
      get: async () => ({ help, name, type: 'counter', values: values(), aggregator: 'sum' }),
    })
  }

  #register(registry: Registry, metric: { name: string; help: string; type: string; get(): Promise<unknown>; getForPromString?(): Promise<unknown> }): void {
    // The registry reads a metric through name, get and getForPromString; reset clears it as it does prom-client's.
    registry.registerMetric({ ...metric, aggregator: 'sum', reset: () => this.#series.clear() } as unknown as Metric)
  }
}
