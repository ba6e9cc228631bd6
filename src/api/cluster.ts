/**
 * `Cluster`: a MySQL-family database cluster, optionally bootstrapped by recovering a backup.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { customResource, DnsLabel, defaulted, LocalObjectReference, SecretKeySelector, statusFields } from "./common.ts"
import { ObjectStore } from "./objectStore.ts"
import { celRule, listMapKeyed } from "./validation.ts"

/** A Kubernetes resource quantity such as `10Gi` or `500M`. */
export const Quantity = Schema.String.check(
  Schema.isPattern(/^([0-9]+(\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$/u)
).annotate({ description: "A resource quantity, e.g. 10Gi" })

/** A point-in-time recovery's time target: RFC 3339 with any offset (the replay converts it to UTC). */
export const RecoveryTargetTime = Schema.String.check(
  Schema.isPattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/u)
).annotate({
  description:
    "Replay binlogs up to this time (RFC 3339), exclusive: transactions committed at or after it are left out",
  format: "date-time"
})

/** Where point-in-time recovery stops. Exactly one target. */
export const RecoveryTarget = Schema.Struct({
  targetGTID: Schema.optionalKey(
    Schema.String.check(Schema.isMinLength(1)).annotate({
      description: "Replay binlogs up to and including this GTID (MySQL uuid:1-99 set or MariaDB 0-1-99)"
    })
  ),
  targetTime: Schema.optionalKey(RecoveryTargetTime)
}).check(
  celRule({
    rule: "has(self.targetGTID) != has(self.targetTime)",
    message: "set exactly one of targetGTID and targetTime",
    predicate: (t: { readonly targetGTID?: string; readonly targetTime?: string }) =>
      (t.targetGTID === undefined) !== (t.targetTime === undefined)
  })
)
export type RecoveryTarget = typeof RecoveryTarget.Type

/**
 * What recovery of the latest backup under a `source` does when that backup is damaged (its metadata.json exists
 * but it or the archive is unusable, see `BackupDamaged`): `fail` (the default) stops with `BackupDamaged`;
 * `usePrevious` restores the newest older backup that is intact and reports what it skipped (status, a Warning
 * Event, the restore's result). A pinned `backupID` is never replaced.
 */
export const OnDamagedLatest = Schema.Literals(["fail", "usePrevious"]).annotate({
  description:
    "With source and no backupID: what to do when the latest completed backup is damaged. fail (default): stop with BackupDamaged; usePrevious: restore the newest intact older backup and report the skipped ones"
})
export type OnDamagedLatest = typeof OnDamagedLatest.Type

/** A damaged backup that recovery skipped because `onDamagedLatest` is `usePrevious`. */
export const SkippedBackup = Schema.Struct({
  backupName: Schema.String,
  backupId: Schema.String,
  /** `<path>/<cluster>/<backup-name>/<backup-id>/` */
  prefix: Schema.String,
  /** Why it was skipped: a failure reason (`BackupDamaged`). */
  reason: Schema.String,
  /** The failure's message: which backup and what is wrong with it. */
  message: Schema.String
})
export type SkippedBackup = typeof SkippedBackup.Type

/** Recovery of a new Cluster from a backup: a Backup object, or raw objects under an external cluster's prefix. */
export const RecoverySpec = Schema.Struct({
  backup: Schema.optionalKey(LocalObjectReference.annotate({ description: "A completed Backup in this namespace" })),
  source: Schema.optionalKey(
    DnsLabel.annotate({ description: "Name of an externalClusters entry; its name is the S3 key prefix" })
  ),
  backupID: Schema.optionalKey(
    Schema.String.check(Schema.isPattern(/^$|^\d{8}T\d{6}Z$/u)).annotate({
      description: "With source: the backup id to restore (YYYYMMDDTHHMMSSZ); empty or absent = latest completed"
    })
  ),
  onDamagedLatest: Schema.optionalKey(OnDamagedLatest),
  recoveryTarget: Schema.optionalKey(RecoveryTarget)
}).check(
  celRule({
    rule: "has(self.backup) != has(self.source)",
    message: "set exactly one of backup and source",
    predicate: (r: { readonly backup?: unknown; readonly source?: string }) =>
      (r.backup === undefined) !== (r.source === undefined)
  }),
  celRule({
    rule: "!has(self.backupID) || self.backupID == '' || has(self.source)",
    message: "backupID is only valid together with source",
    predicate: (r: { readonly backupID?: string; readonly source?: string }) =>
      r.backupID === undefined || r.backupID === "" || r.source !== undefined
  }),
  celRule({
    rule: "!has(self.onDamagedLatest) || has(self.source)",
    message: "onDamagedLatest is only valid together with source",
    predicate: (r: { readonly onDamagedLatest?: string; readonly source?: string }) =>
      r.onDamagedLatest === undefined || r.source !== undefined
  })
)
export type RecoverySpec = typeof RecoverySpec.Type

/** A cluster known only by its object store (disaster recovery source). */
export const ExternalCluster = Schema.Struct({
  name: DnsLabel,
  objectStore: Schema.optionalKey(ObjectStore)
})
export type ExternalCluster = typeof ExternalCluster.Type

/**
 * Existing Secrets holding the operator's database passwords. Each one not given is generated once into the
 * Cluster's `<cluster>-credentials` Secret; a recovered Cluster generates its own (the source's are never reused).
 */
export const ClusterCredentials = Schema.Struct({
  root: Schema.optionalKey(SecretKeySelector.annotate({ description: "Password of root@localhost" })),
  replication: Schema.optionalKey(
    SecretKeySelector.annotate({ description: "Password of the replication account replicas connect with" })
  ),
  backup: Schema.optionalKey(
    SecretKeySelector.annotate({ description: "Password of the backup account the instance manager uses" })
  )
})
export type ClusterCredentials = typeof ClusterCredentials.Type

/** A Go-style duration of whole seconds, minutes or hours (`30s`, `5m`, `1h`, `1h30m`). */
export const IntervalDuration = Schema.String.check(
  Schema.isPattern(/^(\d+h)?(\d+m)?(\d+s)?$/u),
  Schema.isMinLength(2)
).annotate({ description: "A duration such as 30s, 5m, 1h or 1h30m" })

/** The seconds of an `IntervalDuration` (`1h30m` → 5400). */
export const intervalSeconds = (duration: string): number => {
  const part = (unit: string) => Number(new RegExp(`(\\d+)${unit}`, "u").exec(duration)?.[1] ?? 0)
  return part("h") * 3600 + part("m") * 60 + part("s")
}

/**
 * Continuous binlog archiving for point-in-time recovery (docs/pitr.md): one archiver Deployment per Cluster,
 * outside the database Pods, uploading each completed binlog file under `<path>/<cluster>/binlogs/`.
 */
export const BinlogArchiving = Schema.Struct({
  enabled: defaulted(Schema.Boolean, false, "Run the binlog archiver for this Cluster"),
  flushInterval: defaulted(
    IntervalDuration,
    "5m",
    "Rotate the primary's open binlog at least this often when it holds transactions: the recovery point objective is at most this plus the upload time"
  )
})
export type BinlogArchiving = typeof BinlogArchiving.Type

/**
 * A recovery window (docs/pitr.md, "Retention"): `<n>d` days, `<n>w` weeks (7 days) or `<n>m` months (30 days),
 * n from 1 to 9999. Every point of the last window stays recoverable; older backups and binlogs may go.
 */
export const RetentionPolicy = Schema.String.check(Schema.isPattern(/^[1-9][0-9]{0,3}[dwm]$/u)).annotate({
  description:
    "Recovery window: every point in the last <n>d (days), <n>w (weeks) or <n>m (30-day months) stays recoverable; older base backups and binlogs are deleted"
})

const dayMillis = 24 * 60 * 60 * 1000

/** The length of a `RetentionPolicy` in milliseconds (`30d` → 30 days; a month is 30 days). */
export const retentionWindowMillis = (policy: string): number => {
  const n = Number(policy.slice(0, -1))
  const unit = policy.at(-1)
  return n * dayMillis * (unit === "w" ? 7 : unit === "m" ? 30 : 1)
}

/** `spec.backup`: where backups go, continuous archiving, retention. */
export const ClusterBackupSpec = Schema.Struct({
  objectStore: ObjectStore,
  binlogArchiving: Schema.optionalKey(BinlogArchiving),
  retentionPolicy: Schema.optionalKey(RetentionPolicy),
  retentionDryRun: Schema.optionalKey(
    Schema.Boolean.annotate({
      description:
        "Only list what the retention policy would delete (status.retention), never delete (default false). The first run after the policy is set or changed is a dry run anyway"
    })
  )
}).check(
  celRule({
    rule: "!has(self.retentionDryRun) || has(self.retentionPolicy)",
    message: "retentionDryRun is only valid together with retentionPolicy",
    predicate: (b: { readonly retentionDryRun?: boolean; readonly retentionPolicy?: string }) =>
      b.retentionDryRun === undefined || b.retentionPolicy !== undefined
  })
)
export type ClusterBackupSpec = typeof ClusterBackupSpec.Type

/** What a user asks for. */
export const ClusterSpec = Schema.Struct({
  instances: defaulted(
    Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 9 })),
    1,
    "Number of instances: one primary, the rest replicas"
  ),
  imageName: Schema.String.check(Schema.isMinLength(1)).annotate({
    description: "Instance image (server + backup tool of matching versions + cloudnative-mysql)"
  }),
  storage: Schema.Struct({
    size: Quantity,
    storageClass: Schema.optionalKey(Schema.String)
  }),
  backup: Schema.optionalKey(ClusterBackupSpec),
  bootstrap: Schema.optionalKey(
    Schema.Struct({
      recovery: Schema.optionalKey(RecoverySpec)
    })
  ),
  externalClusters: Schema.optionalKey(Schema.Array(ExternalCluster).check(listMapKeyed("name"))),
  credentials: Schema.optionalKey(ClusterCredentials)
})
export type ClusterSpec = typeof ClusterSpec.Type

