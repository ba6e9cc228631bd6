/**
 * The restore's point-in-time inputs without a server: which base backup the catalog picks for a target (the
 * latest that ends before it; damage judged only where it matters), the archive prefix next to a backup, the
 * environment's target, and the UTC stop time of an offset target.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { RestoreEnv } from "../../src/api/jobs.ts"
import { binlogArchivePrefix, binlogArchivePrefixOfBackup } from "../../src/objectstore/binlogLayout.ts"
import { findBackup } from "../../src/objectstore/catalog.ts"
import { encodeMetadata } from "../../src/objectstore/metadata.ts"
import { ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { eligibility } from "../../src/pitr/pointInTimeRecovery.ts"
import { replayArgs } from "../../src/pitr/replay.ts"
import { recoveryTargetOf } from "../../src/recovery/main.ts"
import { sampleMetadata, sha256 } from "../pipeline/support.ts"

const text = (s: string) => new TextEncoder().encode(s)

/** A completed backup under `prod/main/nightly/<id>/` ending at `endGTID` and stopping at `stoppedAt`. */
const store = (id: string, endGTID: string, stoppedAt: string, damaged = false) =>
  ObjectStoreClient.use((client) =>
    Effect.gen(function* () {
      const archive = text(`archive ${id}`)
      const archiveKey = `prod/main/nightly/${id}/backup.xbstream`
      yield* client.putObject(archiveKey, damaged ? archive.subarray(1) : archive)
      const metadata = {
        ...sampleMetadata(id, { key: archiveKey, size: archive.length, sha256: sha256(archive) }),
        endGTID,
        stoppedAt
      }
      yield* client.putObject(`prod/main/nightly/${id}/metadata.json`, text(encodeMetadata(metadata)))
    })
  )

const memory = ObjectStoreClient.layerMemory({ bucket: "backups" })

const env = (extra: Partial<RestoreEnv>): RestoreEnv => ({
  RESTORE_DATA_DIR: "/var/lib/mysql",
  RESTORE_SERVER_DEFAULTS_FILE: "/etc/my.cnf",
  ...extra
})

