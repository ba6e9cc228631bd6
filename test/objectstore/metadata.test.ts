import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { BackupId } from "../../src/api/backupId.ts"
import { type BackupMetadata, decodeMetadata, encodeMetadata } from "../../src/objectstore/metadata.ts"

const metadata: BackupMetadata = {
  version: 1,
  cluster: { name: "cluster-sample", namespace: "db", uid: "3f1c" },
  backup: { name: "backup-sample", namespace: "db", uid: "9a2b" },
  backupId: BackupId.make("20261123T204644Z"),
  sourceInstance: "cluster-sample-2",
  method: "xtrabackup",
  flavor: "mariadb",
  tool: { name: "mariabackup", version: "10.11.19-MariaDB" },
  archive: {
    key: "production/cluster-sample/backup-sample/20261123T204644Z/backup.xbstream",
    size: 734003200,
    sha256: "a".repeat(64),
    partSize: 16777216,
    parts: 44
  },
  startedAt: "2026-11-23T20:46:44Z",
  stoppedAt: "2026-11-23T20:47:59.120Z",
  beginGTID: "0-1-100",
  endGTID: "0-1-104",
  beginBinlog: { file: "mysql-bin.000002", position: 342 },
  endBinlog: { file: "mysql-bin.000002", position: 1290 }
}

describe("metadata.json", () => {
  it.effect("round-trips through its JSON text", () =>
    Effect.gen(function* () {
      const text = encodeMetadata(metadata)
      expect(JSON.parse(text).version).toBe(1)
      expect(yield* decodeMetadata(text)).toEqual(metadata)
    })
  )

  it.effect("rejects a newer version, a bad checksum and missing fields, naming the field", () =>
    Effect.gen(function* () {
      const json = JSON.parse(encodeMetadata(metadata))
      const newer = yield* Effect.flip(decodeMetadata(JSON.stringify({ ...json, version: 2 })))
      expect(newer.message).toContain('["version"]')
      const badSha = yield* Effect.flip(
        decodeMetadata(JSON.stringify({ ...json, archive: { ...json.archive, sha256: "xyz" } }))
      )
      expect(badSha.message).toContain('["archive"]["sha256"]')
      const { archive: _, ...noArchive } = json
      expect((yield* Effect.flip(decodeMetadata(JSON.stringify(noArchive)))).message).toContain('["archive"]')
      expect((yield* Effect.flip(decodeMetadata("{not json"))).message).toBeTruthy()
    })
  )
})
