/**
 * The pipeline against Ceph RGW, a real S3 implementation (5 MiB part minimum, real abort,
 * ListMultipartUploads), directly and through the fault-injection proxy.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Option, Sink, Stream } from "effect"
import { BackupId } from "../../src/api/backupId.ts"
import { ChecksumMismatch, ObjectStoreUploadFailed } from "../../src/api/failures.ts"
import { findBackup, listBackups } from "../../src/objectstore/catalog.ts"
import { backupKeys } from "../../src/objectstore/layout.ts"
import { encodeMetadata } from "../../src/objectstore/metadata.ts"
import { ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { downloadTo } from "../../src/pipeline/download.ts"
import { archiveMetadata, writeMetadata } from "../../src/pipeline/metadataWriter.ts"
import type { PartSchedule } from "../../src/pipeline/partSchedule.ts"
import type { RetryPolicy } from "../../src/pipeline/retry.ts"
import { uploadStream } from "../../src/pipeline/upload.ts"
import { type FaultProxy, type FaultRule, faultProxy } from "../../src/sandbox/faultProxy.ts"
import { createBucket, rgw, rgwConnection, uniqueBucketName } from "../support/rgw.ts"
import { pseudoRandomBytes, sampleMetadata, sha256, splitAt, streamOf } from "./support.ts"

const MiB = 1024 * 1024
/** 5 MiB (S3's minimum) doubling every 2 parts: 5, 5, 10, 10, 20 … */
const schedule: PartSchedule = { initialPartSize: 5 * MiB, partsPerTier: 2, maxPartSize: 64 * MiB, maxParts: 10_000 }
const fastRetry: RetryPolicy = { retries: 4, baseDelay: "10 millis", maxDelay: "100 millis" }
const input = pseudoRandomBytes(26 * MiB + 12_345, 7)
const inputSha = sha256(input)

let counter = 0
const freshKey = () => `pipeline/${Date.now().toString(36)}-${counter++}/backup.xbstream`

const bucket = Effect.promise(async () => {
  const name = uniqueBucketName("pipeline")
  await createBucket(name)
  return name
})
const rgwLayer = Layer.unwrap(Effect.map(bucket, (name) => ObjectStoreClient.layer(rgwConnection(name))))

/** No object at `key` and no multipart upload under its prefix, as RGW itself reports. */
const assertNothingLeft = (key: string) =>
  Effect.gen(function* () {
    const s3 = yield* ObjectStoreClient
    assert.isTrue(Option.isNone(yield* s3.headObject(key)))
    assert.deepStrictEqual(yield* s3.listMultipartUploads(key.slice(0, key.lastIndexOf("/") + 1)), [])
  })

const collect = Sink.collect<Uint8Array>()

/** A client for the same bucket through a fault proxy, with `rules`. */
const throughProxy = <A, E>(
  rules: ReadonlyArray<FaultRule>,
  body: (proxy: FaultProxy) => Effect.Effect<A, E, ObjectStoreClient>
) =>
  Effect.gen(function* () {
    const s3 = yield* ObjectStoreClient
    const proxy = yield* faultProxy(rgw().endpoint)
    proxy.setRules(rules)
    return yield* body(proxy).pipe(
      Effect.provide(ObjectStoreClient.layer(rgwConnection(s3.bucket, { endpoint: proxy.endpoint })))
    )
  })

