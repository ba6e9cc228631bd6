/**
 * `Backup`: one physical backup of a Cluster. Immutable once created; a completed Backup is never rerun.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { customResource, defaulted, LocalObjectReference, statusFields } from "./common.ts"
import { ObjectStore } from "./objectStore.ts"
import { celRule } from "./validation.ts"

/** The backup methods this operator implements. */
export const BackupMethod = Schema.Literals(["xtrabackup"]).annotate({
  description: "Physical backup with Percona XtraBackup (MySQL) or mariabackup (MariaDB), streamed as xbstream"
})
export type BackupMethod = typeof BackupMethod.Type

/** Which instance may serve as the source. */
export const BackupTarget = Schema.Literals(["prefer-standby", "primary"]).annotate({
  description: "prefer-standby: a healthy replica when there is one, else the primary; primary: the current primary"
})
export type BackupTarget = typeof BackupTarget.Type

/** The lifecycle of a Backup. */
export const BackupPhase = Schema.Literals(["pending", "running", "completed", "failed"])
export type BackupPhase = typeof BackupPhase.Type

/** How a backup is taken: shared by a Backup's spec and the Backups a ScheduledBackup creates. */
export const BackupOptionsFields = {
  method: defaulted(BackupMethod, "xtrabackup"),
  target: defaulted(BackupTarget, "prefer-standby"),
  online: defaulted(Schema.Boolean, true, "Take the backup while the server keeps serving (hot backup)")
}

/** What a user asks for. Defaults are applied by the API server (CRD `default`) and again when decoding. */
export const BackupSpec = Schema.Struct({
  cluster: LocalObjectReference.annotate({ description: "The Cluster to back up, in the Backup's namespace" }),
  ...BackupOptionsFields,
  objectStore: Schema.optionalKey(
    ObjectStore.annotate({ description: "Overrides the Cluster's spec.backup.objectStore for this backup" })
  ),
  activeDeadlineSeconds: Schema.optionalKey(
    Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)).annotate({
      description: "Deadline of the backup Job (its activeDeadlineSeconds); default 21600 (6 hours)"
    })
  )
}).check(
  celRule({
    rule: "self == oldSelf",
    message: "Backup spec is immutable; create a new Backup to take another backup",
    predicate: undefined
  })
)
export type BackupSpec = typeof BackupSpec.Type

/** Live progress of a running backup, as the worker last reported it. */
export const BackupProgress = Schema.Struct({
  bytesStreamed: Schema.Int.annotate({ description: "Bytes read from the instance manager so far" }),
  bytesUploaded: Schema.Int.annotate({ description: "Bytes the object store acknowledged so far" }),
  bytesPerSecond: Schema.Int.annotate({ description: "Recent streaming rate" }),
  elapsedSeconds: Schema.Int,
  estimatedTotalBytes: Schema.optionalKey(
    Schema.Int.annotate({ description: "Estimate of the archive size, when the instance manager gives one" })
  ),
  updatedAt: Schema.String.annotate({ format: "date-time" })
})
export type BackupProgress = typeof BackupProgress.Type

/** What the operator observed. Every field is optional: status is filled in as the backup progresses. */
export const BackupStatus = Schema.Struct({
  phase: Schema.optionalKey(BackupPhase),
  instanceName: Schema.optionalKey(
    Schema.String.annotate({ description: "The instance (Pod) the backup was taken from" })
  ),
  method: Schema.optionalKey(BackupMethod),
  backupId: Schema.optionalKey(
    Schema.String.annotate({ description: "UTC start time YYYYMMDDTHHMMSSZ; part of the object keys" })
  ),
  jobName: Schema.optionalKey(Schema.String),
  destinationPath: Schema.optionalKey(
    Schema.String.annotate({ description: "s3://bucket/<path>/<cluster>/<backup-name>/<backup-id>/" })
  ),
  archiveKey: Schema.optionalKey(Schema.String.annotate({ description: "Object key of backup.xbstream" })),
  metadataKey: Schema.optionalKey(Schema.String.annotate({ description: "Object key of metadata.json" })),
  sha256: Schema.optionalKey(Schema.String.annotate({ description: "SHA256 of backup.xbstream (source of truth)" })),
  size: Schema.optionalKey(Schema.Int.annotate({ description: "Size of backup.xbstream in bytes" })),
  beginGTID: Schema.optionalKey(Schema.String),
  endGTID: Schema.optionalKey(Schema.String),
  beginBinlog: Schema.optionalKey(Schema.String.annotate({ description: "file:position when the backup started" })),
  endBinlog: Schema.optionalKey(
    Schema.String.annotate({ description: "file:position of the backup's consistent point" })
  ),
  startedAt: Schema.optionalKey(Schema.String.annotate({ format: "date-time" })),
  stoppedAt: Schema.optionalKey(Schema.String.annotate({ format: "date-time" })),
  error: Schema.optionalKey(Schema.String),
  progress: Schema.optionalKey(BackupProgress),
  ...statusFields
})
export type BackupStatus = typeof BackupStatus.Type

/** The Backup custom resource. */
export const Backup = customResource("Backup", BackupSpec, BackupStatus)
export type Backup = typeof Backup.Type
