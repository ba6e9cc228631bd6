/**
 * The failure taxonomy: one tagged error per failure surface of the product specification, plus the
 * validation failures the controllers need. Each error's `_tag` is its stable CamelCase reason: it is used
 * verbatim in status conditions, Events, logs and the backup worker's termination message, so renaming one
 * is a breaking API change.
 *
 * `failurePolicies` is the single exhaustive table from an error to what it means (phase, retryability); adding an
 * error to `Failure` without an entry is a compile error. Which condition type reports it is the reconciler's
 * choice, because the same error (e.g. `InvalidConfiguration`) occurs on the backup path and the restore path.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

const OptionalString = Schema.optionalKey(Schema.String)
const OptionalInt = Schema.optionalKey(Schema.Int)

/** The referenced Cluster does not exist in the Backup's namespace. */
export class ClusterNotFound extends Schema.TaggedError<ClusterNotFound>()("ClusterNotFound", {
  namespace: Schema.String,
  cluster: Schema.String
}) {
  override get message(): string {
    return `cluster ${this.namespace}/${this.cluster} not found`
  }
}

/** Neither the Backup nor its Cluster configures an object store. */
export class ObjectStoreNotConfigured extends Schema.TaggedError<ObjectStoreNotConfigured>()(
  "ObjectStoreNotConfigured",
  { cluster: Schema.String }
) {
  override get message(): string {
    return `no object store configured: set spec.objectStore on the Backup or spec.backup.objectStore on cluster ${this.cluster}`
  }
}

/** The Backup asks for a method this operator does not implement. */
export class UnsupportedBackupMethod extends Schema.TaggedError<UnsupportedBackupMethod>()("UnsupportedBackupMethod", {
  method: Schema.String
}) {
  override get message(): string {
    return `unsupported backup method "${this.method}": the only supported method is "xtrabackup"`
  }
}

/** No instance of the Cluster can serve as the backup source for the requested target. */
export class NoHealthyInstance extends Schema.TaggedError<NoHealthyInstance>()("NoHealthyInstance", {
  cluster: Schema.String,
  target: Schema.String,
  detail: OptionalString
}) {
  override get message(): string {
    const base = `no healthy instance of cluster ${this.cluster} for target ${this.target}`
    return this.detail === undefined ? base : `${base}: ${this.detail}`
  }
}

/** The mutual-TLS connection to an instance manager failed (handshake, certificate, or transport). */
export class InstanceManagerTLSFailed extends Schema.TaggedError<InstanceManagerTLSFailed>()(
  "InstanceManagerTLSFailed",
  { url: Schema.String, detail: Schema.String }
) {
  override get message(): string {
    return `mTLS connection to instance manager ${this.url} failed: ${this.detail}`
  }
}

/** The backup tool (xtrabackup / mariabackup) failed, or its outcome could not be confirmed. */
export class XtraBackupFailed extends Schema.TaggedError<XtraBackupFailed>()("XtraBackupFailed", {
  tool: Schema.String,
  exitCode: Schema.optionalKey(Schema.Int),
  detail: Schema.String
}) {
  override get message(): string {
    const code = this.exitCode === undefined ? "" : ` (exit code ${this.exitCode})`
    return `${this.tool} failed${code}: ${this.detail}`
  }
}

const objectStoreFields = {
  operation: Schema.String,
  bucket: Schema.String,
  key: OptionalString,
  status: OptionalInt,
  code: OptionalString,
  detail: Schema.String
}

const describeObjectStoreFailure = (
  verb: string,
  e: { operation: string; bucket: string; key?: string; status?: number; code?: string; detail: string }
): string => {
  const target = e.key === undefined ? `s3://${e.bucket}` : `s3://${e.bucket}/${e.key}`
  const http = e.status === undefined ? "" : ` HTTP ${e.status}`
  const code = e.code === undefined ? "" : ` ${e.code}`
  return `object store ${verb} failed: ${e.operation} ${target}:${http}${code} ${e.detail}`.replace(/\s+/gu, " ")
}

/** A write to the object store failed. Never carries credentials. */
export class ObjectStoreUploadFailed extends Schema.TaggedError<ObjectStoreUploadFailed>()(
  "ObjectStoreUploadFailed",
  objectStoreFields
) {
  override get message(): string {
    return describeObjectStoreFailure("upload", this)
  }
}

/** A read or listing of the object store failed. Never carries credentials. */
export class ObjectStoreDownloadFailed extends Schema.TaggedError<ObjectStoreDownloadFailed>()(
  "ObjectStoreDownloadFailed",
  objectStoreFields
) {
  override get message(): string {
    return describeObjectStoreFailure("download", this)
  }
}

/** The bytes read back differ from what metadata.json promises (SHA256 or size). */
export class ChecksumMismatch extends Schema.TaggedError<ChecksumMismatch>()("ChecksumMismatch", {
  key: Schema.String,
  expectedSha256: Schema.String,
  actualSha256: Schema.String,
  expectedSize: Schema.Number,
  actualSize: Schema.Number
}) {
  override get message(): string {
    return `checksum mismatch for ${this.key}: expected sha256 ${this.expectedSha256} (${this.expectedSize} bytes), got ${this.actualSha256} (${this.actualSize} bytes)`
  }
}

