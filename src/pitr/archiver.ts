/**
 * `cloudnative-mysql archive-binlogs`: continuous binlog archiving from outside the database Pods. One
 * `mariadb-binlog` (MySQL: `mysqlbinlog`) `--read-from-remote-server --raw --stop-never` process follows the primary into a local work
 * directory; a poll of `SHOW BINARY LOGS` decides which local files are complete (a newer file exists on the
 * server and the local size equals the server's `File_size`: the stream clears the in-use flag and a crash leaves
 * no Rotate/Stop event, research note facts 2-3); each complete file is uploaded through the upload pipeline
 * (SHA-256 while uploading), then its manifest, which makes it visible to recovery.
 *
 * The dump exits when the server stops, crashes or kills the connection, and never reconnects by itself; the
 * archiver restarts it from the first file not yet archived, which the tool downloads again from its start and
 * overwrites. The object store is the archiver's only memory, so a restarted archiver resumes from the last
 * archived manifest without gaps or duplicates. A prefix whose `identity.json` names another cluster is refused.
 *
 * @since 0.2.0
 */
import { execFile } from "node:child_process"
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises"
import { join } from "node:path"
import { Data, type Duration, Effect, Fiber, Option, Schedule, Stream } from "effect"
import {
  type ArchiveIdentity,
  type BinlogManifest,
  decodeArchiveIdentity,
  encodeArchiveIdentity,
  encodeBinlogManifest
} from "../api/binlogArchive.ts"
import type { ObjectStoreDownloadFailed, ObjectStoreUploadFailed } from "../api/failures.ts"
import { metaV1Time, nowRfc3339Millis } from "../api/time.ts"
import { flavorOf } from "../instance/flavor.ts"
import { binlogFileKeys, identityKey, parseBinlogKey } from "../objectstore/binlogLayout.ts"
import { ObjectStoreClient } from "../objectstore/ObjectStoreClient.ts"
import { uploadStream } from "../pipeline/upload.ts"
import { hasExited, outputText, spawnChild } from "../platform/childProcess.ts"
import type { ArchiverStateUpdate } from "./archiverStatus.ts"
import { type BinlogFileInvalid, summarizeBinlogFile } from "./binlogFile.ts"
import { dumpArgs, type SourceConnection, sqlArgs } from "./commands.ts"

/** The primary could not be queried, or the dump could not be started. */
export class BinlogSourceUnavailable extends Data.TaggedError("BinlogSourceUnavailable")<{ readonly detail: string }> {
  override get message(): string {
    return `binlog source unavailable: ${this.detail}`
  }
}

/** The archive prefix belongs to another cluster. */
export class ArchiveOwnedByOtherCluster extends Data.TaggedError("ArchiveOwnedByOtherCluster")<{
  readonly key: string
  readonly owner: string
  readonly cluster: string
}> {
  override get message(): string {
    return `the binlog archive at ${this.key} belongs to cluster ${this.owner}, not ${this.cluster}: refusing to archive into it`
  }
}

/** The local work directory failed (full disk, permissions). */
export class WorkDirFailed extends Data.TaggedError("WorkDirFailed")<{ readonly detail: string }> {}

/** Everything the archiver needs. */
export interface ArchiverOptions {
  readonly source: SourceConnection
  readonly dumpServerId: number
  readonly workDir: string
  /** `binlogArchivePrefix(path, cluster)` */
  readonly archivePrefix: string
  readonly identity: ArchiveIdentity
  /** How often `SHOW BINARY LOGS` is polled (default 1 s). */
  readonly pollInterval?: Duration.Input
  /** The upload pipeline's minimum part size (stores other than S3 may allow smaller ones). */
  readonly minPartSize?: number
  /** Called after each archived file (tests and logs). */
  readonly onArchived?: (manifest: BinlogManifest) => Effect.Effect<void>
  /** Called when the archiver starts following a series or loses the source (the status endpoint). */
  readonly onState?: (update: ArchiverStateUpdate) => Effect.Effect<void>
}

