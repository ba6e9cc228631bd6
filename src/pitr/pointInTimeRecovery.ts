/**
 * Point-in-time recovery after a base restore, as one step the restore can call: read the archive, plan
 * (`RecoveryTargetUnreachable` before anything touches the data), verify and replay (`replay.ts`). The base
 * backup must already be restored and the private server running at its GTID state, with nothing written since.
 *
 * @since 0.2.0
 */
import { Effect } from "effect"
import { archivedManifests } from "./archiveCatalog.ts"
import { type BaseBackup, planRecovery, type RecoveryTarget } from "./recoveryPlan.ts"
import { type ReplayTarget, replayPlan } from "./replay.ts"

/** Plans from the archive under `archivePrefix` and replays into `server`; returns the plan and the final GTID. */
export const pointInTimeRecovery = Effect.fn("pitr.pointInTimeRecovery")(function* <B extends BaseBackup>(options: {
  readonly archivePrefix: string
  /** The restored backup (pinned: the plan must start from it). */
  readonly backup: B
  readonly target: RecoveryTarget
  readonly server: ReplayTarget
}) {
  const manifests = yield* archivedManifests(options.archivePrefix)
  const plan = yield* planRecovery({
    backups: [options.backup],
    manifests,
    target: options.target,
    backupID: options.backup.backupId
  })
  const gtid = yield* replayPlan(plan, options.archivePrefix, options.server)
  return { plan, gtid }
})
