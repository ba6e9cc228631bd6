/**
 * The retention step's decision, pure: from the Cluster's policy, the last run in `status.retention`, the
 * retention Job (absent, running or finished with what it reported) and the Cluster's Backups, what to
 * create or delete, the new `status.retention`, which Backups get the `DataRemoved` condition, the Events and
 * when to look again (docs/pitr.md, "Retention").
 *
 * - **Schedule.** A run is due when the policy is new or changed, or `retentionIntervalSeconds` after the last
 *   run finished; otherwise the step asks to be woken when it is.
 * - **Dry run first.** A run is a dry run when `retentionDryRun` is set, and also whenever the last run did not
 *   succeed with this policy (it is new, changed, or the last run failed): what would be deleted is in the
 *   status at least one interval before anything is.
 * - **Two steps per finished Job**, so a result is never lost: first the result is copied into the status (its
 *   `lastRunTime` is the Job's finish time) and the Backups whose data went are marked; once the status holds
 *   that run and every such Backup is marked, the Job is deleted.
 *
 * @since 0.2.0
 */
import type { Backup, BackupStatus } from "../../api/backup.ts"
import type { RetentionStatus } from "../../api/cluster.ts"
import { retentionJobName } from "../../api/names.ts"
import type { RetentionResult } from "../../api/retentionJob.ts"
import type { Job } from "../../kube/resources.ts"
import type { ClusterRef } from "../cluster/render.ts"
import { isConditionTrue, setCondition } from "../conditions.ts"
import { event, type PendingEvent } from "../Events.ts"
import { finishedCondition } from "../jobConditions.ts"
import { rfc3339 } from "../time.ts"
import { retentionEvents } from "./events.ts"
import { renderRetentionJob } from "./render.ts"

/** How often retention runs: hourly. */
export const retentionIntervalSeconds = 60 * 60

/** The Backup condition that says retention deleted the backup's objects. */
export const dataRemovedCondition = { type: "DataRemoved", reason: "RetentionPolicy" } as const

/** What a retention run came to: its result, or why it failed (its own report, no result, or no start). */
export type RetentionOutcome =
  | { readonly _tag: "Result"; readonly result: RetentionResult }
  | { readonly _tag: "Failed"; readonly failure: { readonly reason: string; readonly message: string } }

/** The retention Job as observed. */
export type RetentionJobObservation =
  | { readonly _tag: "Absent" }
  | { readonly _tag: "Running" }
  | {
      readonly _tag: "Finished"
      readonly name: string
      readonly dryRun: boolean
      /** When it finished (`metav1.Time`); for a Job whose container cannot start, when it started. */
      readonly finishedAt: string
      readonly outcome: RetentionOutcome
    }

/** What the step acts on. */
export type RetentionAction =
  | { readonly _tag: "CreateJob"; readonly job: Job }
  | { readonly _tag: "DeleteJob"; readonly name: string }

/** A Backup to mark, the status with the condition set, and the Event on it. */
export interface BackupMark {
  readonly backup: Backup
  readonly status: BackupStatus
  readonly event: PendingEvent
}

/** What the step decided. */
export interface RetentionDecision {
  readonly actions: ReadonlyArray<RetentionAction>
  /** The new `status.retention` (`undefined`: leave it as it is). */
  readonly status: RetentionStatus | undefined
  readonly marks: ReadonlyArray<BackupMark>
  /** Events on the Cluster, recorded with its status write. */
  readonly events: ReadonlyArray<PendingEvent>
  readonly requeueAfterSeconds?: number
}

/** The status a finished run leaves. */
const statusOf = (
  outcome: RetentionOutcome,
  job: Extract<RetentionJobObservation, { _tag: "Finished" }>,
  policy: string,
  previous: RetentionStatus | undefined
): RetentionStatus => {
  if (outcome._tag === "Failed") {
    // what the last good run listed stays visible next to why this one failed
    const { failure: _, ...kept } = previous ?? { policy, lastRunTime: job.finishedAt, dryRun: job.dryRun }
    return {
      ...kept,
      policy,
      lastRunTime: job.finishedAt,
      dryRun: job.dryRun,
      failure: outcome.failure
    }
  }
  const r = outcome.result
  return {
    policy: r.policy,
    lastRunTime: job.finishedAt,
    dryRun: r.dryRun,
    windowStart: r.windowStart,
    ...(r.anchorBackupId === undefined ? {} : { anchorBackupId: r.anchorBackupId }),
    backups: r.backups,
    moreBackups: r.moreBackups,
    binlogFiles: r.binlogFiles,
    binlogFilesTotal: r.binlogFilesTotal
  }
}

