/**
 * Replica join by cloning (DESIGN.md §4 "Recovery"): a new replica's instance manager streams
 * `GET /cluster/backup` from the primary's instance manager over mTLS straight into the extractor (no object
 * store, nothing staged but the extracted files), prepares the copy in place, reads the GTID position the clone
 * ends at from its binlog info file, and moves it into the data directory. Replication itself is configured at
 * the first server start (`bootstrap.ts`), from the join record written here.
 *
 * Everything happens in a staging directory next to the data directory, as for a restore: a clone that fails
 * at any step leaves the data directory as empty as it was, and the Pod's restart retries from scratch.
 *
 * @since 0.1.0
 */
import { access, readFile, rm, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { Data, Effect, Schema } from "effect"
import { install, makeStagingDir, removeDir } from "../recovery/dataDir.ts"
import { describeTail, runTool } from "../recovery/tool.ts"
import { type ClientTls, startBackup } from "./client.ts"
import { type Flavor, type InfoFileNames, isPrepared, parseBinlogInfoFile } from "./flavor.ts"

/** One step of the clone failed; the instance manager exits and the kubelet retries. */
export class ReplicaCloneFailed extends Data.TaggedError("ReplicaCloneFailed")<{
  readonly step: "stream" | "extract" | "prepare" | "position" | "install" | "record"
  readonly detail: string
}> {
  override get message(): string {
    return `replica clone failed at ${this.step}: ${this.detail}`
  }
}

/** What a clone leaves for the first start: the GTID state replication continues from. */
export const ReplicaJoinRecord = Schema.Struct({ gtid: Schema.String, clonedFrom: Schema.String })
export type ReplicaJoinRecord = typeof ReplicaJoinRecord.Type

/** The join record lives next to the data directory (on the same volume), never inside it. */
export const joinRecordPath = (dataDir: string): string => join(dirname(dataDir), "replica-join.json")

const exists = (path: string) =>
  Effect.promise(() =>
    access(path).then(
      () => true,
      () => false
    )
  )

const firstExisting = (dir: string, names: InfoFileNames) =>
  Effect.gen(function* () {
    for (const name of names) if (yield* exists(join(dir, name))) return join(dir, name)
    return undefined
  })

const failed = (step: ReplicaCloneFailed["step"]) => (error: { readonly message: string }) =>
  new ReplicaCloneFailed({ step, detail: error.message })

/** Clones the primary at `sourceUrl` into the (empty) `dataDir` and writes the join record. */
export const cloneFromPrimary = Effect.fn("InstanceManager.cloneFromPrimary")(function* (options: {
  readonly flavor: Flavor
  readonly sourceUrl: string
  readonly tls: ClientTls
  readonly dataDir: string
}) {
  const { flavor, dataDir } = options
  const staging = yield* Effect.acquireRelease(
    makeStagingDir(dataDir).pipe(Effect.mapError(failed("extract"))),
    removeDir
  )
  yield* Effect.logInfo("cloning the primary", { source: options.sourceUrl })
  const extracted = yield* Effect.scoped(
    Effect.gen(function* () {
      const response = yield* startBackup(options.sourceUrl, options.tls).pipe(Effect.mapError(failed("stream")))
      const result = yield* runTool(flavor.extractTool, flavor.extractArgs(staging), { stdin: response.body }).pipe(
        Effect.mapError(failed("stream"))
      )
      const outcome = yield* response.outcome.pipe(Effect.mapError(failed("stream")))
      if (result.exitCode !== 0) {
        return yield* new ReplicaCloneFailed({ step: "extract", detail: describeTail(result) })
      }
      return outcome
    })
  )
  // the info file is the last entry of the stream: without it the copy is incomplete
  if ((yield* firstExisting(staging, flavor.infoFiles.info)) === undefined) {
    return yield* new ReplicaCloneFailed({ step: "extract", detail: "the cloned stream is incomplete" })
  }
  const prepared = yield* runTool(flavor.backupTool, flavor.prepareArgs(staging), { quiet: true })
  const checkpoints = yield* firstExisting(staging, flavor.infoFiles.checkpoints)
  const checkpointText =
    checkpoints === undefined ? "" : yield* Effect.promise(() => readFile(checkpoints, "utf8").catch(() => ""))
  if (prepared.exitCode !== 0 || !isPrepared(checkpointText)) {
    return yield* new ReplicaCloneFailed({ step: "prepare", detail: describeTail(prepared) })
  }
  const infoFile = yield* firstExisting(staging, flavor.infoFiles.binlogInfo)
  const info =
    infoFile === undefined
      ? undefined
      : parseBinlogInfoFile(flavor, yield* Effect.promise(() => readFile(infoFile, "utf8").catch(() => "")))
  // a primary that never logged a transaction has no GTID yet; the stream's end GTID says the same
  const gtid = info?.gtid ?? extracted.endGtid
  yield* install(staging, dataDir).pipe(Effect.mapError(failed("install")))
  const record: ReplicaJoinRecord = { gtid, clonedFrom: options.sourceUrl }
  yield* Effect.tryPromise({
    try: () => writeFile(joinRecordPath(dataDir), JSON.stringify(record), { mode: 0o600 }),
    catch: (error) => new ReplicaCloneFailed({ step: "record", detail: String(error) })
  })
  yield* Effect.logInfo("primary cloned", { gtid })
  return record
}, Effect.scoped)

/** The pending join record, if a clone has not been joined yet. */
export const readJoinRecord = (dataDir: string) =>
  Effect.promise(() => readFile(joinRecordPath(dataDir), "utf8").catch(() => undefined)).pipe(
    Effect.flatMap((text) =>
      text === undefined
        ? Effect.succeed(undefined)
        : Schema.decodeUnknownEffect(Schema.fromJsonString(ReplicaJoinRecord))(text).pipe(
            Effect.mapError((error) => new ReplicaCloneFailed({ step: "record", detail: error.message }))
          )
    )
  )

/** Removes the join record once replication is configured. */
export const clearJoinRecord = (dataDir: string) => Effect.promise(() => rm(joinRecordPath(dataDir), { force: true }))
