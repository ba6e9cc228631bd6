/**
 * `cloudnative-mysql restore`: the first instance's init container. Everything comes from the environment
 * (the `RestoreEnv` contract of `src/api/jobs.ts`, so a bad value fails at start naming the variable) and mounted
 * files:
 *
 * | variable | meaning |
 * | --- | --- |
 * | `RESTORE_DATA_DIR` | the server's data directory (absent, empty or only `lost+found`) |
 * | `RESTORE_SERVER_DEFAULTS_FILE` | the server's option file (used to set the GTID state, see `gtidState.ts`) |
 * | `RESTORE_FLAVOR` | `mariadb` (default) or `mysql` |
 * | `RESTORE_ARCHIVE_KEY`, `RESTORE_METADATA_KEY`, `RESTORE_EXPECTED_SHA256`, `RESTORE_EXPECTED_SIZE` | explicit backup (from a Backup's status); all four or none |
 * | `RESTORE_SOURCE_CLUSTER` | otherwise: the `externalClusters` name, i.e. the cluster directory under the spec's `path` |
 * | `RESTORE_BACKUP_ID` | with `RESTORE_SOURCE_CLUSTER`: pin a backup id (default: the latest completed) |
 * | `RESTORE_SCRATCH_DIR` | parent of the scratch directory (default: the data directory's parent) |
 * | `RESTORE_DOWNLOAD_CONCURRENCY` | parallel ranged GETs (default 1) |
 * | `TERMINATION_MESSAGE_PATH` | where the result JSON goes (default `/dev/termination-log`) |
 * | `OBJECT_STORE_SPEC`, `OBJECT_STORE_SECRETS_DIR` | the object store, see `src/objectstore/connection.ts` |
 *
 * The termination message is the `RestoreResult` (backup id, archive key, size, sha256, GTID, binlog,
 * times) or a `FailureMessage` `{ reason, message }` (both in `src/api/jobs.ts`).
 *
 * @since 0.1.0
 */
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { InvalidConfiguration } from "../api/failures.ts"
import type { RestoreEnv } from "../api/jobs.ts"
import { flavorOf } from "../instance/flavor.ts"
import { ObjectStoreConnectionConfig } from "../objectstore/connection.ts"
import { ObjectStoreClient } from "../objectstore/ObjectStoreClient.ts"
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

/** The restore program over a decoded environment. */
export const restoreProgram = (env: RestoreEnv) =>
  Effect.gen(function* () {
    const connection = yield* ObjectStoreConnectionConfig.pipe(
      Effect.mapError((error) => new InvalidConfiguration({ detail: error.message }))
    )
    const source = yield* restoreSource(env, connection.spec.path ?? "")
    return yield* restore({
      flavor: flavorOf(env.RESTORE_FLAVOR ?? "mariadb"),
      source,
      dataDir: env.RESTORE_DATA_DIR,
      serverDefaultsFile: env.RESTORE_SERVER_DEFAULTS_FILE,
      ...(env.RESTORE_SCRATCH_DIR === undefined ? {} : { scratchParent: env.RESTORE_SCRATCH_DIR }),
      ...(env.RESTORE_DOWNLOAD_CONCURRENCY === undefined
        ? {}
        : { download: { concurrency: env.RESTORE_DOWNLOAD_CONCURRENCY } })
    }).pipe(Effect.provide(ObjectStoreClient.layer(connection)))
  }).pipe(Effect.provide(Layer.mergeAll(NodeServices.layer)))
