/**
 * A keyed work queue, "actor per object": controllers add object keys (`namespace/name`) whenever something
 * about the object may have changed, and N workers reconcile them.
 *
 * - A key waiting in the queue is not queued twice (events collapse into one reconcile).
 * - One key is never reconciled by two workers at once; a key added while it is being reconciled is
 *   reconciled once more right after (the newer state is never missed).
 * - A failed reconcile is retried after a per-key exponential backoff with jitter, capped; success resets it.
 *   The retry waits without holding a worker.
 * - A reconcile can ask to run again later (`requeueAfter`), e.g. the next ScheduledBackup slot.
 * - Closing the scope stops taking keys, lets in-flight reconciles finish (up to `shutdownTimeout`), then
 *   interrupts whatever is left.
 *
 * @since 0.1.0
 */
import { Cause, Deferred, type Duration, Effect, Exit, FiberMap, Queue, Schedule, type Scope } from "effect"

/** What a reconcile may return: nothing, or when to look at the object again. */
// biome-ignore lint/suspicious/noConfusingVoidType: `void` lets a reconcile written as Effect<void> be passed as is
export type Reconciled = void | { readonly requeueAfter: Duration.Input }

/** Default retry policy: 1 s doubling, ±20 % jitter, never more than 5 minutes. */
export const defaultBackoff: Schedule.Schedule<unknown, unknown> = Schedule.min([
  Schedule.exponential("1 second").pipe(Schedule.jittered),
  Schedule.spaced("5 minutes")
])

/** Settings of a work queue. */
export interface WorkQueueOptions<E, R> {
  readonly workers: number
  readonly reconcile: (key: string) => Effect.Effect<Reconciled, E, R>
  /** Per-key retry schedule after failures (a fresh copy of its state per key). */
  readonly backoff?: Schedule.Schedule<unknown, unknown> | undefined
  /** How long scope close waits for in-flight reconciles before interrupting them (default 30 s). */
  readonly shutdownTimeout?: Duration.Input | undefined
}

/** The handle controllers feed. */
export interface WorkQueue {
  /** Queues a key now. */
  readonly add: (key: string) => Effect.Effect<void>
  /** Queues a key after a delay; a later call for the same key replaces the pending one. */
  readonly addAfter: (key: string, delay: Duration.Input) => Effect.Effect<void>
  /** Keys waiting for a worker. */
  readonly pending: Effect.Effect<number>
}

/** Starts the workers in the current scope and returns the queue. */
export const makeWorkQueue = Effect.fnUntraced(function* <E, R>(
  options: WorkQueueOptions<E, R>
): Effect.fn.Return<WorkQueue, never, R | Scope.Scope> {
  const backoff = options.backoff ?? defaultBackoff
  const queue = yield* Queue.unbounded<string>()
  const queued = new Set<string>()
  const active = new Set<string>()
  const dirty = new Set<string>()
  const steps = new Map<string, (input: unknown) => Effect.Effect<unknown, unknown>>()
  // at most one delayed add per key: a backoff retry or a requeue-after
  const delayed = yield* FiberMap.make<string>()
  let closing = false
  const drained = yield* Deferred.make<void>()

  const add = (key: string): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (closing) return Effect.void
      if (active.has(key)) {
        dirty.add(key)
        return Effect.void
      }
      if (queued.has(key)) return Effect.void
      queued.add(key)
      return Queue.offer(queue, key)
    }).pipe(Effect.asVoid)

  const addAfter = (key: string, delay: Duration.Input) =>
    FiberMap.run(delayed, key, Effect.andThen(Effect.sleep(delay), add(key))).pipe(Effect.asVoid)

  const retryLater = (key: string) =>
    Effect.gen(function* () {
      let step = steps.get(key)
      if (step === undefined) {
        step = yield* Schedule.toStepWithSleep(backoff)
        steps.set(key, step)
      }
      yield* FiberMap.run(delayed, key, step(undefined).pipe(Effect.andThen(add(key)), Effect.ignore))
    })

  const settle = (key: string, exit: Exit.Exit<Reconciled, E>) => {
    if (Exit.isSuccess(exit)) {
      steps.delete(key)
      const result = exit.value
      return result === undefined ? FiberMap.remove(delayed, key) : addAfter(key, result.requeueAfter)
    }
    if (Cause.hasInterruptsOnly(exit.cause)) return Effect.void
    return Effect.andThen(
      Effect.logWarning("reconcile failed; retrying after backoff", { key, cause: Cause.pretty(exit.cause) }),
      retryLater(key)
    )
  }

  const finish = (key: string) =>
    Effect.suspend(() => {
      active.delete(key)
      if (closing) {
        return active.size === 0 ? Deferred.succeed(drained, undefined) : Effect.void
      }
      return dirty.delete(key) ? add(key) : Effect.void
    })

  const worker = Effect.gen(function* () {
    const key = yield* Queue.take(queue)
    queued.delete(key)
    if (closing) return
    active.add(key)
    dirty.delete(key)
    yield* options.reconcile(key).pipe(
      Effect.exit,
      Effect.flatMap((exit) => settle(key, exit)),
      Effect.ensuring(finish(key))
    )
  }).pipe(Effect.forever)

  for (let i = 0; i < Math.max(1, options.workers); i++) {
    yield* Effect.forkScoped(worker)
  }
  // added after the workers, so it runs before their interruption: stop, then wait for in-flight reconciles
  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => {
      closing = true
      if (active.size === 0) return Effect.void
      return Deferred.await(drained).pipe(Effect.timeoutOption(options.shutdownTimeout ?? "30 seconds"), Effect.asVoid)
    })
  )

  return { add, addAfter, pending: Effect.sync(() => queued.size) }
})
