/**
 * The replay of a recovery plan into the private server a restore just prepared: download every planned file,
 * verified against its manifest's SHA-256 and size, before anything is applied (a flipped byte is
 * `ChecksumMismatch` and the data stays untouched); check that the server continues exactly from the plan's
 * start (no write may happen between the restore and the replay, research note 2.5); pipe the flavour's decoder
 * into its SQL client with both exit codes checked (pipefail); then compare the server's executed GTID state
 * with the target, because an unreached stop is only a warning to the decoder.
 * - MariaDB: `mariadb-binlog --start-position=<backup GTID> [--stop-position=<target> | --stop-datetime=<UTC>]`,
 *   checked against `@@gtid_binlog_pos`.
 * - MySQL 8.4: `mysqlbinlog --exclude-gtids=<backup set> [--include-gtids=<target set> | --stop-datetime=<UTC>]`
 *   (exactly the target's transactions the backup lacks, every file read once: PXB's documented procedure, one
 *   decoder for all files), checked against `@@GLOBAL.gtid_executed`, which must be the backup's set with the
 *   target's. The restore seeded `gtid_purged` with the backup's set (`Flavor.restoreGtidSql`), so the server's
 *   `gtid_executed` is that set before the replay. Written from MySQL's documentation, not run here.
 *
 * The decoder runs with `TZ=UTC`: it reads `--stop-datetime` in its own time zone.
 *
 * @since 0.2.0
 */
import { writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Data, Effect, Stream } from "effect"
import type { FlavorName } from "../api/common.ts"
import { RecoveryTargetUnreachable } from "../api/failures.ts"
import { type Flavor, flavorOf } from "../instance/flavor.ts"
import { binlogFileKeys } from "../objectstore/binlogLayout.ts"
import { verifiedObjectStream } from "../pipeline/download.ts"
import { type ChildOptions, outputText, spawnChild } from "../platform/childProcess.ts"
import { formatGtidSet, type GtidSet, parseGtidSet } from "./gtidSet.ts"
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
const mariadbReplayArgs = (plan: RecoveryPlan, files: ReadonlyArray<string>): ReadonlyArray<string> => [
  "--no-defaults",
  ...(plan.startPosition === "" ? [] : [`--start-position=${plan.startPosition}`]),
  ...(plan.stopPosition === undefined ? [] : [`--stop-position=${plan.stopPosition}`]),
  // whole seconds, as the binlog records them; ISO 'Z' is rejected by the tool
  ...(plan.stopTime === undefined ? [] : [`--stop-datetime=${stopDatetime(plan.stopTime)}`]),
  ...files
]

/** `mysqlbinlog`'s arguments for a MySQL replay after a backup whose `gtid_executed` is `backup` (pure). */
export const mysqlReplayArgs = (options: {
  readonly backup: GtidSet
  readonly target: { readonly _tag: "Gtid"; readonly set: GtidSet } | { readonly _tag: "Time"; readonly time: string }
  readonly files: ReadonlyArray<string>
}): ReadonlyArray<string> => [
  "--no-defaults",
  ...(options.backup.size === 0 ? [] : [`--exclude-gtids=${formatGtidSet(options.backup)}`]),
  ...(options.target._tag === "Gtid"
    ? [`--include-gtids=${formatGtidSet(options.target.set)}`]
    : [`--stop-datetime=${stopDatetime(options.target.time)}`]),
  ...options.files
]

/** A set the plan holds: it was parsed from a manifest or a validated target when the plan was made. */
const planSet = (text: string): GtidSet => parseGtidSet(text) ?? new Map()

/** Each flavour's decoder arguments for a plan over local files, in replay order (pure). */
const decoderArgs: Record<FlavorName, (plan: RecoveryPlan, files: ReadonlyArray<string>) => ReadonlyArray<string>> = {
  mariadb: mariadbReplayArgs,
  mysql: (plan, files) =>
    mysqlReplayArgs({
      backup: planSet(plan.startPosition),
      // the plan's stop state is the backup's set with the target's: the backup's part is excluded anyway
      target:
        plan.stopPosition !== undefined
          ? { _tag: "Gtid", set: planSet(plan.stopPosition) }
          : { _tag: "Time", time: plan.stopTime ?? "" },
      files
    })
}

/** The decoder's arguments for a plan over local files (pure), in the plan's flavour (default MariaDB). */
export const replayArgs = (plan: RecoveryPlan, files: ReadonlyArray<string>): ReadonlyArray<string> =>
  decoderArgs[plan.flavor ?? "mariadb"](plan, files)

/** Killed at once when interrupted: a half-applied replay is failed either way. */
const stopAtOnce = { signal: "SIGKILL", grace: 0 } as const

const start = <const O extends Omit<ChildOptions, "stop">>(command: string, args: ReadonlyArray<string>, options: O) =>
  spawnChild(command, args, { ...options, stop: stopAtOnce }).pipe(
    Effect.mapError((error) => new BinlogReplayFailed({ detail: error.message }))
  )

