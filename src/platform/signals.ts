/**
 * A process's one job, stopped by the signals a container runtime and a terminal send: SIGTERM (`kubectl
 * delete`, a rollout) and SIGINT (Ctrl-C) interrupt the job's fiber, and only it, so what the caller does with
 * the outcome (write a termination message, log, pick an exit code) still runs. The handlers are `once`: a
 * second signal gets Node's default (the process ends at once), the way out of a stop that hangs.
 *
 * @since 0.2.0
 */
import { Effect, type Exit, Fiber } from "effect"

/** Runs `job` until it ends or a signal interrupts it; its exit either way. */
export const runUntilSignalled = <A, E>(job: Effect.Effect<A, E>): Effect.Effect<Exit.Exit<A, E>> =>
  Effect.gen(function* () {
    const running = yield* Effect.forkChild(job)
    const interrupt = () => {
      Effect.runFork(Fiber.interrupt(running))
    }
    yield* Effect.sync(() => {
      process.once("SIGINT", interrupt)
      process.once("SIGTERM", interrupt)
    })
    const exit = yield* Fiber.await(running)
    yield* Effect.sync(() => {
      process.off("SIGINT", interrupt)
      process.off("SIGTERM", interrupt)
    })
    return exit
  })
