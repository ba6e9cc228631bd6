/**
 * The contracts of the product's two run-to-completion processes, as Schemas: what the controller puts in the
 * environment of the backup worker (`cloudnative-mysql backup`, a Job) and of the restore init container
 * (`cloudnative-mysql restore`), and what each writes as its termination message (`src/cli/run.ts`). The
 * controller renders and decodes these without importing `src/pipeline` or `src/recovery`, and those processes
 * decode with the same Schemas, so a renderer cannot produce a variable the process does not read.
 *
 * A renderer builds the Schema's `Encoded` side (every value a string, e.g. `WorkerEnvVars`) and turns it into a
 * container's `env` list with `envVarList` (`src/api/env.ts`). The variables' meanings are in docs/worker.md and
 * docs/restore.md.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { BackupId } from "./backupId.ts"
import {
  OnDamagedLatest,
  PointInTimeRecovery,
  RecoveryPlanStatus,
  RecoveryTargetTime,
  SkippedBackup
} from "./cluster.ts"
import { FlavorName } from "./common.ts"
import { decodeEnv, NonEmpty, NonNegativeIntFromString, PositiveIntFromString } from "./env.ts"
import { FailureReason } from "./failures.ts"
import { Timestamp } from "./time.ts"

/** A SHA-256 digest in lowercase hex. */
export const Sha256 = Schema.String.check(Schema.isPattern(/^[0-9a-f]{64}$/u))

/** A binlog coordinate (`file`, `position`), as in `metadata.json` and both results. */
export const BinlogPosition = Schema.Struct({
  file: Schema.String.check(Schema.isMinLength(1)),
  position: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
})
export type BinlogPosition = typeof BinlogPosition.Type

const ByteCount = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** The backup worker's environment (docs/worker.md). */
export const WorkerEnv = Schema.Struct({
  BACKUP_NAMESPACE: NonEmpty,
  BACKUP_CLUSTER_NAME: NonEmpty,
  BACKUP_CLUSTER_UID: Schema.optionalKey(NonEmpty),
  BACKUP_NAME: NonEmpty,
  BACKUP_UID: Schema.optionalKey(NonEmpty),
  BACKUP_ID: BackupId,
  BACKUP_INSTANCE_URL: Schema.String.check(Schema.isPattern(/^https:\/\/[^\s/]+\/?$/u)),
  BACKUP_INSTANCE_NAME: NonEmpty,
  BACKUP_TLS_CA_FILE: NonEmpty,
  BACKUP_TLS_CERT_FILE: NonEmpty,
  BACKUP_TLS_KEY_FILE: NonEmpty,
  BACKUP_TLS_SERVER_NAME: Schema.optionalKey(NonEmpty),
  BACKUP_UPLOAD_CONCURRENCY: Schema.optionalKey(PositiveIntFromString),
  BACKUP_PROGRESS_INTERVAL_MS: Schema.optionalKey(PositiveIntFromString),
  /**
   * `true`: also write each progress report to the Backup's `status.progress`, with the Pod's service-account
   * token (the per-Backup ServiceAccount that may patch only that Backup's status).
   */
  BACKUP_PROGRESS_STATUS: Schema.optionalKey(Schema.Literals(["true", "false"])),
  TERMINATION_MESSAGE_PATH: Schema.optionalKey(NonEmpty)
})
export type WorkerEnv = typeof WorkerEnv.Type
/** The worker's environment as a renderer writes it: every value a string. */
export type WorkerEnvVars = typeof WorkerEnv.Encoded

/** Decodes the worker environment (only the variables `WorkerEnv` names are looked at). */
export const decodeWorkerEnv = decodeEnv(WorkerEnv)

/** The restore init container's environment (docs/restore.md). */
export const RestoreEnv = Schema.Struct({
  RESTORE_DATA_DIR: NonEmpty,
  RESTORE_SERVER_DEFAULTS_FILE: NonEmpty,
  RESTORE_FLAVOR: Schema.optionalKey(FlavorName),
  RESTORE_ARCHIVE_KEY: Schema.optionalKey(NonEmpty),
  RESTORE_METADATA_KEY: Schema.optionalKey(NonEmpty),
  RESTORE_EXPECTED_SHA256: Schema.optionalKey(Sha256),
  RESTORE_EXPECTED_SIZE: Schema.optionalKey(NonNegativeIntFromString),
  RESTORE_SOURCE_CLUSTER: Schema.optionalKey(NonEmpty),
  RESTORE_BACKUP_ID: Schema.optionalKey(NonEmpty),
  /** `bootstrap.recovery.onDamagedLatest` (default `fail`). */
  RESTORE_ON_DAMAGED_LATEST: Schema.optionalKey(OnDamagedLatest),
  /**
   * `bootstrap.recovery.recoveryTarget.targetGTID`: replay archived binlogs after the base restore up to and
   * including this GTID state (docs/pitr.md). At most one of the two targets.
   */
  RESTORE_RECOVERY_TARGET_GTID: Schema.optionalKey(NonEmpty),
  /** `bootstrap.recovery.recoveryTarget.targetTime` (RFC 3339): replay every transaction committed before it. */
  RESTORE_RECOVERY_TARGET_TIME: Schema.optionalKey(RecoveryTargetTime),
  RESTORE_SCRATCH_DIR: Schema.optionalKey(NonEmpty),
  RESTORE_DOWNLOAD_CONCURRENCY: Schema.optionalKey(PositiveIntFromString),
  TERMINATION_MESSAGE_PATH: Schema.optionalKey(NonEmpty)
})
export type RestoreEnv = typeof RestoreEnv.Type
/** The restore environment as a renderer writes it: every value a string. */
export type RestoreEnvVars = typeof RestoreEnv.Encoded

