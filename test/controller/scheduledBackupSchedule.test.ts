/**
 * Schedule arithmetic against its own contract, over random instants: `latest(t)` is the last run at or before
 * `t` (a run at `t` itself counts from its first millisecond on, which is where a requeue lands) and no run lies
 * between it and `t`; `next(t)` is strictly after `t`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import { parseSchedule, type Schedule } from "../../src/controller/scheduledBackup/schedule.ts"

const scheduleOf = (expression: string, zone?: string): Schedule => {
  const parsed = parseSchedule(expression, zone)
  if (Result.isFailure(parsed)) throw new Error(`bad schedule ${expression}`)
  return parsed.success
}

const expressions = ["*/5 * * * *", "0 * * * *", "30 2 * * *", "*/7 * * * * *", "0 0 1 * *"] as const
const start = Date.parse("2026-01-01T00:00:00Z")

describe("schedule", () => {
  it.prop(
    "latest is the last run at or before the instant, next the first after it",
    {
      expression: Schema.Literals(expressions),
      zone: Schema.Literals(["UTC", "Europe/Berlin", "America/New_York"]),
      offset: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 366 * 86_400_000 }))
    },
    ({ expression, zone, offset }) => {
      const schedule = scheduleOf(expression, zone)
      const at = start + offset
      const latest = schedule.latest(at)
      const next = schedule.next(at)
      assert.isDefined(latest)
      assert.isDefined(next)
      assert.isAtMost(latest ?? Infinity, at)
      assert.isAbove(next ?? 0, at)
      // nothing between the latest run and the instant
      assert.isAbove(schedule.next(latest ?? 0) ?? 0, at)
      // a run is its own latest from its first millisecond: the instant a requeue for it lands
      const run = next ?? 0
      assert.strictEqual(schedule.latest(run), run)
      assert.strictEqual(schedule.latest(run + 999), run)
      assert.strictEqual(schedule.latest(run - 1), latest)
    }
  )

  it("the run at exactly 11:00:00.000 of an hourly schedule is its latest", () => {
    const hourly = scheduleOf("0 * * * *")
    const eleven = Date.parse("2026-12-01T11:00:00Z")
    assert.strictEqual(hourly.latest(eleven), eleven)
    assert.strictEqual(hourly.latest(eleven - 1), Date.parse("2026-12-01T10:00:00Z"))
    assert.strictEqual(hourly.next(eleven), Date.parse("2026-12-01T12:00:00Z"))
  })
})
