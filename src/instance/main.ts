/**
 * `cloudnative-mysql instance`: the instance manager process. Reads its configuration (env + flags), optionally
 * starts and supervises the database server, serves the probe and mTLS listeners, and runs until SIGTERM (or
 * until the supervised server dies, which makes it exit non-zero).
 *
 * @since 0.1.0
 */
import { existsSync } from "node:fs"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Logger, Redacted, Schedule } from "effect"
import { InvalidConfiguration } from "../api/failures.ts"
import { initStatements, prepareDataDir, writeInitFile } from "./bootstrap.ts"
import { type InstanceManagerEnv, loadInstanceManagerConfig } from "./config.ts"
import { makeDatabaseAccess, ping } from "./database.ts"
import { type Flavor, flavorOf } from "./flavor.ts"
import { clearJoinRecord, readJoinRecord } from "./replicaJoin.ts"
import { serveInstanceManager } from "./server.ts"
import { serverUserArgs, superviseServer } from "./supervisor.ts"

const readConfigFile = (path: string, what: string) =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (cause) =>
      new InvalidConfiguration({
        detail: `cannot read ${what} ${path}: ${cause instanceof Error ? cause.message : String(cause)}`
      })
  })

const addressOf = (config: InstanceManagerEnv) =>
  config.MYSQL_SOCKET === undefined
    ? ({ _tag: "Tcp", host: config.MYSQL_HOST, port: config.MYSQL_PORT } as const)
    : ({ _tag: "Socket", path: config.MYSQL_SOCKET } as const)

const secretText = (path: string | undefined, what: string) =>
  path === undefined
    ? Effect.fail(new InvalidConfiguration({ detail: `${what} is required when ROOT_PASSWORD_FILE is set` }))
    : // a trailing newline is an artefact of how Secrets are written, not part of the password
      Effect.map(readConfigFile(path, what), (text) => text.replace(/\r?\n$/u, ""))

/**
 * Prepares the data directory and the init file (bootstrap.ts), then starts the server. Returns the supervised
 * server and what to do once it answers (forget the join record and the init file, which holds passwords).
 */
const startServer = Effect.fn("InstanceManager.startServer")(function* (
  config: InstanceManagerEnv,
  flavor: Flavor,
  defaultsFile: string,
  pem: { readonly ca: string; readonly backupPassword: string }
) {
  const dataDir = config.MYSQL_DATA_DIR
  if (dataDir !== undefined && config.DATA_DIR_BOOTSTRAP !== undefined) {
    const clone =
      config.DATA_DIR_BOOTSTRAP === "clone" &&
      config.CLONE_SOURCE_URL !== undefined &&
      config.TLS_CLIENT_CERT_FILE !== undefined &&
      config.TLS_CLIENT_KEY_FILE !== undefined
        ? {
            sourceUrl: config.CLONE_SOURCE_URL,
            tls: {
              ca: pem.ca,
              cert: yield* readConfigFile(config.TLS_CLIENT_CERT_FILE, "client certificate"),
              key: yield* readConfigFile(config.TLS_CLIENT_KEY_FILE, "client key")
            }
          }
        : undefined
    const done = yield* prepareDataDir({
      flavor,
      dataDir,
      defaultsFile,
      bootstrap: config.DATA_DIR_BOOTSTRAP,
      ...(clone === undefined ? {} : { clone })
    })
    yield* Effect.logInfo("data directory ready", { dataDir, bootstrap: done })
  }
  const privateDir = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-server-"))),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  )
  let joining = false
  const initArgs: Array<string> = []
  if (config.ROOT_PASSWORD_FILE !== undefined) {
    const record = dataDir === undefined ? undefined : yield* readJoinRecord(dataDir)
    const replicationPassword = yield* secretText(config.REPLICATION_PASSWORD_FILE, "REPLICATION_PASSWORD_FILE")
    // optional: a Cluster whose generated credentials predate the archiver has no such key (the file is absent)
    const archiverPassword =
      config.ARCHIVER_PASSWORD_FILE === undefined || !existsSync(config.ARCHIVER_PASSWORD_FILE)
        ? undefined
        : yield* secretText(config.ARCHIVER_PASSWORD_FILE, "ARCHIVER_PASSWORD_FILE")
    const join =
      record === undefined || config.REPLICATION_SOURCE_HOST === undefined
        ? undefined
        : {
            record,
            source: {
              host: config.REPLICATION_SOURCE_HOST,
              port: config.REPLICATION_SOURCE_PORT,
              user: config.REPLICATION_USER,
              password: replicationPassword,
              caFile: config.TLS_CA_FILE
            }
          }
    const statements = initStatements(
      flavor,
      {
        rootPassword: yield* secretText(config.ROOT_PASSWORD_FILE, "ROOT_PASSWORD_FILE"),
        backupUser: config.BACKUP_USER,
        backupPassword: pem.backupPassword,
        replicationUser: config.REPLICATION_USER,
        replicationPassword,
        ...(archiverPassword === undefined
          ? {}
          : { archiver: { user: config.ARCHIVER_USER, password: archiverPassword } })
      },
      join
    )
    if (statements === undefined) {
      return yield* new InvalidConfiguration({ detail: `the clone's GTID state "${record?.gtid}" is malformed` })
    }
    initArgs.push(`--init-file=${yield* writeInitFile(privateDir, statements)}`)
    joining = join !== undefined
  }
  const supervised = yield* superviseServer({
    binary: config.MYSQLD_BINARY ?? flavor.serverBinary,
    defaultsFile,
    args: [
      ...serverUserArgs(),
      ...(config.MYSQLD_BIND_ADDRESS === undefined ? [] : [`--bind-address=${config.MYSQLD_BIND_ADDRESS}`]),
      ...initArgs
    ],
    shutdownTimeoutMillis: 120_000
  })
  const started = Effect.gen(function* () {
    yield* Effect.promise(() => rm(privateDir, { recursive: true, force: true }))
    if (joining && dataDir !== undefined) {
      yield* clearJoinRecord(dataDir)
      yield* Effect.logInfo("replication configured from the clone's GTID state")
    }
  })
  return { supervised, started }
})

