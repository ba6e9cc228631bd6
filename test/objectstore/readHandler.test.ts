/**
 * The read path of the live client (GET through undici, see src/objectstore/readHandler.ts) against RGW:
 * the URL it builds is the one that was signed (both signature versions, keys and listing parameters that
 * need escaping), it trusts exactly what node:http trusts, and it ends hung or interrupted reads.
 */
import { randomBytes } from "node:crypto"
import { readFileSync } from "node:fs"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"
import type { ObjectStore } from "../../src/api/objectStore.ts"
import type { ObjectStoreConnection } from "../../src/objectstore/connection.ts"
import { ObjectStoreClient, type S3ClientTuning } from "../../src/objectstore/ObjectStoreClient.ts"
import { faultProxy } from "../../src/sandbox/faultProxy.ts"
import { createBucket, rgw, rgwConnection, uniqueBucketName } from "../support/rgw.ts"

let bucket = ""
beforeAll(async () => {
  bucket = uniqueBucketName("reads")
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

const collect = <E>(stream: Stream.Stream<Uint8Array, E>) =>
  Effect.map(Stream.runCollect(stream), (chunks) => Buffer.concat(chunks))

let counter = 0
const prefix = (label: string) => `reads/${label}-${Date.now().toString(36)}-${counter++}`

/** Characters that RFC 3986 escaping, `encodeURIComponent` and S3's canonical form treat differently. */
const awkwardNames = ["a b+c=d&e", "!'()*~.-_", "ü/ключ/日本", "semi;colon,comma$dollar@at", "percent%25sign"]

describe.each<{ readonly name: string; readonly spec: Partial<ObjectStore> }>([
  { name: "SigV4", spec: {} },
  { name: "SigV2", spec: { signatureVersion: "v2" } }
])("reads signed with $name", ({ spec }) => {
  it.live("keys and listing parameters that need escaping: get, ranged get, paginated and delimited listing", () =>
    withClient(rgwConnection(bucket, spec), (s3) =>
      Effect.gen(function* () {
        const base = prefix("escape")
        const bodies = new Map(awkwardNames.map((name) => [`${base}/${name}`, randomBytes(3000)] as const))
        for (const [key, body] of bodies) yield* s3.putObject(key, body)
        for (const [key, body] of bodies) {
          assert.deepStrictEqual(yield* collect(s3.getObject(key)), body)
          assert.deepStrictEqual(yield* collect(s3.getObject(key, { start: 5, end: 2004 })), body.subarray(5, 2005))
        }
        // page size 1: every page after the first carries a continuation token in the query string
        const listed = yield* Stream.runCollect(s3.listObjects(`${base}/`, { pageSize: 1 }))
        assert.deepStrictEqual(
          listed.map((e) => ("key" in e ? e.key : e.commonPrefix)),
          [...bodies.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
        )
        const delimited = yield* Stream.runCollect(s3.listObjects(`${base}/ü/`, { delimiter: "/" }))
        assert.deepStrictEqual(delimited, [{ commonPrefix: `${base}/ü/ключ/` }])
      })
    )
  )
})

describe("read transport", () => {
  it.live("a read that does not exist is a typed 404 (the error body is parsed)", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(
        withClient(rgwConnection(bucket), (s3) => Stream.runDrain(s3.getObject(`${prefix("missing")}/nothing`)))
      )
      assert.strictEqual(e._tag, "ObjectStoreDownloadFailed")
      assert.strictEqual(e.operation, "GetObject")
      assert.strictEqual(e.status, 404)
      assert.strictEqual(e.code, "NoSuchKey")
    })
  )

  it.live("over https, reads trust the CA bundle and reject an unknown CA", () =>
    Effect.gen(function* () {
      const key = `${prefix("tls")}/k`
      const body = randomBytes(100_000)
      const tls = (caBundle: string | undefined): ObjectStoreConnection => ({
        ...rgwConnection(bucket, { endpoint: rgw().tlsEndpoint }),
        ...(caBundle === undefined ? {} : { caBundle })
      })
      yield* withClient(tls(readFileSync(rgw().caFile, "utf8")), (s3) =>
        Effect.gen(function* () {
          yield* s3.putObject(key, body)
          assert.deepStrictEqual(yield* collect(s3.getObject(key)), body)
        })
      )
      const e = yield* Effect.flip(withClient(tls(undefined), (s3) => Stream.runDrain(s3.getObject(key))))
      assert.strictEqual(e._tag, "ObjectStoreDownloadFailed")
      assert.isUndefined(e.status)
      assert.match(e.detail, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|unable to verify/)
    })
  )

  it.live("interrupting a stalled read aborts it (the server sees the client go away)", () =>
    Effect.gen(function* () {
      const proxy = yield* faultProxy(rgw().endpoint)
      proxy.setRules([{ method: "GET", action: { _tag: "Stall" } }])
      const result = yield* withClient(rgwConnection(bucket, { endpoint: proxy.endpoint }), (s3) =>
        Stream.runDrain(s3.getObject(`${prefix("stall")}/k`)).pipe(Effect.timeoutOption("300 millis"))
      )
      assert.isTrue(Option.isNone(result))
      yield* Effect.gen(function* () {
        while (proxy.abandonedStalls() === 0) yield* Effect.sleep("20 millis")
      }).pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(proxy.abandonedStalls(), 1)
    })
  )

  it.live("a read whose server stops answering fails after the socket timeout", () =>
    Effect.gen(function* () {
      const proxy = yield* faultProxy(rgw().endpoint)
      proxy.setRules([{ method: "GET", action: { _tag: "Stall" } }])
      const e = yield* Effect.flip(
        withClient(
          rgwConnection(bucket, { endpoint: proxy.endpoint }),
          (s3) => Stream.runDrain(s3.getObject(`${prefix("timeout")}/k`)),
          { socketTimeoutMillis: 300 }
        )
      )
      assert.strictEqual(e._tag, "ObjectStoreDownloadFailed")
      assert.strictEqual(e.operation, "GetObject")
      assert.isUndefined(e.status)
      assert.match(e.detail, /timeout|timed out/i)
    })
  )
})
