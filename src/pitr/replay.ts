/**
 * The replay of a recovery plan into the private server a restore just prepared: download every planned file,
 * verified against its manifest's SHA-256 and size, before anything is applied (a flipped byte is
 * `ChecksumMismatch` and the data stays untouched); check that the server continues exactly from the plan's
 * start (no write may happen between the restore and the replay, research note 2.5); pipe
 * `mariadb-binlog --start-position=<backup GTID> [--stop-position=<target> | --stop-datetime=<UTC>]` into the
 * SQL client with both exit codes checked (pipefail); then compare the server's `@@gtid_binlog_pos` with the
 * target, because an unreached stop is only a warning to `mariadb-binlog`.
 *
 * `mariadb-binlog` runs with `TZ=UTC`: it reads `--stop-datetime` in its own time zone.
 *
 * @since 0.2.0
 */
import { spawn } from "node:child_process"
import { writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Data, Effect, Stream } from "effect"
import { RecoveryTargetUnreachable } from "../api/failures.ts"
import { binlogFileKeys } from "../objectstore/binlogLayout.ts"
import { verifiedObjectStream } from "../pipeline/download.ts"
import { exitStatus } from "../platform/exitStatus.ts"
import { formatGtidList, includes, parseGtidList, samePosition } from "./gtid.ts"
import type { RecoveryPlan } from "./recoveryPlan.ts"

/** The replay itself failed (a tool exited non-zero, or the server does not continue from the plan's start). */
export class BinlogReplayFailed extends Data.TaggedError("BinlogReplayFailed")<{ readonly detail: string }> {
  override get message(): string {
    return `binlog replay failed: ${this.detail}`
  }
}

/** How the replay reaches the private server: a SQL client option file of an admin. */
export interface ServerClient {
  /** `[client]` options of the private server (socket, user with BINLOG REPLAY). */
  readonly defaultsFile: string
  /**
   * The server runs with `--skip-grant-tables` (the restore's private server): account statements in the
   * binlog (`CREATE USER`, `GRANT`) fail there with ERROR 1290 until the replay's session loads the grant
   * tables with `FLUSH LOCAL PRIVILEGES`, which writes nothing to the binlog. Authentication stays off.
   */
  readonly grantTablesSkipped?: boolean
}

/** Where the replay applies, and where it keeps the downloaded files. */
export interface ReplayTarget extends ServerClient {
  /** Scratch directory for the downloaded files. */
  readonly scratchDir: string
}

/**
 * `--stop-datetime` of an RFC 3339 time in UTC, whole seconds: the tool rejects ISO 'Z' and reads the value in
 * its own time zone (pinned to UTC), so an offset such as `+02:00` is converted here, not dropped.
 */
const stopDatetime = (time: string): string =>
  new Date(Math.floor(Date.parse(time) / 1000) * 1000).toISOString().slice(0, 19).replace("T", " ")

/** `mariadb-binlog`'s arguments for a plan over local files (pure). */
export const replayArgs = (plan: RecoveryPlan, files: ReadonlyArray<string>): ReadonlyArray<string> => [
  "--no-defaults",
  ...(plan.startPosition === "" ? [] : [`--start-position=${plan.startPosition}`]),
  ...(plan.stopPosition === undefined ? [] : [`--stop-position=${plan.stopPosition}`]),
  // whole seconds, as the binlog records them; ISO 'Z' is rejected by the tool
  ...(plan.stopTime === undefined ? [] : [`--stop-datetime=${stopDatetime(plan.stopTime)}`]),
  ...files
]

