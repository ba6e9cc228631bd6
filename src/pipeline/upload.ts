/**
 * The upload pipeline: one backpressured stream from any byte source into ONE S3 object, hashed on the
 * way, with bounded memory, never leaving a half-written object or orphaned parts.
 *
 * ```
 * source ─SHA-256 + count─▶ cutParts(schedule) ─▶ UploadPart × uploadConcurrency (ordered, each retried)
 * source ended ▶ commit check ▶ CompleteMultipartUpload
 * ```
 *
 * - **Backpressure**: the source is pulled only when a part can be filled: at most `uploadConcurrency`
 *   parts upload and one more waits for a slot; until then nothing is read.
 * - **Hashing** happens synchronously on each batch the source delivers, before the batch is cut (no tee:
 *   both would run on this one thread anyway, and a tee costs Effect work per batch; see docs/performance.md).
 * - **Memory**: at most `uploadConcurrency` parts are being uploaded, one complete part waits for a slot
 *   and one is being filled (parts cut from one source batch that spans parts are views of that batch),
 *   plus the source batch being cut, so the pipeline holds at most
 *   `(uploadConcurrency + 2) × partSize + sourceBatch` bytes, whatever the stream length (`bytesInFlight`
 *   counts it; `peakBytesInFlight` is returned; `memoryBound` computes the bound).
 * - **Parts** follow the growing schedule of `partSchedule.ts` (at most 10,000, none under the minimum
 *   but the last); they upload concurrently and are completed in part-number order.
 * - **Failure**: each call is retried on retryable errors (`retry.ts`); a terminal part failure, a
 *   failed source, a failed commit check or interruption aborts the multipart upload, so no object and no
 *   parts remain. The object appears only after `commit` succeeded.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import { Duration, Effect, Exit, Semaphore, Stream } from "effect"
import { ObjectStoreUploadFailed } from "../api/failures.ts"
import { ObjectStoreClient, type UploadedPart } from "../objectstore/ObjectStoreClient.ts"
import { byteLength, cutParts, type Part, PartBufferPool } from "./bytes.ts"
import { defaultPartSchedule, type PartSchedule, partSizeFor, S3Limits, scheduleProblem } from "./partSchedule.ts"
import { bytesInFlight, makeCounters, makeProgressSampler, type ProgressOptions, reportEvery } from "./progress.ts"
import { defaultRetryPolicy, type RetryPolicy, withRetry } from "./retry.ts"

/** Tuning and hooks of one upload. */
export interface UploadOptions<EC = never, RC = never> {
  /** The object key (e.g. `backupKeys(...).archiveKey`). */
  readonly key: string
  /** Part sizes (default {@link defaultPartSchedule}: 16 MiB doubling every 1,000 parts). */
  readonly schedule?: PartSchedule
  /** The store's minimum non-last part size the schedule is checked against (default 5 MiB, S3's). */
  readonly minPartSize?: number
  /** Parts uploaded at the same time (default 4). */
  readonly uploadConcurrency?: number
  /** Retries of each S3 call (default {@link defaultRetryPolicy}). */
  readonly retry?: RetryPolicy
  /** One UploadPart attempt that takes longer counts as a retryable `RequestTimeout` (default 5 minutes). */
  readonly partTimeout?: Duration.Input
  /**
   * Runs once the source has ended and every part is stored, before CompleteMultipartUpload. If it fails
   * the upload is aborted and no object appears (the backup worker waits here for the tool's exit status).
   */
  readonly commit?: Effect.Effect<void, EC, RC>
  /** Periodic progress reports. */
  readonly progress?: ProgressOptions
}

/** What was stored. */
export interface UploadResult {
  readonly key: string
  readonly size: number
  readonly sha256: string
  readonly parts: number
  /** The size of the first part (every part but the last follows the schedule from here). */
  readonly partSize: number
  readonly largestPartSize: number
  /** The size of every part, in part-number order. */
  readonly partSizes: ReadonlyArray<number>
  /** The most bytes the pipeline held at once (see `bytesInFlight`). */
  readonly peakBytesInFlight: number
}

/**
 * Defaults, checked with `bench/pipeline.ts` against RGW and s3rver on loopback: 8 concurrent parts or
 * 32 MiB parts were not faster than 4 × 16 MiB there, only bigger (memory grows with both).
 */
export const uploadDefaults = {
  uploadConcurrency: 4,
  partTimeout: "5 minutes"
} as const

/**
 * The most bytes the pipeline may hold for a part size and the largest source batch it reads: the
 * parts being uploaded, the one waiting for a slot and the one being filled, plus the batch being cut.
 */
export const memoryBound = (options: {
  readonly uploadConcurrency: number
  readonly partSize: number
  readonly largestSourceBatch: number
}): number => (options.uploadConcurrency + 2) * options.partSize + options.largestSourceBatch

const tooManyParts = (bucket: string, key: string, part: Part, maxParts: number) =>
  new ObjectStoreUploadFailed({
    operation: "UploadPart",
    bucket,
    key,
    code: "TooManyParts",
    detail: `the stream needs more than ${maxParts} parts (part ${part.partNumber}); raise the initial part size`
  })

