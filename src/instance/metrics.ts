/**
 * The instance manager's `/metrics` (Prometheus text format, on the probe port): whether its server answers, the
 * server's role, replication per channel, and the backup sessions it streamed. Rendered from one snapshot per
 * scrape — the status query the scrape makes plus the session counters the server keeps — so the figures of one
 * scrape agree with each other.
 *
 * The Pod's namespace and Cluster come from the scrape's target labels (the Pod's labels), not from here.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { type Labels, makeMetrics } from "../platform/metrics.ts"
import type { InstanceStatus } from "./protocol.ts"

/** How a backup session ended: the tool succeeded, failed, or the client went away and the tool was stopped. */
export type SessionResult = "completed" | "failed" | "aborted"

/** What the server counts across backup sessions. */
export interface BackupSessions {
  readonly running: boolean
  readonly ended: Readonly<Record<SessionResult, number>>
  /** Bytes of backup stream written to clients, all sessions. */
  readonly streamedBytes: number
  /** The latest finished session. */
  readonly last:
    | { readonly bytes: number; readonly durationSeconds: number; readonly result: SessionResult }
    | undefined
}

/** One scrape's inputs: the server's status (`undefined`: it did not answer) and the session counters. */
export interface InstanceSnapshot {
  readonly status: Omit<InstanceStatus, "ready" | "backupRunning" | "flavor"> | undefined
  readonly flavor: string
  readonly sessions: BackupSessions
}

const gauge = (value: number, labels: Labels = {}) => Effect.succeed([[labels, value] as const])

/** The exposition text of one snapshot. */
export const renderInstanceMetrics = (snapshot: InstanceSnapshot): Effect.Effect<string> =>
  Effect.gen(function* () {
    const metrics = makeMetrics()
    const { status, sessions } = snapshot
    yield* metrics.gauge(
      "cnmysql_instance_up",
      "1 when the database server answers the instance manager's status query",
      gauge(status === undefined ? 0 : 1, { flavor: snapshot.flavor })
    )
    if (status !== undefined) {
      yield* metrics.gauge(
        "cnmysql_instance_role",
        "The server's role: 1 for the role it has",
        gauge(1, { role: status.role })
      )
      yield* metrics.gauge(
        "cnmysql_instance_read_only",
        "1 when the server refuses writes (read_only)",
        gauge(status.readOnly ? 1 : 0)
      )
      yield* metrics.gauge(
        "cnmysql_instance_replication_running",
        "1 when both replication threads of a channel run",
        Effect.succeed(
          status.replication.map(
            (channel) => [{ channel: channel.name }, channel.ioRunning && channel.sqlRunning ? 1 : 0] as const
          )
        )
      )
      yield* metrics.gauge(
        "cnmysql_instance_replication_lag_seconds",
        "How far a replication channel's applier is behind its source (absent while unknown)",
        Effect.succeed(
          status.replication.flatMap((channel) =>
            channel.lagSeconds === null ? [] : [[{ channel: channel.name }, channel.lagSeconds] as const]
          )
        )
      )
    }
    yield* metrics.gauge(
      "cnmysql_instance_backup_running",
      "1 while a backup session streams",
      gauge(sessions.running ? 1 : 0)
    )
    yield* metrics.describe("cnmysql_instance_backup_sessions_total", "Backup sessions by how they ended")
    for (const result of ["completed", "failed", "aborted"] as const) {
      yield* metrics.increment("cnmysql_instance_backup_sessions_total", { result }, sessions.ended[result])
    }
    yield* metrics.describe("cnmysql_instance_backup_streamed_bytes_total", "Backup stream bytes sent to clients")
    yield* metrics.increment("cnmysql_instance_backup_streamed_bytes_total", {}, sessions.streamedBytes)
    const last = sessions.last
    if (last !== undefined) {
      yield* metrics.gauge(
        "cnmysql_instance_last_backup_session_bytes",
        "Bytes the latest finished backup session streamed",
        gauge(last.bytes, { result: last.result })
      )
      yield* metrics.gauge(
        "cnmysql_instance_last_backup_session_duration_seconds",
        "How long the latest finished backup session took",
        gauge(last.durationSeconds, { result: last.result })
      )
    }
    return yield* metrics.render
  })
