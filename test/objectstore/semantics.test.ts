/**
 * One table of S3 behaviours the product relies on, run against the in-memory store and against Ceph RGW
 * (a real S3 implementation): the memory layer must behave like the real thing on every row.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Layer, Option, Stream } from "effect"
import { ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { createBucket, rgwConnection, uniqueBucketName } from "../support/rgw.ts"

const MiB = 1024 * 1024
const bytes = (n: number, seed = 1): Uint8Array => {
  const out = new Uint8Array(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}
const collect = <E>(stream: Stream.Stream<Uint8Array, E>) =>
  Effect.map(Stream.runCollect(stream), (chunks) => Buffer.concat(chunks))

let prefixCounter = 0
const freshPrefix = (label: string) => `sem/${label}-${Date.now().toString(36)}-${prefixCounter++}/`

const backends: ReadonlyArray<readonly [string, Layer.Layer<ObjectStoreClient>]> = [
  ["memory", ObjectStoreClient.layerMemory({ bucket: "memory-semantics" })],
  [
    "rgw",
    Layer.unwrap(
      Effect.promise(async () => {
        const bucket = uniqueBucketName("semantics")
        await createBucket(bucket)
        return ObjectStoreClient.layer(rgwConnection(bucket))
      })
    )
  ]
]

for (const [name, backend] of backends) {
  describe(name, () => {
    layer(backend, { excludeTestServices: true, timeout: "120 seconds" })((it) => {
      it.effect("PutObject / HeadObject / GetObject round trip; missing keys", () =>
        Effect.gen(function* () {
          const s3 = yield* ObjectStoreClient
          const key = `${freshPrefix("put")}a b+é.json`
          const body = bytes(200_000)
          yield* s3.putObject(key, body, { contentType: "application/json" })
          const head = yield* s3.headObject(key)
          assert.isTrue(Option.isSome(head))
          assert.strictEqual(Option.getOrThrow(head).size, body.length)
          assert.match(Option.getOrThrow(head).etag ?? "", /^"[0-9a-f]{32}"$/)
          assert.deepStrictEqual(yield* collect(s3.getObject(key)), Buffer.from(body))

          assert.isTrue(Option.isNone(yield* s3.headObject(`${key}.missing`)))
          const missing = yield* Effect.flip(Stream.runDrain(s3.getObject(`${key}.missing`)))
          assert.strictEqual(missing._tag, "ObjectStoreDownloadFailed")
          assert.strictEqual(missing.status, 404)
          assert.strictEqual(missing.code, "NoSuchKey")
          assert.strictEqual(missing.operation, "GetObject")
        })
      )

      it.effect("an empty object reads back empty", () =>
        Effect.gen(function* () {
          const s3 = yield* ObjectStoreClient
          const key = `${freshPrefix("empty")}empty`
          yield* s3.putObject(key, new Uint8Array(0))
          assert.strictEqual((yield* collect(s3.getObject(key))).length, 0)
          assert.strictEqual(Option.getOrThrow(yield* s3.headObject(key)).size, 0)
        })
      )

      it.effect("multipart: a 5 MiB part and a small last part complete into one object", () =>
        Effect.gen(function* () {
          const s3 = yield* ObjectStoreClient
          const prefix = freshPrefix("mpu")
          const key = `${prefix}backup.xbstream`
          const first = bytes(5 * MiB, 2)
          const last = bytes(1234, 3)
          const uploadId = yield* s3.createMultipartUpload(key)
          assert.deepStrictEqual(yield* s3.listMultipartUploads(prefix), [{ key, uploadId }])
          const parts = yield* Effect.all(
            [s3.uploadPart(key, uploadId, 1, first), s3.uploadPart(key, uploadId, 2, last)],
            { concurrency: 2 }
          )
          assert.deepStrictEqual(
            parts.map((p) => p.partNumber),
            [1, 2]
          )
          yield* s3.completeMultipartUpload(key, uploadId, parts)
          const head = Option.getOrThrow(yield* s3.headObject(key))
          assert.strictEqual(head.size, first.length + last.length)
          assert.match(head.etag ?? "", /^"[0-9a-f]{32}-2"$/)
          assert.deepStrictEqual(yield* collect(s3.getObject(key)), Buffer.concat([first, last]))
          assert.deepStrictEqual(yield* s3.listMultipartUploads(prefix), [])
        })
      )

      it.effect("multipart: a single small part is allowed", () =>
        Effect.gen(function* () {
          const s3 = yield* ObjectStoreClient
          const key = `${freshPrefix("single")}k`
          const uploadId = yield* s3.createMultipartUpload(key)
          const part = yield* s3.uploadPart(key, uploadId, 1, bytes(10))
          yield* s3.completeMultipartUpload(key, uploadId, [part])
          assert.deepStrictEqual(yield* collect(s3.getObject(key)), Buffer.from(bytes(10)))
        })
      )

      it.effect(
        "multipart: a small non-last part is EntityTooSmall on complete; the upload stays open until aborted",
        () =>
          Effect.gen(function* () {
            const s3 = yield* ObjectStoreClient
            const prefix = freshPrefix("small")
            const key = `${prefix}k`
            const uploadId = yield* s3.createMultipartUpload(key)
            const parts = [
              yield* s3.uploadPart(key, uploadId, 1, bytes(MiB)),
              yield* s3.uploadPart(key, uploadId, 2, bytes(10))
            ]
            const tooSmall = yield* Effect.flip(s3.completeMultipartUpload(key, uploadId, parts))
            assert.strictEqual(tooSmall._tag, "ObjectStoreUploadFailed")
            assert.strictEqual(tooSmall.status, 400)
            assert.strictEqual(tooSmall.code, "EntityTooSmall")
            assert.strictEqual(tooSmall.operation, "CompleteMultipartUpload")
            assert.strictEqual(tooSmall.key, key)
            assert.isTrue(Option.isNone(yield* s3.headObject(key)))
            assert.deepStrictEqual(yield* s3.listMultipartUploads(prefix), [{ key, uploadId }])

            yield* s3.abortMultipartUpload(key, uploadId)
            assert.deepStrictEqual(yield* s3.listMultipartUploads(prefix), [])
            const again = yield* Effect.flip(s3.abortMultipartUpload(key, uploadId))
            assert.strictEqual(again.status, 404)
            assert.strictEqual(again.code, "NoSuchUpload")
            const late = yield* Effect.flip(s3.uploadPart(key, uploadId, 3, bytes(10)))
            assert.strictEqual(late.status, 404)
            assert.strictEqual(late.code, "NoSuchUpload")
            assert.isTrue(Option.isNone(yield* s3.headObject(key)))
          })
      )

      it.effect("multipart: a wrong part ETag or a part never uploaded is InvalidPart", () =>
        Effect.gen(function* () {
          const s3 = yield* ObjectStoreClient
          const key = `${freshPrefix("invalid")}k`
          const uploadId = yield* s3.createMultipartUpload(key)
          const part = yield* s3.uploadPart(key, uploadId, 1, bytes(100))
          const wrongEtag = yield* Effect.flip(
            s3.completeMultipartUpload(key, uploadId, [{ partNumber: 1, etag: '"00000000000000000000000000000000"' }])
          )
          assert.strictEqual(wrongEtag.status, 400)
          assert.strictEqual(wrongEtag.code, "InvalidPart")
          const neverUploaded = yield* Effect.flip(
            s3.completeMultipartUpload(key, uploadId, [part, { partNumber: 2, etag: part.etag }])
          )
          assert.strictEqual(neverUploaded.code, "InvalidPart")
          yield* s3.abortMultipartUpload(key, uploadId)
        })
      )

      it.effect("listMultipartUploads filters by prefix", () =>
        Effect.gen(function* () {
          const s3 = yield* ObjectStoreClient
          const prefix = freshPrefix("uploads")
          const a = yield* s3.createMultipartUpload(`${prefix}a/1`)
          const b = yield* s3.createMultipartUpload(`${prefix}b/1`)
          assert.deepStrictEqual(yield* s3.listMultipartUploads(`${prefix}a/`), [{ key: `${prefix}a/1`, uploadId: a }])
          assert.strictEqual((yield* s3.listMultipartUploads(prefix)).length, 2)
          yield* s3.abortMultipartUpload(`${prefix}a/1`, a)
          yield* s3.abortMultipartUpload(`${prefix}b/1`, b)
          assert.deepStrictEqual(yield* s3.listMultipartUploads(prefix), [])
        })
      )

      it.effect("range GET: inclusive bounds, end past the size is clipped, start past the end is 416", () =>
        Effect.gen(function* () {
          const s3 = yield* ObjectStoreClient
          const key = `${freshPrefix("range")}k`
          const body = bytes(100_000, 7)
          yield* s3.putObject(key, body)
          assert.deepStrictEqual(
            yield* collect(s3.getObject(key, { start: 6, end: 10 })),
            Buffer.from(body.subarray(6, 11))
          )
          assert.deepStrictEqual(
            yield* collect(s3.getObject(key, { start: 99_990, end: 200_000 })),
            Buffer.from(body.subarray(99_990))
          )
          const past = yield* Effect.flip(Stream.runDrain(s3.getObject(key, { start: 100_000, end: 100_010 })))
          assert.strictEqual(past.status, 416)
          assert.strictEqual(past.code, "InvalidRange")
        })
      )

      it.effect("ListObjectsV2: paginated (small pages), UTF-8 order, delimiter gives common prefixes", () =>
        Effect.gen(function* () {
          const s3 = yield* ObjectStoreClient
          const prefix = freshPrefix("list")
          const leaves = ["top.json", "z", "a/1", "a/2", "a/b/3", "c/d/4", "é/5", "sp ace", "plus+", "m"]
          const keys = leaves.map((l) => `${prefix}${l}`)
          yield* Effect.forEach(keys, (k, i) => s3.putObject(k, bytes(i + 1)), { concurrency: 4 })

          const flat = yield* Stream.runCollect(s3.listObjects(prefix, { pageSize: 3 }))
          const sorted = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
          assert.deepStrictEqual(
            flat.map((e) => ("key" in e ? e.key : e.commonPrefix)),
            sorted
          )
          assert.deepStrictEqual(
            flat.map((e) => ("key" in e ? e.size : -1)),
            sorted.map((k) => keys.indexOf(k) + 1)
          )

          const grouped = yield* Stream.runCollect(s3.listObjects(prefix, { delimiter: "/", pageSize: 2 }))
          assert.deepStrictEqual(grouped, [
            { commonPrefix: `${prefix}a/` },
            { commonPrefix: `${prefix}c/` },
            { key: `${prefix}m`, size: 10 },
            { key: `${prefix}plus+`, size: 9 },
            { key: `${prefix}sp ace`, size: 8 },
            { key: `${prefix}top.json`, size: 1 },
            { key: `${prefix}z`, size: 2 },
            { commonPrefix: `${prefix}é/` }
          ])
          const nested = yield* Stream.runCollect(s3.listObjects(`${prefix}a/`, { delimiter: "/" }))
          assert.deepStrictEqual(nested, [
            { key: `${prefix}a/1`, size: 3 },
            { key: `${prefix}a/2`, size: 4 },
            { commonPrefix: `${prefix}a/b/` }
          ])
          assert.deepStrictEqual(yield* Stream.runCollect(s3.listObjects(`${prefix}nothing/`)), [])
        })
      )

      it.effect("DeleteObject is idempotent", () =>
        Effect.gen(function* () {
          const s3 = yield* ObjectStoreClient
          const key = `${freshPrefix("delete")}k`
          yield* s3.putObject(key, bytes(5))
          yield* s3.deleteObject(key)
          yield* s3.deleteObject(key)
          assert.isTrue(Option.isNone(yield* s3.headObject(key)))
        })
      )
    })
  })
}
