import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Exit, Fiber, Schedule, Scope } from "effect"
import { TestClock } from "effect/testing"
import { defaultBackoff, makeWorkQueue } from "../../src/kube/WorkQueue.ts"

/** Lets forked workers run until they block. */
const settle = Effect.gen(function* () {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

describe("WorkQueue", () => {
  it.effect("collapses repeated adds of a waiting key and replays a key added while it runs", () =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const queue = yield* makeWorkQueue({
        workers: 1,
        reconcile: (key) =>
          Effect.gen(function* () {
            seen.push(key)
            if (seen.length === 1) yield* Deferred.await(gate)
          })
      })
      yield* queue.add("a")
      yield* settle
      for (const key of ["b", "c", "b", "a", "b", "a", "c"]) yield* queue.add(key)
      assert.strictEqual(yield* queue.pending, 2)
      yield* Deferred.succeed(gate, undefined)
      yield* settle
      assert.deepStrictEqual(seen, ["a", "b", "c", "a"])
    })
  )

  it.effect("never reconciles one key on two workers at once", () =>
    Effect.gen(function* () {
      const running = new Map<string, number>()
      let maxPerKey = 0
      let runs = 0
      const queue = yield* makeWorkQueue({
        workers: 4,
        reconcile: (key) =>
          Effect.gen(function* () {
            runs++
            const now = (running.get(key) ?? 0) + 1
            running.set(key, now)
            maxPerKey = Math.max(maxPerKey, now)
            yield* Effect.sleep("10 millis")
            running.set(key, now - 1)
          })
      })
      for (let round = 0; round < 5; round++) {
        for (const key of ["a", "a", "b", "a"]) yield* queue.add(key)
        yield* settle
        yield* TestClock.adjust("3 millis")
      }
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(maxPerKey, 1)
      // the adds while "a" ran were replayed, but collapsed: fewer runs than adds
      assert.isTrue(runs >= 4 && runs < 20, `runs=${runs}`)
    })
  )

  it.effect("retries a failing key after exponential backoff and resets it on success", () =>
    Effect.gen(function* () {
      const times: Array<number> = []
      let failures = 3
      const queue = yield* makeWorkQueue({
        workers: 2,
        backoff: Schedule.exponential("100 millis"),
        reconcile: () =>
          Effect.gen(function* () {
            times.push(yield* Clock.currentTimeMillis)
            if (failures-- > 0) return yield* Effect.fail("boom")
          })
      })
      yield* queue.add("k")
      yield* settle
      yield* TestClock.adjust("2 seconds")
      assert.deepStrictEqual(times, [0, 100, 300, 700])
      // success reset the schedule: the next failure waits the base delay again
      failures = 1
      yield* queue.add("k")
      yield* settle
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(times.slice(4), [2000, 2100])
    })
  )

  it.effect("default backoff doubles from 1 s with ±20 % jitter and never exceeds 5 minutes", () =>
    Effect.gen(function* () {
      const step = yield* Schedule.toStepWithSleep(defaultBackoff)
      let previous = yield* Clock.currentTimeMillis
      for (let attempt = 0; attempt < 12; attempt++) {
        const fiber = yield* Effect.forkChild(Effect.andThen(step(undefined), Clock.currentTimeMillis))
        yield* settle
        yield* TestClock.adjust("10 minutes")
        const woke = yield* Fiber.join(fiber)
        const delay = woke - previous
        previous = yield* Clock.currentTimeMillis
        const base = 1000 * 2 ** attempt
        assert.isAtLeast(delay, Math.min(base * 0.8, 300_000), `attempt ${attempt}`)
        assert.isAtMost(delay, Math.min(base * 1.2, 300_000), `attempt ${attempt}`)
      }
    })
  )

  it.effect("requeueAfter runs the key again after the requested delay", () =>
    Effect.gen(function* () {
      const times: Array<number> = []
      const queue = yield* makeWorkQueue({
        workers: 1,
        reconcile: () =>
          Effect.gen(function* () {
            times.push(yield* Clock.currentTimeMillis)
            return times.length < 3 ? { requeueAfter: "10 seconds" } : undefined
          })
      })
      yield* queue.add("s")
      yield* settle
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(times, [0, 10_000, 20_000])
    })
  )

  it.effect("closing the scope lets an in-flight reconcile finish and takes no new keys", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const done: Array<string> = []
      const queue = yield* makeWorkQueue({
        workers: 1,
        reconcile: (key) =>
          Effect.andThen(
            Effect.sleep("5 seconds"),
            Effect.sync(() => void done.push(key))
          )
      }).pipe(Scope.provide(scope))
      yield* queue.add("first")
      yield* queue.add("second")
      yield* settle
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* settle
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(closing)
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(done, ["first"])
    })
  )

  it.effect("shutdown interrupts a reconcile that outlives the shutdown timeout", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      let finished = false
      const queue = yield* makeWorkQueue({
        workers: 1,
        shutdownTimeout: "1 second",
        reconcile: () =>
          Effect.andThen(
            Effect.sleep("1 hour"),
            Effect.sync(() => {
              finished = true
            })
          )
      }).pipe(Scope.provide(scope))
      yield* queue.add("slow")
      yield* settle
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* settle
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(closing)
      assert.isFalse(finished)
    })
  )
})
