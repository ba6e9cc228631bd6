/**
 * The controller-manager's metrics registry, served on `/metrics` (src/platform/metrics.ts renders it): reconcile
 * counts and durations, queue depths, cache sizes, leadership, process memory and CPU, and the per-Cluster backup
 * figures (backupMetrics.ts).
 *
 * @since 0.1.0
 */
import { Context, Layer } from "effect"
import { type MetricsService, makeMetrics } from "../platform/metrics.ts"

/** The metrics registry of the process. */
export class Metrics extends Context.Service<Metrics, MetricsService>()("cloudnative-mysql/controller/Metrics") {
  static readonly layer: Layer.Layer<Metrics> = Layer.sync(Metrics, () => Metrics.of(makeMetrics()))
}
