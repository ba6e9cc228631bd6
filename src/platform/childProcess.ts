/**
 * Stopping a child process we started, the one way the code does it: a polite signal, a grace period on the
 * `Clock`, then SIGKILL. Which polite signal is the tool's business: mariabackup ignores SIGTERM (SIGINT stops
 * it), a server shuts down cleanly on SIGTERM. Spawning itself stays with each caller (see docs/design.md,
 * "Child processes"): their stdio wiring differs (an HTTP response, a verified download, log lines).
 *
 * @since 0.1.0
 */
import type { ChildProcess } from "node:child_process"
import { type Duration, Effect, Option } from "effect"

/** Whether the child has exited (with a code or by a signal). */
export const hasExited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null

const exitEvent = (child: ChildProcess): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (hasExited(child)) return resume(Effect.void)
    const onExit = () => resume(Effect.void)
    child.once("exit", onExit)
    return Effect.sync(() => child.off("exit", onExit))
  })

/** Whether the child exits within `timeout`. */
export const waitForExit = (child: ChildProcess, timeout: Duration.Input): Effect.Effect<boolean> =>
  exitEvent(child).pipe(Effect.timeoutOption(timeout), Effect.map(Option.isSome))

/** Sends `signal`; if the child is still running after `grace`, SIGKILL, and waits up to 10 s for the exit. */
export const stopChild = (child: ChildProcess, signal: NodeJS.Signals, grace: Duration.Input): Effect.Effect<void> =>
  Effect.gen(function* () {
    if (hasExited(child)) return
    child.kill(signal)
    if (yield* waitForExit(child, grace)) return
    child.kill("SIGKILL")
    yield* waitForExit(child, "10 seconds")
  })
