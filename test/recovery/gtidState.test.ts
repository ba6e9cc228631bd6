/**
 * The restore's private server on a real MariaDB data directory: the replay step after the GTID state runs
 * without an fsync per commit, and nothing of that outlives the private server; the file-system flush that ends
 * a restore fails loudly when it cannot run.
 */
import { spawnSync } from "node:child_process"
import { readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mariadb } from "../../src/instance/flavor.ts"
import { syncDataDir } from "../../src/recovery/dataDir.ts"
import { applyGtidState } from "../../src/recovery/gtidState.ts"
import { startMariadb } from "../../src/sandbox/mariadb.ts"

const durabilitySettings = (defaultsFile: string): string => {
  const out = spawnSync(
    mariadb.sqlClient,
    [`--defaults-file=${defaultsFile}`, "-N", "-B", "-e", "SELECT @@innodb_flush_log_at_trx_commit, @@sync_binlog"],
    { encoding: "utf8" }
  )
  if (out.status !== 0) throw new Error(`query failed: ${out.stderr}`)
  return out.stdout.trim().replace("\t", " ")
}

describe("the restore's private server", () => {
  it.live(
    "relaxes commit durability only while the replay runs; the server's own settings come back with its first start",
    () =>
      Effect.gen(function* () {
        const source = yield* startMariadb({ serverId: 7 })
        yield* source.stop
        // the option file asks for full durability, so a relaxed replay cannot be the file's own setting
        const text = yield* Effect.promise(() => readFile(source.defaultsFile, "utf8"))
        const durable = join(source.dataDir, "..", "durable.cnf")
        yield* Effect.promise(() =>
          writeFile(durable, text.replace("[mysqld]\n", "[mysqld]\ninnodb_flush_log_at_trx_commit=1\nsync_binlog=1\n"))
        )
        const duringReplay = yield* applyGtidState({
          flavor: mariadb,
          gtid: "0-7-40",
          dataDir: source.dataDir,
          serverDefaultsFile: durable,
          workDir: join(source.dataDir, ".."),
          afterState: (server) => Effect.sync(() => durabilitySettings(server.defaultsFile))
        })
        assert.strictEqual(duringReplay, "2 0")

        const restarted = yield* startMariadb({ dataDir: source.dataDir, serverId: 7 })
        assert.strictEqual(yield* restarted.gtidPosition, "0-7-40")
        const settings = yield* restarted.query("SELECT @@innodb_flush_log_at_trx_commit AS f")
        assert.strictEqual(settings[0]?.f, "1")
        yield* restarted.stop
      }),
    120_000
  )

  it.live("a file-system flush that cannot run is RestoreCopyBackFailed naming the data directory", () =>
    Effect.gen(function* () {
      const missing = "/nonexistent/cnm-restore-data"
      const error = yield* syncDataDir(missing).pipe(Effect.flip)
      assert.strictEqual(error._tag, "RestoreCopyBackFailed")
      assert.strictEqual(error.dataDir, missing)
      assert.include(error.message, "flushing the restored files to disk failed")
    })
  )
})
