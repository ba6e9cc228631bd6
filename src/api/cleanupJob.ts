/**
 * The contract of `cloudnative-mysql abort-uploads`, the janitor the controller runs as a cleanup Job after a
 * backup worker died without cleaning up (SIGKILL, node loss): its environment and its termination message.
 *
 * The object store reaches it exactly as it reaches the backup worker (`OBJECT_STORE_SPEC`,
 * `OBJECT_STORE_SECRETS_DIR`, `OBJECT_STORE_MAX_SOCKETS`, see `src/objectstore/connection.ts`); the prefix says
 * what to clean, normally one backup's `<path>/<cluster>/<backup-name>/<backup-id>/`. Every incomplete multipart
 * upload whose key starts with the prefix is aborted, so the controller must run it only when no worker writes
 * under that prefix any more (the Backup's Job has finished or failed for good).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { decodeEnv, NonEmpty, PositiveIntFromString } from "./env.ts"
import { FailureMessage } from "./jobs.ts"
import { ObjectStore } from "./objectStore.ts"

/**
 * A key prefix that names a directory: non-empty '/'-separated segments, none empty or starting with '.', ending
 * with '/'. The empty prefix (the whole bucket) is refused: the janitor never cleans more than one directory.
 */
export const CleanupPrefix = Schema.String.check(
  Schema.isPattern(/^([A-Za-z0-9_-][A-Za-z0-9!_.*'()-]*\/)+$/u),
  Schema.isMaxLength(1024)
).annotate({ description: "Key prefix ending with '/', e.g. <path>/<cluster>/<backup-name>/<backup-id>/" })

/** The environment `abort-uploads` reads. Encoding a value gives the Job's env strings. */
export const CleanupEnv = Schema.Struct({
  CLEANUP_PREFIX: CleanupPrefix,
  /** The ObjectStore spec as JSON (Secret references, not values), as for the worker. */
  OBJECT_STORE_SPEC: Schema.fromJsonString(ObjectStore),
  /** Where the referenced secret values are mounted, one file per spec field (default as for the worker). */
  OBJECT_STORE_SECRETS_DIR: Schema.optionalKey(NonEmpty),
  OBJECT_STORE_MAX_SOCKETS: Schema.optionalKey(PositiveIntFromString),
  TERMINATION_MESSAGE_PATH: Schema.optionalKey(NonEmpty)
})
export type CleanupEnv = typeof CleanupEnv.Type
/** The janitor's environment as a renderer writes it: every value a string. */
export type CleanupEnvVars = typeof CleanupEnv.Encoded

/** Decodes the janitor's environment (only the variables `CleanupEnv` names are looked at). */
export const decodeCleanupEnv = decodeEnv(CleanupEnv)

/** What a successful cleanup reports (exit 0). */
export const CleanupResult = Schema.Struct({
  prefix: Schema.String,
  /** Multipart uploads this run aborted. */
  aborted: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  /** Uploads that were gone by the time they were aborted (a concurrent cleanup): not an error. */
  alreadyGone: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
})
export type CleanupResult = typeof CleanupResult.Type

/**
 * The termination message of `abort-uploads`: the result (exit 0), or the `FailureMessage` every process uses
 * (exit 1: `ObjectStoreDownloadFailed` for the listing, `ObjectStoreUploadFailed` for an abort,
 * `InvalidConfiguration`; 130: `Interrupted`).
 */
export const CleanupTerminationMessage = Schema.Union([CleanupResult, FailureMessage])
export type CleanupTerminationMessage = typeof CleanupTerminationMessage.Type
