/**
 * Backup ids: the UTC time the controller created the backup Job, as `YYYYMMDDTHHMMSSZ`.
 *
 * The format sorts lexicographically in time order, so listing keys in S3 (which lists in UTF-8 binary order)
 * lists backups oldest first without parsing.
 *
 * @since 0.1.0
 */
import { Option, Order, Schema } from "effect"

const pattern = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/u

const toDate = (id: string): Option.Option<Date> => {
  const m = pattern.exec(id)
  if (m === null) return Option.none()
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number
  ]
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second))
  // Date.UTC normalises 20260231 to March 3rd: round-tripping rejects impossible calendar values
  return date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second
    ? Option.some(date)
    : Option.none()
}

/** A backup id, e.g. `20261123T204644Z`. */
export const BackupId = Schema.String.check(
  Schema.isPattern(/^\d{8}T\d{6}Z$/u),
  Schema.makeFilter((s: string) => Option.isSome(toDate(s)) || "must be a valid UTC date and time")
).pipe(Schema.brand("BackupId"))
export type BackupId = typeof BackupId.Type

const pad = (n: number, width = 2): string => String(n).padStart(width, "0")

/** The backup id of a moment (sub-second precision is dropped). */
export const backupIdFromDate = (date: Date): BackupId => {
  const year = date.getUTCFullYear()
  if (year < 0 || year > 9999) throw new RangeError(`backup ids cover years 0000-9999, got ${year}`)
  return BackupId.make(
    `${pad(year, 4)}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}T${pad(date.getUTCHours())}${pad(
      date.getUTCMinutes()
    )}${pad(date.getUTCSeconds())}Z`
  )
}

/** Parses a backup id, or `None` when the string is not one. */
export const parseBackupId = (s: string): Option.Option<BackupId> =>
  Option.isSome(toDate(s)) && Schema.is(BackupId)(s) ? Option.some(s) : Option.none()

/** The moment a backup id stands for. */
export const backupIdToDate = (id: BackupId): Date => Option.getOrThrow(toDate(id))

/** Oldest first. The string order is the time order. */
export const BackupIdOrder: Order.Order<BackupId> = Order.String
