/**
 * Typed failures of Kubernetes API calls, decoded from the `Status` body the API server sends with every
 * error response (`kind: Status`, `reason`, `code`, `details.causes`).
 *
 * Controllers branch on these: `NotFound` on a get means "create it", `Conflict` means "re-read and retry",
 * `Gone` means "relist", `Unavailable` means "back off and retry". Everything the operator cannot act on
 * specifically lands in `KubeRequestFailed`.
 *
 * @since 0.1.0
 */
import { Option, Schema } from "effect"

const requestFields = {
  /** What was asked, e.g. `PATCH backups default/nightly`. */
  request: Schema.String,
  /** The API server's `Status.message`, or a transport description. */
  detail: Schema.String
}

/** 404: the object (or its namespace) does not exist. */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", requestFields) {
  override get message(): string {
    return `${this.request}: not found: ${this.detail}`
  }
}

/** 409 `AlreadyExists`: a create hit an existing name. */
export class AlreadyExists extends Schema.TaggedError<AlreadyExists>()("AlreadyExists", requestFields) {
  override get message(): string {
    return `${this.request}: already exists: ${this.detail}`
  }
}

/** 409 `Conflict`: the write carried a stale resourceVersion (optimistic concurrency). */
export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", requestFields) {
  override get message(): string {
    return `${this.request}: conflict: ${this.detail}`
  }
}

/** One entry of `Status.details.causes`: which field failed validation and why. */
export const StatusCause = Schema.Struct({
  reason: Schema.optionalKey(Schema.String),
  message: Schema.optionalKey(Schema.String),
  field: Schema.optionalKey(Schema.String)
})
export type StatusCause = typeof StatusCause.Type

/** 422 `Invalid`: the object failed validation; `causes` name the fields. */
export class Invalid extends Schema.TaggedError<Invalid>()("Invalid", {
  ...requestFields,
  causes: Schema.Array(StatusCause)
}) {
  override get message(): string {
    return `${this.request}: invalid: ${this.detail}`
  }
}

/** 410 `Expired`/`Gone`: the requested resourceVersion is older than the server keeps; relist. */
export class Gone extends Schema.TaggedError<Gone>()("Gone", requestFields) {
  override get message(): string {
    return `${this.request}: gone: ${this.detail}`
  }
}

/** 401/403: the operator's identity may not do this (RBAC or credentials). */
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", {
  ...requestFields,
  code: Schema.Int
}) {
  override get message(): string {
    return `${this.request}: forbidden (HTTP ${this.code}): ${this.detail}`
  }
}

/**
 * The server could not serve the request now: 429, 5xx, a timeout, or no connection at all.
 * Always worth retrying with backoff; `retryAfterSeconds` is the server's hint when it gave one.
 */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", {
  ...requestFields,
  code: Schema.optionalKey(Schema.Int),
  retryAfterSeconds: Schema.optionalKey(Schema.Number)
}) {
  override get message(): string {
    const code = this.code === undefined ? "" : ` (HTTP ${this.code})`
    return `${this.request}: unavailable${code}: ${this.detail}`
  }
}

/** Any other error response (400, 405, 415, …): a bug in the request, not a condition to handle. */
export class KubeRequestFailed extends Schema.TaggedError<KubeRequestFailed>()("KubeRequestFailed", {
  ...requestFields,
  code: Schema.Int,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.request}: HTTP ${this.code} ${this.reason}: ${this.detail}`
  }
}

/** The server answered with an object our Schema for that kind rejects (version skew or a bug). */
export class MalformedObject extends Schema.TaggedError<MalformedObject>()("MalformedObject", requestFields) {
  override get message(): string {
    return `${this.request}: unexpected object: ${this.detail}`
  }
}

/**
 * Neither an in-cluster service account nor a kubeconfig was found. client-node would silently fall back to
 * `http://localhost:8080`; we refuse instead.
 */
export class KubeConfigMissing extends Schema.TaggedError<KubeConfigMissing>()("KubeConfigMissing", {
  detail: Schema.String
}) {
  override get message(): string {
    return `no Kubernetes configuration: ${this.detail}`
  }
}

/** Every failure a `KubeApi` call can end with. */
export type KubeError =
  | NotFound
  | AlreadyExists
  | Conflict
  | Invalid
  | Gone
  | Forbidden
  | Unavailable
  | KubeRequestFailed
  | MalformedObject

/** The `Status` object Kubernetes returns as the body of an error response (and inside watch ERROR events). */
export const Status = Schema.Struct({
  kind: Schema.optionalKey(Schema.String),
  status: Schema.optionalKey(Schema.String),
  message: Schema.optionalKey(Schema.String),
  reason: Schema.optionalKey(Schema.String),
  code: Schema.optionalKey(Schema.Number),
  details: Schema.optionalKey(
    Schema.Struct({
      name: Schema.optionalKey(Schema.String),
      kind: Schema.optionalKey(Schema.String),
      causes: Schema.optionalKey(Schema.Array(StatusCause)),
      retryAfterSeconds: Schema.optionalKey(Schema.Number)
    })
  )
})
export type Status = typeof Status.Type

const decodeStatus = Schema.decodeUnknownOption(Status)
const decodeStatusJson = Schema.decodeUnknownOption(Schema.fromJsonString(Status))

/**
 * Turns an HTTP error response (or a watch ERROR event's object) into a typed error.
 * `body` is the raw response text or an already-parsed object; a body that is not a `Status` still yields an
 * error classified by the HTTP code alone.
 */
export const fromStatus = (request: string, httpCode: number, body: unknown): KubeError => {
  const status = Option.getOrUndefined(typeof body === "string" ? decodeStatusJson(body) : decodeStatus(body))
  const code = status?.code ?? httpCode
  const reason = status?.reason ?? ""
  const detail = status?.message ?? (typeof body === "string" && body.length > 0 ? body.slice(0, 512) : `HTTP ${code}`)
  const retryAfterSeconds = status?.details?.retryAfterSeconds
  switch (code) {
    case 404:
      return new NotFound({ request, detail })
    case 409:
      return reason === "AlreadyExists" ? new AlreadyExists({ request, detail }) : new Conflict({ request, detail })
    case 422:
      return new Invalid({ request, detail, causes: status?.details?.causes ?? [] })
    case 410:
      return new Gone({ request, detail })
    case 401:
    case 403:
      return new Forbidden({ request, detail, code })
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
      return new Unavailable({
        request,
        detail,
        code,
        ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds })
      })
    default:
      return new KubeRequestFailed({ request, detail, code, reason: reason === "" ? "Unknown" : reason })
  }
}

/** Whether retrying the same call later can succeed without changing it. */
export const isRetryableKubeError = (error: KubeError): boolean =>
  error._tag === "Unavailable" || error._tag === "Conflict"
