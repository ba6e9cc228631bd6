/**
 * One `GET /cluster/backup`: runs the backup tool and streams its stdout as the response body, nothing else.
 *
 * - Backpressure: stdout is `pipe`d into the response, so Node pauses the tool's pipe whenever the client's
 *   socket buffer (HTTP/1.1) or the stream's flow-control window (HTTP/2) is full; the tool then blocks on write. Memory stays at a few pipe/socket buffers.
 * - Outcome: the exit code, the end GTID/binlog from the tool's "binlog position" stderr line and a secret-free
 *   stderr tail go into HTTP trailers once the tool has exited, because only then is the outcome known
 *   (mariabackup can fail at the very end after streaming everything).
 * - Cancellation: when the client goes away (or the scope closes) the tool gets SIGINT, then SIGKILL after the
 *   grace period; mariabackup ignores SIGTERM.
 * - stderr is logged line by line as structured logs; the stream itself never reaches a logger.
 *
 * @since 0.1.0
 */
import { join } from "node:path"
import { Data, Effect, Fiber, Stream } from "effect"
import { nowRfc3339Millis } from "../api/time.ts"
import { outputLines, spawnChild } from "../platform/childProcess.ts"
import type { DatabaseAccess } from "./database.ts"
import { BinlogPositionParser, isCompletedOk } from "./flavor.ts"
import {
  apiFailure,
  type BackupOutcome,
  type BackupStart,
  backupTrailers,
  encodeBackupOutcome,
  encodeBackupStart
} from "./protocol.ts"
import { type ApiResponse, events, isClosed, writeHead } from "./response.ts"

/** Settings of a backup run. */
export interface BackupSessionOptions {
  readonly access: DatabaseAccess
  readonly toolVersion: string
  readonly begin: Pick<BackupStart, "beginGtid" | "beginBinlog">
  readonly killGraceMillis: number
  readonly parallel?: number
  /** Strings that must never leave the process (the backup password), scrubbed from the error summary. */
  readonly secrets: ReadonlyArray<string>
  /** Called with the tool's PID once it runs (tests check that a cancelled tool is gone). */
  readonly onStarted?: (pid: number) => void
  /** Called with the size of each chunk of the stream handed to the response (the metrics' byte counts). */
  readonly onBytes?: (bytes: number) => void
}

const tailLines = 12
const maxErrorLength = 2000

/** Removes secrets and `password=…` style values from a stderr line. */
export const scrub = (line: string, secrets: ReadonlyArray<string>): string => {
  let out = line.replace(/(--password[= ]|password\s*[=:]\s*)(?!set\b)\S+/giu, "$1<redacted>")
  for (const secret of secrets) if (secret !== "") out = out.replaceAll(secret, "<redacted>")
  return out
}

/** The backup's HTTP client went away before the response finished. */
class ClientGone extends Data.TaggedError("ClientGone") {}

/**
 * Fails when the client disconnects before the response was ended here (only after the tool exited).
 * `writableEnded`, not `writableFinished`: an HTTP/2 stream the client reset reports itself finished.
 */
const clientGone = (res: ApiResponse): Effect.Effect<never, ClientGone> =>
  Effect.callback((resume) => {
    const onClose = () => {
      if (!res.writableEnded) resume(Effect.fail(new ClientGone()))
    }
    if (isClosed(res)) return onClose()
    events(res).once("close", onClose)
    return Effect.sync(() => events(res).off("close", onClose))
  })

const finish = (res: ApiResponse): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (res.writableFinished || isClosed(res)) return resume(Effect.void)
    events(res).once("close", () => resume(Effect.void))
    events(res).once("finish", () => resume(Effect.void))
  })

/**
 * Streams one backup into `res` (status 200 written here). Resolves with the outcome sent in the trailers, or
 * with `undefined` when the client went away and the tool was stopped.
 */
