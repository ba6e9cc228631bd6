/**
 * Point-in-time recovery after a base restore, in the two halves the restore needs: before anything touches the
 * data directory, read the archive, plan (`RecoveryTargetUnreachable`) and download every planned file verified
 * (`ChecksumMismatch`); after the base restore, replay them into the private server (`replay.ts`), which must be
 * at the backup's GTID state with nothing written since. And which base backups can start a recovery to a
 * target at all, for the catalog's choice (`eligibility`).
 *
 * @since 0.2.0
 */
import { Effect } from "effect"
import { backupIdToDate } from "../api/backupId.ts"
import type { FlavorName } from "../api/common.ts"
import { RecoveryTargetUnreachable } from "../api/failures.ts"
import type { Eligibility } from "../objectstore/catalog.ts"
import { archivedManifests } from "./archiveCatalog.ts"
import { type BaseBackup, describeTarget, endsBefore, planRecovery, type RecoveryTarget } from "./recoveryPlan.ts"
import { applyPlan, downloadPlanFiles, type ReplayTarget } from "./replay.ts"

/**
 * The catalog's rule for a recovery to `target`: only backups that end before it. A backup id is the time its
 * Job was created, before the backup started, so an id at or after a time target can never end before it and
 * is not even read (nor judged damaged). `flavor` says how end states compare (default MariaDB).
 */
export const eligibility = (target: RecoveryTarget, flavor: FlavorName = "mariadb"): Eligibility => ({
  mayBeEligible: (entry) =>
    target._tag === "Gtid" ||
    backupIdToDate(entry.backupId).getTime() < Math.floor(Date.parse(target.time) / 1000) * 1000,
  isEligible: (metadata) =>
    endsBefore(
      { backupId: metadata.backupId, endGTID: metadata.endGTID ?? "", stoppedAt: metadata.stoppedAt },
      target,
      flavor
    ),
  noneEligible: (passedOver) =>
    new RecoveryTargetUnreachable({
      why: "BeforeFirstRecoverablePoint",
      target: describeTarget(target),
      detail: `every completed base backup (${passedOver}) ends after it`
    })
})

/**
 * The plan of a recovery of `backup` (pinned) to `target` from the archive under `archivePrefix`: what the
 * restore acts on, and what the plan Job reports before the restore starts (`src/recovery/plan.ts`). The GTID
 * states are `flavor`'s (default MariaDB).
 */
export const planPointInTime = Effect.fn("pitr.planPointInTime")(function* <B extends BaseBackup>(options: {
  readonly archivePrefix: string
  readonly backup: B
  readonly target: RecoveryTarget
  readonly flavor?: FlavorName
}) {
  const manifests = yield* archivedManifests(options.archivePrefix)
  return yield* planRecovery({
    backups: [options.backup],
    manifests,
    target: options.target,
    backupID: options.backup.backupId,
    ...(options.flavor === undefined ? {} : { flavor: options.flavor })
  })
})

/** Plans the recovery of `backup` (pinned) to `target` and downloads the planned files, verified, into `dir`. */
export const preparePointInTime = Effect.fn("pitr.preparePointInTime")(function* <B extends BaseBackup>(options: {
  readonly archivePrefix: string
  readonly backup: B
  readonly target: RecoveryTarget
  readonly flavor?: FlavorName
  readonly dir: string
}) {
  const plan = yield* planPointInTime(options)
  yield* Effect.logInfo("point-in-time recovery planned").pipe(
    Effect.annotateLogs({
      target: describeTarget(options.target),
      startGTID: plan.startPosition,
      files: plan.files.map((f) => `${f.series}/${f.file}`)
    })
  )
  const files = yield* downloadPlanFiles(plan, options.archivePrefix, options.dir)
  return { plan, files }
})

/** Plans from the archive under `archivePrefix` and replays into `server`; returns the plan and the final GTID. */
export const pointInTimeRecovery = Effect.fn("pitr.pointInTimeRecovery")(function* <B extends BaseBackup>(options: {
  readonly archivePrefix: string
  /** The restored backup (pinned: the plan must start from it). */
  readonly backup: B
  readonly target: RecoveryTarget
  readonly flavor?: FlavorName
  readonly server: ReplayTarget
}) {
  const { plan, files } = yield* preparePointInTime({ ...options, dir: options.server.scratchDir })
  const gtid = yield* applyPlan(plan, files, options.server)
  return { plan, gtid }
})
