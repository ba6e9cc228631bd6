/**
 * The shared controller infrastructure on the fake store: conditions, the one status write, the shared caches
 * and `Controller.make`'s mapping of owned and watched objects to primary keys, and the metrics text.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Schema } from "effect"
import type { Backup } from "../../src/api/backup.ts"
import type { Condition } from "../../src/api/common.ts"
import { labels } from "../../src/api/names.ts"
import { Caches, indexes } from "../../src/controller/Caches.ts"
import * as Controller from "../../src/controller/Controller.ts"
import { findCondition, setCondition } from "../../src/controller/conditions.ts"
import { Events } from "../../src/controller/Events.ts"
import { Metrics } from "../../src/controller/Metrics.ts"
import { compacted } from "../../src/controller/projections.ts"
import { jsonEqual, mergePatchBetween, writeStatus } from "../../src/controller/status.ts"
import { KubeApi } from "../../src/kube/KubeApi.ts"
import { Resources } from "../../src/kube/resources.ts"
import { makeMetrics } from "../../src/platform/metrics.ts"
import { FakeCluster } from "../../src/sandbox/FakeCluster.ts"
import { layerFake } from "../../src/sandbox/KubeApiFake.ts"
import { clusterObject, fromBackup } from "./cluster/fixtures.ts"

const settle = Effect.gen(function* () {
  for (let i = 0; i < 100; i++) yield* Effect.yieldNow
})

const FakeLayer = layerFake.pipe(Layer.provideMerge(FakeCluster.layer))

const backup = (name: string, cluster = "db"): Backup => ({
  apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
  kind: "Backup",
  metadata: { namespace: "ns", name },
  spec: { cluster: { name: cluster }, method: "xtrabackup", target: "prefer-standby", online: true }
})

/** Arbitrary JSON-ish values as the status of an object can hold. */
const Json: Schema.Codec<unknown> = Schema.Union([
  Schema.String,
  Schema.Int,
  Schema.Boolean,
  Schema.Array(Schema.Int),
  Schema.Record(
    Schema.Literals(["a", "b", "c"]),
    Schema.Union([Schema.String, Schema.Record(Schema.Literals(["x", "y"]), Schema.Int)])
  )
])
const JsonObject = Schema.Record(Schema.Literals(["p", "q", "r", "s"]), Json)

/** RFC 7386 applied, to check the patches the diff produces. */
const applyMergePatch = (target: unknown, patch: unknown): unknown => {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch
  const base =
    typeof target === "object" && target !== null && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {}
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete base[key]
    else base[key] = applyMergePatch(base[key], value)
  }
  return base
}

describe("setCondition", () => {
  const ready = (status: Condition["status"], reason: string, message = "m") => ({
    type: "Ready",
    status,
    reason,
    message
  })

  it("moves lastTransitionTime only when the status changes", () => {
    const first = setCondition(undefined, ready("False", "Waiting"), "2026-01-01T00:00:00Z")
    const reworded = setCondition(first, ready("False", "StillWaiting", "other"), "2026-01-01T00:05:00Z")
    assert.strictEqual(findCondition(reworded, "Ready")?.lastTransitionTime, "2026-01-01T00:00:00Z")
    assert.strictEqual(findCondition(reworded, "Ready")?.reason, "StillWaiting")
    const flipped = setCondition(reworded, ready("True", "Done"), "2026-01-01T00:10:00Z")
    assert.strictEqual(findCondition(flipped, "Ready")?.lastTransitionTime, "2026-01-01T00:10:00Z")
  })

  it("keeps one entry per type and the others' order; returns the same list when nothing changes", () => {
    const a = setCondition(undefined, { type: "A", status: "True", reason: "R", message: "" }, "t1")
    const ab = setCondition(a, { type: "B", status: "False", reason: "R", message: "" }, "t1")
    const again = setCondition(ab, { type: "A", status: "True", reason: "R", message: "" }, "t2")
    assert.strictEqual(again, ab)
    assert.deepStrictEqual(
      setCondition(ab, { type: "A", status: "False", reason: "S", message: "" }, "t3").map((c) => c.type),
      ["A", "B"]
    )
  })
})