const run = (command: string, args: ReadonlyArray<string>, input?: string) =>
  Effect.gen(function* () {
    const child = yield* start(command, args, { stdin: "pipe", stdout: "pipe", stderr: "pipe" })
    child.stdin.end(input ?? "")
    const [out, err, status] = yield* Effect.all(
      [outputText(child.stdout), outputText(child.stderr, 4000), child.closed],
      { concurrency: "unbounded" }
    )
    if (status !== 0) return yield* new BinlogReplayFailed({ detail: `${command} exited ${status}: ${err.trim()}` })
    return out
  }).pipe(Effect.scoped)

const executedGtid = (flavor: Flavor, target: ServerClient) =>
  Effect.map(
    run(
      flavor.sqlClient,
      [`--defaults-file=${target.defaultsFile}`, "--batch", "--skip-column-names"],
      `SELECT ${flavor.executedGtidExpression}`
    ),
    (out) => out.trim()
  )

/** Marks the line of the replay session's own GTID read in the client's output. */
const gtidMarker = "cnm-replayed-gtid:"

/**
 * Pipes the decoder into the SQL client; fails when either exits non-zero. Returns the executed GTID state read
 * at the end of the same session: once the session loaded the grant tables (`grantTablesSkipped`), authentication
 * is on for the whole server and a new connection as the private server's root is refused (its account is the
 * source's, with the source's password or `unix_socket` of another OS user: found by the sandbox e2e).
 */
const pipeReplay = (flavor: Flavor, args: ReadonlyArray<string>, target: ServerClient) =>
  Effect.gen(function* () {
    const decoder = yield* start(flavor.binlogDecoder, args, {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, TZ: "UTC" }
    })
    const client = yield* start(
      flavor.sqlClient,
      [
        `--defaults-file=${target.defaultsFile}`,
        "--binary-mode",
        "--batch",
        "--skip-column-names",
        ...(target.grantTablesSkipped === true ? ["--init-command=FLUSH LOCAL PRIVILEGES"] : [])
      ],
      { stdin: "pipe", stdout: "pipe", stderr: "pipe" }
    )
    // EPIPE when the client died first is swallowed by spawnChild: its exit code tells the story
    decoder.stdout.pipe(client.stdin, { end: false })
    // the decoder's output ends with its own statement delimiter `;`: the read is a statement of its own
    decoder.stdout.once("end", () =>
      client.stdin.end(`\nSELECT CONCAT('${gtidMarker}', ${flavor.executedGtidExpression});\n`)
    )
    const [decoderErr, clientOut, clientErr, d, c] = yield* Effect.all(
      [
        outputText(decoder.stderr, 4000),
        outputText(client.stdout, 4000),
        outputText(client.stderr, 4000),
        decoder.closed,
        client.closed
      ],
      { concurrency: "unbounded" }
    )
    const gtid = clientOut
      .split("\n")
      .findLast((line) => line.startsWith(gtidMarker))
      ?.slice(gtidMarker.length)
    if (d === 0 && c === 0 && gtid !== undefined) return gtid.trim()
    const detail = (text: string) => (text.trim() === "" ? "" : ` (${text.trim()})`)
    return yield* new BinlogReplayFailed({
      detail: `${flavor.binlogDecoder} exited ${d}${detail(decoderErr)}, ${flavor.sqlClient} exited ${c}${detail(clientErr)}${
        gtid === undefined ? ", no GTID position read after the replay" : ""
      }`
    })
  }).pipe(Effect.scoped)

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
  const flavor = flavorOf(plan.flavor ?? "mariadb")
  const states = flavor.gtidStates
  const canonical = (text: string): string | undefined => {
    const state = states.parse(text)
    return state === undefined ? undefined : states.format(state)
  }
  const before = yield* executedGtid(flavor, target)
  const start = canonical(plan.startPosition)
  if (start === undefined || canonical(before) !== start) {
    return yield* new BinlogReplayFailed({
      detail: `the server is at GTID '${before}', not at the backup's '${plan.startPosition}': something wrote to it before the replay`
    })
  }
  const after = files.length > 0 ? yield* pipeReplay(flavor, replayArgs(plan, files), target) : before
  if (plan.stopPosition !== undefined) {
    const reached = states.parse(after)
    const stop = states.parse(plan.stopPosition)
    if (reached === undefined || stop === undefined || !states.same(reached, stop)) {
      if (reached !== undefined && stop !== undefined && states.includes(reached, stop)) {
        return yield* new BinlogReplayFailed({ detail: `the replay went past the target to '${after}'` })
      }
      return yield* new RecoveryTargetUnreachable({
        why: "AfterLastArchivedTransaction",
        target: `targetGTID ${plan.stopPosition}`,
        detail: `the replay ended at '${after}' without reaching the target`
      })
    }
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
