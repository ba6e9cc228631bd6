/**
 * The recovery plan over MySQL 8.4 manifests (GTID sets), without a server: a model-based property over a
 * history with a failover (transactions of a first primary's uuid, then of the new primary's), and examples of
 * what sets allow that MariaDB positions do not (a target with a hole, a backup holding another source).
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import type { BinlogManifest } from "../../src/api/binlogArchive.ts"
import { RecoveryTargetUnreachable } from "../../src/api/failures.ts"
import { type BaseBackup, endsBefore, planRecovery } from "../../src/pitr/recoveryPlan.ts"

const A = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
const B = "6b7f1a2c-0000-4000-8000-000000000001"
const T0 = Date.parse("2026-12-01T20:00:00Z")
const at = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString().replace(".000Z", "Z")

/** Transaction k (1-based) is A:k up to the failover after transaction `failover`, then B:(k - failover). */
const stateAfter = (seq: number, failover: number): string =>
  [
    ...(Math.min(seq, failover) > 0
      ? [`${A}:1${Math.min(seq, failover) > 1 ? `-${Math.min(seq, failover)}` : ""}`]
      : []),
    ...(seq > failover ? [`${B}:1${seq - failover > 1 ? `-${seq - failover}` : ""}`] : [])
  ].join(",")
const gtidOf = (k: number, failover: number): string => (k <= failover ? `${A}:${k}` : `${B}:${k - failover}`)

const manifest = (index: number, first: number, last: number, failover: number): BinlogManifest => ({
  version: 1,
  cluster: "c",
  flavor: "mysql",
  // the new primary numbers its own files: a new series
  series: first >= failover ? "server-2" : "server-1",
  file: `binlog.${String(index + 1).padStart(6, "0")}`,
  size: 200 + 90 * (last - first),
  sha256: "0".repeat(64),
  serverId: first >= failover ? 2 : 1,
  gtidStateBefore: stateAfter(first, failover),
  gtidStateAfter: stateAfter(last, failover),
  ...(last > first ? { firstGTID: gtidOf(first + 1, failover), lastGTID: gtidOf(last, failover) } : {}),
  firstEventTime: at(10 * first + 1),
  lastEventTime: at(10 * last + 2),
  archivedAt: at(10 * last + 3)
})

const Sizes = Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 4 }))).check(
  Schema.isMinLength(1),
  Schema.isMaxLength(8)
)
const Missing = Schema.Array(Schema.Boolean).check(Schema.isMaxLength(8))
const Seqs = Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 32 }))).check(Schema.isMaxLength(4))
const Seq = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 34 }))

const assertFailure = (exit: Exit.Exit<unknown, RecoveryTargetUnreachable>, why: RecoveryTargetUnreachable["why"]) => {
  if (Exit.isSuccess(exit)) throw new Error(`expected ${why}, got a plan`)
  const error = exit.cause.reasons.find((r) => r._tag === "Fail")
  const failure = error?._tag === "Fail" ? error.error : undefined
  expect(failure).toBeInstanceOf(RecoveryTargetUnreachable)
  expect(failure?.why).toBe(why)
  return failure
}

