/**
 * Restore: turn one backup in the object store into a data directory a server starts on as the recovered
 * primary.
 *
 * ```
 * check data dir (absent | empty | lost+found only)
 * resolve ─▶ GET ─▶ SHA-256 + size ─▶ extractor stdin (mbstream -x) into a fresh scratch dir
 *            (any mismatch: the extractor is killed, never sees EOF)  ─▶ final info file present?
 * ─▶ --prepare ─▶ backup_type = log-applied? ─▶ --copy-back into a sibling staging dir
 * ─▶ move into the data dir ─▶ set the GTID state (gtidState.ts)
 * ```
 *
 * With a recovery target (point-in-time recovery, docs/pitr.md), the base backup is the latest that ends before
 * the target; before the download, the archive is planned (`RecoveryTargetUnreachable`) and every planned
 * binlog file is downloaded and verified into the scratch directory (`ChecksumMismatch` naming the binlog); the
 * replay then runs on the same private server that sets the GTID state, as its first write.
 *
 * The archive is never staged on disk: the download streams into the extractor. Until the move, the data
 * directory is untouched; after it, a failure empties it again. The scratch and staging directories are
 * removed whatever happens.
 *
 * @since 0.1.0
 */
import { access, mkdir, mkdtemp, readFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { Effect } from "effect"
import type { OnDamagedLatest, PointInTimeRecovery } from "../api/cluster.ts"
import { type BackupDamaged, RestoreCopyBackFailed, RestorePrepareFailed } from "../api/failures.ts"
import type { RestoreResult } from "../api/jobs.ts"
import { nowMetaV1Time } from "../api/time.ts"
import { type Flavor, type InfoFileNames, isPrepared, parseBinlogInfoFile } from "../instance/flavor.ts"
import { binlogArchivePrefixOfBackup } from "../objectstore/binlogLayout.ts"
import { backupDamaged } from "../objectstore/catalog.ts"
import { ObjectStoreClient } from "../objectstore/ObjectStoreClient.ts"
import { type DownloadOptions, verifiedObjectStream } from "../pipeline/download.ts"
import { eligibility, preparePointInTime } from "../pitr/pointInTimeRecovery.ts"
import { describeTarget, type RecoveryTarget } from "../pitr/recoveryPlan.ts"
import { applyPlan } from "../pitr/replay.ts"
import { checkDataDir, clear, install, makeStagingDir, removeDir, syncDataDir } from "./dataDir.ts"
import { applyGtidState } from "./gtidState.ts"
import { baseBackupOf, type ResolvedBackup, type RestoreSource, resolveBackup } from "./resolve.ts"
import { describeTail, runTool } from "./tool.ts"

/** Everything one restore needs besides the object-store client. */
export interface RestoreOptions {
  readonly flavor: Flavor
  readonly source: RestoreSource
  /** The server's data directory: absent, empty or holding only `lost+found`. */
  readonly dataDir: string
  /** The server's option file, used by the temporary server that sets the GTID state. */
  readonly serverDefaultsFile: string
  /** Where the scratch directory is created (default: the data directory's parent). */
  readonly scratchParent?: string
  readonly download?: DownloadOptions
  /** With a `Prefix` source and no pinned id: what a damaged latest backup makes the restore do (default `fail`). */
  readonly onDamagedLatest?: OnDamagedLatest
  /** Point-in-time recovery: replay the archived binlogs after the base restore up to this target. */
  readonly recoveryTarget?: RecoveryTarget
}

const firstExisting = (dir: string, names: InfoFileNames): Effect.Effect<string | undefined> =>
  Effect.promise(async () => {
    for (const name of names) {
      const path = join(dir, name)
      if (
        await access(path).then(
          () => true,
          () => false
        )
      )
        return path
    }
    return undefined
  })

const readInfoFile = (path: string): Effect.Effect<string, RestorePrepareFailed> =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (error) => new RestorePrepareFailed({ step: "prepare", detail: `cannot read ${path}: ${String(error)}` })
  })

/** Download → verify → extract into `scratch`, then check the stream was complete. */
const extract = Effect.fn("recovery.extract")(function* (
  flavor: Flavor,
  backup: ResolvedBackup,
  scratch: string,
  download: DownloadOptions
) {
  const verified = verifiedObjectStream(
    backup.archiveKey,
    { sha256: backup.expectedSha256, size: backup.expectedSize },
    download
  )
  const result = yield* runTool(flavor.extractTool, flavor.extractArgs(scratch), { stdin: verified })
  if (result.exitCode !== 0) {
    return yield* new RestorePrepareFailed({ step: "extract", exitCode: result.exitCode, detail: describeTail(result) })
  }
  // mbstream exits 0 on a stream cut at a chunk boundary; the info file is written last into the stream
  const info = yield* firstExisting(scratch, flavor.infoFiles.info)
  if (info === undefined) {
    return yield* new RestorePrepareFailed({
      step: "extract",
      detail: `the extracted backup has no ${flavor.infoFiles.info.join(" / ")}: the stream is incomplete`
    })
  }
})

