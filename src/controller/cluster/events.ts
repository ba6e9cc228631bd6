/**
 * The Events of the Cluster controller (next to the Backup controllers' catalogue in `../Events.ts`). Failures of
 * the taxonomy are Warning Events with the failure's own reason (`failureEvent`).
 *
 * @since 0.1.0
 */
import type { RecoveryPlanStatus } from "../../api/cluster.ts"
import type { EventSpec } from "../Events.ts"

const spec = <Args>(
  type: EventSpec<Args>["type"],
  reason: string,
  message: (args: Args) => string
): EventSpec<Args> => ({
  type,
  reason,
  message
})

/** Every Event the Cluster controller emits besides taxonomy failures. */
export const clusterEvents = {
  recoveryPlanning: spec<{ readonly job: string; readonly target: string }>(
    "Normal",
    "RecoveryPlanning",
    ({ job, target }) => `created Job ${job} to plan the recovery to ${target}`
  ),
  /** The plan Job found the target reachable: what the recovery Job will restore and replay. */
  recoveryPlanned: spec<{ readonly plan: RecoveryPlanStatus }>(
    "Normal",
    "RecoveryPlanned",
    ({ plan }) =>
      `${plan.target} is reachable: backup ${plan.backupId ?? "?"} then ${plan.fileCount ?? 0} archived binlog file(s) (${plan.byteCount ?? 0} bytes)`
  ),
  recoveryStarted: spec<{ readonly job: string; readonly what: string }>(
    "Normal",
    "RecoveryStarted",
    ({ job, what }) => `created Job ${job} to restore ${what}`
  ),
  recovered: spec<{ readonly backupId: string; readonly gtid: string }>(
    "Normal",
    "Recovered",
    ({ backupId, gtid }) => `restored backup ${backupId}${gtid === "" ? "" : `, continuing from GTID ${gtid}`}`
  ),
  /** The recovery Job failed for a reason outside the taxonomy (killed, no termination message). */
  recoveryFailed: spec<{ readonly reason: string; readonly message: string }>(
    "Warning",
    "RecoveryFailed",
    ({ reason, message }) => `${reason}: ${message}`
  ),
  /** `onDamagedLatest: usePrevious` skipped newer damaged backups: the Cluster holds older data than the latest. */
  backupsSkipped: spec<{ readonly skipped: ReadonlyArray<{ readonly backupId: string; readonly message: string }> }>(
    "Warning",
    "DamagedBackupsSkipped",
    ({ skipped }) =>
      `restored an older backup: skipped ${skipped.length} damaged newer backup(s): ${skipped
        .map((s) => `${s.backupId} (${s.message})`)
        .join("; ")}`
  ),
  instanceCreated: spec<{ readonly instance: string; readonly role: string; readonly how: string }>(
    "Normal",
    "InstanceCreated",
    ({ instance, role, how }) => `created ${role} ${instance} (${how})`
  ),
  instanceRemoved: spec<{ readonly instance: string }>(
    "Normal",
    "InstanceRemoved",
    ({ instance }) => `scaled down: removed replica ${instance} and its volume`
  ),
  healthy: spec<{ readonly ready: number }>("Normal", "ClusterHealthy", ({ ready }) => `${ready} instance(s) ready`),
  degraded: spec<{ readonly ready: number; readonly wanted: number }>(
    "Warning",
    "ClusterDegraded",
    ({ ready, wanted }) => `${ready} of ${wanted} instance(s) ready`
  )
} as const

/**
 * Events that report something the reconcile did (created, removed), as opposed to a status transition: they
 * are recorded even when the status write of that reconcile loses to a concurrent change, because the next
 * reconcile will not do the same thing again.
 */
export const actionEventReasons: ReadonlySet<string> = new Set([
  clusterEvents.recoveryPlanning.reason,
  clusterEvents.recoveryStarted.reason,
  clusterEvents.instanceCreated.reason,
  clusterEvents.instanceRemoved.reason
])
