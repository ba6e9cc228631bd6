/**
 * A throwaway MariaDB 10.11 for integration tests (docs/measurements.md, "MariaDB throwaway instances"): its own temp dir, option file,
 * unix socket and free loopback port, binlog + GTID on, run as root with `user=root`, stopped by PID.
 *
 * `startMariadb` is scoped: the server is stopped (SIGTERM = clean shutdown, SIGKILL after 20 s) and its
 * directory removed when the scope closes.
 */
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Data, Effect, type Scope } from "effect"
import { mariadb, type SqlRow } from "../instance/flavor.ts"
import { parseBatchOutput } from "../instance/sqlBatch.ts"
import { hasExited, spawnChild, waitForExit } from "../platform/childProcess.ts"
import { waitUntilReady } from "../platform/waitUntil.ts"
import { freePort } from "./ports.ts"

/** A MariaDB test helper failed (start, SQL, stop). */
export class MariadbError extends Data.TaggedError("MariadbError")<{ readonly message: string }> {}

/** The backup account the helpers create: the minimal grants for `--backup` plus status queries. */
export const backupUser = {
  user: "backup",
  password: "backup-pw-1",
  grants: "RELOAD, PROCESS, BINLOG MONITOR, SLAVE MONITOR"
}

export interface StartOptions {
  /** Default 1; a server started on a restored data dir must differ from its source. */
  readonly serverId?: number
  /** Start on an existing (e.g. restored) data dir instead of initialising a new one. */
  readonly dataDir?: string
  readonly bufferPoolSize?: string
  /** More server options after the option file (e.g. `--skip-grant-tables`, as a restore's private server). */
  readonly serverArgs?: ReadonlyArray<string>
}

/** SQL through the `mariadb` client with fixed connection arguments (a socket and an account). */
export interface SqlClient {
  /** Runs SQL and returns the rows of the last result set. */
  readonly query: (sql: string, database?: string) => Effect.Effect<Array<SqlRow>, MariadbError>
  readonly exec: (sql: string, database?: string) => Effect.Effect<void, MariadbError>
  readonly loadSampleData: (options?: SampleDataOptions) => Effect.Effect<void, MariadbError>
  /** `CHECKSUM TABLE` of every base table outside the system schemas, keyed `schema.table`. */
  readonly checksums: Effect.Effect<Record<string, string>, MariadbError>
  /** `@@gtid_binlog_pos` */
  readonly gtidPosition: Effect.Effect<string, MariadbError>
}

export interface MariadbInstance extends SqlClient {
  readonly dir: string
  readonly dataDir: string
  readonly socket: string
  readonly port: number
  readonly pid: number
  /** The server's option file (`--defaults-file`, root over the socket in `[client]`). */
  readonly defaultsFile: string
  /** Creates a user for socket (`localhost`) and TCP (`127.0.0.1`) connections. */
  readonly createUser: (user: string, password: string, grants: string) => Effect.Effect<void, MariadbError>
  /** Writes a credentials option file (`[client] user/password`) for `user` and returns its path. */
  readonly credentialsFile: (user: string, password: string) => Effect.Effect<string, MariadbError>
  readonly stop: Effect.Effect<void, MariadbError>
}

export interface SampleDataOptions {
  readonly database?: string
  readonly tables?: number
  /** Approximate InnoDB size of all tables together (default 8 MiB). About 280 bytes per row. */
  readonly bytes?: number
}

const systemSchemas = "'mysql','information_schema','performance_schema','sys'"

/** Fails with a message naming the apt package when a binary is missing. */
export const requireBinaries = (...names: ReadonlyArray<string>): Effect.Effect<void, MariadbError> =>
  Effect.forEach(names, (name) =>
    ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/sbin", "/bin"].some((dir) => existsSync(join(dir, name)))
      ? Effect.void
      : Effect.fail(
          new MariadbError({
            message: `${name} not found: install it with "apt-get install -y mariadb-server mariadb-backup"`
          })
        )
  ).pipe(Effect.asVoid)

const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly input?: string } = {}
): Effect.Effect<string, MariadbError> =>
  Effect.callback<string, MariadbError>((resume) => {
    const child = execFile(command, [...args], { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error === null) resume(Effect.succeed(stdout))
      else resume(Effect.fail(new MariadbError({ message: `${command} failed: ${stderr.trim() || error.message}` })))
    })
    if (options.input !== undefined) child.stdin?.end(options.input)
    return Effect.sync(() => {
      if (child.exitCode === null) child.kill("SIGKILL")
    })
  })