/** The lifecycle of a Cluster. */
export const ClusterPhase = Schema.Literals(["pending", "recovering", "healthy", "degraded", "failed"])
export type ClusterPhase = typeof ClusterPhase.Type

/** What the point-in-time replay after the base restore did (the restore's result, then `status.recovery`). */
export const PointInTimeRecovery = Schema.Struct({
  target: Schema.String.annotate({
    description: "The target as the Cluster named it: targetGTID 0-1-24 or targetTime 2026-12-01T20:02:49Z"
  }),
  startGTID: Schema.String.annotate({ description: "The base backup's GTID state the replay started after" }),
  binlogFiles: Schema.Array(Schema.String).annotate({
    description: "The archived binlog files replayed, <series>/<file> in replay order"
  })
})
export type PointInTimeRecovery = typeof PointInTimeRecovery.Type

/** How many planned files a recovery plan lists; `fileCount` counts them all (a termination message holds 4 KiB). */
export const recoveryPlanFileLimit = 20

/** One archived binlog file a recovery plan replays. */
export const PlannedBinlogFile = Schema.Struct({
  series: Schema.String,
  file: Schema.String,
  size: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
})
export type PlannedBinlogFile = typeof PlannedBinlogFile.Type

/**
 * The recovery plan of a point-in-time recovery, resolved by the plan Job before anything starts on the data
 * (docs/pitr.md): the base backup, the archived files to replay, and whether the target is reachable or why not.
 */
