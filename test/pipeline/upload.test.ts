import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import { ObjectStoreUploadFailed } from "../../src/api/failures.ts"
import { MemoryObjectStore, ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { type PartSchedule, partSizeFor } from "../../src/pipeline/partSchedule.ts"
import type { UploadProgress } from "../../src/pipeline/progress.ts"
import type { RetryPolicy } from "../../src/pipeline/retry.ts"
import { memoryBound, uploadStream } from "../../src/pipeline/upload.ts"
import { Byte, Cut, pseudoRandomBytes, sha256, splitAt, streamOf } from "./support.ts"

const key = "pg/cluster/backup/20261123T000000Z/backup.xbstream"
const fastRetry: RetryPolicy = { retries: 3, baseDelay: "1 millis", maxDelay: "5 millis" }
const schedule = (initialPartSize: number, partsPerTier = 1000, maxParts = 10_000): PartSchedule => ({
  initialPartSize,
  partsPerTier,
  maxPartSize: initialPartSize * 1024,
  maxParts
})
const memory = (minPartSize: number) => ObjectStoreClient.layerMemory({ minPartSize })

/** The store holds nothing: no object, no open upload. */
const assertNothingLeft = Effect.gen(function* () {
  const control = yield* MemoryObjectStore
  assert.deepStrictEqual([...(yield* control.objects).keys()], [])
  assert.deepStrictEqual(yield* control.uploads, [])
  const client = yield* ObjectStoreClient
  assert.deepStrictEqual(yield* client.listMultipartUploads(""), [])
})

const storedObject = Effect.gen(function* () {
  const objects = yield* (yield* MemoryObjectStore).objects
  const body = objects.get(key)
  assert.isDefined(body)
  return body ?? new Uint8Array(0)
})

const Small = (min: number, max: number) => Schema.Int.check(Schema.isBetween({ minimum: min, maximum: max }))

describe("uploadStream", () => {
  it.effect.prop(
    "any split, part schedule and concurrency: the object equals the input and memory stays bounded",
    {
      bytes: Schema.Array(Byte),
      cuts: Schema.Array(Cut),
      partSize: Small(1, 40),
      partsPerTier: Small(1, 6),
      concurrency: Small(1, 5)
    },
    ({ bytes, cuts, partSize, partsPerTier, concurrency }) =>
      Effect.gen(function* () {
        const input = Uint8Array.from(bytes)
        const chunks = splitAt(input, cuts)
        const partSchedule = schedule(partSize, partsPerTier)
        const result = yield* uploadStream(streamOf(chunks), {
          key,
          schedule: partSchedule,
          minPartSize: partSize,
          uploadConcurrency: concurrency
        })
        const stored = yield* storedObject
        assert.deepStrictEqual(Buffer.from(stored), Buffer.from(input))
        assert.strictEqual(result.sha256, sha256(input))
        assert.strictEqual(result.size, input.length)
        assert.strictEqual(
          result.partSizes.reduce((a, b) => a + b, 0),
          input.length
        )
        for (const [i, size] of result.partSizes.slice(0, -1).entries()) {
          assert.strictEqual(size, partSizeFor(partSchedule, i + 1))
        }
        assert.strictEqual(result.parts, Math.max(1, result.partSizes.length))
        const bound = memoryBound({
          uploadConcurrency: concurrency,
          partSize: result.largestPartSize,
          largestSourceBatch: Math.max(0, ...chunks.map((c) => c.length))
        })
        assert.isAtMost(result.peakBytesInFlight, bound)
        assert.deepStrictEqual(yield* (yield* MemoryObjectStore).uploads, [])
      }).pipe(Effect.provide(memory(partSize))),
    { arbitrary: { runs: 150 } }
  )

  it.effect("an empty stream is stored as an empty object (one empty part)", () =>
    Effect.gen(function* () {
      const result = yield* uploadStream(Stream.empty, { key, schedule: schedule(8), minPartSize: 8 })
      assert.strictEqual(result.size, 0)
      assert.strictEqual(result.parts, 1)
      assert.strictEqual(result.sha256, sha256(new Uint8Array(0)))
      assert.strictEqual((yield* storedObject).length, 0)
    }).pipe(Effect.provide(memory(8)))
  )

  it.effect("part sizes grow along the schedule over many parts; the store accepts every part", () =>
    Effect.gen(function* () {
      const input = pseudoRandomBytes(200_000)
      const partSchedule = schedule(64, 50, 10_000)
      const result = yield* uploadStream(streamOf(splitAt(input, [1, 777, 4096, 50_000, 123_457])), {
        key,
        schedule: partSchedule,
        minPartSize: 64,
        uploadConcurrency: 3
      })
      assert.deepStrictEqual(Buffer.from(yield* storedObject), Buffer.from(input))
      // 50 × 64 + 50 × 128 + 50 × 256 + 50 × 512 + 50 × 1024 + 50 × 2048 = 201,600 ≥ 200,000
      assert.strictEqual(result.parts, 300)
      assert.strictEqual(result.partSizes[0], 64)
      assert.strictEqual(result.partSizes[50], 128)
      assert.strictEqual(result.largestPartSize, 2048)
    }).pipe(Effect.provide(memory(64)))
  )

  it.effect("a stream longer than the schedule allows fails with TooManyParts and is aborted", () =>
    Effect.gen(function* () {
      const error = yield* uploadStream(streamOf([pseudoRandomBytes(1000)]), {
        key,
        schedule: schedule(10, 1000, 20),
        minPartSize: 10
      }).pipe(Effect.flip)
      assert.instanceOf(error, ObjectStoreUploadFailed)
      assert.strictEqual(error.code, "TooManyParts")
      yield* assertNothingLeft
    }).pipe(Effect.provide(memory(10)))
  )

  it.effect("a schedule below the store's minimum part size is refused before anything is created", () =>
    Effect.gen(function* () {
      const exit = yield* uploadStream(Stream.empty, { key, schedule: schedule(4), minPartSize: 8 }).pipe(Effect.exit)
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
      assert.strictEqual((yield* (yield* MemoryObjectStore).calls).CreateMultipartUpload, 0)
    }).pipe(Effect.provide(memory(8)))
  )

  it.effect("a failing source aborts the upload: no object, no parts, the source's error", () =>
    Effect.gen(function* () {
      const source = Stream.concat(streamOf([pseudoRandomBytes(100)]), Stream.fail("tool crashed" as const))
      const error = yield* uploadStream(source, { key, schedule: schedule(16), minPartSize: 16 }).pipe(Effect.flip)
      assert.strictEqual(error, "tool crashed")
      yield* assertNothingLeft
      assert.strictEqual((yield* (yield* MemoryObjectStore).calls).AbortMultipartUpload, 1)
    }).pipe(Effect.provide(memory(16)))
  )

  it.effect("a commit check that fails after a clean end of stream leaves no object", () =>
    Effect.gen(function* () {
      let committed = false
      const error = yield* uploadStream(streamOf([pseudoRandomBytes(100)]), {
        key,
        schedule: schedule(16),
        minPartSize: 16,
        commit: Effect.sync(() => {
          committed = true
        }).pipe(Effect.andThen(Effect.fail("exit code 1" as const)))
      }).pipe(Effect.flip)
      assert.isTrue(committed)
      assert.strictEqual(error, "exit code 1")
      yield* assertNothingLeft
      const calls = yield* (yield* MemoryObjectStore).calls
      assert.strictEqual(calls.CompleteMultipartUpload, 0)
      assert.strictEqual(calls.UploadPart, 7)
    }).pipe(Effect.provide(memory(16)))
  )

  it.effect("the commit check runs after every part is stored and before CompleteMultipartUpload", () =>
    Effect.gen(function* () {
      const control = yield* MemoryObjectStore
      let seen: Record<string, number> = {}
      yield* uploadStream(streamOf([pseudoRandomBytes(100)]), {
        key,
        schedule: schedule(16),
        minPartSize: 16,
        commit: Effect.map(control.calls, (calls) => {
          seen = calls
        })
      })
      assert.strictEqual(seen.UploadPart, 7)
      assert.strictEqual(seen.CompleteMultipartUpload, 0)
      assert.strictEqual((yield* storedObject).length, 100)
    }).pipe(Effect.provide(memory(16)))
  )

  it.live("retryable part failures (503 SlowDown) are retried and the object is intact", () =>
    Effect.gen(function* () {
      const control = yield* MemoryObjectStore
      let part2Failures = 0
      yield* control.setFaults((req) => {
        if (req.operation === "UploadPart" && req.partNumber === 2 && part2Failures < 2) {
          part2Failures += 1
          return { _tag: "Fail", status: 503, code: "SlowDown" }
        }
        return req.operation === "CompleteMultipartUpload" && req.call === 1
          ? { _tag: "Fail", status: 500, code: "InternalError" }
          : undefined
      })
      const input = pseudoRandomBytes(100)
      const result = yield* uploadStream(streamOf([input]), {
        key,
        schedule: schedule(16),
        minPartSize: 16,
        uploadConcurrency: 1,
        retry: fastRetry
      })
      assert.strictEqual(result.sha256, sha256(input))
      assert.deepStrictEqual(Buffer.from(yield* storedObject), Buffer.from(input))
      const calls = yield* control.calls
      assert.strictEqual(calls.UploadPart, 7 + 2)
      assert.strictEqual(calls.CompleteMultipartUpload, 2)
    }).pipe(Effect.provide(memory(16)))
  )

  it.live("a part that keeps failing fails the upload after the retries and aborts it", () =>
    Effect.gen(function* () {
      const control = yield* MemoryObjectStore
      let attempts = 0
      yield* control.setFaults((req) => {
        if (req.operation !== "UploadPart" || req.partNumber !== 3) return undefined
        attempts += 1
        return { _tag: "Fail", status: 503, code: "SlowDown" }
      })
      const error = yield* uploadStream(streamOf([pseudoRandomBytes(100)]), {
        key,
        schedule: schedule(16),
        minPartSize: 16,
        uploadConcurrency: 2,
        retry: fastRetry
      }).pipe(Effect.flip)
      assert.instanceOf(error, ObjectStoreUploadFailed)
      assert.strictEqual(error.code, "SlowDown")
      assert.strictEqual(attempts, fastRetry.retries + 1)
      yield* control.setFaults(undefined)
      yield* assertNothingLeft
    }).pipe(Effect.provide(memory(16)))
  )

  it.live("a non-retryable failure (403) is not retried", () =>
    Effect.gen(function* () {
      const control = yield* MemoryObjectStore
      yield* control.setFaults((req) =>
        req.operation === "UploadPart" ? { _tag: "Fail", status: 403, code: "SignatureDoesNotMatch" } : undefined
      )
      const error = yield* uploadStream(streamOf([pseudoRandomBytes(10)]), {
        key,
        schedule: schedule(16),
        minPartSize: 16,
        retry: fastRetry
      }).pipe(Effect.flip)
      assert.instanceOf(error, ObjectStoreUploadFailed)
      assert.strictEqual(error.status, 403)
      assert.strictEqual((yield* control.calls).UploadPart, 1)
      yield* control.setFaults(undefined)
      yield* assertNothingLeft
    }).pipe(Effect.provide(memory(16)))
  )

  it.live("a stalled part times out, is retried, and the object is intact", () =>
    Effect.gen(function* () {
      const control = yield* MemoryObjectStore
      yield* control.setFaults((req) =>
        req.operation === "UploadPart" && req.call === 1 ? { _tag: "Stall" } : undefined
      )
      const input = pseudoRandomBytes(40)
      yield* uploadStream(streamOf([input]), {
        key,
        schedule: schedule(16),
        minPartSize: 16,
        retry: fastRetry,
        partTimeout: "50 millis"
      })
      assert.deepStrictEqual(Buffer.from(yield* storedObject), Buffer.from(input))
    }).pipe(Effect.provide(memory(16)))
  )

  it.live("interruption mid-stream aborts the upload", () =>
    Effect.gen(function* () {
      const control = yield* MemoryObjectStore
      const source = Stream.concat(streamOf([pseudoRandomBytes(64)]), Stream.never)
      const fiber = yield* uploadStream(source, {
        key,
        schedule: schedule(16),
        minPartSize: 16
      }).pipe(Effect.forkChild)
      // wait until the four full parts are stored, then cancel (the CR was deleted)
      while ((yield* control.uploads)[0]?.partNumbers.length !== 4) yield* Effect.sleep("1 millis")
      yield* Fiber.interrupt(fiber)
      yield* assertNothingLeft
      assert.strictEqual((yield* control.calls).AbortMultipartUpload, 1)
    }).pipe(Effect.provide(memory(16)))
  )

  it.live("parts upload concurrently, never more than uploadConcurrency at once, completed in order", () =>
    Effect.gen(function* () {
      const control = yield* MemoryObjectStore
      yield* control.setFaults((req) =>
        // earlier parts are slower, so parts finish out of order
        req.operation === "UploadPart" ? { _tag: "Delay", millis: 20 - (req.partNumber ?? 0) } : undefined
      )
      const input = pseudoRandomBytes(16 * 12)
      yield* uploadStream(streamOf(splitAt(input, [5, 17, 100])), {
        key,
        schedule: schedule(16),
        minPartSize: 16,
        uploadConcurrency: 3
      })
      assert.strictEqual(yield* control.peakConcurrentUploadParts, 3)
      assert.deepStrictEqual(Buffer.from(yield* storedObject), Buffer.from(input))
    }).pipe(Effect.provide(memory(16)))
  )

  it.live("a slow store backpressures the source: bytes in flight stay within the bound", () =>
    Effect.gen(function* () {
      const control = yield* MemoryObjectStore
      yield* control.setFaults((req) => (req.operation === "UploadPart" ? { _tag: "Delay", millis: 3 } : undefined))
      const chunks = Array.from({ length: 400 }, (_, i) => pseudoRandomBytes(10, i + 1))
      const options = { uploadConcurrency: 2 }
      const result = yield* uploadStream(streamOf(chunks), { key, schedule: schedule(50), minPartSize: 50, ...options })
      const bound = memoryBound({ ...options, partSize: 50, largestSourceBatch: 10 })
      // the source (4,000 bytes) is far longer than the bound: it was held back, not read ahead
      assert.isAtMost(result.peakBytesInFlight, bound)
      assert.isAbove(result.peakBytesInFlight, 100)
      assert.strictEqual(result.size, 4000)
    }).pipe(Effect.provide(memory(50)))
  )

  it.effect("progress is reported every interval and once at the end", () =>
    Effect.gen(function* () {
      const reports: Array<UploadProgress> = []
      const source = Stream.fromIterable([0, 1, 2, 3, 4]).pipe(
        Stream.mapEffect((i) => Effect.as(Effect.sleep("1 second"), pseudoRandomBytes(32, i + 1)))
      )
      const fiber = yield* uploadStream(source, {
        key,
        schedule: schedule(16),
        minPartSize: 16,
        progress: { interval: "2200 millis", report: (p) => Effect.sync(() => void reports.push(p)) }
      }).pipe(Effect.forkChild)
      yield* TestClock.adjust("6 seconds")
      const result = yield* Fiber.join(fiber)
      assert.deepStrictEqual(
        reports.map((r) => r.bytesRead),
        [64, 128, 160]
      )
      assert.strictEqual(reports[0]?.bytesPerSecond, Math.round(64 / 2.2))
      assert.strictEqual(reports[1]?.bytesPerSecond, Math.round(64 / 2.2))
      assert.strictEqual(reports.at(-1)?.bytesUploaded, result.size)
      assert.strictEqual(reports.at(-1)?.partsUploaded, 10)
      assert.strictEqual(reports.at(-1)?.bytesInFlight, 0)
    }).pipe(Effect.provide(memory(16)))
  )

  it.effect("the first report comes after `first`, the later ones every interval", () =>
    Effect.gen(function* () {
      const reports: Array<UploadProgress> = []
      const source = Stream.fromIterable([0, 1, 2, 3, 4]).pipe(
        Stream.mapEffect((i) => Effect.as(Effect.sleep("1 second"), pseudoRandomBytes(32, i + 1)))
      )
      const fiber = yield* uploadStream(source, {
        key,
        schedule: schedule(16),
        minPartSize: 16,
        progress: {
          first: "1500 millis",
          interval: "3 seconds",
          report: (p) => Effect.sync(() => void reports.push(p))
        }
      }).pipe(Effect.forkChild)
      yield* TestClock.adjust("6 seconds")
      yield* Fiber.join(fiber)
      // at 1.5 s (one chunk), at 4.5 s (four), then the final one
      assert.deepStrictEqual(
        reports.map((r) => r.bytesRead),
        [32, 128, 160]
      )
    }).pipe(Effect.provide(memory(16)))
  )
})
