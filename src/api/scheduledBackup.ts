/**
 * `ScheduledBackup`: creates Backup objects on a cron schedule.
 *
 * Schedule dialect: the one `croner` parses — five fields (`minute hour day-of-month month day-of-week`), or six
 * with a leading seconds field as in CloudNativePG (`0 0 2 * * *`), plus `@hourly`/`@daily`/`@weekly`/
 * `@monthly`/`@yearly`. Times are in `timeZone` (an IANA name) or UTC.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { BackupOptionsFields } from "./backup.ts"
import { customResource, defaulted, LocalObjectReference, statusFields } from "./common.ts"

/**
 * A cron expression in the dialect described above. The CRD cannot check the dialect (no CEL for it), so the
 * API server accepts any non-empty string and the ScheduledBackup controller reports an invalid one as the
 * `InvalidSchedule` condition and Event. Decoding must accept it too: an object the controller's Schema rejected
 * would be skipped silently instead of reported.
 */
export const CronSchedule = Schema.String.check(Schema.isMinLength(1)).annotate({
  description: "Cron schedule: 5 fields, or 6 with leading seconds (croner dialect)"
})

/** What a user asks for. */
export const ScheduledBackupSpec = Schema.Struct({
  schedule: CronSchedule,
  // checked by the controller (InvalidTimeZone condition and Event), for the reason given at CronSchedule
  timeZone: Schema.optionalKey(
    Schema.String.annotate({ description: "IANA time zone of the schedule, e.g. Europe/Berlin; UTC when absent" })
  ),
  cluster: LocalObjectReference,
  ...BackupOptionsFields,
  immediate: defaulted(Schema.Boolean, false, "Also take a backup as soon as the ScheduledBackup is created"),
  suspend: defaulted(Schema.Boolean, false, "Stop creating new Backups"),
  backupOwnerReference: defaulted(
    Schema.Literals(["none", "self", "cluster"]),
    "none",
    "Owner of the created Backups: none (kept), self (deleted with this object), cluster"
  ),
  startingDeadlineSeconds: Schema.optionalKey(
    Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)).annotate({
      description:
        "After a controller outage, the most recent missed run is still started when it is at most this old; default 3600"
    })
  )
})
export type ScheduledBackupSpec = typeof ScheduledBackupSpec.Type

/** What the operator observed. */
export const ScheduledBackupStatus = Schema.Struct({
  lastCheckTime: Schema.optionalKey(Schema.String.annotate({ format: "date-time" })),
  lastScheduleTime: Schema.optionalKey(Schema.String.annotate({ format: "date-time" })),
  nextScheduleTime: Schema.optionalKey(Schema.String.annotate({ format: "date-time" })),
  lastBackupName: Schema.optionalKey(Schema.String),
  ...statusFields
})
export type ScheduledBackupStatus = typeof ScheduledBackupStatus.Type

/** The ScheduledBackup custom resource. */
export const ScheduledBackup = customResource("ScheduledBackup", ScheduledBackupSpec, ScheduledBackupStatus)
export type ScheduledBackup = typeof ScheduledBackup.Type
