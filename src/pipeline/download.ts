/**
 * Verified download: stream an object to any consumer while hashing and counting, and fail with
 * `ChecksumMismatch` when the bytes differ from what metadata.json promises (SHA-256 or size).
 *
 * **The consumer never sees a clean end of a bad stream.** The last chunk is held back until the whole
 * object has been hashed: on a mismatch the stream fails instead of delivering it, so the consumer gets an
 * error, never "end of input". Bytes delivered before that point are unverified: callers must write them
 * somewhere they can discard (restore extracts into a fresh scratch directory and deletes it on failure; a
 * child process reading stdin must be killed, not given EOF). Nothing downstream of a failed download may
 * be used.
 *
 * Reading modes: one GET (default; a retryable failure mid-body resumes with a Range request from the
 * next byte), or `concurrency > 1` parallel ranged GETs of `rangeSize` bytes, reassembled in order; memory
 * is then about `(concurrency + 1) × rangeSize`.
 *
 * Where the time goes (`npm run bench:download`, 1 GiB from loopback RGW on 2 cores): the download is CPU
 * bound in this process, not in the network. SHA-256 costs ~1 CPU-s per GiB; the rest is receiving, and
 * most of that is V8 garbage collection of the socket read buffers (see objectstore/readHandler.ts). A
 * process that downloads large objects should run with a small young generation
 * (`--max-semi-space-size=2`, as restore does: src/cli/nodeFlags.ts): read buffers then die
 * in cheap scavenges instead of piling up until a full mark-compact (verified single GET 331 → 362 MB/s,
 * 3.4 → 2.4 CPU-s per GiB). Parallel ranged GETs are not faster there (they cost more CPU and hold whole
 * ranges), so one GET stays the default; they are for stores that limit the rate of one connection.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import { Effect, Option, Pull, Schedule, type Sink, Stream } from "effect"
import { ChecksumMismatch, type ObjectStoreDownloadFailed } from "../api/failures.ts"
import { noSuchKey } from "../objectstore/metadataObject.ts"
import type { ByteRange } from "../objectstore/ObjectStoreClient.ts"
import { ObjectStoreClient } from "../objectstore/ObjectStoreClient.ts"
import { defaultRetryPolicy, isRetryableObjectStoreError, type RetryPolicy, retrySchedule, withRetry } from "./retry.ts"

/** What the bytes must be (from metadata.json). */
export interface ExpectedContent {
  readonly sha256: string
  readonly size: number
}

/** How to read the object. */
export interface DownloadOptions {
  /** Parallel ranged GETs (default 1: a single GET). */
  readonly concurrency?: number
  /** Bytes per ranged GET when `concurrency > 1` (default 16 MiB). */
  readonly rangeSize?: number
  readonly retry?: RetryPolicy
}

/** Download defaults. */
export const downloadDefaults = { concurrency: 1, rangeSize: 16 * 1024 * 1024 } as const

/** Consecutive inclusive ranges of at most `rangeSize` bytes covering `size` bytes. */
export const byteRanges = (size: number, rangeSize: number): Array<ByteRange> => {
  const ranges: Array<ByteRange> = []
  for (let start = 0; start < size; start += rangeSize)
    ranges.push({ start, end: Math.min(size, start + rangeSize) - 1 })
  return ranges
}

/**
 * One GET from the start, resuming after retryable failures from the next byte not yet delivered. The resumes
 * share one budget: they step one `retrySchedule(policy)` (its delays, its limit), which is not reset by progress.
 */
const resumingGet = (
  client: ObjectStoreClient["Service"],
  key: string,
  size: number,
  policy: RetryPolicy
): Stream.Stream<Uint8Array, ObjectStoreDownloadFailed> =>
  size === 0
    ? Stream.empty
    : Stream.unwrap(
        Effect.map(Schedule.toStepWithSleep(retrySchedule(policy)), (waitBeforeResume) => {
          const from = (offset: number): Stream.Stream<Uint8Array, ObjectStoreDownloadFailed> => {
            let delivered = offset
            const body = client.getObject(key, offset === 0 ? undefined : { start: offset, end: size - 1 }).pipe(
              Stream.mapArray((chunks) => {
                for (const c of chunks) delivered += c.length
                return chunks
              })
            )
            return Stream.catch(body, (error) => {
              if (!isRetryableObjectStoreError(error) || delivered >= size) return Stream.fail(error)
              return Stream.concat(
                Stream.fromEffectDrain(
                  waitBeforeResume(error).pipe(
                    Pull.catchDone(() => Effect.fail(error)),
                    Effect.andThen(Effect.logWarning("download interrupted, resuming", error))
                  )
                ),
                from(delivered)
              )
            })
          }
          return from(0)
        })
      )

