/**
 * Point-in-time recovery on the controller side: `bootstrap.recovery.recoveryTarget` reaches the recovery Job as
 * `RESTORE_RECOVERY_TARGET_*` (from a Backup and from a raw object-store source), a `RecoveryTargetUnreachable`
 * termination message fails the Cluster before any instance starts, and a replayed restore lands in
 * `status.recovery.pointInTime`. Pure decisions first, then the reconcile loop on the fake API server.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import type { Cluster } from "../../../src/api/cluster.ts"
import { RestoreEnv } from "../../../src/api/jobs.ts"
import { decide } from "../../../src/controller/cluster/decide.ts"
import { recoveryPlan } from "../../../src/controller/cluster/recovery.ts"
import { renderRecoveryJob } from "../../../src/controller/cluster/render.ts"
import { findCondition } from "../../../src/controller/conditions.ts"
import type { RecordedEvent } from "../../../src/controller/Events.ts"
import { KubeApi } from "../../../src/kube/KubeApi.ts"
import { type Job, Resources } from "../../../src/kube/resources.ts"
import { FakeCluster } from "../../../src/sandbox/FakeCluster.ts"
import { layerFake } from "../../../src/sandbox/KubeApiFake.ts"
import { backupObject, clusterObject, completed, fromSource, objectStore, reconcileOnce, ref, sha } from "./fixtures.ts"

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

  it.effect("the reconcile loop: target in the Job, then the replayed result in status.recovery", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const fake = yield* FakeCluster
      const events: Array<RecordedEvent> = []
      const reconcile = reconcileOnce("ns/pitr", events)
      yield* api.create(
        Resources.clusters,
        clusterObject("pitr", { ...fromSource(), ...withTarget({ source: "old" }, byGtid) })
      )
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
    }).pipe(Effect.provide(Layer.fresh(layerFake.pipe(Layer.provideMerge(FakeCluster.layer)))))
  )
})
