/**
 * The contract of `cloudnative-mysql retention`, the garbage collector the controller runs as a Job per Cluster
 * with `spec.backup.retentionPolicy` (docs/pitr.md, "Retention"): its environment and its termination message.
 *
 * The object store reaches it exactly as it reaches the backup worker (`OBJECT_STORE_SPEC`,
 * `OBJECT_STORE_SECRETS_DIR`, see `src/objectstore/connection.ts`): the controller holds no credentials, so the
 * listing, the selection and the deletions all happen in the Job. The termination message is at most 4096 bytes
 * (the kubelet's limit), so a run deletes at most `maxBackupsPerRun` base backups, fewer when their names would
 * take more than `maxListedBackupBytes` (the list is then complete, and the controller can mark every Backup
 * whose data went), and lists at most `maxListedBinlogFiles` binlog files within `maxListedBinlogBytes` (with
 * the total).
 *
 * @since 0.2.0
 */
import { Schema } from "effect"
import { RetainedBackupRef, RetentionPolicy } from "./cluster.ts"
import { DnsLabel } from "./common.ts"
import { decodeEnv, NonEmpty, PositiveIntFromString } from "./env.ts"
import { FailureMessage } from "./jobs.ts"
import { ObjectStore } from "./objectStore.ts"
import { Timestamp } from "./time.ts"

/** Base backups one run deletes at most: the rest waits for the next run. */
export const maxBackupsPerRun = 20

/** Binlog files the termination message names at most (all selected files are deleted). */
export const maxListedBinlogFiles = 20

/**
 * Bytes of JSON the listed backups, and the listed binlog files, take at most: names can be long (a Backup's
 * up to 253 characters), and the whole message must stay under the kubelet's 4096 bytes.
 */
export const maxListedBackupBytes = 2400
export const maxListedBinlogBytes = 1200

/** The environment `retention` reads. Encoding a value gives the Job's env strings. */
export const RetentionEnv = Schema.Struct({
  /** The `<cluster>` of the keys: `<path>/<cluster>/…` with the path of `OBJECT_STORE_SPEC`. */
  RETENTION_CLUSTER_NAME: DnsLabel,
  RETENTION_POLICY: RetentionPolicy,
  /** `true`: select and report only. */
  RETENTION_DRY_RUN: Schema.Literals(["true", "false"]),
  OBJECT_STORE_SPEC: Schema.fromJsonString(ObjectStore),
  OBJECT_STORE_SECRETS_DIR: Schema.optionalKey(NonEmpty),
  OBJECT_STORE_MAX_SOCKETS: Schema.optionalKey(PositiveIntFromString),
  TERMINATION_MESSAGE_PATH: Schema.optionalKey(NonEmpty)
})
export type RetentionEnv = typeof RetentionEnv.Type
/** The retention Job's environment as a renderer writes it: every value a string. */
export type RetentionEnvVars = typeof RetentionEnv.Encoded

/** Decodes the retention environment (only the variables `RetentionEnv` names are looked at). */
export const decodeRetentionEnv = decodeEnv(RetentionEnv)

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** What a run reports (exit 0): what it deleted, or in a dry run what it would delete. */
export const RetentionResult = Schema.Struct({
  dryRun: Schema.Boolean,
  policy: RetentionPolicy,
  /** now − the window, when the run selected. */
  windowStart: Timestamp,
  /** The kept completed backup the window's start is recovered from (absent: none ends before it). */
  anchorBackupId: Schema.optionalKey(Schema.String),
  /** Base backups deleted (would be deleted), oldest first; at most `maxBackupsPerRun`. */
  backups: Schema.Array(RetainedBackupRef).check(Schema.isMaxLength(maxBackupsPerRun)),
  /** Base backups selected beyond this run's limit: the next run takes them. */
  moreBackups: Count,
  /** Binlog files deleted (would be deleted), `<series>/<file>`, at most `maxListedBinlogFiles`. */
  binlogFiles: Schema.Array(Schema.String).check(Schema.isMaxLength(maxListedBinlogFiles)),
  binlogFilesTotal: Count
})
export type RetentionResult = typeof RetentionResult.Type

/**
 * The termination message of `retention`: the result (exit 0), or the `FailureMessage` every process uses (exit
 * 1: `ObjectStoreDownloadFailed` for a listing or a metadata read, `ObjectStoreUploadFailed` for a delete,
 * `InvalidConfiguration` also for a binlog manifest that does not decode; 130: `Interrupted`).
 */
export const RetentionTerminationMessage = Schema.Union([RetentionResult, FailureMessage])
export type RetentionTerminationMessage = typeof RetentionTerminationMessage.Type
