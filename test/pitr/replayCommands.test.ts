/**
 * The replay pipeline's command lines and checks (`applyPlan` in `src/pitr/replay.ts`) with stand-ins for the
 * decoder and the SQL client on PATH: this machine has no MySQL 8.4, so the MySQL replay is tested here by what
 * it runs and how it judges the server's answers, not against a server. The stand-ins record their argv,
 * environment and stdin, and answer the executed GTID state the test gives them (`STUB_BEFORE` for the check
 * before the replay, `STUB_AFTER` after the replay's own statements; no `STUB_AFTER`: no answer).
 *
 * Also MariaDB's "no GTID position read" branch: both tools exit 0, but the replay's session printed no
 * position, which must fail rather than pass unchecked.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { FlavorName } from "../../src/api/common.ts"
import { flavorOf } from "../../src/instance/flavor.ts"
import type { RecoveryPlan } from "../../src/pitr/recoveryPlan.ts"
import { applyPlan } from "../../src/pitr/replay.ts"

const A = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
const B = "6b7f1a2c-0000-4000-8000-000000000001"

const decoderStub = `#!/bin/sh
printf '%s\\n' "$@" > "$STUB_DIR/decoder.args"
printf '%s\\n' "$TZ" > "$STUB_DIR/decoder.tz"
for a in "$@"; do case "$a" in --*) ;; *) cat "$a" ;; esac; done
`
const clientStub = `#!/bin/sh
case " $* " in
  *" --binary-mode "*)
    printf '%s\\n' "$@" > "$STUB_DIR/client.args"
    cat > "$STUB_DIR/client.stdin"
    if [ -n "$STUB_AFTER" ]; then printf 'cnm-replayed-gtid:%s\\n' "$STUB_AFTER"; fi ;;
  *)
    cat > "$STUB_DIR/check.stdin"
    printf '%s\\n' "$STUB_BEFORE" ;;
esac
`

/** Stand-ins for `flavor`'s decoder and client first on PATH, in a temp dir, for the scope. */
const stubs = (flavor: FlavorName, answers: { readonly before: string; readonly after?: string }) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const dir = await mkdtemp(join(tmpdir(), "cnm-replay-stubs-"))
      const { binlogDecoder, sqlClient } = flavorOf(flavor)
      await writeFile(join(dir, binlogDecoder), decoderStub)
      await writeFile(join(dir, sqlClient), clientStub)
      await chmod(join(dir, binlogDecoder), 0o755)
      await chmod(join(dir, sqlClient), 0o755)
      await writeFile(join(dir, "binlog.000003"), "-- the decoded binlog\n")
      await writeFile(join(dir, "client.cnf"), "[client]\n")
      const saved = { PATH: process.env.PATH, STUB_DIR: process.env.STUB_DIR }
      process.env.PATH = `${dir}:${process.env.PATH ?? ""}`
      process.env.STUB_DIR = dir
      process.env.STUB_BEFORE = answers.before
      if (answers.after === undefined) delete process.env.STUB_AFTER
      else process.env.STUB_AFTER = answers.after
      return { dir, saved }
    }),
    ({ dir, saved }) =>
      Effect.promise(async () => {
        process.env.PATH = saved.PATH
        delete process.env.STUB_DIR
        delete process.env.STUB_BEFORE
        delete process.env.STUB_AFTER
        await rm(dir, { recursive: true, force: true })
      })
  ).pipe(
    Effect.map(({ dir }) => ({
      dir,
      file: join(dir, "binlog.000003"),
      server: { defaultsFile: join(dir, "client.cnf"), grantTablesSkipped: true as const },
      read: (name: string) => Effect.promise(() => readFile(join(dir, name), "utf8").catch(() => undefined))
    }))
  )

const mysqlPlan = (stop: { readonly stopPosition: string } | { readonly stopTime: string }): RecoveryPlan => ({
  backup: { backupId: "b", endGTID: `${A}:1-10`, stoppedAt: "2026-12-01T20:00:00Z" },
  files: [],
  startPosition: `${A}:1-10`,
  ...stop,
  flavor: "mysql"
})