describe("mergePatchBetween", () => {
  it.prop(
    "applying the patch to `from` gives `to`; equal values give no patch",
    { from: JsonObject, to: JsonObject },
    ({ from, to }) => {
      const patch = mergePatchBetween(from, to)
      if (jsonEqual(from, to)) assert.isUndefined(patch)
      else assert.isTrue(jsonEqual(applyMergePatch(from, patch), to))
    }
  )
})

describe("compacted", () => {
  it.prop("is the same JSON value", { value: JsonObject }, ({ value }) => {
    assert.isTrue(jsonEqual(compacted(value), value))
  })
})

describe("writeStatus", () => {
  it.effect(
    "sends nothing when the status is unchanged, a patch when it changed, Conflict when the read was stale",
    () =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        const fake = yield* FakeCluster
        const created = yield* api.create(Resources.backups, backup("b1"))
        yield* fake.clearAudit
        const same = yield* writeStatus(Resources.backups, created, created.status ?? {})
        assert.strictEqual(same, created)
        assert.strictEqual((yield* fake.audit).length, 0)

        const pending = yield* writeStatus(Resources.backups, created, { phase: "pending" })
        assert.strictEqual(pending.status?.phase, "pending")
        const writes = (yield* fake.audit).filter((entry) => entry.verb === "patch")
        assert.strictEqual(writes.length, 1)
        assert.strictEqual(writes[0]?.subresource, "status")

        // `created` is stale now: a status computed from it must not overwrite the newer one
        const stale = yield* Effect.flip(writeStatus(Resources.backups, created, { phase: "running" }))
        assert.strictEqual(stale._tag, "Conflict")
        const removed = yield* writeStatus(Resources.backups, pending, {})
        assert.isUndefined(removed.status?.phase)
      }).pipe(Effect.provide(FakeLayer))
  )
})

describe("Caches and Controller.make", () => {
  it.effect("indexes Backups by Cluster and Jobs by owner; owned and watched objects enqueue their primary key", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const caches = yield* Caches
      const b1 = yield* api.create(Resources.backups, backup("b1", "db"))
      yield* api.create(Resources.backups, backup("b2", "other"))
      const seen: Array<string> = []
      yield* Layer.launch(
        Controller.make({
          name: "test",
          kind: "backups",
          owns: ["jobs"],
          watches: [
            {
              kind: "clusters",
              map: (cluster, c) =>
                Effect.map(
                  c.backups.byIndex(
                    indexes.backupsByCluster,
                    `${cluster.metadata?.namespace}/${cluster.metadata?.name}`
                  ),
                  (backups) => backups.map((b) => `${b.metadata.namespace}/${b.metadata.name}`)
                )
            }
          ],
          workers: 1,
          reconcile: (key) => Effect.sync(() => void seen.push(key))
        })
      ).pipe(Effect.forkChild)
      yield* settle
      // level-based: the initial replay may deliver a key twice; every object is reconciled
      assert.deepStrictEqual([...new Set(seen)].sort(), ["ns/b1", "ns/b2"])

      seen.length = 0
      yield* api.create(Resources.jobs, {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: {
          namespace: "ns",
          name: "b1-backup",
          labels: { "app.kubernetes.io/managed-by": "cloudnative-mysql" },
          ownerReferences: [
            {
              apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
              kind: "Backup",
              name: "b1",
              uid: b1.metadata.uid ?? "",
              controller: true
            }
          ]
        },
        spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "w", image: "i" }] } } }
      })
      // an unmanaged Job is not even cached
      yield* api.create(Resources.jobs, {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { namespace: "ns", name: "foreign" },
        spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "w", image: "i" }] } } }
      })
      yield* settle
      assert.deepStrictEqual(seen, ["ns/b1"])
      assert.strictEqual(Option.getOrUndefined(yield* caches.jobs.get("ns/b1-backup"))?.metadata.name, "b1-backup")
      assert.isTrue(Option.isNone(yield* caches.jobs.get("ns/foreign")))

      seen.length = 0
      yield* api.create(Resources.clusters, {
        apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
        kind: "Cluster",
        metadata: { namespace: "ns", name: "other" },
        spec: { instances: 1, imageName: "img", storage: { size: "1Gi" } }
      })
      yield* settle
      assert.deepStrictEqual(seen, ["ns/b2"])
      assert.strictEqual((yield* caches.sizes).backups, 2)
    }).pipe(
      Effect.provide(
        Layer.mergeAll(Caches.layer(), Metrics.layer, Events.layerMemory([])).pipe(Layer.provideMerge(FakeLayer))
      )
    )
  )
})

