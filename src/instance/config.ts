/**
 * Configuration of `cloudnative-mysql instance`, read from environment variables, each of which can also be
 * given as a flag (`--api-port=8443` sets `API_PORT`). Decoded with a Schema so a bad value fails at start with
 * the variable's name.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import { FlavorName } from "../api/common.ts"
import { PositiveIntFromString } from "../api/env.ts"

const Port = Schema.NumberFromString.pipe(
  Schema.check(Schema.isInt(), Schema.isBetween({ minimum: 0, maximum: 65535 }))
)
const Path = Schema.NonEmptyString

const withDefault = <S extends Schema.Constraint & { readonly Encoded: string }>(schema: S, value: S["Encoded"]) =>
  Schema.withDecodingDefaultKey<S>(Effect.succeed(value))(schema)

/** The environment variables the instance manager reads, with their defaults. */
export const InstanceManagerEnv = Schema.Struct({
  FLAVOR: withDefault(FlavorName, "mariadb"),
  /** Address both listeners bind to. */
  LISTEN_ADDRESS: withDefault(Schema.NonEmptyString, "0.0.0.0"),
  /** Plain-HTTP probe listener (`/healthz`, `/readyz`); 0 picks a free port. */
  PROBE_PORT: withDefault(Port, "8000"),
  /** mTLS API listener (`/cluster/status`, `/cluster/backup`); 0 picks a free port. */
  API_PORT: withDefault(Port, "8443"),
  /** Unix socket of the database server; used instead of MYSQL_HOST/MYSQL_PORT when set. */
  MYSQL_SOCKET: Schema.optionalKey(Path),
  MYSQL_HOST: withDefault(Schema.NonEmptyString, "127.0.0.1"),
  MYSQL_PORT: withDefault(Port, "3306"),
  /** When set, the instance manager starts the server with this option file and supervises it. */
  MYSQLD_DEFAULTS_FILE: Schema.optionalKey(Path),
  /** Server binary for supervision (`mariadbd` / `mysqld`); defaults by flavour. */
  MYSQLD_BINARY: Schema.optionalKey(Schema.NonEmptyString),
  /** Account used for backups and status queries. */
  BACKUP_USER: withDefault(Schema.NonEmptyString, "backup"),
  /** File holding that account's password (a mounted Secret key); never logged. */
  BACKUP_PASSWORD_FILE: Path,
  TLS_CA_FILE: Path,
  TLS_CERT_FILE: Path,
  TLS_KEY_FILE: Path,
  /** How long a cancelled backup tool gets after SIGINT before SIGKILL. */
  BACKUP_KILL_GRACE_SECONDS: withDefault(PositiveIntFromString, "10"),
  BACKUP_PARALLEL: Schema.optionalKey(PositiveIntFromString),
  /** With MYSQLD_DEFAULTS_FILE: the address the server listens on (the Pod IP). */
  MYSQLD_BIND_ADDRESS: Schema.optionalKey(Schema.NonEmptyString),
  /** With MYSQLD_DEFAULTS_FILE: the data directory, and how to fill it when empty (bootstrap.ts). */
  MYSQL_DATA_DIR: Schema.optionalKey(Path),
  DATA_DIR_BOOTSTRAP: Schema.optionalKey(Schema.Literals(["initialise", "clone", "restored"])),
  /** When set, the operator's accounts are created or re-keyed at every server start (bootstrap.ts). */
  ROOT_PASSWORD_FILE: Schema.optionalKey(Path),
  REPLICATION_USER: withDefault(Schema.NonEmptyString, "replication"),
  REPLICATION_PASSWORD_FILE: Schema.optionalKey(Path),
  /** The binlog archiver's account (docs/pitr.md), created when its password file exists. */
  ARCHIVER_USER: withDefault(Schema.NonEmptyString, "archiver"),
  ARCHIVER_PASSWORD_FILE: Schema.optionalKey(Path),
  /** A replica: the primary's instance manager (`https://<cluster>-rw.<ns>.svc:8443`) it clones from. */
  CLONE_SOURCE_URL: Schema.optionalKey(Schema.NonEmptyString),
  /** A replica: the primary's server (the `-rw` Service) it replicates from. */
  REPLICATION_SOURCE_HOST: Schema.optionalKey(Schema.NonEmptyString),
  REPLICATION_SOURCE_PORT: withDefault(Port, "3306"),
  /** The client certificate a replica presents to the primary's instance manager. */
  TLS_CLIENT_CERT_FILE: Schema.optionalKey(Path),
  TLS_CLIENT_KEY_FILE: Schema.optionalKey(Path)
})
export type InstanceManagerEnv = typeof InstanceManagerEnv.Type

const flagPattern = /^--([a-z0-9-]+)=(.*)$/su

/** Turns `--api-port=8443` flags into `{ API_PORT: "8443" }`; arguments that are not flags are skipped. */
export const flagsToEnv = (argv: ReadonlyArray<string>): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const arg of argv) {
    const match = flagPattern.exec(arg)
    if (match !== null) env[(match[1] ?? "").replaceAll("-", "_").toUpperCase()] = match[2] ?? ""
  }
  return env
}

const knownNames = new Set(Object.keys(InstanceManagerEnv.fields))

/** Decodes the configuration from the environment overlaid with flags; unknown flags are an error. */
export const loadInstanceManagerConfig = (
  env: Readonly<Record<string, string | undefined>>,
  argv: ReadonlyArray<string>
): Effect.Effect<InstanceManagerEnv, Schema.SchemaError | InvalidFlags> =>
  Effect.gen(function* () {
    const flags = flagsToEnv(argv)
    const unknown = argv.filter((arg) => {
      const name = flagPattern.exec(arg)?.[1]
      return name === undefined || !knownNames.has(name.replaceAll("-", "_").toUpperCase())
    })
    if (unknown.length > 0) return yield* new InvalidFlags({ flags: unknown })
    const merged: Record<string, string> = {}
    for (const name of knownNames) {
      const value = flags[name] ?? env[name]
      if (value !== undefined && value !== "") merged[name] = value
    }
    return yield* Schema.decodeUnknownEffect(InstanceManagerEnv)(merged)
  })

/** Flags the instance manager does not know. */
export class InvalidFlags extends Schema.TaggedError<InvalidFlags>()("InvalidFlags", {
  flags: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `unknown arguments: ${this.flags.join(" ")} (flags are --name=value for the environment variables ${[...knownNames].join(", ")})`
  }
}
