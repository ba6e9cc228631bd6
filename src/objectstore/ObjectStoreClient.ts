/**
 * `ObjectStoreClient`: the S3 operations the product needs, on one bucket, with typed failures.
 *
 * - `ObjectStoreClient.layer(connection)` talks to a real S3-compatible store through `@aws-sdk/client-s3`,
 *   honouring every option of the `ObjectStore` spec (see `s3Client.ts`).
 * - `ObjectStoreClient.layerMemory(options)` is an in-memory store with S3's multipart rules (minimum part
 *   size enforced on complete, real abort), plus the `MemoryObjectStore` control service for tests
 *   (call counts, fault injection, open uploads).
 *
 * The SDK never retries (`maxAttempts: 1`): retries belong to Effect schedules in the pipeline, and every
 * call is interruptible (interruption aborts the HTTP request).
 *
 * @since 0.1.0
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { type Config, Context, Effect, type FileSystem, Layer, type Option, type Path, type Stream } from "effect"
import { InvalidConfiguration, type ObjectStoreDownloadFailed, type ObjectStoreUploadFailed } from "../api/failures.ts"
import { type ObjectStoreConnection, ObjectStoreConnectionConfig } from "./connection.ts"
import { MemoryObjectStore, type MemoryObjectStoreOptions, makeMemoryObjectStore } from "./memoryObjectStore.ts"
import { makeS3ObjectStoreClient, type S3ClientTuning } from "./s3Client.ts"

/** A part that was uploaded, as CompleteMultipartUpload needs it. */
export interface UploadedPart {
  readonly partNumber: number
  readonly etag: string
}

/** What HeadObject tells about an object. */
export interface ObjectInfo {
  readonly size: number
  readonly etag?: string
  readonly storageClass?: string
  readonly serverSideEncryption?: string
}

/** An inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  readonly start: number
  readonly end: number
}

/** One entry of a listing: an object, or (with a delimiter) a common prefix. */
export type ListEntry = { readonly key: string; readonly size: number } | { readonly commonPrefix: string }

/** Options of `listObjects`. */
export interface ListObjectsOptions {
  readonly delimiter?: string
  /** Keys per ListObjectsV2 page (S3's MaxKeys, at most 1000); the stream is the same whatever the value. */
  readonly pageSize?: number
}

/** An in-progress multipart upload. */
export interface MultipartUploadInfo {
  readonly key: string
  readonly uploadId: string
}

/** The object-store operations, on the bucket of the connection. */
export interface ObjectStoreClientService {
  readonly bucket: string
  readonly createMultipartUpload: (key: string) => Effect.Effect<string, ObjectStoreUploadFailed>
  readonly uploadPart: (
    key: string,
    uploadId: string,
    partNumber: number,
    body: Uint8Array
  ) => Effect.Effect<UploadedPart, ObjectStoreUploadFailed>
  readonly completeMultipartUpload: (
    key: string,
    uploadId: string,
    parts: ReadonlyArray<UploadedPart>
  ) => Effect.Effect<void, ObjectStoreUploadFailed>
  readonly abortMultipartUpload: (key: string, uploadId: string) => Effect.Effect<void, ObjectStoreUploadFailed>
  /** Every in-progress multipart upload whose key starts with `prefix` (all pages). */
  readonly listMultipartUploads: (
    prefix: string
  ) => Effect.Effect<ReadonlyArray<MultipartUploadInfo>, ObjectStoreDownloadFailed>
  readonly putObject: (
    key: string,
    body: Uint8Array,
    options?: { readonly contentType?: string }
  ) => Effect.Effect<void, ObjectStoreUploadFailed>
  /** `None` when the object does not exist (404); any other failure is an error. */
  readonly headObject: (key: string) => Effect.Effect<Option.Option<ObjectInfo>, ObjectStoreDownloadFailed>
  /** The object's bytes (or the inclusive `range`), streamed with backpressure. */
  readonly getObject: (key: string, range?: ByteRange) => Stream.Stream<Uint8Array, ObjectStoreDownloadFailed>
  /** Paginated ListObjectsV2, fetched lazily page by page, in S3's (UTF-8 binary) key order. */
  readonly listObjects: (
    prefix: string,
    options?: ListObjectsOptions
  ) => Stream.Stream<ListEntry, ObjectStoreDownloadFailed>
  /** Deleting a missing key succeeds, as in S3. */
  readonly deleteObject: (key: string) => Effect.Effect<void, ObjectStoreUploadFailed>
}

/** The object-store client service. */
export class ObjectStoreClient extends Context.Service<ObjectStoreClient, ObjectStoreClientService>()(
  "cloudnative-mysql/ObjectStoreClient"
) {
  /** A client for a real S3-compatible store; the SDK client is destroyed (sockets closed) when the layer ends. */
  static readonly layer = (
    connection: ObjectStoreConnection,
    tuning: S3ClientTuning = {}
  ): Layer.Layer<ObjectStoreClient> => Layer.effect(ObjectStoreClient, makeS3ObjectStoreClient(connection, tuning))

  /**
   * The live client for the connection described by the environment and mounted secret files
   * (`OBJECT_STORE_SPEC`, `OBJECT_STORE_SECRETS_DIR`: see `connection.ts`), as the backup worker and the
   * restore init container get it.
   */
  static readonly layerFromEnv: Layer.Layer<ObjectStoreClient, Config.ConfigError, FileSystem.FileSystem | Path.Path> =
    Layer.unwrap(Effect.map(ObjectStoreConnectionConfig, (connection) => ObjectStoreClient.layer(connection)))

  /** An in-memory store with S3's multipart rules, and its `MemoryObjectStore` control service. */
  static readonly layerMemory = (
    options: MemoryObjectStoreOptions = {}
  ): Layer.Layer<ObjectStoreClient | MemoryObjectStore> =>
    // a fresh, empty store each time the layer is built
    Layer.syncContext(() => {
      const store = makeMemoryObjectStore(options)
      return Context.make(ObjectStoreClient, store.client).pipe(Context.add(MemoryObjectStore, store.control))
    })
}

/**
 * Runs a process's program against the object store its environment and secret files describe, as the backup
 * worker and the restore do: the connection is read first (a bad one is the taxonomy's `InvalidConfiguration`),
 * handed to `program` (for the spec's `path`), and the live client is provided to it. Only the file system and
 * path that reading the secret files needs are provided: all of NodeServices (and the package index) cost
 * every start of the worker and restore (docs/performance.md, "Start-up").
 */
export const withObjectStoreFromEnv = <A, E, R>(
  program: (connection: ObjectStoreConnection) => Effect.Effect<A, E, R>
): Effect.Effect<
  A,
  E | InvalidConfiguration,
  Exclude<Exclude<R, ObjectStoreClient>, FileSystem.FileSystem | Path.Path>
> =>
  Effect.gen(function* () {
    const connection = yield* ObjectStoreConnectionConfig.pipe(
      // the cause's own message: `error.message` would prefix it with the cause's tag (`SourceError: …`)
      Effect.mapError((error) => new InvalidConfiguration({ detail: error.cause.message }))
    )
    return yield* program(connection).pipe(Effect.provide(ObjectStoreClient.layer(connection)))
  }).pipe(Effect.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer)))

export {
  type MemoryFault,
  type MemoryFaultHook,
  MemoryObjectStore,
  type MemoryObjectStoreOptions,
  type MemoryRequest,
  type ObjectStoreOperation
} from "./memoryObjectStore.ts"
export type { S3ClientTuning } from "./s3Client.ts"
