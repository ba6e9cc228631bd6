import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { firstWithinBytes } from "../../src/platform/firstWithinBytes.ts"

const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value))

describe("firstWithinBytes", () => {
  it.prop(
    "for any strings, count and budget: the longest prefix whose JSON array fits, in bytes",
    {
      items: Schema.Array(Schema.String),
      count: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 20 })),
      bytes: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 200 }))
    },
    ({ items, count, bytes }) => {
      const taken = firstWithinBytes(items, count, bytes)
      assert.deepStrictEqual(taken, items.slice(0, taken.length))
      assert.isAtMost(taken.length, count)
      if (taken.length > 0) assert.isAtMost(jsonBytes(taken), bytes)
      if (taken.length < Math.min(count, items.length)) {
        assert.isAbove(jsonBytes(items.slice(0, taken.length + 1)), bytes, "one more would not fit")
      }
    }
  )

  it("counts bytes, not UTF-16 units: names outside ASCII take more room than their length", () => {
    const names = ["ü".repeat(10), "ü".repeat(10), "ü".repeat(10)]
    // each item is 12 characters of JSON but 22 bytes: two fit 48 bytes, not three
    assert.deepStrictEqual(firstWithinBytes(names, 10, 48), names.slice(0, 2))
    assert.strictEqual(jsonBytes(names.slice(0, 2)), 47)
  })
})