/**
 * A {@link SqlClient} running `mariadb <connection> --batch` per statement batch: `connection` names the server
 * and account (`--defaults-file=…`, or `--socket=…` and `--user=…`).
 */
export const sqlClient = (connection: ReadonlyArray<string>): SqlClient => {
  const client = (sql: string, database?: string) =>
    run(mariadb.sqlClient, [...connection, "--batch", ...(database === undefined ? [] : [database])], { input: sql })
  const query = (sql: string, database?: string) => Effect.map(client(sql, database), parseBatchOutput)
  const exec = (sql: string, database?: string) => Effect.asVoid(client(sql, database))
  return {
    query,
    exec,
    loadSampleData: (sample = {}) =>
      Effect.gen(function* () {
        const database = sample.database ?? "shop"
        const tables = sample.tables ?? 3
        const rows = Math.max(1, Math.ceil((sample.bytes ?? 8 * 1024 * 1024) / 280 / tables))
        yield* exec(`CREATE DATABASE IF NOT EXISTS ${database}`)
        for (let t = 1; t <= tables; t++) {
          yield* exec(
            `CREATE TABLE t${t} (id BIGINT PRIMARY KEY, a CHAR(64), b VARCHAR(200), r DOUBLE) ENGINE=InnoDB;
             INSERT INTO t${t} SELECT seq, MD5(seq + ${t}), CONCAT(SHA2(seq, 512), MD5(seq)), seq / 7 FROM seq_1_to_${rows};`,
            database
          )
        }
      }),
    checksums: Effect.gen(function* () {
      const tables = yield* query(
        `SELECT CONCAT(table_schema, '.', table_name) AS name FROM information_schema.tables
         WHERE table_type = 'BASE TABLE' AND table_schema NOT IN (${systemSchemas}) ORDER BY 1`
      )
      const names = tables.map((row) => row.name ?? "")
      if (names.length === 0) return {}
      const rows = yield* query(
        `CHECKSUM TABLE ${names.map((n) => n.replace(/^([^.]+)\.(.+)$/u, "`$1`.`$2`")).join(", ")}`
      )
      return Object.fromEntries(rows.map((row) => [row.Table ?? "", row.Checksum ?? "NULL"]))
    }),
    gtidPosition: Effect.map(query("SELECT @@gtid_binlog_pos AS gtid"), (rows) => rows[0]?.gtid ?? "")
  }
}

/** The `[mysqld]` settings of every throwaway server: binlog and GTIDs on (strict), a small InnoDB. */
const serverSettings = (dataDir: string, serverId: number, bufferPool: string): string =>
  `[mysqld]
datadir=${dataDir}
user=root
server_id=${serverId}
log_bin=${join(dataDir, "mysql-bin")}
binlog_format=ROW
gtid_domain_id=0
gtid_strict_mode=ON
log_slave_updates=ON
innodb_buffer_pool_size=${bufferPool}
innodb_log_file_size=256M
skip-name-resolve
`

const optionFile = (dir: string, dataDir: string, port: number, serverId: number, bufferPool: string): string =>
  `${serverSettings(dataDir, serverId, bufferPool)}socket=${join(dir, "mysqld.sock")}
port=${port}
bind-address=127.0.0.1
pid-file=${join(dir, "mysqld.pid")}
log-error=${join(dir, "error.log")}
[client]
socket=${join(dir, "mysqld.sock")}
user=root
`

/**
 * Writes `dir/restored.cnf`, the option file of a server that will run on the restored `dataDir` (what
 * `RESTORE_SERVER_DEFAULTS_FILE` names), and returns its path.
 */
export const writeRestoredServerDefaults = (
  dir: string,
  dataDir: string,
  serverId: number,
  bufferPool = "128M"
): Effect.Effect<string> =>
  Effect.promise(async () => {
    const path = join(dir, "restored.cnf")
    await mkdir(dir, { recursive: true })
    await writeFile(path, serverSettings(dataDir, serverId, bufferPool))
    return path
  })

/** An initialised (not running) MariaDB: its directory, option file, socket and port. */
export interface PreparedMariadb {
  readonly dir: string
  readonly dataDir: string
  readonly socket: string
  readonly port: number
  readonly defaultsFile: string
}

/**
 * Creates the temp dir and option file and, unless `dataDir` is given, initialises a data dir with
 * `mariadb-install-db`. The directory is removed when the scope closes. Start it with `startMariadb` or hand the
 * option file to a supervisor (`mariadbd --defaults-file=…`).
 */