export const RecoveryPlanStatus = Schema.Struct({
  target: Schema.String.annotate({
    description: "The target as the Cluster named it: targetGTID 0-1-24 or targetTime 2026-12-01T20:02:49Z"
  }),
  reachable: Schema.Boolean,
  /** When unreachable: which way (`RecoveryTargetUnreachable`'s `why`) and the detail. */
  why: Schema.optionalKey(Schema.String),
  message: Schema.optionalKey(Schema.String),
  /** The base backup (absent when none ends before the target). */
  backupId: Schema.optionalKey(Schema.String),
  archiveKey: Schema.optionalKey(Schema.String),
  startGTID: Schema.optionalKey(Schema.String.annotate({ description: "The GTID state the replay starts after" })),
  files: Schema.optionalKey(
    Schema.Array(PlannedBinlogFile).annotate({
      description: `The first archived binlog files to replay, in order: at most ${recoveryPlanFileLimit} and 2 KiB (fileCount counts all)`
    })
  ),
  fileCount: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
  byteCount: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
  jobName: Schema.optionalKey(Schema.String)
})
export type RecoveryPlanStatus = typeof RecoveryPlanStatus.Type

/** What recovery resolved and restored, so it is reproducible and visible. */
export const RecoveryStatus = Schema.Struct({
  backupName: Schema.optionalKey(Schema.String),
  source: Schema.optionalKey(Schema.String),
  backupId: Schema.optionalKey(Schema.String),
  archiveKey: Schema.optionalKey(Schema.String),
  metadataKey: Schema.optionalKey(Schema.String),
  sha256: Schema.optionalKey(Schema.String),
  size: Schema.optionalKey(Schema.Int),
  endGTID: Schema.optionalKey(Schema.String),
  endBinlog: Schema.optionalKey(Schema.String),
  jobName: Schema.optionalKey(Schema.String),
  /** Newer damaged backups recovery skipped (only with `onDamagedLatest: usePrevious`), newest first. */
  skippedBackups: Schema.optionalKey(Schema.Array(SkippedBackup)),
  /** With a recoveryTarget: the replay; `endGTID` is then where it stopped. */
  pointInTime: Schema.optionalKey(PointInTimeRecovery),
  /** With a recoveryTarget: the plan the plan Job resolved before the recovery Job was created. */
  plan: Schema.optionalKey(RecoveryPlanStatus),
  completedAt: Schema.optionalKey(Schema.String.annotate({ format: "date-time" }))
})
export type RecoveryStatus = typeof RecoveryStatus.Type