/**
 * The object's bytes, verified against `expected` as described in the module comment. Fails with
 * `ChecksumMismatch` (instead of ending) when the SHA-256 or the size differs, and with
 * `ObjectStoreDownloadFailed` when the object cannot be read.
 */
export const verifiedObjectStream = (
  key: string,
  expected: ExpectedContent,
  options: DownloadOptions = {}
): Stream.Stream<Uint8Array, ObjectStoreDownloadFailed | ChecksumMismatch, ObjectStoreClient> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const client = yield* ObjectStoreClient
      const policy = options.retry ?? defaultRetryPolicy
      const head = yield* withRetry(policy)(client.headObject(key))
      if (Option.isNone(head)) {
        return Stream.fail(noSuchKey(client.bucket, key, "the archive does not exist"))
      }
      const size = head.value.size
      const concurrency = Math.max(1, options.concurrency ?? downloadDefaults.concurrency)
      const raw =
        concurrency === 1
          ? resumingGet(client, key, size, policy)
          : Stream.fromIterable(byteRanges(size, options.rangeSize ?? downloadDefaults.rangeSize)).pipe(
              // each range is collected (and retried) whole, then its chunks are passed on without copying
              Stream.mapEffect((range) => withRetry(policy)(Stream.runCollect(client.getObject(key, range))), {
                concurrency
              }),
              Stream.flattenIterable
            )
      return verify(raw, key, expected)
    })
  )

/**
 * Hashes and counts `raw`, holding its last chunk back until the totals are checked against `expected`.
 */
export const verify = <E, R>(
  raw: Stream.Stream<Uint8Array, E, R>,
  key: string,
  expected: ExpectedContent
): Stream.Stream<Uint8Array, E | ChecksumMismatch, R> =>
  Stream.suspend(() => {
    const hash = createHash("sha256")
    let size = 0
    let held: Uint8Array | undefined
    // per batch, not per chunk: every chunk but the held one passes on in the batch it came in
    const passed = Stream.mapAccumArray(
      raw,
      () => undefined,
      (_, chunks) => {
        const out: Array<Uint8Array> = held === undefined ? [] : [held]
        for (const chunk of chunks) {
          hash.update(chunk)
          size += chunk.length
          out.push(chunk)
        }
        held = out.pop()
        return [undefined, out] as const
      }
    )
    const tail = Stream.unwrap(
      Effect.sync(() => {
        const actualSha256 = hash.digest("hex")
        if (actualSha256 !== expected.sha256 || size !== expected.size) {
          return Stream.fail(
            new ChecksumMismatch({
              key,
              expectedSha256: expected.sha256,
              actualSha256,
              expectedSize: expected.size,
              actualSize: size
            })
          )
        }
        return held === undefined ? Stream.empty : Stream.make(held)
      })
    )
    return Stream.concat(passed, tail)
  })

/**
 * Runs the verified object stream into `sink` and returns the sink's result, which is only produced
 * after verification succeeded (the sink sees a failure, not an end, on a mismatch).
 */
export const downloadTo = <A, E, R>(
  key: string,
  expected: ExpectedContent,
  sink: Sink.Sink<A, Uint8Array, unknown, E, R>,
  options: DownloadOptions = {}
): Effect.Effect<A, E | ObjectStoreDownloadFailed | ChecksumMismatch, R | ObjectStoreClient> =>
  Stream.run(verifiedObjectStream(key, expected, options), sink).pipe(
    Effect.withSpan("pipeline.downloadTo", { attributes: { key } })
  )
