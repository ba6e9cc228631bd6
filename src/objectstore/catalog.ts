/**
 * The backup catalog: which backups exist under `<path>/<cluster>/`, which of them are completed, and
 * which one a recovery should use.
 *
 * A backup is **completed** when its prefix holds both `backup.xbstream` and a `metadata.json` that
 * decodes (schema v1), names the same backup id and archive key as its location, and states the archive's
 * listed size. A prefix with only an archive (an upload that never finished, or one whose tool failed) is
 * **incomplete**. A metadata.json that does not decode or contradicts the listing is **invalid**: it is
 * logged as a warning and skipped, never trusted, so `findBackup` moves on to the next older completed
 * backup (the latest one) or reports `BackupIDNotFound` (a pinned id); `listBackups` shows it with its
 * problem. Foreign keys under the prefix are ignored (`parseBackupKey`).
 *
 * @since 0.1.0
 */
import { Effect, Option, Stream } from "effect"
import type { BackupId } from "../api/backupId.ts"
import {
  BackupIDNotFound,
  type InvalidName,
  NoBaseBackupsFound,
  type ObjectStoreDownloadFailed
} from "../api/failures.ts"
import { ArchiveFile, clusterPrefix, MetadataFile, parseBackupKey } from "./layout.ts"
import { type BackupMetadata, decodeMetadata } from "./metadata.ts"
import { ObjectStoreClient } from "./ObjectStoreClient.ts"

/** metadata.json is a few KiB; anything this big is not ours and is not read. */
const maxMetadataBytes = 1024 * 1024

/** One backup prefix found in the listing. */
export interface BackupLocationEntry {
  readonly backupName: string
  readonly backupId: BackupId
  /** `<path>/<cluster>/<backup-name>/<backup-id>/` */
  readonly prefix: string
  readonly archiveKey: string
  readonly metadataKey: string
  /** Listed size of the archive, when there is one. */
  readonly archiveSize: Option.Option<number>
  readonly metadataSize: Option.Option<number>
}

/** A backup and what the catalog concluded about it. */
export type CatalogEntry =
  | (BackupLocationEntry & { readonly status: "completed"; readonly metadata: BackupMetadata })
  | (BackupLocationEntry & { readonly status: "incomplete" | "invalid"; readonly problem: string })

/** A completed backup. */
export type CompletedBackup = Extract<CatalogEntry, { readonly status: "completed" }>

/** Options of the catalog's listing. */
export interface CatalogOptions {
  /** Keys per ListObjectsV2 page (default: the store's, 1000 on S3). */
  readonly pageSize?: number
}

/**
 * Every backup prefix under `<path>/<cluster>/`, oldest first (backup ids sort by time), from one
 * paginated listing. Metadata is not read here.
 */
export const scanBackups = Effect.fn("catalog.scanBackups")(function* (
  path: string,
  cluster: string,
  options: CatalogOptions = {}
) {
  const client = yield* ObjectStoreClient
  const prefix = yield* clusterPrefix(path, cluster)
  const found = new Map<string, { backupName: string; backupId: BackupId; archive?: number; metadata?: number }>()
  yield* client.listObjects(prefix, options.pageSize === undefined ? {} : { pageSize: options.pageSize }).pipe(
    Stream.runForEach((entry) =>
      Effect.sync(() => {
        if (!("key" in entry)) return
        const parsed = parseBackupKey(prefix, entry.key)
        if (Option.isNone(parsed)) return
        const { backupName, backupId, file } = parsed.value
        const id = `${backupName}/${backupId}/`
        const current = found.get(id) ?? { backupName, backupId }
        found.set(id, { ...current, [file]: entry.size })
      })
    )
  )
  const entries: Array<BackupLocationEntry> = [...found.entries()].map(([id, e]) => ({
    backupName: e.backupName,
    backupId: e.backupId,
    prefix: `${prefix}${id}`,
    archiveKey: `${prefix}${id}${ArchiveFile}`,
    metadataKey: `${prefix}${id}${MetadataFile}`,
    archiveSize: Option.fromUndefinedOr(e.archive),
    metadataSize: Option.fromUndefinedOr(e.metadata)
  }))
  entries.sort((a, b) => (a.backupId < b.backupId ? -1 : a.backupId > b.backupId ? 1 : a.prefix < b.prefix ? -1 : 1))
  return { prefix, entries }
})

