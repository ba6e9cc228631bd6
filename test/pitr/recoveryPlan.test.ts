import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import type { BinlogManifest } from "../../src/api/binlogArchive.ts"
import { RecoveryTargetUnreachable } from "../../src/api/failures.ts"
import { type BaseBackup, planRecovery, type RecoveryTarget } from "../../src/pitr/recoveryPlan.ts"
import { gtidState, historyManifest } from "./history.ts"

// A single-domain history: transaction k (1-based) is GTID 0-1-k, committed at second 10*k after T0.
const T0 = Date.parse("2026-12-01T20:00:00Z")
const at = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString().replace(".000Z", "Z")
const manifest = historyManifest(at)

/** Files of consecutive transaction counts, and the ones that are missing from the archive. */
const history = (sizes: ReadonlyArray<number>, missing: ReadonlyArray<boolean>) => {
  let seq = 0
  const all = sizes.map((size, i) => {
    const m = manifest(i, seq, seq + size)
    seq += size
    return m
  })
  return { all, archived: all.filter((_, i) => missing[i] !== true), total: seq }
}

const backupAt = (seq: number): BaseBackup => ({
  backupId: `b${String(seq).padStart(3, "0")}`,
  endGTID: gtidState(seq),
  stoppedAt: at(10 * seq + 5)
})

const seqOf = (state: string): number => (state === "" ? 0 : Number(state.split("-")[2]))

/** The model's answer: which transactions must be replayed and whether the archive holds all of them. */
const expected = (
  archived: ReadonlyArray<BinlogManifest>,
  backups: ReadonlyArray<number>,
  target: number
): { readonly backup: number } | { readonly why: RecoveryTargetUnreachable["why"] } => {
  const eligible = backups.filter((b) => b <= target)
  if (eligible.length === 0) return { why: "BeforeFirstRecoverablePoint" }
  const backup = Math.max(...eligible)
  const holds = (k: number) => archived.some((m) => seqOf(m.gtidStateBefore) < k && k <= seqOf(m.gtidStateAfter))
  for (let k = backup + 1; k <= target; k++) {
    if (!holds(k)) {
      // archived files at or after transaction k prove it existed: it is missing, not yet to come
      const later = archived.some((m) => seqOf(m.gtidStateAfter) >= k)
      return { why: later ? "ArchiveGap" : "AfterLastArchivedTransaction" }
    }
  }
  return { backup }
}

const Sizes = Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 4 }))).check(
  Schema.isMinLength(1),
  Schema.isMaxLength(8)
)
const Missing = Schema.Array(Schema.Boolean).check(Schema.isMaxLength(8))
const Seqs = Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 32 }))).check(Schema.isMaxLength(4))
const Seq = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 34 }))

