/**
 * A metrics registry rendered in the Prometheus text exposition format (0.0.4), for the processes that serve
 * `/metrics` (the controller-manager, the instance manager). Counters and sums are kept here; gauges are read at
 * scrape time from their owners, so an idle process does no metrics work between scrapes.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"

/** Label names and values of one series. */
export type Labels = Readonly<Record<string, string>>

/** A gauge: its current values per label set, read when scraped. */
export type GaugeReader = Effect.Effect<ReadonlyArray<readonly [Labels, number]>>

/** The registry. */
export interface MetricsService {
  /** Adds `by` (default 1) to a counter series. */
  readonly increment: (name: string, labels: Labels, by?: number) => Effect.Effect<void>
  /** Registers a gauge read at every scrape. */
  readonly gauge: (name: string, help: string, read: GaugeReader) => Effect.Effect<void>
  /** Declares a counter's help text (series appear on first increment). */
  readonly describe: (name: string, help: string, type?: "counter" | "gauge") => Effect.Effect<void>
  /** The exposition text. */
  readonly render: Effect.Effect<string>
}

const escapeValue = (value: string): string =>
  value.replace(/\\/gu, "\\\\").replace(/\n/gu, "\\n").replace(/"/gu, '\\"')

const seriesKey = (labels: Labels): string =>
  Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}="${escapeValue(v)}"`)
    .join(",")

const formatNumber = (value: number): string =>
  Number.isFinite(value) ? String(value) : value > 0 ? "+Inf" : value < 0 ? "-Inf" : "NaN"

/** A fresh registry. */
export const makeMetrics = (): MetricsService => {
  const counters = new Map<string, Map<string, number>>()
  const help = new Map<string, { readonly help: string; readonly type: "counter" | "gauge" }>()
  const gauges = new Map<string, GaugeReader>()
  return {
    increment: (name, labels, by = 1) =>
      Effect.sync(() => {
        let series = counters.get(name)
        if (series === undefined) {
          series = new Map()
          counters.set(name, series)
        }
        const key = seriesKey(labels)
        series.set(key, (series.get(key) ?? 0) + by)
      }),
    gauge: (name, text, read) =>
      Effect.sync(() => {
        help.set(name, { help: text, type: "gauge" })
        gauges.set(name, read)
      }),
    describe: (name, text, type = "counter") =>
      Effect.sync(() => {
        help.set(name, { help: text, type })
      }),
    render: Effect.gen(function* () {
      const lines: Array<string> = []
      const header = (name: string, fallback: "counter" | "gauge") => {
        const entry = help.get(name)
        lines.push(`# HELP ${name} ${entry?.help ?? name}`, `# TYPE ${name} ${entry?.type ?? fallback}`)
      }
      for (const name of [...counters.keys()].sort()) {
        header(name, "counter")
        for (const [key, value] of counters.get(name) ?? []) {
          lines.push(`${name}${key === "" ? "" : `{${key}}`} ${formatNumber(value)}`)
        }
      }
      for (const name of [...gauges.keys()].sort()) {
        header(name, "gauge")
        for (const [labels, value] of yield* gauges.get(name)!) {
          const key = seriesKey(labels)
          lines.push(`${name}${key === "" ? "" : `{${key}}`} ${formatNumber(value)}`)
        }
      }
      return `${lines.join("\n")}\n`
    })
  }
}
