import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import {
  defaultPartSchedule,
  type PartSchedule,
  partSizeFor,
  partsNeeded,
  S3Limits,
  scheduleCapacity,
  scheduleProblem
} from "../../src/pipeline/partSchedule.ts"

const MiB = 1024 * 1024
const TiB = 1024 * 1024 * MiB

describe("part schedule", () => {
  it("the default schedule fits a 5 TiB stream in at most 10,000 parts", () => {
    assert.isAtLeast(scheduleCapacity(defaultPartSchedule), S3Limits.maxObjectSize)
    assert.isAtMost(partsNeeded(defaultPartSchedule, 5 * TiB), S3Limits.maxParts)
    assert.isUndefined(scheduleProblem(defaultPartSchedule, S3Limits.minPartSize))
  })

  it("every part of the default schedule is between 5 MiB and 5 GiB, and sizes never shrink", () => {
    let previous = 0
    for (let n = 1; n <= S3Limits.maxParts; n++) {
      const size = partSizeFor(defaultPartSchedule, n)
      assert.isAtLeast(size, S3Limits.minPartSize)
      assert.isAtMost(size, S3Limits.maxPartSize)
      assert.isAtLeast(size, previous)
      previous = size
    }
  })

  it("documented tiers: 16 MiB for the first 1,000 parts, then doubling, capped at 5 GiB", () => {
    assert.strictEqual(partSizeFor(defaultPartSchedule, 1), 16 * MiB)
    assert.strictEqual(partSizeFor(defaultPartSchedule, 1000), 16 * MiB)
    assert.strictEqual(partSizeFor(defaultPartSchedule, 1001), 32 * MiB)
    assert.strictEqual(partSizeFor(defaultPartSchedule, 8001), 4 * 1024 * MiB)
    assert.strictEqual(partSizeFor(defaultPartSchedule, 9001), 5 * 1024 * MiB)
    assert.strictEqual(partSizeFor(defaultPartSchedule, 10_000), 5 * 1024 * MiB)
    // a 100 GiB backup: 1000 × 16 MiB + 1000 × 32 MiB + 850 × 64 MiB
    assert.strictEqual(partsNeeded(defaultPartSchedule, 100 * 1024 * MiB), 2850)
  })

  it("a 5 MiB start would not reach 5 TiB: that is why the default starts at 16 MiB", () => {
    assert.isBelow(scheduleCapacity({ ...defaultPartSchedule, initialPartSize: 5 * MiB }), 5 * TiB)
  })

  it("rejects schedules that break the store's rules", () => {
    assert.match(scheduleProblem({ ...defaultPartSchedule, initialPartSize: MiB }, 5 * MiB) ?? "", /below the minimum/u)
    assert.match(scheduleProblem({ ...defaultPartSchedule, partsPerTier: 0 }, 5 * MiB) ?? "", /parts per tier/u)
    assert.match(scheduleProblem({ ...defaultPartSchedule, maxPartSize: MiB }, 1) ?? "", /max part size/u)
    assert.match(scheduleProblem({ ...defaultPartSchedule, maxParts: 0 }, 5 * MiB) ?? "", /max parts/u)
  })

  const Small = (max: number) => Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: max }))
  it.prop(
    "partsNeeded(size) parts cover size, one part fewer does not",
    { initial: Small(64), perTier: Small(8), cap: Small(16), maxParts: Small(200), size: Small(100_000) },
    ({ initial, perTier, cap, maxParts, size }) => {
      const schedule: PartSchedule = {
        initialPartSize: initial,
        partsPerTier: perTier,
        maxPartSize: initial * cap,
        maxParts
      }
      const n = partsNeeded(schedule, size)
      let covered = 0
      for (let i = 1; i <= n; i++) covered += partSizeFor(schedule, i)
      assert.isAtLeast(covered, size)
      assert.isBelow(covered - partSizeFor(schedule, n), size)
      const capacity = scheduleCapacity(schedule)
      assert.strictEqual(n <= maxParts, size <= capacity)
    }
  )
})
