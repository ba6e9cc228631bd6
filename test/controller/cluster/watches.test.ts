/**
 * The Cluster controller's watch on Backups, with the controller running on the fake store: a Cluster whose
 * recovery waits for a Backup moves on when that Backup is created and when it completes. The TestClock stands
 * still, so no requeue can do it: only the watch (fails with the watch removed).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { clusterReconciler } from "../../../src/controller/cluster/reconcile.ts"
import { findCondition } from "../../../src/controller/conditions.ts"
import { KubeApi } from "../../../src/kube/KubeApi.ts"
import { Resources } from "../../../src/kube/resources.ts"
import { ServicesLayer, settle, startControllers } from "../support.ts"
import { backupObject, clusterObject, completed, fromBackup } from "./fixtures.ts"

/** The Cluster controller makes many requests per reconcile: let several rounds of them run. */
const settleLong = Effect.gen(function* () {
  for (let i = 0; i < 20; i++) yield* settle
})

const recovered = Effect.map(
  KubeApi.use((api) => api.get(Resources.clusters, { namespace: "ns", name: "waits" })),
  (cluster) => ({
    phase: cluster.status?.phase,
    reason: findCondition(cluster.status?.conditions, "Recovered")?.reason
  })
)

describe("Cluster controller watches", () => {
  it.effect("a Cluster waiting for a Backup object recovers once that Backup completes", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      yield* startControllers(clusterReconciler)
      yield* api.create(Resources.clusters, clusterObject("waits", fromBackup))
      yield* api.create(Resources.backups, { ...backupObject("other", undefined) })
      yield* settleLong
      assert.deepStrictEqual(yield* recovered, { phase: "pending", reason: "BackupNotFound" })
      const backup = yield* api.create(Resources.backups, backupObject("nightly", undefined))
      yield* settleLong
      assert.strictEqual((yield* recovered).reason, "BackupNotCompleted")
      yield* api.patchStatus(
        Resources.backups,
        { namespace: "ns", name: "nightly" },
        { metadata: { resourceVersion: backup.metadata.resourceVersion }, status: completed }
      )
      yield* settleLong
      assert.strictEqual((yield* recovered).phase, "recovering")
    }).pipe(Effect.provide(ServicesLayer))
  )
})