export type ArchiverError =
  | BinlogSourceUnavailable
  | ArchiveOwnedByOtherCluster
  | WorkDirFailed
  | BinlogFileInvalid
  | ObjectStoreUploadFailed
  | ObjectStoreDownloadFailed

/** One row of `SHOW BINARY LOGS`. */
export interface ServerBinlog {
  readonly name: string
  readonly size: number
}

const io = <A>(what: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (error) => new WorkDirFailed({ detail: `${what}: ${String(error)}` }) })

/** Runs one statement as the archiver's account; rows as header-keyed records. */
export const querySource = (
  source: SourceConnection,
  sql: string
): Effect.Effect<ReadonlyArray<Record<string, string>>, BinlogSourceUnavailable> =>
  Effect.callback((resume) => {
    const child = execFile(
      flavorOf(source.flavor ?? "mariadb").sqlClient,
      [...sqlArgs(source, sql)],
      { timeout: 15_000 },
      (error, stdout, stderr) => {
        if (error !== null) {
          resume(Effect.fail(new BinlogSourceUnavailable({ detail: stderr.trim() || error.message })))
          return
        }
        const [header, ...lines] = stdout.split("\n").filter((line) => line !== "")
        const names = header?.split("\t") ?? []
        resume(Effect.succeed(lines.map((line) => Object.fromEntries(line.split("\t").map((v, i) => [names[i], v])))))
      }
    )
    return Effect.sync(() => {
      if (!hasExited(child)) child.kill("SIGKILL")
    })
  })

/** `SHOW BINARY LOGS` of the source (needs `BINLOG MONITOR`; MySQL: `REPLICATION CLIENT`). */
export const serverBinlogs = (source: SourceConnection) =>
  Effect.map(querySource(source, "SHOW BINARY LOGS"), (rows) =>
    rows.map((row) => ({ name: row.Log_name ?? "", size: Number(row.File_size) }))
  )

/** Writes the archive's identity, or refuses when it names another cluster. */
export const claimArchive = Effect.fn("pitr.claimArchive")(function* (
  archivePrefix: string,
  identity: ArchiveIdentity
) {
  const client = yield* ObjectStoreClient
  const key = identityKey(archivePrefix)
  const existing = yield* client.headObject(key)
  if (Option.isNone(existing)) {
    yield* client.putObject(key, new TextEncoder().encode(encodeArchiveIdentity(identity)), {
      contentType: "application/json"
    })
    return
  }
  const text = yield* client.getObject(key).pipe(Stream.decodeText(), Stream.mkString)
  const owner = yield* decodeArchiveIdentity(text).pipe(Effect.option)
  const same =
    Option.isSome(owner) &&
    owner.value.cluster === identity.cluster &&
    owner.value.namespace === identity.namespace &&
    (owner.value.uid === undefined || identity.uid === undefined || owner.value.uid === identity.uid)
  if (!same) {
    return yield* new ArchiveOwnedByOtherCluster({
      key,
      owner: Option.match(owner, {
        onNone: () => "(unreadable identity)",
        onSome: (o) => `${o.namespace}/${o.cluster}${o.uid === undefined ? "" : ` (uid ${o.uid})`}`
      }),
      cluster: `${identity.namespace}/${identity.cluster}`
    })
  }
})

// Binlog file numbers grow past six digits, so files are ordered by number, never by name.
const sequenceOf = (file: string): number => Number(file.slice(file.lastIndexOf(".") + 1))
const bySequence = (a: string, b: string): number => sequenceOf(a) - sequenceOf(b)

/** The files of a series that have a manifest, in the server's order. */
export const archivedFiles = Effect.fn("pitr.archivedFiles")(function* (archivePrefix: string, series: string) {
  const client = yield* ObjectStoreClient
  const entries = yield* client.listObjects(`${archivePrefix}${series}/`).pipe(Stream.runCollect)
  return entries
    .flatMap((entry) => ("key" in entry ? Option.toArray(parseBinlogKey(archivePrefix, entry.key)) : []))
    .filter((parsed) => parsed.kind === "manifest" && parsed.series === series)
    .map((parsed) => parsed.file)
    .sort(bySequence)
})

