/**
 * What the real-archive tests share: the live S3 client over an s3rver, and waiting until the archiver stored
 * every closed binlog file of a primary.
 */
import { Effect, Layer } from "effect"
import { ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { archivedFiles } from "../../src/pitr/archiver.ts"
import type { MariadbInstance } from "../../src/sandbox/mariadb.ts"
import { s3rver, s3rverConnection } from "../../src/sandbox/s3rver.ts"

/** s3rver for the test's lifetime, as the live S3 client sees it. */
export const s3rverStoreLayer = (bucket: string) =>
  Layer.unwrap(Effect.map(s3rver({ bucket }), (store) => ObjectStoreClient.layer(s3rverConnection(store))))

/** Waits (up to a minute) until series `server-1` under `prefix` holds every binlog file `primary` closed. */
export const untilArchived = (primary: MariadbInstance, prefix: string) =>
  Effect.gen(function* () {
    const listed = (yield* primary.query("SHOW BINARY LOGS")).map((r) => r.Log_name ?? "")
    for (let i = 0; ; i++) {
      if ((yield* archivedFiles(prefix, "server-1")).join() === listed.slice(0, -1).join()) return listed
      if (i > 300) return yield* Effect.die(new Error("archive did not catch up"))
      yield* Effect.sleep("200 millis")
    }
  })
