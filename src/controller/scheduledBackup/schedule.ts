/**
 * Schedule arithmetic, pure: the next run of a cron expression after an instant, in an IANA time zone, with
 * croner's dialect (5 fields, or 6 with leading seconds; `@daily` etc.). DST follows croner and Vixie cron: a
 * wall-clock time that does not exist on the spring-forward day runs at the first instant after the gap, and one
 * that exists twice on the fall-back day runs once.
 *
 * @since 0.1.0
 */
import { Cron } from "croner"
import { Result } from "effect"

/** A parsed schedule: the next run strictly after an instant (milliseconds), if any. */
export interface Schedule {
  readonly next: (afterMillis: number) => number | undefined
  /** The last run at or before an instant. */
  readonly latest: (atOrBeforeMillis: number) => number | undefined
}

/** Why a schedule cannot be used. */
export type ScheduleProblem =
  | { readonly _tag: "InvalidTimeZone"; readonly timeZone: string }
  | { readonly _tag: "InvalidSchedule"; readonly message: string }

/** Whether a name is an IANA time zone this runtime knows. */
export const isTimeZone = (zone: string): boolean => {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone })
    return true
  } catch {
    return false
  }
}

/** Parses a schedule in a time zone (UTC when absent). */
export const parseSchedule = (
  expression: string,
  timeZone: string | undefined
): Result.Result<Schedule, ScheduleProblem> => {
  const zone = timeZone ?? "UTC"
  if (!isTimeZone(zone)) return Result.fail({ _tag: "InvalidTimeZone", timeZone: zone })
  let cron: Cron
  try {
    cron = new Cron(expression, { paused: true, timezone: zone })
  } catch (error) {
    return Result.fail({
      _tag: "InvalidSchedule",
      message: `spec.schedule ${JSON.stringify(expression)} is not a cron expression: ${error instanceof Error ? error.message : String(error)}`
    })
  }
  return Result.succeed({
    next: (afterMillis) => {
      const date = cron.nextRun(new Date(afterMillis))
      return date === null ? undefined : date.getTime()
    },
    // croner reads the reference at whole seconds and returns runs strictly before it: the next whole second
    // makes a run at the reference's own second count, from its first millisecond on (a requeue lands there)
    latest: (atOrBeforeMillis) =>
      cron.previousRuns(1, new Date(Math.floor(atOrBeforeMillis / 1000) * 1000 + 1000))[0]?.getTime()
  })
}

/**
 * The due slots in `(after, now]`: the most recent one and how many came before it (counted up to `limit`, a
 * lower bound beyond), so a long outage of a per-second schedule is never enumerated.
 */
export const dueSlots = (
  schedule: Schedule,
  afterMillis: number,
  nowMillis: number,
  limit = 1000
): { readonly latest: number | undefined; readonly earlier: number } => {
  const latest = schedule.latest(nowMillis)
  if (latest === undefined || latest <= afterMillis) return { latest: undefined, earlier: 0 }
  let earlier = 0
  let cursor = schedule.next(afterMillis)
  while (cursor !== undefined && cursor < latest && earlier < limit) {
    earlier++
    cursor = schedule.next(cursor)
  }
  return { latest, earlier }
}