/** The server a series is archived from, as its manifests name it. */
export interface ArchivedServer {
  /** `server-<server_id>` */
  readonly series: string
  /** MySQL's `@@server_uuid`; MariaDB has none. */
  readonly serverUuid: string | undefined
}

/** Asks the source which server it is: its series and (MySQL) its uuid, in one statement. */
const archivedServer = (source: SourceConnection) => {
  const uuid = flavorOf(source.flavor ?? "mariadb").gtidStates.serverUuidExpression
  return Effect.map(
    querySource(source, `SELECT @@server_id AS id${uuid === undefined ? "" : `, ${uuid} AS uuid`}`),
    (rows): ArchivedServer => ({ series: `server-${Number(rows[0]?.id)}`, serverUuid: rows[0]?.uuid })
  )
}

/** Uploads one complete local file and then its manifest. */
export const archiveFile = Effect.fn("pitr.archiveFile")(function* (
  options: ArchiverOptions,
  server: ArchivedServer,
  file: string,
  previousFile: string | undefined
) {
  const { series } = server
  const client = yield* ObjectStoreClient
  const bytes = yield* io(`read ${file}`, () => readFile(join(options.workDir, file)))
  const flavor = options.source.flavor ?? "mariadb"
  const summary = yield* summarizeBinlogFile(bytes, flavor)
  const keys = yield* binlogFileKeys(options.archivePrefix, series, file).pipe(
    Effect.mapError((e) => new WorkDirFailed({ detail: e.message }))
  )
  const uploaded = yield* uploadStream(Stream.make(new Uint8Array(bytes)), {
    key: keys.fileKey,
    ...(options.minPartSize === undefined ? {} : { minPartSize: options.minPartSize })
  })
  const manifest: BinlogManifest = {
    version: 1,
    cluster: options.identity.cluster,
    flavor,
    series,
    file,
    ...(previousFile === undefined ? {} : { previousFile }),
    size: uploaded.size,
    sha256: uploaded.sha256,
    serverId: summary.serverId,
    ...(server.serverUuid === undefined ? {} : { serverUuid: server.serverUuid }),
    gtidStateBefore: summary.gtidStateBefore,
    gtidStateAfter: summary.gtidStateAfter,
    ...(summary.firstGTID === undefined ? {} : { firstGTID: summary.firstGTID }),
    ...(summary.lastGTID === undefined ? {} : { lastGTID: summary.lastGTID }),
    firstEventTime: metaV1Time(summary.firstEventSeconds * 1000),
    lastEventTime: metaV1Time(summary.lastEventSeconds * 1000),
    archivedAt: yield* nowRfc3339Millis
  }
  yield* client.putObject(keys.manifestKey, new TextEncoder().encode(encodeBinlogManifest(manifest)), {
    contentType: "application/json"
  })
  return manifest
})

/** Starts the dump from `startFile` for the current scope (stopped with SIGTERM, then SIGKILL). */
const startDump = (options: ArchiverOptions, startFile: string) =>
  spawnChild(
    flavorOf(options.source.flavor ?? "mariadb").binlogDecoder,
    dumpArgs(options.source, { dumpServerId: options.dumpServerId, directory: options.workDir, startFile }),
    { stderr: "pipe", stop: { signal: "SIGTERM", grace: "5 seconds" }, name: "binlog dump" }
  ).pipe(
    // the tool ships in the image next to this process: not starting it is a broken image, not a state to wait out
    Effect.orDie
  )

/** Whether `next` is the file the server writes right after `file`. */
export const isSuccessor = (file: string, next: string): boolean =>
  file.slice(0, file.lastIndexOf(".")) === next.slice(0, next.lastIndexOf(".")) &&
  sequenceOf(next) === sequenceOf(file) + 1

/** Picks the file to start the dump from: the first listed file after the last archived one. */
export const resumeFile = (
  listed: ReadonlyArray<ServerBinlog>,
  lastArchived: string | undefined
): Option.Option<string> =>
  Option.fromUndefinedOr(
    listed.map((b) => b.name).find((name) => lastArchived === undefined || sequenceOf(name) > sequenceOf(lastArchived))
  )

