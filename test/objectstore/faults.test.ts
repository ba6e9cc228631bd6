/**
 * Network and server faults between the live client and RGW (through the fault proxy): each becomes a
 * typed error with the operation, status and code; the SDK never retries by itself; interruption and
 * socket timeouts end hung requests.
 */
import { randomBytes } from "node:crypto"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Option, Redacted, Schedule, Stream } from "effect"
import type { ObjectStoreConnection } from "../../src/objectstore/connection.ts"
import { ObjectStoreClient, type S3ClientTuning } from "../../src/objectstore/ObjectStoreClient.ts"
import { faultProxy } from "../../src/sandbox/faultProxy.ts"
import { createBucket, rgw, rgwConnection, uniqueBucketName } from "../support/rgw.ts"

const MiB = 1024 * 1024
let bucket = ""
beforeAll(async () => {
  bucket = uniqueBucketName("faults")
  await createBucket(bucket)
})

const withClient = <A, E>(
  connection: ObjectStoreConnection,
  f: (s3: ObjectStoreClient["Service"]) => Effect.Effect<A, E>,
  tuning: S3ClientTuning = {}
): Effect.Effect<A, E> =>
  Effect.flatMap(ObjectStoreClient.use(Effect.succeed), f).pipe(
    Effect.provide(ObjectStoreClient.layer(connection, tuning))
  )

let counter = 0
const key = (label: string) => `faults/${label}-${Date.now().toString(36)}-${counter++}`

