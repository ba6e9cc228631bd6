/**
 * Time on the wire, and the one way the code reads the clock. Every timestamp the project writes comes from
 * `Clock` (through `DateTime`), so everything runs under `TestClock`; the formats are the three Kubernetes and
 * the project use:
 *
 * | format | example | where |
 * | --- | --- | --- |
 * | `metav1.Time` (RFC 3339, whole seconds) | `2026-11-23T20:46:44Z` | object metadata, Event timestamps, conditions, restore results |
 * | `metav1.MicroTime` (RFC 3339, microseconds) | `2026-11-23T20:46:44.123000Z` | Lease times, `Event.eventTime` |
 * | RFC 3339 with milliseconds | `2026-11-23T20:46:44.123Z` | backup start/stop in termination messages and metadata.json |
 *
 * @since 0.1.0
 */
import { DateTime, Effect, Schema } from "effect"

/** An RFC 3339 UTC timestamp, with or without a fraction of a second (`2026-11-23T20:46:44Z`). */
export const Timestamp = Schema.String.check(Schema.isPattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/u))

const iso = (millis: number): string => DateTime.formatIso(DateTime.makeUnsafe(millis))

/** `metav1.Time` of an instant (epoch milliseconds): the fraction of a second is dropped. */
export const metaV1Time = (millis: number): string => iso(Math.floor(millis / 1000) * 1000).replace(".000Z", "Z")

/** `metav1.MicroTime` of an instant (epoch milliseconds; the clock has millisecond precision). */
export const microTime = (millis: number): string => iso(millis).replace(/Z$/u, "000Z")

/** RFC 3339 with milliseconds. */
export const rfc3339Millis = (millis: number): string => iso(millis)

/** Now, in epoch milliseconds, from the `Clock`. */
export const nowMillis: Effect.Effect<number> = Effect.map(DateTime.now, DateTime.toEpochMillis)

/** Now as `metav1.Time`. */
export const nowMetaV1Time: Effect.Effect<string> = Effect.map(nowMillis, metaV1Time)

/** Now as RFC 3339 with milliseconds. */
export const nowRfc3339Millis: Effect.Effect<string> = Effect.map(nowMillis, rfc3339Millis)

/** Now as a `Date` (for libraries that take one, e.g. certificate validity). */
export const nowDate: Effect.Effect<Date> = DateTime.nowAsDate