/**
 * Archives every complete local file, oldest first, and returns the new last archived file. A local file is
 * complete when the server lists a newer file and the local size equals the server's size.
 */
const archiveComplete = Effect.fn("pitr.archiveComplete")(function* (
  options: ArchiverOptions,
  server: ArchivedServer,
  lastArchived: string | undefined
) {
  const listed = yield* serverBinlogs(options.source)
  const local = (yield* io("list the work directory", () => readdir(options.workDir))).sort(bySequence)
  let last = lastArchived
  for (const file of local) {
    if (last !== undefined && sequenceOf(file) <= sequenceOf(last)) {
      yield* io(`remove ${file}`, () => rm(join(options.workDir, file), { force: true }))
      continue
    }
    const index = listed.findIndex((b) => b.name === file)
    if (index < 0 || index === listed.length - 1) break
    const size = (yield* io(`stat ${file}`, () => stat(join(options.workDir, file)))).size
    if (size !== listed[index]?.size) break
    const manifest = yield* archiveFile(options, server, file, last)
    yield* io(`remove ${file}`, () => rm(join(options.workDir, file), { force: true }))
    if (options.onArchived !== undefined) yield* options.onArchived(manifest)
    last = file
  }
  return last
})

/**
 * Runs until interrupted: claims the prefix, then keeps a dump running and archives what completes. A lost
 * connection (server restart, crash) restarts the dump from the first file not yet archived once the server
 * answers again.
 */
export const runArchiver = Effect.fn("pitr.runArchiver")(function* (options: ArchiverOptions) {
  const poll = options.pollInterval ?? "1 second"
  yield* io("create the work directory", () => mkdir(options.workDir, { recursive: true }))
  yield* claimArchive(options.archivePrefix, options.identity)
  const report = (update: ArchiverStateUpdate) => options.onState?.(update) ?? Effect.void
  const retryWhileDown = <A, E extends { readonly _tag: string }, R>(
    self: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E, R> =>
    self.pipe(
      Effect.tapError((e: E) =>
        e instanceof BinlogSourceUnavailable ? report({ state: "serverUnreachable", message: e.message }) : Effect.void
      ),
      Effect.retry({ while: (e: E) => e._tag === "BinlogSourceUnavailable", schedule: Schedule.spaced(poll) })
    )
  for (;;) {
    const server = yield* archivedServer(options.source).pipe(retryWhileDown)
    const { series } = server
    let last = (yield* archivedFiles(options.archivePrefix, series)).at(-1)
    const listed = yield* serverBinlogs(options.source).pipe(retryWhileDown)
    yield* report({ state: "ok", series })
    const start = resumeFile(listed, last)
    if (Option.isNone(start)) {
      yield* Effect.sleep(poll)
      continue
    }
    if (last !== undefined && !isSuccessor(last, start.value)) {
      // purged before it was archived: recovery across this point reports ArchiveGap
      yield* Effect.logWarning(`binlog archive gap: ${start.value} follows ${last}`)
    }
    // The dump downloads its start file again from the beginning; anything older is archived already.
    yield* io("clear the work directory", async () => {
      for (const file of await readdir(options.workDir)) await rm(join(options.workDir, file), { force: true })
    })
    yield* Effect.scoped(
      Effect.gen(function* () {
        const dump = yield* startDump(options, start.value)
        const stderr = yield* Effect.forkScoped(outputText(dump.stderr, 2000))
        while (dump.running()) {
          yield* Effect.sleep(poll)
          last = yield* archiveComplete(options, server, last).pipe(
            Effect.catchTag("BinlogSourceUnavailable", () => Effect.succeed(last))
          )
        }
        const status = yield* dump.closed
        yield* Effect.logInfo(
          `${flavorOf(options.source.flavor ?? "mariadb").binlogDecoder} exited (${status}): ${(yield* Fiber.join(stderr)).trim()}`
        )
      })
    )
    // What completed before the connection ended is archived as soon as the server answers again.
    last = yield* archiveComplete(options, server, last).pipe(retryWhileDown)
  }
})
