/**
 * Which backup a restore uses: explicit keys (from a Backup's status: archive and metadata keys, expected
 * SHA-256 and size), or a source prefix (`<path>/<externalClusters name>/`) with an optional backup id,
 * resolved through the catalog to the latest completed backup or the pinned one.
 *
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import { ChecksumMismatch, ObjectStoreDownloadFailed } from "../api/failures.ts"
import { findBackup } from "../objectstore/catalog.ts"
import type { BackupMetadata } from "../objectstore/metadata.ts"
import { noSuchKey, readMetadataObject } from "../objectstore/metadataObject.ts"
import { ObjectStoreClient } from "../objectstore/ObjectStoreClient.ts"

/** Where the backup to restore comes from. */
export type RestoreSource =
  | {
      readonly _tag: "Keys"
      readonly archiveKey: string
      readonly metadataKey: string
      readonly expectedSha256: string
      readonly expectedSize: number
    }
  | {
      readonly _tag: "Prefix"
      /** The object store spec's `path` ('' for the bucket root). */
      readonly path: string
      /** The `externalClusters` entry's name: the cluster directory under `path`. */
      readonly cluster: string
      readonly backupId?: string
    }

/** The backup a restore will download, with what its bytes must be. */
export interface ResolvedBackup {
  readonly archiveKey: string
  readonly expectedSha256: string
  readonly expectedSize: number
  readonly metadata: BackupMetadata
}

const readMetadata = Effect.fn("recovery.readMetadata")(function* (key: string) {
  const client = yield* ObjectStoreClient
  const head = yield* client.headObject(key)
  if (Option.isNone(head)) {
    return yield* noSuchKey(client.bucket, key, "metadata.json does not exist: the backup did not complete")
  }
  return yield* readMetadataObject(key, head.value.size).pipe(
    Effect.catchTag("MetadataInvalid", (invalid) =>
      Effect.fail(
        new ObjectStoreDownloadFailed({ operation: "GetObject", bucket: client.bucket, key, detail: invalid.detail })
      )
    )
  )
})

/** Resolves the source to one backup (see the module comment). */
export const resolveBackup = Effect.fn("recovery.resolveBackup")(function* (source: RestoreSource) {
  if (source._tag === "Prefix") {
    const found = yield* findBackup(source.path, source.cluster, source.backupId)
    return {
      archiveKey: found.archiveKey,
      expectedSha256: found.metadata.archive.sha256,
      expectedSize: found.metadata.archive.size,
      metadata: found.metadata
    } satisfies ResolvedBackup
  }
  const metadata = yield* readMetadata(source.metadataKey)
  // the caller's expectation and metadata.json must describe the same bytes; otherwise one of them is wrong
  if (
    metadata.archive.key !== source.archiveKey ||
    metadata.archive.sha256 !== source.expectedSha256 ||
    metadata.archive.size !== source.expectedSize
  ) {
    return yield* new ChecksumMismatch({
      key: source.archiveKey,
      expectedSha256: source.expectedSha256,
      actualSha256: metadata.archive.sha256,
      expectedSize: source.expectedSize,
      actualSize: metadata.archive.size
    })
  }
  return {
    archiveKey: source.archiveKey,
    expectedSha256: source.expectedSha256,
    expectedSize: source.expectedSize,
    metadata
  } satisfies ResolvedBackup
})
