/**
 * Which backup a restore uses: explicit keys (from a Backup's status: archive and metadata keys, expected
 * SHA-256 and size), or a source prefix (`<path>/<externalClusters name>/`) with an optional backup id,
 * resolved through the catalog to the latest completed backup or the pinned one (a damaged one fails with
 * `BackupDamaged`, or is skipped when `onDamagedLatest` is `usePrevious`: see `objectstore/catalog.ts`).
 *
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import type { OnDamagedLatest, SkippedBackup } from "../api/cluster.ts"
import { BackupDamaged, ChecksumMismatch, ObjectStoreDownloadFailed } from "../api/failures.ts"
import type { Flavor } from "../instance/flavor.ts"
import { type BackupLocationEntry, type Eligibility, findBackup } from "../objectstore/catalog.ts"
import type { BackupMetadata } from "../objectstore/metadata.ts"
import { readMetadataObject } from "../objectstore/metadataObject.ts"
import { ObjectStoreClient } from "../objectstore/ObjectStoreClient.ts"
import { defaultRetryPolicy, isRetryableObjectStoreError, retrySchedule } from "../pipeline/retry.ts"
import type { BaseBackup } from "../pitr/recoveryPlan.ts"

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

/**
 * What a point-in-time plan needs of a resolved backup: its GTID state normalised by `flavor` as the replay
 * compares it (kept as it is when it is not one of the flavour's: the plan then finds it ineligible).
 */
export const baseBackupOf = (backup: ResolvedBackup, flavor: Flavor): BaseBackup => {
  const text = backup.metadata.endGTID ?? ""
  const end = flavor.gtidStates.parse(text)
  return {
    backupId: backup.metadata.backupId,
    endGTID: end === undefined ? text : flavor.gtidStates.format(end),
    stoppedAt: backup.metadata.stoppedAt
  }
}

/** How a `Prefix` source treats damaged backups. */
export interface ResolveOptions {
  readonly onDamagedLatest?: OnDamagedLatest
  /** Backups found damaged on download in this run (their sha256 did not match). */
  readonly knownDamaged?: ReadonlyArray<BackupDamaged>
  /** With a recovery target: only backups that end before it (`pitr/pointInTimeRecovery.ts`). */
  readonly eligibility?: Eligibility
}

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
  return yield* readMetadataObject(key, head.value.size).pipe(
    Effect.catchTag("MetadataInvalid", (invalid) => Effect.fail(damaged(invalid.detail)))
  )
})

/**
 * The listing and metadata reads are retried like every other object-store call: found by the fault run, a
 * single 503 on ListObjectsV2 otherwise failed a whole restore. They are idempotent, so the whole resolution is.
 */
const retryReads = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.retry(effect, {
    schedule: retrySchedule(defaultRetryPolicy),
    while: (error) => error instanceof ObjectStoreDownloadFailed && isRetryableObjectStoreError(error)
  })

/** Resolves the source to one backup (see the module comment). */
export const resolveBackup = Effect.fn("recovery.resolveBackup")(function* (
  source: RestoreSource,
  options: ResolveOptions = {}
) {
  if (source._tag === "Prefix") {
    const found = yield* retryReads(findBackup(source.path, source.cluster, source.backupId, options))
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
  const metadata = yield* retryReads(readMetadata(source.metadataKey))
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
