import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { BackupId } from "../../src/api/backupId.ts"
import { ObjectStoreUploadFailed } from "../../src/api/failures.ts"
import { findBackup } from "../../src/objectstore/catalog.ts"
import { backupKeys } from "../../src/objectstore/layout.ts"
import { MemoryObjectStore, ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { archiveMetadata, writeMetadata } from "../../src/pipeline/metadataWriter.ts"
import { uploadStream } from "../../src/pipeline/upload.ts"
import { pseudoRandomBytes, sampleMetadata, streamOf } from "./support.ts"

const location = { path: "prod", cluster: "main", backupName: "nightly", backupId: BackupId.make("20261123T010000Z") }
const schedule = { initialPartSize: 16, partsPerTier: 1000, maxPartSize: 1024, maxParts: 10_000 }

describe("writeMetadata", () => {
  it.effect("after a completed upload, metadata.json makes the backup visible to the catalog", () =>
    Effect.gen(function* () {
      const keys = yield* backupKeys(location)
      const upload = yield* uploadStream(streamOf([pseudoRandomBytes(100)]), {
        key: keys.archiveKey,
        schedule,
        minPartSize: 16
      })
      const metadata = { ...sampleMetadata(location.backupId, upload), archive: archiveMetadata(upload) }
      yield* writeMetadata(keys, upload, metadata)
      const found = yield* findBackup("prod", "main")
      assert.deepStrictEqual(found.metadata, metadata)
    }).pipe(Effect.provide(ObjectStoreClient.layerMemory({ minPartSize: 16 })))
  )

  it.effect("refuses metadata that disagrees with the upload, or an archive the store does not hold", () =>
    Effect.gen(function* () {
      const keys = yield* backupKeys(location)
      const upload = yield* uploadStream(streamOf([pseudoRandomBytes(100)]), {
        key: keys.archiveKey,
        schedule,
        minPartSize: 16
      })
      const good = { ...sampleMetadata(location.backupId, upload), archive: archiveMetadata(upload) }
      const wrongSha = yield* writeMetadata(keys, upload, {
        ...good,
        archive: { ...good.archive, sha256: "0".repeat(64) }
      }).pipe(Effect.flip)
      assert.instanceOf(wrongSha, ObjectStoreUploadFailed)
      assert.match(wrongSha.message, /sha256/u)
      const otherKeys = yield* backupKeys({ ...location, backupName: "other" })
      const wrongKey = yield* writeMetadata(otherKeys, upload, good).pipe(Effect.flip)
      assert.match(wrongKey.message, /not prod\/main\/other/u)
      yield* ObjectStoreClient.use((c) => c.deleteObject(keys.archiveKey))
      const gone = yield* writeMetadata(keys, upload, good).pipe(Effect.flip)
      assert.match(gone.message, /found no object/u)
      const objects = yield* (yield* MemoryObjectStore).objects
      assert.deepStrictEqual([...objects.keys()], [])
    }).pipe(Effect.provide(ObjectStoreClient.layerMemory({ minPartSize: 16 })))
  )
})
