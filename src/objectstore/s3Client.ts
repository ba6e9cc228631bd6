/**
 * The live `ObjectStoreClient`: `@aws-sdk/client-s3` v3 configured from an `ObjectStoreConnection`.
 *
 * How each `ObjectStore` option maps to the SDK:
 *
 * - `endpoint`, `region` (default `us-east-1`), `forcePathStyle`: client settings as they are.
 * - `signatureVersion: v2`: our `SigV2Signer` replaces the SigV4 signer of the client's auth scheme.
 * - `caBundle`: trusted in addition to Node's root CAs; `insecure: true` turns verification off (never implied).
 * - `serverSideEncryption`: AES256 / aws:kms (+ key id) on CreateMultipartUpload and PutObject; SSE-C
 *   (`customer`) sends the key on every request that reads or writes object data (create, upload part,
 *   complete, put, head, get), as S3 requires.
 * - `storageClass`: on CreateMultipartUpload and PutObject.
 * - `credentials`: static keys (with session token), or the SDK default provider chain when
 *   `inheritFromIAMRole` is set (env, web identity/IRSA, container and instance metadata).
 * - `checksumCalculation` (default `WHEN_REQUIRED`): request checksums and response validation.
 * - Payload signing (not an option): over an https endpoint with SigV4, part bodies are sent as
 *   `UNSIGNED-PAYLOAD` — TLS already protects them in transit and the archive's own SHA-256 (metadata.json)
 *   is the integrity truth, so SigV4 need not hash every byte a second time (`payloadSigning`). Over plain
 *   HTTP the payload stays signed: there the signature is the only thing binding the bytes to the request.
 *
 * The SDK does not retry (`maxAttempts: 1`), every request gets the fiber's abort signal, and sockets are
 * pooled with keep-alive (`maxSockets`, default 32) so concurrent part uploads do not reconnect. Reads go
 * through undici and writes through node:http (`readHandler.ts` says why).
 * Failures become `ObjectStoreUploadFailed`/`ObjectStoreDownloadFailed` with the HTTP status and S3 code;
 * transport failures keep the Node error code in `detail`. Secret values are scrubbed from every detail.
 *
 * @since 0.1.0
 */
import * as http from "node:http"
import * as https from "node:https"
import { Readable } from "node:stream"
import { rootCertificates } from "node:tls"
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  type ListMultipartUploadsCommandOutput,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  S3ServiceException,
  type StorageClass,
  UploadPartCommand
} from "@aws-sdk/client-s3"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import type { AwsCredentialIdentity } from "@smithy/types"
import { Clock, Effect, Option, Redacted, type Scope, Stream } from "effect"
import { ObjectStoreDownloadFailed, ObjectStoreUploadFailed } from "../api/failures.ts"
import type { ObjectStore } from "../api/objectStore.ts"
import { readableBatches } from "../platform/readableBatches.ts"
import type { ObjectStoreConnection } from "./connection.ts"
import type { ListEntry, MultipartUploadInfo, ObjectStoreClientService } from "./ObjectStoreClient.ts"
import { ReadThroughUndiciHandler } from "./readHandler.ts"
import { SigV2Signer } from "./sigv2.ts"

/** Keep-alive sockets per origin when the connection does not say. */
export const DefaultMaxSockets = 32
/** Socket inactivity timeout when the connection does not say: a server that stops answering fails the call. */
export const DefaultSocketTimeoutMillis = 120_000

/** Tuning that is not part of the spec (tests and benchmarks). */
export interface S3ClientTuning {
  /** Socket inactivity timeout in ms (default 120 s). */
  readonly socketTimeoutMillis?: number
  /** Connect timeout in ms (default 30 s). */
  readonly connectionTimeoutMillis?: number
  /** The clock SigV2 signatures are dated with (default: Effect's default `Clock`; the client passes its fiber's). */
  readonly clock?: Clock.Clock
}

const signingDate = (clock: Clock.Clock) => (): Date => new Date(clock.currentTimeMillisUnsafe())