export const streamBackup = Effect.fn("InstanceManager.streamBackup")(function* (
  res: ApiResponse,
  options: BackupSessionOptions
) {
  const { access } = options
  const flavor = access.flavor
  const tool = flavor.backupTool
  const args = flavor.backupArgs({
    defaultsFile: access.defaultsFile,
    address: access.address,
    targetDir: join(access.runtimeDir, "backup-target"),
    ...(options.parallel === undefined ? {} : { parallel: options.parallel })
  })
  // SIGINT, then SIGKILL after the grace period: mariabackup blocks SIGTERM and would finish the backup
  const spawned = yield* spawnChild(tool, args, {
    cwd: access.runtimeDir,
    stdout: "pipe",
    stderr: "pipe",
    stop: { signal: "SIGINT", grace: options.killGraceMillis },
    name: "backup tool"
  }).pipe(Effect.result)
  if (spawned._tag === "Failure") {
    const detail = spawned.failure.message
    yield* Effect.logError("backup tool did not start", { tool, detail })
    writeHead(res, 500, { "content-type": "application/json" })
    res.end(JSON.stringify(apiFailure(500, "BackupToolUnavailable", detail)))
    return undefined
  }
  const child = spawned.success
  const pid = child.pid
  options.onStarted?.(pid)
  yield* Effect.logInfo("backup started", { tool, pid, beginGtid: options.begin.beginGtid })

  const startedAt = yield* nowRfc3339Millis
  writeHead(res, 200, {
    "content-type": "application/octet-stream",
    "cache-control": "no-store",
    trailer: Object.values(backupTrailers).join(", "),
    ...encodeBackupStart({
      flavor: flavor.name,
      tool,
      toolVersion: options.toolVersion,
      beginGtid: options.begin.beginGtid,
      beginBinlog: options.begin.beginBinlog,
      startedAt
    })
  })

  const parser = new BinlogPositionParser(flavor.parseGtid)
  const tail: Array<string> = []
  let lastLine = ""
  const stderr = yield* outputLines(child.stderr).pipe(
    Stream.runForEach((line) =>
      Effect.suspend(() => {
        parser.push(line)
        const clean = scrub(line, options.secrets)
        if (clean.trim() !== "") lastLine = clean
        tail.push(clean)
        if (tail.length > tailLines) tail.shift()
        return Effect.logInfo(clean)
      })
    ),
    Effect.annotateLogs({ tool, pid, stream: "stderr" }),
    Effect.forkScoped
  )

  // a write to a client that reset the connection must not crash the process; `clientGone` handles it
  events(res).on("error", () => undefined)
  const onBytes = options.onBytes
  if (onBytes !== undefined) child.stdout.on("data", (chunk: Buffer) => onBytes(chunk.length))
  child.stdout.pipe(res, { end: false })

  // `closed`: the tool exited and its stdout went into the response, its stderr into the fiber above
  const exitCode = yield* Effect.raceFirst(child.closed, clientGone(res)).pipe(
    Effect.catchTag("ClientGone", () => Effect.succeed(undefined))
  )
  if (exitCode === undefined) {
    yield* Effect.logWarning("client disconnected during backup; stopping the tool", { tool, pid })
    yield* child.stop
    return undefined
  }
  yield* Fiber.join(stderr)
  const completedOk = isCompletedOk(lastLine)
  const end = parser.result
  const failed = exitCode !== 0 || !completedOk
  const outcome: BackupOutcome = {
    exitCode,
    completedOk,
    endGtid: end?.gtid ?? "",
    endBinlog: end === undefined ? null : { file: end.file, position: end.position },
    error: failed
      ? tail
          .filter((l) => l.trim() !== "")
          .join("\n")
          .slice(-maxErrorLength)
      : ""
  }
  res.addTrailers(encodeBackupOutcome(outcome))
  res.end()
  yield* finish(res)
  if (failed) yield* Effect.logError("backup failed", { tool, pid, exitCode, completedOk })
  else yield* Effect.logInfo("backup completed", { tool, pid, endGtid: outcome.endGtid, endBinlog: outcome.endBinlog })
  return outcome
})
