import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import type { BinlogManifest } from "../../src/api/binlogArchive.ts"
import { planRecovery, type RecoveryTarget } from "../../src/pitr/recoveryPlan.ts"
import { type RetentionBackup, selectForRetention } from "../../src/retention/select.ts"
import { gtidState, historyManifest } from "../pitr/history.ts"

// A single-domain history, as in recoveryPlan.test.ts: transaction k is GTID 0-1-k, committed at second 10*k.
const T0 = Date.parse("2026-12-01T00:00:00Z")
const ms = (seconds: number): number => T0 + seconds * 1000
const at = (seconds: number): string => new Date(ms(seconds)).toISOString().replace(".000Z", "Z")
const idAt = (seconds: number): string => at(seconds).replace(/[-:]/gu, "")
const manifest = historyManifest(at)

const archive = (sizes: ReadonlyArray<number>, missing: ReadonlyArray<boolean>) => {
  let seq = 0
  const all = sizes.map((size, i) => {
    const m = manifest(i, seq, seq + size)
    seq += size
    return m
  })
  return { manifests: all.filter((_, i) => missing[i] !== true), total: seq }
}

type Kind = RetentionBackup["status"]

/** A backup whose data ends after transaction `seq`: started at second 10*seq+3, stopped at 10*seq+5. */
const backup = (seq: number, status: Kind = "completed", name = "b"): RetentionBackup & { readonly seq: number } => ({
  seq,
  backupName: name,
  backupId: idAt(10 * seq + 3),
  status,
  ...(status === "completed" ? { endGTID: gtidState(seq), stoppedAt: at(10 * seq + 5) } : {})
})

const completedOf = (backups: ReadonlyArray<RetentionBackup>) =>
  backups.flatMap((b) =>
    b.status === "completed" && b.stoppedAt !== undefined && b.endGTID !== undefined
      ? [{ backupId: b.backupId, endGTID: b.endGTID, stoppedAt: b.stoppedAt }]
      : []
  )

/** The plan's base backup id and files, or the reason it failed. */
const plan = (
  backups: ReadonlyArray<RetentionBackup>,
  manifests: ReadonlyArray<BinlogManifest>,
  target: RecoveryTarget,
  backupID?: string
): string => {
  const exit = Effect.runSyncExit(
    planRecovery({
      backups: completedOf(backups),
      manifests,
      target,
      ...(backupID === undefined ? {} : { backupID })
    })
  )
  return Exit.isSuccess(exit)
    ? `${exit.value.backup.backupId}: ${exit.value.files.map((f) => f.file).join(" ")}`
    : `unreachable`
}

const remaining = <B extends RetentionBackup>(
  backups: ReadonlyArray<B>,
  manifests: ReadonlyArray<BinlogManifest>,
  selection: { readonly backups: ReadonlyArray<B>; readonly binlogFiles: ReadonlyArray<BinlogManifest> }
) => ({
  backups: backups.filter((b) => !selection.backups.includes(b)),
  manifests: manifests.filter((m) => !selection.binlogFiles.includes(m))
})

const Sizes = Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 }))).check(
  Schema.isMinLength(1),
  Schema.isMaxLength(10)
)
const Missing = Schema.Array(Schema.Boolean).check(Schema.isMaxLength(10))
const Backups = Schema.Array(
  Schema.Struct({
    seq: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 30 })),
    status: Schema.Literals(["completed", "completed", "incomplete", "damaged"])
  })
).check(Schema.isMaxLength(6))
const Seconds = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 400 }))
const Window = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 300 }))

