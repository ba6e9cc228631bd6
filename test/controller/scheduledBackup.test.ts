/**
 * The ScheduledBackup controller on the fake store under TestClock: a named time zone across both DST changes,
 * `immediate`, `suspend`, one running Backup at a time, the catch-up rule after an outage, owner references,
 * invalid schedules and time zones.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import type { ScheduledBackup } from "../../src/api/scheduledBackup.ts"
import { findCondition } from "../../src/controller/conditions.ts"
import { scheduledBackupReconciler } from "../../src/controller/scheduledBackup/reconcile.ts"
import { KubeApi } from "../../src/kube/KubeApi.ts"
import { Resources } from "../../src/kube/resources.ts"
import {
  createCluster,
  eventsOf,
  getScheduledBackup,
  listBackups,
  namespace,
  ServicesLayer,
  settle,
  startControllers
} from "./support.ts"

const run = <A, E, R>(effect: Effect.Effect<A, E, R>) => effect.pipe(Effect.provide(ServicesLayer))

const scheduled = (
  spec: Partial<ScheduledBackup["spec"]> & { readonly schedule: string },
  name = "nightly"
): ScheduledBackup => ({
  apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
  kind: "ScheduledBackup",
  metadata: { namespace, name },
  spec: {
    cluster: { name: "c" },
    method: "xtrabackup",
    target: "prefer-standby",
    online: true,
    immediate: false,
    suspend: false,
    backupOwnerReference: "none",
    ...spec
  }
})

const createScheduled = (object: ScheduledBackup) =>
  KubeApi.use((api) => api.create(Resources.scheduledBackups, object))

/** Marks every Backup completed, as the Backup controller would once their Jobs finish. */
const completeAll = Effect.gen(function* () {
  const api = yield* KubeApi
  for (const backup of yield* listBackups) {
    if (backup.status?.phase === "completed") continue
    yield* api.patchStatus(
      Resources.backups,
      { namespace, name: backup.metadata.name ?? "" },
      { status: { phase: "completed" } }
    )
  }
})

const names = Effect.map(listBackups, (backups) => backups.map((b) => b.metadata.name ?? "").sort())

/** Advances the clock in steps (as time passes for a running controller) and lets reconciles run. */
const advance = (hours: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < hours; i++) {
      yield* TestClock.adjust("1 hour")
      yield* settle
    }
  })