describe("recovery plan", () => {
  it.effect.prop(
    "a GTID target: the latest backup before it and the minimal gap-free cover, or the precise reason",
    { sizes: Sizes, missing: Missing, backups: Seqs, target: Seq },
    ({ sizes, missing, backups, target }) =>
      Effect.gen(function* () {
        const { archived } = history(sizes, missing)
        const want = expected(archived, backups, target)
        const exit = yield* Effect.exit(
          planRecovery({
            backups: backups.map(backupAt),
            manifests: archived,
            target: { _tag: "Gtid", gtid: `0-1-${target}` }
          })
        )
        if ("why" in want) {
          assertFailure(exit, want.why)
          return
        }
        if (Exit.isFailure(exit)) throw new Error(`expected a plan, got ${String(exit.cause)}`)
        const plan = exit.value
        expect(seqOf(plan.backup.endGTID)).toBe(want.backup)
        expect(plan.startPosition).toBe(gtidState(want.backup))
        expect(plan.stopPosition).toBe(`0-1-${target}`)
        // Gap-free: each file starts at or before where the previous one ended and adds transactions.
        let current = want.backup
        for (const file of plan.files) {
          expect(seqOf(file.gtidStateBefore)).toBeLessThanOrEqual(current)
          expect(seqOf(file.gtidStateAfter)).toBeGreaterThan(current)
          current = seqOf(file.gtidStateAfter)
        }
        expect(current).toBeGreaterThanOrEqual(target)
        // Minimal: without the last file the target is not reached; nothing but transaction-bearing files.
        const beforeLast = plan.files.length < 2 ? want.backup : seqOf(plan.files.at(-2)?.gtidStateAfter ?? "")
        if (plan.files.length > 0) expect(beforeLast).toBeLessThan(target)
      })
  )

  it.effect("a time target is exclusive and the file proving the archive reaches it is included", () =>
    Effect.gen(function* () {
      const { all } = history([2, 3, 0, 2], [])
      const plan = (time: string, backups = [0, 3]) =>
        planRecovery({ backups: backups.map(backupAt), manifests: all, target: { _tag: "Time", time } })
      // Transaction 4 commits at second 40; a target of second 40 excludes it, and the backup at 3 (stopped at 35) is used.
      const p = yield* plan(at(40))
      // A fraction of a second is dropped, as mariadb-binlog drops it: 35.5 s means "before second 35", so the
      // backup that stopped at second 35 is too late.
      assert.strictEqual((yield* plan(at(35).replace("Z", ".500Z"))).backup.backupId, "b000")
      assert.strictEqual((yield* plan(at(36))).backup.backupId, "b003")
      expect(p.backup.backupId).toBe("b003")
      expect(p.files.map((f) => f.file)).toEqual(["mysql-bin.000002"])
      expect(p.stopTime).toBe(at(40))
      // Before the first backup stopped.
      assertFailure(yield* Effect.exit(plan(at(4))), "BeforeFirstRecoverablePoint")
      // Between file 2's close (second 52) and the empty file 3 that closed at 52: the empty file proves it.
      const q = yield* plan(at(52))
      expect(q.files.map((f) => f.file)).toEqual(["mysql-bin.000002"])
      // After the archive's last event (second 72).
      assertFailure(yield* Effect.exit(plan(at(80))), "AfterLastArchivedTransaction")
    })
  )

  it.effect("a pinned backupID is the only candidate", () =>
    Effect.gen(function* () {
      const { all } = history([2, 3], [])
      const target: RecoveryTarget = { _tag: "Gtid", gtid: "0-1-4" }
      const pinned = yield* planRecovery({
        backups: [backupAt(0), backupAt(3)],
        manifests: all,
        target,
        backupID: "b000"
      })
      expect(pinned.backup.backupId).toBe("b000")
      expect(pinned.files.map((f) => f.file)).toEqual(["mysql-bin.000001", "mysql-bin.000002"])
      const exit = yield* Effect.exit(
        planRecovery({
          backups: [backupAt(0), backupAt(3)],
          manifests: all,
          target: { _tag: "Gtid", gtid: "0-1-2" },
          backupID: "b003"
        })
      )
      assertFailure(exit, "BeforeFirstRecoverablePoint")
    })
  )

  it.effect("several domains: the target must name every domain the replay advances", () =>
    Effect.gen(function* () {
      const file: BinlogManifest = {
        ...manifest(0, 0, 0),
        gtidStateBefore: "0-1-5",
        gtidStateAfter: "0-1-9,1-1-3",
        firstGTID: "0-1-6",
        lastGTID: "1-1-3"
      }
      const backup: BaseBackup = { backupId: "b", endGTID: "0-1-5", stoppedAt: at(0) }
      assertFailure(
        yield* Effect.exit(
          planRecovery({ backups: [backup], manifests: [file], target: { _tag: "Gtid", gtid: "0-1-7" } })
        ),
        "DomainNotInTarget"
      )
      const plan = yield* planRecovery({
        backups: [backup],
        manifests: [file],
        target: { _tag: "Gtid", gtid: "0-1-7,1-1-2" }
      })
      expect(plan.stopPosition).toBe("0-1-7,1-1-2")
    })
  )
})

const assertFailure = (
  exit: Exit.Exit<unknown, RecoveryTargetUnreachable>,
  why: RecoveryTargetUnreachable["why"]
): void => {
  if (Exit.isSuccess(exit)) throw new Error(`expected ${why}, got a plan`)
  const error = exit.cause.reasons.find((r) => r._tag === "Fail")
  expect(error?._tag === "Fail" ? error.error : undefined).toBeInstanceOf(RecoveryTargetUnreachable)
  expect(error?._tag === "Fail" ? error.error.why : undefined).toBe(why)
}
