/**
 * The archive's runs, the archiver's `/status` and the Cluster's recoverability window over MySQL 8.4 GTID sets
 * (no MySQL server here): the same property as for MariaDB (the plan reaches the window's end from its base and
 * from no older backup, or the window is absent for the reason given), over a history whose primary fails over
 * to another server uuid; and the monitor's caught-up judgement against a primary's `gtid_executed`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import { type BinlogManifest, decodeArchiverStatus } from "../../src/api/binlogArchive.ts"
import { type CompletedBackup, recoverabilityWindow } from "../../src/controller/binlogArchiving/decide.ts"
import { makeArchiverMonitor } from "../../src/pitr/archiverStatus.ts"
import { archiveSegments } from "../../src/pitr/archiveSegments.ts"
import { planRecovery } from "../../src/pitr/recoveryPlan.ts"

const A = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
const B = "6b7f1a2c-0000-4000-8000-000000000001"
const T0 = Date.parse("2026-12-01T08:00:00Z")
const time = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString().replace(".000Z", "Z")

const range = (uuid: string, n: number): ReadonlyArray<string> => (n <= 0 ? [] : [`${uuid}:1${n > 1 ? `-${n}` : ""}`])
/** After transaction `seq`: A:1..min(seq, failover), then B:1..(seq - failover). */
const state = (seq: number, failover: number): string =>
  [...range(A, Math.min(seq, failover)), ...range(B, seq - failover)].join(",")

const file = (n: number, from: number, to: number, failover: number): BinlogManifest => ({
  version: 1,
  cluster: "c",
  flavor: "mysql",
  series: from >= failover ? "server-2" : "server-1",
  file: `binlog.${String(n).padStart(6, "0")}`,
  size: 300,
  sha256: "f".repeat(64),
  serverId: from >= failover ? 2 : 1,
  gtidStateBefore: state(from, failover),
  gtidStateAfter: state(to, failover),
  firstEventTime: time(10 * from + 1),
  lastEventTime: time(10 * to + 3),
  archivedAt: time(10 * to + 4)
})

const Sizes = Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 4 }))).check(Schema.isMaxLength(8))
const Dropped = Schema.Array(Schema.Boolean).check(Schema.isMaxLength(8))
const Backups = Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 34 }))).check(
  Schema.isMaxLength(4)
)
const Failover = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 34 }))

describe("recoverability window over MySQL GTID sets", () => {
  it.effect.prop(
    "the plan reaches the window's end from its base and from no older backup, or the window is absent for the reason given",
    { sizes: Sizes, dropped: Dropped, seqs: Backups, failover: Failover },
    ({ sizes, dropped, seqs, failover }) =>
      Effect.gen(function* () {
        let seq = 0
        const manifests = sizes.flatMap((size, i) => {
          const m = file(i + 1, seq, seq + size, failover)
          seq += size
          return dropped[i] === true ? [] : [m]
        })
        const backups: ReadonlyArray<CompletedBackup> = seqs.map((s) => ({
          name: `b${s}`,
          endGTID: state(s, failover),
          stoppedAt: time(10 * s + 5)
        }))
        const reaches = (b: CompletedBackup, target: string) =>
          Effect.map(
            Effect.exit(
              planRecovery({
                backups: [{ backupId: b.name, endGTID: b.endGTID, stoppedAt: b.stoppedAt }],
                manifests,
                target: { _tag: "Gtid", gtid: target },
                backupID: b.name,
                flavor: "mysql"
              })
            ),
            Exit.isSuccess
          )
        const segments = archiveSegments(manifests, "mysql")
        assert.strictEqual(
          segments.reduce((n, s) => n + s.files, 0),
          manifests.length
        )
        const result = recoverabilityWindow(backups, segments, "mysql")
        if (result._tag === "Window") {
          const w = result.window
          assert.strictEqual(w.lastRecoverableGTID, segments.at(-1)?.endState)
          const base = backups.find((b) => b.name === w.baseBackup)
          if (base === undefined) throw new Error("the window's base is not a backup")
          assert.strictEqual(w.firstRecoverableGTID, base.endGTID)
          assert.isTrue(yield* reaches(base, w.lastRecoverableGTID), "the base reaches the end")
          for (const older of backups.filter((b) => Date.parse(b.stoppedAt) < Date.parse(base.stoppedAt))) {
            assert.isFalse(yield* reaches(older, w.lastRecoverableGTID), `${older.name} is older`)
          }
          return
        }
        if (manifests.length === 0) return assert.strictEqual(result.reason, "NothingArchived")
        if (backups.length === 0) return assert.strictEqual(result.reason, "NoBaseBackup")
        const last = segments.at(-1)?.endState ?? ""
        for (const b of backups) assert.isFalse(yield* reaches(b, last), `${b.name} reaches the end`)
        assert.include(["ArchiveGap", "ArchiveBehindBackup"], result.reason)
      })
  )

  it("a failover to another uuid continues the run; a dropped file splits it", () => {
    const files = [file(1, 0, 3, 5), file(2, 3, 5, 5), file(1, 5, 7, 5), file(2, 7, 9, 5)]
    assert.deepStrictEqual(
      archiveSegments(files, "mysql").map((r) => [r.startState, r.endState, r.firstFile, r.lastFile, r.files]),
      [["", `${A}:1-5,${B}:1-4`, "server-1/binlog.000001", "server-2/binlog.000002", 4]]
    )
    assert.deepStrictEqual(
      archiveSegments([files[0], files[2], files[3]] as ReadonlyArray<BinlogManifest>, "mysql").map((r) => [
        r.startState,
        r.endState
      ]),
      [
        ["", `${A}:1-3`],
        [`${A}:1-5`, `${A}:1-5,${B}:1-4`]
      ]
    )
    // MariaDB's reading of the same archive holds none of it
    assert.deepStrictEqual(archiveSegments(files), [])
  })

  it.effect("/status of a MySQL archive decodes; caught up when the primary's gtid_executed is archived", () =>
    Effect.gen(function* () {
      const monitor = makeArchiverMonitor("mysql")
      yield* monitor.load([file(1, 0, 3, 5), file(2, 3, 5, 5)])
      yield* monitor.setState({ state: "ok", series: "server-1" })
      const caughtUp = yield* monitor.snapshot(`${A}:1-5`)
      assert.strictEqual(caughtUp.caughtUp, true)
      assert.strictEqual(caughtUp.lagSeconds, 0)
      assert.deepStrictEqual(caughtUp.lastArchived?.gtidState, `${A}:1-5`)
      assert.deepStrictEqual(yield* decodeArchiverStatus(JSON.stringify(caughtUp)), caughtUp)
      const ahead = yield* monitor.snapshot(`${A}:1-5,${B}:1`)
      assert.strictEqual(ahead.caughtUp, false)
    })
  )
})