export const prepareMariadb = (options: StartOptions = {}): Effect.Effect<PreparedMariadb, MariadbError, Scope.Scope> =>
  Effect.gen(function* () {
    yield* requireBinaries(mariadb.serverBinary, "mariadb-install-db", mariadb.sqlClient)
    const dir = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-mariadb-"))),
      (path) => Effect.promise(() => rm(path, { recursive: true, force: true }))
    )
    const dataDir = options.dataDir ?? join(dir, "data")
    const port = yield* freePort
    const defaultsFile = join(dir, "my.cnf")
    const socket = join(dir, "mysqld.sock")
    yield* Effect.promise(() =>
      writeFile(defaultsFile, optionFile(dir, dataDir, port, options.serverId ?? 1, options.bufferPoolSize ?? "256M"))
    )
    if (options.dataDir === undefined) {
      const errorLog = join(dir, "error.log")
      // the bootstrap server writes its reasons to the option file's log-error, not to stderr: a failure names them
      const install = Effect.gen(function* () {
        yield* Effect.promise(async () => {
          await rm(dataDir, { recursive: true, force: true })
          await rm(errorLog, { force: true })
          await mkdir(dataDir)
        })
        yield* run("mariadb-install-db", [
          `--defaults-file=${defaultsFile}`,
          "--auth-root-authentication-method=normal",
          "--skip-test-db"
        ]).pipe(
          Effect.catch((error) =>
            Effect.flatMap(
              Effect.promise(() => readFile(errorLog, "utf8").catch(() => "")),
              (log) =>
                Effect.fail(
                  new MariadbError({
                    message: `${error.message.trim()}; ${errorLog}: ${log.trim().split("\n").slice(-8).join(" | ") || "empty"}`
                  })
                )
            )
          )
        )
      })
      // a throwaway server's set-up, not the code under test: once more on a loaded machine, saying why
      yield* install.pipe(
        Effect.catch((error) =>
          Effect.logWarning("mariadb-install-db failed, trying once more", error.message).pipe(Effect.andThen(install))
        )
      )
    }
    return { dir, dataDir, socket, port, defaultsFile }
  })

/** Starts a MariaDB server for the lifetime of the current scope. */
export const startMariadb = (options: StartOptions = {}): Effect.Effect<MariadbInstance, MariadbError, Scope.Scope> =>
  Effect.gen(function* () {
    const { dir, dataDir, socket, port, defaultsFile } = yield* prepareMariadb(options)
    const server = yield* spawnChild(
      mariadb.serverBinary,
      [`--defaults-file=${defaultsFile}`, ...(options.serverArgs ?? [])],
      {
        stop: { signal: "SIGTERM", grace: "20 seconds" },
        name: mariadb.serverBinary
      }
    ).pipe(Effect.mapError((error) => new MariadbError({ message: error.message })))
    const child = server.process
    const pid = server.pid

    const sql = sqlClient([`--defaults-file=${defaultsFile}`])

    const notReady = () =>
      Effect.flatMap(
        Effect.promise(() => readFile(join(dir, "error.log"), "utf8").catch(() => "")),
        (log) => Effect.fail(new MariadbError({ message: `mariadbd did not become ready:\n${log.slice(-2000)}` }))
      )
    yield* waitUntilReady({
      probe: Effect.isSuccess(run(mariadb.adminClient, [`--defaults-file=${defaultsFile}`, "ping"])),
      exited: () => child.exitCode !== null,
      interval: "50 millis",
      timeout: "30 seconds",
      onExited: notReady,
      onTimeout: notReady
    })

    const instance: MariadbInstance = {
      dir,
      dataDir,
      socket,
      port,
      pid,
      defaultsFile,
      ...sql,
      // sql_log_bin=0: account admin must not add GTIDs of its own (it would move the position tests compare)
      createUser: (user, password, grants) =>
        sql.exec(
          ["localhost", "127.0.0.1"]
            .map(
              (host) =>
                `CREATE USER '${user}'@'${host}' IDENTIFIED BY '${password}'; GRANT ${grants} ON *.* TO '${user}'@'${host}';`
            )
            .join("\n")
            .replace(/^/u, "SET SESSION sql_log_bin=0;\n")
        ),
      credentialsFile: (user, password) =>
        Effect.gen(function* () {
          const path = join(dir, `credentials-${user}.cnf`)
          yield* Effect.promise(() =>
            writeFile(path, `[client]\nuser=${user}\npassword=${password}\n`, { mode: 0o600 })
          )
          return path
        }),
      stop: Effect.gen(function* () {
        if (hasExited(child)) return
        child.kill("SIGTERM")
        if (!(yield* waitForExit(child, "20 seconds"))) {
          return yield* new MariadbError({ message: "mariadbd did not stop" })
        }
      })
    }
    return instance
  })
