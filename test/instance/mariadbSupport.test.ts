import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { backupUser, prepareMariadb, startMariadb } from "../../src/sandbox/mariadb.ts"

describe("test/support/mariadb", () => {
  it.live(
    "starts a server with binlog + GTID, loads sample data, checksums tables and stops by PID",
    () =>
      Effect.gen(function* () {
        const db = yield* startMariadb()
        yield* db.createUser(backupUser.user, backupUser.password, backupUser.grants)
        assert.strictEqual(yield* db.gtidPosition, "")
        yield* db.loadSampleData({ tables: 2, bytes: 1024 * 1024 })
        const sums = yield* db.checksums
        assert.deepStrictEqual(Object.keys(sums), ["shop.t1", "shop.t2"])
        assert.match(sums["shop.t1"] ?? "", /^\d+$/u)
        assert.match(yield* db.gtidPosition, /^0-1-\d+$/u)
        const rows = yield* db.query("SELECT COUNT(*) AS n FROM t1", "shop")
        assert.isAbove(Number(rows[0]?.n), 1000)
        yield* db.stop
        assert.throws(() => process.kill(db.pid, 0))
      }),
    60_000
  )

  it.live(
    "a data directory that cannot be initialised fails with the bootstrap server's own reasons (its error log)",
    () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(Effect.scoped(prepareMariadb({ bufferPoolSize: "bogus" })))
        assert.strictEqual(error._tag, "MariadbError")
        assert.include(error.message, "mariadb-install-db failed")
        assert.include(error.message, "Unknown suffix 'b' used for variable 'innodb-buffer-pool-size'")
      }),
    60_000
  )
})
