import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Exit, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import { microTime } from "../../src/api/time.ts"
import { KubeApi } from "../../src/kube/KubeApi.ts"
import { type LeaderElectionOptions, runAsLeader } from "../../src/kube/LeaderElection.ts"
import { Resources } from "../../src/kube/resources.ts"
import { FakeCluster } from "../../src/sandbox/FakeCluster.ts"
import { layerFake } from "../../src/sandbox/KubeApiFake.ts"

const TestLayer = layerFake.pipe(Layer.provideMerge(FakeCluster.layer))

const settle = Effect.gen(function* () {
  for (let i = 0; i < 50; i++) yield* Effect.yieldNow
})

const elector = (identity: string, extra: Partial<LeaderElectionOptions> = {}): LeaderElectionOptions => ({
  namespace: "operators",
  name: "cloudnative-mysql",
  identity,
  leaseDuration: "15 seconds",
  renewDeadline: "10 seconds",
  retryPeriod: "2 seconds",
  ...extra
})

/** Runs `runAsLeader` with work that records when it starts and then waits forever. */
const candidate = (identity: string, started: Array<string>, extra: Partial<LeaderElectionOptions> = {}) =>
  Effect.forkChild(
    runAsLeader(
      elector(identity, extra),
      Effect.andThen(
        Effect.sync(() => started.push(identity)),
        Effect.never
      )
    )
  )

const holder = Effect.gen(function* () {
  const api = yield* KubeApi
  const lease = yield* api.get(Resources.leases, { namespace: "operators", name: "cloudnative-mysql" })
  return lease.spec?.holderIdentity ?? ""
})

describe("LeaderElection", () => {
  it.effect("of two candidates exactly one leads; the other takes over when the leader releases", () =>
    Effect.gen(function* () {
      const started: Array<string> = []
      const a = yield* candidate("a", started)
      yield* settle
      const b = yield* candidate("b", started)
      yield* settle
      yield* TestClock.adjust("30 seconds")
      assert.deepStrictEqual(started, ["a"])
      assert.strictEqual(yield* holder, "a")

      yield* Fiber.interrupt(a)
      assert.strictEqual(yield* holder, "")
      yield* TestClock.adjust("3 seconds")
      yield* settle
      assert.deepStrictEqual(started, ["a", "b"])
      assert.strictEqual(yield* holder, "b")
      yield* Fiber.interrupt(b)
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("a crashed leader's lease is taken over only after leaseDuration without renewal", () =>
    Effect.gen(function* () {
      const started: Array<string> = []
      const a = yield* candidate("a", started, { releaseOnCancel: false })
      yield* settle
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(a)
      const b = yield* candidate("b", started)
      yield* settle
      yield* TestClock.adjust("12 seconds")
      yield* settle
      assert.deepStrictEqual(started, ["a"])
      yield* TestClock.adjust("6 seconds")
      yield* settle
      assert.deepStrictEqual(started, ["a", "b"])
      const api = yield* KubeApi
      const lease = yield* api.get(Resources.leases, { namespace: "operators", name: "cloudnative-mysql" })
      assert.strictEqual(lease.spec?.leaseTransitions, 1)
      assert.match(lease.spec?.renewTime ?? "", /\.\d{6}Z$/u)
      yield* Fiber.interrupt(b)
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("a leader whose lease is taken stops its work and fails with LeadershipLost", () =>
    Effect.gen(function* () {
      const interrupted = yield* Deferred.make<void>()
      const leader = yield* Effect.forkChild(
        runAsLeader(
          elector("a"),
          Effect.onInterrupt(Effect.never, () => Deferred.succeed(interrupted, undefined))
        )
      )
      yield* settle
      const api = yield* KubeApi
      const lease = yield* api.get(Resources.leases, { namespace: "operators", name: "cloudnative-mysql" })
      const now = yield* Clock.currentTimeMillis
      yield* api.replace(Resources.leases, {
        ...lease,
        spec: { ...lease.spec, holderIdentity: "intruder", renewTime: microTime(now) }
      })
      yield* TestClock.adjust("3 seconds")
      yield* settle
      const exit = yield* Fiber.await(leader)
      assert.isTrue(Exit.isFailure(exit))
      assert.isTrue(yield* Deferred.isDone(interrupted))
      assert.match(String(Exit.isFailure(exit) ? exit.cause : ""), /LeadershipLost|lease is held by intruder/u)
      assert.strictEqual(yield* holder, "intruder")
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("a leader that cannot renew before renewDeadline stops its work", () =>
    Effect.gen(function* () {
      const interrupted = yield* Deferred.make<void>()
      const leader = yield* Effect.forkChild(
        runAsLeader(
          elector("a"),
          Effect.onInterrupt(Effect.never, () => Deferred.succeed(interrupted, undefined))
        )
      )
      yield* settle
      const cluster = yield* FakeCluster
      yield* cluster.faults.stall
      yield* TestClock.adjust("13 seconds")
      yield* settle
      const exit = yield* Fiber.await(leader)
      assert.isTrue(Exit.isFailure(exit))
      assert.isTrue(yield* Deferred.isDone(interrupted))
      assert.match(String(Exit.isFailure(exit) ? exit.cause : ""), /renew deadline exceeded/u)
      yield* cluster.faults.resume
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("a renewal that loses a write race (409) is retried and leadership is kept", () =>
    Effect.gen(function* () {
      const started: Array<string> = []
      const leader = yield* candidate("a", started)
      yield* settle
      const cluster = yield* FakeCluster
      yield* cluster.faults.failNextWrite({ code: 409, verb: "update", plural: "leases" })
      yield* TestClock.adjust("3 seconds")
      yield* settle
      yield* TestClock.adjust("1 second")
      yield* settle
      assert.isUndefined(leader.pollUnsafe())
      assert.strictEqual(yield* holder, "a")
      const updates = (yield* cluster.audit).filter((entry) => entry.plural === "leases" && entry.verb === "update")
      assert.deepStrictEqual(
        updates.map((entry) => entry.code),
        [409, 200]
      )
      yield* Fiber.interrupt(leader)
    }).pipe(Effect.provide(TestLayer))
  )
})