describe("MySQL 8.4 replay (stand-ins for mysqlbinlog and mysql)", () => {
  it.live("exactly the target's transactions the backup lacks, TZ=UTC, then gtid_executed = backup ∪ target", () =>
    Effect.gen(function* () {
      const s = yield* stubs("mysql", { before: `${A}:1-10`, after: `${A}:1-14,${B}:1-2` })
      const after = yield* applyPlan(mysqlPlan({ stopPosition: `${A}:1-14,${B}:1-2` }), [s.file], s.server)
      assert.strictEqual(after, `${A}:1-14,${B}:1-2`)
      assert.deepStrictEqual((yield* s.read("decoder.args"))?.trim().split("\n"), [
        "--no-defaults",
        `--exclude-gtids=${A}:1-10`,
        `--include-gtids=${A}:1-14,${B}:1-2`,
        s.file
      ])
      assert.strictEqual((yield* s.read("decoder.tz"))?.trim(), "UTC")
      assert.deepStrictEqual((yield* s.read("client.args"))?.trim().split("\n"), [
        `--defaults-file=${s.server.defaultsFile}`,
        "--binary-mode",
        "--batch",
        "--skip-column-names",
        "--init-command=FLUSH LOCAL PRIVILEGES"
      ])
      // the decoded binlog, then the replay session's own read of gtid_executed on one line
      assert.strictEqual(
        yield* s.read("client.stdin"),
        "-- the decoded binlog\n\nSELECT CONCAT('cnm-replayed-gtid:', REPLACE(@@GLOBAL.gtid_executed, '\\n', ''));\n"
      )
      assert.strictEqual((yield* s.read("check.stdin"))?.trim(), "SELECT REPLACE(@@GLOBAL.gtid_executed, '\\n', '')")
    }).pipe(Effect.scoped)
  )

  it.live("a server that ends short of the target is RecoveryTargetUnreachable; past it, BinlogReplayFailed", () =>
    Effect.gen(function* () {
      const short = yield* stubs("mysql", { before: `${A}:1-10`, after: `${A}:1-12` })
      const unreached = yield* Effect.flip(
        applyPlan(mysqlPlan({ stopPosition: `${A}:1-14` }), [short.file], short.server)
      )
      assert.strictEqual(unreached._tag, "RecoveryTargetUnreachable")
      assert.include(unreached.message, `ended at '${A}:1-12'`)
    }).pipe(
      Effect.scoped,
      Effect.andThen(
        Effect.gen(function* () {
          const past = yield* stubs("mysql", { before: `${A}:1-10`, after: `${A}:1-15` })
          const error = yield* Effect.flip(
            applyPlan(mysqlPlan({ stopPosition: `${A}:1-14` }), [past.file], past.server)
          )
          assert.strictEqual(error._tag, "BinlogReplayFailed")
          assert.include(error.message, "went past the target")
        }).pipe(Effect.scoped)
      )
    )
  )

  it.live("a server not at the backup's set is refused before the decoder runs (something wrote to it)", () =>
    Effect.gen(function* () {
      const s = yield* stubs("mysql", { before: `${A}:1-11`, after: `${A}:1-14` })
      const error = yield* Effect.flip(applyPlan(mysqlPlan({ stopPosition: `${A}:1-14` }), [s.file], s.server))
      assert.strictEqual(error._tag, "BinlogReplayFailed")
      assert.include(error.message, "something wrote to it before the replay")
      assert.isUndefined(yield* s.read("decoder.args"))
    }).pipe(Effect.scoped)
  )

  it.live("a time target stops at the UTC second; the backup's set is still excluded", () =>
    Effect.gen(function* () {
      const s = yield* stubs("mysql", { before: `${A}:1-10`, after: `${A}:1-13` })
      yield* applyPlan(mysqlPlan({ stopTime: "2026-12-01T22:02:42.5+02:00" }), [s.file], s.server)
      assert.deepStrictEqual((yield* s.read("decoder.args"))?.trim().split("\n"), [
        "--no-defaults",
        `--exclude-gtids=${A}:1-10`,
        "--stop-datetime=2026-12-01 20:02:42",
        s.file
      ])
    }).pipe(Effect.scoped)
  )
})

describe("MariaDB replay's final read (stand-ins for mariadb-binlog and mariadb)", () => {
  it.live("both tools exit 0 but the session printed no GTID position: BinlogReplayFailed, not a pass", () =>
    Effect.gen(function* () {
      const s = yield* stubs("mariadb", { before: "0-1-19" })
      const plan: RecoveryPlan = {
        backup: { backupId: "b", endGTID: "0-1-19", stoppedAt: "2026-12-01T20:00:00Z" },
        files: [],
        startPosition: "0-1-19",
        stopPosition: "0-1-23"
      }
      const error = yield* Effect.flip(applyPlan(plan, [s.file], s.server))
      assert.strictEqual(error._tag, "BinlogReplayFailed")
      assert.strictEqual(
        error.message,
        "binlog replay failed: mariadb-binlog exited 0, mariadb exited 0, no GTID position read after the replay"
      )
      assert.include(yield* s.read("client.stdin"), "SELECT CONCAT('cnm-replayed-gtid:', @@gtid_binlog_pos);")
    }).pipe(Effect.scoped)
  )
})