/**
 * One instance as the Cluster reconciler last saw it: its Pod and the instance manager's `/cluster/status`. The
 * Backup reconciler picks its source from these summaries only (DESIGN.md §4).
 */
export const InstanceSummary = Schema.Struct({
  name: Schema.String.annotate({ description: "Pod (and PVC) name" }),
  role: Schema.Literals(["primary", "replica"]),
  ready: Schema.Boolean.annotate({ description: "The Pod is Ready and the instance manager answered" }),
  executedGtid: Schema.optionalKey(Schema.String.annotate({ description: "GTID state the server has executed" })),
  lagSeconds: Schema.optionalKey(
    Schema.Int.annotate({ description: "Replication lag (replicas; absent when unknown)" })
  ),
  podIP: Schema.optionalKey(Schema.String)
})
export type InstanceSummary = typeof InstanceSummary.Type

/** The binlog archive as the archiver last reported it (docs/pitr.md). */
export const BinlogArchiveStatus = Schema.Struct({
  lastArchivedFile: Schema.optionalKey(
    Schema.String.annotate({ description: "The newest archived binlog file, <series>/<file>" })
  ),
  lastArchivedGTID: Schema.optionalKey(
    Schema.String.annotate({ description: "The GTID state after the newest archived file" })
  ),
  lastArchivedTime: Schema.optionalKey(
    Schema.String.annotate({ format: "date-time", description: "The newest archived file's last event" })
  ),
  caughtUp: Schema.optionalKey(
    Schema.Boolean.annotate({ description: "The primary had no transaction beyond the archive when last asked" })
  )
})
export type BinlogArchiveStatus = typeof BinlogArchiveStatus.Type

