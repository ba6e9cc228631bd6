/**
 * The sandbox's clock adapter: wall-clock time and randomness for the Promise-based launchers of real
 * servers (s3rver, Ceph RGW) and the free-port finder. They run in vitest's global setup and in plain async
 * code before any Effect runtime exists, and their deadlines guard real OS processes, so they read the real
 * clock here, in the one place outside `src/api/time.ts` that does. Effect code uses `Clock` and `Random`.
 *
 * @since 0.1.0
 */

/** Wall-clock time in epoch milliseconds. */
export const wallClockMillis = (): number => Date.now()

/** A uniformly random integer in `[0, n)`. */
export const randomBelow = (n: number): number => Math.floor(Math.random() * n)

/** Resolves after `millis` of wall-clock time. */
export const sleepMillis = (millis: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, millis))
