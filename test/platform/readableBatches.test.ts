import { PassThrough, Readable } from "node:stream"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Schema, Stream } from "effect"
import { readableBatches } from "../../src/platform/readableBatches.ts"

const Chunks = Schema.Array(Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 255 }))))
const Batch = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 64 }))

describe("readableBatches", () => {
  it.effect.prop(
    "emits every byte in order, in batches of at least batchBytes but the last",
    { chunks: Chunks, batchBytes: Batch },
    ({ chunks, batchBytes }) =>
      Effect.gen(function* () {
        const input = chunks.filter((c) => c.length > 0).map((c) => Buffer.from(c))
        const batches: Array<ReadonlyArray<Uint8Array>> = []
        yield* Stream.runForEachArray(
          readableBatches({ evaluate: () => Readable.from(input), onError: String, batchBytes }),
          (batch) => Effect.sync(() => void batches.push(batch))
        )
        assert.deepStrictEqual(Buffer.concat(batches.flat()), Buffer.concat(input))
        for (const [i, batch] of batches.entries()) {
          const size = batch.reduce((n, c) => n + c.length, 0)
          if (i < batches.length - 1) assert.isAtLeast(size, batchBytes)
          assert.isAbove(size, 0)
        }
      }),
    { arbitrary: { runs: 100 } }
  )

  it.effect("pauses the readable once a batch is gathered and nobody pulls (backpressure)", () =>
    Effect.gen(function* () {
      const source = new PassThrough({ highWaterMark: 16 })
      const stream = readableBatches({ evaluate: () => source, onError: String, batchBytes: 8 })
      // take one batch, then stop pulling
      const fiber = yield* Stream.runHead(stream).pipe(Effect.forkChild)
      let accepted = 0
      for (let i = 0; i < 64; i++) if (source.write(Buffer.alloc(4))) accepted++
      const first = yield* Fiber.join(fiber)
      assert.isTrue(first._tag === "Some")
      // 64 × 4 bytes offered: the writer was told to wait long before all of them were taken
      assert.isBelow(accepted, 64)
    })
  )

  it.effect("a readable error fails the stream with onError, even with bytes gathered", () =>
    Effect.gen(function* () {
      const source = new PassThrough()
      const stream = readableBatches({
        evaluate: () => source,
        onError: (e) => `failed: ${String(e)}`,
        batchBytes: 1024
      })
      const fiber = yield* Stream.runCollect(stream).pipe(Effect.forkChild)
      yield* Effect.yieldNow
      source.write(Buffer.from("partial"))
      source.destroy(new Error("reset"))
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(exit, Exit.fail("failed: Error: reset"))
    })
  )

  it.effect("destroys the readable when the consumer stops early, unless closeOnDone is false", () =>
    Effect.gen(function* () {
      const owned = Readable.from([Buffer.alloc(4), Buffer.alloc(4), Buffer.alloc(4)])
      yield* Stream.runHead(readableBatches({ evaluate: () => owned, onError: String, batchBytes: 1 }))
      assert.isTrue(owned.destroyed)
      const borrowed = Readable.from([Buffer.alloc(4), Buffer.alloc(4), Buffer.alloc(4)])
      yield* Stream.runHead(
        readableBatches({ evaluate: () => borrowed, onError: String, batchBytes: 1, closeOnDone: false })
      )
      assert.isFalse(borrowed.destroyed)
      borrowed.destroy()
    })
  )

  it.effect(
    "a consumer that stops early leaves a readable it does not own paused (the writer stays held back) for the next one",
    () =>
      Effect.gen(function* () {
        const source = new PassThrough({ highWaterMark: 16 })
        for (let i = 0; i < 8; i++) source.write(Buffer.alloc(4))
        yield* Stream.runHead(
          readableBatches({ evaluate: () => source, onError: String, batchBytes: 8, closeOnDone: false })
        )
        assert.isFalse(source.readableFlowing)
        let accepted = 0
        for (let i = 0; i < 64; i++) if (source.write(Buffer.alloc(4))) accepted++
        yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
        // flowing into nothing, every write would be taken (and its bytes lost)
        assert.isBelow(accepted, 64)
        assert.isAtLeast(source.readableLength, 16)
        // the next consumer starts it again and gets what was held back
        const held = source.readableLength
        source.end()
        const rest = yield* Stream.runCollect(
          readableBatches({ evaluate: () => source, onError: String, batchBytes: 8 })
        )
        assert.isAtLeast(
          rest.reduce((n, c) => n + c.length, 0),
          held
        )
      })
  )
})
