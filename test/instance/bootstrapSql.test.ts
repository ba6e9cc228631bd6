// The SQL of the operator's accounts and of a replica join, for both flavours (MySQL cannot run here: its SQL is
// checked as text; MariaDB's also runs for real in replicaJoin.test.ts), and the init file's one-line statements.
import { mkdtemp, readFile, rm, stat } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { initStatements, writeInitFile } from "../../src/instance/bootstrap.ts"
import { mariadb, mysql, sqlString } from "../../src/instance/flavor.ts"

const accounts = {
  rootPassword: "r'oot\\pw",
  backupUser: "cnmysql_backup",
  backupPassword: "b",
  replicationUser: "cnmysql_replication",
  replicationPassword: "p",
  archiver: { user: "cnmysql_archiver", password: "a'rch" }
}
const source = { host: "db-rw.ns.svc", port: 3306, user: "cnmysql_replication", password: "p'w", caFile: "/tls/ca.crt" }

describe("account and replica-join SQL", () => {
  it("quotes every value as a SQL string literal", () => {
    assert.strictEqual(sqlString("a'b\\c"), "'a\\'b\\\\c'")
    for (const flavor of [mariadb, mysql]) {
      const sql = flavor.accountsSql(accounts).join(";\n")
      assert.include(sql, "'r\\'oot\\\\pw'")
      assert.notInclude(sql, "r'oot")
    }
  })

  it("accounts never reach the binlog and get only their privileges", () => {
    for (const flavor of [mariadb, mysql]) {
      const statements = flavor.accountsSql(accounts)
      assert.strictEqual(statements[0], "SET SESSION sql_log_bin = 0")
      assert.strictEqual(statements.at(-1), "SET SESSION sql_log_bin = 1")
      const replication = statements.filter((s) => s.includes("cnmysql_replication"))
      assert.isTrue(replication.some((s) => s.endsWith("REQUIRE SSL")))
      assert.isTrue(replication.some((s) => s === "GRANT REPLICATION SLAVE ON *.* TO 'cnmysql_replication'@'%'"))
      assert.isFalse(statements.some((s) => /GRANT ALL/u.test(s)))
      const archiver = statements.filter((s) => s.includes("cnmysql_archiver"))
      assert.isTrue(archiver.some((s) => s.endsWith("REQUIRE SSL") && s.includes("'a\\'rch'")))
      assert.strictEqual(archiver.filter((s) => s.startsWith("GRANT")).length, 1)
      // without an archiver password (credentials from before it existed) there is no archiver account
      const { archiver: _archiver, ...older } = accounts
      assert.isFalse(flavor.accountsSql(older).some((s) => s.includes("cnmysql_archiver")))
    }
    assert.include(
      mariadb.accountsSql(accounts).join("\n"),
      "GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'cnmysql_archiver'@'%'"
    )
    assert.include(
      mysql.accountsSql(accounts).join("\n"),
      "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'cnmysql_archiver'@'%'"
    )
    assert.include(
      mariadb.accountsSql(accounts).join("\n"),
      "GRANT RELOAD, PROCESS, BINLOG MONITOR, SLAVE MONITOR ON *.*"
    )
    assert.include(
      mysql.accountsSql(accounts).join("\n"),
      "GRANT BACKUP_ADMIN, PROCESS, RELOAD, LOCK TABLES, REPLICATION CLIENT ON *.*"
    )
  })

  it("a replica join seeds the GTID state and replicates over verified TLS; a malformed GTID is refused", () => {
    const maria = mariadb.replicaJoinSql("0-7-42", source) ?? []
    assert.deepStrictEqual(maria.slice(0, 4), [
      "STOP SLAVE",
      "RESET MASTER",
      "SET GLOBAL gtid_binlog_state = '0-7-42'",
      "SET GLOBAL gtid_slave_pos = '0-7-42'"
    ])
    assert.include(maria[4] ?? "", "MASTER_SSL_VERIFY_SERVER_CERT = 1")
    assert.include(maria[4] ?? "", "MASTER_USE_GTID = slave_pos")
    assert.include(maria[4] ?? "", "MASTER_PASSWORD = 'p\\'w'")
    assert.deepStrictEqual(mariadb.replicaJoinSql("", source)?.slice(0, 2), [
      "STOP SLAVE",
      "SET GLOBAL gtid_slave_pos = ''"
    ])
    const uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
    const my = mysql.replicaJoinSql(`${uuid}:1-5`, source) ?? []
    assert.deepStrictEqual(my.slice(0, 3), [
      "STOP REPLICA",
      "RESET BINARY LOGS AND GTIDS",
      `SET GLOBAL gtid_purged = '${uuid}:1-5'`
    ])
    assert.include(my[3] ?? "", "SOURCE_AUTO_POSITION = 1")
    assert.include(my[3] ?? "", "SOURCE_SSL_VERIFY_SERVER_CERT = 1")
    assert.isUndefined(mariadb.replicaJoinSql("0-1-1'; DROP TABLE x; --", source))
    assert.isUndefined(mysql.replicaJoinSql("not-a-gtid", source))
    assert.isUndefined(initStatements(mariadb, accounts, { record: { gtid: "bad'", clonedFrom: "x" }, source }))
  })

  it.effect("the init file holds one statement per line, private to its owner", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-init-"))),
        (path) => Effect.promise(() => rm(path, { recursive: true, force: true }))
      )
      const path = yield* writeInitFile(dir, ["SELECT\n  1", "SELECT 2"])
      assert.strictEqual(yield* Effect.promise(() => readFile(path, "utf8")), "SELECT 1;\nSELECT 2;\n")
      assert.strictEqual((yield* Effect.promise(() => stat(path))).mode & 0o777, 0o600)
    }).pipe(Effect.scoped)
  )
})
