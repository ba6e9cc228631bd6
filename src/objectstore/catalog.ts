/**
 * The backup catalog: which backups exist under `<path>/<cluster>/`, which of them are completed, which are
 * damaged, and which one a recovery should use.
 *
 * - **incomplete**: no `metadata.json` (an upload that never finished, a worker that was killed, a tool that
 *   failed). Absent, as far as recovery is concerned: skipped without a word.
 * - **completed**: `metadata.json` decodes (schema v1), names the backup id and archive key of its location, and
 *   the archive exists with the size it promises.
 * - **damaged**: `metadata.json` exists (the marker of a completed backup) but does not decode, contradicts its
 *   location, or the archive is missing or of another size. A sha256 that does not match on download is the same
 *   damage, found later (the restore reports it so). Damaged is not absent: `findBackup` fails with
 *   `BackupDamaged` naming the backup and the problem, unless the caller opted in to falling back
 *   (`onDamagedLatest: "usePrevious"`, only for the latest, never for a pinned id); then the skipped backups are
 *   returned with the one chosen. `NoBaseBackupsFound` means no backup under the prefix has a metadata.json at all.
 *
 * Foreign keys under the prefix are ignored (`parseBackupKey`).
 *
 * @since 0.1.0
 */
import { Effect, Option, Stream } from "effect"
import type { BackupId } from "../api/backupId.ts"
import type { OnDamagedLatest, SkippedBackup } from "../api/cluster.ts"
import {
  BackupDamaged,
  BackupIDNotFound,
  type InvalidName,
  NoBaseBackupsFound,
  type ObjectStoreDownloadFailed,
  type RecoveryTargetUnreachable
} from "../api/failures.ts"
import { ArchiveFile, clusterPrefix, MetadataFile, parseBackupKey } from "./layout.ts"
import type { BackupMetadata } from "./metadata.ts"
import { readMetadataObject } from "./metadataObject.ts"
import { ObjectStoreClient } from "./ObjectStoreClient.ts"

/** metadata.json is a few KiB; anything this big is not ours and is not read. */
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
  | (BackupLocationEntry & { readonly status: "incomplete" | "damaged"; readonly problem: string })

/** A completed backup. */
export type CompletedBackup = Extract<CatalogEntry, { readonly status: "completed" }>

/** Options of the catalog's listing. */
export interface CatalogOptions {
  /** Keys per ListObjectsV2 page (default: the store's, 1000 on S3). */
  readonly pageSize?: number
}

/**
 * Which backups a point-in-time recovery can start from: those that end before its target. Backups that do not
 * are passed over like newer ones that do not exist; damage is judged on the rest only.
 */
export interface Eligibility {
  /** Whether a backup may end before the target by its location alone (an id at or after a time target cannot). */
  readonly mayBeEligible: (entry: BackupLocationEntry) => boolean
  /** Whether a completed backup ends before the target. */
  readonly isEligible: (metadata: BackupMetadata) => boolean
  /** The failure when completed backups exist but none ends before the target. */
  readonly noneEligible: (passedOver: number) => RecoveryTargetUnreachable
}

/** Options of `findBackup`. */
export interface FindOptions extends CatalogOptions {
  /** Only backups that can start a point-in-time recovery (absent: every completed backup). */
  readonly eligibility?: Eligibility
  /** What to do when the latest completed backup is damaged (default `fail`); ignored for a pinned id. */
  readonly onDamagedLatest?: OnDamagedLatest
  /** Damage found outside the catalog (a sha256 mismatch on download), by backup prefix. */
  readonly knownDamaged?: ReadonlyArray<BackupDamaged>
}

/** The backup a recovery should use, and the newer damaged ones skipped to get to it (newest first). */
export type FoundBackup = CompletedBackup & { readonly skipped: ReadonlyArray<SkippedBackup> }

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
const damaged = (entry: BackupLocationEntry, problem: string): CatalogEntry => ({
  ...entry,
  status: "damaged",
  problem
})