const incomplete = (entry: BackupLocationEntry, problem: string): CatalogEntry => ({
  ...entry,
  status: "incomplete",
  problem
})
const invalid = (entry: BackupLocationEntry, problem: string): CatalogEntry => ({
  ...entry,
  status: "invalid",
  problem
})

/** Reads and checks one backup's metadata.json; invalid metadata becomes an `invalid` entry, with a warning. */
export const inspectBackup = Effect.fn("catalog.inspectBackup")(function* (entry: BackupLocationEntry) {
  if (Option.isNone(entry.archiveSize)) return incomplete(entry, "no archive")
  if (Option.isNone(entry.metadataSize)) return incomplete(entry, "no metadata.json: the backup never completed")
  const archiveSize = entry.archiveSize.value
  const checked = yield* Effect.gen(function* () {
    if (Option.getOrElse(entry.metadataSize, () => 0) > maxMetadataBytes) {
      return invalid(entry, `metadata.json is larger than ${maxMetadataBytes} bytes`)
    }
    const client = yield* ObjectStoreClient
    const chunks = yield* Stream.runCollect(client.getObject(entry.metadataKey))
    const text = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks))
    const decoded = yield* decodeMetadata(text).pipe(Effect.result)
    if (decoded._tag === "Failure") return invalid(entry, `metadata.json does not decode: ${decoded.failure.message}`)
    const metadata = decoded.success
    if (metadata.backupId !== entry.backupId) {
      return invalid(entry, `metadata.json names backup id ${metadata.backupId}, its location ${entry.backupId}`)
    }
    if (metadata.archive.key !== entry.archiveKey) {
      return invalid(entry, `metadata.json names archive ${metadata.archive.key}, not ${entry.archiveKey}`)
    }
    if (metadata.archive.size !== archiveSize) {
      return invalid(entry, `metadata.json promises ${metadata.archive.size} bytes, the archive has ${archiveSize}`)
    }
    return { ...entry, status: "completed", metadata } satisfies CatalogEntry
  }).pipe(
    // a metadata.json that is not UTF-8 is as invalid as one that does not decode
    Effect.catchDefect((defect) => Effect.succeed(invalid(entry, `metadata.json is unreadable: ${String(defect)}`)))
  )
  if (checked.status === "invalid") {
    yield* Effect.logWarning("ignoring a backup with invalid metadata.json").pipe(
      Effect.annotateLogs({ prefix: entry.prefix, problem: checked.problem })
    )
  }
  return checked
})

/** Every backup under `<path>/<cluster>/` with its status, oldest first (reads every metadata.json). */
export const listBackups = Effect.fn("catalog.listBackups")(function* (
  path: string,
  cluster: string,
  options: CatalogOptions = {}
) {
  const { entries } = yield* scanBackups(path, cluster, options)
  return yield* Effect.forEach(entries, inspectBackup, { concurrency: 4 })
})

/**
 * The backup a recovery should use: the completed one with id `backupID` when given, else the latest
 * completed one. Reads metadata.json only of candidates, newest first. Fails with `NoBaseBackupsFound` /
 * `BackupIDNotFound` (incomplete and invalid backups do not count).
 */
export const findBackup = Effect.fn("catalog.findBackup")(function* (
  path: string,
  cluster: string,
  backupID?: string,
  options: CatalogOptions = {}
): Effect.fn.Return<
  CompletedBackup,
  NoBaseBackupsFound | BackupIDNotFound | ObjectStoreDownloadFailed | InvalidName,
  ObjectStoreClient
> {
  const client = yield* ObjectStoreClient
  const { prefix, entries } = yield* scanBackups(path, cluster, options)
  const candidates = entries
    .filter((e) => backupID === undefined || e.backupId === backupID)
    .filter((e) => Option.isSome(e.archiveSize) && Option.isSome(e.metadataSize))
    .reverse()
  for (const candidate of candidates) {
    const entry = yield* inspectBackup(candidate)
    if (entry.status === "completed") return entry
  }
  return yield* backupID === undefined
    ? Effect.fail(new NoBaseBackupsFound({ bucket: client.bucket, prefix }))
    : Effect.fail(new BackupIDNotFound({ bucket: client.bucket, prefix, backupID }))
})
