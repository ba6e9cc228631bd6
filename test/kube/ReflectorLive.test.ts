import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule, Stream } from "effect"
import { KubeApi } from "../../src/kube/KubeApi.ts"
import { makeReflector } from "../../src/kube/Reflector.ts"
import { Resources } from "../../src/kube/resources.ts"
import { FakeCluster } from "../../src/sandbox/FakeCluster.ts"
import { layerLiveOnFakeServer } from "../../src/sandbox/KubeApiFake.ts"

const backup = (name: string) => ({
  apiVersion: "mysql.cloudnative-mysql.io/v1alpha1" as const,
  kind: "Backup" as const,
  metadata: { namespace: "db", name },
  spec: { cluster: { name: "main" }, method: "xtrabackup" as const, target: "prefer-standby" as const, online: true }
})

/** A reflector over Backups in `db`, its events recorded as `type name`. */
const startReflector = (watchTimeoutSeconds: number) =>
  Effect.gen(function* () {
    const reflector = yield* makeReflector({
      resource: Resources.backups,
      namespace: "db",
      watchTimeoutSeconds
    })
    const seen: Array<string> = []
    yield* reflector.events.pipe(
      Stream.runForEach((event) => Effect.sync(() => seen.push(`${event.type} ${event.object.metadata.name ?? ""}`))),
      Effect.forkChild
    )
    yield* reflector.cache.synced
    return { reflector, seen }
  })

/** Polls until `predicate` holds (real time), failing the test after `timeout`. */
const eventually = (predicate: () => boolean | Effect.Effect<boolean, never, FakeCluster>, what: string) =>
  Effect.suspend(() => {
    const holds = predicate()
    return typeof holds === "boolean" ? Effect.succeed(holds) : holds
  }).pipe(
    Effect.flatMap((holds) => (holds ? Effect.void : Effect.fail(what))),
    Effect.retry(Schedule.spaced("20 millis")),
    Effect.timeoutOrElse({
      duration: "5 seconds",
      orElse: () => Effect.die(new Error(`timed out waiting for ${what}`))
    })
  )

const requests = (verb: "list" | "watch") =>
  Effect.gen(function* () {
    const cluster = yield* FakeCluster
    return (yield* cluster.audit).filter((entry) => entry.verb === verb && entry.plural === "backups").length
  })

describe("Reflector over client-node and the fake API server", () => {
  it.live("lists, watches, and resumes after dropped watches without relisting", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const cluster = yield* FakeCluster
      yield* api.create(Resources.backups, backup("first"))
      const { reflector, seen } = yield* startReflector(300)
      yield* eventually(() => seen.length === 1, "the listed object")
      yield* api.create(Resources.backups, backup("second"))
      yield* eventually(() => seen.includes("Added second"), "a watched object")

      yield* cluster.faults.dropWatches
      yield* api.create(Resources.backups, backup("third"))
      yield* eventually(() => seen.includes("Added third"), "an object created while the watch was down")
      assert.deepStrictEqual(seen, ["Added first", "Added second", "Added third"])
      assert.strictEqual(yield* requests("list"), 1)
      assert.isAtLeast(yield* requests("watch"), 2)
      assert.strictEqual(yield* reflector.cache.size, 3)
    }).pipe(Effect.provide(layerLiveOnFakeServer))
  )

  it.live("an ERROR event with 410 (history compacted) makes the reflector relist and carry on", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const cluster = yield* FakeCluster
      yield* api.create(Resources.backups, backup("stays"))
      const { reflector, seen } = yield* startReflector(300)
      yield* eventually(() => seen.length === 1, "the listed object")
      // a write the Backup watch does not see moves the store past the reflector's resourceVersion
      yield* api.create(Resources.jobs, {
        metadata: { namespace: "elsewhere", name: "unrelated" },
        spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "c", image: "i" }] } } }
      })
      // hold the reconnect at the server until the history it would resume from is gone
      yield* cluster.faults.stall
      yield* cluster.faults.dropWatches
      yield* Effect.sleep("1500 millis")
      yield* cluster.faults.compact
      yield* cluster.faults.resume
      yield* eventually(() => Effect.map(requests("list"), (lists) => lists === 2), "the relist after 410")
      yield* api.delete(Resources.backups, { namespace: "db", name: "stays" })
      yield* eventually(() => seen.includes("Deleted stays"), "a deletion after the relist")
      assert.strictEqual(yield* reflector.cache.size, 0)
    }).pipe(Effect.provide(layerLiveOnFakeServer))
  )

  it.live("a watch the server closes after timeoutSeconds is resumed from its resourceVersion", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const { seen } = yield* startReflector(1)
      yield* Effect.sleep("2500 millis")
      yield* api.create(Resources.backups, backup("late"))
      yield* eventually(() => seen.includes("Added late"), "an object created after the server closed the first watch")
      assert.strictEqual(yield* requests("list"), 1)
      assert.isAtLeast(yield* requests("watch"), 2)
    }).pipe(Effect.provide(layerLiveOnFakeServer))
  )

  it.live(
    "client-node's 30-second inactivity abort on a quiet watch is a reconnect, not an error or a relist",
    () =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        yield* api.create(Resources.backups, backup("old"))
        const { seen } = yield* startReflector(600)
        yield* Effect.sleep("32 seconds")
        assert.strictEqual(yield* requests("watch"), 2, "client-node gave up on the silent watch once")
        yield* api.create(Resources.backups, backup("after-silence"))
        yield* eventually(() => seen.includes("Added after-silence"), "an object created after the silence")
        assert.deepStrictEqual(seen, ["Added old", "Added after-silence"])
        assert.strictEqual(yield* requests("list"), 1)
      }).pipe(Effect.provide(layerLiveOnFakeServer)),
    { timeout: 60_000 }
  )
})
