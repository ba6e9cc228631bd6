/**
 * Per-Cluster backup figures for `/metrics`, read from the shared Backup cache at scrape time (nothing is kept
 * between scrapes, and a controller restart loses nothing: the Backups' status is the record). What the alerts in
 * `deploy/monitoring` watch: how old the last successful backup is, whether the last one failed, and what the last
 * successful one cost.
 *
 * @since 0.1.0
 */
import type { Backup } from "../api/backup.ts"
import type { Labels } from "../platform/metrics.ts"
import { findCondition } from "./conditions.ts"
import { parseTime } from "./time.ts"

/** One gauge's series. */
export type Series = ReadonlyArray<readonly [Labels, number]>

/** The gauges, by metric name, with their help texts. */
export const backupGauges = {
  cnmysql_backup_last_success_timestamp_seconds: "When the Cluster's latest completed Backup finished (Unix time)",
  cnmysql_backup_last_failure_timestamp_seconds: "When the Cluster's latest failed Backup failed (Unix time)",
  cnmysql_backup_last_success_size_bytes: "Size of the latest completed Backup's archive",
  cnmysql_backup_last_success_duration_seconds: "How long the latest completed Backup took, start to stop"
} as const

export type BackupGauge = keyof typeof backupGauges

interface Latest {
  readonly at: number
  readonly backup: Backup
}

/** When a finished Backup finished: `stoppedAt`, else when its Completed condition last changed. */
const finishedAt = (backup: Backup): number | undefined =>
  parseTime(backup.status?.stoppedAt) ??
  parseTime(findCondition(backup.status?.conditions, "Completed")?.lastTransitionTime)

/** Every gauge's series from the cached Backups: one series per Cluster that has such a Backup. */
export const backupSeries = (backups: ReadonlyArray<Backup>): Readonly<Record<BackupGauge, Series>> => {
  const success = new Map<string, Latest>()
  const failure = new Map<string, Latest>()
  for (const backup of backups) {
    const phase = backup.status?.phase
    if (phase !== "completed" && phase !== "failed") continue
    const at = finishedAt(backup)
    if (at === undefined) continue
    const key = JSON.stringify([backup.metadata.namespace ?? "", backup.spec.cluster.name])
    const latest = phase === "completed" ? success : failure
    if ((latest.get(key)?.at ?? Number.NEGATIVE_INFINITY) < at) latest.set(key, { at, backup })
  }
  const labels = (key: string): Labels => {
    const [namespace, cluster] = JSON.parse(key) as [string, string]
    return { namespace, cluster }
  }
  const each = (latest: Map<string, Latest>, value: (entry: Latest) => number | undefined): Series =>
    [...latest.entries()].flatMap(([key, entry]) => {
      const v = value(entry)
      return v === undefined ? [] : [[labels(key), v] as const]
    })
  return {
    cnmysql_backup_last_success_timestamp_seconds: each(success, (e) => e.at / 1000),
    cnmysql_backup_last_failure_timestamp_seconds: each(failure, (e) => e.at / 1000),
    cnmysql_backup_last_success_size_bytes: each(success, (e) => e.backup.status?.size),
    cnmysql_backup_last_success_duration_seconds: each(success, (e) => {
      const started = parseTime(e.backup.status?.startedAt)
      return started === undefined ? undefined : (e.at - started) / 1000
    })
  }
}
