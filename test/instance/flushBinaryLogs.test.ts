/**
 * `POST /cluster/flush-binary-logs` against a real MariaDB, as the binlog archiver calls it: the open file is
 * rotated only when it holds transactions, the backup account's privileges suffice, no GTID is used up, and the
 * endpoint is behind the same mTLS as the rest of the API.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { flushBinaryLogs } from "../../src/instance/client.ts"
import { mariadb, mysql } from "../../src/instance/flavor.ts"
import { backupUser, startMariadb } from "../../src/sandbox/mariadb.ts"
import { makePki, startInstanceManager } from "./support.ts"

const binlogs = (rows: ReadonlyArray<Readonly<Record<string, string | null>>>) => rows.map((r) => r.Log_name ?? "")

describe("flush-binary-logs", () => {
  it.live(
    "rotates the open binlog only when it holds transactions; needs a client certificate of the cluster CA",
    () =>
      Effect.gen(function* () {
        const db = yield* startMariadb()
        yield* db.createUser(backupUser.user, backupUser.password, backupUser.grants)
        const pki = yield* makePki
        const manager = yield* startInstanceManager(db, pki, backupUser, [])
        yield* db.exec("CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY)")
        const gtid = yield* db.gtidPosition
        const before = binlogs(yield* db.query("SHOW BINARY LOGS"))

        const first = yield* flushBinaryLogs(manager.url, pki.client)
        assert.isTrue(first.rotated)
        assert.strictEqual(first.file, before.at(-1))
        assert.strictEqual(first.gtid, gtid)
        const after = binlogs(yield* db.query("SHOW BINARY LOGS"))
        assert.strictEqual(after.length, before.length + 1)
        assert.strictEqual(yield* db.gtidPosition, gtid, "the rotation itself is not a transaction")

        // the new file holds no transaction: nothing to rotate
        const idle = yield* flushBinaryLogs(manager.url, pki.client)
        assert.isFalse(idle.rotated)
        assert.strictEqual(idle.file, after.at(-1))
        assert.deepStrictEqual(binlogs(yield* db.query("SHOW BINARY LOGS")), after)

        yield* db.exec("INSERT INTO app.t VALUES (1)")
        assert.isTrue((yield* flushBinaryLogs(manager.url, pki.client)).rotated)

        const refused = yield* Effect.flip(flushBinaryLogs(manager.url, pki.foreignClient))
        assert.strictEqual(refused._tag, "InstanceManagerTLSFailed")
      }).pipe(Effect.scoped),
    120_000
  )

  it("MariaDB asks the server for the file's start state; MySQL rotates whenever asked", () => {
    assert.strictEqual(
      mariadb.binlogStartStateSql("mysql-bin.000007"),
      "SELECT BINLOG_GTID_POS('mysql-bin.000007', 4) AS start"
    )
    assert.isUndefined(mysql.binlogStartStateSql("binlog.000007"))
  })
})
