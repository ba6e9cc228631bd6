/**
 * The `archive-binlogs` process: decodes its environment, connects the object store from `OBJECT_STORE_SPEC`,
 * and runs the archiver until it is stopped. Its own errors become taxonomy failures for the termination
 * message: an archive owned by another cluster or an unusable work directory is `InvalidConfiguration`, a
 * source that cannot be reached at all is `NoHealthyInstance` (a lost connection is retried, not reported).
 *
 * @since 0.2.0
 */
import { Effect } from "effect"
import type { ArchiverEnv } from "../api/binlogArchive.ts"
import { InvalidConfiguration, NoHealthyInstance } from "../api/failures.ts"
import { binlogArchivePrefix } from "../objectstore/binlogLayout.ts"
import { withObjectStoreFromEnv } from "../objectstore/ObjectStoreClient.ts"
import { runArchiver } from "./archiver.ts"

/** The archiver over a decoded environment. */
export const archiverProgram = (env: ArchiverEnv) =>
  withObjectStoreFromEnv((connection) =>
    Effect.gen(function* () {
      const archivePrefix = yield* binlogArchivePrefix(connection.spec.path ?? "", env.ARCHIVE_CLUSTER_NAME)
      return yield* runArchiver({
        source: {
          host: env.ARCHIVE_SOURCE_HOST,
          port: env.ARCHIVE_SOURCE_PORT ?? 3306,
          credentialsFile: env.ARCHIVE_CREDENTIALS_FILE,
          ...(env.ARCHIVE_TLS_CA_FILE === undefined ? {} : { caFile: env.ARCHIVE_TLS_CA_FILE })
        },
        dumpServerId: env.ARCHIVE_DUMP_SERVER_ID,
        workDir: env.ARCHIVE_WORK_DIR,
        archivePrefix,
        identity: {
          version: 1,
          cluster: env.ARCHIVE_CLUSTER_NAME,
          namespace: env.ARCHIVE_CLUSTER_NAMESPACE,
          ...(env.ARCHIVE_CLUSTER_UID === undefined ? {} : { uid: env.ARCHIVE_CLUSTER_UID })
        },
        ...(env.ARCHIVE_POLL_INTERVAL_MS === undefined ? {} : { pollInterval: env.ARCHIVE_POLL_INTERVAL_MS })
      }).pipe(
        Effect.catchTags({
          ArchiveOwnedByOtherCluster: (e) => Effect.fail(new InvalidConfiguration({ detail: e.message })),
          WorkDirFailed: (e) => Effect.fail(new InvalidConfiguration({ detail: `work directory: ${e.detail}` })),
          BinlogFileInvalid: (e) => Effect.fail(new InvalidConfiguration({ detail: e.message })),
          BinlogSourceUnavailable: (e) =>
            Effect.fail(
              new NoHealthyInstance({ cluster: env.ARCHIVE_CLUSTER_NAME, target: "primary", detail: e.detail })
            )
        })
      )
    })
  )
