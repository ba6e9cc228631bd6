/**
 * Point-in-time recovery on the controller side: `bootstrap.recovery.recoveryTarget` reaches the recovery plan Job
 * and the recovery Job as `RESTORE_RECOVERY_TARGET_*` (from a Backup and from a raw object-store source); the plan
 * Job runs first and its plan lands in `status.recovery.plan`; an unreachable plan fails the Cluster before the
 * recovery Job (or instance 1's volume) exists; a `RecoveryTargetUnreachable` termination message of the recovery
 * Job (the archive changed in between) still fails it before any instance starts; a replayed restore lands in
 * `status.recovery.pointInTime`. Pure decisions first, then the reconcile loop on the fake API server.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Schema } from "effect"
import type { Cluster, ClusterStatus } from "../../../src/api/cluster.ts"
import { instanceImage } from "../../../src/api/images.ts"
import { RestoreEnv } from "../../../src/api/jobs.ts"
import { decide } from "../../../src/controller/cluster/decide.ts"
import { type PlanOutcome, recoveryPlan } from "../../../src/controller/cluster/recovery.ts"
import { renderRecoveryJob, renderRecoveryPlanJob } from "../../../src/controller/cluster/render.ts"
import { findCondition } from "../../../src/controller/conditions.ts"
import type { RecordedEvent } from "../../../src/controller/Events.ts"
import { KubeApi } from "../../../src/kube/KubeApi.ts"
import { type Job, Resources } from "../../../src/kube/resources.ts"
import { FakeCluster } from "../../../src/sandbox/FakeCluster.ts"
import { layerFake } from "../../../src/sandbox/KubeApiFake.ts"
import {
  backupObject,
  clusterObject,
  completed,
  fromSource,
  objectStore,
  reconcileFresh,
  ref,
  sha
} from "./fixtures.ts"

const byGtid = { targetGTID: "0-1-41" }
const byTime = { targetTime: "2026-12-01T11:00:00+01:00" }
const withTarget = (recovery: Record<string, unknown>, recoveryTarget: Record<string, unknown>) => ({
  bootstrap: { recovery: { ...recovery, recoveryTarget } }
})
const lookup = { backup: () => backupObject("nightly", completed), cluster: () => undefined }

type Env = ReadonlyArray<{ name: string; value?: string }>
const jobEnv = (job: Job) => {
  const spec = job.spec?.template.spec as unknown as { containers: Array<{ env: Env }> }
  return Object.fromEntries((spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]))
}

const replayed = {
  backupId: "20261201T101500Z",
  archiveKey: "prod/source/nightly/20261201T101500Z/backup.xbstream",
  size: 12345,
  sha256: sha,
  gtid: "0-1-41",
  pointInTime: {
    target: "targetGTID 0-1-41",
    startGTID: "0-1-30",
    binlogFiles: ["server-1/mysql-bin.000003", "server-1/mysql-bin.000004"]
  },
  startedAt: "2026-12-01T10:00:00Z",
  stoppedAt: "2026-12-01T10:02:00Z"
}

const reachablePlan = {
  target: "targetGTID 0-1-41",
  reachable: true,
  backupId: "20261201T101500Z",
  archiveKey: "prod/source/nightly/20261201T101500Z/backup.xbstream",
  startGTID: "0-1-30",
  files: [
    { series: "server-1", file: "mysql-bin.000003", size: 1024 },
    { series: "server-1", file: "mysql-bin.000004", size: 2048 }
  ],
  fileCount: 2,
  byteCount: 3072
}
const unreachablePlan = {
  target: "targetGTID 0-1-41",
  reachable: false,
  why: "ArchiveGap",
  message: "recovery target targetGTID 0-1-41 is unreachable (ArchiveGap): no archived file continues from 0-1-35",
  backupId: "20261201T101500Z",
  archiveKey: "prod/source/nightly/20261201T101500Z/backup.xbstream"
}

describe("point-in-time recovery: controller", () => {
  it.effect("the target reaches the recovery Job's environment, from a Backup and from a source", () =>
    Effect.gen(function* () {
      const cases = [
        [ref(withTarget({ backup: { name: "nightly" } }, byGtid)), "RESTORE_RECOVERY_TARGET_GTID", "0-1-41"],
        [
          ref({ ...fromSource(), ...withTarget({ source: "old" }, byTime) }),
          "RESTORE_RECOVERY_TARGET_TIME",
          "2026-12-01T11:00:00+01:00"
        ]
      ] as const
      for (const [cluster, variable, value] of cases) {
        const plan = yield* recoveryPlan(cluster, lookup)
        assert.isDefined(plan)
        if (plan === undefined) return
        const env = jobEnv(renderRecoveryJob(cluster, plan))
        const decoded = yield* Schema.decodeUnknownEffect(RestoreEnv)(env)
        assert.strictEqual(decoded[variable], value)
        // the plan Job plans exactly what the recovery Job will restore: the same environment
        assert.deepStrictEqual(jobEnv(renderRecoveryPlanJob(cluster, plan)), env)
        assert.strictEqual(
          Object.keys(env).filter((k) => k.startsWith("RESTORE_RECOVERY_TARGET_")).length,
          1,
          "exactly one target"
        )
      }
      const plain = yield* recoveryPlan(ref({ bootstrap: { recovery: { backup: { name: "nightly" } } } }), lookup)
      assert.isUndefined(plain?.recoveryTarget)
      if (plain === undefined) return
      assert.notInclude(JSON.stringify(renderRecoveryJob(ref(), plain)), "RESTORE_RECOVERY_TARGET_")
    })
  )

  it.effect(
    "a GTID target in another flavour's form is InvalidConfiguration before any Job; a MySQL set is taken",
    () =>
      Effect.gen(function* () {
        const mysqlSet = "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-41"
        const mysqlCluster = (targetGTID: string) => {
          const cluster = ref(withTarget({ backup: { name: "nightly" } }, { targetGTID }))
          return { ...cluster, spec: { ...cluster.spec, imageName: instanceImage("8.4") } }
        }
        const refused = [
          ref(withTarget({ backup: { name: "nightly" } }, { targetGTID: mysqlSet })),
          mysqlCluster("0-1-41")
        ]
        for (const cluster of refused) {
          const error = yield* Effect.flip(recoveryPlan(cluster, lookup))
          assert.strictEqual(error._tag, "InvalidConfiguration")
        }
        const plan = yield* recoveryPlan(mysqlCluster(mysqlSet), lookup)
        assert.strictEqual(plan?.recoveryTarget?.targetGTID, mysqlSet)
        if (plan === undefined) return
        const env = jobEnv(renderRecoveryPlanJob(mysqlCluster(mysqlSet), plan))
        assert.deepStrictEqual([env.RESTORE_FLAVOR, env.RESTORE_RECOVERY_TARGET_GTID], ["mysql", mysqlSet])
      })
  )

  it("an unreachable target fails the Cluster with its reason and a Warning Event, nothing starts", () => {
    const plan = { objectStore, target: { _tag: "Prefix" as const, source: "old" }, recoveryTarget: byGtid }
    const decision = decide(
      {
        cluster: ref({ ...fromSource(), ...withTarget({ source: "old" }, byGtid) }),
        generation: 1,
        status: {},
        recovery: {
          _tag: "Resolved",
          plan,
          job: {
            outcome: {
              _tag: "Failed",
              failure: {
                reason: "RecoveryTargetUnreachable",
                message: "targetGTID 0-1-41 is unreachable (AfterLastArchivedTransaction): the archive ends at 0-1-35"
              }
            }
          }
        },
        instances: [{ serial: 1, name: "db-1", hasPvc: true }]
      },
      "2026-12-01T12:00:00Z"
    )
    assert.strictEqual(decision.status.phase, "failed")
    const condition = findCondition(decision.status.conditions, "Recovered")
    assert.strictEqual(condition?.status, "False")
    assert.strictEqual(condition?.reason, "RecoveryTargetUnreachable")
    assert.include(condition?.message ?? "", "AfterLastArchivedTransaction")
    assert.deepStrictEqual(
      decision.events.map((e) => [e.type, e.reason]),
      [["Warning", "RecoveryTargetUnreachable"]]
    )
    assert.deepStrictEqual(decision.actions, [])
  })

  it("the plan Job runs first; its reachable plan is copied to status.recovery.plan, then the recovery Job starts", () => {
    const plan = { objectStore, target: { _tag: "Prefix" as const, source: "old" }, recoveryTarget: byGtid }
    const cluster = ref({ ...fromSource(), ...withTarget({ source: "old" }, byGtid) })
    const at = (planJob: "absent" | "stale" | "running" | { outcome: PlanOutcome }, status: ClusterStatus = {}) =>
      decide(
        { cluster, generation: 1, status, recovery: { _tag: "Resolved", plan, job: "absent", planJob }, instances: [] },
        "2026-12-01T12:00:00Z"
      )
    const absent = at("absent")
    assert.strictEqual(absent.status.phase, "recovering")
    assert.deepStrictEqual(absent.actions, [{ _tag: "CreateRecoveryPlanJob", plan }])
    assert.strictEqual(findCondition(absent.status.conditions, "Recovered")?.reason, "RecoveryPlanning")
    assert.deepStrictEqual(
      absent.events.map((e) => [e.type, e.reason]),
      [["Normal", "RecoveryPlanning"]]
    )
    const stale = at("stale", { recovery: { plan: { ...unreachablePlan, target: "targetGTID 0-1-99" } } })
    assert.deepStrictEqual(stale.actions, [{ _tag: "DeleteRecoveryPlanJob", name: "db-1-recovery-plan" }])
    assert.isUndefined(stale.status.recovery?.plan)
    const running = at("running", absent.status)
    assert.deepStrictEqual(running.actions, [])
    assert.deepStrictEqual(running.events, [])
    const planned = at({ outcome: { _tag: "Planned", plan: reachablePlan } }, running.status)
    assert.deepStrictEqual(
      planned.actions.map((a) => a._tag),
      ["CreatePvc", "CreateRecoveryJob"]
    )
    assert.deepStrictEqual(planned.status.recovery?.plan, { ...reachablePlan, jobName: "db-1-recovery-plan" })
    assert.deepStrictEqual(
      planned.events.map((e) => [e.type, e.reason]),
      [
        ["Normal", "RecoveryPlanned"],
        ["Normal", "RecoveryStarted"]
      ]
    )
    assert.include(
      planned.events[0]?.message ?? "",
      "backup 20261201T101500Z then 2 archived binlog file(s) (3072 bytes)"
    )
  })

  it("an unreachable plan, a failed or an unstartable plan Job fail the Cluster without the recovery Job", () => {
    const plan = { objectStore, target: { _tag: "Prefix" as const, source: "old" }, recoveryTarget: byGtid }
    const cluster = ref({ ...fromSource(), ...withTarget({ source: "old" }, byGtid) })
    const cases: ReadonlyArray<[PlanOutcome, string, string]> = [
      [{ _tag: "Planned", plan: unreachablePlan }, "RecoveryTargetUnreachable", "ArchiveGap"],
      [
        { _tag: "Failed", failure: { reason: "ObjectStoreDownloadFailed", message: "503 from ListObjectsV2" } },
        "ObjectStoreDownloadFailed",
        "503"
      ],
      [{ _tag: "Unstartable", reason: "ErrImagePull", message: "no such image" }, "ErrImagePull", "no such image"]
    ]
    for (const [outcome, reason, detail] of cases) {
      const decision = decide(
        {
          cluster,
          generation: 1,
          status: {},
          recovery: { _tag: "Resolved", plan, job: "absent", planJob: { outcome } },
          instances: []
        },
        "2026-12-01T12:00:00Z"
      )
      assert.strictEqual(decision.status.phase, "failed", reason)
      assert.deepStrictEqual(decision.actions, [], reason)
      const condition = findCondition(decision.status.conditions, "Recovered")
      assert.strictEqual(condition?.reason, reason)
      assert.include(condition?.message ?? "", detail)
      assert.deepStrictEqual(
        decision.events.map((e) => [e.type, e.reason]),
        [["Warning", reason]]
      )
      assert.deepStrictEqual(
        decision.status.recovery?.plan,
        outcome._tag === "Planned" ? { ...unreachablePlan, jobName: "db-1-recovery-plan" } : undefined
      )
    }
  })

  it.effect("the reconcile loop: an unreachable plan fails the Cluster; no recovery Job, no volume", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const fake = yield* FakeCluster
      const events: Array<RecordedEvent> = []
      const reconcile = reconcileFresh("ns/gap", events)
      yield* api.create(
        Resources.clusters,
        clusterObject("gap", { ...fromSource(), ...withTarget({ source: "old" }, byGtid) })
      )
      yield* reconcile
      yield* fake.jobs.start("ns", "gap-1-recovery-plan")
      yield* fake.jobs.finish("ns", "gap-1-recovery-plan", {
        result: "succeeded",
        terminationMessage: JSON.stringify(unreachablePlan)
      })
      yield* reconcile
      yield* reconcile
      const cluster: Cluster = yield* api.get(Resources.clusters, { namespace: "ns", name: "gap" })
      assert.strictEqual(cluster.status?.phase, "failed")
      assert.strictEqual(findCondition(cluster.status?.conditions, "Recovered")?.reason, "RecoveryTargetUnreachable")
      assert.deepStrictEqual(cluster.status?.recovery?.plan, { ...unreachablePlan, jobName: "gap-1-recovery-plan" })
      const recoveryJob = yield* Effect.exit(api.get(Resources.jobs, { namespace: "ns", name: "gap-1-recovery" }))
      assert.isTrue(Exit.isFailure(recoveryJob), "the recovery Job was never created")
      const pvc = yield* Effect.exit(api.get(Resources.persistentVolumeClaims, { namespace: "ns", name: "gap-1" }))
      assert.isTrue(Exit.isFailure(pvc), "instance 1's volume was never created")
      assert.deepStrictEqual(
        events.filter((e) => e.type === "Warning").map((e) => e.reason),
        ["RecoveryTargetUnreachable"]
      )

      // another target in the spec: the plan Job of the old one is deleted, a new one plans, the old plan is gone
      yield* api.patch(
        Resources.clusters,
        { namespace: "ns", name: "gap" },
        { spec: { bootstrap: { recovery: { source: "old", recoveryTarget: { targetGTID: "0-1-30" } } } } }
      )
      yield* reconcile
      const replanning: Cluster = yield* api.get(Resources.clusters, { namespace: "ns", name: "gap" })
      assert.strictEqual(findCondition(replanning.status?.conditions, "Recovered")?.reason, "RecoveryPlanning")
      assert.isUndefined(replanning.status?.recovery?.plan, "the old target's plan is not shown")
      const deleted = yield* Effect.exit(api.get(Resources.jobs, { namespace: "ns", name: "gap-1-recovery-plan" }))
      assert.isTrue(Exit.isFailure(deleted), "the old target's plan Job is deleted")
      yield* reconcile
      const again: Job = yield* api.get(Resources.jobs, { namespace: "ns", name: "gap-1-recovery-plan" })
      assert.strictEqual(jobEnv(again).RESTORE_RECOVERY_TARGET_GTID, "0-1-30")
      assert.strictEqual(again.metadata?.annotations?.["cloudnative-mysql.io/recovery-target"], "targetGTID 0-1-30")
      assert.deepStrictEqual(
        events.filter((e) => e.reason === "RecoveryPlanning").map((e) => e.message),
        [
          "created Job gap-1-recovery-plan to plan the recovery to targetGTID 0-1-41",
          "created Job gap-1-recovery-plan to plan the recovery to targetGTID 0-1-30"
        ]
      )
    }).pipe(Effect.provide(Layer.fresh(layerFake.pipe(Layer.provideMerge(FakeCluster.layer)))))
  )

  it.effect("the reconcile loop: plan Job, plan in status, target in the Job, then the replayed result", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const fake = yield* FakeCluster
      const events: Array<RecordedEvent> = []
      const reconcile = reconcileFresh("ns/pitr", events)
      yield* api.create(
        Resources.clusters,
        clusterObject("pitr", { ...fromSource(), ...withTarget({ source: "old" }, byGtid) })
      )
      yield* reconcile
      const planJob: Job = yield* api.get(Resources.jobs, { namespace: "ns", name: "pitr-1-recovery-plan" })
      assert.strictEqual(jobEnv(planJob).RESTORE_RECOVERY_TARGET_GTID, "0-1-41")
      assert.notInclude(JSON.stringify(planJob.spec?.template.spec), "persistentVolumeClaim", "no data volume")
      const early = yield* Effect.exit(api.get(Resources.jobs, { namespace: "ns", name: "pitr-1-recovery" }))
      assert.isTrue(Exit.isFailure(early), "no recovery Job before the plan")
      yield* fake.jobs.start("ns", "pitr-1-recovery-plan")
      yield* fake.jobs.finish("ns", "pitr-1-recovery-plan", {
        result: "succeeded",
        terminationMessage: JSON.stringify(reachablePlan)
      })
      yield* reconcile
      const job: Job = yield* api.get(Resources.jobs, { namespace: "ns", name: "pitr-1-recovery" })
      assert.strictEqual(jobEnv(job).RESTORE_RECOVERY_TARGET_GTID, "0-1-41")
      yield* fake.jobs.start("ns", "pitr-1-recovery")
      yield* fake.jobs.finish("ns", "pitr-1-recovery", {
        result: "succeeded",
        terminationMessage: JSON.stringify(replayed)
      })
      yield* reconcile
      const cluster: Cluster = yield* api.get(Resources.clusters, { namespace: "ns", name: "pitr" })
      assert.deepStrictEqual(cluster.status?.recovery?.pointInTime, replayed.pointInTime)
      assert.strictEqual(cluster.status?.recovery?.endGTID, "0-1-41")
      const recovered = findCondition(cluster.status?.conditions, "Recovered")
      assert.strictEqual(recovered?.status, "True")
      assert.include(recovered?.message ?? "", "replayed 2 archived binlog files to targetGTID 0-1-41")
      assert.deepStrictEqual(cluster.status?.recovery?.plan, { ...reachablePlan, jobName: "pitr-1-recovery-plan" })
      assert.deepStrictEqual(
        events.filter((e) => e.reason.startsWith("Recovery")).map((e) => e.reason),
        ["RecoveryPlanning", "RecoveryPlanned", "RecoveryStarted"]
      )
    }).pipe(Effect.provide(Layer.fresh(layerFake.pipe(Layer.provideMerge(FakeCluster.layer)))))
  )
})