describe("recovery plan over MySQL GTID sets", () => {
  it.effect.prop(
    "a GTID set target: the latest backup before it and the minimal gap-free cover across a failover, or the precise reason",
    { sizes: Sizes, missing: Missing, backups: Seqs, target: Seq, failover: Seq },
    ({ sizes, missing, backups, target, failover }) =>
      Effect.gen(function* () {
        let seq = 0
        const all = sizes.map((size, i) => {
          const m = manifest(i, seq, seq + size, failover)
          seq += size
          return m
        })
        const archived = all.filter((_, i) => missing[i] !== true)
        const rangeOf = (m: BinlogManifest): readonly [number, number] => {
          const i = all.indexOf(m)
          const first = sizes.slice(0, i).reduce((s, n) => s + n, 0)
          return [first, first + (sizes[i] ?? 0)]
        }
        // the model, over transaction numbers: the target names every transaction up to `target`
        const eligible = backups.filter((b) => b <= target)
        const backupAt = (b: number): BaseBackup => ({
          backupId: `b${String(b).padStart(3, "0")}`,
          endGTID: stateAfter(b, failover),
          stoppedAt: at(10 * b + 5)
        })
        const exit = yield* Effect.exit(
          planRecovery({
            backups: backups.map(backupAt),
            manifests: archived,
            target: { _tag: "Gtid", gtid: stateAfter(target, failover) },
            flavor: "mysql"
          })
        )
        if (eligible.length === 0) {
          assertFailure(exit, "BeforeFirstRecoverablePoint")
          return
        }
        const base = Math.max(...eligible)
        const missingK = Array.from({ length: target - base }, (_, i) => base + 1 + i).find(
          (k) => !archived.some((m) => rangeOf(m)[0] < k && k <= rangeOf(m)[1])
        )
        if (missingK !== undefined) {
          // archived files at or after the missing transaction prove it existed: a gap, not the archive's end
          const later = archived.some((m) => rangeOf(m)[1] >= missingK)
          assertFailure(exit, later ? "ArchiveGap" : "AfterLastArchivedTransaction")
          return
        }
        if (Exit.isFailure(exit)) throw new Error(`expected a plan, got ${String(exit.cause)}`)
        const plan = exit.value
        expect(plan.backup.backupId).toBe(backupAt(base).backupId)
        expect(plan.startPosition).toBe(stateAfter(base, failover))
        // the replay's end: the backup's set with the target's
        expect(plan.stopPosition).toBe(stateAfter(target, failover))
        // gap-free and minimal: consecutive transaction ranges from the base to the target, nothing after
        let current = base
        for (const file of plan.files) {
          const [first, last] = rangeOf(file)
          expect(first).toBeLessThanOrEqual(current)
          expect(last).toBeGreaterThan(current)
          current = last
        }
        expect(current).toBeGreaterThanOrEqual(target)
        const last = plan.files.at(-1)
        if (last !== undefined) expect(rangeOf(last)[0]).toBeLessThan(target)
      })
  )

  const files = [manifest(0, 0, 4, 100), manifest(1, 4, 10, 100)]
  const backup = (endGTID: string, id = "b"): BaseBackup => ({ backupId: id, endGTID, stoppedAt: at(35) })

  it.effect("a target with a hole skips that transaction: the stop state is the backup's set with the target's", () =>
    Effect.gen(function* () {
      const plan = yield* planRecovery({
        backups: [backup(`${A}:1-3`)],
        manifests: files,
        target: { _tag: "Gtid", gtid: `${A}:1-5:7-9` },
        flavor: "mysql"
      })
      expect(plan.files.map((f) => f.file)).toEqual(["binlog.000001", "binlog.000002"])
      expect(plan.startPosition).toBe(`${A}:1-3`)
      expect(plan.stopPosition).toBe(`${A}:1-5:7-9`)
    })
  )

  it.effect("the target must hold the backup's whole set: an older primary's uuid too, and nothing past it", () =>
    Effect.gen(function* () {
      const withOld = backup(`${A}:1-3,${B}:1-40`)
      // a set names the whole history: the backup's B transactions are not in a target naming only A
      assert.isFalse(endsBefore(withOld, { _tag: "Gtid", gtid: `${A}:1-6` }, "mysql"))
      const plan = yield* planRecovery({
        backups: [withOld],
        manifests: files,
        target: { _tag: "Gtid", gtid: `${B}:1-40,${A}:1-6` },
        flavor: "mysql"
      })
      expect(plan.stopPosition).toBe(`${A}:1-6,${B}:1-40`)
      assert.isFalse(endsBefore(backup(`${A}:1-7`), { _tag: "Gtid", gtid: `${A}:1-6` }, "mysql"))
      // a hole in the target that the backup already holds: the backup is past it
      assert.isFalse(endsBefore(backup(`${A}:1-3`), { _tag: "Gtid", gtid: `${A}:1:3-6` }, "mysql"))
      assertFailure(
        yield* Effect.exit(
          planRecovery({
            backups: [backup(`${A}:1-7`)],
            manifests: files,
            target: { _tag: "Gtid", gtid: `${A}:1-6` },
            flavor: "mysql"
          })
        ),
        "BeforeFirstRecoverablePoint"
      )
    })
  )

  it.effect("a file before the target's that advances a source the target does not name is refused, naming it", () =>
    Effect.gen(function* () {
      const mixed: BinlogManifest = {
        ...manifest(0, 0, 0, 100),
        gtidStateBefore: `${A}:1-3`,
        gtidStateAfter: `${A}:1-9,${B}:1-2`,
        firstGTID: `${A}:4`,
        lastGTID: `${B}:2`
      }
      const next: BinlogManifest = {
        ...manifest(1, 0, 0, 100),
        gtidStateBefore: `${A}:1-9,${B}:1-2`,
        gtidStateAfter: `${A}:1-12,${B}:1-2`,
        firstGTID: `${A}:10`,
        lastGTID: `${A}:12`
      }
      // B:1-2 were committed before A:10: a server holding A:1-11 without them never existed
      const failure = assertFailure(
        yield* Effect.exit(
          planRecovery({
            backups: [backup(`${A}:1-3`)],
            manifests: [mixed, next],
            target: { _tag: "Gtid", gtid: `${A}:1-11` },
            flavor: "mysql"
          })
        ),
        "DomainNotInTarget"
      )
      assert.include(failure?.message, `source ${B}`)
    })
  )

  it.effect("the target reached in a failover's file: the new primary's own transactions after it are left out", () =>
    Effect.gen(function* () {
      // the new primary's file: the old primary's transactions it replicated, then its own
      const failoverFile: BinlogManifest = {
        ...manifest(0, 0, 0, 100),
        series: "server-2",
        gtidStateBefore: `${A}:1-3`,
        gtidStateAfter: `${A}:1-9,${B}:1-2`,
        firstGTID: `${A}:4`,
        lastGTID: `${B}:2`
      }
      const plan = yield* planRecovery({
        backups: [backup(`${A}:1-3`)],
        manifests: [failoverFile],
        target: { _tag: "Gtid", gtid: `${A}:1-5` },
        flavor: "mysql"
      })
      expect(plan.files.map((f) => f.file)).toEqual([failoverFile.file])
      expect(plan.stopPosition).toBe(`${A}:1-5`)
    })
  )

  it.effect(
    "a gap in the set chain, a target after the archive, a time target; MariaDB manifests are not this archive",
    () =>
      Effect.gen(function* () {
        const gap = [manifest(0, 0, 4, 100), manifest(2, 6, 10, 100)]
        const plan = (gtid: string, manifests: ReadonlyArray<BinlogManifest>) =>
          Effect.exit(
            planRecovery({ backups: [backup("")], manifests, target: { _tag: "Gtid", gtid }, flavor: "mysql" })
          )
        const gapFailure = assertFailure(yield* plan(`${A}:1-8`, gap), "ArchiveGap")
        assert.include(gapFailure?.message, `no archived file continues from ${A}:1-4`)
        assertFailure(yield* plan(`${A}:1-11`, files), "AfterLastArchivedTransaction")
        // the same history written as MariaDB manifests is ignored by a MySQL plan
        assertFailure(
          yield* plan(
            `${A}:1-2`,
            files.map((f) => ({ ...f, flavor: "mariadb" as const, gtidStateBefore: "", gtidStateAfter: "0-1-9" }))
          ),
          "AfterLastArchivedTransaction"
        )
        const byTime = yield* planRecovery({
          backups: [backup("")],
          manifests: files,
          target: { _tag: "Time", time: at(50) },
          flavor: "mysql"
        })
        expect(byTime.files.map((f) => f.file)).toEqual(["binlog.000001", "binlog.000002"])
        expect(byTime.stopTime).toBe(at(50))
      })
  )
})
