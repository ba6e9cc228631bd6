/**
 * How big each multipart part is.
 *
 * A backup is a stream of unknown length, so the part size cannot be chosen from the total. S3 allows at
 * most 10,000 parts per upload, parts of at most 5 GiB, objects of at most 5 TiB, and every part but the
 * last must be at least 5 MiB. The schedule therefore starts small (memory stays low for the common case)
 * and doubles the part size every `partsPerTier` parts, capped at `maxPartSize`:
 *
 * ```
 * partSize(n) = min(maxPartSize, initialPartSize × 2^floor((n - 1) / partsPerTier))      n = 1, 2, …
 * ```
 *
 * With the defaults (16 MiB initial, 1,000 parts per tier) parts 1–1000 are 16 MiB (the first 15.6 GiB),
 * 1001–2000 are 32 MiB (up to 46.9 GiB), then 64, 128, 256, 512 MiB, 1, 2, 4 GiB, and 5 GiB from part
 * 9001: 10,000 parts hold 12.7 TiB, well above S3's 5 TiB object limit (an initial size of 5 MiB would
 * only reach 4.9 TiB, hence 16 MiB). Memory grows with the part size (`(uploadConcurrency + 2) ×
 * partSize`), so it only grows for streams that are already large. A stream longer than the schedule's
 * capacity fails (and its upload is aborted) rather than exceeding `maxParts`.
 *
 * @since 0.1.0
 */

const MiB = 1024 * 1024
const GiB = 1024 * MiB

/** S3's limits on multipart uploads. */
export const S3Limits = {
  /** Every part but the last must be at least this big. */
  minPartSize: 5 * MiB,
  maxPartSize: 5 * GiB,
  maxParts: 10_000,
  maxObjectSize: 5 * 1024 * GiB
} as const

/** The part-size schedule of one upload. */
export interface PartSchedule {
  /** Size of parts 1..partsPerTier. */
  readonly initialPartSize: number
  /** The size doubles every this many parts. */
  readonly partsPerTier: number
  /** Parts never grow beyond this. */
  readonly maxPartSize: number
  /** The store's maximum number of parts; a stream that needs more fails. */
  readonly maxParts: number
}

/** The production schedule: 16 MiB parts, doubling every 1,000 parts, up to 5 GiB. */
export const defaultPartSchedule: PartSchedule = {
  initialPartSize: 16 * MiB,
  partsPerTier: 1000,
  maxPartSize: S3Limits.maxPartSize,
  maxParts: S3Limits.maxParts
}

/** The size of part `partNumber` (1-based). */
export const partSizeFor = (schedule: PartSchedule, partNumber: number): number => {
  const tier = Math.floor((partNumber - 1) / schedule.partsPerTier)
  // 2^tier overflows to Infinity for absurd tiers; min() then caps it
  return Math.min(schedule.maxPartSize, schedule.initialPartSize * 2 ** tier)
}

/** The most bytes an upload with this schedule can hold (all `maxParts` parts full). */
export const scheduleCapacity = (schedule: PartSchedule): number => {
  let total = 0
  for (let tierStart = 1; tierStart <= schedule.maxParts; tierStart += schedule.partsPerTier) {
    const parts = Math.min(schedule.partsPerTier, schedule.maxParts - tierStart + 1)
    total += parts * partSizeFor(schedule, tierStart)
  }
  return total
}

/** How many parts a stream of `size` bytes is cut into (at least one: an empty stream is one empty part). */
export const partsNeeded = (schedule: PartSchedule, size: number): number => {
  let parts = 0
  let covered = 0
  while (covered < size || parts === 0) {
    parts += 1
    covered += partSizeFor(schedule, parts)
  }
  return parts
}

/**
 * Checks a schedule against the store's minimum part size: every part must be at least `minPartSize`
 * and at least one byte. Returns the problem, or `undefined` when the schedule is valid.
 */
export const scheduleProblem = (schedule: PartSchedule, minPartSize: number): string | undefined => {
  if (!Number.isSafeInteger(schedule.initialPartSize) || schedule.initialPartSize < Math.max(1, minPartSize)) {
    return `initial part size ${schedule.initialPartSize} is below the minimum part size ${minPartSize}`
  }
  if (!Number.isSafeInteger(schedule.partsPerTier) || schedule.partsPerTier < 1) {
    return `parts per tier must be a positive integer, got ${schedule.partsPerTier}`
  }
  if (schedule.maxPartSize < schedule.initialPartSize) {
    return `max part size ${schedule.maxPartSize} is below the initial part size ${schedule.initialPartSize}`
  }
  if (!Number.isSafeInteger(schedule.maxParts) || schedule.maxParts < 1) {
    return `max parts must be a positive integer, got ${schedule.maxParts}`
  }
  return undefined
}
