/**
 * The backup slot's decisions over HTTP/1.1-shaped responses (no PING), under the TestClock; the HTTP/2 PING and
 * real disconnects are exercised against a real instance manager in instanceManager.test.ts.
 */
import type { ServerResponse } from "node:http"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import { TestClock } from "effect/testing"
import { makeBackupSlot } from "../../src/instance/backupSlot.ts"

/** The fields the slot reads of a response: an open connection, or one closed before (or after) the end. */
const response = (state: { destroyed: boolean; writableEnded: boolean }) => state as unknown as ServerResponse

const options = { stopWaitMillis: 15_000, pingTimeoutMillis: 10_000 }

describe("backup slot", () => {
  it.effect("refuses a request while the holder's client is connected, and frees the slot with its scope", () =>
    Effect.gen(function* () {
      const slot = makeBackupSlot(options)
      const holder = yield* Scope.make()
      yield* Scope.provide(slot.acquire(response({ destroyed: false, writableEnded: false })), holder)
      assert.isTrue(slot.held())
      const refused = yield* Effect.flip(
        Effect.scoped(slot.acquire(response({ destroyed: false, writableEnded: false })))
      )
      assert.strictEqual(refused._tag, "BackupAlreadyRunning")
      yield* Scope.close(holder, Exit.void)
      assert.isFalse(slot.held())
      yield* Effect.scoped(slot.acquire(response({ destroyed: false, writableEnded: false })))
    })
  )

  it.effect("a request waits for a holder whose client has gone, and one of two waiters gets the slot", () =>
    Effect.gen(function* () {
      const slot = makeBackupSlot(options)
      const holder = yield* Scope.make()
      const gone = { destroyed: false, writableEnded: false }
      yield* Scope.provide(slot.acquire(response(gone)), holder)
      gone.destroyed = true
      const scopes = [yield* Scope.make(), yield* Scope.make()]
      const waiters = yield* Effect.forEach(scopes, (scope) =>
        Effect.forkChild(
          Effect.exit(Scope.provide(slot.acquire(response({ destroyed: false, writableEnded: false })), scope))
        )
      )
      yield* TestClock.adjust("5 seconds")
      assert.isTrue(
        waiters.every((waiter) => waiter.pollUnsafe() === undefined),
        "took the slot while the stopping tool held it"
      )
      yield* Scope.close(holder, Exit.void)
      const exits = yield* Effect.forEach(waiters, Fiber.join)
      assert.strictEqual(exits.filter(Exit.isSuccess).length, 1)
      const refusal = exits.find(Exit.isFailure)
      assert.isDefined(refusal)
      assert.include(String(refusal?.cause), "BackupAlreadyRunning")
      assert.isTrue(slot.held())
      yield* Effect.forEach(scopes, (scope) => Scope.close(scope, Exit.void))
    })
  )

  it.effect("a holder that ended its response normally is a finished backup, not a gone client", () =>
    Effect.gen(function* () {
      const slot = makeBackupSlot(options)
      const holder = yield* Scope.make()
      yield* Scope.provide(slot.acquire(response({ destroyed: true, writableEnded: true })), holder)
      const refused = yield* Effect.flip(
        Effect.scoped(slot.acquire(response({ destroyed: false, writableEnded: false })))
      )
      assert.strictEqual(refused._tag, "BackupAlreadyRunning")
      yield* Scope.close(holder, Exit.void)
    })
  )

  it.effect("PreviousBackupStopping when the gone client's tool outlives the stop wait", () =>
    Effect.gen(function* () {
      const slot = makeBackupSlot(options)
      const holder = yield* Scope.make()
      yield* Scope.provide(slot.acquire(response({ destroyed: true, writableEnded: false })), holder)
      const waiting = yield* Effect.forkChild(
        Effect.flip(Effect.scoped(slot.acquire(response({ destroyed: false, writableEnded: false }))))
      )
      yield* TestClock.adjust("14 seconds")
      assert.isUndefined(waiting.pollUnsafe())
      yield* TestClock.adjust("1 second")
      const refused = yield* Fiber.join(waiting)
      assert.strictEqual(refused._tag, "PreviousBackupStopping")
      assert.include(refused.message, "15000 ms")
      assert.isTrue(slot.held(), "the stopping backup still holds the slot")
      yield* Scope.close(holder, Exit.void)
    })
  )
})