describe("retention selection", () => {
  it.effect.prop(
    "every point recoverable in [now − window, the archive's end] before is recoverable after, the same way; nothing a kept backup needs goes",
    { sizes: Sizes, missing: Missing, specs: Backups, now: Seconds, window: Window },
    ({ sizes, missing, specs, now, window }) =>
      Effect.sync(() => {
        const { manifests, total } = archive(sizes, missing)
        const backups = specs.map((s, i) => backup(s.seq, s.status, `b${i}`))
        const selection = selectForRetention({ backups, manifests, now: ms(now), window: window * 1000 })
        const kept = remaining(backups, manifests, selection)
        const windowStart = now - window
        assert.strictEqual(selection.windowStart, ms(windowStart))

        // time targets: every second from the window's start to past the archive's end
        for (let s = Math.max(windowStart, -1); s <= 10 * total + 20; s++) {
          const target = { _tag: "Time", time: at(s) } as const
          const was = plan(backups, manifests, target)
          if (was !== "unreachable") assert.strictEqual(plan(kept.backups, kept.manifests, target), was, at(s))
        }
        // GTID targets whose transaction committed inside the window, and every target from every kept backup
        for (let g = 0; g <= total + 1; g++) {
          const target = { _tag: "Gtid", gtid: `0-1-${g}` } as const
          const was = plan(backups, manifests, target)
          if (was !== "unreachable" && 10 * g >= windowStart) {
            assert.strictEqual(plan(kept.backups, kept.manifests, target), was, `gtid ${g}`)
          }
          for (const b of kept.backups) {
            const pinned = plan(backups, manifests, target, b.backupId)
            assert.strictEqual(plan(kept.backups, kept.manifests, target, b.backupId), pinned, `${b.backupId} ${g}`)
          }
        }

        const completed = backups.filter((b) => b.status === "completed")
        const latest = completed.reduce<(typeof completed)[number] | undefined>(
          (l, b) => (l === undefined || b.seq > l.seq || (b.seq === l.seq && b.backupId >= l.backupId) ? b : l),
          undefined
        )
        if (latest !== undefined) assert.notInclude(selection.backups, latest, "the latest completed backup stays")
        if (selection.anchor !== undefined) {
          assert.notInclude(selection.backups, selection.anchor)
          assert.isBelow(10 * selection.anchor.seq + 5, windowStart)
        }
        for (const b of selection.backups) {
          if (b.status === "incomplete") assert.isBelow(10 * b.seq + 3, windowStart)
          else assert.isDefined(selection.anchor, "only an anchored window deletes completed or damaged backups")
        }
        if (completed.length === 0) assert.deepStrictEqual(selection.binlogFiles, [])
      })
  )

  it("keeps the backup the window's start depends on and what it needs; deletes what is older", () => {
    // files: 1-2 | 3-5 | (empty) | 6-7; backups after 2, 5 and 7
    const { manifests } = archive([2, 3, 0, 2], [])
    const backups = [backup(2), backup(5), backup(7)] as const
    // now = second 90, window 30 s: the window starts at second 60, after backup 5 (stopped at 55)
    const selection = selectForRetention({ backups, manifests, now: ms(90), window: 30_000 })
    assert.strictEqual(selection.anchor, backups[1])
    assert.deepStrictEqual(selection.backups, [backups[0]])
    // file 2 ends at transaction 5 = backup 5's end: nothing of it is needed; file 3 (empty) starts exactly
    // there and proves nothing was written before file 4 opened, so it stays
    assert.deepStrictEqual(
      selection.binlogFiles.map((f) => f.file),
      ["mysql-bin.000001", "mysql-bin.000002"]
    )
  })

  it("an empty file that starts at a kept backup's end proves a time target: it stays", () => {
    const [first, empty] = archive([2, 0], []).manifests as [BinlogManifest, BinlogManifest]
    // the empty file closed at second 40, inside the window: nothing was written from transaction 2 until then
    const manifests = [first, { ...empty, lastEventTime: at(40) }]
    const backups = [backup(0), backup(2)] as const
    const selection = selectForRetention({ backups, manifests, now: ms(60), window: 30_000 })
    assert.strictEqual(selection.anchor, backups[1])
    assert.deepStrictEqual(selection.backups, [backups[0]])
    assert.deepStrictEqual(
      selection.binlogFiles.map((f) => f.file),
      ["mysql-bin.000001"]
    )
    const target = { _tag: "Time", time: at(35) } as const
    const kept = remaining(backups, manifests, selection)
    assert.strictEqual(plan(backups, manifests, target), `${idAt(23)}: `)
    assert.strictEqual(plan(kept.backups, kept.manifests, target), `${idAt(23)}: `)
  })

  it("never deletes the only completed backup, however old; nothing without a completed backup", () => {
    const { manifests } = archive([2, 2], [])
    const only = backup(1)
    const old = selectForRetention({ backups: [only], manifests, now: ms(10_000), window: 1000 })
    assert.strictEqual(old.anchor, only)
    assert.deepStrictEqual(old.backups, [])
    const none = selectForRetention({
      backups: [backup(1, "incomplete"), backup(3, "damaged")],
      manifests,
      now: ms(10_000),
      window: 1000
    })
    assert.strictEqual(none.anchor, undefined)
    // the old incomplete leftover goes; the damaged one has no anchor to be older than; no binlog is judged
    assert.deepStrictEqual(
      none.backups.map((b) => b.status),
      ["incomplete"]
    )
    assert.deepStrictEqual(none.binlogFiles, [])
  })

  it("incomplete backups inside the window stay (a backup may still be running); a kept backup without an end GTID keeps every binlog", () => {
    const { manifests } = archive([2, 2, 2], [])
    const running = backup(6, "incomplete")
    const selection = selectForRetention({
      backups: [backup(1), backup(2, "incomplete"), backup(4), running],
      manifests,
      now: ms(70),
      window: 20_000
    })
    assert.deepStrictEqual(
      selection.backups.map((b) => `${b.status} ${b.backupId}`),
      [`completed ${idAt(13)}`, `incomplete ${idAt(23)}`]
    )
    assert.deepStrictEqual(
      selection.binlogFiles.map((f) => f.file),
      ["mysql-bin.000001", "mysql-bin.000002"]
    )
    const { endGTID: _, ...withoutGtid } = backup(4)
    const unknown = selectForRetention({ backups: [backup(1), withoutGtid], manifests, now: ms(70), window: 20_000 })
    assert.deepStrictEqual(unknown.binlogFiles, [])
    assert.strictEqual(unknown.backups.length, 1)
    const mysql = { ...backup(4), endGTID: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-4" }
    const sets = selectForRetention({ backups: [backup(1), mysql], manifests, now: ms(70), window: 20_000 })
    assert.deepStrictEqual(sets.binlogFiles, [])
    // a MySQL archive next to backups whose end is the empty state ('' reads as either flavour's): kept, no crash
    const uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
    const mysqlFiles = manifests.map((m, i) => ({
      ...m,
      flavor: "mysql" as const,
      gtidStateBefore: i === 0 ? "" : `${uuid}:1-${2 * i}`,
      gtidStateAfter: `${uuid}:1-${2 * i + 2}`,
      firstGTID: `${uuid}:${2 * i + 1}`,
      lastGTID: `${uuid}:${2 * i + 2}`
    }))
    const empty = [0, 0].map((_, i) => ({ ...backup(i), endGTID: "" }))
    assert.deepStrictEqual(
      selectForRetention({ backups: empty, manifests: mysqlFiles, now: ms(70), window: 20_000 }).binlogFiles,
      []
    )
  })

  it("a second domain a kept backup lacks keeps its files", () => {
    const base = archive([2], []).manifests[0] as BinlogManifest
    const otherDomain: BinlogManifest = {
      ...base,
      file: "mysql-bin.000009",
      gtidStateBefore: "",
      gtidStateAfter: "1-1-3",
      firstGTID: "1-1-1",
      lastGTID: "1-1-3"
    }
    const selection = selectForRetention({
      backups: [backup(1), backup(3)],
      manifests: [base, otherDomain],
      now: ms(1000),
      window: 10_000
    })
    assert.deepStrictEqual(
      selection.binlogFiles.map((f) => f.file),
      ["mysql-bin.000001"]
    )
  })
})
