import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import {
  ArchiveIdentity,
  ArchiverStatus,
  BinlogFileName,
  BinlogManifest,
  BinlogSeries,
  decodeArchiveIdentity,
  decodeArchiverStatus,
  decodeBinlogManifest,
  encodeArchiveIdentity,
  encodeBinlogManifest
} from "../../src/api/binlogArchive.ts"
import { DnsLabel } from "../../src/api/common.ts"
import { InvalidName } from "../../src/api/failures.ts"
import { ObjectPath } from "../../src/api/objectStore.ts"
import { binlogArchivePrefix, binlogFileKeys, identityKey, parseBinlogKey } from "../../src/objectstore/binlogLayout.ts"
import { parseBackupKey } from "../../src/objectstore/layout.ts"
import { makeArchiverMonitor } from "../../src/pitr/archiverStatus.ts"

describe("binlog archive layout", () => {
  it.effect.prop(
    "parse(build(x)) = x, and no binlog key parses as a backup key",
    { path: ObjectPath, cluster: DnsLabel, series: BinlogSeries, file: BinlogFileName },
    ({ path, cluster, series, file }) =>
      Effect.gen(function* () {
        const prefix = yield* binlogArchivePrefix(path, cluster)
        const keys = yield* binlogFileKeys(prefix, series, file)
        expect(keys.fileKey).not.toContain("//")
        expect(parseBinlogKey(prefix, keys.fileKey)).toEqual(Option.some({ series, file, kind: "file" }))
        expect(parseBinlogKey(prefix, keys.manifestKey)).toEqual(Option.some({ series, file, kind: "manifest" }))
        const backupPrefix = prefix.slice(0, -"binlogs/".length)
        expect(parseBackupKey(backupPrefix, keys.fileKey)).toEqual(Option.none())
        expect(parseBackupKey(backupPrefix, keys.manifestKey)).toEqual(Option.none())
        expect(parseBinlogKey(prefix, identityKey(prefix))).toEqual(Option.none())
      })
  )

  it.effect("the documented layout", () =>
    Effect.gen(function* () {
      const prefix = yield* binlogArchivePrefix("production", "cluster-sample")
      expect(prefix).toBe("production/cluster-sample/binlogs/")
      expect(yield* binlogFileKeys(prefix, "server-1", "mysql-bin.000003")).toEqual({
        fileKey: "production/cluster-sample/binlogs/server-1/mysql-bin.000003",
        manifestKey: "production/cluster-sample/binlogs/server-1/mysql-bin.000003.manifest.json"
      })
      expect(identityKey(prefix)).toBe("production/cluster-sample/binlogs/identity.json")
      // A backup named "binlogs" keeps its own keys, which are not binlog keys.
      expect(parseBinlogKey(prefix, `${prefix}20261123T204644Z/backup.xbstream`)).toEqual(Option.none())
    })
  )

  it.effect("invalid names are InvalidName", () =>
    Effect.gen(function* () {
      const prefix = yield* binlogArchivePrefix("", "c")
      for (const [series, file, field] of [
        ["Server-1", "mysql-bin.000001", "binlog series"],
        ["server-1", "../x.000001", "binlog file"],
        ["server-1", "mysql-bin", "binlog file"]
      ] as const) {
        const error = yield* Effect.flip(binlogFileKeys(prefix, series, file))
        expect(error).toBeInstanceOf(InvalidName)
        expect(error.field).toBe(field)
      }
    })
  )
})

describe("binlog manifest and identity", () => {
  it.effect.prop("decode(encode(m)) = m", { manifest: BinlogManifest }, ({ manifest }) =>
    Effect.gen(function* () {
      expect(yield* decodeBinlogManifest(encodeBinlogManifest(manifest))).toEqual(manifest)
    })
  )

  it.effect.prop("decode(encode(i)) = i", { identity: ArchiveIdentity }, ({ identity }) =>
    Effect.gen(function* () {
      expect(yield* decodeArchiveIdentity(encodeArchiveIdentity(identity))).toEqual(identity)
    })
  )

  it.effect.prop("the archiver's /status: decode(JSON of s) = s", { status: ArchiverStatus }, ({ status }) =>
    Effect.gen(function* () {
      // as JSON carries it: -0 is written as 0
      expect(yield* decodeArchiverStatus(JSON.stringify(status))).toEqual(JSON.parse(JSON.stringify(status)))
    })
  )

  it.effect.prop(
    "the monitor's answer is an ArchiverStatus for any manifests and server position",
    {
      manifests: Schema.Array(BinlogManifest).check(Schema.isMaxLength(6)),
      position: Schema.optional(Schema.Literals(["", "0-1-5", "0-1-5,1-2-3"]))
    },
    ({ manifests, position }) =>
      Effect.gen(function* () {
        const monitor = makeArchiverMonitor()
        yield* monitor.load(manifests.slice(0, 3))
        for (const m of manifests.slice(3)) yield* monitor.archived(m)
        const status = yield* monitor.snapshot(position)
        expect(Schema.is(ArchiverStatus)(status)).toBe(true)
        expect(status.segments.reduce((n, s) => n + s.files, 0)).toBeLessThanOrEqual(manifests.length)
        expect(status.filesArchived).toBe(Math.max(0, manifests.length - 3))
      })
  )

  it.effect("a newer version or a bad GTID list is rejected", () =>
    Effect.gen(function* () {
      const manifest: BinlogManifest = {
        version: 1,
        cluster: "c",
        flavor: "mariadb",
        series: "server-1",
        file: "mysql-bin.000002",
        previousFile: "mysql-bin.000001",
        size: 2713,
        sha256: "0".repeat(64),
        serverId: 1,
        gtidStateBefore: "0-1-14",
        gtidStateAfter: "0-1-15,1-1-3",
        firstGTID: "0-1-15",
        lastGTID: "1-1-3",
        firstEventTime: "2026-12-01T20:02:39Z",
        lastEventTime: "2026-12-01T20:02:52Z",
        archivedAt: "2026-12-01T20:02:53.000Z"
      }
      const json = JSON.parse(encodeBinlogManifest(manifest))
      yield* Effect.flip(decodeBinlogManifest(JSON.stringify({ ...json, version: 2 })))
      yield* Effect.flip(decodeBinlogManifest(JSON.stringify({ ...json, gtidStateAfter: "0-1" })))
      expect(Schema.is(BinlogManifest)(manifest)).toBe(true)
    })
  )
})