describe("ScheduledBackup reconciler", () => {
  it.effect("runs at 02:30 Europe/Berlin across the spring-forward and fall-back days", () =>
    run(
      Effect.gen(function* () {
        yield* TestClock.setTime(Date.parse("2026-03-27T12:00:00Z"))
        yield* startControllers(scheduledBackupReconciler)
        yield* createCluster()
        yield* createScheduled(scheduled({ schedule: "0 30 2 * * *", timeZone: "Europe/Berlin" }))
        yield* settle
        assert.strictEqual((yield* getScheduledBackup("nightly")).status?.nextScheduleTime, "2026-03-28T01:30:00Z")
        for (let day = 0; day < 3; day++) {
          yield* advance(24)
          yield* completeAll
        }
        // 02:30 does not exist on 29 March: the run is at the first instant after the gap (03:00 CEST = 01:00Z)
        assert.deepStrictEqual(yield* names, [
          "nightly-20260328013000",
          "nightly-20260329010000",
          "nightly-20260330003000"
        ])
        const status = (yield* getScheduledBackup("nightly")).status
        assert.strictEqual(status?.lastBackupName, "nightly-20260330003000")
        assert.strictEqual(status?.lastScheduleTime, "2026-03-30T00:30:00Z")
        assert.strictEqual(status?.nextScheduleTime, "2026-03-31T00:30:00Z")
      })
    )
  )

  it.effect("runs once on the fall-back day, whose 02:30 happens twice", () =>
    run(
      Effect.gen(function* () {
        yield* TestClock.setTime(Date.parse("2026-10-24T12:00:00Z"))
        yield* startControllers(scheduledBackupReconciler)
        yield* createCluster()
        yield* createScheduled(scheduled({ schedule: "30 2 * * *", timeZone: "Europe/Berlin" }))
        for (let day = 0; day < 2; day++) {
          yield* advance(24)
          yield* completeAll
        }
        assert.deepStrictEqual(yield* names, ["nightly-20261025003000", "nightly-20261026013000"])
      })
    )
  )

  it.effect("immediate: one Backup at creation, labelled immediate; then the schedule", () =>
    run(
      Effect.gen(function* () {
        yield* TestClock.setTime(Date.parse("2026-12-01T10:15:00Z"))
        yield* startControllers(scheduledBackupReconciler)
        yield* createCluster()
        yield* createScheduled(scheduled({ schedule: "0 * * * *", immediate: true }))
        yield* settle
        const [first] = yield* listBackups
        assert.strictEqual(first?.metadata.name, "nightly-20261201101500")
        assert.strictEqual(first?.metadata.labels?.["cloudnative-mysql.io/immediate"], "true")
        assert.strictEqual(first?.spec.cluster.name, "c")
        yield* completeAll
        yield* advance(1)
        assert.deepStrictEqual(yield* names, ["nightly-20261201101500", "nightly-20261201110000"])
      })
    )
  )

  it.effect("a slot that comes while a Backup runs is skipped (counted in an Event), not queued", () =>
    run(
      Effect.gen(function* () {
        yield* TestClock.setTime(Date.parse("2026-12-01T10:30:00Z"))
        yield* startControllers(scheduledBackupReconciler)
        yield* createCluster()
        yield* createScheduled(scheduled({ schedule: "0 * * * *" }))
        yield* advance(1)
        assert.deepStrictEqual(yield* names, ["nightly-20261201110000"])
        yield* advance(3)
        assert.deepStrictEqual(yield* names, ["nightly-20261201110000"])
        const skipped = (yield* KubeApi.use((api) => api.list(Resources.events, { namespace }))).items.filter(
          (e) => e.reason === "BackupSkipped"
        )
        assert.strictEqual(skipped.length, 1)
        assert.strictEqual(skipped[0]?.count, 3)
        yield* completeAll
        yield* advance(1)
        assert.deepStrictEqual(yield* names, ["nightly-20261201110000", "nightly-20261201150000"])
      })
    )
  )

  it.effect("a slot's Backup is created when the slot comes, not at the next slot", () =>
    run(
      Effect.gen(function* () {
        yield* TestClock.setTime(Date.parse("2026-12-01T10:59:30Z"))
        yield* startControllers(scheduledBackupReconciler)
        yield* createCluster()
        yield* createScheduled(scheduled({ schedule: "0 * * * *" }))
        yield* settle
        assert.deepStrictEqual(yield* names, [])
        // the reconcile requeued for 11:00:00.000 exactly; the Backup must exist a moment after
        yield* TestClock.adjust("30 seconds")
        yield* settle
        yield* TestClock.adjust("10 millis")
        yield* settle
        assert.deepStrictEqual(yield* names, ["nightly-20261201110000"])
      })
    )
  )

  it.effect("suspend: no Backups while suspended", () =>
    run(
      Effect.gen(function* () {
        yield* TestClock.setTime(Date.parse("2026-12-01T10:30:00Z"))
        yield* startControllers(scheduledBackupReconciler)
        yield* createCluster()
        yield* createScheduled(scheduled({ schedule: "0 * * * *", suspend: true, immediate: true }))
        yield* advance(3)
        assert.deepStrictEqual(yield* names, [])
        const condition = findCondition((yield* getScheduledBackup("nightly")).status?.conditions, "Scheduled")
        assert.strictEqual(condition?.reason, "Suspended")
      })
    )
  )

  it.effect("after an outage at most one catch-up run, and only within startingDeadlineSeconds", () =>
    run(
      Effect.gen(function* () {
        yield* TestClock.setTime(Date.parse("2026-12-01T10:30:00Z"))
        const first = yield* startControllers(scheduledBackupReconciler)
        yield* createCluster()
        yield* createScheduled(scheduled({ schedule: "0 * * * *", startingDeadlineSeconds: 1800 }))
        yield* createScheduled(scheduled({ schedule: "0 * * * *", startingDeadlineSeconds: 600 }, "strict"))
        yield* settle
        yield* Fiber.interrupt(first.fiber)
        // down from 10:30 to 15:20: slots 11:00 … 15:00 are missed
        yield* TestClock.adjust("290 minutes")
        yield* startControllers(scheduledBackupReconciler)
        yield* settle
        // 15:00 is 20 minutes old: within 30 minutes, outside 10
        assert.deepStrictEqual(yield* names, ["nightly-20261201150000"])
        assert.include((yield* eventsOf("nightly")).join("\n"), "Warning MissedSchedules: 4 scheduled run(s) missed")
        assert.include((yield* eventsOf("strict")).join("\n"), "Warning MissedSchedules: 5 scheduled run(s) missed")
        assert.strictEqual((yield* getScheduledBackup("strict")).status?.lastScheduleTime, "2026-12-01T15:00:00Z")
      })
    )
  )

  it.effect("backupOwnerReference self and cluster set the Backup's owner", () =>
    run(
      Effect.gen(function* () {
        yield* TestClock.setTime(Date.parse("2026-12-01T10:30:00Z"))
        yield* startControllers(scheduledBackupReconciler)
        const cluster = yield* createCluster()
        const self = yield* createScheduled(
          scheduled({ schedule: "0 * * * *", immediate: true, backupOwnerReference: "self" }, "self")
        )
        yield* createScheduled(
          scheduled({ schedule: "0 * * * *", immediate: true, backupOwnerReference: "cluster" }, "owned")
        )
        yield* settle
        const backups = yield* listBackups
        const owner = (prefix: string) =>
          backups.find((b) => b.metadata.name?.startsWith(prefix))?.metadata.ownerReferences?.[0]
        assert.strictEqual(owner("self-")?.uid, self.metadata.uid)
        assert.strictEqual(owner("owned-")?.uid, cluster.metadata.uid)
        assert.strictEqual(owner("owned-")?.kind, "Cluster")
      })
    )
  )

  it.effect("an invalid time zone or schedule: condition and Warning Event, no Backups", () =>
    run(
      Effect.gen(function* () {
        yield* startControllers(scheduledBackupReconciler)
        yield* createCluster()
        yield* createScheduled(
          scheduled({ schedule: "0 * * * *", timeZone: "Mars/Olympus_Mons", immediate: true }, "zone")
        )
        yield* createScheduled(scheduled({ schedule: "every day", immediate: true }, "cron"))
        yield* settle
        assert.strictEqual(
          findCondition((yield* getScheduledBackup("zone")).status?.conditions, "Scheduled")?.reason,
          "InvalidTimeZone"
        )
        assert.strictEqual(
          findCondition((yield* getScheduledBackup("cron")).status?.conditions, "Scheduled")?.reason,
          "InvalidSchedule"
        )
        assert.include((yield* eventsOf("zone")).join("\n"), "Warning InvalidTimeZone")
        assert.include((yield* eventsOf("cron")).join("\n"), "Warning InvalidSchedule")
        assert.deepStrictEqual(yield* names, [])
      })
    )
  )
})