/** The SDK client configuration for a connection (exported for tests and the benchmark). */
export const s3ClientConfig = (connection: ObjectStoreConnection, tuning: S3ClientTuning = {}): S3ClientConfig => {
  const spec = connection.spec
  const maxSockets = connection.maxSockets ?? DefaultMaxSockets
  const httpsAgentOptions: https.AgentOptions = {
    keepAlive: true,
    maxSockets,
    ...(connection.caBundle === undefined ? {} : { ca: [...rootCertificates, connection.caBundle] }),
    // verification is only turned off when the spec asks for it
    ...(spec.insecure === true ? { rejectUnauthorized: false } : {})
  }
  const checksums = spec.checksumCalculation ?? "WHEN_REQUIRED"
  const socketTimeout = tuning.socketTimeoutMillis ?? DefaultSocketTimeoutMillis
  const connectionTimeout = tuning.connectionTimeoutMillis ?? 30_000
  const credentials: AwsCredentialIdentity | undefined =
    connection.credentials === undefined
      ? undefined
      : {
          accessKeyId: Redacted.value(connection.credentials.accessKeyId),
          secretAccessKey: Redacted.value(connection.credentials.secretAccessKey),
          ...(connection.credentials.sessionToken === undefined
            ? {}
            : { sessionToken: Redacted.value(connection.credentials.sessionToken) })
        }
  return {
    region: spec.region ?? "us-east-1",
    ...(spec.endpoint === undefined ? {} : { endpoint: spec.endpoint }),
    forcePathStyle: spec.forcePathStyle === true,
    // without static keys the SDK resolves its default provider chain
    ...(credentials === undefined ? {} : { credentials }),
    maxAttempts: 1,
    requestChecksumCalculation: checksums,
    responseChecksumValidation: checksums,
    requestHandler: new ReadThroughUndiciHandler(
      new NodeHttpHandler({
        httpAgent: new http.Agent({ keepAlive: true, maxSockets }),
        httpsAgent: new https.Agent(httpsAgentOptions),
        socketTimeout,
        connectionTimeout
      }),
      {
        maxSockets,
        socketTimeoutMillis: socketTimeout,
        connectTimeoutMillis: connectionTimeout,
        tls: {
          ...(httpsAgentOptions.ca === undefined ? {} : { ca: httpsAgentOptions.ca }),
          ...(httpsAgentOptions.rejectUnauthorized === undefined
            ? {}
            : { rejectUnauthorized: httpsAgentOptions.rejectUnauthorized })
        }
      }
    ),
    ...(spec.signatureVersion === "v2"
      ? {
          httpAuthSchemes: [
            {
              schemeId: "aws.auth#sigv4",
              identityProvider: (config) => config.getIdentityProvider("aws.auth#sigv4"),
              signer: new SigV2Signer({
                bucket: spec.bucket,
                forcePathStyle: spec.forcePathStyle === true,
                now: signingDate(tuning.clock ?? Clock.Clock.defaultValue())
              })
            }
          ]
        }
      : {})
  }
}

/** How SigV4 covers request bodies: `unsigned` only where TLS protects them (see the module comment). */
export const payloadSigning = (spec: Pick<ObjectStore, "endpoint" | "signatureVersion">): "signed" | "unsigned" =>
  spec.signatureVersion !== "v2" && (spec.endpoint === undefined || spec.endpoint.startsWith("https://"))
    ? "unsigned"
    : "signed"

/** The commands whose body is archive bytes (metadata.json and other small bodies stay signed). */
const unsignedCommands = new Set(["UploadPartCommand"])

/**
 * Marks the body of an archive part as `UNSIGNED-PAYLOAD` before the signer runs: SigV4 then signs that
 * literal instead of hashing the body (the signer takes a payload hash already present in the headers).
 */
const sendPartsUnsigned = (client: S3Client): void => {
  client.middlewareStack.add(
    (next, context) => (args) => {
      const request = args.request as { headers?: Record<string, string> }
      if (unsignedCommands.has(context.commandName ?? "") && request.headers !== undefined) {
        request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
      }
      return next(args)
    },
    { step: "build", name: "cnmUnsignedPartPayload" }
  )
}

