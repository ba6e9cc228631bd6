/**
 * `ObjectStoreConnection`: an `ObjectStore` spec together with the secret values it references, i.e.
 * everything `ObjectStoreClient.layer` needs. The spec itself only names Secret keys; the values are
 * resolved where they are mounted (the backup Job, the restore init container), never in the controller.
 *
 * How a process receives it (`ObjectStoreConnectionConfig`):
 *
 * | variable | meaning |
 * | --- | --- |
 * | `OBJECT_STORE_SPEC` | the `ObjectStore` spec as JSON (secret references, not values) |
 * | `OBJECT_STORE_SECRETS_DIR` | directory holding the referenced secret values, one file each (default `/var/run/secrets/cloudnative-mysql/object-store`) |
 * | `OBJECT_STORE_MAX_SOCKETS` | optional: size of the keep-alive socket pool (default 32) |
 *
 * The files in `OBJECT_STORE_SECRETS_DIR` are named after the spec field that references them, whatever
 * the Secret's key is (the controller mounts each `SecretKeySelector` with `items: [{ key, path }]`):
 * `accessKeyId`, `secretAccessKey`, `sessionToken` (from `credentials`), `caBundle` (PEM), `customerKey`
 * (from `serverSideEncryption`, the base64 256-bit SSE-C key). Only the files the spec references are read;
 * a referenced file that is missing, unreadable or empty is a configuration error whose message names the file,
 * the spec field and the Secret key it comes from and why it could not be read (for a permission error: the
 * file's mode and owner and the process's user, the usual cause being a Pod without `fsGroup`). Values are
 * trimmed (Secret volumes often end in a newline) and held as `Redacted`, so they never reach logs or error
 * messages.
 *
 * @since 0.1.0
 */
import { Config, ConfigProvider, Effect, FileSystem, Option, Path, Redacted, Schema } from "effect"
import type { PlatformError } from "effect/PlatformError"
import type { SecretKeySelector } from "../api/common.ts"
import { ObjectStore } from "../api/objectStore.ts"

/** The directory the controller mounts object-store secrets at, when `OBJECT_STORE_SECRETS_DIR` is unset. */
export const DefaultSecretsDir = "/var/run/secrets/cloudnative-mysql/object-store"

/** Static credentials, resolved. */
export interface StaticCredentials {
  readonly accessKeyId: Redacted.Redacted<string>
  readonly secretAccessKey: Redacted.Redacted<string>
  readonly sessionToken?: Redacted.Redacted<string>
}

/** An object store spec with its secret values resolved. */
export interface ObjectStoreConnection {
  readonly spec: ObjectStore
  /** Absent when `spec.credentials.inheritFromIAMRole` is set: then the SDK's default chain is used. */
  readonly credentials?: StaticCredentials
  /** PEM certificates to trust for the endpoint (in place of the system CAs). */
  readonly caBundle?: string
  /** The SSE-C key (base64 of 32 bytes) when `serverSideEncryption.algorithm` is `customer`. */
  readonly customerKey?: Redacted.Redacted<string>
  /** Keep-alive sockets per origin; should be at least the upload concurrency (default 32). */
  readonly maxSockets?: number
}

const SpecFromJson = Schema.fromJsonString(ObjectStore)

/**
 * Read the connection from `OBJECT_STORE_SPEC` (current `ConfigProvider`, normally the environment) and
 * the secret files in `OBJECT_STORE_SECRETS_DIR`.
 */
export const ObjectStoreConnectionConfig: Effect.Effect<
  ObjectStoreConnection,
  Config.ConfigError,
  FileSystem.FileSystem | Path.Path
