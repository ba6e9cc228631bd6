/**
 * An in-memory object store that follows S3's rules where the pipeline depends on them, for unit and
 * property tests:
 *
 * - multipart: parts 1–10000; CompleteMultipartUpload checks the part list (non-empty, ascending, every
 *   part uploaded with that ETag) and rejects a non-last part under `minPartSize` with 400 `EntityTooSmall`,
 *   leaving the upload open as S3 does; AbortMultipartUpload really drops the upload (then 404
 *   `NoSuchUpload`); the completed ETag is S3's `"md5(md5s)-N"`;
 * - GetObject ranges (416 `InvalidRange` past the end), ListObjectsV2 order (UTF-8 binary), delimiters and
 *   pagination (`pageSize`), idempotent DeleteObject.
 *
 * `MemoryObjectStore` (provided next to the client by `ObjectStoreClient.layerMemory`) lets a test read the
 * stored objects and open uploads, count calls per operation, observe the peak number of concurrent
 * UploadPart calls, and inject faults (fail with a status/code, stall until interrupted, or delay).
 *
 * @since 0.1.0
 */
import { createHash, randomUUID } from "node:crypto"
import { Context, Effect, Option, Stream } from "effect"
import { ObjectStoreDownloadFailed, ObjectStoreUploadFailed } from "../api/failures.ts"
import type { ListEntry, ObjectStoreClientService } from "./ObjectStoreClient.ts"

/** S3's operation names, as used in errors and call counts. */
export type ObjectStoreOperation =
  | "CreateMultipartUpload"
  | "UploadPart"
  | "CompleteMultipartUpload"
  | "AbortMultipartUpload"
  | "ListMultipartUploads"
  | "PutObject"
  | "HeadObject"
  | "GetObject"
  | "ListObjectsV2"
  | "DeleteObject"

const operations: ReadonlyArray<ObjectStoreOperation> = [
  "CreateMultipartUpload",
  "UploadPart",
  "CompleteMultipartUpload",
  "AbortMultipartUpload",
  "ListMultipartUploads",
  "PutObject",
  "HeadObject",
  "GetObject",
  "ListObjectsV2",
  "DeleteObject"
]

/** A request as the fault hook sees it. */
export interface MemoryRequest {
  readonly operation: ObjectStoreOperation
  readonly key?: string
  readonly uploadId?: string
  readonly partNumber?: number
  /** 1 for the first call of this operation on this store, 2 for the second, … */
  readonly call: number
}

/** What the fault hook makes of a request. */
export type MemoryFault =
  /** Fail before doing anything, with this HTTP status and S3 code. */
  | { readonly _tag: "Fail"; readonly status: number; readonly code: string; readonly detail?: string }
  /** Never answer (until the caller interrupts). */
  | { readonly _tag: "Stall" }
  /** Answer normally after a delay (counts as in flight meanwhile). */
  | { readonly _tag: "Delay"; readonly millis: number }

/** Decides, per request, whether to inject a fault (`undefined`: none). */
export type MemoryFaultHook = (request: MemoryRequest) => MemoryFault | undefined

/** Options of the in-memory store. */
export interface MemoryObjectStoreOptions {
  /** Default `memory-bucket`. */
  readonly bucket?: string
  /** The minimum size of a non-last part, enforced on complete (default 5 MiB, as S3). */
  readonly minPartSize?: number
  /** The default page size of `listObjects` (default 1000, as S3). */
  readonly pageSize?: number
  /** The chunk size of `getObject` streams (default 64 KiB). */
  readonly chunkSize?: number
}

/** An open multipart upload, as the control service shows it. */
export interface MemoryUpload {
  readonly key: string
  readonly uploadId: string
  readonly partNumbers: ReadonlyArray<number>
  /** Bytes held by the uploaded parts. */
  readonly bytes: number
}

