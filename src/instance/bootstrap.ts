/**
 * What the instance manager does before it starts the server it supervises:
 *
 * 1. An empty data directory (absent, empty or only `lost+found`) is filled according to the Pod's bootstrap
 *    mode: `initialise` (the first instance of a new Cluster), `clone` (a replica: `replicaJoin.ts`) or
 *    `restored` (the first instance of a recovered Cluster, whose recovery Job already filled the volume: an
 *    empty one here means the volume was replaced, and starting an empty primary would silently lose the
 *    recovered data, so it is refused). A data directory with files is used as it is.
 * 2. An init file (`--init-file`, run by the server itself at every start with full privileges, before it
 *    accepts connections) creates or updates the operator's accounts with this Cluster's passwords, so the
 *    manager never needs the previous passwords: a recovered data directory carries the source's accounts,
 *    and they are simply re-keyed. After a clone it also points replication at the primary.
 *
 * @since 0.1.0
 */
import { execFile } from "node:child_process"
import { mkdir, readdir, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Data, Effect } from "effect"
import { isEmptyDataDir, LostAndFound } from "../recovery/dataDir.ts"
import type { ClientTls } from "./client.ts"
import type { Flavor, OperatorAccounts, ReplicationSource } from "./flavor.ts"
import { cloneFromPrimary, type ReplicaJoinRecord } from "./replicaJoin.ts"
import { serverUserArgs } from "./supervisor.ts"

/** How an empty data directory is filled. */
export type DataDirBootstrap = "initialise" | "clone" | "restored"

/** The data directory cannot be prepared. */
export class DataDirBootstrapFailed extends Data.TaggedError("DataDirBootstrapFailed")<{
  readonly dataDir: string
  readonly detail: string
}> {
  override get message(): string {
    return `cannot prepare the data directory ${this.dataDir}: ${this.detail}`
  }
}

const run = (command: string, args: ReadonlyArray<string>) =>
  Effect.callback<{ readonly code: number; readonly stderr: string }>((resume) => {
    const child = execFile(command, [...args], { maxBuffer: 8 * 1024 * 1024 }, (error, _stdout, stderr) =>
      resume(Effect.succeed({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 127, stderr }))
    )
    return Effect.sync(() => {
      if (child.exitCode === null) child.kill("SIGKILL")
    })
  })

/** Fills an empty data directory per `bootstrap`; returns what was done. */
export const prepareDataDir = Effect.fn("InstanceManager.prepareDataDir")(function* (options: {
  readonly flavor: Flavor
  readonly dataDir: string
  readonly defaultsFile: string
  readonly bootstrap: DataDirBootstrap
  readonly clone?: { readonly sourceUrl: string; readonly tls: ClientTls }
}) {
  const { dataDir } = options
  if (!(yield* isEmptyDataDir(dataDir))) return "existing" as const
  const fail = (detail: string) => new DataDirBootstrapFailed({ dataDir, detail })
  switch (options.bootstrap) {
    case "restored":
      return yield* fail(
        "the data directory is empty, but this instance was recovered from a backup: the volume was replaced after the recovery Job ran; refusing to start an empty primary"
      )
    case "clone": {
      if (options.clone === undefined) return yield* fail("clone requested without a source")
      yield* cloneFromPrimary({ flavor: options.flavor, dataDir, ...options.clone })
      return "cloned" as const
    }
    case "initialise": {
      yield* Effect.promise(() => mkdir(dataDir, { recursive: true }))
      const { command, args } = options.flavor.initialiseCommand(options.defaultsFile)
      yield* Effect.logInfo("initialising an empty data directory", { dataDir, command })
      const result = yield* run(command, [...args, ...serverUserArgs()])
      if (result.code !== 0) {
        // leave it empty, so a restart starts over rather than on a half-initialised directory
        yield* Effect.promise(() =>
          readdir(dataDir)
            .then((entries) =>
              Promise.all(
                entries.filter((e) => e !== LostAndFound).map((e) => rm(join(dataDir, e), { recursive: true }))
              )
            )
            .catch(() => undefined)
        )
        return yield* fail(
          `${command} exited ${result.code}: ${result.stderr.trim().split("\n").slice(-3).join(" | ")}`
        )
      }
      return "initialised" as const
    }
  }
})

/** The init file's statements: accounts always, replication after a clone. */
export const initStatements = (
  flavor: Flavor,
  accounts: OperatorAccounts,
  join: { readonly record: ReplicaJoinRecord; readonly source: ReplicationSource } | undefined
): ReadonlyArray<string> | undefined => {
  if (join === undefined) return flavor.accountsSql(accounts)
  const replication = flavor.replicaJoinSql(join.record.gtid, join.source)
  return replication === undefined ? undefined : [...flavor.accountsSql(accounts), ...replication]
}

/** Writes the init file (one statement per line, as the server requires) into the private `dir`. */
export const writeInitFile = (dir: string, statements: ReadonlyArray<string>) =>
  Effect.tryPromise({
    try: async () => {
      const path = join(dir, "init.sql")
      await writeFile(path, statements.map((s) => `${s.replace(/\s*\n\s*/gu, " ")};\n`).join(""), { mode: 0o600 })
      return path
    },
    catch: (error) =>
      new DataDirBootstrapFailed({ dataDir: dir, detail: `cannot write the init file: ${String(error)}` })
  })
