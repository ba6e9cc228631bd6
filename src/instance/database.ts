/**
 * The instance manager's view of the local database server: a private credentials option file, SQL through the
 * flavour's CLI client (see sqlBatch.ts for why the CLI), the status queries, and the backup tool's version.
 *
 * @since 0.1.0
 */
import { execFile } from "node:child_process"
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Data, Effect, Redacted, type Scope } from "effect"
import { type Flavor, type ServerAddress, type ServerStatus, type SqlRow, sqlClientArgs } from "./flavor.ts"
import { parseBatchOutput } from "./sqlBatch.ts"

/** The database server could not be queried (down, wrong credentials, missing privilege). */
export class DatabaseUnavailable extends Data.TaggedError("DatabaseUnavailable")<{ readonly detail: string }> {
  override get message(): string {
    return `database server unavailable: ${this.detail}`
  }
}

/** A binary the instance manager needs could not be run. */
export class ToolUnavailable extends Data.TaggedError("ToolUnavailable")<{
  readonly tool: string
  readonly detail: string
}> {
  override get message(): string {
    return `${this.tool} cannot be run: ${this.detail}`
  }
}

/** Everything needed to reach the server as the backup account. */
export interface DatabaseAccess {
  readonly flavor: Flavor
  readonly address: ServerAddress
  /** Option file with the account's credentials (mode 0600, private directory). */
  readonly defaultsFile: string
  /** Directory private to this process, for the credentials file and the tools' scratch dirs. */
  readonly runtimeDir: string
}

/** Option-file values are double-quoted so any password survives (`\` and `"` escaped). */
const quoteOption = (value: string): string => `"${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`

/**
 * Creates a private runtime directory holding a credentials option file for the backup account, removed when
 * the scope closes. The password goes into a file, never into argv (visible in `ps`) or logs.
 */
export const makeDatabaseAccess = (options: {
  readonly flavor: Flavor
  readonly address: ServerAddress
  readonly user: string
  readonly password: Redacted.Redacted<string>
}): Effect.Effect<DatabaseAccess, DatabaseUnavailable, Scope.Scope> =>
  Effect.gen(function* () {
    // a full or read-only temp directory leaves the tools without credentials: the database is unusable
    const io = <A>(what: string, f: () => Promise<A>) =>
      Effect.tryPromise({
        try: f,
        catch: (error) => new DatabaseUnavailable({ detail: `cannot ${what}: ${String(error)}` })
      })
    const runtimeDir = yield* Effect.acquireRelease(
      io("create the runtime directory", () => mkdtemp(join(tmpdir(), "cnm-instance-"))),
      (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }).catch(() => undefined))
    )
    yield* io("restrict the runtime directory", () => chmod(runtimeDir, 0o700))
    const defaultsFile = join(runtimeDir, "credentials.cnf")
    const body = options.flavor.optionGroups
      .map(
        (group) =>
          `[${group}]\nuser=${quoteOption(options.user)}\npassword=${quoteOption(Redacted.value(options.password))}\n`
      )
      .join("")
    yield* io("write the credentials file", () => writeFile(defaultsFile, body, { mode: 0o600 }))
    return { flavor: options.flavor, address: options.address, defaultsFile, runtimeDir }
  })

const execute = (
  command: string,
  args: ReadonlyArray<string>,
  timeoutMillis: number
): Effect.Effect<{ readonly stdout: string; readonly stderr: string; readonly code: number }, ToolUnavailable> =>
  Effect.callback((resume) => {
    const child = execFile(
      command,
      [...args],
      { timeout: timeoutMillis, maxBuffer: 8 * 1024 * 1024, killSignal: "SIGKILL" },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code === "string") {
          resume(Effect.fail(new ToolUnavailable({ tool: command, detail: error.message })))
        } else {
          resume(Effect.succeed({ stdout, stderr, code: error === null ? 0 : (child.exitCode ?? 1) }))
        }
      }
    )
    return Effect.sync(() => {
      if (child.exitCode === null) child.kill("SIGKILL")
    })
  })

/** Runs one statement and returns the rows of its result set. */
export const runSql = (access: DatabaseAccess, sql: string): Effect.Effect<Array<SqlRow>, DatabaseUnavailable> =>
  execute(access.flavor.sqlClient, sqlClientArgs(access.defaultsFile, access.address, sql), 15_000).pipe(
    Effect.mapError((e) => new DatabaseUnavailable({ detail: e.message })),
    Effect.flatMap(({ stdout, stderr, code }) =>
      code === 0
        ? Effect.succeed(parseBatchOutput(stdout))
        : Effect.fail(new DatabaseUnavailable({ detail: stderr.trim() || `${access.flavor.sqlClient} exited ${code}` }))
    )
  )

/** Queries role, GTIDs, binlog position and replication state. */
export const queryStatus = Effect.fn("Database.queryStatus")(function* (access: DatabaseAccess) {
  const queries = access.flavor.statusQueries
  const [variables, binlog, replicas] = yield* Effect.all(
    [runSql(access, queries.variables), runSql(access, queries.binlog), runSql(access, queries.replicas)],
    { concurrency: 3 }
  )
  const row = variables[0]
  if (row === undefined) return yield* new DatabaseUnavailable({ detail: "status query returned no row" })
  return access.flavor.interpretStatus({ variables: row, binlog: binlog[0], replicas }) satisfies ServerStatus
})

/** True when the server answers a trivial query. */
export const ping = (access: DatabaseAccess): Effect.Effect<boolean> =>
  runSql(access, "SELECT 1 AS ok").pipe(
    Effect.map((rows) => rows[0]?.ok === "1"),
    Effect.orElseSucceed(() => false)
  )

/** Runs `<tool> --version` and parses the version (both tools print it on stderr). */
export const backupToolVersion = (flavor: Flavor): Effect.Effect<string, ToolUnavailable> =>
  execute(flavor.backupTool, flavor.versionArgs, 15_000).pipe(
    Effect.flatMap(({ stdout, stderr }) => {
      const version = flavor.parseToolVersion(`${stderr}\n${stdout}`)
      return version === undefined
        ? Effect.fail(
            new ToolUnavailable({ tool: flavor.backupTool, detail: `unrecognised version output: ${stderr.trim()}` })
          )
        : Effect.succeed(version)
    })
  )
