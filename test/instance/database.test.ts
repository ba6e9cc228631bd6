import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { backupToolVersion, makeDatabaseAccess, ping, queryStatus, runSql } from "../../src/instance/database.ts"
import { mariadb } from "../../src/instance/flavor.ts"
import { backupUser, type MariadbInstance, startMariadb } from "../../src/sandbox/mariadb.ts"

const accessTo = (db: MariadbInstance, password = backupUser.password) =>
  makeDatabaseAccess({
    flavor: mariadb,
    address: { _tag: "Socket", path: db.socket },
    user: backupUser.user,
    password: Redacted.make(password)
  })

const waitForReplica = (db: MariadbInstance) =>
  Effect.gen(function* () {
    const access = yield* accessTo(db)
    const deadline = Date.now() + 20_000
    for (;;) {
      const status = yield* queryStatus(access)
      const channel = status.replication[0]
      if ((channel?.ioRunning && channel.sqlRunning && channel.lagSeconds !== null) || Date.now() > deadline)
        return status
      yield* Effect.sleep("100 millis")
    }
  })

describe("mariadb flavour against real servers", () => {
  it.live(
    "status queries see a primary and a GTID replica; restore SQL makes a primary continue a GTID sequence",
    () =>
      Effect.gen(function* () {
        const primary = yield* startMariadb({ serverId: 1 })
        const replica = yield* startMariadb({ serverId: 2 })
        for (const db of [primary, replica])
          yield* db.createUser(backupUser.user, backupUser.password, backupUser.grants)
        yield* primary.createUser("repl", "repl-pw", "REPLICATION SLAVE")
        yield* primary.exec(
          "CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY); INSERT INTO app.t VALUES (1), (2)"
        )

        const primaryStatus = yield* queryStatus(yield* accessTo(primary))
        assert.strictEqual(primaryStatus.role, "primary")
        assert.strictEqual(primaryStatus.executedGtid, yield* primary.gtidPosition)
        assert.match(primaryStatus.executedGtid, /^0-1-\d+$/u)

        yield* replica.exec(
          `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${primary.port}, MASTER_USER='repl', MASTER_PASSWORD='repl-pw', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE;`
        )
        const replicaStatus = yield* waitForReplica(replica)
        assert.strictEqual(replicaStatus.role, "replica")
        const channel = replicaStatus.replication[0]
        assert.deepStrictEqual(
          { ...channel, lagSeconds: undefined },
          {
            name: "",
            sourceHost: "127.0.0.1",
            ioRunning: true,
            sqlRunning: true,
            lagSeconds: undefined,
            lastError: null
          }
        )
        assert.isAtLeast(channel?.lagSeconds ?? -1, 0)

        // a restored server: empty GTID state until the flavour's statements set it
        const restored = yield* startMariadb({ serverId: 3 })
        const statements = mariadb.restoreGtidSql("0-1-17")
        assert.isDefined(statements)
        yield* restored.exec(`${(statements ?? []).join(";\n")};`)
        assert.strictEqual(yield* restored.gtidPosition, "0-1-17")
        yield* restored.exec("CREATE DATABASE after_restore")
        assert.strictEqual(yield* restored.gtidPosition, "0-3-18")
      }),
    90_000
  )

  it.live("maps an unreachable server and bad credentials to DatabaseUnavailable; reads the tool version", () =>
    Effect.gen(function* () {
      const db = yield* startMariadb()
      yield* db.createUser(backupUser.user, backupUser.password, backupUser.grants)
      assert.isTrue(yield* ping(yield* accessTo(db)))
      const denied = yield* Effect.flip(runSql(yield* accessTo(db, "wrong"), "SELECT 1"))
      assert.strictEqual(denied._tag, "DatabaseUnavailable")
      assert.include(denied.detail, "Access denied")
      assert.isFalse(yield* ping(yield* accessTo(db, "wrong")))
      yield* db.stop
      const down = yield* Effect.flip(queryStatus(yield* accessTo(db)))
      assert.strictEqual(down._tag, "DatabaseUnavailable")
      assert.match(yield* backupToolVersion(mariadb), /^10\.11\.\d+-MariaDB$/u)
      const missing = yield* Effect.flip(backupToolVersion({ ...mariadb, backupTool: "no-such-backup-tool" }))
      assert.strictEqual(missing._tag, "ToolUnavailable")
    })
  )
})
