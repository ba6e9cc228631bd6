/**
 * Which object-store failures are worth retrying, and how.
 *
 * Retryable: no HTTP status (the request never got an answer: connection reset or refused, DNS, socket
 * timeout), any 5xx, 408 and 429, and the S3 codes that mean "slow down / try again" whatever their status
 * (`SlowDown`, throttling, `RequestTimeout`, `InternalError`, …) or a body damaged in transit (`BadDigest`,
 * `XAmzContentSHA256Mismatch`). Everything else (403 `AccessDenied`/`SignatureDoesNotMatch`, 404
 * `NoSuchUpload`/`NoSuchBucket`, 400 `EntityTooSmall`/`InvalidPart`, …) fails at once: retrying cannot
 * change the answer and would only delay the report.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Schedule } from "effect"
import type { ObjectStoreDownloadFailed, ObjectStoreUploadFailed } from "../api/failures.ts"

const retryableCodes: ReadonlySet<string> = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottled",
  "RequestThrottledException",
  "TooManyRequestsException",
  "ProvisionedThroughputExceededException",
  "RequestLimitExceeded",
  "BandwidthLimitExceeded",
  "RequestTimeout",
  "RequestTimeoutException",
  "InternalError",
  "ServiceUnavailable",
  "BadDigest",
  "XAmzContentSHA256Mismatch",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ECONNREFUSED"
])

/** Whether a failed object-store call may succeed when repeated. */
export const isRetryableObjectStoreError = (error: ObjectStoreUploadFailed | ObjectStoreDownloadFailed): boolean =>
  (error.code !== undefined && retryableCodes.has(error.code)) ||
  error.status === undefined ||
  error.status >= 500 ||
  error.status === 408 ||
  error.status === 429

/** How often and how patiently a single object-store call is retried. */
export interface RetryPolicy {
  /** Retries after the first attempt (so `retries + 1` attempts in all). */
  readonly retries: number
  /** Delay before the first retry; each further delay doubles, with ±20 % jitter. */
  readonly baseDelay: Duration.Input
  /** Upper bound of a single delay. */
  readonly maxDelay: Duration.Input
}

/** 6 retries, 200 ms doubling to at most 10 s (about 13 s of waiting in all before giving up). */
export const defaultRetryPolicy: RetryPolicy = { retries: 6, baseDelay: "200 millis", maxDelay: "10 seconds" }

/**
 * The policy as a `Schedule`: exponential from `baseDelay`, capped at `maxDelay`, ±20 % jitter (from `Random`),
 * at most `retries` recurrences. The one retry schedule of the object-store path: `withRetry` retries a call
 * with it, and the download's resume (`download.ts`) steps it between resumed GETs.
 */
export const retrySchedule = (policy: RetryPolicy) => {
  const maxDelay = Duration.fromInputUnsafe(policy.maxDelay)
  const backoff = Schedule.exponential(policy.baseDelay).pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, maxDelay))),
    Schedule.jittered
  )
  return Schedule.max([backoff, Schedule.recurs(policy.retries)])
}

/** Retries `effect` on retryable failures with `retrySchedule(policy)`; other failures pass at once. */
export const withRetry =
  (policy: RetryPolicy) =>
  <A, E extends ObjectStoreUploadFailed | ObjectStoreDownloadFailed, R>(
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E, R> =>
    Effect.retry(effect, { schedule: retrySchedule(policy), while: isRetryableObjectStoreError })
