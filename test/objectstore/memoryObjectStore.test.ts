/**
 * What the in-memory store offers beyond S3 semantics (those are in semantics.test.ts): fault injection,
 * call counts, concurrency observation, lazy listing, and independence from the caller's buffers.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, Stream } from "effect"
import { TestClock } from "effect/testing"
import { MemoryObjectStore, ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"

const withMemory = <A, E>(
  f: (s3: ObjectStoreClient["Service"], control: MemoryObjectStore["Service"]) => Effect.Effect<A, E>,
  options: Parameters<typeof ObjectStoreClient.layerMemory>[0] = {}
) =>
  Effect.gen(function* () {
    const s3 = yield* ObjectStoreClient
    const control = yield* MemoryObjectStore
    return yield* f(s3, control)
  }).pipe(Effect.provide(ObjectStoreClient.layerMemory(options)))

describe("ObjectStoreClient.layerMemory", () => {
  it.effect("each build of the layer starts empty", () =>
    Effect.gen(function* () {
      const layer = ObjectStoreClient.layerMemory()
      yield* ObjectStoreClient.use((s3) => s3.putObject("k", new Uint8Array(1))).pipe(Effect.provide(layer))
      const fresh = yield* ObjectStoreClient.use((s3) => s3.headObject("k")).pipe(Effect.provide(layer))
      assert.isTrue(Option.isNone(fresh))
    })
  )

  it.effect("the minimum part size is configurable and enforced on complete", () =>
    withMemory(
      (s3) =>
        Effect.gen(function* () {
          const ok = yield* s3.createMultipartUpload("ok")
          const parts = yield* Effect.forEach([16, 16, 3], (n, i) => s3.uploadPart("ok", ok, i + 1, new Uint8Array(n)))
          yield* s3.completeMultipartUpload("ok", ok, parts)
          const bad = yield* s3.createMultipartUpload("bad")
          const small = yield* Effect.forEach([15, 16], (n, i) => s3.uploadPart("bad", bad, i + 1, new Uint8Array(n)))
          const e = yield* Effect.flip(s3.completeMultipartUpload("bad", bad, small))
          assert.strictEqual(e.code, "EntityTooSmall")
        }),
      { minPartSize: 16 }
    )
  )

  it.effect("parts out of order, part numbers outside 1..10000, and an empty part list are rejected as on AWS", () =>
    withMemory((s3) =>
      Effect.gen(function* () {
        const id = yield* s3.createMultipartUpload("k")
        const p1 = yield* s3.uploadPart("k", id, 1, new Uint8Array(1))
        const p2 = yield* s3.uploadPart("k", id, 2, new Uint8Array(1))
        assert.strictEqual((yield* Effect.flip(s3.completeMultipartUpload("k", id, [p2, p1]))).code, "InvalidPartOrder")
        assert.strictEqual((yield* Effect.flip(s3.uploadPart("k", id, 0, new Uint8Array(1)))).code, "InvalidArgument")
        assert.strictEqual(
          (yield* Effect.flip(s3.uploadPart("k", id, 10001, new Uint8Array(1)))).code,
          "InvalidArgument"
        )
        assert.strictEqual((yield* Effect.flip(s3.completeMultipartUpload("k", id, []))).code, "MalformedXML")
        const wrongKey = yield* Effect.flip(s3.uploadPart("other", id, 1, new Uint8Array(1)))
        assert.strictEqual(wrongKey.code, "NoSuchUpload")
      })
    )
  )

  it.effect("stored bytes do not alias the caller's buffers", () =>
    withMemory((s3, control) =>
      Effect.gen(function* () {
        const body = new Uint8Array([1, 2, 3])
        yield* s3.putObject("put", body)
        const id = yield* s3.createMultipartUpload("mpu")
        const part = yield* s3.uploadPart("mpu", id, 1, body)
        body.fill(9)
        yield* s3.completeMultipartUpload("mpu", id, [part])
        const objects = yield* control.objects
        assert.deepStrictEqual([...(objects.get("put") ?? [])], [1, 2, 3])
        assert.deepStrictEqual([...(objects.get("mpu") ?? [])], [1, 2, 3])
      })
    )
  )

  it.effect("a Fail fault becomes the operation's typed error; calls are counted, faulted ones included", () =>
    withMemory((s3, control) =>
      Effect.gen(function* () {
        yield* control.setFaults((r) =>
          r.operation === "UploadPart" && r.call === 2
            ? { _tag: "Fail", status: 503, code: "SlowDown" }
            : r.operation === "ListObjectsV2"
              ? { _tag: "Fail", status: 500, code: "InternalError", detail: "listing broke" }
              : undefined
        )
        const id = yield* s3.createMultipartUpload("k")
        yield* s3.uploadPart("k", id, 1, new Uint8Array(1))
        const part = yield* Effect.flip(s3.uploadPart("k", id, 2, new Uint8Array(1)))
        assert.strictEqual(part._tag, "ObjectStoreUploadFailed")
        assert.strictEqual(part.status, 503)
        assert.strictEqual(part.code, "SlowDown")
        assert.strictEqual(part.key, "k")
        yield* s3.uploadPart("k", id, 2, new Uint8Array(1))
        const list = yield* Effect.flip(Stream.runDrain(s3.listObjects("")))
        assert.strictEqual(list._tag, "ObjectStoreDownloadFailed")
        assert.strictEqual(list.detail, "listing broke")
        const calls = yield* control.calls
        assert.strictEqual(calls.UploadPart, 3)
        assert.strictEqual(calls.CreateMultipartUpload, 1)
        assert.strictEqual(calls.ListObjectsV2, 1)
        assert.deepStrictEqual(
          (yield* control.uploads).map((u) => [u.key, u.partNumbers, u.bytes]),
          [["k", [1, 2], 2]]
        )
        yield* control.setFaults(undefined)
        yield* Stream.runDrain(s3.listObjects(""))
      })
    )
  )

  it.effect("a Stall fault hangs until interrupted; Delay faults show the peak number of concurrent parts", () =>
    withMemory((s3, control) =>
      Effect.gen(function* () {
        const id = yield* s3.createMultipartUpload("k")
        yield* control.setFaults((r) => (r.operation === "UploadPart" ? { _tag: "Delay", millis: 1000 } : undefined))
        const uploads = yield* Effect.forEach([1, 2, 3, 4, 5], (n) => s3.uploadPart("k", id, n, new Uint8Array(1)), {
          concurrency: 3
        }).pipe(Effect.forkChild)
        yield* TestClock.adjust("5 seconds")
        assert.strictEqual((yield* Fiber.join(uploads)).length, 5)
        assert.strictEqual(yield* control.peakConcurrentUploadParts, 3)

        yield* control.setFaults((r) => (r.operation === "CompleteMultipartUpload" ? { _tag: "Stall" } : undefined))
        const stalled = yield* s3.completeMultipartUpload("k", id, []).pipe(Effect.forkChild)
        yield* TestClock.adjust("1 hour")
        assert.isUndefined(stalled.pollUnsafe())
        yield* Fiber.interrupt(stalled)
        assert.strictEqual((yield* control.uploads).length, 1)
      })
    )
  )

  it.effect("listing is lazy: taking the first entries fetches only the pages needed", () =>
    withMemory(
      (s3, control) =>
        Effect.gen(function* () {
          yield* Effect.forEach(
            Array.from({ length: 10 }, (_, i) => `p/${i}`),
            (k) => s3.putObject(k, new Uint8Array(1))
          )
          const first = yield* Stream.runCollect(Stream.take(s3.listObjects("p/"), 3))
          assert.strictEqual(first.length, 3)
          assert.strictEqual((yield* control.calls).ListObjectsV2, 2)
          assert.strictEqual((yield* Stream.runCollect(s3.listObjects("p/"))).length, 10)
          assert.strictEqual((yield* control.calls).ListObjectsV2, 2 + 5)
        }),
      { pageSize: 2 }
    )
  )

  it.effect("getObject streams in chunks of the configured size", () =>
    withMemory(
      (s3) =>
        Effect.gen(function* () {
          yield* s3.putObject("k", new Uint8Array(10))
          const chunks = yield* Stream.runCollect(s3.getObject("k"))
          assert.deepStrictEqual(
            chunks.map((c) => c.length),
            [4, 4, 2]
          )
        }),
      { chunkSize: 4 }
    )
  )
})