const prepare = Effect.fn("recovery.prepare")(function* (flavor: Flavor, scratch: string) {
  const result = yield* runTool(flavor.backupTool, flavor.prepareArgs(scratch), { quiet: true })
  if (result.exitCode !== 0) {
    return yield* new RestorePrepareFailed({ step: "prepare", exitCode: result.exitCode, detail: describeTail(result) })
  }
  const checkpoints = yield* firstExisting(scratch, flavor.infoFiles.checkpoints)
  const prepared = checkpoints !== undefined && isPrepared(yield* readInfoFile(checkpoints))
  if (!prepared) {
    return yield* new RestorePrepareFailed({
      step: "prepare",
      detail: "the backup is not prepared after --prepare (backup_type is not log-applied)"
    })
  }
})

const copyBack = Effect.fn("recovery.copyBack")(function* (flavor: Flavor, scratch: string, staging: string) {
  const result = yield* runTool(
    flavor.backupTool,
    flavor.copyBackArgs({ targetDir: scratch, dataDir: staging, forceNonEmptyDirectories: false }),
    { quiet: true }
  )
  if (result.exitCode !== 0) {
    return yield* new RestoreCopyBackFailed({
      dataDir: staging,
      exitCode: result.exitCode,
      detail: describeTail(result)
    })
  }
})

/**
 * The point-in-time half that runs before the data directory is touched: the plan from the archive next to the
 * backup, pinned to it, and every planned file downloaded and verified into `dir`.
 */
const planPointInTime = Effect.fn("recovery.planPointInTime")(function* (
  flavor: Flavor,
  backup: ResolvedBackup,
  target: RecoveryTarget,
  dir: string
) {
  yield* Effect.tryPromise({
    try: () => mkdir(dir),
    catch: (error) => new RestorePrepareFailed({ step: "replay", detail: `cannot create ${dir}: ${String(error)}` })
  })
  const prepared = yield* preparePointInTime({
    archivePrefix: binlogArchivePrefixOfBackup(backup.archiveKey),
    backup: baseBackupOf(backup, flavor),
    target,
    flavor: flavor.name,
    dir
  }).pipe(
    Effect.catchTag("BinlogReplayFailed", (e) =>
      Effect.fail(new RestorePrepareFailed({ step: "replay", detail: e.detail }))
    )
  )
  const result: PointInTimeRecovery = {
    target: describeTarget(target),
    startGTID: prepared.plan.startPosition,
    binlogFiles: prepared.plan.files.map((f) => `${f.series}/${f.file}`)
  }
  return { ...prepared, result }
})

/** Whether two GTID states of `flavor` name the same transactions (canonical texts: '' only for the empty one). */
const sameState = (flavor: Flavor, a: string, b: string): boolean => {
  const [x, y] = [flavor.gtidStates.parse(a), flavor.gtidStates.parse(b)]
  return x !== undefined && y !== undefined && flavor.gtidStates.format(x) === flavor.gtidStates.format(y)
}

/** The GTID and binlog position the backup ends at, from its own binlog info file (metadata as fallback). */
const backupPosition = Effect.fn("recovery.backupPosition")(function* (
  flavor: Flavor,
  scratch: string,
  backup: ResolvedBackup
) {
  const file = yield* firstExisting(scratch, flavor.infoFiles.binlogInfo)
  const parsed = file === undefined ? undefined : parseBinlogInfoFile(flavor, yield* readInfoFile(file))
  const gtid = parsed?.gtid ?? backup.metadata.endGTID ?? ""
  const binlog = parsed === undefined ? backup.metadata.endBinlog : { file: parsed.file, position: parsed.position }
  return { gtid, ...(binlog === undefined ? {} : { binlog }) }
})

/**
 * Restores an already resolved backup into `options.dataDir` (see the module comment). Fails with
 * `ObjectStoreDownloadFailed`, `ChecksumMismatch`, `RestorePrepareFailed` or `RestoreCopyBackFailed`.
 */
