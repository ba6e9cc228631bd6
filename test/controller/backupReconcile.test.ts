/**
 * The Backup controller's reconcile loop on the fake store under TestClock, with the Job simulator: the happy
 * path, every failure surface the controller can meet, restarts, conflicts, dropped watches and deleted Jobs.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { backupReconciler } from "../../src/controller/backup/reconcile.ts"
import { findCondition } from "../../src/controller/conditions.ts"
import {
  createBackup,
  createCluster,
  eventsOf,
  getBackup,
  listJobs,
  listPods,
  namespace,
  ServicesLayer,
  settle,
  startControllers,
  workerResult
} from "./support.ts"

const run = <A, E, R>(effect: Effect.Effect<A, E, R>) => effect.pipe(Effect.provide(ServicesLayer))

describe("Backup reconciler", () => {
  it.effect("happy path: pending with an id before the Job, running, completed with every field", () =>
    run(
      Effect.gen(function* () {
        yield* TestClock.setTime(Date.parse("2026-12-01T10:20:30Z"))
        const { fake } = yield* startControllers(backupReconciler)
        yield* createCluster()
        yield* createBackup("b1")
        yield* settle
        const pending = yield* getBackup("b1")
        assert.strictEqual(pending.status?.phase, "pending")
        assert.strictEqual(pending.status?.backupId, "20261201T102030Z")
        assert.strictEqual(pending.status?.instanceName, "c-2")
        assert.strictEqual(pending.status?.jobName, "b1-backup")
        assert.strictEqual(pending.status?.destinationPath, "s3://backups/prod/c/b1/20261201T102030Z/")
        const jobs = yield* listJobs
        assert.deepStrictEqual(
          jobs.map((j) => j.metadata.name),
          ["b1-backup"]
        )

        yield* fake.jobs.start(namespace, "b1-backup")
        yield* settle
        const running = yield* getBackup("b1")
        assert.strictEqual(running.status?.phase, "running")
        assert.isDefined(running.status?.startedAt)

        yield* TestClock.adjust("1 minute")
        yield* fake.jobs.finish(namespace, "b1-backup", {
          result: "succeeded",
          terminationMessage: JSON.stringify(workerResult("20261201T102030Z"))
        })
        yield* settle
        const done = yield* getBackup("b1")
        assert.strictEqual(done.status?.phase, "completed")
        assert.strictEqual(done.status?.sha256, "a".repeat(64))
        assert.strictEqual(done.status?.size, 123456)
        assert.strictEqual(done.status?.beginGTID, "0-1-90")
        assert.strictEqual(done.status?.endGTID, "0-1-99")
        assert.strictEqual(done.status?.beginBinlog, "mysql-bin.000003:4")
        assert.strictEqual(done.status?.endBinlog, "mysql-bin.000003:1234")
        assert.strictEqual(done.status?.archiveKey, "prod/c/b1/20261201T102030Z/backup.xbstream")
        assert.strictEqual(done.status?.startedAt, "2026-12-01T00:00:00Z")
        assert.strictEqual(done.status?.stoppedAt, "2026-12-01T00:01:00Z")
        assert.strictEqual(findCondition(done.status?.conditions, "Completed")?.status, "True")
        const events = yield* eventsOf("b1")
        assert.deepStrictEqual(
          events.map((e) => e.split(":")[0]),
          ["Normal SourceSelected", "Normal JobCreated", "Normal Started", "Normal Completed"]
        )
        assert.include(events[0] ?? "", "c-2")
        // the completed Job keeps its finalizer until it is deleted; nothing else was created
        assert.strictEqual((yield* listJobs).length, 1)
        assert.strictEqual((yield* listPods).length, 1)
      })
    )
  )
})