/** Reads and checks one backup's metadata.json; damage becomes a `damaged` entry, with a warning. */
export const inspectBackup = Effect.fn("catalog.inspectBackup")(function* (entry: BackupLocationEntry) {
  if (Option.isNone(entry.metadataSize)) return incomplete(entry, "no metadata.json: the backup never completed")
  const checked = yield* Effect.gen(function* () {
    // an unreadable metadata.json is damage; a failed read of it is a download failure, not a verdict
    const decoded = yield* readMetadataObject(
      entry.metadataKey,
      Option.getOrElse(entry.metadataSize, () => 0)
    ).pipe(
      Effect.map((metadata) => ({ _tag: "Read" as const, metadata })),
      Effect.catchTag("MetadataInvalid", (invalid) =>
        Effect.succeed({ _tag: "Invalid" as const, problem: invalid.message })
      )
    )
    if (decoded._tag === "Invalid") return damaged(entry, decoded.problem)
    const metadata = decoded.metadata
    if (metadata.backupId !== entry.backupId) {
      return damaged(entry, `metadata.json names backup id ${metadata.backupId}, its location ${entry.backupId}`)
    }
    if (metadata.archive.key !== entry.archiveKey) {
      return damaged(entry, `metadata.json names archive ${metadata.archive.key}, not ${entry.archiveKey}`)
    }
    if (Option.isNone(entry.archiveSize)) {
      return damaged(entry, `metadata.json promises ${metadata.archive.size} bytes, the archive is missing`)
    }
    if (metadata.archive.size !== entry.archiveSize.value) {
      return damaged(
        entry,
        `metadata.json promises ${metadata.archive.size} bytes, the archive has ${entry.archiveSize.value}`
      )
    }
    return { ...entry, status: "completed", metadata } satisfies CatalogEntry
  })
  if (checked.status === "damaged") {
    yield* Effect.logWarning("damaged backup").pipe(
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

/** The failure that says `entry` is damaged. */
export const backupDamaged = (bucket: string, entry: BackupLocationEntry, problem: string): BackupDamaged =>
  new BackupDamaged({ bucket, prefix: entry.prefix, backupID: entry.backupId, problem })

/** How a skipped damaged backup is reported (status, Event, the restore's result). */
export const skippedBackup = (entry: BackupLocationEntry, damage: BackupDamaged): SkippedBackup => ({
  backupName: entry.backupName,
  backupId: entry.backupId,
  prefix: entry.prefix,
  reason: damage._tag,
  message: damage.message
})

/**
 * The backup a recovery should use: the completed one with id `backupID` when given, else the latest completed
 * one (see the module comment for damaged backups); with `eligibility`, the latest that can start the
 * point-in-time recovery. Reads metadata.json only of candidates, newest first.
 */
export const findBackup = Effect.fn("catalog.findBackup")(function* (
  path: string,
  cluster: string,
  backupID?: string,
  options: FindOptions = {}
): Effect.fn.Return<
  FoundBackup,
  | NoBaseBackupsFound
  | BackupIDNotFound
  | BackupDamaged
  | ObjectStoreDownloadFailed
  | InvalidName
  | RecoveryTargetUnreachable,
  ObjectStoreClient
> {
  const client = yield* ObjectStoreClient
  const { prefix, entries } = yield* scanBackups(path, cluster, options)
  const eligibility = options.eligibility
  // only a metadata.json makes a backup count: without one it never completed
  const marked = entries
    .filter((e) => backupID === undefined || e.backupId === backupID)
    .filter((e) => Option.isSome(e.metadataSize))
  const candidates = marked.filter((e) => eligibility === undefined || eligibility.mayBeEligible(e)).reverse()
  let passedOver = marked.length - candidates.length
  const fallBack = backupID === undefined && options.onDamagedLatest === "usePrevious"
  const known = new Map((options.knownDamaged ?? []).map((d) => [d.prefix, d]))
  const skipped: Array<SkippedBackup> = []
  let newestDamage: BackupDamaged | undefined
  for (const candidate of candidates) {
    const knownDamage = known.get(candidate.prefix)
    const entry = knownDamage === undefined ? yield* inspectBackup(candidate) : undefined
    if (entry?.status === "completed" && eligibility !== undefined && !eligibility.isEligible(entry.metadata)) {
      passedOver++
      continue
    }
    if (entry?.status === "completed") {
      if (skipped.length > 0) {
        yield* Effect.logWarning("the latest backup is damaged: restoring an older one").pipe(
          Effect.annotateLogs({ restoring: entry.prefix, skipped: skipped.map((s) => s.message) })
        )
      }
      return { ...entry, skipped }
    }
    const damage = knownDamage ?? backupDamaged(client.bucket, candidate, entry?.problem ?? "")
    if (!fallBack) return yield* damage
    newestDamage ??= damage
    skipped.push(skippedBackup(candidate, damage))
  }
  if (newestDamage !== undefined) {
    return yield* new BackupDamaged({
      bucket: newestDamage.bucket,
      prefix: newestDamage.prefix,
      backupID: newestDamage.backupID,
      problem: `${newestDamage.problem}; no older backup is intact either (${skipped.length} damaged)`
    })
  }
  if (eligibility !== undefined && passedOver > 0) return yield* eligibility.noneEligible(passedOver)
  return yield* backupID === undefined
    ? Effect.fail(new NoBaseBackupsFound({ bucket: client.bucket, prefix }))
    : Effect.fail(new BackupIDNotFound({ bucket: client.bucket, prefix, backupID }))
})
