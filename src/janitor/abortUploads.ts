/**
 * `cloudnative-mysql abort-uploads`: the janitor. Aborts every incomplete multipart upload under one prefix, so
 * the parts a killed backup worker left behind stop costing storage (S3 keeps them until aborted or a lifecycle
 * rule expires them). Contract (environment, termination message): `src/api/cleanupJob.ts`.
 *
 * Each pass lists the uploads (ListMultipartUploads, every page) and aborts them; a listing or an abort that
 * fails with a retryable error is retried (`pipeline/retry.ts`). An abort answered `NoSuchUpload` means someone
 * else removed it first and counts as gone, not as an error. A pass ends with a fresh listing: the run succeeds
 * only when it is empty. Uploads that keep reappearing mean a worker still writes there, which the controller
 * must not allow: after three passes that is a failure.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type { CleanupEnv, CleanupResult } from "../api/cleanupJob.ts"
import { ObjectStoreUploadFailed } from "../api/failures.ts"
import { ObjectStoreClient, withObjectStoreFromEnv } from "../objectstore/ObjectStoreClient.ts"
import { defaultRetryPolicy, type RetryPolicy, withRetry } from "../pipeline/retry.ts"

const maxPasses = 3

/** Aborts every incomplete multipart upload whose key starts with `prefix` (see the module comment). */
export const abortUploads = Effect.fn("janitor.abortUploads")(function* (
  prefix: string,
  policy: RetryPolicy = defaultRetryPolicy
) {
  const client = yield* ObjectStoreClient
  const retry = withRetry(policy)
  let aborted = 0
  let alreadyGone = 0
  let uploads = yield* retry(client.listMultipartUploads(prefix))
  for (let pass = 1; uploads.length > 0; pass++) {
    if (pass > maxPasses) {
      return yield* new ObjectStoreUploadFailed({
        operation: "AbortMultipartUpload",
        bucket: client.bucket,
        key: prefix,
        detail: `${uploads.length} uploads still open after ${maxPasses} passes: something is still writing under the prefix`
      })
    }
    const outcomes = yield* Effect.forEach(
      uploads,
      (upload) =>
        retry(client.abortMultipartUpload(upload.key, upload.uploadId)).pipe(
          Effect.as("aborted" as const),
          Effect.catchIf(
            (error) => error.code === "NoSuchUpload" || error.status === 404,
            () => Effect.succeed("gone" as const)
          )
        ),
      { concurrency: 4 }
    )
    aborted += outcomes.filter((o) => o === "aborted").length
    alreadyGone += outcomes.filter((o) => o === "gone").length
    uploads = yield* retry(client.listMultipartUploads(prefix))
  }
  yield* Effect.logInfo("multipart uploads aborted").pipe(Effect.annotateLogs({ prefix, aborted, alreadyGone }))
  return { prefix, aborted, alreadyGone } satisfies CleanupResult
})

/** The `abort-uploads` subcommand over a decoded environment. */
export const cleanupProgram = (env: CleanupEnv) =>
  withObjectStoreFromEnv(() => abortUploads(env.CLEANUP_PREFIX)).pipe(
    Effect.annotateLogs({ prefix: env.CLEANUP_PREFIX })
  )