describe("the caches' indexes", () => {
  it.effect("follow an object's index values through changes, a relabel and its deletion", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const caches = yield* Caches
      yield* caches.synced
      const schedule = labels.scheduledBackup
      const bySchedule = (value: string) =>
        Effect.map(caches.backups.byIndex(indexes.backupsBySchedule, `ns/${value}`), (found) =>
          found.map((b) => b.metadata.name)
        )
      const byCluster = (value: string) =>
        Effect.map(caches.backups.byIndex(indexes.backupsByCluster, `ns/${value}`), (found) =>
          found.map((b) => b.metadata.name)
        )
      const created = yield* api.create(Resources.backups, {
        ...backup("b1"),
        metadata: { namespace: "ns", name: "b1", labels: { [schedule]: "s1" } }
      })
      yield* api.create(Resources.backups, backup("b2"))
      yield* settle
      assert.deepStrictEqual(yield* bySchedule("s1"), ["b1"])
      assert.deepStrictEqual((yield* byCluster("db")).sort(), ["b1", "b2"])
      // a change that keeps the index values keeps the object filed once
      const patched = yield* api.patchStatus(
        Resources.backups,
        { namespace: "ns", name: "b1" },
        {
          status: { phase: "running" }
        }
      )
      assert.notStrictEqual(patched.metadata.resourceVersion, created.metadata.resourceVersion)
      yield* api.patch(
        Resources.backups,
        { namespace: "ns", name: "b1" },
        { metadata: { labels: { [schedule]: "s2" } } }
      )
      yield* settle
      assert.deepStrictEqual(yield* bySchedule("s1"), [])
      assert.deepStrictEqual(yield* bySchedule("s2"), ["b1"])
      assert.deepStrictEqual((yield* byCluster("db")).sort(), ["b1", "b2"])
      yield* api.delete(Resources.backups, { namespace: "ns", name: "b1" })
      yield* settle
      assert.deepStrictEqual(yield* bySchedule("s2"), [])
      assert.deepStrictEqual(yield* byCluster("db"), ["b2"])
    }).pipe(Effect.provide(Caches.layer().pipe(Layer.provideMerge(FakeLayer))))
  )

  it.effect("index Clusters by the Backup object their recovery waits for", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const caches = yield* Caches
      yield* caches.synced
      yield* api.create(Resources.clusters, clusterObject("restored", fromBackup))
      yield* api.create(Resources.clusters, clusterObject("fresh"))
      yield* settle
      const waiting = (backup: string) =>
        Effect.map(caches.clusters.byIndex(indexes.clustersByRecoveryBackup, `ns/${backup}`), (found) =>
          found.map((c) => c.metadata.name)
        )
      assert.deepStrictEqual(yield* waiting("nightly"), ["restored"])
      assert.deepStrictEqual(yield* waiting("fresh"), [])
      yield* api.delete(Resources.clusters, { namespace: "ns", name: "restored" })
      yield* settle
      assert.deepStrictEqual(yield* waiting("nightly"), [])
    }).pipe(Effect.provide(Caches.layer().pipe(Layer.provideMerge(FakeLayer))))
  )

  it.effect("never lag the cache: right after the first list, and for an object `get` already finds", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const names = Array.from({ length: 30 }, (_, i) => `b${i}`)
      yield* Effect.forEach(names, (name) => api.create(Resources.backups, backup(name)), { discard: true })
      const byCluster = (caches: typeof Caches.Service) =>
        Effect.map(caches.backups.byIndex(indexes.backupsByCluster, "ns/db"), (found) =>
          found.map((b) => b.metadata.name ?? "").sort()
        )
      yield* Effect.gen(function* () {
        const caches = yield* Caches
        yield* caches.synced
        // no settling: a reconcile runs as soon as the caches have synced
        assert.deepStrictEqual(yield* byCluster(caches), [...names].sort())
        yield* api.create(Resources.backups, backup("late"))
        while (Option.isNone(yield* caches.backups.get("ns/late"))) yield* Effect.yieldNow
        assert.include(yield* byCluster(caches), "late")
      }).pipe(Effect.provide(Caches.layer()))
    }).pipe(Effect.provide(FakeLayer))
  )
})

