/**
 * Reading a backup's `metadata.json` from the object store: the one place that caps its size, reads it as
 * strict UTF-8 and decodes it. Restore (which fails on a bad one) and the catalog (which skips it) decide what
 * a bad one means.
 *
 * @since 0.1.0
 */
import { Data, Effect, Stream } from "effect"
import { ObjectStoreDownloadFailed } from "../api/failures.ts"
import { type BackupMetadata, decodeMetadata } from "./metadata.ts"
import { ObjectStoreClient } from "./ObjectStoreClient.ts"

/** metadata.json is a few hundred bytes; one this large is not ours and is not read. */
export const maxMetadataBytes = 1024 * 1024

/** A `metadata.json` that exists but is not a valid one (too large, not UTF-8, does not decode). */
export class MetadataInvalid extends Data.TaggedError("MetadataInvalid")<{
  readonly key: string
  readonly detail: string
}> {
  override get message(): string {
    return this.detail
  }
}

/** A HeadObject that found nothing, as the taxonomy's download failure. */
export const noSuchKey = (bucket: string, key: string, detail: string): ObjectStoreDownloadFailed =>
  new ObjectStoreDownloadFailed({ operation: "HeadObject", bucket, key, status: 404, code: "NoSuchKey", detail })

/** Reads and decodes the `metadata.json` at `key`, whose size (from a HEAD or a listing) is `size`. */
export const readMetadataObject = Effect.fn("objectstore.readMetadataObject")(function* (key: string, size: number) {
  if (size > maxMetadataBytes) {
    return yield* new MetadataInvalid({ key, detail: `metadata.json is larger than ${maxMetadataBytes} bytes` })
  }
  const client = yield* ObjectStoreClient
  const chunks = yield* Stream.runCollect(client.getObject(key))
  const text = yield* Effect.try({
    try: () => new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks)),
    catch: (error) => new MetadataInvalid({ key, detail: `metadata.json is unreadable (not UTF-8): ${String(error)}` })
  })
  return yield* decodeMetadata(text).pipe(
    Effect.mapError((error) => new MetadataInvalid({ key, detail: `metadata.json does not decode: ${error.message}` }))
  ) as Effect.Effect<BackupMetadata, MetadataInvalid>
})
