import { assert, describe, it } from "@effect/vitest"
import { Clock, type Duration, Effect, Layer, Option, Schedule, Stream } from "effect"
import { TestClock } from "effect/testing"
import { Unavailable } from "../../src/kube/errors.ts"
import { fromRaw, KubeApi } from "../../src/kube/KubeApi.ts"
import { makeReflector, type ReflectorEvent } from "../../src/kube/Reflector.ts"
import { type Job, Resources } from "../../src/kube/resources.ts"
import { FakeCluster } from "../../src/sandbox/FakeCluster.ts"
import { layerFake, makeFakeRaw } from "../../src/sandbox/KubeApiFake.ts"

const TestLayer = layerFake.pipe(Layer.provideMerge(FakeCluster.layer))

const settle = Effect.gen(function* () {
  for (let i = 0; i < 50; i++) yield* Effect.yieldNow
})

const job = (name: string, labels: Record<string, string> = {}): Job => ({
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { namespace: "db", name, labels },
  spec: {
    template: { spec: { restartPolicy: "Never", containers: [{ name: "backup", image: "cloudnative-mysql:dev" }] } },
    backoffLimit: 0
  }
})

/** Starts a reflector over Jobs in `db` and records its events as `type key` strings. */
const startReflector = (options: { readonly labelSelector?: string; readonly resyncPeriod?: Duration.Input } = {}) =>
  Effect.gen(function* () {
    const reflector = yield* makeReflector({
      resource: Resources.jobs,
      namespace: "db",
      labelSelector: options.labelSelector,
      resyncPeriod: options.resyncPeriod ?? "1 hour",
      watchTimeoutSeconds: 300
    })
    const seen: Array<string> = []
    yield* reflector.events.pipe(
      Stream.runForEach((event: ReflectorEvent<Job>) => Effect.sync(() => seen.push(`${event.type} ${event.key}`))),
      Effect.forkChild
    )
    return { reflector, seen }
  })

const countVerb = (verb: "list" | "watch") =>
  Effect.gen(function* () {
    const cluster = yield* FakeCluster
    const entries = yield* cluster.audit
    return entries.filter((entry) => entry.verb === verb && entry.plural === "jobs").length
  })

/** The fake-store KubeApi, but the first `failures` watches fail with Unavailable; records when watches start. */
const flakyWatchLayer = (failures: number, starts: Array<number>) =>
  Layer.effect(
    KubeApi,
    Effect.gen(function* () {
      const raw = makeFakeRaw(yield* FakeCluster)
      let left = failures
      return KubeApi.of(
        fromRaw({
          ...raw,
          watch: (resource, options) =>
            Stream.unwrap(
              Effect.gen(function* () {
                starts.push(yield* Clock.currentTimeMillis)
                if (left-- > 0)
                  return Stream.fail(new Unavailable({ request: "WATCH jobs", detail: "connection reset" }))
                return raw.watch(resource, options)
              })
            )
        })
      )
    })
  ).pipe(Layer.provideMerge(FakeCluster.layer))

