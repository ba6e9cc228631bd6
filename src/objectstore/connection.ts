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
 * a referenced file that is missing or empty is a configuration error. Values are trimmed (Secret
 * volumes often end in a newline) and held as `Redacted`, so they never reach logs or error messages.
 *
 * @since 0.1.0
 */
import { Config, ConfigProvider, Effect, type FileSystem, type Option, type Path, Redacted, Schema } from "effect"
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
  const files = yield* ConfigProvider.fromDir({ rootPath: secretsDir })
  const secret = (name: string) => Config.Redacted(name).parse(files)
  const optional = <A>(present: boolean, value: Effect.Effect<A, Config.ConfigError>) =>
    present ? Effect.map(value, (v) => ({ value: v })) : Effect.succeed(undefined)

  const c = spec.credentials
  const credentials =
    c.inheritFromIAMRole === true
      ? undefined
      : {
          accessKeyId: yield* secret("accessKeyId"),
          secretAccessKey: yield* secret("secretAccessKey"),
          ...(c.sessionToken === undefined ? {} : { sessionToken: yield* secret("sessionToken") })
        }
  const caBundle = yield* optional(spec.caBundle !== undefined, secret("caBundle"))
  const customerKey = yield* optional(spec.serverSideEncryption?.customerKey !== undefined, secret("customerKey"))
  const connection: ObjectStoreConnection = {
    spec,
    ...(credentials === undefined ? {} : { credentials }),
    ...(caBundle === undefined ? {} : { caBundle: Redacted.value(caBundle.value) }),
    ...(customerKey === undefined ? {} : { customerKey: customerKey.value }),
    ...optionalMaxSockets(maxSockets)
  }
  return connection
})

const optionalMaxSockets = (n: Option.Option<number>): { maxSockets?: number } =>
  n._tag === "Some" ? { maxSockets: n.value } : {}
