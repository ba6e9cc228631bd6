/**
 * Upload progress, as the caller sees it every `interval` (for status fields and logs).
 *
 * @since 0.1.0
 */
import { Clock, type Duration, Effect } from "effect"

/** A snapshot of an upload in progress. */
export interface UploadProgress {
  /** Bytes read from the source so far. */
  readonly bytesRead: number
  /** Bytes in parts the store has acknowledged. */
  readonly bytesUploaded: number
  readonly partsUploaded: number
  /** Bytes read but not yet both hashed and acknowledged by the store (what the pipeline holds). */
  readonly bytesInFlight: number
  readonly elapsedMillis: number
  /** Read rate since the previous snapshot. */
  readonly bytesPerSecond: number
  /** Read rate since the start. */
  readonly averageBytesPerSecond: number
}

/** How the caller wants to hear about progress. */
export interface ProgressOptions {
  /** Time between reports. */
  readonly interval: Duration.Input
  /** Time before the first report (default `interval`): an early one shows a watcher that bytes flow. */
  readonly first?: Duration.Input
  /** Called with each snapshot, and once more with the final numbers when the upload completes. */
  readonly report: (progress: UploadProgress) => Effect.Effect<void>
}

/** The live counters of one upload; mutated by the pipeline, read by snapshots. */
export interface UploadCounters {
  bytesRead: number
  bytesHashed: number
  bytesUploaded: number
  partsUploaded: number
  peakBytesInFlight: number
}

/** Fresh counters. */
export const makeCounters = (): UploadCounters => ({
  bytesRead: 0,
  bytesHashed: 0,
  bytesUploaded: 0,
  partsUploaded: 0,
  peakBytesInFlight: 0
})

/**
 * Bytes the pipeline still holds: a byte is released only once both the hashing branch and the upload
 * branch are done with it.
 */
export const bytesInFlight = (c: UploadCounters): number => c.bytesRead - Math.min(c.bytesHashed, c.bytesUploaded)

const rate = (bytes: number, millis: number): number => (millis <= 0 ? 0 : Math.round((bytes * 1000) / millis))

/**
 * Makes a snapshot function over `counters`; each call measures the rate since the previous call.
 */
export const makeProgressSampler = Effect.fnUntraced(function* (counters: UploadCounters) {
  const start = yield* Clock.currentTimeMillis
  let lastAt = start
  let lastBytes = 0
  return Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const snapshot: UploadProgress = {
      bytesRead: counters.bytesRead,
      bytesUploaded: counters.bytesUploaded,
      partsUploaded: counters.partsUploaded,
      bytesInFlight: bytesInFlight(counters),
      elapsedMillis: now - start,
      bytesPerSecond: rate(counters.bytesRead - lastBytes, now - lastAt),
      averageBytesPerSecond: rate(counters.bytesRead, now - start)
    }
    lastAt = now
    lastBytes = counters.bytesRead
    return snapshot
  })
})

/** Reports a snapshot after `options.first`, then every `options.interval`, until interrupted. */
export const reportEvery = (sample: Effect.Effect<UploadProgress>, options: ProgressOptions): Effect.Effect<never> =>
  Effect.sleep(options.first ?? options.interval).pipe(
    Effect.andThen(sample),
    Effect.flatMap(options.report),
    Effect.andThen(
      Effect.sleep(options.interval).pipe(Effect.andThen(sample), Effect.flatMap(options.report), Effect.forever)
    )
  )