> = Effect.gen(function* () {
  const spec = yield* Config.schema(SpecFromJson, "OBJECT_STORE_SPEC")
  const secretsDir = yield* Config.String("OBJECT_STORE_SECRETS_DIR").pipe(Config.withDefault(DefaultSecretsDir))
  const maxSockets = yield* Config.option(Config.Int("OBJECT_STORE_MAX_SOCKETS"))
  const secret = (file: string, field: string, ref: SecretKeySelector | undefined) =>
    readSecretFile(secretsDir, file, `spec.${field}`, ref)
  const optional = <A, R>(present: boolean, value: Effect.Effect<A, Config.ConfigError, R>) =>
    present ? Effect.map(value, (v) => ({ value: v })) : Effect.succeed(undefined)

  const c = spec.credentials
  const credentials =
    c.inheritFromIAMRole === true
      ? undefined
      : {
          accessKeyId: yield* secret("accessKeyId", "credentials.accessKeyId", c.accessKeyId),
          secretAccessKey: yield* secret("secretAccessKey", "credentials.secretAccessKey", c.secretAccessKey),
          ...(c.sessionToken === undefined
            ? {}
            : { sessionToken: yield* secret("sessionToken", "credentials.sessionToken", c.sessionToken) })
        }
  const caBundle = yield* optional(spec.caBundle !== undefined, secret("caBundle", "caBundle", spec.caBundle))
  const customerKey = yield* optional(
    spec.serverSideEncryption?.customerKey !== undefined,
    secret("customerKey", "serverSideEncryption.customerKey", spec.serverSideEncryption?.customerKey)
  )
  const connection: ObjectStoreConnection = {
    spec,
    ...(credentials === undefined ? {} : { credentials }),
    ...(caBundle === undefined ? {} : { caBundle: Redacted.value(caBundle.value) }),
    ...(customerKey === undefined ? {} : { customerKey: customerKey.value }),
    ...optionalMaxSockets(maxSockets)
  }
  return connection
})

const octal = (mode: number): string => `0${(mode & 0o777).toString(8)}`

const processUser = (): string =>
  typeof process.getuid === "function" && typeof process.getgid === "function"
    ? `${process.getuid()}:${process.getgid()}`
    : "unknown"

/** Why a secret file could not be read, in words a user can act on. */
const unreadableBecause = (fs: FileSystem.FileSystem, path: string, error: PlatformError) => {
  const tag = error.reason._tag
  if (tag === "NotFound") return Effect.succeed("it does not exist (the Secret key is not mounted)")
  if (tag !== "PermissionDenied") return Effect.succeed(error.message)
  return fs.stat(path).pipe(
    Effect.map((info) => {
      const owner = `${Option.getOrElse(info.uid, () => "?")}:${Option.getOrElse(info.gid, () => "?")}`
      return `permission denied: the file is mode ${octal(info.mode)} owned by ${owner} and this process runs as ${processUser()} (a Pod needs fsGroup to make Secret files readable by a non-root user)`
    }),
    Effect.orElseSucceed(() => `permission denied for the user ${processUser()}`)
  )
}

/**
 * Reads one mounted secret value (trimmed). A failure is a `ConfigError` whose message says which file, spec
 * field and Secret key, and why; never the value.
 */
const readSecretFile = (dir: string, file: string, field: string, ref: SecretKeySelector | undefined) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = (yield* Path.Path).join(dir, file)
    const source = ref === undefined ? field : `${field}, Secret "${ref.name}" key "${ref.key}"`
    const fail = (why: string) =>
      Effect.fail(
        new Config.ConfigError(
          new ConfigProvider.SourceError({
            message: `cannot read the object-store secret file ${path} (${source}): ${why}`
          })
        )
      )
    const text = yield* fs
      .readFileString(path)
      .pipe(Effect.catch((error) => Effect.flatMap(unreadableBecause(fs, path, error), fail)))
    const value = text.trim()
    if (value === "") return yield* fail("it is empty")
    return Redacted.make(value)
  })

const optionalMaxSockets = (n: Option.Option<number>): { maxSockets?: number } =>
  n._tag === "Some" ? { maxSockets: n.value } : {}
