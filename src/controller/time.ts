/**
 * The controller's time: `metav1.Time` strings from the Effect `Clock`, so every reconcile runs under `TestClock`.
 *
 * @since 0.1.0
 */
import { Clock, Effect } from "effect"

/** `metav1.Time`: RFC 3339 in whole seconds, UTC. */
export const rfc3339 = (millis: number): string => new Date(millis).toISOString().replace(/\.\d{3}Z$/u, "Z")

/** Milliseconds of a `metav1.Time` (or any RFC 3339 string); `undefined` when it does not parse. */
export const parseTime = (text: string | undefined): number | undefined => {
  if (text === undefined) return undefined
  const millis = Date.parse(text)
  return Number.isNaN(millis) ? undefined : millis
}

/** The current time as `metav1.Time`. */
export const now: Effect.Effect<string> = Effect.map(Clock.currentTimeMillis, rfc3339)