const run = (command: string, args: ReadonlyArray<string>, input?: string) =>
  Effect.callback<string, BinlogReplayFailed>((resume) => {
    const child = spawn(command, [...args], { stdio: ["pipe", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout.on("data", (c: Buffer) => (out += c.toString()))
    child.stderr.on("data", (c: Buffer) => (err = (err + c.toString()).slice(-4000)))
    child.on("error", (e) => resume(Effect.fail(new BinlogReplayFailed({ detail: `${command}: ${e.message}` }))))
    child.on("close", (code, signal) => {
      const status = exitStatus(code, signal)
      resume(
        status === 0
          ? Effect.succeed(out)
          : Effect.fail(new BinlogReplayFailed({ detail: `${command} exited ${status}: ${err.trim()}` }))
      )
    })
    child.stdin.end(input ?? "")
    return Effect.sync(() => {
      if (child.exitCode === null) child.kill("SIGKILL")
    })
  })

const gtidBinlogPos = (target: ServerClient) =>
  Effect.map(
    run(
      "mariadb",
      [`--defaults-file=${target.defaultsFile}`, "--batch", "--skip-column-names"],
      "SELECT @@gtid_binlog_pos"
    ),
    (out) => out.trim()
  )

/** Pipes the decoder into the SQL client; fails when either exits non-zero. */
const pipeReplay = (args: ReadonlyArray<string>, target: ServerClient) =>
  Effect.callback<void, BinlogReplayFailed>((resume) => {
    const decoder = spawn("mariadb-binlog", [...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, TZ: "UTC" }
    })
    const client = spawn(
      "mariadb",
      [
        `--defaults-file=${target.defaultsFile}`,
        "--binary-mode",
        ...(target.grantTablesSkipped === true ? ["--init-command=FLUSH LOCAL PRIVILEGES"] : [])
      ],
      {
        stdio: ["pipe", "ignore", "pipe"]
      }
    )
    decoder.stdout.pipe(client.stdin)
    // EPIPE when the client died first: its exit code tells the story
    client.stdin.on("error", () => undefined)
    let decoderErr = ""
    let clientErr = ""
    decoder.stderr.on("data", (c: Buffer) => (decoderErr = (decoderErr + c.toString()).slice(-4000)))
    client.stderr.on("data", (c: Buffer) => (clientErr = (clientErr + c.toString()).slice(-4000)))
    const statuses: Array<number | undefined> = [undefined, undefined]
    const done = () => {
      const [d, c] = statuses
      if (d === undefined || c === undefined) return
      if (d === 0 && c === 0) resume(Effect.void)
      else
        resume(
          Effect.fail(
            new BinlogReplayFailed({
              detail: `mariadb-binlog exited ${d}${decoderErr.trim() ? ` (${decoderErr.trim()})` : ""}, mariadb exited ${c}${clientErr.trim() ? ` (${clientErr.trim()})` : ""}`
            })
          )
        )
    }
    decoder.on("close", (code, signal) => {
      statuses[0] = exitStatus(code, signal)
      done()
    })
    client.on("close", (code, signal) => {
      statuses[1] = exitStatus(code, signal)
      done()
    })
    return Effect.sync(() => {
      for (const child of [decoder, client]) if (child.exitCode === null) child.kill("SIGKILL")
    })
  })

/**
 * Downloads every planned file into `dir`, each verified against its manifest's SHA-256 and size; returns the
 * local paths in replay order. A flipped byte is `ChecksumMismatch` naming the binlog's key.
 */
export const downloadPlanFiles = Effect.fn("pitr.downloadPlanFiles")(function* (
  plan: RecoveryPlan,
  archivePrefix: string,
  dir: string
) {
  const local: Array<string> = []
  for (const [index, manifest] of plan.files.entries()) {
    const keys = yield* binlogFileKeys(archivePrefix, manifest.series, manifest.file)
    const chunks = yield* Stream.runCollect(
      verifiedObjectStream(keys.fileKey, { sha256: manifest.sha256, size: manifest.size })
    )
    // the index keeps replay order even when a failover's new series reuses a file name
    const path = join(dir, `${String(index).padStart(6, "0")}-${manifest.file}`)
    yield* Effect.tryPromise({
      try: () => writeFile(path, Buffer.concat(chunks)),
      catch: (e) => new BinlogReplayFailed({ detail: `cannot write ${path}: ${String(e)}` })
    })
    local.push(path)
  }
  return local
})

/**
 * Replays already verified local `files` (from `downloadPlanFiles`) into `target`; returns the server's GTID
 * position afterwards.
 */
export const applyPlan = Effect.fn("pitr.applyPlan")(function* (
  plan: RecoveryPlan,
  files: ReadonlyArray<string>,
  target: ServerClient
) {
  const before = yield* gtidBinlogPos(target)
  if (formatGtidList(parseGtidList(before)) !== formatGtidList(parseGtidList(plan.startPosition))) {
    return yield* new BinlogReplayFailed({
      detail: `the server is at GTID '${before}', not at the backup's '${plan.startPosition}': something wrote to it before the replay`
    })
  }
  if (files.length > 0) yield* pipeReplay(replayArgs(plan, files), target)
  const after = yield* gtidBinlogPos(target)
  if (plan.stopPosition !== undefined && !samePosition(parseGtidList(after), parseGtidList(plan.stopPosition))) {
    if (includes(parseGtidList(after), parseGtidList(plan.stopPosition))) {
      return yield* new BinlogReplayFailed({ detail: `the replay went past the target to '${after}'` })
    }
    return yield* new RecoveryTargetUnreachable({
      why: "AfterLastArchivedTransaction",
      target: `targetGTID ${plan.stopPosition}`,
      detail: `the replay ended at '${after}' without reaching the target`
    })
  }
  return after
})

/** Downloads, verifies and replays `plan` into `target`; returns the server's GTID position afterwards. */
export const replayPlan = Effect.fn("pitr.replayPlan")(function* (
  plan: RecoveryPlan,
  archivePrefix: string,
  target: ReplayTarget
) {
  const files = yield* downloadPlanFiles(plan, archivePrefix, target.scratchDir)
  return yield* applyPlan(plan, files, target)
})