export const restoreResolved = Effect.fn("recovery.restoreResolved")(function* (
  backup: ResolvedBackup,
  options: Omit<RestoreOptions, "source">
) {
  const { flavor, dataDir } = options
  const startedAt = yield* nowMetaV1Time
  yield* checkDataDir(dataDir)
  yield* Effect.logInfo("restoring backup").pipe(
    Effect.annotateLogs({
      backupId: backup.metadata.backupId,
      archiveKey: backup.archiveKey,
      size: backup.expectedSize,
      dataDir
    })
  )
  const scratchParent = options.scratchParent ?? dirname(dataDir)
  const scratch = yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: () => mkdtemp(join(scratchParent, ".restore-scratch-")),
      catch: (error) =>
        new RestorePrepareFailed({ step: "extract", detail: `cannot create a scratch directory: ${String(error)}` })
    }),
    removeDir
  )
  const extracted = join(scratch, "backup")
  yield* Effect.tryPromise({
    try: () => mkdir(extracted),
    catch: (error) =>
      new RestorePrepareFailed({ step: "extract", detail: `cannot create ${extracted}: ${String(error)}` })
  })
  const pointInTime =
    options.recoveryTarget === undefined
      ? undefined
      : yield* planPointInTime(flavor, backup, options.recoveryTarget, join(scratch, "binlogs"))
  yield* extract(flavor, backup, extracted, options.download ?? {})
  yield* Effect.logInfo("backup downloaded, verified and extracted")
  yield* prepare(flavor, extracted)
  yield* Effect.logInfo("backup prepared")
  const position = yield* backupPosition(flavor, extracted, backup)

  const staging = yield* Effect.acquireRelease(makeStagingDir(dataDir), removeDir)
  yield* copyBack(flavor, extracted, staging)
  yield* install(staging, dataDir)
  yield* Effect.logInfo("backup copied into the data directory")
  if (pointInTime !== undefined && !sameState(flavor, position.gtid, pointInTime.plan.startPosition)) {
    yield* clear(dataDir)
    return yield* new RestorePrepareFailed({
      step: "replay",
      detail: `the backup ends at GTID '${position.gtid}' but its metadata.json says '${pointInTime.plan.startPosition}': the replay would start at the wrong transaction`
    })
  }
  let gtid = position.gtid
  if (position.gtid !== "" || pointInTime !== undefined) {
    const replayed = yield* applyGtidState({
      flavor,
      gtid: position.gtid,
      dataDir,
      serverDefaultsFile: options.serverDefaultsFile,
      workDir: scratch,
      ...(pointInTime === undefined
        ? {}
        : {
            afterState: (server) =>
              applyPlan(pointInTime.plan, pointInTime.files, server).pipe(
                Effect.catchTag("BinlogReplayFailed", (e) =>
                  Effect.fail(new RestorePrepareFailed({ step: "replay", detail: e.detail }))
                )
              )
          })
    }).pipe(Effect.tapError(() => clear(dataDir)))
    if (typeof replayed === "string") gtid = replayed
  }
  yield* syncDataDir(dataDir).pipe(Effect.tapError(() => clear(dataDir)))
  const stoppedAt = yield* nowMetaV1Time
  const result: RestoreResult = {
    backupId: backup.metadata.backupId,
    archiveKey: backup.archiveKey,
    size: backup.expectedSize,
    sha256: backup.expectedSha256,
    gtid,
    // after a replay the binlog position of the backup is no longer where the server continues
    ...(position.binlog === undefined || pointInTime !== undefined ? {} : { binlog: position.binlog }),
    ...(backup.skipped.length === 0 ? {} : { skippedBackups: backup.skipped }),
    ...(pointInTime === undefined ? {} : { pointInTime: pointInTime.result }),
    startedAt,
    stoppedAt
  }
  yield* Effect.logInfo("restore completed").pipe(Effect.annotateLogs({ gtid: result.gtid }))
  return result
}, Effect.scoped)

/**
 * Resolves `options.source` and restores it. A backup chosen through the catalog whose bytes fail the sha256 (or
 * size) check on download is damaged: `BackupDamaged`, or, when the latest may fall back (`usePrevious`), the next
 * older intact backup is tried. That is safe because verification ends before anything touches the data
 * directory (the discarded scratch directory is all the failed attempt wrote).
 */
export const restore = (options: RestoreOptions) =>
  Effect.gen(function* () {
    // refuse a non-empty data directory before touching the object store
    yield* checkDataDir(options.dataDir)
    const client = yield* ObjectStoreClient
    const fallBack =
      options.source._tag === "Prefix" &&
      options.source.backupId === undefined &&
      options.onDamagedLatest === "usePrevious"
    const knownDamaged: Array<BackupDamaged> = []
    for (;;) {
      const backup = yield* resolveBackup(options.source, {
        ...(options.onDamagedLatest === undefined ? {} : { onDamagedLatest: options.onDamagedLatest }),
        ...(options.recoveryTarget === undefined
          ? {}
          : { eligibility: eligibility(options.recoveryTarget, options.flavor.name) }),
        knownDamaged
      })
      const attempt = yield* Effect.result(restoreResolved(backup, options))
      if (attempt._tag === "Success") return attempt.success
      const error = attempt.failure
      // a damaged archived binlog is not a damaged base backup: an older backup would need the same file
      if (error._tag !== "ChecksumMismatch" || error.key !== backup.archiveKey || backup.location === undefined)
        return yield* Effect.fail(error)
      const damage = backupDamaged(client.bucket, backup.location, `the archive fails verification: ${error.message}`)
      if (!fallBack) return yield* damage
      knownDamaged.push(damage)
    }
  }).pipe(Effect.withSpan("recovery.restore"))