/** Inspection and fault injection for the in-memory store. */
export interface MemoryObjectStoreControl {
  /** A snapshot of the stored objects. */
  readonly objects: Effect.Effect<ReadonlyMap<string, Uint8Array>>
  /** A snapshot of the open multipart uploads. */
  readonly uploads: Effect.Effect<ReadonlyArray<MemoryUpload>>
  /** How many times each operation was called (faulted calls included). */
  readonly calls: Effect.Effect<Readonly<Record<ObjectStoreOperation, number>>>
  /** The highest number of UploadPart calls that were in flight at the same time. */
  readonly peakConcurrentUploadParts: Effect.Effect<number>
  /** Install (or with `undefined` remove) the fault hook. */
  readonly setFaults: (hook: MemoryFaultHook | undefined) => Effect.Effect<void>
}

/** The control service of `ObjectStoreClient.layerMemory`. */
export class MemoryObjectStore extends Context.Service<MemoryObjectStore, MemoryObjectStoreControl>()(
  "cloudnative-mysql/MemoryObjectStore"
) {}

interface StoredObject {
  readonly body: Uint8Array
  readonly etag: string
}

interface OpenUpload {
  readonly key: string
  readonly uploadId: string
  readonly parts: Map<number, StoredObject>
}

const md5 = (bytes: Uint8Array): Buffer => createHash("md5").update(bytes).digest()
const unquote = (etag: string): string => etag.replace(/^"|"$/gu, "")
/** S3 orders keys by their UTF-8 bytes, which differs from JS string order beyond the BMP. */
const compareKeys = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))

const MiB = 1024 * 1024

