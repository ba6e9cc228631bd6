import { Effect } from "effect"
import { InvalidConfiguration } from "../api/failures.ts"
import type { RestoreEnv } from "../api/jobs.ts"
import { flavorOf } from "../instance/flavor.ts"
import { withObjectStoreFromEnv } from "../objectstore/ObjectStoreClient.ts"
import type { RecoveryTarget } from "../pitr/recoveryPlan.ts"
import { recoveryPlanOf } from "./plan.ts"
import type { RestoreSource } from "./resolve.ts"
import { restore } from "./restore.ts"

/** What to restore, from the decoded environment and the object store spec's `path`. */
export const restoreSource = (env: RestoreEnv, path: string): Effect.Effect<RestoreSource, InvalidConfiguration> => {
  const explicit = [
    env.RESTORE_ARCHIVE_KEY,
    env.RESTORE_METADATA_KEY,
    env.RESTORE_EXPECTED_SHA256,
    env.RESTORE_EXPECTED_SIZE
  ]
  const given = explicit.filter((v) => v !== undefined).length
  if (given === 4 && env.RESTORE_SOURCE_CLUSTER === undefined) {
    return Effect.succeed({
      _tag: "Keys",
      archiveKey: env.RESTORE_ARCHIVE_KEY ?? "",
      metadataKey: env.RESTORE_METADATA_KEY ?? "",
      expectedSha256: env.RESTORE_EXPECTED_SHA256 ?? "",
      expectedSize: env.RESTORE_EXPECTED_SIZE ?? 0
    })
  }
  if (given === 0 && env.RESTORE_SOURCE_CLUSTER !== undefined) {
    return Effect.succeed({
      _tag: "Prefix",
      path,
      cluster: env.RESTORE_SOURCE_CLUSTER,
      ...(env.RESTORE_BACKUP_ID === undefined ? {} : { backupId: env.RESTORE_BACKUP_ID })
    })
  }
  return Effect.fail(
    new InvalidConfiguration({
      detail:
        "set either all of RESTORE_ARCHIVE_KEY, RESTORE_METADATA_KEY, RESTORE_EXPECTED_SHA256, RESTORE_EXPECTED_SIZE, or RESTORE_SOURCE_CLUSTER (with an optional RESTORE_BACKUP_ID), not both"
    })
  )
}

/**
 * The point-in-time target, if any, validated by the Cluster's flavour before anything is downloaded: a MariaDB
 * GTID list, a MySQL GTID set (the recovered server's whole set), or a time.
 */
export const recoveryTargetOf = (env: RestoreEnv): Effect.Effect<RecoveryTarget | undefined, InvalidConfiguration> => {
  const gtid = env.RESTORE_RECOVERY_TARGET_GTID
  const time = env.RESTORE_RECOVERY_TARGET_TIME
  if (gtid === undefined && time === undefined) return Effect.succeed(undefined)
  const refuse = (detail: string) => Effect.fail(new InvalidConfiguration({ detail }))
  if (gtid !== undefined && time !== undefined) {
    return refuse("set at most one of RESTORE_RECOVERY_TARGET_GTID and RESTORE_RECOVERY_TARGET_TIME")
  }
  if (gtid !== undefined) {
    const flavor = flavorOf(env.RESTORE_FLAVOR ?? "mariadb")
    return flavor.gtidStates.parse(gtid) !== undefined
      ? Effect.succeed({ _tag: "Gtid", gtid })
      : refuse(`RESTORE_RECOVERY_TARGET_GTID '${gtid}' is not ${flavor.gtidTargetForm}`)
  }
  return Effect.succeed({ _tag: "Time", time: time ?? "" })
}

/** The restore program over a decoded environment. */
export const restoreProgram = (env: RestoreEnv) =>
  withObjectStoreFromEnv((connection) =>
    Effect.gen(function* () {
      const source = yield* restoreSource(env, connection.spec.path ?? "")
      const recoveryTarget = yield* recoveryTargetOf(env)
      return yield* restore({
        flavor: flavorOf(env.RESTORE_FLAVOR ?? "mariadb"),
        source,
        dataDir: env.RESTORE_DATA_DIR,
        serverDefaultsFile: env.RESTORE_SERVER_DEFAULTS_FILE,
        ...(env.RESTORE_SCRATCH_DIR === undefined ? {} : { scratchParent: env.RESTORE_SCRATCH_DIR }),
        ...(env.RESTORE_ON_DAMAGED_LATEST === undefined ? {} : { onDamagedLatest: env.RESTORE_ON_DAMAGED_LATEST }),
        ...(recoveryTarget === undefined ? {} : { recoveryTarget }),
        ...(env.RESTORE_DOWNLOAD_CONCURRENCY === undefined
          ? {}
          : { download: { concurrency: env.RESTORE_DOWNLOAD_CONCURRENCY } })
      })
    })
  )

/** The recovery plan program over the restore's environment: it needs a recovery target (docs/pitr.md). */
export const recoveryPlanProgram = (env: RestoreEnv) =>
  withObjectStoreFromEnv((connection) =>
    Effect.gen(function* () {
      const source = yield* restoreSource(env, connection.spec.path ?? "")
      const recoveryTarget = yield* recoveryTargetOf(env)
      if (recoveryTarget === undefined) {
        return yield* new InvalidConfiguration({
          detail: "recovery-plan needs RESTORE_RECOVERY_TARGET_GTID or RESTORE_RECOVERY_TARGET_TIME"
        })
      }
      return yield* recoveryPlanOf(source, recoveryTarget, {
        ...(env.RESTORE_ON_DAMAGED_LATEST === undefined ? {} : { onDamagedLatest: env.RESTORE_ON_DAMAGED_LATEST }),
        ...(env.RESTORE_FLAVOR === undefined ? {} : { flavor: env.RESTORE_FLAVOR })
      })
    })
  )