/**
 * The points a recovery can reach: from the end of the oldest completed base backup that the gap-free archive
 * continues, to the end of the archive. Absent when nothing is recoverable (the `ContinuousArchiving` condition
 * says why).
 */
export const RecoverabilityWindow = Schema.Struct({
  baseBackup: Schema.String.annotate({ description: "The Backup the window starts with" }),
  firstRecoverableGTID: Schema.String.annotate({ description: "That backup's end GTID state" }),
  firstRecoverableTime: Schema.String.annotate({ format: "date-time", description: "When that backup stopped" }),
  lastRecoverableGTID: Schema.String.annotate({ description: "The GTID state at the end of the gap-free archive" }),
  lastRecoverableTime: Schema.String.annotate({
    format: "date-time",
    description: "The last archived event (a targetTime is exclusive: transactions before it are reachable)"
  })
})
export type RecoverabilityWindow = typeof RecoverabilityWindow.Type
/** A base backup retention deleted (or would delete). */
export const RetainedBackupRef = Schema.Struct({
  backupName: Schema.String,
  backupId: Schema.String,
  /** What the catalog said of it: an incomplete or damaged one is a leftover, a completed one is out of the window. */
  status: Schema.Literals(["completed", "incomplete", "damaged"])
})
export type RetainedBackupRef = typeof RetainedBackupRef.Type

/** The last retention run, as the retention Job reported it (docs/pitr.md, "Retention"). */
export const RetentionStatus = Schema.Struct({
  policy: Schema.String.annotate({ description: "The retentionPolicy the run applied" }),
  lastRunTime: Schema.String.annotate({ format: "date-time", description: "When the last run finished" }),
  dryRun: Schema.Boolean.annotate({ description: "The run only listed what it would delete" }),
  windowStart: Schema.optionalKey(
    Schema.String.annotate({ format: "date-time", description: "now − the window when the run selected" })
  ),
  anchorBackupId: Schema.optionalKey(
    Schema.String.annotate({ description: "The kept base backup the window's start is recovered from" })
  ),
  backups: Schema.optionalKey(
    Schema.Array(RetainedBackupRef).annotate({
      description: "Base backups deleted (would be deleted, in a dry run); at most 20, the rest in moreBackups"
    })
  ),
  moreBackups: Schema.optionalKey(Schema.Int.annotate({ description: "Selected backups not listed (next run)" })),
  binlogFiles: Schema.optionalKey(
    Schema.Array(Schema.String).annotate({ description: "Binlog files deleted (<series>/<file>), at most 20" })
  ),
  binlogFilesTotal: Schema.optionalKey(Schema.Int.annotate({ description: "All binlog files deleted (would be)" })),
  failure: Schema.optionalKey(
    Schema.Struct({ reason: Schema.String, message: Schema.String }).annotate({
      description: "Why the last run failed; what it listed before is kept"
    })
  )
})
export type RetentionStatus = typeof RetentionStatus.Type

/** What the operator observed. */
export const ClusterStatus = Schema.Struct({
  phase: Schema.optionalKey(ClusterPhase),
  instances: Schema.optionalKey(Schema.Int),
  readyInstances: Schema.optionalKey(Schema.Int),
  currentPrimary: Schema.optionalKey(Schema.String),
  instanceStatuses: Schema.optionalKey(Schema.Array(InstanceSummary).check(listMapKeyed("name"))),
  latestInstance: Schema.optionalKey(
    Schema.Int.annotate({ description: "The highest instance serial ever created (serials are never reused)" })
  ),
  recovery: Schema.optionalKey(RecoveryStatus),
  binlogArchive: Schema.optionalKey(BinlogArchiveStatus),
  recoverabilityWindow: Schema.optionalKey(RecoverabilityWindow),
  retention: Schema.optionalKey(RetentionStatus),
  ...statusFields
})
export type ClusterStatus = typeof ClusterStatus.Type

/** The Cluster custom resource. */
export const Cluster = customResource("Cluster", ClusterSpec, ClusterStatus)
export type Cluster = typeof Cluster.Type