/** Headers for creating an object (SSE and storage class). */
const createParams = (spec: ObjectStore, customerKey: string | undefined) => {
  const sse = spec.serverSideEncryption
  return {
    // the spec accepts any class name: S3-compatible stores define their own beyond the SDK's list
    ...(spec.storageClass === undefined ? {} : { StorageClass: spec.storageClass as StorageClass }),
    ...(sse?.algorithm === "AES256" ? { ServerSideEncryption: "AES256" as const } : {}),
    ...(sse?.algorithm === "aws:kms"
      ? {
          ServerSideEncryption: "aws:kms" as const,
          ...(sse.kmsKeyId === undefined ? {} : { SSEKMSKeyId: sse.kmsKeyId })
        }
      : {}),
    ...customerKeyParams(customerKey)
  }
}

/** SSE-C: the SDK computes the key's MD5 from the base64 key. */
const customerKeyParams = (customerKey: string | undefined) =>
  customerKey === undefined ? {} : { SSECustomerAlgorithm: "AES256", SSECustomerKey: customerKey }

/** S3 orders keys by UTF-8 bytes. */
const compareKeys = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))

interface ErrorFields {
  readonly status?: number
  readonly code?: string
  readonly detail: string
}

const describe = (cause: unknown, secrets: ReadonlyArray<string>): ErrorFields => {
  const scrub = (text: string) =>
    secrets.reduce((t, secret) => (secret.length >= 4 ? t.split(secret).join("<redacted>") : t), text)
  if (cause instanceof S3ServiceException) {
    const status = cause.$metadata.httpStatusCode
    const code = cause.name === "Unknown" || cause.name === "" ? undefined : cause.name
    return {
      ...(status === undefined ? {} : { status }),
      ...(code === undefined ? {} : { code }),
      detail: scrub(cause.message === "UnknownError" ? "no error details in the response" : cause.message)
    }
  }
  if (cause instanceof Error) {
    const nodeCode = (cause as NodeJS.ErrnoException).code
    const status = (cause as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
    return {
      ...(status === undefined ? {} : { status }),
      detail: scrub(nodeCode === undefined ? `${cause.name}: ${cause.message}` : `${nodeCode}: ${cause.message}`)
    }
  }
  return { detail: scrub(String(cause)) }
}

/** Build the live client; the SDK client and its sockets are released with the scope. */
export const makeS3ObjectStoreClient = (
  connection: ObjectStoreConnection,
  tuning: S3ClientTuning = {}
): Effect.Effect<ObjectStoreClientService, never, Scope.Scope> =>
  Effect.gen(function* () {
    const spec = connection.spec
    const bucket = spec.bucket
    const clock = yield* Clock.Clock
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const c = new S3Client(s3ClientConfig(connection, { clock, ...tuning }))
        if (payloadSigning(spec) === "unsigned") sendPartsUnsigned(c)
        return c
      }),
      (c) => Effect.sync(() => c.destroy())
    )
    const customerKey = connection.customerKey === undefined ? undefined : Redacted.value(connection.customerKey)
    const secrets = [
      connection.credentials?.secretAccessKey,
      connection.credentials?.sessionToken,
      connection.customerKey
    ].flatMap((s) => (s === undefined ? [] : [Redacted.value(s)]))
    const create = createParams(spec, customerKey)
    const ssec = customerKeyParams(customerKey)

    const upload = <A>(operation: string, key: string, f: (signal: AbortSignal) => Promise<A>) =>
      Effect.tryPromise({
        try: f,
        catch: (cause) => new ObjectStoreUploadFailed({ operation, bucket, key, ...describe(cause, secrets) })
      })
    const download = <A>(operation: string, key: string | undefined, f: (signal: AbortSignal) => Promise<A>) =>
      Effect.tryPromise({
        try: f,
        catch: (cause) =>
          new ObjectStoreDownloadFailed({
            operation,
            bucket,
            ...(key === undefined ? {} : { key }),
            ...describe(cause, secrets)
          })
      })

    const listUploadsPage = (prefix: string, marker: { key?: string; uploadId?: string }) =>
      download("ListMultipartUploads", prefix, (abortSignal) =>
        client.send(
          new ListMultipartUploadsCommand({
            Bucket: bucket,
            Prefix: prefix,
            ...(marker.key === undefined ? {} : { KeyMarker: marker.key }),
            ...(marker.uploadId === undefined ? {} : { UploadIdMarker: marker.uploadId })
          }),
          { abortSignal }
        )
      )

    const service: ObjectStoreClientService = {
      bucket,

      createMultipartUpload: Effect.fn("ObjectStoreClient.createMultipartUpload")(function* (key: string) {
        const out = yield* upload("CreateMultipartUpload", key, (abortSignal) =>
          client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ...create }), { abortSignal })
        )
        if (out.UploadId === undefined || out.UploadId === "") {
          return yield* new ObjectStoreUploadFailed({
            operation: "CreateMultipartUpload",
            bucket,
            key,
            detail: "the response has no UploadId"
          })
        }
        return out.UploadId
      }),

      uploadPart: Effect.fn("ObjectStoreClient.uploadPart")(function* (
        key: string,
        uploadId: string,
        partNumber: number,
        body: Uint8Array
      ) {
        const out = yield* upload("UploadPart", key, (abortSignal) =>
          client.send(
            new UploadPartCommand({
              Bucket: bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: partNumber,
              Body: body,
              ContentLength: body.length,
              ...ssec
            }),
            { abortSignal }
          )
        )
        if (out.ETag === undefined || out.ETag === "") {
          return yield* new ObjectStoreUploadFailed({
            operation: "UploadPart",
            bucket,
            key,
            detail: `the response to part ${partNumber} has no ETag`
          })
        }
        return { partNumber, etag: out.ETag }
      }),

      completeMultipartUpload: Effect.fn("ObjectStoreClient.completeMultipartUpload")(function* (
        key: string,
        uploadId: string,
        parts: ReadonlyArray<{ readonly partNumber: number; readonly etag: string }>
      ) {
        yield* upload("CompleteMultipartUpload", key, (abortSignal) =>
          client.send(
            new CompleteMultipartUploadCommand({
              Bucket: bucket,
              Key: key,
              UploadId: uploadId,
              MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
              ...ssec
            }),
            { abortSignal }
          )
        )
      }),

      abortMultipartUpload: Effect.fn("ObjectStoreClient.abortMultipartUpload")(function* (
        key: string,
        uploadId: string
      ) {
        yield* upload("AbortMultipartUpload", key, (abortSignal) =>
          client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }), {
            abortSignal
          })
        )
      }),

      listMultipartUploads: Effect.fn("ObjectStoreClient.listMultipartUploads")(function* (prefix: string) {
        const found: Array<MultipartUploadInfo> = []
        let marker: { key?: string; uploadId?: string } = {}
        for (;;) {
          const page: ListMultipartUploadsCommandOutput = yield* listUploadsPage(prefix, marker)
          for (const u of page.Uploads ?? []) {
            if (u.Key !== undefined && u.UploadId !== undefined) found.push({ key: u.Key, uploadId: u.UploadId })
          }
          if (page.IsTruncated !== true) return found
          const last = found.at(-1)
          marker = {
            ...(page.NextKeyMarker === undefined
              ? last === undefined
                ? {}
                : { key: last.key }
              : { key: page.NextKeyMarker }),
            ...(page.NextUploadIdMarker === undefined
              ? last === undefined
                ? {}
                : { uploadId: last.uploadId }
              : { uploadId: page.NextUploadIdMarker })
          }
        }
      }),

      putObject: Effect.fn("ObjectStoreClient.putObject")(function* (
        key: string,
        body: Uint8Array,
        options?: { readonly contentType?: string }
      ) {
        yield* upload("PutObject", key, (abortSignal) =>
          client.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: key,
              Body: body,
              ContentLength: body.length,
              ...(options?.contentType === undefined ? {} : { ContentType: options.contentType }),
              ...create
            }),
            { abortSignal }
          )
        )
      }),

      headObject: Effect.fn("ObjectStoreClient.headObject")(function* (key: string) {
        const out = yield* download("HeadObject", key, (abortSignal) =>
          client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ...ssec }), { abortSignal })
        ).pipe(
          Effect.map(Option.some),
          Effect.catchIf(
            (e) => e.status === 404,
            () => Effect.succeed(Option.none())
          )
        )
        return Option.map(out, (o) => ({
          size: o.ContentLength ?? 0,
          ...(o.ETag === undefined ? {} : { etag: o.ETag }),
          ...(o.StorageClass === undefined ? {} : { storageClass: o.StorageClass }),
          ...(o.ServerSideEncryption === undefined ? {} : { serverSideEncryption: o.ServerSideEncryption })
        }))
      }),

      getObject: (key, range) => {
        if (range !== undefined && (range.start < 0 || range.end < range.start)) {
          return Stream.fail(
            new ObjectStoreDownloadFailed({
              operation: "GetObject",
              bucket,
              key,
              status: 416,
              code: "InvalidRange",
              detail: `bytes=${range.start}-${range.end} is not a valid range`
            })
          )
        }
        return Stream.unwrap(
          download("GetObject", key, (abortSignal) =>
            client.send(
              new GetObjectCommand({
                Bucket: bucket,
                Key: key,
                ...(range === undefined ? {} : { Range: `bytes=${range.start}-${range.end}` }),
                ...ssec
              }),
              { abortSignal }
            )
          ).pipe(
            Effect.flatMap((out) =>
              // in Node the SDK's body is the http.IncomingMessage
              out.Body instanceof Readable
                ? Effect.succeed(out.Body)
                : Effect.fail(
                    new ObjectStoreDownloadFailed({
                      operation: "GetObject",
                      bucket,
                      key,
                      detail: "the response has no body stream"
                    })
                  )
            ),
            Effect.map((body) =>
              // batched: one Effect pull per MiB, not per socket read (platform/readableBatches.ts)
              readableBatches<ObjectStoreDownloadFailed>({
                evaluate: () => body,
                onError: (cause) =>
                  new ObjectStoreDownloadFailed({
                    operation: "GetObject",
                    bucket,
                    key,
                    ...describe(cause, secrets)
                  })
              })
            ),
            Effect.withSpan("ObjectStoreClient.getObject")
          )
        )
      },

      listObjects: (prefix, options) => {
        type Cursor = { readonly token: string | undefined }
        return Stream.paginate<Cursor, ListEntry, ObjectStoreDownloadFailed>({ token: undefined }, ({ token }) =>
          download("ListObjectsV2", prefix, (abortSignal) =>
            client.send(
              new ListObjectsV2Command({
                Bucket: bucket,
                Prefix: prefix,
                ...(options?.delimiter === undefined ? {} : { Delimiter: options.delimiter }),
                ...(options?.pageSize === undefined ? {} : { MaxKeys: options.pageSize }),
                ...(token === undefined ? {} : { ContinuationToken: token })
              }),
              { abortSignal }
            )
          ).pipe(
            Effect.map((page: ListObjectsV2CommandOutput) => {
              const entries: Array<ListEntry> = [
                ...(page.Contents ?? []).flatMap((o) =>
                  o.Key === undefined ? [] : [{ key: o.Key, size: o.Size ?? 0 }]
                ),
                ...(page.CommonPrefixes ?? []).flatMap((p) =>
                  p.Prefix === undefined ? [] : [{ commonPrefix: p.Prefix }]
                )
              ].sort((a, b) => compareKeys("key" in a ? a.key : a.commonPrefix, "key" in b ? b.key : b.commonPrefix))
              const next: Option.Option<Cursor> =
                page.IsTruncated === true && page.NextContinuationToken !== undefined
                  ? Option.some({ token: page.NextContinuationToken })
                  : Option.none()
              return [entries, next] as const
            })
          )
        )
      },

      deleteObject: Effect.fn("ObjectStoreClient.deleteObject")(function* (key: string) {
        yield* upload("DeleteObject", key, (abortSignal) =>
          client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), { abortSignal })
        )
      })
    }
    return service
  })