const timedOut = (bucket: string, key: string, part: Part, timeout: Duration.Input) =>
  new ObjectStoreUploadFailed({
    operation: "UploadPart",
    bucket,
    key,
    code: "RequestTimeout",
    detail: `part ${part.partNumber} (${part.body.length} bytes) got no answer within ${Duration.format(
      Duration.fromInputUnsafe(timeout)
    )}`
  })

/**
 * Uploads `source` as the object `options.key` and returns its size and SHA-256. See the module comment for
 * the guarantees; the source's own failure type passes through unchanged.
 */
export const uploadStream = Effect.fn("pipeline.uploadStream")(function* <E, R, EC = never, RC = never>(
  source: Stream.Stream<Uint8Array, E, R>,
  options: UploadOptions<EC, RC>
) {
  const client = yield* ObjectStoreClient
  const { key } = options
  const schedule = options.schedule ?? defaultPartSchedule
  const problem = scheduleProblem(schedule, options.minPartSize ?? S3Limits.minPartSize)
  if (problem !== undefined) return yield* Effect.die(new RangeError(`invalid part schedule: ${problem}`))
  const concurrency = Math.max(1, options.uploadConcurrency ?? uploadDefaults.uploadConcurrency)
  const retry = withRetry(options.retry ?? defaultRetryPolicy)
  const partTimeout = options.partTimeout ?? uploadDefaults.partTimeout
  const counters = makeCounters()
  const pool = new PartBufferPool(concurrency + 2)
  const slots = yield* Semaphore.make(concurrency)

  const uploadId = yield* Effect.acquireRelease(retry(client.createMultipartUpload(key)), (id, exit) =>
    Exit.isSuccess(exit)
      ? Effect.void
      : retry(client.abortMultipartUpload(key, id)).pipe(
          Effect.tap(() => Effect.logInfo("multipart upload aborted")),
          // the original failure is what matters; a failed abort is reported, not raised over it
          Effect.catch((error) => Effect.logWarning("aborting the multipart upload failed", error))
        )
  )
  yield* Effect.annotateCurrentSpan({ key, uploadId })

  const sample = yield* makeProgressSampler(counters)
  if (options.progress !== undefined) yield* Effect.forkScoped(reportEvery(sample, options.progress))

  const uploadPart = (part: Part): Effect.Effect<UploadedPart, ObjectStoreUploadFailed> =>
    part.partNumber > schedule.maxParts
      ? Effect.fail(tooManyParts(client.bucket, key, part, schedule.maxParts))
      : client.uploadPart(key, uploadId, part.partNumber, part.body).pipe(
          Effect.timeoutOrElse({
            duration: partTimeout,
            orElse: () => Effect.fail(timedOut(client.bucket, key, part, partTimeout))
          }),
          retry,
          Effect.tap(() =>
            Effect.sync(() => {
              counters.bytesUploaded += part.body.length
              counters.partsUploaded += 1
              // acknowledged: the store has the bytes, the buffer may take the next part
              pool.give(part.body)
            })
          )
        )

  // hashing is synchronous where the bytes are read, so the digest covers exactly the bytes cut into parts
  const hash = createHash("sha256")
  const hashed = Stream.mapArray(source, (chunks) => {
    for (const chunk of chunks) hash.update(chunk)
    const n = byteLength(chunks)
    counters.bytesRead += n
    counters.bytesHashed += n
    counters.peakBytesInFlight = Math.max(counters.peakBytesInFlight, bytesInFlight(counters))
    return chunks
  })
  const uploaded = yield* hashed.pipe(
    cutParts(schedule, pool),
    // one fiber more than upload slots: one complete part waits for a slot, so when a slot frees its
    // upload starts at once and the next part is read, hashed and copied while the others upload
    Stream.mapEffect(
      (part) => Effect.map(Semaphore.withPermit(slots, uploadPart(part)), (done) => ({ done, size: part.body.length })),
      { concurrency: concurrency + 1 }
    ),
    Stream.runCollect
  )
  const digest = { sha256: hash.digest("hex"), size: counters.bytesRead }

  // S3 cannot complete an upload without parts: an empty stream is one empty (last) part
  const parts =
    uploaded.length > 0 ? uploaded : [{ done: yield* uploadPart({ partNumber: 1, body: new Uint8Array(0) }), size: 0 }]

  if (options.commit !== undefined) yield* options.commit
  yield* retry(
    client.completeMultipartUpload(
      key,
      uploadId,
      parts.map((p) => p.done)
    )
  )

  const partSizes = parts.map((p) => p.size)
  const result: UploadResult = {
    key,
    size: digest.size,
    sha256: digest.sha256,
    parts: parts.length,
    partSize: partSizeFor(schedule, 1),
    largestPartSize: Math.max(...partSizes),
    partSizes,
    peakBytesInFlight: counters.peakBytesInFlight
  }
  if (options.progress !== undefined) yield* Effect.flatMap(sample, options.progress.report)
  yield* Effect.logInfo("object uploaded").pipe(
    Effect.annotateLogs({ key, size: result.size, sha256: result.sha256, parts: result.parts })
  )
  return result
}, Effect.scoped)
