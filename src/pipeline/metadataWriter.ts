/**
 * Writing `metadata.json`: the marker of a completed backup, so it is written last, only for an archive
 * that is complete in the store, and only with archive facts that match what was uploaded.
 *
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import { ObjectStoreUploadFailed } from "../api/failures.ts"
import type { BackupKeys } from "../objectstore/layout.ts"
import { type BackupMetadata, encodeMetadata } from "../objectstore/metadata.ts"
import { ObjectStoreClient } from "../objectstore/ObjectStoreClient.ts"
import { defaultRetryPolicy, type RetryPolicy, withRetry } from "./retry.ts"
import type { UploadResult } from "./upload.ts"

/** The `archive` block of metadata.json for an uploaded archive. */
export const archiveMetadata = (upload: UploadResult): BackupMetadata["archive"] => ({
  key: upload.key,
  size: upload.size,
  sha256: upload.sha256,
  partSize: upload.partSize,
  parts: upload.parts
})

const refuse = (bucket: string, key: string, operation: string, detail: string) =>
  new ObjectStoreUploadFailed({ operation, bucket, key, code: "ArchiveNotComplete", detail })

/**
 * Writes `keys.metadataKey` after checking that `metadata.archive` describes `upload`, that `upload` is
 * the archive of `keys`, and that the store holds that archive with the uploaded size. Any mismatch fails
 * with `ObjectStoreUploadFailed` (code `ArchiveNotComplete`) and writes nothing.
 */
export const writeMetadata = Effect.fn("pipeline.writeMetadata")(function* (
  keys: BackupKeys,
  upload: UploadResult,
  metadata: BackupMetadata,
  retryPolicy: RetryPolicy = defaultRetryPolicy
) {
  const client = yield* ObjectStoreClient
  const retry = withRetry(retryPolicy)
  const expected = archiveMetadata(upload)
  const archive = metadata.archive
  if (upload.key !== keys.archiveKey) {
    return yield* refuse(client.bucket, keys.metadataKey, "PutObject", `uploaded ${upload.key}, not ${keys.archiveKey}`)
  }
  const differing = (Object.keys(expected) as Array<keyof typeof expected>).filter((k) => archive[k] !== expected[k])
  if (differing.length > 0) {
    return yield* refuse(
      client.bucket,
      keys.metadataKey,
      "PutObject",
      `metadata.archive differs from the upload in ${differing.join(", ")}`
    )
  }
  const head = yield* retry(client.headObject(keys.archiveKey))
  if (Option.isNone(head) || head.value.size !== upload.size) {
    const found = Option.match(head, { onNone: () => "no object", onSome: (info) => `${info.size} bytes` })
    return yield* refuse(
      client.bucket,
      keys.archiveKey,
      "HeadObject",
      `expected the archive with ${upload.size} bytes, found ${found}; metadata.json not written`
    )
  }
  yield* retry(
    client.putObject(keys.metadataKey, new TextEncoder().encode(encodeMetadata(metadata)), {
      contentType: "application/json"
    })
  )
  yield* Effect.logInfo("backup metadata written").pipe(Effect.annotateLogs({ key: keys.metadataKey }))
})
