/**
 * `cloudnative-mysql retention`: lists a Cluster's base backups and binlog archive, selects what its retention
 * policy no longer needs (`select.ts`) and, unless it is a dry run, deletes it. Contract (environment,
 * termination message): `src/api/retentionJob.ts`.
 *
 * The order of the deletions is what keeps a run that fails halfway harmless:
 *
 * 1. base backups first, oldest first, at most `maxBackupsPerRun` (fewer when their names are long: the
 *    termination message names every one, within 4096 bytes): for each, `metadata.json` first (the backup
 *    stops being completed for every reader at once), then every other object under its prefix. A failure after
 *    the first delete leaves an incomplete backup, which recovery skips and the next run removes (it is older
 *    than the window). Multipart uploads are not its business: the Backup controller's cleanup Job aborts
 *    those of a worker that died (docs/janitor.md);
 * 2. then the binlog files: the manifest first (the file stops being archived for recovery), then the file.
 *    Binlogs go after the backups, so a run that stops between the two leaves every kept or half-deleted
 *    backup's chain whole.
 *
 * Every delete and the listing of a backup's prefix are retried on retryable errors like the janitor's; the
 * catalog's listing and reads are not (a failed run is retried by its Job, and nothing was deleted before them).
 * Anything else fails the run with the taxonomy's failure (`ObjectStoreUploadFailed` for a delete).
 *
 * @since 0.2.0
 */
import { Effect, Option, Stream } from "effect"
import { type RetainedBackupRef, retentionWindowMillis } from "../api/cluster.ts"
import {
  maxBackupsPerRun,
  maxListedBackupBytes,
  maxListedBinlogBytes,
  maxListedBinlogFiles,
  type RetentionEnv,
  type RetentionResult
} from "../api/retentionJob.ts"
import { nowMillis, rfc3339Millis } from "../api/time.ts"
import { binlogArchivePrefix, binlogFileKeys } from "../objectstore/binlogLayout.ts"
import { type CatalogEntry, listBackups } from "../objectstore/catalog.ts"
import { ObjectStoreClient, withObjectStoreFromEnv } from "../objectstore/ObjectStoreClient.ts"
import { defaultRetryPolicy, type RetryPolicy, withRetry } from "../pipeline/retry.ts"
import { archivedManifests } from "../pitr/archiveCatalog.ts"
import { firstWithinBytes } from "../platform/firstWithinBytes.ts"
import { type RetentionBackup, selectForRetention } from "./select.ts"

/** What one run does. */
export interface RetentionRun {
  readonly path: string
  readonly cluster: string
  readonly policy: string
  readonly dryRun: boolean
}

type Entry = CatalogEntry & RetentionBackup

const refOf = (b: RetentionBackup): RetainedBackupRef => ({
  backupName: b.backupName,
  backupId: b.backupId,
  status: b.status
})

const asRetentionBackup = (entry: CatalogEntry): Entry =>
  entry.status === "completed"
    ? {
        ...entry,
        stoppedAt: entry.metadata.stoppedAt,
        ...(entry.metadata.endGTID === undefined ? {} : { endGTID: entry.metadata.endGTID })
      }
    : entry

/** Deletes one backup in the safe order (see the module comment). */
const deleteBackup = Effect.fn("retention.deleteBackup")(function* (entry: Entry, policy: RetryPolicy) {
  const client = yield* ObjectStoreClient
  const retry = withRetry(policy)
  if (Option.isSome(entry.metadataSize)) yield* retry(client.deleteObject(entry.metadataKey))
  const keys = yield* retry(Stream.runCollect(client.listObjects(entry.prefix)))
  yield* Effect.forEach(
    keys.flatMap((e) => ("key" in e && e.key !== entry.metadataKey ? [e.key] : [])),
    (key) => retry(client.deleteObject(key)),
    { concurrency: 4, discard: true }
  )
})

/** One retention run over the object store in context (see the module comment). */
export const runRetention = Effect.fn("retention.run")(function* (
  run: RetentionRun,
  policy: RetryPolicy = defaultRetryPolicy
) {
  const client = yield* ObjectStoreClient
  const retry = withRetry(policy)
  const entries = (yield* listBackups(run.path, run.cluster)).map(asRetentionBackup)
  const archivePrefix = yield* binlogArchivePrefix(run.path, run.cluster)
  const manifests = yield* archivedManifests(archivePrefix)
  const now = yield* nowMillis
  const selection = selectForRetention({
    backups: entries,
    manifests,
    now,
    window: retentionWindowMillis(run.policy)
  })
  const listed = firstWithinBytes(selection.backups.map(refOf), maxBackupsPerRun, maxListedBackupBytes)
  const backups = selection.backups.slice(0, listed.length)
  const result: RetentionResult = {
    dryRun: run.dryRun,
    policy: run.policy,
    windowStart: rfc3339Millis(selection.windowStart),
    ...(selection.anchor === undefined ? {} : { anchorBackupId: selection.anchor.backupId }),
    backups: listed,
    moreBackups: selection.backups.length - backups.length,
    binlogFiles: firstWithinBytes(
      selection.binlogFiles.map((m) => `${m.series}/${m.file}`),
      maxListedBinlogFiles,
      maxListedBinlogBytes
    ),
    binlogFilesTotal: selection.binlogFiles.length
  }
  yield* Effect.logInfo(run.dryRun ? "retention: would delete" : "retention: deleting").pipe(
    Effect.annotateLogs({
      bucket: client.bucket,
      windowStart: result.windowStart,
      anchor: result.anchorBackupId ?? "none",
      backups: backups.map((b) => b.prefix),
      binlogFiles: selection.binlogFiles.length
    })
  )
  if (run.dryRun) return result
  for (const backup of backups) yield* deleteBackup(backup, policy)
  // a month of 5-minute files is thousands of deletes: several files at once, each its manifest first
  yield* Effect.forEach(
    selection.binlogFiles,
    (manifest) =>
      Effect.gen(function* () {
        const keys = yield* binlogFileKeys(archivePrefix, manifest.series, manifest.file)
        yield* retry(client.deleteObject(keys.manifestKey))
        yield* retry(client.deleteObject(keys.fileKey))
      }),
    { concurrency: 8, discard: true }
  )
  yield* Effect.logInfo("retention: deleted").pipe(
    Effect.annotateLogs({ backups: backups.length, binlogFiles: selection.binlogFiles.length })
  )
  return result
})

/** The `retention` subcommand over a decoded environment. */
export const retentionProgram = (env: RetentionEnv) =>
  withObjectStoreFromEnv((connection) =>
    runRetention({
      path: connection.spec.path ?? "",
      cluster: env.RETENTION_CLUSTER_NAME,
      policy: env.RETENTION_POLICY,
      dryRun: env.RETENTION_DRY_RUN === "true"
    })
  ).pipe(Effect.annotateLogs({ cluster: env.RETENTION_CLUSTER_NAME, policy: env.RETENTION_POLICY }))
