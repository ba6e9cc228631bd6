import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { makeEventRecorder } from "../../src/kube/EventRecorder.ts"
import { KubeApi } from "../../src/kube/KubeApi.ts"
import { Resources } from "../../src/kube/resources.ts"
import { FakeCluster } from "../../src/sandbox/FakeCluster.ts"
import { layerFake } from "../../src/sandbox/KubeApiFake.ts"

const TestLayer = layerFake.pipe(Layer.provideMerge(FakeCluster.layer))

const backup = {
  apiVersion: "mysql.cloudnative-mysql.io/v1alpha1" as const,
  kind: "Backup" as const,
  metadata: { namespace: "db", name: "nightly" },
  spec: { cluster: { name: "main" }, method: "xtrabackup" as const, target: "prefer-standby" as const, online: true }
}

/** Events about one object, as `kubectl describe` finds them (field selector on involvedObject). */
const eventsAbout = (name: string) =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const list = yield* api.list(Resources.events, { namespace: "db", fieldSelector: `involvedObject.name=${name}` })
    return list.items
  })

describe("EventRecorder", () => {
  it.effect("repeats of the same reason and message update one Event's count and lastTimestamp", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const created = yield* api.create(Resources.backups, backup)
      const recorder = yield* makeEventRecorder({ component: "cloudnative-mysql-controller", host: "pod-1" })

      yield* recorder.warning(Resources.backups, created, "NoHealthyInstance", "no healthy instance of cluster main")
      yield* TestClock.adjust("90 seconds")
      yield* recorder.warning(Resources.backups, created, "NoHealthyInstance", "no healthy instance of cluster main")
      yield* TestClock.adjust("90 seconds")
      yield* recorder.warning(Resources.backups, created, "NoHealthyInstance", "no healthy instance of cluster main")
      yield* recorder.normal(Resources.backups, created, "Started", "backup job nightly-abc created")

      const events = yield* eventsAbout("nightly")
      assert.strictEqual(events.length, 2)
      const warning = events.find((event) => event.reason === "NoHealthyInstance")
      assert.isDefined(warning)
      assert.strictEqual(warning?.type, "Warning")
      assert.strictEqual(warning?.count, 3)
      assert.strictEqual(warning?.firstTimestamp, "1970-01-01T00:00:00Z")
      assert.strictEqual(warning?.lastTimestamp, "1970-01-01T00:03:00Z")
      assert.strictEqual(warning?.source?.component, "cloudnative-mysql-controller")
      assert.deepStrictEqual(
        {
          kind: warning?.involvedObject.kind,
          apiVersion: warning?.involvedObject.apiVersion,
          uid: warning?.involvedObject.uid,
          namespace: warning?.involvedObject.namespace
        },
        {
          kind: "Backup",
          apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
          uid: created.metadata.uid,
          namespace: "db"
        }
      )
      const normal = events.find((event) => event.reason === "Started")
      assert.strictEqual(normal?.count, 1)
      assert.strictEqual(normal?.type, "Normal")
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("a different message is a different Event; an expired Event is recreated", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const created = yield* api.create(Resources.backups, backup)
      const recorder = yield* makeEventRecorder({ component: "cloudnative-mysql-controller" })
      yield* recorder.warning(Resources.backups, created, "XtraBackupFailed", "exit code 1")
      yield* recorder.warning(Resources.backups, created, "XtraBackupFailed", "exit code 2")
      assert.strictEqual((yield* eventsAbout("nightly")).length, 2)

      for (const event of yield* eventsAbout("nightly")) {
        yield* api.delete(Resources.events, { namespace: "db", name: event.metadata.name ?? "" })
      }
      yield* recorder.warning(Resources.backups, created, "XtraBackupFailed", "exit code 1")
      const after = yield* eventsAbout("nightly")
      assert.strictEqual(after.length, 1)
      assert.strictEqual(after[0]?.count, 1)
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("what aggregation remembers is bounded: the least recently seen is forgotten first", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const created = yield* api.create(Resources.backups, backup)
      const recorder = yield* makeEventRecorder({ component: "cloudnative-mysql-controller", cacheSize: 2 })
      const countsOf = (reason: string) =>
        Effect.map(eventsAbout("nightly"), (events) =>
          events
            .filter((event) => event.reason === reason)
            .map((event) => event.count)
            .sort()
        )
      yield* recorder.normal(Resources.backups, created, "A", "a")
      yield* recorder.normal(Resources.backups, created, "B", "b")
      yield* recorder.normal(Resources.backups, created, "C", "c")
      // A, seen least recently, was forgotten for C: a new Event; C is still aggregated
      yield* recorder.normal(Resources.backups, created, "A", "a")
      yield* recorder.normal(Resources.backups, created, "C", "c")
      assert.deepStrictEqual(yield* countsOf("A"), [1, 1])
      assert.deepStrictEqual(yield* countsOf("C"), [2])
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("recording never fails the caller when the API server answers 500", () =>
    Effect.gen(function* () {
      const recorder = yield* makeEventRecorder({ component: "cloudnative-mysql-controller" })
      const cluster = yield* FakeCluster
      yield* cluster.faults.failNextWrite({ code: 500 })
      yield* recorder.normal(Resources.backups, { metadata: { namespace: "db", name: "ghost" } }, "Started", "x")
      assert.strictEqual((yield* eventsAbout("ghost")).length, 0)
    }).pipe(Effect.provide(TestLayer))
  )
})