describe("pipeline on RGW", () => {
  layer(rgwLayer, { excludeTestServices: true, timeout: "120 seconds" })((it) => {
    it.effect("upload with growing parts, metadata.json, catalog, verified single and ranged downloads", () =>
      Effect.gen(function* () {
        const keys = yield* backupKeys({
          path: `pipeline-${Date.now().toString(36)}`,
          cluster: "main",
          backupName: "nightly",
          backupId: BackupId.make("20261123T010000Z")
        })
        const result = yield* uploadStream(streamOf(splitAt(input, [1, 65_536, 5 * MiB + 3, 17 * MiB])), {
          key: keys.archiveKey,
          schedule,
          uploadConcurrency: 3,
          teeCapacity: 4
        })
        assert.strictEqual(result.sha256, inputSha)
        assert.deepStrictEqual(result.partSizes, [5 * MiB, 5 * MiB, 10 * MiB, 6 * MiB + 12_345])
        const s3 = yield* ObjectStoreClient
        assert.strictEqual(Option.getOrThrow(yield* s3.headObject(keys.archiveKey)).size, input.length)
        assert.deepStrictEqual(yield* s3.listMultipartUploads(keys.prefix), [])

        yield* writeMetadata(keys, result, {
          ...sampleMetadata("20261123T010000Z", result),
          archive: archiveMetadata(result)
        })
        const found = yield* findBackup(keys.prefix.split("/")[0] ?? "", "main")
        assert.strictEqual(found.metadata.archive.sha256, inputSha)

        const expected = { sha256: inputSha, size: input.length }
        const single = yield* downloadTo(keys.archiveKey, expected, collect)
        assert.deepStrictEqual(Buffer.concat(single), Buffer.from(input))
        const ranged = yield* downloadTo(keys.archiveKey, expected, collect, { concurrency: 4, rangeSize: 3 * MiB })
        assert.deepStrictEqual(Buffer.concat(ranged), Buffer.from(input))
      })
    )

    it.effect("catalog on RGW: paginated listing (page size 3), latest, pinned, incomplete ignored", () =>
      Effect.gen(function* () {
        const s3 = yield* ObjectStoreClient
        const path = `catalog-${Date.now().toString(36)}`
        const ids = ["20261120T010000Z", "20261121T010000Z", "20261122T010000Z", "20261123T010000Z"]
        for (const [i, id] of ids.entries()) {
          const keys = yield* backupKeys({ path, cluster: "main", backupName: "nightly", backupId: BackupId.make(id) })
          const archive = input.subarray(0, 1000 + i)
          yield* s3.putObject(keys.archiveKey, archive)
          // the newest backup never completed: no metadata.json
          if (i < ids.length - 1) {
            const metadata = sampleMetadata(id, { key: keys.archiveKey, size: archive.length, sha256: sha256(archive) })
            yield* s3.putObject(keys.metadataKey, new TextEncoder().encode(encodeMetadata(metadata)))
          }
        }
        assert.strictEqual((yield* findBackup(path, "main", undefined, { pageSize: 3 })).backupId, ids[2])
        assert.strictEqual((yield* findBackup(path, "main", ids[0], { pageSize: 3 })).backupId, ids[0])
        const listed = yield* listBackups(path, "main", { pageSize: 3 })
        assert.deepStrictEqual(
          listed.map((e) => e.status),
          ["completed", "completed", "completed", "incomplete"]
        )
        const missing = yield* findBackup(path, "main", ids[3], { pageSize: 3 }).pipe(Effect.flip)
        assert.strictEqual(missing._tag, "BackupIDNotFound")
      })
    )

    it.effect("a failing source leaves no object and no multipart upload", () =>
      Effect.gen(function* () {
        const key = freshKey()
        const source = Stream.concat(streamOf([input.subarray(0, 11 * MiB)]), Stream.fail("tool crashed" as const))
        const error = yield* uploadStream(source, { key, schedule }).pipe(Effect.flip)
        assert.strictEqual(error, "tool crashed")
        yield* assertNothingLeft(key)
      })
    )

    it.effect("a commit check that fails after a clean end leaves no object and no multipart upload", () =>
      Effect.gen(function* () {
        const key = freshKey()
        const error = yield* uploadStream(streamOf([input.subarray(0, 7 * MiB)]), {
          key,
          schedule,
          commit: Effect.fail("mariabackup exited 1" as const)
        }).pipe(Effect.flip)
        assert.strictEqual(error, "mariabackup exited 1")
        yield* assertNothingLeft(key)
      })
    )

    it.effect("interruption after parts were stored aborts the multipart upload", () =>
      Effect.gen(function* () {
        const key = freshKey()
        const partStored = yield* Deferred.make<void>()
        const fiber = yield* uploadStream(Stream.concat(streamOf([input.subarray(0, 6 * MiB)]), Stream.never), {
          key,
          schedule,
          progress: {
            interval: "20 millis",
            report: (p) => (p.partsUploaded > 0 ? Deferred.succeed(partStored, undefined) : Effect.void)
          }
        }).pipe(Effect.forkChild)
        yield* Deferred.await(partStored)
        const s3 = yield* ObjectStoreClient
        assert.strictEqual((yield* s3.listMultipartUploads(key)).length, 1)
        yield* Fiber.interrupt(fiber)
        yield* assertNothingLeft(key)
      })
    )

    it.effect("503 SlowDown on a part and a connection reset are retried; the object is intact", () =>
      throughProxy(
        [
          { method: "PUT", query: "partNumber", nth: 2, action: { _tag: "Error", status: 503, code: "SlowDown" } },
          { method: "PUT", query: "partNumber", nth: 4, action: { _tag: "Reset" } },
          { method: "POST", query: "uploadId", nth: 1, action: { _tag: "Error", status: 500, code: "InternalError" } }
        ],
        (proxy) =>
          Effect.gen(function* () {
            const key = freshKey()
            const result = yield* uploadStream(streamOf([input]), {
              key,
              schedule,
              uploadConcurrency: 2,
              retry: fastRetry
            })
            assert.strictEqual(result.sha256, inputSha)
            const faults = proxy.requests.flatMap((r) => (r.fault === undefined ? [] : [r.fault]))
            assert.deepStrictEqual(faults, ["Error", "Reset", "Error"])
            const back = yield* downloadTo(key, { sha256: inputSha, size: input.length }, collect)
            assert.deepStrictEqual(Buffer.concat(back), Buffer.from(input))
          })
      )
    )

    it.effect("a part that keeps failing fails the upload after its retries; nothing is left on RGW", () =>
      throughProxy(
        [{ method: "PUT", query: "partNumber", action: { _tag: "Error", status: 503, code: "SlowDown" } }],
        (proxy) =>
          Effect.gen(function* () {
            const key = freshKey()
            const error = yield* uploadStream(streamOf([input.subarray(0, 6 * MiB)]), {
              key,
              schedule,
              uploadConcurrency: 1,
              retry: fastRetry
            }).pipe(Effect.flip)
            assert.instanceOf(error, ObjectStoreUploadFailed)
            assert.strictEqual(error instanceof ObjectStoreUploadFailed ? error.code : "", "SlowDown")
            assert.strictEqual(proxy.requests.filter((r) => r.fault === "Error").length, fastRetry.retries + 1)
            yield* assertNothingLeft(key)
          })
      )
    )

    it.effect("a GET cut mid-body resumes from the next byte and verifies", () =>
      Effect.gen(function* () {
        const key = freshKey()
        yield* uploadStream(streamOf([input]), { key, schedule })
        yield* throughProxy(
          [{ method: "GET", nth: 1, path: /backup\.xbstream$/u, action: { _tag: "CutResponse", afterBytes: 3 * MiB } }],
          (proxy) =>
            Effect.gen(function* () {
              const back = yield* downloadTo(key, { sha256: inputSha, size: input.length }, collect, {
                retry: fastRetry
              })
              assert.deepStrictEqual(Buffer.concat(back), Buffer.from(input))
              assert.isTrue(proxy.requests.some((r) => r.fault === "CutResponse"))
              const resumed = proxy.requests.filter((r) => r.method === "GET" && r.headers.range !== undefined)
              assert.strictEqual(resumed.length, 1)
              assert.match(resumed[0]?.headers.range ?? "", /^bytes=[1-9]\d*-\d+$/u)
            })
        )
      })
    )

    it.effect("a corrupted object on RGW fails verification with ChecksumMismatch", () =>
      Effect.gen(function* () {
        const key = freshKey()
        const damaged = Uint8Array.from(input.subarray(0, 2 * MiB))
        damaged[MiB] = (damaged[MiB] ?? 0) ^ 0x80
        yield* (yield* ObjectStoreClient).putObject(key, damaged)
        const expected = { sha256: sha256(input.subarray(0, 2 * MiB)), size: 2 * MiB }
        for (const concurrency of [1, 3]) {
          const error = yield* downloadTo(key, expected, collect, { concurrency, rangeSize: MiB }).pipe(Effect.flip)
          assert.instanceOf(error, ChecksumMismatch)
        }
      })
    )
  })
})
