import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema, Stream } from "effect"
import { cutParts, PartBufferPool } from "../../src/pipeline/bytes.ts"
import { partSizeFor } from "../../src/pipeline/partSchedule.ts"
import { Byte, Cut, splitAt, streamOf } from "./support.ts"

const Small = (min: number, max: number) => Schema.Int.check(Schema.isBetween({ minimum: min, maximum: max }))

describe("byte stream building blocks", () => {
  it.effect.prop(
    "cutParts: parts follow the schedule, the last holds the rest, the concatenation is the input",
    { bytes: Schema.Array(Byte), cuts: Schema.Array(Cut), initial: Small(1, 20), perTier: Small(1, 4) },
    ({ bytes, cuts, initial, perTier }) =>
      Effect.gen(function* () {
        const input = Uint8Array.from(bytes)
        const schedule = { initialPartSize: initial, partsPerTier: perTier, maxPartSize: initial * 8, maxParts: 10_000 }
        const pool = new PartBufferPool(2)
        const parts = yield* Stream.runCollect(streamOf(splitAt(input, cuts)).pipe(cutParts(schedule, pool)))
        assert.deepStrictEqual(Buffer.concat(parts.map((p) => p.body)), Buffer.from(input))
        for (const [i, part] of parts.entries()) {
          assert.strictEqual(part.partNumber, i + 1)
          if (i < parts.length - 1) assert.strictEqual(part.body.length, partSizeFor(schedule, i + 1))
          else assert.isAtMost(part.body.length, partSizeFor(schedule, i + 1))
          assert.isAbove(part.body.length, 0)
        }
      }),
    { arbitrary: { runs: 200 } }
  )

  it("PartBufferPool reuses the buffers it handed out, never foreign ones, and keeps at most `keep`", () => {
    const pool = new PartBufferPool(1)
    const a = pool.take(8)
    const b = pool.take(8)
    pool.give(a.subarray(0, 3))
    pool.give(b)
    pool.give(new Uint8Array(8))
    assert.strictEqual(pool.take(8).buffer, a.buffer)
    const fresh = pool.take(8)
    assert.notStrictEqual(fresh.buffer, a.buffer)
    assert.notStrictEqual(fresh.buffer, b.buffer)
    assert.strictEqual(fresh.length, 8)
    assert.strictEqual(pool.take(16).length, 16)
  })
})