/** Build an in-memory store: the client and its control service share the same state. */
export const makeMemoryObjectStore = (
  options: MemoryObjectStoreOptions
): { readonly client: ObjectStoreClientService; readonly control: MemoryObjectStoreControl } => {
  const bucket = options.bucket ?? "memory-bucket"
  const minPartSize = options.minPartSize ?? 5 * MiB
  const defaultPageSize = options.pageSize ?? 1000
  const chunkSize = options.chunkSize ?? 64 * 1024
  const objects = new Map<string, StoredObject>()
  const uploads = new Map<string, OpenUpload>()
  const calls = Object.fromEntries(operations.map((op) => [op, 0])) as Record<ObjectStoreOperation, number>
  let faults: MemoryFaultHook | undefined
  let uploadPartsInFlight = 0
  let peakUploadParts = 0

  const uploadFailure = (operation: ObjectStoreOperation, key: string, status: number, code: string, detail: string) =>
    Effect.fail(new ObjectStoreUploadFailed({ operation, bucket, key, status, code, detail }))
  const downloadFailure = (
    operation: ObjectStoreOperation,
    key: string,
    status: number,
    code: string,
    detail: string
  ) => Effect.fail(new ObjectStoreDownloadFailed({ operation, bucket, key, status, code, detail }))

  /** Count the call, then apply the fault hook before `body` runs. */
  const withFaults =
    <F>(toError: (operation: ObjectStoreOperation, key: string, status: number, code: string, detail: string) => F) =>
    <A, E>(
      req: Omit<MemoryRequest, "call"> & { readonly key: string },
      body: Effect.Effect<A, E>
    ): Effect.Effect<A, E | F> =>
      Effect.suspend((): Effect.Effect<A, E | F> => {
        calls[req.operation] += 1
        const fault = faults?.({ ...req, call: calls[req.operation] })
        if (fault === undefined) return body
        switch (fault._tag) {
          case "Fail":
            return Effect.fail(
              toError(req.operation, req.key, fault.status, fault.code, fault.detail ?? "injected fault")
            )
          case "Stall":
            return Effect.never
          case "Delay":
            return Effect.andThen(Effect.sleep(fault.millis), body)
        }
      })
  const uploadRequest = withFaults(
    (operation, key, status, code, detail) =>
      new ObjectStoreUploadFailed({ operation, bucket, key, status, code, detail })
  )
  const downloadRequest = withFaults(
    (operation, key, status, code, detail) =>
      new ObjectStoreDownloadFailed({ operation, bucket, key, status, code, detail })
  )

  const openUpload = (operation: ObjectStoreOperation, key: string, uploadId: string) => {
    const upload = uploads.get(uploadId)
    return upload === undefined || upload.key !== key
      ? uploadFailure(operation, key, 404, "NoSuchUpload", "The specified upload does not exist.")
      : Effect.succeed(upload)
  }

  const listEntries = (prefix: string, delimiter: string | undefined): ReadonlyArray<ListEntry> => {
    const keys = [...objects.keys()].filter((k) => k.startsWith(prefix)).sort(compareKeys)
    const entries: Array<ListEntry> = []
    let lastPrefix: string | undefined
    for (const key of keys) {
      const cut = delimiter === undefined || delimiter === "" ? -1 : key.indexOf(delimiter, prefix.length)
      if (cut < 0) {
        entries.push({ key, size: objects.get(key)?.body.length ?? 0 })
      } else {
        const commonPrefix = key.slice(0, cut + (delimiter?.length ?? 0))
        if (commonPrefix !== lastPrefix) entries.push({ commonPrefix })
        lastPrefix = commonPrefix
      }
    }
    return entries
  }

  const client: ObjectStoreClientService = {
    bucket,

    createMultipartUpload: (key) =>
      uploadRequest(
        { operation: "CreateMultipartUpload", key },
        Effect.sync(() => {
          const uploadId = randomUUID()
          uploads.set(uploadId, { key, uploadId, parts: new Map() })
          return uploadId
        })
      ),

    uploadPart: (key, uploadId, partNumber, body) =>
      Effect.acquireUseRelease(
        Effect.sync(() => {
          uploadPartsInFlight += 1
          peakUploadParts = Math.max(peakUploadParts, uploadPartsInFlight)
        }),
        () =>
          uploadRequest(
            { operation: "UploadPart", key, uploadId, partNumber },
            Effect.gen(function* () {
              if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000) {
                return yield* uploadFailure(
                  "UploadPart",
                  key,
                  400,
                  "InvalidArgument",
                  "Part number must be an integer between 1 and 10000, inclusive"
                )
              }
              const upload = yield* openUpload("UploadPart", key, uploadId)
              const copy = Uint8Array.from(body)
              const etag = `"${md5(copy).toString("hex")}"`
              upload.parts.set(partNumber, { body: copy, etag })
              return { partNumber, etag }
            })
          ),
        () =>
          Effect.sync(() => {
            uploadPartsInFlight -= 1
          })
      ),

    completeMultipartUpload: (key, uploadId, parts) =>
      uploadRequest(
        { operation: "CompleteMultipartUpload", key, uploadId },
        Effect.gen(function* () {
          const op = "CompleteMultipartUpload"
          const upload = yield* openUpload(op, key, uploadId)
          if (parts.length === 0) {
            return yield* uploadFailure(op, key, 400, "MalformedXML", "The XML you provided was not well-formed.")
          }
          const chosen: Array<StoredObject> = []
          for (const [i, part] of parts.entries()) {
            if (i > 0 && part.partNumber <= (parts[i - 1]?.partNumber ?? 0)) {
              return yield* uploadFailure(
                op,
                key,
                400,
                "InvalidPartOrder",
                "The list of parts was not in ascending order."
              )
            }
            const stored = upload.parts.get(part.partNumber)
            if (stored === undefined || unquote(stored.etag) !== unquote(part.etag)) {
              return yield* uploadFailure(
                op,
                key,
                400,
                "InvalidPart",
                `part ${part.partNumber} was not uploaded with that ETag`
              )
            }
            chosen.push(stored)
          }
          const tooSmall = chosen.slice(0, -1).findIndex((p) => p.body.length < minPartSize)
          if (tooSmall >= 0) {
            return yield* uploadFailure(
              op,
              key,
              400,
              "EntityTooSmall",
              `part ${parts[tooSmall]?.partNumber} is smaller than the minimum allowed size (${minPartSize} bytes)`
            )
          }
          const body = Buffer.concat(chosen.map((p) => p.body))
          const etag = `"${md5(Buffer.concat(chosen.map((p) => Buffer.from(unquote(p.etag), "hex")))).toString("hex")}-${chosen.length}"`
          objects.set(key, { body: new Uint8Array(body.buffer, body.byteOffset, body.length), etag })
          uploads.delete(uploadId)
        })
      ),

    abortMultipartUpload: (key, uploadId) =>
      uploadRequest(
        { operation: "AbortMultipartUpload", key, uploadId },
        Effect.gen(function* () {
          yield* openUpload("AbortMultipartUpload", key, uploadId)
          uploads.delete(uploadId)
        })
      ),

    listMultipartUploads: (prefix) =>
      downloadRequest(
        { operation: "ListMultipartUploads", key: prefix },
        Effect.sync(() =>
          [...uploads.values()]
            .filter((u) => u.key.startsWith(prefix))
            .sort((a, b) => compareKeys(a.key, b.key))
            .map((u) => ({ key: u.key, uploadId: u.uploadId }))
        )
      ),

    putObject: (key, body) =>
      uploadRequest(
        { operation: "PutObject", key },
        Effect.sync(() => {
          const copy = Uint8Array.from(body)
          objects.set(key, { body: copy, etag: `"${md5(copy).toString("hex")}"` })
        })
      ),

    headObject: (key) =>
      downloadRequest(
        { operation: "HeadObject", key },
        Effect.sync(() => {
          const stored = objects.get(key)
          return stored === undefined ? Option.none() : Option.some({ size: stored.body.length, etag: stored.etag })
        })
      ),

    getObject: (key, range) =>
      Stream.unwrap(
        downloadRequest(
          { operation: "GetObject", key },
          Effect.gen(function* () {
            const stored = objects.get(key)
            if (stored === undefined) {
              return yield* downloadFailure("GetObject", key, 404, "NoSuchKey", "The specified key does not exist.")
            }
            const size = stored.body.length
            if (range !== undefined && (range.start < 0 || range.end < range.start || range.start >= size)) {
              return yield* downloadFailure(
                "GetObject",
                key,
                416,
                "InvalidRange",
                `bytes=${range.start}-${range.end} is not satisfiable for ${size} bytes`
              )
            }
            const start = range?.start ?? 0
            const end = Math.min(range?.end ?? size - 1, size - 1) + 1
            const chunks: Array<Uint8Array> = []
            for (let at = start; at < end; at += chunkSize) {
              chunks.push(stored.body.slice(at, Math.min(at + chunkSize, end)))
            }
            return Stream.fromIterable(chunks)
          })
        )
      ),

    listObjects: (prefix, listOptions) => {
      const pageSize = listOptions?.pageSize ?? defaultPageSize
      const name = (e: ListEntry) => ("key" in e ? e.key : e.commonPrefix)
      type Cursor = { readonly after: string | undefined }
      return Stream.paginate<Cursor, ListEntry, ObjectStoreDownloadFailed>({ after: undefined }, ({ after }) =>
        downloadRequest(
          { operation: "ListObjectsV2", key: prefix },
          Effect.sync(() => {
            const rest = listEntries(prefix, listOptions?.delimiter).filter(
              (e) => after === undefined || compareKeys(name(e), after) > 0
            )
            const page = rest.slice(0, pageSize)
            const last = page.at(-1)
            const next: Option.Option<Cursor> =
              rest.length > pageSize && last !== undefined ? Option.some({ after: name(last) }) : Option.none()
            return [page, next] as const
          })
        )
      )
    },

    deleteObject: (key) =>
      uploadRequest(
        { operation: "DeleteObject", key },
        Effect.sync(() => void objects.delete(key))
      )
  }

  const control: MemoryObjectStoreControl = {
    objects: Effect.sync(() => new Map([...objects].map(([k, v]) => [k, v.body]))),
    uploads: Effect.sync(() =>
      [...uploads.values()].map((u) => ({
        key: u.key,
        uploadId: u.uploadId,
        partNumbers: [...u.parts.keys()].sort((a, b) => a - b),
        bytes: [...u.parts.values()].reduce((n, p) => n + p.body.length, 0)
      }))
    ),
    calls: Effect.sync(() => ({ ...calls })),
    peakConcurrentUploadParts: Effect.sync(() => peakUploadParts),
    setFaults: (hook) =>
      Effect.sync(() => {
        faults = hook
      })
  }

  return { client, control }
}