/** Extracting or preparing the downloaded backup failed. */
export class RestorePrepareFailed extends Schema.TaggedError<RestorePrepareFailed>()("RestorePrepareFailed", {
  step: Schema.String,
  exitCode: OptionalInt,
  detail: Schema.String
}) {
  override get message(): string {
    const code = this.exitCode === undefined ? "" : ` (exit code ${this.exitCode})`
    return `restore ${this.step} failed${code}: ${this.detail}`
  }
}

/** Copying the prepared backup into the data directory failed. */
export class RestoreCopyBackFailed extends Schema.TaggedError<RestoreCopyBackFailed>()("RestoreCopyBackFailed", {
  dataDir: Schema.String,
  exitCode: OptionalInt,
  detail: Schema.String
}) {
  override get message(): string {
    const code = this.exitCode === undefined ? "" : ` (exit code ${this.exitCode})`
    return `copy-back into ${this.dataDir} failed${code}: ${this.detail}`
  }
}

/** `bootstrap.recovery.source` names no `externalClusters` entry. */
export class ExternalClusterNotFound extends Schema.TaggedError<ExternalClusterNotFound>()("ExternalClusterNotFound", {
  source: Schema.String
}) {
  override get message(): string {
    return `bootstrap.recovery.source "${this.source}" does not name an entry of spec.externalClusters`
  }
}

/** The referenced `externalClusters` entry has no `objectStore`. */
export class ExternalClusterObjectStoreMissing extends Schema.TaggedError<ExternalClusterObjectStoreMissing>()(
  "ExternalClusterObjectStoreMissing",
  { source: Schema.String }
) {
  override get message(): string {
    return `external cluster "${this.source}" has no objectStore to recover from`
  }
}

/** No completed base backup (archive + metadata.json) exists under the prefix. */
export class NoBaseBackupsFound extends Schema.TaggedError<NoBaseBackupsFound>()("NoBaseBackupsFound", {
  bucket: Schema.String,
  prefix: Schema.String
}) {
  override get message(): string {
    return `no completed base backups found under s3://${this.bucket}/${this.prefix}`
  }
}

/** The requested backup id is not present (as a completed backup) under the prefix. */
export class BackupIDNotFound extends Schema.TaggedError<BackupIDNotFound>()("BackupIDNotFound", {
  bucket: Schema.String,
  prefix: Schema.String,
  backupID: Schema.String
}) {
  override get message(): string {
    return `backup id ${this.backupID} not found as a completed backup under s3://${this.bucket}/${this.prefix}`
  }
}

/**
 * A backup that completed (its metadata.json exists) cannot be restored as it is: metadata.json does not decode
 * or contradicts its location, the archive is missing or not the size it promises, or the downloaded bytes fail
 * the sha256 check. Damaged is not absent: recovery stops here instead of silently using an older backup
 * (unless the Cluster opted in with `bootstrap.recovery.onDamagedLatest: usePrevious`).
 */
export class BackupDamaged extends Schema.TaggedError<BackupDamaged>()("BackupDamaged", {
  bucket: Schema.String,
  /** The backup's own prefix, `<path>/<cluster>/<backup-name>/<backup-id>/`. */
  prefix: Schema.String,
  backupID: Schema.String,
  problem: Schema.String
}) {
  override get message(): string {
    return `backup ${this.backupID} at s3://${this.bucket}/${this.prefix} is damaged: ${this.problem}`
  }
}

/** Both `bootstrap.recovery.source` and `bootstrap.recovery.backup` are set (or neither). */
export class RecoverySourceConflict extends Schema.TaggedError<RecoverySourceConflict>()("RecoverySourceConflict", {
  detail: Schema.String
}) {
  override get message(): string {
    return `invalid bootstrap.recovery: ${this.detail}`
  }
}

/** The Backup named by `bootstrap.recovery.backup.name` does not exist. */
export class BackupNotFound extends Schema.TaggedError<BackupNotFound>()("BackupNotFound", {
  namespace: Schema.String,
  backup: Schema.String
}) {
  override get message(): string {
    return `backup ${this.namespace}/${this.backup} not found`
  }
}

/** A Backup used for recovery has not completed (no archive to restore yet, or it failed). */
export class BackupNotCompleted extends Schema.TaggedError<BackupNotCompleted>()("BackupNotCompleted", {
  backup: Schema.String,
  phase: Schema.String
}) {
  override get message(): string {
    return `backup ${this.backup} is not completed (phase ${this.phase === "" ? "unset" : this.phase})`
  }
}

/** A name or object-key component that would make an ambiguous or escaping object key. */
export class InvalidName extends Schema.TaggedError<InvalidName>()("InvalidName", {
  field: Schema.String,
  value: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `invalid ${this.field} ${JSON.stringify(this.value)}: ${this.detail}`
  }
}