describe("Reflector (on the fake store)", () => {
  it.effect("reconnects after watch failures with exponential backoff, without relisting", () => {
    const starts: Array<number> = []
    return Effect.gen(function* () {
      const reflector = yield* makeReflector({
        resource: Resources.jobs,
        namespace: "db",
        backoff: Schedule.exponential("1 second"),
        watchTimeoutSeconds: 300
      })
      const seen: Array<string> = []
      yield* reflector.events.pipe(
        Stream.runForEach((event) => Effect.sync(() => seen.push(`${event.type} ${event.key}`))),
        Effect.forkChild
      )
      yield* reflector.cache.synced
      yield* settle
      yield* TestClock.adjust("10 seconds")
      yield* settle
      assert.deepStrictEqual(starts, [0, 1000, 3000, 7000])
      const api = yield* KubeApi
      yield* api.create(Resources.jobs, job("after-outage"))
      yield* settle
      assert.deepStrictEqual(seen, ["Added db/after-outage"])
      assert.strictEqual(yield* countVerb("list"), 1)
    }).pipe(Effect.provide(flakyWatchLayer(3, starts)))
  })

  it.effect("lists, then follows the watch: added, updated, deleted, with the cache in step", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      yield* api.create(Resources.jobs, job("before"))
      const { reflector, seen } = yield* startReflector()
      yield* reflector.cache.synced
      yield* settle
      assert.deepStrictEqual(seen, ["Added db/before"])

      yield* api.create(Resources.jobs, job("after"))
      yield* api.patch(
        Resources.jobs,
        { namespace: "db", name: "before" },
        { metadata: { labels: { touched: "yes" } } }
      )
      yield* api.delete(Resources.jobs, { namespace: "db", name: "after" }, { propagationPolicy: "Background" })
      yield* settle
      assert.deepStrictEqual(seen, ["Added db/before", "Added db/after", "Updated db/before", "Deleted db/after"])
      const cached = yield* reflector.cache.get("db/before")
      assert.strictEqual(Option.getOrUndefined(cached)?.metadata.labels?.touched, "yes")
      assert.strictEqual(yield* reflector.cache.size, 1)
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("a dropped watch resumes from the last resourceVersion without relisting", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const cluster = yield* FakeCluster
      const { reflector, seen } = yield* startReflector()
      yield* reflector.cache.synced
      yield* api.create(Resources.jobs, job("one"))
      yield* settle
      yield* cluster.faults.dropWatches
      yield* api.create(Resources.jobs, job("two"))
      yield* settle
      yield* TestClock.adjust("2 seconds")
      yield* settle
      assert.deepStrictEqual(seen, ["Added db/one", "Added db/two"])
      assert.strictEqual(yield* countVerb("list"), 1)
      assert.strictEqual(yield* countVerb("watch"), 2)
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("an expired resourceVersion (410) relists and reports objects deleted meanwhile", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const cluster = yield* FakeCluster
      yield* api.create(Resources.jobs, job("stays"))
      yield* api.create(Resources.jobs, job("goes"))
      const { reflector, seen } = yield* startReflector()
      yield* reflector.cache.synced
      yield* cluster.faults.dropWatches
      yield* api.delete(Resources.jobs, { namespace: "db", name: "goes" }, { propagationPolicy: "Background" })
      yield* api.create(Resources.jobs, job("new"))
      yield* cluster.faults.compact
      yield* TestClock.adjust("2 seconds")
      yield* settle
      assert.deepStrictEqual(seen.slice(2).sort(), ["Added db/new", "Deleted db/goes"])
      assert.strictEqual(yield* countVerb("list"), 2)
      assert.deepStrictEqual((yield* reflector.cache.list()).map((object) => object.metadata.name).sort(), [
        "new",
        "stays"
      ])
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("a label-selector reflector sees objects enter and leave the selection", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const { reflector, seen } = yield* startReflector({ labelSelector: "app in (mysql),tier!=cache" })
      yield* reflector.cache.synced
      yield* settle
      yield* api.create(Resources.jobs, job("other", { app: "web" }))
      yield* api.create(Resources.jobs, job("mine", { app: "mysql" }))
      yield* api.patch(Resources.jobs, { namespace: "db", name: "mine" }, { metadata: { labels: { tier: "cache" } } })
      yield* settle
      assert.deepStrictEqual(seen, ["Added db/mine", "Deleted db/mine"])
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("every resync period redelivers each cached object", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      yield* api.create(Resources.jobs, job("a"))
      yield* api.create(Resources.jobs, job("b"))
      const { reflector, seen } = yield* startReflector({ resyncPeriod: "10 minutes" })
      yield* reflector.cache.synced
      yield* TestClock.adjust("9 minutes")
      assert.strictEqual(seen.filter((line) => line.startsWith("Resync")).length, 0)
      yield* TestClock.adjust("1 minute")
      yield* settle
      assert.deepStrictEqual(seen.filter((line) => line.startsWith("Resync")).sort(), ["Resync db/a", "Resync db/b"])
      yield* TestClock.adjust("10 minutes")
      yield* settle
      assert.strictEqual(seen.filter((line) => line.startsWith("Resync")).length, 4)
    }).pipe(Effect.provide(TestLayer))
  )
})
