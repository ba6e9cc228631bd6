/**
 * The recovery plan Job's program (`cloudnative-mysql recovery-plan`, docs/pitr.md): with the restore's own
 * environment and code, resolve the base backup a point-in-time recovery would restore and the archived binlog
 * files it would replay, and report the plan without touching any data directory. An unreachable target is the
 * plan's answer (`reachable: false` with `RecoveryTargetUnreachable`'s `why`), not a failure of the program: the
 * controller, which cannot read the object store, fails the Cluster from it before the recovery Job exists.
 *
 * @since 0.2.0
 */
import { Effect } from "effect"
import type { BinlogManifest } from "../api/binlogArchive.ts"
import {
  type OnDamagedLatest,
  type PlannedBinlogFile,
  type RecoveryPlanStatus,
  recoveryPlanFileLimit
} from "../api/cluster.ts"
import type { FlavorName } from "../api/common.ts"
import type { RecoveryTargetUnreachable } from "../api/failures.ts"
import { flavorOf } from "../instance/flavor.ts"
import { binlogArchivePrefixOfBackup } from "../objectstore/binlogLayout.ts"
import { eligibility, planPointInTime } from "../pitr/pointInTimeRecovery.ts"
import { describeTarget, type RecoveryTarget } from "../pitr/recoveryPlan.ts"
import { firstWithinBytes } from "../platform/firstWithinBytes.ts"
import { baseBackupOf, type ResolvedBackup, type RestoreSource, resolveBackup } from "./resolve.ts"

/** At most this many bytes of file list: with the rest of the plan it stays inside a 4 KiB termination message. */
export const fileListBytes = 2048

/** The first planned files, at most `recoveryPlanFileLimit` and `fileListBytes` of JSON (names may be long). */
export const listedFiles = (files: ReadonlyArray<BinlogManifest>): ReadonlyArray<PlannedBinlogFile> =>
  firstWithinBytes(
    files.slice(0, recoveryPlanFileLimit).map((f) => ({ series: f.series, file: f.file, size: f.size })),
    recoveryPlanFileLimit,
    fileListBytes
  )

const unreachable = (
  target: RecoveryTarget,
  error: RecoveryTargetUnreachable,
  backup?: ResolvedBackup
): RecoveryPlanStatus => ({
  target: describeTarget(target),
  reachable: false,
  why: error.why,
  message: error.message,
  ...(backup === undefined ? {} : { backupId: backup.metadata.backupId, archiveKey: backup.archiveKey })
})

/**
 * The plan for `target` from `source`: the backup the restore would choose (same catalog rule, same
 * `onDamagedLatest`), then the restore's own plan over the archive next to it, in the Cluster's flavour
 * (default MariaDB).
 */
export const recoveryPlanOf = Effect.fn("recovery.recoveryPlanOf")(function* (
  source: RestoreSource,
  target: RecoveryTarget,
  options: { readonly onDamagedLatest?: OnDamagedLatest; readonly flavor?: FlavorName } = {}
) {
  const flavor = flavorOf(options.flavor ?? "mariadb")
  const resolved = yield* Effect.result(
    resolveBackup(source, {
      ...(options.onDamagedLatest === undefined ? {} : { onDamagedLatest: options.onDamagedLatest }),
      eligibility: eligibility(target, flavor.name)
    })
  )
  if (resolved._tag === "Failure") {
    const error = resolved.failure
    return error._tag === "RecoveryTargetUnreachable" ? unreachable(target, error) : yield* Effect.fail(error)
  }
  const backup = resolved.success
  return yield* planPointInTime({
    archivePrefix: binlogArchivePrefixOfBackup(backup.archiveKey),
    backup: baseBackupOf(backup, flavor),
    target,
    flavor: flavor.name
  }).pipe(
    Effect.map(
      (plan): RecoveryPlanStatus => ({
        target: describeTarget(target),
        reachable: true,
        backupId: backup.metadata.backupId,
        archiveKey: backup.archiveKey,
        startGTID: plan.startPosition,
        files: listedFiles(plan.files),
        fileCount: plan.files.length,
        byteCount: plan.files.reduce((sum, f) => sum + f.size, 0)
      })
    ),
    Effect.catchTag("RecoveryTargetUnreachable", (error) => Effect.succeed(unreachable(target, error, backup)))
  )
})
