/**
 * Recovery resolution (pure): which backup a Cluster's recovery Job restores, from `bootstrap.recovery`.
 *
 * - `backup.name`: the Backup must exist (`BackupNotFound`, pending: it may be created later) and be
 *   `completed` with its id, SHA-256 and size in status (`BackupNotCompleted`, pending); the keys follow from
 *   the object layout. Its object store is the Backup's own override, else its Cluster's
 *   `spec.backup.objectStore`, else the recovering Cluster's (`ObjectStoreNotConfigured` when none).
 * - `source`: the `externalClusters` entry (`ExternalClusterNotFound`) with an `objectStore`
 *   (`ExternalClusterObjectStoreMissing`). The catalog under its prefix (latest completed, or `backupID`) is
 *   read by the restore Job, not here: the controller has no object-store client.
 * - both or neither: `RecoverySourceConflict` (the API server already refuses it at admission).
 * - a `recoveryTarget.targetGTID` that is not the Cluster's flavour's form (its image says which):
 *   `InvalidConfiguration`, before any Job (the CRD cannot know the flavour; the restore checks it again).
 *
 * And the other direction: the Job's termination message becomes `status.recovery` or a failure, and the plan
 * Job's (a point-in-time recovery's, docs/pitr.md) becomes `status.recovery.plan`.
 *
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import type { Backup } from "../../api/backup.ts"
import { parseBackupId } from "../../api/backupId.ts"
import type { Cluster, RecoveryPlanStatus, RecoveryStatus } from "../../api/cluster.ts"
import {
  BackupNotCompleted,
  BackupNotFound,
  ExternalClusterNotFound,
  ExternalClusterObjectStoreMissing,
  InvalidConfiguration,
  InvalidName,
  ObjectStoreNotConfigured,
  RecoverySourceConflict
} from "../../api/failures.ts"
import { flavorOfImage } from "../../api/images.ts"
import type { FailureMessage, RestoreResult } from "../../api/jobs.ts"
import {
  decodeRecoveryPlanTerminationMessage,
  decodeRestoreTerminationMessage,
  isFailureMessage
} from "../../api/jobs.ts"
import { recoveryJobName } from "../../api/names.ts"
import { flavorOf } from "../../instance/flavor.ts"
import { backupKeys } from "../../objectstore/layout.ts"
import type { ClusterRef, RecoveryPlan } from "./render.ts"

/** What recovery resolution reads besides the Cluster: Backups and Clusters of its namespace by name. */
export interface RecoveryLookup {
  readonly backup: (name: string) => Backup | undefined
  readonly cluster: (name: string) => Cluster | undefined
}

/** Resolves `bootstrap.recovery` to a plan; `undefined` when the Cluster is not recovered. */
export const recoveryPlan = (cluster: ClusterRef, lookup: RecoveryLookup) =>
  Effect.gen(function* () {
    const recovery = cluster.spec.bootstrap?.recovery
    if (recovery === undefined) return undefined
    if ((recovery.backup === undefined) === (recovery.source === undefined)) {
      return yield* new RecoverySourceConflict({ detail: "set exactly one of backup and source" })
    }
    const targetGTID = recovery.recoveryTarget?.targetGTID
    const flavor = flavorOf(flavorOfImage(cluster.spec.imageName))
    if (targetGTID !== undefined && flavor.gtidStates.parse(targetGTID) === undefined) {
      return yield* new InvalidConfiguration({
        detail: `recoveryTarget.targetGTID '${targetGTID}' is not ${flavor.gtidTargetForm}`
      })
    }
    // the restore replays the binlogs archived next to the backup it restores, whichever way it was named
    const pointInTime = recovery.recoveryTarget === undefined ? {} : { recoveryTarget: recovery.recoveryTarget }
    if (recovery.source !== undefined) {
      const source = recovery.source
      const external = cluster.spec.externalClusters?.find((entry) => entry.name === source)
      if (external === undefined) return yield* new ExternalClusterNotFound({ source })
      if (external.objectStore === undefined) return yield* new ExternalClusterObjectStoreMissing({ source })
      const backupId = recovery.backupID === undefined || recovery.backupID === "" ? undefined : recovery.backupID
      return {
        objectStore: external.objectStore,
        target: {
          _tag: "Prefix",
          source,
          ...(backupId === undefined ? {} : { backupId }),
          ...(recovery.onDamagedLatest === undefined ? {} : { onDamagedLatest: recovery.onDamagedLatest })
        },
        ...pointInTime
      } satisfies RecoveryPlan
    }
    const name = recovery.backup?.name ?? ""
    const backup = lookup.backup(name)
    if (backup === undefined) return yield* new BackupNotFound({ namespace: cluster.namespace, backup: name })
    const status = backup.status
    if (
      status?.phase !== "completed" ||
      status.backupId === undefined ||
      status.sha256 === undefined ||
      status.size === undefined
    ) {
      return yield* new BackupNotCompleted({ backup: name, phase: status?.phase ?? "" })
    }
    const objectStore =
      backup.spec.objectStore ??
      lookup.cluster(backup.spec.cluster.name)?.spec.backup?.objectStore ??
      cluster.spec.backup?.objectStore
    if (objectStore === undefined) return yield* new ObjectStoreNotConfigured({ cluster: backup.spec.cluster.name })
    const backupId = parseBackupId(status.backupId)
    if (Option.isNone(backupId)) {
      return yield* new InvalidName({ field: "backup id", value: status.backupId, detail: "not YYYYMMDDTHHMMSSZ" })
    }
    const keys = yield* backupKeys({
      path: objectStore.path ?? "",
      cluster: backup.spec.cluster.name,
      backupName: name,
      backupId: backupId.value
    })
    return {
      objectStore,
      target: {
        _tag: "Keys",
        backupName: name,
        archiveKey: keys.archiveKey,
        metadataKey: keys.metadataKey,
        sha256: status.sha256,
        size: status.size
      },
      ...pointInTime
    } satisfies RecoveryPlan
  })

