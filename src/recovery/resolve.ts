/**
 * Which backup a restore uses: explicit keys (from a Backup's status: archive and metadata keys, expected
 * SHA-256 and size), or a source prefix (`<path>/<externalClusters name>/`) with an optional backup id,
 * resolved through the catalog to the latest completed backup or the pinned one (a damaged one fails with
 * `BackupDamaged`, or is skipped when `onDamagedLatest` is `usePrevious`: see `objectstore/catalog.ts`).
 *
 * @since 0.1.0
 */
import { Effect, Option, Stream } from "effect"
import type { OnDamagedLatest, SkippedBackup } from "../api/cluster.ts"
import { BackupDamaged, ChecksumMismatch } from "../api/failures.ts"
import { type BackupLocationEntry, findBackup } from "../objectstore/catalog.ts"
import { type BackupMetadata, decodeMetadata } from "../objectstore/metadata.ts"
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
  /** Where the catalog found it (a `Prefix` source). */
  readonly location?: BackupLocationEntry
  /** Newer damaged backups skipped to get here, newest first. */
  readonly skipped: ReadonlyArray<SkippedBackup>
}

/** How a `Prefix` source treats damaged backups. */
export interface ResolveOptions {
  readonly onDamagedLatest?: OnDamagedLatest
  /** Backups found damaged on download in this run (their sha256 did not match). */
  readonly knownDamaged?: ReadonlyArray<BackupDamaged>
}

const maxMetadataBytes = 1024 * 1024

/** The backup prefix and id a metadata key names (explicit keys come from a Backup's status). */
const ownerOf = (metadataKey: string) => {
  const prefix = metadataKey.slice(0, metadataKey.lastIndexOf("/") + 1)
  return { prefix, backupID: prefix.split("/").at(-2) ?? "" }
}

/**
 * metadata.json of a backup a Backup's status says is completed: missing or undecodable, the backup is damaged
 * (retrying cannot help, so it is not a download failure).
 */
const readMetadata = Effect.fn("recovery.readMetadata")(function* (key: string) {
  const client = yield* ObjectStoreClient
  const damaged = (problem: string) => new BackupDamaged({ bucket: client.bucket, ...ownerOf(key), problem })
  const head = yield* client.headObject(key)
  if (Option.isNone(head)) return yield* damaged("metadata.json is missing")
  if (head.value.size > maxMetadataBytes) return yield* damaged("metadata.json is implausibly large")
  const chunks = yield* Stream.runCollect(client.getObject(key))
  const text = Buffer.concat(chunks).toString("utf8")
  return yield* decodeMetadata(text).pipe(
    Effect.mapError((error) => damaged(`metadata.json does not decode: ${error.message}`))
  )
})

/** Resolves the source to one backup (see the module comment). */
export const resolveBackup = Effect.fn("recovery.resolveBackup")(function* (
  source: RestoreSource,
  options: ResolveOptions = {}
) {
  if (source._tag === "Prefix") {
    const found = yield* findBackup(source.path, source.cluster, source.backupId, options)
    const { skipped, metadata, status: _status, ...location } = found
    return {
      archiveKey: found.archiveKey,
      expectedSha256: metadata.archive.sha256,
      expectedSize: metadata.archive.size,
      metadata,
      location,
      skipped
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
    metadata,
    skipped: []
  } satisfies ResolvedBackup
})