describe("point-in-time inputs of the restore", () => {
  it.effect(
    "the catalog picks the latest backup that ends before a GTID target, else BeforeFirstRecoverablePoint",
    () =>
      Effect.gen(function* () {
        yield* store("20261120T010000Z", "0-1-10", "2026-11-20T01:05:00Z")
        yield* store("20261121T010000Z", "0-1-20", "2026-11-21T01:05:00Z")
        yield* store("20261122T010000Z", "0-1-30", "2026-11-22T01:05:00Z")
        const pick = (gtid: string) =>
          findBackup("prod", "main", undefined, { eligibility: eligibility({ _tag: "Gtid", gtid }) })
        assert.strictEqual((yield* pick("0-1-25")).backupId, "20261121T010000Z")
        assert.strictEqual((yield* pick("0-1-20")).backupId, "20261121T010000Z")
        assert.strictEqual((yield* pick("0-1-99")).backupId, "20261122T010000Z")
        const none = yield* Effect.flip(pick("0-1-5"))
        assert.strictEqual(none._tag, "RecoveryTargetUnreachable")
        assert.strictEqual(none._tag === "RecoveryTargetUnreachable" ? none.why : "", "BeforeFirstRecoverablePoint")
        // without a target, the latest completed one, as before
        assert.strictEqual((yield* findBackup("prod", "main")).backupId, "20261122T010000Z")
      }).pipe(Effect.provide(memory))
  )

  it.effect("a time target: backups that stopped at or after it are passed over, their damage never judged", () =>
    Effect.gen(function* () {
      yield* store("20261120T010000Z", "0-1-10", "2026-11-20T01:05:00Z")
      yield* store("20261121T010000Z", "0-1-20", "2026-11-21T01:05:00Z")
      // created after the target: cannot be the base, so its damage does not matter
      yield* store("20261122T010000Z", "0-1-30", "2026-11-22T01:05:00Z", true)
      const pick = (time: string) =>
        findBackup("prod", "main", undefined, { eligibility: eligibility({ _tag: "Time", time }) })
      assert.strictEqual((yield* pick("2026-11-21T12:00:00Z")).backupId, "20261121T010000Z")
      // stoppedAt 01:05:00 is not before an exclusive target of 01:05:00, nor of 01:05:00.9 (whole seconds)
      assert.strictEqual((yield* pick("2026-11-21T01:05:00.900Z")).backupId, "20261120T010000Z")
      // an offset is a time like any other: 03:05+02:00 is 01:05Z
      assert.strictEqual((yield* pick("2026-11-21T03:05:01+02:00")).backupId, "20261121T010000Z")
      // a damaged backup that could be the base is still BackupDamaged under the default rule
      const damaged = yield* Effect.flip(pick("2026-11-23T00:00:00Z"))
      assert.strictEqual(damaged._tag, "BackupDamaged")
      const previous = yield* findBackup("prod", "main", undefined, {
        eligibility: eligibility({ _tag: "Time", time: "2026-11-23T00:00:00Z" }),
        onDamagedLatest: "usePrevious"
      })
      assert.strictEqual(previous.backupId, "20261121T010000Z")
      assert.strictEqual(previous.skipped.length, 1)
      const none = yield* Effect.flip(pick("2026-11-19T00:00:00Z"))
      assert.strictEqual(none._tag, "RecoveryTargetUnreachable")
    }).pipe(Effect.provide(memory))
  )

  it.effect("the binlog archive next to a backup is the archive of the cluster it was found under", () =>
    Effect.gen(function* () {
      assert.strictEqual(
        binlogArchivePrefixOfBackup("prod/eu/main/nightly/20261120T010000Z/backup.xbstream"),
        yield* binlogArchivePrefix("prod/eu", "main")
      )
      assert.strictEqual(
        binlogArchivePrefixOfBackup("main/nightly/20261120T010000Z/backup.xbstream"),
        yield* binlogArchivePrefix("", "main")
      )
    })
  )

  it.effect("the environment's target: at most one, in the flavour's GTID form (MariaDB lists, MySQL sets)", () =>
    Effect.gen(function* () {
      assert.isUndefined(yield* recoveryTargetOf(env({})))
      assert.deepStrictEqual(yield* recoveryTargetOf(env({ RESTORE_RECOVERY_TARGET_GTID: "0-1-5,1-2-7" })), {
        _tag: "Gtid",
        gtid: "0-1-5,1-2-7"
      })
      assert.deepStrictEqual(yield* recoveryTargetOf(env({ RESTORE_RECOVERY_TARGET_TIME: "2026-12-01T20:00:00Z" })), {
        _tag: "Time",
        time: "2026-12-01T20:00:00Z"
      })
      const mysqlSet = "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7,6b7f1a2c-0000-4000-8000-000000000001:1-40"
      assert.deepStrictEqual(
        yield* recoveryTargetOf(env({ RESTORE_RECOVERY_TARGET_GTID: mysqlSet, RESTORE_FLAVOR: "mysql" })),
        { _tag: "Gtid", gtid: mysqlSet }
      )
      const refused = [
        env({ RESTORE_RECOVERY_TARGET_GTID: "0-1-5", RESTORE_RECOVERY_TARGET_TIME: "2026-12-01T20:00:00Z" }),
        env({ RESTORE_RECOVERY_TARGET_GTID: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5" }),
        env({ RESTORE_RECOVERY_TARGET_GTID: "0-1-5", RESTORE_FLAVOR: "mysql" }),
        env({ RESTORE_RECOVERY_TARGET_GTID: "3e11fa47-71ca-11e1-9e33-c80aa9429562:0-5", RESTORE_FLAVOR: "mysql" })
      ]
      for (const e of refused) {
        assert.strictEqual((yield* Effect.flip(recoveryTargetOf(e)))._tag, "InvalidConfiguration")
      }
    })
  )

  it("--stop-datetime is the target in UTC, whatever offset it was written with", () => {
    const plan = {
      backup: { backupId: "b", endGTID: "", stoppedAt: "2026-12-01T00:00:00Z" },
      files: [],
      startPosition: ""
    }
    assert.deepStrictEqual(replayArgs({ ...plan, stopTime: "2026-12-01T22:02:42.700+02:00" }, []), [
      "--no-defaults",
      "--stop-datetime=2026-12-01 20:02:42"
    ])
  })
})
