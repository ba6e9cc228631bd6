/** Shared fixture of the end-to-end tests: a source MariaDB with data, the cluster PKI, a bucket on the test RGW. */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Context, Effect, Layer, Stream } from "effect"
import { ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { backupUser, type MariadbInstance, startMariadb } from "../../src/sandbox/mariadb.ts"
import { objectStoreEnv, type PkiFiles, type S3Target, writePki } from "../../src/sandbox/processes.ts"
import { createBucket, rgwConnection, startRgw, uniqueBucketName } from "../support/rgw.ts"

/** Everything the end-to-end tests share. */
export interface E2eFixtureShape {
  readonly dir: string
  readonly mdb: MariadbInstance
  readonly pki: PkiFiles
  readonly target: S3Target
  /** OBJECT_STORE_SPEC and OBJECT_STORE_SECRETS_DIR for the worker and restore processes. */
  readonly storeEnv: Record<string, string>
}

export class E2eFixture extends Context.Service<E2eFixture, E2eFixtureShape>()("test/e2e/Fixture") {}

/** A source server with `bytes` of sample data in several tables. */
export const fixtureLayer = (options: { readonly bytes: number; readonly path: string }) =>
  Layer.effect(
    E2eFixture,
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-e2e-"))),
        (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
      )
      const mdb = yield* startMariadb({ bufferPoolSize: "512M" })
      yield* mdb.createUser(backupUser.user, backupUser.password, backupUser.grants)
      yield* mdb.loadSampleData({ tables: 4, bytes: options.bytes })
      const pki = yield* writePki(join(dir, "pki"))
      const r = yield* Effect.promise(() => startRgw())
      const bucket = uniqueBucketName("e2e")
      yield* Effect.acquireRelease(
        Effect.promise(() => createBucket(bucket)),
        () => emptyBucket(bucket)
      )
      const target: S3Target = {
        endpoint: r.endpoint,
        region: r.region,
        bucket,
        path: options.path,
        accessKey: r.accessKey,
        secretKey: r.secretKey
      }
      const storeEnv = yield* objectStoreEnv(target, dir)
      return { dir, mdb, pki, target, storeEnv }
    }).pipe(Effect.orDie)
  )

/** The test's own client on the fixture's bucket (to inspect what the processes left behind). */
export const storeLayer = Layer.unwrap(
  Effect.gen(function* () {
    const f = yield* E2eFixture
    return ObjectStoreClient.layer(rgwConnection(f.target.bucket, f.target.path === "" ? {} : { path: f.target.path }))
  })
)

/** Every key under `prefix` and every multipart upload still open there. */
export const storeContents = (prefix: string) =>
  Effect.gen(function* () {
    const client = yield* ObjectStoreClient
    const entries = yield* Stream.runCollect(client.listObjects(prefix))
    const keys = entries.flatMap((e) => ("key" in e ? [e.key] : []))
    const uploads = yield* client.listMultipartUploads(prefix)
    return { keys: [...keys].sort(), uploads: uploads.map((u) => u.key) }
  })

/** The text of an object. */
export const readObject = (key: string) =>
  Effect.gen(function* () {
    const client = yield* ObjectStoreClient
    const chunks = yield* Stream.runCollect(client.getObject(key))
    return Buffer.concat(chunks).toString("utf8")
  })

/**
 * Deletes every object and aborts every multipart upload of a test bucket: the test RGW has a fixed-size store
 * shared by the whole run, so suites that write hundreds of MB give the space back.
 */
export const emptyBucket = (bucket: string): Effect.Effect<void> =>
  Effect.gen(function* () {
    const client = yield* ObjectStoreClient
    const entries = yield* Stream.runCollect(client.listObjects(""))
    yield* Effect.forEach(entries, (e) => ("key" in e ? client.deleteObject(e.key) : Effect.void), {
      concurrency: 8,
      discard: true
    })
    const uploads = yield* client.listMultipartUploads("")
    yield* Effect.forEach(uploads, (u) => client.abortMultipartUpload(u.key, u.uploadId), { discard: true })
  }).pipe(
    Effect.provide(ObjectStoreClient.layer(rgwConnection(bucket))),
    Effect.catch((error) => Effect.logWarning("emptying the test bucket failed", error))
  )