/** The Backups of a real run's result that do not carry the condition yet, with it set. */
const marksOf = (
  result: RetentionResult,
  backups: ReadonlyArray<Backup>,
  finishedAt: string
): ReadonlyArray<BackupMark> => {
  if (result.dryRun) return []
  return backups.flatMap((backup) => {
    const deleted = result.backups.find(
      (b) => b.backupName === backup.metadata.name && b.backupId === backup.status?.backupId
    )
    if (deleted === undefined || isConditionTrue(backup.status?.conditions, dataRemovedCondition.type)) return []
    const status = backup.status ?? {}
    return [
      {
        backup,
        status: {
          ...status,
          conditions: setCondition(
            status.conditions,
            {
              ...dataRemovedCondition,
              status: "True",
              message: `retention policy ${result.policy} deleted backup ${deleted.backupId} from the object store (the window started at ${result.windowStart})`
            },
            finishedAt
          )
        },
        event: event(retentionEvents.dataRemoved, { policy: result.policy, backupId: deleted.backupId })
      }
    ]
  })
}

const eventsOf = (outcome: RetentionOutcome): ReadonlyArray<PendingEvent> => {
  if (outcome._tag === "Failed") return [event(retentionEvents.failed, outcome.failure)]
  const r = outcome.result
  const counts = {
    policy: r.policy,
    // a dry run names everything selected; a real run what it deleted (the rest waits for the next run)
    backups: r.dryRun ? r.backups.length + r.moreBackups : r.backups.length,
    binlogFiles: r.binlogFilesTotal
  }
  return [event(r.dryRun ? retentionEvents.dryRun : retentionEvents.applied, counts)]
}

/** The decision (see the module comment); `now` is epoch milliseconds. */
export const decideRetention = (input: {
  readonly cluster: ClusterRef
  readonly previous: RetentionStatus | undefined
  readonly job: RetentionJobObservation
  /** The Backups of this Cluster. */
  readonly backups: ReadonlyArray<Backup>
  readonly now: number
}): RetentionDecision => {
  const { cluster, previous, job, now } = input
  const policy = cluster.spec.backup?.retentionPolicy
  const none: RetentionDecision = { actions: [], status: undefined, marks: [], events: [] }
  if (job._tag === "Running") {
    return policy === undefined
      ? { ...none, actions: [{ _tag: "DeleteJob", name: retentionJobName(cluster.name) }] }
      : none
  }
  if (job._tag === "Finished") {
    const outcome = job.outcome
    const recorded = previous?.lastRunTime === job.finishedAt
    const status = recorded ? undefined : statusOf(outcome, job, policy ?? previous?.policy ?? "", previous)
    const marks = outcome._tag === "Result" ? marksOf(outcome.result, input.backups, job.finishedAt) : []
    if (!recorded) return { actions: [], status, marks, events: eventsOf(outcome) }
    return marks.length > 0
      ? { ...none, marks }
      : { ...none, actions: [{ _tag: "DeleteJob", name: job.name }], requeueAfterSeconds: retentionIntervalSeconds }
  }
  if (policy === undefined || cluster.spec.backup?.objectStore === undefined) return none
  const last = Date.parse(previous?.lastRunTime ?? "")
  const samePolicy = previous?.policy === policy
  const dueIn = samePolicy && !Number.isNaN(last) ? Math.ceil((last + retentionIntervalSeconds * 1000 - now) / 1000) : 0
  if (dueIn > 0) return { ...none, requeueAfterSeconds: dueIn }
  const dryRun = cluster.spec.backup.retentionDryRun === true || !samePolicy || previous?.failure !== undefined
  const rendered = renderRetentionJob(cluster, dryRun)
  return rendered === undefined ? none : { ...none, actions: [{ _tag: "CreateJob", job: rendered }] }
}

/** `metav1.Time` of a finished Job: its completion time, else when its last condition changed, else `now`. */
export const finishedAtOf = (job: Job, now: number): string =>
  job.status?.completionTime ?? finishedCondition(job)?.lastTransitionTime ?? rfc3339(now)
