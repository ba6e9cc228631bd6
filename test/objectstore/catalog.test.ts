import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { BackupDamaged, BackupIDNotFound, NoBaseBackupsFound } from "../../src/api/failures.ts"
import { findBackup, listBackups } from "../../src/objectstore/catalog.ts"
import { encodeMetadata } from "../../src/objectstore/metadata.ts"
import { MemoryObjectStore, ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { sampleMetadata, sha256 } from "../pipeline/support.ts"

const prefix = "prod/main/"
const text = (s: string) => new TextEncoder().encode(s)

/** Stores a backup: always the archive, metadata.json unless `metadata` is false or a string to store verbatim. */
const storeBackup = (
  backupName: string,
  id: string,
  metadata: boolean | string = true,
  archive = text(`archive ${id}`)
) =>
  ObjectStoreClient.use((client) =>
    Effect.gen(function* () {
      const archiveKey = `${prefix}${backupName}/${id}/backup.xbstream`
      yield* client.putObject(archiveKey, archive)
      if (metadata === false) return
      const body =
        metadata === true
          ? encodeMetadata(sampleMetadata(id, { key: archiveKey, size: archive.length, sha256: sha256(archive) }))
          : metadata
      yield* client.putObject(`${prefix}${backupName}/${id}/metadata.json`, text(body))
    })
  )

const memory = ObjectStoreClient.layerMemory({ bucket: "backups" })

describe("catalog", () => {
  it.effect("picks the latest completed backup; an archive without metadata.json is not completed", () =>
    Effect.gen(function* () {
      yield* storeBackup("nightly", "20261120T010000Z")
      yield* storeBackup("weekly", "20261121T010000Z")
      yield* storeBackup("nightly", "20261122T010000Z", false)
      const latest = yield* findBackup("prod", "main")
      assert.strictEqual(latest.backupId, "20261121T010000Z")
      assert.strictEqual(latest.backupName, "weekly")
      assert.strictEqual(latest.metadata.archive.key, latest.archiveKey)
      const all = yield* listBackups("prod", "main")
      assert.deepStrictEqual(
        all.map((e) => [e.backupId, e.status]),
        [
          ["20261120T010000Z", "completed"],
          ["20261121T010000Z", "completed"],
          ["20261122T010000Z", "incomplete"]
        ]
      )
    }).pipe(Effect.provide(memory))
  )

  it.effect("a pinned backup id picks that backup, even when newer ones exist", () =>
    Effect.gen(function* () {
      yield* storeBackup("nightly", "20261120T010000Z")
      yield* storeBackup("nightly", "20261121T010000Z")
      const pinned = yield* findBackup("prod", "main", "20261120T010000Z")
      assert.strictEqual(pinned.backupId, "20261120T010000Z")
      assert.strictEqual(pinned.metadata.backupId, "20261120T010000Z")
    }).pipe(Effect.provide(memory))
  )

  it.effect("NoBaseBackupsFound when nothing (or only incomplete backups) is there", () =>
    Effect.gen(function* () {
      const empty = yield* findBackup("prod", "main").pipe(Effect.flip)
      assert.instanceOf(empty, NoBaseBackupsFound)
      yield* storeBackup("nightly", "20261120T010000Z", false)
      const onlyIncomplete = yield* findBackup("prod", "main").pipe(Effect.flip)
      assert.instanceOf(onlyIncomplete, NoBaseBackupsFound)
      assert.strictEqual(onlyIncomplete instanceof NoBaseBackupsFound ? onlyIncomplete.prefix : "", prefix)
      assert.strictEqual(onlyIncomplete instanceof NoBaseBackupsFound ? onlyIncomplete.bucket : "", "backups")
    }).pipe(Effect.provide(memory))
  )

  it.effect("BackupIDNotFound for an unknown id and for an id whose backup is incomplete", () =>
    Effect.gen(function* () {
      yield* storeBackup("nightly", "20261120T010000Z")
      yield* storeBackup("nightly", "20261121T010000Z", false)
      for (const id of ["20261119T010000Z", "20261121T010000Z", "not-an-id"]) {
        const error = yield* findBackup("prod", "main", id).pipe(Effect.flip)
        assert.instanceOf(error, BackupIDNotFound)
        assert.strictEqual(error instanceof BackupIDNotFound ? error.backupID : "", id)
      }
    }).pipe(Effect.provide(memory))
  )

  it.effect("damaged is not absent: a damaged latest fails with BackupDamaged; listBackups names each problem", () =>
    Effect.gen(function* () {
      yield* storeBackup("nightly", "20261120T010000Z")
      yield* storeBackup("nightly", "20261121T010000Z", "{not json")
      const wrongId = encodeMetadata(
        sampleMetadata("20261120T010000Z", {
          key: `${prefix}nightly/20261122T010000Z/backup.xbstream`,
          size: 24,
          sha256: "0".repeat(64)
        })
      )
      yield* storeBackup("nightly", "20261122T010000Z", wrongId)
      const wrongSize = encodeMetadata(
        sampleMetadata("20261123T010000Z", {
          key: `${prefix}nightly/20261123T010000Z/backup.xbstream`,
          size: 1,
          sha256: "0".repeat(64)
        })
      )
      yield* storeBackup("nightly", "20261123T010000Z", wrongSize)
      yield* storeBackup("nightly", "20261124T010000Z", "\u00ff", text("x"))
      yield* ObjectStoreClient.use((c) =>
        Effect.all([
          c.putObject(`${prefix}nightly/20261125T010000Z/metadata.json`, new Uint8Array([0xff, 0xfe])),
          c.putObject(`${prefix}nightly/20261125T010000Z/backup.xbstream`, text("y"))
        ])
      )
      // metadata.json whose archive is gone
      const orphanKey = `${prefix}nightly/20261126T010000Z/backup.xbstream`
      yield* ObjectStoreClient.use((c) =>
        c.putObject(
          `${prefix}nightly/20261126T010000Z/metadata.json`,
          text(encodeMetadata(sampleMetadata("20261126T010000Z", { key: orphanKey, size: 5, sha256: "0".repeat(64) })))
        )
      )

      const latest = yield* findBackup("prod", "main").pipe(Effect.flip)
      assert.instanceOf(latest, BackupDamaged)
      assert.strictEqual(latest instanceof BackupDamaged ? latest.backupID : "", "20261126T010000Z")
      assert.match(latest.message, /archive is missing/u)
      const pinned = yield* findBackup("prod", "main", "20261121T010000Z").pipe(Effect.flip)
      assert.instanceOf(pinned, BackupDamaged)
      // a pinned damaged backup is never replaced, whatever onDamagedLatest says
      const pinnedFallback = yield* findBackup("prod", "main", "20261121T010000Z", {
        onDamagedLatest: "usePrevious"
      }).pipe(Effect.flip)
      assert.instanceOf(pinnedFallback, BackupDamaged)

      const fallback = yield* findBackup("prod", "main", undefined, { onDamagedLatest: "usePrevious" })
      assert.strictEqual(fallback.backupId, "20261120T010000Z")
      assert.deepStrictEqual(
        fallback.skipped.map((s) => [s.backupId, s.reason]),
        [
          "20261126T010000Z",
          "20261125T010000Z",
          "20261124T010000Z",
          "20261123T010000Z",
          "20261122T010000Z",
          "20261121T010000Z"
        ].map((id) => [id, "BackupDamaged"])
      )
      assert.match(fallback.skipped[3]?.message ?? "", /promises 1 bytes/u)

      const all = yield* listBackups("prod", "main")
      assert.deepStrictEqual(
        all.map((e) => e.status),
        ["completed", "damaged", "damaged", "damaged", "damaged", "damaged", "damaged"]
      )
      const problems = all.flatMap((e) => (e.status === "completed" ? [] : [e.problem]))
      assert.match(problems[0] ?? "", /does not decode/u)
      assert.match(problems[1] ?? "", /backup id 20261120T010000Z/u)
      assert.match(problems[2] ?? "", /promises 1 bytes/u)
      assert.match(problems[4] ?? "", /unreadable/u)
      assert.match(problems[5] ?? "", /archive is missing/u)
    }).pipe(Effect.provide(memory))
  )

  it.effect("usePrevious with every completed backup damaged is still BackupDamaged, never NoBaseBackupsFound", () =>
    Effect.gen(function* () {
      yield* storeBackup("nightly", "20261120T010000Z", "{")
      yield* storeBackup("nightly", "20261121T010000Z", "[]")
      yield* storeBackup("nightly", "20261122T010000Z", false)
      const error = yield* findBackup("prod", "main", undefined, { onDamagedLatest: "usePrevious" }).pipe(Effect.flip)
      assert.instanceOf(error, BackupDamaged)
      assert.strictEqual(error instanceof BackupDamaged ? error.backupID : "", "20261121T010000Z")
      assert.match(error.message, /no older backup is intact either \(2 damaged\)/u)
    }).pipe(Effect.provide(memory))
  )

  it.effect("foreign keys under the prefix are ignored", () =>
    Effect.gen(function* () {
      yield* storeBackup("nightly", "20261120T010000Z")
      yield* ObjectStoreClient.use((c) =>
        Effect.all([
          c.putObject(`${prefix}README`, text("x")),
          c.putObject(`${prefix}nightly/20261121T010000Z/other.txt`, text("x")),
          c.putObject(`${prefix}nightly/notanid/metadata.json`, text("x")),
          c.putObject(`${prefix}nightly/20261122T010000Z/deeper/metadata.json`, text("x")),
          c.putObject(`prod/mainly/nightly/20261123T010000Z/metadata.json`, text("x"))
        ])
      )
      const all = yield* listBackups("prod", "main")
      assert.deepStrictEqual(
        all.map((e) => e.backupId),
        ["20261120T010000Z"]
      )
    }).pipe(Effect.provide(memory))
  )

  it.effect("pagination: more than 1000 keys, and a small page size, give the same catalog", () =>
    Effect.gen(function* () {
      // 600 completed backups = 1200 keys, beyond one S3 page; ids one minute apart
      const ids = Array.from({ length: 600 }, (_, i) => {
        const d = new Date(Date.UTC(2026, 10, 1, 0, i))
        return d
          .toISOString()
          .replace(/[-:]/gu, "")
          .replace(/\.\d+Z$/u, "Z")
      })
      yield* Effect.forEach(ids, (id) => storeBackup("nightly", id), { discard: true })
      const control = yield* MemoryObjectStore
      const before = (yield* control.calls).ListObjectsV2
      const latest = yield* findBackup("prod", "main")
      assert.strictEqual(latest.backupId, ids.at(-1))
      assert.strictEqual((yield* control.calls).ListObjectsV2 - before, 2)
      const small = yield* findBackup("prod", "main", ids[0], { pageSize: 7 })
      assert.strictEqual(small.backupId, ids[0])
      assert.strictEqual((yield* control.calls).ListObjectsV2 - before, 2 + Math.ceil(1200 / 7))
      const listed = yield* listBackups("prod", "main", { pageSize: 7 })
      assert.strictEqual(listed.length, 600)
      assert.isTrue(listed.every((e) => e.status === "completed"))
      assert.isTrue(Option.isSome(listed[0]?.archiveSize ?? Option.none()))
    }).pipe(Effect.provide(memory))
  )

  it.effect("an invalid path or cluster name is refused before listing", () =>
    Effect.gen(function* () {
      const error = yield* findBackup("prod", "Not_A_Label").pipe(Effect.flip)
      assert.strictEqual(error._tag, "InvalidName")
    }).pipe(Effect.provide(memory))
  )
})
