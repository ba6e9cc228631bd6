import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import { BackupIdOrder, backupIdFromDate, backupIdToDate, parseBackupId } from "../../src/api/backupId.ts"
import { DnsLabel, DnsSubdomain } from "../../src/api/common.ts"
import { InvalidName } from "../../src/api/failures.ts"
import { ObjectPath } from "../../src/api/objectStore.ts"
import { backupKeys, clusterPrefix, parseBackupKey } from "../../src/objectstore/layout.ts"

// 1970-01-01 .. 9999-12-31, whole seconds
const Seconds = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 253402300799 }))
const Location = Schema.Struct({ path: ObjectPath, cluster: DnsLabel, backupName: DnsSubdomain, seconds: Seconds })

describe("object layout", () => {
  it.effect.prop("parse(build(x)) = x for every valid location", { location: Location }, ({ location }) =>
    Effect.gen(function* () {
      const backupId = backupIdFromDate(new Date(location.seconds * 1000))
      const keys = yield* backupKeys({
        path: location.path,
        cluster: location.cluster,
        backupName: location.backupName,
        backupId
      })
      const prefix = yield* clusterPrefix(location.path, location.cluster)
      expect(keys.archiveKey).not.toContain("//")
      expect(keys.archiveKey.startsWith("/")).toBe(false)
      expect(keys.archiveKey.startsWith(prefix)).toBe(true)
      expect(parseBackupKey(prefix, keys.archiveKey)).toEqual(
        Option.some({ backupName: location.backupName, backupId, file: "archive" })
      )
      expect(parseBackupKey(prefix, keys.metadataKey)).toEqual(
        Option.some({ backupName: location.backupName, backupId, file: "metadata" })
      )
    })
  )

  it.effect("the documented layout, with and without a path", () =>
    Effect.gen(function* () {
      const backupId = backupIdFromDate(new Date("2026-11-23T20:46:44.123Z"))
      expect(backupId).toBe("20261123T204644Z")
      expect(
        yield* backupKeys({ path: "production", cluster: "cluster-sample", backupName: "backup-sample", backupId })
      ).toEqual({
        prefix: "production/cluster-sample/backup-sample/20261123T204644Z/",
        archiveKey: "production/cluster-sample/backup-sample/20261123T204644Z/backup.xbstream",
        metadataKey: "production/cluster-sample/backup-sample/20261123T204644Z/metadata.json"
      })
      expect((yield* backupKeys({ path: "", cluster: "c", backupName: "b", backupId })).archiveKey).toBe(
        "c/b/20261123T204644Z/backup.xbstream"
      )
    })
  )

  const invalid: ReadonlyArray<readonly [string, string, string, string]> = [
    ["path", "../escape", "c", "b"],
    ["path", "a//b", "c", "b"],
    ["path", "/abs", "c", "b"],
    ["path", "trailing/", "c", "b"],
    ["path", "a/./b", "c", "b"],
    ["cluster name", "", "", "b"],
    ["cluster name", "", "..", "b"],
    ["cluster name", "", "a/b", "b"],
    ["cluster name", "", "Upper", "b"],
    ["backup name", "", "c", "../x"],
    ["backup name", "", "c", "a/b"],
    ["backup name", "", "c", ""]
  ]
  for (const [field, path, cluster, backupName] of invalid) {
    it.effect(
      `rejects ${field} ${JSON.stringify(field === "path" ? path : field === "cluster name" ? cluster : backupName)} with InvalidName`,
      () =>
        Effect.gen(function* () {
          const error = yield* Effect.flip(
            backupKeys({ path, cluster, backupName, backupId: backupIdFromDate(new Date(0)) })
          )
          expect(error).toBeInstanceOf(InvalidName)
          expect(error.field).toBe(field)
        })
    )
  }

  it.effect("rejects a malformed backup id", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        backupKeys({ path: "", cluster: "c", backupName: "b", backupId: "20261301T000000Z" as never })
      )
      expect(error.field).toBe("backup id")
    })
  )

  it("ignores keys that are not exactly an archive or metadata key of the layout", () => {
    for (const key of [
      "p/c/b/20261123T204644Z/other.txt",
      "p/c/b/20261123T204644Z/backup.xbstream/x",
      "p/c/b/latest/backup.xbstream",
      "p/c/B!/20261123T204644Z/metadata.json",
      "p/cx/b/20261123T204644Z/metadata.json",
      "p/c/20261123T204644Z/metadata.json"
    ]) {
      expect(parseBackupKey("p/c/", key), key).toEqual(Option.none())
    }
  })
})

describe("backup ids", () => {
  it.prop("sort in time order", { a: Seconds, b: Seconds }, ({ a, b }) => {
    const ia = backupIdFromDate(new Date(a * 1000))
    const ib = backupIdFromDate(new Date(b * 1000))
    expect(Math.sign(BackupIdOrder(ia, ib))).toBe(Math.sign(a - b))
    expect(backupIdToDate(ia).getTime()).toBe(a * 1000)
    expect(parseBackupId(ia)).toEqual(Option.some(ia))
  })

  it("rejects impossible dates and other formats", () => {
    for (const s of ["20260231T000000Z", "20261123T246000Z", "20261123T204644", "2026-11-23T20:46:44Z", "", "latest"]) {
      expect(parseBackupId(s), s).toEqual(Option.none())
    }
  })
})
