/**
 * Per-Cluster archiving figures for the controller's `/metrics`, read from the shared Cluster cache at scrape
 * time (the Clusters' status is the record; the controller never reads the archive): the archive lag and the
 * recoverability window's first and last point.
 *
 * @since 0.2.0
 */
import type { Cluster } from "../../api/cluster.ts"
import type { Labels } from "../../platform/metrics.ts"
import type { Series } from "../backupMetrics.ts"
import { findCondition } from "../conditions.ts"
import { parseTime } from "../time.ts"
import { continuousArchiving } from "./decide.ts"

/** The gauges, by metric name, with their help texts. */
export const archivingGauges = {
  cnmysql_binlog_archive_lag_seconds:
    "Seconds since the last archived transaction while the primary is ahead of the archive (0 when caught up)",
  cnmysql_binlog_archive_continuous: "1 while the ContinuousArchiving condition is True",
  cnmysql_recoverability_first_timestamp_seconds: "The earliest point a recovery can reach (Unix time)",
  cnmysql_recoverability_last_timestamp_seconds: "The latest point a recovery can reach (Unix time)"
} as const

export type ArchivingGauge = keyof typeof archivingGauges

/** Every gauge's series at `nowMillis`: one series per Cluster that reports the figure. */
export const archivingSeries = (
  clusters: ReadonlyArray<Cluster>,
  nowMillis: number
): Readonly<Record<ArchivingGauge, Series>> => {
  const each = (value: (cluster: Cluster) => number | undefined): Series =>
    clusters.flatMap((cluster) => {
      const v = value(cluster)
      const labels: Labels = { namespace: cluster.metadata.namespace ?? "", cluster: cluster.metadata.name ?? "" }
      return v === undefined ? [] : [[labels, v] as const]
    })
  const seconds = (millis: number | undefined) => (millis === undefined ? undefined : millis / 1000)
  return {
    cnmysql_binlog_archive_lag_seconds: each((c) => {
      const archive = c.status?.binlogArchive
      if (archive?.caughtUp === undefined) return undefined
      if (archive.caughtUp) return 0
      const last = parseTime(archive.lastArchivedTime)
      return last === undefined ? undefined : Math.max(0, (nowMillis - last) / 1000)
    }),
    cnmysql_binlog_archive_continuous: each((c) => {
      const condition = findCondition(c.status?.conditions, continuousArchiving)
      return condition === undefined ? undefined : condition.status === "True" ? 1 : 0
    }),
    cnmysql_recoverability_first_timestamp_seconds: each((c) =>
      seconds(parseTime(c.status?.recoverabilityWindow?.firstRecoverableTime))
    ),
    cnmysql_recoverability_last_timestamp_seconds: each((c) =>
      seconds(parseTime(c.status?.recoverabilityWindow?.lastRecoverableTime))
    )
  }
}
