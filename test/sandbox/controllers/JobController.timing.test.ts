/**
 * The time-driven parts of the Job controller under `TestClock`, on the in-memory face of the fake control
 * plane (`layerFake`): `activeDeadlineSeconds`, the Pod re-creation backoff and `ttlSecondsAfterFinished`
 * fire exactly when their time has come, not before.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { KubeApi } from "../../../src/kube/KubeApi.ts"
import { type Job, Kinds, type Pod } from "../../../src/sandbox/controllers/kinds.ts"
import { SandboxControllers } from "../../../src/sandbox/controllers/SandboxControllers.ts"
import { FakeCluster } from "../../../src/sandbox/FakeCluster.ts"
import { layerFake } from "../../../src/sandbox/KubeApiFake.ts"
import { stateDirectory } from "./support.ts"

const JOBS = "https://kubernetes.io/docs/concepts/workloads/controllers/job/"

const job = (name: string, spec: Partial<NonNullable<Job["spec"]>>): Job => ({
  metadata: { namespace: "default", name },
  spec: {
    template: { spec: { restartPolicy: "Never", containers: [{ name: "main", image: "operator" }] } },
    ...spec
  }
})

/** Lets every controller fiber run until `check` holds (the clock does not move meanwhile). */
const settled = <A>(what: string, check: Effect.Effect<A | undefined, unknown, KubeApi>) =>
  Effect.gen(function* () {
    for (let round = 0; round < 2000; round++) {
      const value = yield* check
      if (value !== undefined) return value
      yield* Effect.yieldNow
    }
    return yield* Effect.die(new Error(`never settled: ${what}`))
  })

/** Gives the controllers a chance to act (and asserts nothing). */
const quiesce = Effect.repeat(Effect.yieldNow, { times: 300 })

const pods = (name: string) =>
  Effect.flatMap(KubeApi, (api) =>
    Effect.map(api.list(Kinds.pods, { namespace: "default", labelSelector: `job-name=${name}` }), (list) => list.items)
  )

const getJob = (name: string) => Effect.flatMap(KubeApi, (api) => api.get(Kinds.jobs, { namespace: "default", name }))

const types = (value: Job) => (value.status?.conditions ?? []).map((condition) => condition.type)

const exit = (pod: Pod, phase: "Succeeded" | "Failed") =>
  Effect.flatMap(KubeApi, (api) =>
    api.patchStatus(Kinds.pods, { namespace: "default", name: pod.metadata.name ?? "" }, { status: { phase } })
  )

const withControllers = <A, E>(body: Effect.Effect<A, E, KubeApi | FakeCluster>) =>
  Effect.gen(function* () {
    const directory = yield* stateDirectory
    const layer = SandboxControllers.layer({ stateDirectory: directory }).pipe(
      Layer.provideMerge(layerFake),
      Layer.provideMerge(FakeCluster.layer)
    )
    return yield* Effect.gen(function* () {
      yield* (yield* SandboxControllers).synced
      return yield* body
    }).pipe(Effect.provide(layer))
  })

describe("Job controller timing (TestClock)", () => {
  it.effect(
    `${JOBS}#job-termination-and-cleanup: activeDeadlineSeconds fails the Job at the deadline, not before`,
    () =>
      withControllers(
        Effect.gen(function* () {
          const api = yield* KubeApi
          yield* api.create(Kinds.jobs, job("deadline", { activeDeadlineSeconds: 60 }))
          yield* settled(
            "a Pod",
            Effect.map(pods("deadline"), (items) => items[0])
          )
          yield* TestClock.adjust("59 seconds")
          yield* quiesce
          assert.deepStrictEqual(types(yield* getJob("deadline")), [])
          yield* TestClock.adjust("1 second")
          const failed = yield* settled(
            "Failed",
            Effect.map(getJob("deadline"), (value) => (types(value).includes("Failed") ? value : undefined))
          )
          assert.strictEqual(failed.status?.conditions?.[1]?.reason, "DeadlineExceeded")
          assert.deepStrictEqual(yield* pods("deadline"), [])
        })
      )
  )

  it.effect(`${JOBS}#pod-backoff-failure-policy: a failed Pod is replaced after 10 s, the next after 20 s`, () =>
    withControllers(
      Effect.gen(function* () {
        const api = yield* KubeApi
        yield* api.create(Kinds.jobs, job("backoff", { backoffLimit: 3 }))
        const first = yield* settled(
          "a Pod",
          Effect.map(pods("backoff"), (items) => items[0])
        )
        yield* exit(first, "Failed")
        yield* settled(
          "counted",
          Effect.map(getJob("backoff"), (value) => (value.status?.failed === 1 ? true : undefined))
        )
        yield* TestClock.adjust("9 seconds")
        yield* quiesce
        assert.strictEqual((yield* pods("backoff")).filter((pod) => pod.status?.phase !== "Failed").length, 0)
        yield* TestClock.adjust("1 second")
        const second = yield* settled(
          "the replacement",
          Effect.map(pods("backoff"), (items) => items.find((pod) => pod.status?.phase === "Pending"))
        )
        yield* exit(second, "Failed")
        yield* settled(
          "counted",
          Effect.map(getJob("backoff"), (value) => (value.status?.failed === 2 ? true : undefined))
        )
        yield* TestClock.adjust("19 seconds")
        yield* quiesce
        assert.isUndefined((yield* pods("backoff")).find((pod) => pod.status?.phase === "Pending"))
        yield* TestClock.adjust("1 second")
        yield* settled(
          "the third Pod",
          Effect.map(pods("backoff"), (items) => items.find((pod) => pod.status?.phase === "Pending"))
        )
      })
    )
  )

  it.effect(
    "https://kubernetes.io/docs/concepts/workloads/controllers/ttlafterfinished/: the Job is deleted when its TTL expires",
    () =>
      withControllers(
        Effect.gen(function* () {
          const api = yield* KubeApi
          yield* api.create(Kinds.jobs, job("ttl", { ttlSecondsAfterFinished: 3600 }))
          const pod = yield* settled(
            "a Pod",
            Effect.map(pods("ttl"), (items) => items[0])
          )
          yield* exit(pod, "Succeeded")
          yield* settled(
            "Complete",
            Effect.map(getJob("ttl"), (value) => (types(value).includes("Complete") ? true : undefined))
          )
          yield* TestClock.adjust("3599 seconds")
          yield* quiesce
          assert.strictEqual((yield* getJob("ttl")).metadata.name, "ttl")
          yield* TestClock.adjust("1 second")
          yield* settled(
            "deleted",
            Effect.map(Effect.result(getJob("ttl")), (result) => (result._tag === "Failure" ? true : undefined))
          )
          assert.deepStrictEqual(yield* pods("ttl"), [])
        })
      )
  )
})