/** What the recovery Job reported, decoded from its Pod's termination message. */
export type RecoveryOutcome =
  | { readonly _tag: "Restored"; readonly result: RestoreResult }
  | { readonly _tag: "Failed"; readonly failure: FailureMessage }
  /** The Job's container cannot start (`ErrImagePull`, a missing Secret, …): the kubelet's reason. */
  | { readonly _tag: "Unstartable"; readonly reason: string; readonly message: string }

/**
 * A Job's termination message decoded with `decode`: its result, or the failure it reported. A Job that failed
 * without a readable message (killed, OOM, image pull) is reported as `InternalError` with what Kubernetes said
 * (`fallback`); `job` names it in that message.
 */
export const terminationOutcome = <A>(
  job: string,
  decode: (message: string) => Effect.Effect<A | FailureMessage, unknown>,
  message: string | undefined,
  fallback: string
): Effect.Effect<
  { readonly _tag: "Done"; readonly value: A } | { readonly _tag: "Failed"; readonly failure: FailureMessage }
> => {
  const failed = (text: string) => ({ _tag: "Failed", failure: { reason: "InternalError", message: text } }) as const
  return message === undefined || message.trim() === ""
    ? Effect.succeed(failed(`the ${job} left no termination message: ${fallback}`))
    : decode(message).pipe(
        Effect.map((decoded) =>
          isFailureMessage(decoded)
            ? ({ _tag: "Failed", failure: decoded } as const)
            : ({ _tag: "Done", value: decoded as A } as const)
        ),
        Effect.orElseSucceed(() => failed(`the ${job}'s termination message does not decode: ${message.slice(0, 200)}`))
      )
}

/** Decodes a recovery Job's termination message (see `terminationOutcome`). */
export const recoveryOutcome = (message: string | undefined, fallback: string): Effect.Effect<RecoveryOutcome> =>
  Effect.map(
    terminationOutcome("recovery Job", decodeRestoreTerminationMessage, message, fallback),
    (outcome): RecoveryOutcome => (outcome._tag === "Done" ? { _tag: "Restored", result: outcome.value } : outcome)
  )

/** What the recovery plan Job reported; a failure to start or to plan is reported as the recovery Job's is. */
export type PlanOutcome =
  | { readonly _tag: "Planned"; readonly plan: RecoveryPlanStatus }
  | Exclude<RecoveryOutcome, { readonly _tag: "Restored" }>

/** Decodes a recovery plan Job's termination message (see `terminationOutcome`). */
export const planOutcome = (message: string | undefined, fallback: string): Effect.Effect<PlanOutcome> =>
  Effect.map(
    terminationOutcome("recovery plan Job", decodeRecoveryPlanTerminationMessage, message, fallback),
    (outcome): PlanOutcome => (outcome._tag === "Done" ? { _tag: "Planned", plan: outcome.value } : outcome)
  )

/** `status.recovery` before the Job finished: what was resolved. */
export const resolvedRecoveryStatus = (cluster: ClusterRef, plan: RecoveryPlan): RecoveryStatus => ({
  jobName: recoveryJobName(cluster.name),
  ...(plan.target._tag === "Keys"
    ? {
        backupName: plan.target.backupName,
        archiveKey: plan.target.archiveKey,
        metadataKey: plan.target.metadataKey,
        sha256: plan.target.sha256,
        size: plan.target.size
      }
    : { source: plan.target.source, ...(plan.target.backupId === undefined ? {} : { backupId: plan.target.backupId }) })
})

/** `status.recovery` after the Job succeeded: what was restored and where the server continues from. */
export const restoredRecoveryStatus = (
  cluster: ClusterRef,
  plan: RecoveryPlan | undefined,
  result: RestoreResult
): RecoveryStatus => ({
  ...(plan === undefined ? { jobName: recoveryJobName(cluster.name) } : resolvedRecoveryStatus(cluster, plan)),
  backupId: result.backupId,
  archiveKey: result.archiveKey,
  sha256: result.sha256,
  size: result.size,
  endGTID: result.gtid,
  ...(result.binlog === undefined ? {} : { endBinlog: `${result.binlog.file}:${result.binlog.position}` }),
  ...(result.skippedBackups === undefined || result.skippedBackups.length === 0
    ? {}
    : { skippedBackups: result.skippedBackups }),
  ...(result.pointInTime === undefined ? {} : { pointInTime: result.pointInTime }),
  completedAt: result.stoppedAt
})
