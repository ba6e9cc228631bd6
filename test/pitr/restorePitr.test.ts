/**
 * Point-in-time recovery through the restore itself, on real MariaDB: a real `mariabackup` base backup stored
 * next to the archive the archiver wrote, then `restore()` with a recovery target. The base backup is chosen by
 * the catalog among those that end before the target; the replay runs on the restore's private server right
 * after the GTID state; an unreachable target and a damaged archived binlog are refused before the data
 * directory is touched, and the binlog's damage is never blamed on the base backup.
 */
import { existsSync } from "node:fs"
import { readdir } from "node:fs/promises"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { mariadb } from "../../src/instance/flavor.ts"
import { binlogArchivePrefix, binlogFileKeys } from "../../src/objectstore/binlogLayout.ts"
import { ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { runArchiver } from "../../src/pitr/archiver.ts"
import { restore } from "../../src/recovery/restore.ts"
import { startMariadb, writeRestoredServerDefaults } from "../../src/sandbox/mariadb.ts"
import { localBackup, storeBackup } from "../recovery/support.ts"
import { readObject, s3rverStoreLayer, tempDir, untilArchived } from "./support.ts"

/** A fresh parent directory with the restored server's option file; `data/` does not exist yet. */
const restoreTarget = (serverId: number) =>
  Effect.gen(function* () {
    const parent = yield* tempDir("pitr-restore")
    const dataDir = join(parent, "data")
    const serverDefaultsFile = yield* writeRestoredServerDefaults(parent, dataDir, serverId)
    return { parent, dataDir, serverDefaultsFile }
  })

const dataDirEntries = (dataDir: string) =>
  Effect.promise(async () => (existsSync(dataDir) ? (await readdir(dataDir)).sort() : []))

describe("restore with a recovery target", () => {
  it.live(
    "replays to a GTID and a time target just before a DROP from the right base backup; unreachable and damaged binlogs are refused before the data directory is touched",
    () =>
      Effect.gen(function* () {
        const cluster = "shop"
        const path = "pitr"
        const primary = yield* startMariadb()
        yield* primary.createUser("archiver", "arch-pw-1", "REPLICATION SLAVE, BINLOG MONITOR")
        const credentialsFile = yield* primary.credentialsFile("archiver", "arch-pw-1")
        const prefix = yield* binlogArchivePrefix(path, cluster)
        const archiver = yield* Effect.forkScoped(
          runArchiver({
            source: { host: "127.0.0.1", port: primary.port, credentialsFile },
            dumpServerId: 4003,
            workDir: join(yield* tempDir("pitr-restore"), "work"),
            archivePrefix: prefix,
            identity: { version: 1, cluster, namespace: "db" },
            pollInterval: "200 millis"
          })
        )
        yield* primary.exec("CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY, v TEXT)")
        yield* primary.exec("INSERT INTO app.t VALUES (1, 'a'), (2, 'b')")
        const base = yield* localBackup(primary)
        // after the base backup: rows, an account (replayed on a server without grant tables loaded), a file switch
        yield* primary.exec("INSERT INTO app.t VALUES (3, 'c')")
        yield* primary.exec("CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'; GRANT SELECT ON app.* TO 'app'@'%'")
        yield* primary.exec("FLUSH BINARY LOGS")
        yield* primary.exec("INSERT INTO app.t VALUES (4, 'd')")
        const beforeDrop = yield* primary.gtidPosition
        yield* Effect.sleep("1200 millis")
        const dropTime =
          (yield* primary.query("SELECT DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%dT%H:%i:%sZ') AS t"))[0]?.t ?? ""
        yield* primary.exec("DROP TABLE app.t")
        yield* primary.exec("CREATE TABLE app.after_drop (id INT PRIMARY KEY)")
        // a newer base backup that ends after the GTID target: the catalog must pass over it
        const later = yield* localBackup(primary)
        yield* primary.exec("FLUSH BINARY LOGS")
        const _listed = yield* untilArchived(primary, prefix)
        yield* Fiber.interrupt(archiver)

        // metadata stoppedAt is 2026-11-23T20:47:59Z for both: only the GTIDs tell them apart
        const older = yield* storeBackup({
          path,
          cluster,
          backupId: "20261123T100000Z",
          archive: base.bytes,
          endGtid: base.endGtid
        })
        yield* storeBackup({
          path,
          cluster,
          backupId: "20261123T110000Z",
          archive: later.bytes,
          endGtid: later.endGtid
        })

        // GTID target from the latest completed backup under the prefix: the older one is the only eligible base
        const byGtid = yield* restoreTarget(2)
        const result = yield* restore({
          flavor: mariadb,
          source: { _tag: "Prefix", path, cluster },
          dataDir: byGtid.dataDir,
          serverDefaultsFile: byGtid.serverDefaultsFile,
          recoveryTarget: { _tag: "Gtid", gtid: beforeDrop }
        })
        assert.strictEqual(result.backupId, "20261123T100000Z")
        assert.strictEqual(result.gtid, beforeDrop)
        assert.strictEqual(result.pointInTime?.startGTID, base.endGtid)
        assert.strictEqual(result.pointInTime?.target, `targetGTID ${beforeDrop}`)
        assert.isAbove(result.pointInTime?.binlogFiles.length ?? 0, 1)
        assert.isUndefined(result.binlog)
        const restored = yield* startMariadb({ dataDir: byGtid.dataDir, serverId: 2 })
        assert.deepStrictEqual(
          (yield* restored.query("SELECT id, v FROM app.t ORDER BY id")).map((r) => `${r.id}${r.v}`),
          ["1a", "2b", "3c", "4d"]
        )
        assert.strictEqual(
          (yield* restored.query("SELECT COUNT(*) AS n FROM mysql.user WHERE user = 'app'"))[0]?.n,
          "1"
        )
        assert.strictEqual(
          (yield* restored.query(
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_name = 'after_drop'"
          ))[0]?.n,
          "0"
        )
        assert.strictEqual(yield* restored.gtidPosition, beforeDrop)
        yield* restored.stop

        // time target (exclusive) through the Backup object's keys: the same rows, the same final GTID
        const byTime = yield* restoreTarget(3)
        const timed = yield* restore({
          flavor: mariadb,
          source: {
            _tag: "Keys",
            archiveKey: older.keys.archiveKey,
            metadataKey: older.keys.metadataKey,
            expectedSha256: older.metadata.archive.sha256,
            expectedSize: older.metadata.archive.size
          },
          dataDir: byTime.dataDir,
          serverDefaultsFile: byTime.serverDefaultsFile,
          recoveryTarget: { _tag: "Time", time: dropTime }
        })
        assert.strictEqual(timed.gtid, beforeDrop)
        const timedServer = yield* startMariadb({ dataDir: byTime.dataDir, serverId: 3 })
        assert.deepStrictEqual(
          (yield* timedServer.query("SELECT id FROM app.t ORDER BY id")).map((r) => r.id),
          ["1", "2", "3", "4"]
        )
        yield* timedServer.stop

        // after the last archived transaction: refused, nothing written into the data directory
        const beyond = yield* restoreTarget(4)
        const unreachable = yield* Effect.flip(
          restore({
            flavor: mariadb,
            source: { _tag: "Prefix", path, cluster },
            dataDir: beyond.dataDir,
            serverDefaultsFile: beyond.serverDefaultsFile,
            recoveryTarget: { _tag: "Gtid", gtid: "0-1-999" }
          })
        )
        assert.strictEqual(unreachable._tag, "RecoveryTargetUnreachable")
        assert.deepStrictEqual(yield* dataDirEntries(beyond.dataDir), [])

        // a time target before every base backup stopped
        const early = yield* Effect.flip(
          restore({
            flavor: mariadb,
            source: { _tag: "Prefix", path, cluster },
            dataDir: beyond.dataDir,
            serverDefaultsFile: beyond.serverDefaultsFile,
            recoveryTarget: { _tag: "Time", time: "2026-11-23T20:00:00Z" }
          })
        )
        assert.strictEqual(early._tag, "RecoveryTargetUnreachable")
        assert.strictEqual(early._tag === "RecoveryTargetUnreachable" ? early.why : "", "BeforeFirstRecoverablePoint")

        // a flipped byte in an archived binlog: ChecksumMismatch of that binlog, even with usePrevious, data untouched
        const firstFile = result.pointInTime?.binlogFiles[0]?.split("/") ?? []
        const keys = yield* binlogFileKeys(prefix, firstFile[0] ?? "", firstFile[1] ?? "")
        const good = yield* readObject(keys.fileKey)
        const bad = Buffer.from(good)
        bad[bad.length - 10] = (bad[bad.length - 10] ?? 0) ^ 0xff
        yield* ObjectStoreClient.use((s3) => s3.putObject(keys.fileKey, bad))
        const damaged = yield* Effect.flip(
          restore({
            flavor: mariadb,
            source: { _tag: "Prefix", path, cluster },
            dataDir: beyond.dataDir,
            serverDefaultsFile: beyond.serverDefaultsFile,
            onDamagedLatest: "usePrevious",
            recoveryTarget: { _tag: "Gtid", gtid: beforeDrop }
          })
        )
        assert.strictEqual(damaged._tag, "ChecksumMismatch")
        assert.strictEqual(damaged._tag === "ChecksumMismatch" ? damaged.key : "", keys.fileKey)
        assert.deepStrictEqual(yield* dataDirEntries(beyond.dataDir), [])
      }).pipe(Effect.provide(storeLayer), Effect.scoped),
    300_000
  )
})

const storeLayer = s3rverStoreLayer("pitr-restore")
