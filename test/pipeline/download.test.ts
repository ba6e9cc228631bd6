import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema, Sink, Stream } from "effect"
import { ChecksumMismatch, ObjectStoreDownloadFailed } from "../../src/api/failures.ts"
import { MemoryObjectStore, ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { byteRanges, downloadTo, verifiedObjectStream } from "../../src/pipeline/download.ts"
import type { RetryPolicy } from "../../src/pipeline/retry.ts"
import { pseudoRandomBytes, sha256 } from "./support.ts"

const key = "p/c/b/20261123T000000Z/backup.xbstream"
const fastRetry: RetryPolicy = { retries: 3, baseDelay: "1 millis", maxDelay: "5 millis" }
const input = pseudoRandomBytes(100_003)
const expected = { sha256: sha256(input), size: input.length }

const put = (body: Uint8Array) => ObjectStoreClient.use((c) => c.putObject(key, body))
const collect = Sink.collect<Uint8Array>()
const joined = (chunks: ReadonlyArray<Uint8Array>) => Buffer.concat(chunks)

/** A sink that records whether it ever saw the end of its input. */
const recordingSink = () => {
  const seen = { bytes: 0, ended: false }
  const sink = Sink.forEachArray((chunks: ReadonlyArray<Uint8Array>) =>
    Effect.sync(() => {
      for (const c of chunks) seen.bytes += c.length
    })
  ).pipe(
    Sink.map(() => {
      seen.ended = true
      return seen.bytes
    })
  )
  return { seen, sink }
}

describe("verified download", () => {
  it.effect("single GET: the bytes arrive intact and the sink's result is returned", () =>
    Effect.gen(function* () {
      yield* put(input)
      const chunks = yield* downloadTo(key, expected, collect)
      assert.deepStrictEqual(joined(chunks), Buffer.from(input))
    }).pipe(Effect.provide(ObjectStoreClient.layerMemory({ chunkSize: 4096 })))
  )

  it.effect.prop(
    "parallel ranged GETs reassemble the object in order",
    {
      concurrency: Schema.Int.check(Schema.isBetween({ minimum: 2, maximum: 6 })),
      rangeSize: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 40_000 }))
    },
    ({ concurrency, rangeSize }) =>
      Effect.gen(function* () {
        yield* put(input)
        const chunks = yield* downloadTo(key, expected, collect, { concurrency, rangeSize })
        assert.deepStrictEqual(joined(chunks), Buffer.from(input))
        assert.strictEqual((yield* (yield* MemoryObjectStore).calls).GetObject, Math.ceil(input.length / rangeSize))
      }).pipe(Effect.provide(ObjectStoreClient.layerMemory({ chunkSize: 1000 }))),
    { arbitrary: { runs: 30 } }
  )

  it("byteRanges covers the size with inclusive ranges", () => {
    assert.deepStrictEqual(byteRanges(10, 4), [
      { start: 0, end: 3 },
      { start: 4, end: 7 },
      { start: 8, end: 9 }
    ])
    assert.deepStrictEqual(byteRanges(0, 4), [])
  })

  it.effect("an empty object verifies against the empty SHA-256", () =>
    Effect.gen(function* () {
      yield* put(new Uint8Array(0))
      const chunks = yield* downloadTo(key, { sha256: sha256(new Uint8Array(0)), size: 0 }, collect, { concurrency: 3 })
      assert.deepStrictEqual(chunks, [])
    }).pipe(Effect.provide(ObjectStoreClient.layerMemory()))
  )

  const mismatchCases: ReadonlyArray<[string, (b: Uint8Array) => Uint8Array, typeof expected]> = [
    [
      "a flipped byte",
      (b) => {
        const c = Uint8Array.from(b)
        c[50_000] = (c[50_000] ?? 0) ^ 1
        return c
      },
      expected
    ],
    ["a truncated object", (b) => b.slice(0, b.length - 1), expected],
    ["a truncated object cut at a chunk boundary", (b) => b.slice(0, 4096 * 10), expected],
    ["a wrong expected size", (b) => b, { sha256: expected.sha256, size: expected.size + 1 }]
  ]
  for (const [name, damage, want] of mismatchCases) {
    for (const concurrency of [1, 4]) {
      it.effect(`${name} (concurrency ${concurrency}) → ChecksumMismatch, and the sink never sees the end`, () =>
        Effect.gen(function* () {
          yield* put(damage(input))
          const { seen, sink } = recordingSink()
          const error = yield* downloadTo(key, want, sink, { concurrency, rangeSize: 30_000 }).pipe(Effect.flip)
          assert.instanceOf(error, ChecksumMismatch)
          if (error instanceof ChecksumMismatch) {
            assert.strictEqual(error.expectedSha256, want.sha256)
            assert.strictEqual(error.expectedSize, want.size)
            assert.strictEqual(error.actualSize, damage(input).length)
          }
          assert.isFalse(seen.ended)
          assert.isBelow(seen.bytes, damage(input).length)
        }).pipe(Effect.provide(ObjectStoreClient.layerMemory({ chunkSize: 4096 })))
      )
    }
  }

  it.effect("a missing object fails with ObjectStoreDownloadFailed (NoSuchKey)", () =>
    Effect.gen(function* () {
      const error = yield* downloadTo(key, expected, collect).pipe(Effect.flip)
      assert.instanceOf(error, ObjectStoreDownloadFailed)
      assert.strictEqual(error instanceof ObjectStoreDownloadFailed ? error.code : "", "NoSuchKey")
    }).pipe(Effect.provide(ObjectStoreClient.layerMemory()))
  )

  it.live("retryable GET failures are retried, for a single GET and for ranged GETs", () =>
    Effect.gen(function* () {
      yield* put(input)
      const control = yield* MemoryObjectStore
      yield* control.setFaults((req) =>
        req.operation === "GetObject" && req.call <= 2 ? { _tag: "Fail", status: 503, code: "SlowDown" } : undefined
      )
      const single = yield* downloadTo(key, expected, collect, { retry: fastRetry })
      assert.deepStrictEqual(joined(single), Buffer.from(input))
      yield* control.setFaults((req) =>
        req.operation === "GetObject" && req.call % 3 === 0
          ? { _tag: "Fail", status: 500, code: "InternalError" }
          : undefined
      )
      const ranged = yield* downloadTo(key, expected, collect, { retry: fastRetry, concurrency: 3, rangeSize: 10_000 })
      assert.deepStrictEqual(joined(ranged), Buffer.from(input))
    }).pipe(Effect.provide(ObjectStoreClient.layerMemory({ chunkSize: 4096 })))
  )

  it.live("a 403 is not retried", () =>
    Effect.gen(function* () {
      yield* put(input)
      const control = yield* MemoryObjectStore
      yield* control.setFaults((req) =>
        req.operation === "GetObject" ? { _tag: "Fail", status: 403, code: "AccessDenied" } : undefined
      )
      const error = yield* Stream.runDrain(verifiedObjectStream(key, expected, { retry: fastRetry })).pipe(Effect.flip)
      assert.instanceOf(error, ObjectStoreDownloadFailed)
      assert.strictEqual((yield* control.calls).GetObject, 1)
    }).pipe(Effect.provide(ObjectStoreClient.layerMemory()))
  )
})
