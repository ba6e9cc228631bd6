/**
 * Waiting for a process we started to become ready (a server answering `ping`, a listener accepting): probe,
 * and between probes sleep on the `Clock`, so the wait runs under `TestClock` too. The wait ends early, with the
 * caller's error, when the process has exited: no point polling a dead server until the timeout.
 *
 * @since 0.1.0
 */
import { type Duration, Effect, Schedule } from "effect"

/** How to wait; `onExited` and `onTimeout` build the caller's own error (they may read logs first). */
export interface WaitOptions<E1, E2, R> {
  /** Succeeds with `true` once ready. */
  readonly probe: Effect.Effect<boolean, never, R>
  /** Whether the process is gone (checked after each failed probe). */
  readonly exited: () => boolean
  readonly interval: Duration.Input
  readonly timeout: Duration.Input
  readonly onExited: () => Effect.Effect<never, E1, R>
  readonly onTimeout: () => Effect.Effect<never, E2, R>
}

/** Probes every `interval` until ready; fails with `onExited()` or, after `timeout`, `onTimeout()`. */
export const waitUntilReady = <E1, E2, R>(options: WaitOptions<E1, E2, R>): Effect.Effect<void, E1 | E2, R> =>
  Effect.flatMap(options.probe, (ready) =>
    ready ? Effect.succeed(true) : options.exited() ? options.onExited() : Effect.succeed(false)
  ).pipe(
    Effect.repeat({ schedule: Schedule.spaced(options.interval), until: (ready) => ready }),
    Effect.timeoutOrElse({ duration: options.timeout, orElse: options.onTimeout }),
    Effect.asVoid
  )