/** A process's configuration (environment variables, mounted files) is missing or malformed. */
export class InvalidConfiguration extends Schema.TaggedError<InvalidConfiguration>()("InvalidConfiguration", {
  detail: Schema.String
}) {
  override get message(): string {
    return this.detail
  }
}

/** Every failure the operator reports. */
export type Failure =
  | ClusterNotFound
  | ObjectStoreNotConfigured
  | UnsupportedBackupMethod
  | NoHealthyInstance
  | InstanceManagerTLSFailed
  | XtraBackupFailed
  | ObjectStoreUploadFailed
  | ObjectStoreDownloadFailed
  | ChecksumMismatch
  | RestorePrepareFailed
  | RestoreCopyBackFailed
  | ExternalClusterNotFound
  | ExternalClusterObjectStoreMissing
  | NoBaseBackupsFound
  | BackupIDNotFound
  | BackupDamaged
  | RecoverySourceConflict
  | BackupNotFound
  | BackupNotCompleted
  | InvalidName
  | InvalidConfiguration

/**
 * Every failure class. Decodes a failure's encoded fields (`_tag` plus its own fields); a process's termination
 * message carries only `{ reason, message }` and is decoded with `src/api/jobs.ts` instead.
 */
export const Failure = Schema.Union([
  ClusterNotFound,
  ObjectStoreNotConfigured,
  UnsupportedBackupMethod,
  NoHealthyInstance,
  InstanceManagerTLSFailed,
  XtraBackupFailed,
  ObjectStoreUploadFailed,
  ObjectStoreDownloadFailed,
  ChecksumMismatch,
  RestorePrepareFailed,
  RestoreCopyBackFailed,
  ExternalClusterNotFound,
  ExternalClusterObjectStoreMissing,
  NoBaseBackupsFound,
  BackupIDNotFound,
  BackupDamaged,
  RecoverySourceConflict,
  BackupNotFound,
  BackupNotCompleted,
  InvalidName,
  InvalidConfiguration
])

/**
 * What a failure means for the object it is reported on, whichever object that is (the reconciler reporting it
 * picks the condition type: `Completed` on a Backup, `Recovered` on a Cluster).
 *
 * - `phase`: `failed` ends the object's lifecycle (a Backup is not rerun); `pending` means the controller keeps
 *   waiting and reconciles again (the cause can go away without a spec change, e.g. a replica becoming healthy).
 * - `retryable`: whether the same attempt may succeed when repeated (a Job retry, a requeue), as opposed to a
 *   failure that needs a human to change something.
 */
export interface FailurePolicy {
  readonly phase: "failed" | "pending"
  readonly retryable: boolean
}

const policy = (phase: FailurePolicy["phase"], retryable: boolean): FailurePolicy => ({ phase, retryable })

/** The one exhaustive table from a reason to its policy (a reason without an entry is a compile error). */
export const failurePolicies: { readonly [Reason in Failure["_tag"]]: FailurePolicy } = {
  ClusterNotFound: policy("pending", true),
  ObjectStoreNotConfigured: policy("failed", false),
  UnsupportedBackupMethod: policy("failed", false),
  NoHealthyInstance: policy("pending", true),
  InstanceManagerTLSFailed: policy("failed", true),
  XtraBackupFailed: policy("failed", true),
  ObjectStoreUploadFailed: policy("failed", true),
  ObjectStoreDownloadFailed: policy("failed", true),
  ChecksumMismatch: policy("failed", false),
  RestorePrepareFailed: policy("failed", false),
  RestoreCopyBackFailed: policy("failed", true),
  ExternalClusterNotFound: policy("failed", false),
  ExternalClusterObjectStoreMissing: policy("failed", false),
  NoBaseBackupsFound: policy("failed", true),
  BackupIDNotFound: policy("failed", false),
  BackupDamaged: policy("failed", false),
  RecoverySourceConflict: policy("failed", false),
  BackupNotFound: policy("pending", true),
  BackupNotCompleted: policy("pending", true),
  InvalidName: policy("failed", false),
  InvalidConfiguration: policy("failed", false)
}

/** The stable reasons, one per failure. */
export type FailureReason = Failure["_tag"]

/** Every reason, as a Schema (what a termination message's `reason` may hold besides the process-level ones). */
export const FailureReason = Schema.Literals(
  Object.keys(failurePolicies) as unknown as readonly [FailureReason, ...Array<FailureReason>]
)

/** What the operator reports for a failure: its reason, message and policy. */
export interface FailureStatus extends FailurePolicy {
  readonly reason: FailureReason
  readonly message: string
}

/** The failure's reason, message, phase and retryability. */
export const failureStatus = (error: Failure): FailureStatus => ({
  reason: error._tag,
  message: error.message,
  ...failurePolicies[error._tag]
})

/** Whether an unknown value is one of the taxonomy's failures. */
export const isFailure = Schema.is(Failure)