/** Runs the instance manager with an already decoded configuration until interrupted. */
export const runInstanceManager = Effect.fn("InstanceManager.run")(function* (config: InstanceManagerEnv) {
  const flavor = flavorOf(config.FLAVOR)
  const [ca, cert, key, password] = yield* Effect.all([
    readConfigFile(config.TLS_CA_FILE, "CA certificate"),
    readConfigFile(config.TLS_CERT_FILE, "server certificate"),
    readConfigFile(config.TLS_KEY_FILE, "server key"),
    readConfigFile(config.BACKUP_PASSWORD_FILE, "backup password file")
  ])
  const server =
    config.MYSQLD_DEFAULTS_FILE === undefined
      ? undefined
      : yield* startServer(config, flavor, config.MYSQLD_DEFAULTS_FILE, {
          ca,
          backupPassword: password.replace(/\r?\n$/u, "")
        })
  const supervised = server?.supervised
  yield* serveInstanceManager({
    flavor,
    address: addressOf(config),
    user: config.BACKUP_USER,
    // a trailing newline is an artefact of how Secrets are written, not part of the password
    password: Redacted.make(password.replace(/\r?\n$/u, "")),
    tls: { ca, cert, key },
    listenAddress: config.LISTEN_ADDRESS,
    apiPort: config.API_PORT,
    probePort: config.PROBE_PORT,
    killGraceMillis: config.BACKUP_KILL_GRACE_SECONDS * 1000,
    ...(config.BACKUP_PARALLEL === undefined ? {} : { parallel: config.BACKUP_PARALLEL }),
    ...(supervised === undefined ? {} : { serverAlive: supervised.alive })
  })
  if (server !== undefined) {
    const access = yield* makeDatabaseAccess({
      flavor,
      address: addressOf(config),
      user: config.BACKUP_USER,
      password: Redacted.make(password.replace(/\r?\n$/u, ""))
    })
    // the init file ran once the server answers as the backup account
    yield* ping(access).pipe(
      Effect.flatMap((up) => (up ? Effect.void : Effect.fail("down" as const))),
      Effect.retry(Schedule.spaced("200 millis")),
      Effect.andThen(server.started),
      Effect.forkScoped
    )
  }
  return yield* supervised === undefined ? Effect.never : supervised.exited
}, Effect.scoped)

/** The `instance` subcommand as an Effect: configuration from `env` and `argv` flags (`--api-port=8443`). */
export const instanceProgram = (
  argv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>> = process.env
) => Effect.flatMap(loadInstanceManagerConfig(env, argv), runInstanceManager)

/** Entry point for the CLI: JSON logs on stdout, exit non-zero on failure, clean shutdown on SIGTERM/SIGINT. */
export const instanceMain = (argv: ReadonlyArray<string>): void =>
  NodeRuntime.runMain(
    instanceProgram(argv).pipe(
      // report a failure through the JSON logger too, so log collectors see one format
      Effect.tapCause((cause) =>
        Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.logError("instance manager failed", Cause.pretty(cause))
      ),
      Effect.provide(Logger.layer([Logger.consoleJson]))
    ),
    { disableErrorReporting: true }
  )
