/**
 * `cloudnative-mysql instance`: the instance manager process. Reads its configuration (env + flags), optionally
 * starts and supervises the database server, serves the probe and mTLS listeners, and runs until SIGTERM (or
 * until the supervised server dies, which makes it exit non-zero).
 *
 * @since 0.1.0
 */
import { readFile } from "node:fs/promises"
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Logger, Redacted } from "effect"
import { InvalidConfiguration } from "../api/failures.ts"
import { type InstanceManagerEnv, loadInstanceManagerConfig } from "./config.ts"
import { flavorOf } from "./flavor.ts"
import { serveInstanceManager } from "./server.ts"
import { superviseServer } from "./supervisor.ts"

const readConfigFile = (path: string, what: string) =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (cause) =>
      new InvalidConfiguration({
        detail: `cannot read ${what} ${path}: ${cause instanceof Error ? cause.message : String(cause)}`
      })
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
  const supervised =
    config.MYSQLD_DEFAULTS_FILE === undefined
      ? undefined
      : yield* superviseServer({
          binary: config.MYSQLD_BINARY ?? (flavor.name === "mariadb" ? "mariadbd" : "mysqld"),
          defaultsFile: config.MYSQLD_DEFAULTS_FILE,
          shutdownTimeoutMillis: 120_000
        })
  yield* serveInstanceManager({
    flavor,
    address:
      config.MYSQL_SOCKET === undefined
        ? { _tag: "Tcp", host: config.MYSQL_HOST, port: config.MYSQL_PORT }
        : { _tag: "Socket", path: config.MYSQL_SOCKET },
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