describe("fault injection", () => {
  it.live("503 SlowDown on a part: typed error, one request (no SDK retry); an Effect retry then succeeds", () =>
    Effect.gen(function* () {
      const proxy = yield* faultProxy(rgw().endpoint)
      proxy.setRules([
        { method: "PUT", query: "partNumber", nth: 1, action: { _tag: "Error", status: 503, code: "SlowDown" } }
      ])
      yield* withClient(rgwConnection(bucket, { endpoint: proxy.endpoint }), (s3) =>
        Effect.gen(function* () {
          const k = key("slowdown")
          const uploadId = yield* s3.createMultipartUpload(k)
          const body = randomBytes(1000)
          const e = yield* Effect.flip(s3.uploadPart(k, uploadId, 1, body))
          assert.strictEqual(e._tag, "ObjectStoreUploadFailed")
          assert.strictEqual(e.operation, "UploadPart")
          assert.strictEqual(e.status, 503)
          assert.strictEqual(e.code, "SlowDown")
          assert.strictEqual(e.key, k)
          assert.strictEqual(proxy.requests.filter((r) => r.url.includes("partNumber=")).length, 1)

          const part = yield* s3.uploadPart(k, uploadId, 1, body).pipe(Effect.retry(Schedule.recurs(2)))
          yield* s3.completeMultipartUpload(k, uploadId, [part])
          assert.strictEqual(Option.getOrThrow(yield* s3.headObject(k)).size, 1000)
        })
      )
    })
  )

  it.live("Delay: the proxy answers late, with the upstream's answer intact (the body it held back included)", () =>
    Effect.gen(function* () {
      const proxy = yield* faultProxy(rgw().endpoint)
      proxy.setRules([{ method: "PUT", action: { _tag: "Delay", millis: 200 } }])
      yield* withClient(rgwConnection(bucket, { endpoint: proxy.endpoint }), (s3) =>
        Effect.gen(function* () {
          const k = key("delay")
          const body = randomBytes(64 * 1024)
          yield* s3.putObject(k, body)
          assert.deepStrictEqual(
            proxy.requests.filter((r) => r.method === "PUT").map((r) => r.fault),
            ["Delay"]
          )
          const stored = Buffer.concat(yield* Stream.runCollect(s3.getObject(k)))
          assert.isTrue(stored.equals(body))
        })
      )
    })
  )

  it.live("500 InternalError on complete: typed error; the upload can still be aborted, leaving nothing", () =>
    Effect.gen(function* () {
      const proxy = yield* faultProxy(rgw().endpoint)
      proxy.setRules([
        { method: "POST", query: "uploadId", action: { _tag: "Error", status: 500, code: "InternalError" } }
      ])
      yield* withClient(rgwConnection(bucket, { endpoint: proxy.endpoint }), (s3) =>
        Effect.gen(function* () {
          const k = key("complete500")
          const uploadId = yield* s3.createMultipartUpload(k)
          const part = yield* s3.uploadPart(k, uploadId, 1, randomBytes(100))
          const e = yield* Effect.flip(s3.completeMultipartUpload(k, uploadId, [part]))
          assert.strictEqual(e.status, 500)
          assert.strictEqual(e.code, "InternalError")
          assert.strictEqual(e.operation, "CompleteMultipartUpload")
          yield* s3.abortMultipartUpload(k, uploadId)
          assert.deepStrictEqual(yield* s3.listMultipartUploads(k), [])
          assert.isTrue(Option.isNone(yield* s3.headObject(k)))
        })
      )
    })
  )

  it.live("a connection reset is a typed error with the network cause in detail and no status", () =>
    Effect.gen(function* () {
      const proxy = yield* faultProxy(rgw().endpoint)
      proxy.setRules([{ method: "PUT", action: { _tag: "Reset" } }])
      const e = yield* Effect.flip(
        withClient(rgwConnection(bucket, { endpoint: proxy.endpoint }), (s3) =>
          s3.putObject(key("reset"), randomBytes(MiB))
        )
      )
      assert.strictEqual(e._tag, "ObjectStoreUploadFailed")
      assert.isUndefined(e.status)
      assert.match(e.detail, /ECONNRESET|EPIPE|socket hang up/)
    })
  )

  it.live("interrupting a stalled request aborts it (the server sees the client go away)", () =>
    Effect.gen(function* () {
      const proxy = yield* faultProxy(rgw().endpoint)
      proxy.setRules([{ method: "HEAD", action: { _tag: "Stall" } }])
      const result = yield* withClient(rgwConnection(bucket, { endpoint: proxy.endpoint }), (s3) =>
        s3.headObject(key("stall")).pipe(Effect.timeoutOption("300 millis"))
      )
      assert.isTrue(Option.isNone(result))
      yield* Effect.gen(function* () {
        while (proxy.abandonedStalls() === 0) yield* Effect.sleep("20 millis")
      }).pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(proxy.abandonedStalls(), 1)
    })
  )

  it.live("a server that stops answering fails the call after the socket timeout", () =>
    Effect.gen(function* () {
      const proxy = yield* faultProxy(rgw().endpoint)
      proxy.setRules([{ method: "GET", action: { _tag: "Stall" } }])
      const e = yield* Effect.flip(
        withClient(
          rgwConnection(bucket, { endpoint: proxy.endpoint }),
          (s3) => Stream.runDrain(s3.listObjects("faults/")),
          { socketTimeoutMillis: 300 }
        )
      )
      assert.strictEqual(e._tag, "ObjectStoreDownloadFailed")
      assert.strictEqual(e.operation, "ListObjectsV2")
      assert.match(e.detail, /timeout|timed out/i)
    })
  )

  it.live("a download cut mid-body fails the stream with a typed error", () =>
    Effect.gen(function* () {
      const proxy = yield* faultProxy(rgw().endpoint)
      const k = key("cut")
      yield* withClient(rgwConnection(bucket, { endpoint: proxy.endpoint }), (s3) =>
        Effect.gen(function* () {
          yield* s3.putObject(k, randomBytes(2 * MiB))
          proxy.setRules([{ method: "GET", action: { _tag: "CutResponse", afterBytes: 100_000 } }])
          let received = 0
          const e = yield* Effect.flip(
            Stream.runForEach(s3.getObject(k), (chunk) =>
              Effect.sync(() => {
                received += chunk.length
              })
            )
          )
          assert.strictEqual(e._tag, "ObjectStoreDownloadFailed")
          assert.strictEqual(e.operation, "GetObject")
          assert.isBelow(received, 2 * MiB)
        })
      )
    })
  )

  it.live("an error message that echoes a secret is scrubbed", () =>
    Effect.gen(function* () {
      const proxy = yield* faultProxy(rgw().endpoint)
      const sessionToken = "token-0123456789-abcdef"
      proxy.setRules([
        {
          method: "PUT",
          action: {
            _tag: "Error",
            status: 403,
            code: "AccessDenied",
            message: `denied for ${rgw().secretKey} with ${sessionToken}`
          }
        }
      ])
      const connection: ObjectStoreConnection = {
        ...rgwConnection(bucket, { endpoint: proxy.endpoint }),
        credentials: {
          accessKeyId: Redacted.make(rgw().accessKey),
          secretAccessKey: Redacted.make(rgw().secretKey),
          sessionToken: Redacted.make(sessionToken)
        }
      }
      const e = yield* Effect.flip(withClient(connection, (s3) => s3.putObject(key("scrub"), new Uint8Array(1))))
      assert.strictEqual(e.code, "AccessDenied")
      assert.include(e.detail, "<redacted>")
      for (const text of [e.message, JSON.stringify(e)]) {
        assert.notInclude(text, rgw().secretKey)
        assert.notInclude(text, sessionToken)
      }
    })
  )
})
