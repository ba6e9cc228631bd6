/**
 * What the real-archive tests share: the live S3 client over an s3rver, reading an object back, a temporary
 * directory, polling until something holds, and waiting until the archiver stored every closed binlog file of a
 * primary.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer, Stream } from "effect"
import { ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { archivedFiles } from "../../src/pitr/archiver.ts"
import type { MariadbInstance } from "../../src/sandbox/mariadb.ts"
import { s3rver, s3rverConnection } from "../../src/sandbox/s3rver.ts"

/** s3rver for the test's lifetime, as the live S3 client sees it. */
export const s3rverStoreLayer = (bucket: string) =>
  Layer.unwrap(Effect.map(s3rver({ bucket }), (store) => ObjectStoreClient.layer(s3rverConnection(store))))

/** An object's bytes, read with the S3 client in context. */
export const readObject = (key: string) =>
  ObjectStoreClient.use((s3) =>
    s3.getObject(key).pipe(
      Stream.runCollect,
      Effect.map((chunks) => Buffer.concat(chunks))
    )
  )

/** A fresh directory under the system's temporary one (`cnm-<name>-…`), removed with its contents at scope end. */
export const tempDir = (name: string) =>
  Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), `cnm-${name}-`))),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  )

/** Runs `effect` every 200 ms until `check` holds for its value (returned), for up to `seconds`; then dies. */
export const until = <A, E, R>(what: string, effect: Effect.Effect<A, E, R>, check: (a: A) => boolean, seconds = 60) =>
  Effect.gen(function* () {
    let last: A | undefined
    for (let i = 0; i < seconds * 5; i++) {
      last = yield* effect
      if (check(last)) return last
      yield* Effect.sleep("200 millis")
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}: ${JSON.stringify(last)}`))
  })

/** The check of an `until` on an effect that says whether it holds. */
export const holds = (ok: boolean): boolean => ok

/** Waits (up to a minute) until series `server-1` under `prefix` holds every binlog file `primary` closed. */
export const untilArchived = (primary: MariadbInstance, prefix: string) =>
  Effect.gen(function* () {
    const listed = (yield* primary.query("SHOW BINARY LOGS")).map((r) => r.Log_name ?? "")
    yield* until(
      "the archive to catch up",
      archivedFiles(prefix, "server-1"),
      (files) => files.join() === listed.slice(0, -1).join()
    )
    return listed
  })
