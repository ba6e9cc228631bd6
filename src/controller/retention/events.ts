/**
 * The Events of the retention step: on the Cluster for each run's result, on a Backup whose data a run deleted.
 *
 * @since 0.2.0
 */
import type { EventSpec } from "../Events.ts"

interface Counts {
  readonly policy: string
  readonly backups: number
  readonly binlogFiles: number
}

/** Every Event of the retention step. */
export const retentionEvents = {
  dryRun: {
    type: "Normal",
    reason: "RetentionDryRun",
    message: ({ policy, backups, binlogFiles }) =>
      `retention policy ${policy} would delete ${backups} base backup(s) and ${binlogFiles} binlog file(s) (status.retention lists them)`
  } satisfies EventSpec<Counts>,
  applied: {
    type: "Normal",
    reason: "RetentionApplied",
    message: ({ policy, backups, binlogFiles }) =>
      `retention policy ${policy} deleted ${backups} base backup(s) and ${binlogFiles} binlog file(s)`
  } satisfies EventSpec<Counts>,
  failed: {
    type: "Warning",
    reason: "RetentionFailed",
    message: ({ reason, message }) => `retention run failed (${reason}): ${message}`
  } satisfies EventSpec<{ readonly reason: string; readonly message: string }>,
  dataRemoved: {
    type: "Normal",
    reason: "DataRemoved",
    message: ({ policy, backupId }) =>
      `retention policy ${policy} deleted backup ${backupId} from the object store; this Backup can no longer be restored`
  } satisfies EventSpec<{ readonly policy: string; readonly backupId: string }>
} as const
