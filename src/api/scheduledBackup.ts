/**
 * `ScheduledBackup`: creates Backup objects on a cron schedule.
 *
 * Schedule dialect: the one `croner` parses — five fields (`minute hour day-of-month month day-of-week`), or six
 * with a leading seconds field as in CloudNativePG (`0 0 2 * * *`), plus `@hourly`/`@daily`/`@weekly`/
 * `@monthly`/`@yearly`. Times are in `timeZone` (an IANA name) or UTC.
 *
 * @since 0.1.0
 */
import { Cron } from "croner"
import { Schema } from "effect"
import { BackupOptionsFields } from "./backup.ts"
import { customResource, defaulted, LocalObjectReference, statusFields } from "./common.ts"

const isValidCron = (expression: string, timeZone: string | undefined): boolean => {
  try {
    new Cron(expression, { paused: true, ...(timeZone === undefined ? {} : { timezone: timeZone }) }).stop()
    return true
  } catch {
    return false
  }
}

const isValidTimeZone = (zone: string): boolean => {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone })
    return true
  } catch {
    return false
  }
}

/** A cron expression in the dialect described above. */
export const CronSchedule = Schema.String.check(
  Schema.isMinLength(1),
  Schema.makeFilter(
    (s: string) => isValidCron(s, undefined) || "not a valid cron expression (5 or 6 fields, or @daily etc.)"
  )
).annotate({ description: "Cron schedule: 5 fields, or 6 with leading seconds (croner dialect)" })

/** What a user asks for. */
export const ScheduledBackupSpec = Schema.Struct({
  schedule: CronSchedule,
  timeZone: Schema.optionalKey(
    Schema.String.check(Schema.makeFilter((z: string) => isValidTimeZone(z) || "not an IANA time zone")).annotate({
      description: "IANA time zone of the schedule, e.g. Europe/Berlin; UTC when absent"
    })
  ),
  cluster: LocalObjectReference,
  ...BackupOptionsFields,
  immediate: defaulted(Schema.Boolean, false, "Also take a backup as soon as the ScheduledBackup is created"),
  suspend: defaulted(Schema.Boolean, false, "Stop creating new Backups"),
  backupOwnerReference: defaulted(
    Schema.Literals(["none", "self", "cluster"]),
    "none",
    "Owner of the created Backups: none (kept), self (deleted with this object), cluster"
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