describe("what the caches keep", () => {
  it.effect(
    "a built-in object keeps no managedFields, a Pod keeps no spec, a Job keeps the template the cleanup Job is rendered from",
    () =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        const caches = yield* Caches
        const managedFields = [{ manager: "kubectl", operation: "Update", fieldsV1: { "f:spec": { "f:x": {} } } }]
        const managed = { "app.kubernetes.io/managed-by": "cloudnative-mysql" }
        const objectStoreSpec = { name: "OBJECT_STORE_SPEC", value: '{"bucket":"b"}' }
        const objectStoreVolume = { name: "object-store", projected: { sources: [{ secret: { name: "s" } }] } }
        const template = {
          metadata: { labels: { "job-name": "b1-backup" } },
          spec: {
            restartPolicy: "Never",
            securityContext: { runAsNonRoot: true },
            containers: [
              {
                name: "w",
                image: "i",
                command: ["x"],
                env: [{ name: "A", value: "1" }, objectStoreSpec],
                securityContext: {}
              }
            ],
            volumes: [{ name: "v", secret: { secretName: "s" } }, objectStoreVolume]
          }
        }
        yield* api.create(Resources.jobs, {
          apiVersion: "batch/v1",
          kind: "Job",
          metadata: { namespace: "ns", name: "b1-backup", labels: managed, managedFields },
          spec: { template }
        })
        yield* api.create(Resources.pods, {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { namespace: "ns", name: "b1-backup-x", labels: managed, managedFields },
          spec: { containers: [{ name: "w", image: "i" }], nodeName: "n" }
        })
        yield* caches.synced
        yield* settle
        const job = Option.getOrThrow(yield* caches.jobs.get("ns/b1-backup"))
        const pod = Option.getOrThrow(yield* caches.pods.get("ns/b1-backup-x"))
        for (const object of [job, pod]) assert.notProperty(object.metadata, "managedFields")
        // what renderCleanupJob reads, and nothing else of the template
        assert.deepStrictEqual(job.spec?.template, {
          spec: { containers: [{ name: "w", image: "i", env: [objectStoreSpec] }], volumes: [objectStoreVolume] }
        })
        assert.notProperty(pod, "spec")
        // status is the API server's (set on create by the status subresource's rules), kept as it is
        assert.isString(pod.status?.phase)
        assert.deepStrictEqual(pod.metadata.labels, managed)
      }).pipe(Effect.provide(Caches.layer().pipe(Layer.provideMerge(FakeLayer))))
  )
})

describe("Metrics", () => {
  it.effect("renders counters and gauges in the Prometheus text format", () =>
    Effect.gen(function* () {
      const metrics = makeMetrics()
      yield* metrics.describe("things_total", "Things")
      yield* metrics.increment("things_total", { kind: 'a"b' })
      yield* metrics.increment("things_total", { kind: 'a"b' }, 2)
      yield* metrics.gauge("depth", "Depth", Effect.succeed([[{ name: "q" }, 5]]))
      const text = yield* metrics.render
      assert.include(text, "# HELP things_total Things\n# TYPE things_total counter\n")
      assert.include(text, 'things_total{kind="a\\"b"} 3\n')
      assert.include(text, '# TYPE depth gauge\ndepth{name="q"} 5\n')
    })
  )
})