/** Decodes the restore environment (only the variables `RestoreEnv` names are looked at). */
export const decodeRestoreEnv = decodeEnv(RestoreEnv)

/** The worker's termination message on success: what the controller copies into `Backup.status`. */
export const WorkerResult = Schema.Struct({
  backupId: BackupId,
  archiveKey: NonEmpty,
  metadataKey: NonEmpty,
  sha256: Sha256,
  size: ByteCount,
  tool: Schema.String,
  toolVersion: Schema.String,
  beginGTID: Schema.optionalKey(Schema.String),
  endGTID: Schema.optionalKey(Schema.String),
  beginBinlog: Schema.optionalKey(BinlogPosition),
  endBinlog: Schema.optionalKey(BinlogPosition),
  startedAt: Timestamp,
  stoppedAt: Timestamp
})
export type WorkerResult = typeof WorkerResult.Type

/** The restore's termination message on success: what was restored and where the server continues from. */
export const RestoreResult = Schema.Struct({
  backupId: BackupId,
  archiveKey: NonEmpty,
  size: ByteCount,
  sha256: Sha256,
  /** The GTID state the restored server continues from ('' when the backup logged none). */
  gtid: Schema.String,
  binlog: Schema.optionalKey(BinlogPosition),
  /**
   * The newer damaged backups skipped to get here (`RESTORE_ON_DAMAGED_LATEST=usePrevious`), newest first; absent
   * when none was. The Cluster reconciler copies it to `status.recovery.skippedBackups` and emits a Warning Event.
   */
  skippedBackups: Schema.optionalKey(Schema.Array(SkippedBackup)),
  /** With a recovery target: the replay after the base restore (`gtid` is then where the replay stopped). */
  pointInTime: Schema.optionalKey(PointInTimeRecovery),
  startedAt: Timestamp,
  stoppedAt: Timestamp
})
export type RestoreResult = typeof RestoreResult.Type

/**
 * Why a process failed: a taxonomy reason (`src/api/failures.ts`), or one of the process-level reasons
 * `Interrupted` (a signal stopped it, exit code 130) and `InternalError` (a defect: a bug, not a failure surface).
 */
export const TerminationReason = Schema.Union([FailureReason, Schema.Literals(["Interrupted", "InternalError"])])
export type TerminationReason = typeof TerminationReason.Type

/** The termination message of a failed process (exit code 1, or 130 when interrupted). */
export const FailureMessage = Schema.Struct({ reason: TerminationReason, message: Schema.String })
export type FailureMessage = typeof FailureMessage.Type

/** Everything the backup worker writes as its termination message. */
export const WorkerTerminationMessage = Schema.Union([WorkerResult, FailureMessage])
export type WorkerTerminationMessage = typeof WorkerTerminationMessage.Type

/** Everything the restore writes as its termination message. */
export const RestoreTerminationMessage = Schema.Union([RestoreResult, FailureMessage])
export type RestoreTerminationMessage = typeof RestoreTerminationMessage.Type

/**
 * Everything the recovery plan Job (`cloudnative-mysql recovery-plan`, same environment as the restore) writes:
 * the plan, reachable or not (an unreachable target is the plan's answer, exit 0), or why it could not plan.
 */
export const RecoveryPlanTerminationMessage = Schema.Union([RecoveryPlanStatus, FailureMessage])
export type RecoveryPlanTerminationMessage = typeof RecoveryPlanTerminationMessage.Type

/** Decodes the text of a worker's termination message file (JSON). */
export const decodeWorkerTerminationMessage = Schema.decodeUnknownEffect(
  Schema.fromJsonString(WorkerTerminationMessage)
)

/** Decodes the text of a restore's termination message file (JSON). */
export const decodeRestoreTerminationMessage = Schema.decodeUnknownEffect(
  Schema.fromJsonString(RestoreTerminationMessage)
)

/** Decodes the text of a recovery plan Job's termination message file (JSON). */
export const decodeRecoveryPlanTerminationMessage = Schema.decodeUnknownEffect(
  Schema.fromJsonString(RecoveryPlanTerminationMessage)
)

/** Whether a decoded termination message is a failure (as opposed to the process's result). */
export const isFailureMessage = Schema.is(FailureMessage)
