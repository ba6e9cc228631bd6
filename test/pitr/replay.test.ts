/**
 * Replay of a recovery plan from the archive into a server at the base backup's position, on real MariaDB: the
 * rows up to a GTID target are there and the dropped table survives; a flipped byte in an archived file is
 * `ChecksumMismatch` before anything is applied; into a private server with grant tables skipped and a root
 * account with a password (a recovery Job's), the GTID check after the replay still reads the position.
 */
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { binlogArchivePrefix, binlogFileKeys } from "../../src/objectstore/binlogLayout.ts"
import { ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { archivedManifests } from "../../src/pitr/archiveCatalog.ts"
import { runArchiver } from "../../src/pitr/archiver.ts"
import { pointInTimeRecovery } from "../../src/pitr/pointInTimeRecovery.ts"
import { planRecovery } from "../../src/pitr/recoveryPlan.ts"
import { replayArgs, replayPlan } from "../../src/pitr/replay.ts"
import { sqlClient, startMariadb } from "../../src/sandbox/mariadb.ts"
import { readObject, s3rverStoreLayer, tempDir, untilArchived } from "./support.ts"

describe("replay of a recovery plan", () => {
  it("mariadb-binlog arguments: exclusive GTID start, inclusive stop, UTC stop time without the Z", () => {
    const plan = { backup: { backupId: "b", endGTID: "0-1-19", stoppedAt: "2026-12-01T20:00:00Z" }, files: [] }
    assert.deepStrictEqual(replayArgs({ ...plan, startPosition: "0-1-19", stopPosition: "0-1-23" }, ["/s/a"]), [
      "--no-defaults",
      "--start-position=0-1-19",
      "--stop-position=0-1-23",
      "/s/a"
    ])
    assert.deepStrictEqual(replayArgs({ ...plan, startPosition: "", stopTime: "2026-12-01T20:02:42.500Z" }, []), [
      "--no-defaults",
      "--stop-datetime=2026-12-01 20:02:42"
    ])
  })

  it.live(
    "replays up to a GTID target and to a time target just before a DROP TABLE; a flipped byte is ChecksumMismatch",
    () =>
      Effect.gen(function* () {
        const primary = yield* startMariadb()
        // The base: a server with the backup's data and GTID state (here: empty, before any transaction).
        const restored = yield* startMariadb({ serverId: 2 })
        yield* primary.createUser("archiver", "arch-pw-1", "REPLICATION SLAVE, BINLOG MONITOR")
        const credentialsFile = yield* primary.credentialsFile("archiver", "arch-pw-1")
        const prefix = yield* binlogArchivePrefix("", "cluster-a")
        const archiver = yield* Effect.forkScoped(
          runArchiver({
            source: { host: "127.0.0.1", port: primary.port, credentialsFile },
            dumpServerId: 4002,
            workDir: join(yield* tempDir("replay"), "work"),
            archivePrefix: prefix,
            identity: { version: 1, cluster: "cluster-a", namespace: "db" },
            pollInterval: "200 millis"
          })
        )
        yield* primary.exec("CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY, v TEXT)")
        yield* primary.exec("INSERT INTO app.t VALUES (1, 'a'); INSERT INTO app.t VALUES (2, 'b')")
        yield* primary.exec("FLUSH BINARY LOGS")
        yield* primary.exec("INSERT INTO app.t VALUES (3, 'c')")
        const beforeDrop = yield* primary.gtidPosition
        // The DROP commits in a later second than every row: a time target of that second excludes only the DROP.
        yield* Effect.sleep("1200 millis")
        const dropTime =
          (yield* primary.query("SELECT DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%dT%H:%i:%sZ') AS t"))[0]?.t ?? ""
        yield* primary.exec("DROP TABLE app.t")
        yield* primary.exec("FLUSH BINARY LOGS")
        const listed = yield* untilArchived(primary, prefix)
        yield* Fiber.interrupt(archiver)

        const manifests = yield* archivedManifests(prefix)
        assert.strictEqual(manifests.length, listed.length - 1)
        const plan = yield* planRecovery({
          backups: [{ backupId: "base", endGTID: "", stoppedAt: "2026-01-01T00:00:00Z" }],
          manifests,
          target: { _tag: "Gtid", gtid: beforeDrop }
        })
        assert.isAbove(plan.files.length, 0)

        // A flipped byte in the first planned file: nothing is applied.
        const first = yield* binlogFileKeys(prefix, "server-1", plan.files[0]?.file ?? "")
        const good = yield* readObject(first.fileKey)
        const bad = Buffer.from(good)
        bad[bad.length - 10] = (bad[bad.length - 10] ?? 0) ^ 0xff
        yield* ObjectStoreClient.use((s3) => s3.putObject(first.fileKey, bad))
        const target = { defaultsFile: restored.defaultsFile, scratchDir: yield* tempDir("replay") }
        const mismatch = yield* Effect.flip(replayPlan(plan, prefix, target))
        assert.strictEqual(mismatch._tag, "ChecksumMismatch")
        assert.strictEqual(yield* restored.gtidPosition, "")

        yield* ObjectStoreClient.use((s3) => s3.putObject(first.fileKey, good))
        const base = { backupId: "base", endGTID: "", stoppedAt: "2026-01-01T00:00:00Z" }
        // A target after the last archived transaction is refused before anything is applied.
        const beyond = yield* Effect.flip(
          pointInTimeRecovery({
            archivePrefix: prefix,
            backup: base,
            target: { _tag: "Gtid", gtid: "0-1-999" },
            server: target
          })
        )
        assert.strictEqual(beyond._tag, "RecoveryTargetUnreachable")
        assert.strictEqual(yield* restored.gtidPosition, "")

        const recovered = yield* pointInTimeRecovery({
          archivePrefix: prefix,
          backup: base,
          target: { _tag: "Gtid", gtid: beforeDrop },
          server: target
        })
        assert.strictEqual(recovered.gtid, beforeDrop)
        assert.deepStrictEqual(recovered.plan.files, plan.files)
        const rows = yield* restored.query("SELECT id, v FROM app.t ORDER BY id")
        assert.deepStrictEqual(
          rows.map((r) => `${r.id}${r.v}`),
          ["1a", "2b", "3c"]
        )
        assert.strictEqual(yield* restored.gtidPosition, beforeDrop)

        // The same recovery by time, into another server at the base's position.
        const byTime = yield* startMariadb({ serverId: 3 })
        const timed = yield* pointInTimeRecovery({
          archivePrefix: prefix,
          backup: base,
          target: { _tag: "Time", time: dropTime },
          server: { defaultsFile: byTime.defaultsFile, scratchDir: yield* tempDir("replay") }
        })
        assert.strictEqual(timed.gtid, beforeDrop)
        assert.deepStrictEqual(
          (yield* byTime.query("SELECT id FROM app.t ORDER BY id")).map((r) => r.id),
          ["1", "2", "3"]
        )

        // The restore's private server: grant tables skipped, and a root account that needs a password (in a
        // recovery Job it is the source's, whose password the Job does not have). The replay's session loads the
        // grant tables, which turns authentication on for the whole server: the GTID check after the replay
        // must not need a new connection (it was refused in the sandbox e2e).
        const locked = yield* startMariadb({ serverId: 4, serverArgs: ["--skip-grant-tables"] })
        yield* locked.exec(
          "SET SESSION sql_log_bin=0; UPDATE mysql.global_priv SET Priv = JSON_SET(Priv, '$.plugin', 'mysql_native_password', '$.authentication_string', PASSWORD('root-pw-1')) WHERE User = 'root'"
        )
        const withGrants = yield* pointInTimeRecovery({
          archivePrefix: prefix,
          backup: base,
          target: { _tag: "Gtid", gtid: beforeDrop },
          server: { defaultsFile: locked.defaultsFile, scratchDir: yield* tempDir("replay"), grantTablesSkipped: true }
        })
        assert.strictEqual(withGrants.gtid, beforeDrop)
        const passwordless = yield* Effect.flip(locked.query("SELECT 1"))
        assert.include(passwordless.message, "Access denied", "authentication is on after the replay")
        const asRoot = sqlClient([
          `--defaults-file=${yield* locked.credentialsFile("root", "root-pw-1")}`,
          `--socket=${locked.socket}`
        ])
        assert.deepStrictEqual(
          (yield* asRoot.query("SELECT id FROM app.t ORDER BY id")).map((r) => r.id),
          ["1", "2", "3"]
        )
        assert.strictEqual(yield* asRoot.gtidPosition, beforeDrop)
      }).pipe(Effect.provide(storeLayer), Effect.scoped),
    240_000
  )
})

const storeLayer = s3rverStoreLayer("binlogs")
