/**
 * The Backup controller's reconcile loop on the fake store under TestClock, with the Job simulator: the happy
 * path, every failure surface the controller can meet, restarts, conflicts, dropped watches and deleted Jobs.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { backupReconciler } from "../../src/controller/backup/reconcile.ts"
import { findCondition } from "../../src/controller/conditions.ts"
import { KubeApi } from "../../src/kube/KubeApi.ts"
import { Resources } from "../../src/kube/resources.ts"
import {
  createBackup,
  createCluster,
  eventsOf,
  getBackup,
  healthyInstances,
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
        // the worker's identity exists with its Job, owned by the Backup (garbage-collected with it)
        const access = yield* KubeApi.use((api) =>
          Effect.all([
            api.get(Resources.serviceAccounts, { namespace, name: "b1-backup" }),
            api.get(Resources.roles, { namespace, name: "b1-backup" }),
            api.get(Resources.roleBindings, { namespace, name: "b1-backup" })
          ])
        )
        for (const object of access) assert.strictEqual(object.metadata.ownerReferences?.[0]?.uid, pending.metadata.uid)
        assert.deepStrictEqual(access[1].rules?.[0]?.resourceNames, ["b1"])

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
          ["Normal JobCreated", "Normal Started", "Normal Completed"]
        )
        assert.include(events[0] ?? "", "c-2")
        // the completed Job keeps its finalizer until it is deleted; nothing else was created
        assert.strictEqual((yield* listJobs).length, 1)
        assert.strictEqual((yield* listPods).length, 1)
      })
    )
  )

  it.effect("ClusterNotFound: pending with the reason, then proceeds once the Cluster appears", () =>
    run(
      Effect.gen(function* () {
        yield* startControllers(backupReconciler)
        yield* createBackup("b1", "missing")
        yield* settle
        const waiting = yield* getBackup("b1")
        assert.strictEqual(waiting.status?.phase, "pending")
        assert.strictEqual(findCondition(waiting.status?.conditions, "Completed")?.reason, "ClusterNotFound")
        assert.isUndefined(waiting.status?.backupId)
        assert.include((yield* eventsOf("b1")).join("\n"), "Warning ClusterNotFound: cluster db/missing not found")
        assert.strictEqual((yield* listJobs).length, 0)
        yield* createCluster("missing")
        yield* settle
        assert.strictEqual((yield* getBackup("b1")).status?.jobName, "b1-backup")
        assert.strictEqual((yield* listJobs).length, 1)
      })
    )
  )

  it.effect("ObjectStoreNotConfigured: failed for good, no Job", () =>
    run(
      Effect.gen(function* () {
        yield* startControllers(backupReconciler)
        yield* createCluster("c", healthyInstances, { objectStore: false })
        yield* createBackup("b1")
        yield* settle
        const failed = yield* getBackup("b1")
        assert.strictEqual(failed.status?.phase, "failed")
        assert.strictEqual(findCondition(failed.status?.conditions, "Completed")?.reason, "ObjectStoreNotConfigured")
        assert.match(failed.status?.error ?? "", /^ObjectStoreNotConfigured: no object store configured/u)
        assert.include((yield* eventsOf("b1")).join("\n"), "Warning ObjectStoreNotConfigured")
        assert.strictEqual((yield* listJobs).length, 0)
      })
    )
  )

  it.effect("NoHealthyInstance: pending and retried; a Cluster status change lets it start from the primary", () =>
    run(
      Effect.gen(function* () {
        yield* startControllers(backupReconciler)
        yield* createCluster("c", [{ name: "c-1", role: "primary", ready: false, podIP: "127.0.10.1" }])
        yield* createBackup("b1", "c", { target: "primary" })
        yield* settle
        const waiting = yield* getBackup("b1")
        assert.strictEqual(waiting.status?.phase, "pending")
        assert.strictEqual(findCondition(waiting.status?.conditions, "Completed")?.reason, "NoHealthyInstance")
        assert.include(findCondition(waiting.status?.conditions, "Completed")?.message ?? "", "c-1 is not ready")
        const api = yield* KubeApi
        const cluster = yield* api.get(Resources.clusters, { namespace, name: "c" })
        yield* api.patchStatus(
          Resources.clusters,
          { namespace, name: "c" },
          {
            metadata: { resourceVersion: cluster.metadata.resourceVersion },
            status: { instanceStatuses: [{ name: "c-1", role: "primary", ready: true, podIP: "127.0.10.1" }] }
          }
        )
        yield* settle
        const started = yield* getBackup("b1")
        assert.strictEqual(started.status?.instanceName, "c-1")
        assert.strictEqual((yield* listJobs).length, 1)
      })
    )
  )

  it.effect("a worker failure becomes failed with its reason; the janitor cleans up and reports the count", () =>
    run(
      Effect.gen(function* () {
        const { fake } = yield* startControllers(backupReconciler)
        yield* createCluster()
        yield* createBackup("b1")
        yield* settle
        yield* fake.jobs.start(namespace, "b1-backup")
        yield* settle
        yield* fake.jobs.finish(namespace, "b1-backup", {
          result: "failed",
          terminationMessage: JSON.stringify({
            reason: "XtraBackupFailed",
            message: "mariabackup failed (exit code 1): boom"
          })
        })
        yield* settle
        const failed = yield* getBackup("b1")
        assert.strictEqual(failed.status?.phase, "failed")
        assert.strictEqual(findCondition(failed.status?.conditions, "Completed")?.reason, "XtraBackupFailed")
        assert.strictEqual(failed.status?.error, "XtraBackupFailed: mariabackup failed (exit code 1): boom")
        const jobs = yield* listJobs
        const cleanup = jobs.find((j) => j.metadata.name === "b1-cleanup")
        assert.isDefined(cleanup)
        const env = (
          cleanup?.spec?.template.spec?.containers[0] as { env?: Array<{ name: string; value: string }> } | undefined
        )?.env
        assert.strictEqual(
          env?.find((v) => v.name === "CLEANUP_PREFIX")?.value,
          `prod/c/b1/${failed.status?.backupId}/`
        )
        // the backup Job may go now: its finalizer is off
        assert.deepStrictEqual(jobs.find((j) => j.metadata.name === "b1-backup")?.metadata.finalizers ?? [], [])
        assert.strictEqual(
          findCondition((yield* getBackup("b1")).status?.conditions, "UploadsCleanedUp")?.status,
          "Unknown"
        )

        yield* fake.jobs.start(namespace, "b1-cleanup")
        yield* fake.jobs.finish(namespace, "b1-cleanup", {
          result: "succeeded",
          terminationMessage: JSON.stringify({ prefix: "p/", aborted: 2, alreadyGone: 0 })
        })
        yield* settle
        const cleaned = yield* getBackup("b1")
        assert.strictEqual(findCondition(cleaned.status?.conditions, "UploadsCleanedUp")?.status, "True")
        const events = (yield* eventsOf("b1")).join("\n")
        assert.include(events, "Warning XtraBackupFailed: mariabackup failed")
        assert.include(events, "Normal CleanupStarted")
        assert.include(events, "Normal CleanedUp: aborted 2 incomplete multipart upload(s)")
        assert.strictEqual(cleaned.status?.phase, "failed")
      })
    )
  )

  it.effect("a Job that fails without a worker report takes the Job condition's reason (DeadlineExceeded)", () =>
    run(
      Effect.gen(function* () {
        const { fake } = yield* startControllers(backupReconciler)
        yield* createCluster()
        yield* createBackup("b1")
        yield* settle
        yield* fake.jobs.start(namespace, "b1-backup")
        yield* fake.jobs.finish(namespace, "b1-backup", { result: "failed", reason: "DeadlineExceeded", exitCode: 137 })
        yield* settle
        const failed = yield* getBackup("b1")
        assert.strictEqual(failed.status?.phase, "failed")
        assert.strictEqual(findCondition(failed.status?.conditions, "Completed")?.reason, "DeadlineExceeded")
        assert.include(failed.status?.error ?? "", "exited with code 137")
      })
    )
  )

  it.effect("a controller restart mid-backup converges without a second Job or a second backup id", () =>
    run(
      Effect.gen(function* () {
        yield* TestClock.setTime(Date.parse("2026-12-01T10:00:00Z"))
        const first = yield* startControllers(backupReconciler)
        yield* createCluster()
        yield* createBackup("b1")
        yield* settle
        const id = (yield* getBackup("b1")).status?.backupId
        yield* Fiber.interrupt(first.fiber)
        yield* TestClock.adjust("90 seconds")
        yield* first.fake.jobs.start(namespace, "b1-backup")
        const second = yield* startControllers(backupReconciler)
        yield* TestClock.adjust("1 second")
        yield* settle
        assert.strictEqual((yield* getBackup("b1")).status?.phase, "running")
        assert.strictEqual((yield* getBackup("b1")).status?.backupId, id)
        yield* second.fake.jobs.finish(namespace, "b1-backup", {
          result: "succeeded",
          terminationMessage: JSON.stringify(workerResult(id ?? ""))
        })
        yield* settle
        assert.strictEqual((yield* getBackup("b1")).status?.phase, "completed")
        assert.strictEqual((yield* listJobs).length, 1)
        const creates = (yield* second.fake.audit).filter((e) => e.verb === "create" && e.plural === "jobs")
        assert.strictEqual(creates.length, 1)
      })
    )
  )

  it.effect("a 409 on the status write and dropped watches: the loop converges", () =>
    run(
      Effect.gen(function* () {
        const { fake } = yield* startControllers(backupReconciler)
        yield* createCluster()
        yield* fake.faults.failNextWrite({ code: 409, verb: "patch", plural: "backups" })
        yield* createBackup("b1")
        yield* settle
        yield* TestClock.adjust("1 second")
        yield* settle
        assert.strictEqual((yield* getBackup("b1")).status?.phase, "pending")
        yield* fake.faults.dropWatches
        yield* fake.jobs.start(namespace, "b1-backup")
        yield* TestClock.adjust("5 seconds")
        yield* settle
        yield* fake.faults.dropWatches
        yield* fake.jobs.finish(namespace, "b1-backup", {
          result: "succeeded",
          terminationMessage: JSON.stringify(workerResult((yield* getBackup("b1")).status?.backupId ?? ""))
        })
        yield* TestClock.adjust("5 seconds")
        yield* settle
        assert.strictEqual((yield* getBackup("b1")).status?.phase, "completed")
        assert.strictEqual((yield* listJobs).length, 1)
      })
    )
  )

  it.effect(
    "a Job deleted under a running Backup: failed JobDeleted, its Pods stopped, uploads cleaned, Job gone",
    () =>
      run(
        Effect.gen(function* () {
          const { fake } = yield* startControllers(backupReconciler)
          const api = yield* KubeApi
          yield* createCluster()
          yield* createBackup("b1")
          yield* settle
          yield* fake.jobs.start(namespace, "b1-backup")
          yield* settle
          yield* api.delete(Resources.jobs, { namespace, name: "b1-backup" }, { propagationPolicy: "Background" })
          yield* settle
          const failed = yield* getBackup("b1")
          assert.strictEqual(failed.status?.phase, "failed")
          assert.strictEqual(findCondition(failed.status?.conditions, "Completed")?.reason, "JobDeleted")
          // the worker Pod is deleted before anything is cleaned (it might still be writing)
          assert.strictEqual((yield* listPods).filter((p) => p.metadata.name?.startsWith("b1-backup")).length, 0)
          yield* TestClock.adjust("5 seconds")
          yield* settle
          const jobs = yield* listJobs
          assert.deepStrictEqual(
            jobs.map((j) => j.metadata.name),
            ["b1-cleanup"]
          )
          // a terminal Backup's deleted Job is not recreated
          yield* TestClock.adjust("1 minute")
          yield* settle
          assert.deepStrictEqual(
            (yield* listJobs).map((j) => j.metadata.name),
            ["b1-cleanup"]
          )
        })
      )
  )

  it.effect("a Backup deleted mid-run: its Job goes with it, after an orphan cleanup Job was created", () =>
    run(
      Effect.gen(function* () {
        const { fake } = yield* startControllers(backupReconciler)
        const api = yield* KubeApi
        yield* createCluster()
        yield* createBackup("b1")
        yield* settle
        yield* fake.jobs.start(namespace, "b1-backup")
        yield* settle
        yield* api.delete(Resources.backups, { namespace, name: "b1" })
        yield* fake.gc
        yield* settle
        yield* TestClock.adjust("5 seconds")
        yield* settle
        yield* fake.gc
        yield* settle
        const jobs = yield* listJobs
        assert.deepStrictEqual(
          jobs.map((j) => j.metadata.name),
          ["b1-cleanup"]
        )
        const cleanup = jobs[0]
        assert.isUndefined(cleanup?.metadata.ownerReferences)
        assert.strictEqual(cleanup?.spec?.ttlSecondsAfterFinished, 3600)
      })
    )
  )

  it.effect("a worker Pod that cannot pull its image: failed ErrImagePull, Job deleted, nothing to clean", () =>
    run(
      Effect.gen(function* () {
        const { fake } = yield* startControllers(backupReconciler)
        yield* createCluster()
        yield* createBackup("b1")
        yield* settle
        yield* fake.jobs.start(namespace, "b1-backup")
        const pod = (yield* listPods)[0]
        const podsRef = { group: "", version: "v1", plural: "pods", namespace }
        yield* fake.statusMergePatch(podsRef, pod?.metadata.name ?? "", {
          status: {
            phase: "Pending",
            containerStatuses: [
              {
                name: "backup",
                ready: false,
                restartCount: 0,
                state: { waiting: { reason: "ErrImagePull", message: "no such image" } }
              }
            ]
          }
        })
        yield* settle
        const failed = yield* getBackup("b1")
        assert.strictEqual(failed.status?.phase, "failed")
        assert.strictEqual(findCondition(failed.status?.conditions, "Completed")?.reason, "ErrImagePull")
        yield* fake.gc
        yield* settle
        assert.deepStrictEqual(
          (yield* listJobs).map((j) => j.metadata.name),
          []
        )
      })
    )
  )

  it.effect(
    "a worker Pod waiting for a missing object-store key: failed ObjectStoreSecretMissing naming Secret and key, Job deleted",
    () =>
      run(
        Effect.gen(function* () {
          const { fake } = yield* startControllers(backupReconciler)
          const api = yield* KubeApi
          yield* createCluster()
          yield* createBackup("b1")
          yield* settle
          yield* fake.jobs.start(namespace, "b1-backup")
          const pod = (yield* listPods)[0]
          const podsRef = { group: "", version: "v1", plural: "pods", namespace }
          // the kubelet cannot set up the projected volume: the Pod stays ContainerCreating, the reason is an Event
          yield* fake.statusMergePatch(podsRef, pod?.metadata.name ?? "", {
            status: {
              phase: "Pending",
              containerStatuses: [
                { name: "backup", ready: false, restartCount: 0, state: { waiting: { reason: "ContainerCreating" } } }
              ]
            }
          })
          yield* settle
          assert.strictEqual((yield* getBackup("b1")).status?.phase, "running")
          yield* api.create(Resources.events, {
            metadata: { namespace, generateName: "b1-backup." },
            involvedObject: { kind: "Pod", namespace, name: pod?.metadata.name ?? "", uid: pod?.metadata.uid ?? "" },
            reason: "FailedMount",
            type: "Warning",
            message:
              'MountVolume.SetUp failed for volume "object-store" : references non-existent secret key: SECRET_ACCESS_KEY',
            source: { component: "kubelet", host: "node" }
          })
          // no object changes: the Backup is looked at again while its Pod has not started
          yield* TestClock.adjust("10 seconds")
          yield* settle
          const failed = yield* getBackup("b1")
          assert.strictEqual(failed.status?.phase, "failed")
          const condition = findCondition(failed.status?.conditions, "Completed")
          assert.strictEqual(condition?.reason, "ObjectStoreSecretMissing")
          assert.include(condition?.message ?? "", `Secret ${namespace}/s3-creds has no key SECRET_ACCESS_KEY`)
          assert.isTrue(
            (yield* eventsOf("b1")).some((e) =>
              e.startsWith("Warning ObjectStoreSecretMissing: the object store's Secret")
            )
          )
          yield* fake.gc
          yield* settle
          assert.deepStrictEqual(
            (yield* listJobs).map((j) => j.metadata.name),
            []
          )
        })
      )
  )

  it.effect("a completed Backup is never rerun: its deleted Job is not recreated", () =>
    run(
      Effect.gen(function* () {
        const { fake } = yield* startControllers(backupReconciler)
        const api = yield* KubeApi
        yield* createCluster()
        yield* createBackup("b1")
        yield* settle
        yield* fake.jobs.start(namespace, "b1-backup")
        yield* fake.jobs.finish(namespace, "b1-backup", {
          result: "succeeded",
          terminationMessage: JSON.stringify(workerResult((yield* getBackup("b1")).status?.backupId ?? ""))
        })
        yield* settle
        yield* api.delete(Resources.jobs, { namespace, name: "b1-backup" }, { propagationPolicy: "Background" })
        yield* settle
        yield* fake.gc
        yield* TestClock.adjust("1 minute")
        yield* settle
        assert.deepStrictEqual(
          (yield* listJobs).map((j) => j.metadata.name),
          []
        )
        assert.strictEqual((yield* getBackup("b1")).status?.phase, "completed")
      })
    )
  )
})
