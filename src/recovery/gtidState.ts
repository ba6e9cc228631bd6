/**
 * Setting the GTID state of a restored data directory, so that the server starts as a primary continuing
 * the backup's GTID sequence (a backup holds no binlogs, so a restored server's GTID state is empty).
 *
 * **Decision**: the restore applies the state itself, once, before it reports success, instead of leaving
 * a mark for the instance manager to apply at first start. It starts a private temporary server on the
 * restored data directory with the server's own option file (so the binlog basename and `server_id` are the
 * real ones and the state lands in the real binlog index), with `--skip-networking` (nobody else can
 * connect), `--skip-grant-tables` (the restored accounts and their passwords do not matter here) and
 * `--skip-slave-start`; runs the flavour's `restoreGtidSql` over a socket in the scratch directory; and shuts
 * it down cleanly. The first real start then needs no special handling, and a restore that fails here
 * fails as a whole (the caller clears the data directory).
 *
 * **Decision**: while a step runs after the state (the point-in-time replay), the private server commits
 * without an fsync per transaction (`innodb_flush_log_at_trx_commit=2`, `sync_binlog=0`, only on its command
 * line, so nothing of it outlives the private server). A replay is strictly serial and the fsync per commit
 * dominates it: 100,000 small transactions took 90 s durable and 25 s relaxed (research note 2.9). It is safe
 * because nothing of a replay is trusted until it is complete: a replay that fails, or a restore that dies,
 * leaves a data directory the restore clears or refuses, never one a server runs; the clean shutdown that ends
 * the replay writes everything back, and the restore syncs the file system before it reports success.
 *
 * @since 0.1.0
 */
import { readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect } from "effect"
import { RestoreCopyBackFailed } from "../api/failures.ts"
import type { Flavor } from "../instance/flavor.ts"
import { serverUserArgs } from "../instance/supervisor.ts"
import { spawnChild } from "../platform/childProcess.ts"
import { waitUntilReady } from "../platform/waitUntil.ts"
import { describeTail, runTool } from "./tool.ts"

/** How a step after the GTID state reaches the private server: a `[client]` option file (socket, root). */
export interface PrivateServerClient {
  readonly defaultsFile: string
  /** Always: the private server runs with `--skip-grant-tables`. */
  readonly grantTablesSkipped: true
}

/** What the GTID step needs. */
export interface GtidStateOptions<A = void, E = never, R = never> {
  readonly flavor: Flavor
  /** The state to set; '' sets none (the backup logged no GTID) and only runs `afterState`. */
  readonly gtid: string
  readonly dataDir: string
  /** The option file the server will run with (`--defaults-file`). */
  readonly serverDefaultsFile: string
  /** A private directory for the temporary server's socket, pid file and log. */
  readonly workDir: string
  /** How long the temporary server may take to start (default 120 s: a first start resizes the redo log). */
  readonly startTimeoutMillis?: number
  /**
   * Runs on the same private server right after the state is set, before it shuts down: the point-in-time
   * replay, which must be the first write after the state (research note 2.5). Nobody else can connect.
   */
  readonly afterState?: (server: PrivateServerClient) => Effect.Effect<A, E, R>
}

/** The private server's commit settings while a replay runs after the state (see the module comment). */
const replayOnlyDurability: ReadonlyArray<string> = ["--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0"]

/**
 * Starts a private server on the data directory, applies `restoreGtidSql(gtid)`, runs `afterState` and stops it;
 * returns what `afterState` returned.
 */
export const applyGtidState = Effect.fn("recovery.applyGtidState")(function* <A = void, E = never, R = never>(
  options: GtidStateOptions<A, E, R>
) {
  const { flavor, dataDir } = options
  const fail = (detail: string, exitCode?: number) =>
    new RestoreCopyBackFailed({
      dataDir,
      detail: `setting the GTID state ${options.gtid} failed: ${detail}`,
      ...(exitCode === undefined ? {} : { exitCode })
    })
  const statements = options.gtid === "" ? [] : flavor.restoreGtidSql(options.gtid)
  if (statements === undefined) return yield* fail("not a valid GTID state for this flavour")
  const socket = join(options.workDir, "gtid.sock")
  const log = join(options.workDir, "gtid-server.log")
  const serverArgs = [
    `--defaults-file=${options.serverDefaultsFile}`,
    `--datadir=${dataDir}`,
    "--skip-networking",
    "--skip-grant-tables",
    "--skip-slave-start",
    ...(options.afterState === undefined ? [] : replayOnlyDurability),
    ...serverUserArgs(),
    `--socket=${socket}`,
    `--pid-file=${join(options.workDir, "gtid.pid")}`,
    `--log-error=${log}`
  ]
  const clientArgs = ["--no-defaults", `--socket=${socket}`, "--user=root"]
  const logTail = Effect.promise(() =>
    readFile(log, "utf8")
      .then((text) => text.trim().split("\n").slice(-5).join(" | "))
      .catch(() => "no server log")
  )

  return yield* Effect.scoped(
    Effect.gen(function* () {
      const child = yield* spawnChild(flavor.serverBinary, serverArgs, {
        stop: { signal: "SIGTERM", grace: "30 seconds" },
        name: "temporary server"
      }).pipe(Effect.mapError((error) => fail(error.message, 127)))
      yield* waitUntilReady({
        probe: Effect.map(
          runTool(flavor.adminClient, [...clientArgs, "ping"], { quiet: true }),
          (ping) => ping.exitCode === 0
        ),
        exited: () => !child.running(),
        interval: "100 millis",
        timeout: options.startTimeoutMillis ?? 120_000,
        onExited: () =>
          Effect.flatMap(logTail, (tail) => Effect.fail(fail(`the temporary server exited during start: ${tail}`))),
        onTimeout: () =>
          Effect.flatMap(logTail, (tail) => Effect.fail(fail(`the temporary server did not start: ${tail}`)))
      })
      if (statements.length > 0) {
        const applied = yield* runTool(flavor.sqlClient, [...clientArgs, "-e", statements.join(";\n")])
        if (applied.exitCode !== 0) return yield* fail(describeTail(applied), applied.exitCode)
        yield* Effect.logInfo("GTID state set").pipe(Effect.annotateLogs({ gtid: options.gtid }))
      }
      let after: A | undefined
      if (options.afterState !== undefined) {
        const clientFile = join(options.workDir, "gtid-client.cnf")
        yield* Effect.promise(() => writeFile(clientFile, `[client]\nsocket=${socket}\nuser=root\n`))
        after = yield* options.afterState({ defaultsFile: clientFile, grantTablesSkipped: true })
      }
      child.process.kill("SIGTERM")
      const code = yield* child.closed
      if (code !== 0) return yield* fail(`the temporary server did not shut down cleanly: ${yield* logTail}`, code)
      return after as A
    })
  )
})
