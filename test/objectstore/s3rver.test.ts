/** The live client against s3rver (the fast fake used by functional tests elsewhere). */
import { randomBytes } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"
import { ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { s3rver, s3rverConnection } from "../../src/sandbox/s3rver.ts"

describe("s3rver", () => {
  it.live("round trip, multipart and paginated listing through the live client", () =>
    Effect.gen(function* () {
      const server = yield* s3rver({ bucket: "fast-tests" })
      const layer = ObjectStoreClient.layer(s3rverConnection(server))
      yield* Effect.gen(function* () {
        const s3 = yield* ObjectStoreClient
        const body = randomBytes(300_000)
        yield* s3.putObject("a/put", body)
        const get = Buffer.concat(yield* Stream.runCollect(s3.getObject("a/put")))
        assert.deepStrictEqual(get, body)

        const id = yield* s3.createMultipartUpload("a/mpu")
        const parts = yield* Effect.forEach([randomBytes(5 * 1024 * 1024), randomBytes(10)], (p, i) =>
          s3.uploadPart("a/mpu", id, i + 1, p)
        )
        yield* s3.completeMultipartUpload("a/mpu", id, parts)
        assert.strictEqual(Option.getOrThrow(yield* s3.headObject("a/mpu")).size, 5 * 1024 * 1024 + 10)

        yield* Effect.forEach([1, 2, 3, 4, 5], (i) => s3.putObject(`list/${i}`, new Uint8Array(i)))
        const listed = yield* Stream.runCollect(s3.listObjects("list/", { pageSize: 2 }))
        assert.deepStrictEqual(
          listed.map((e) => ("key" in e ? e.key : e.commonPrefix)),
          ["list/1", "list/2", "list/3", "list/4", "list/5"]
        )
      }).pipe(Effect.provide(layer))

      const pid = server.pid
      yield* Effect.promise(() => server.stop())
      assert.throws(() => process.kill(pid, 0))
    })
  )
})
