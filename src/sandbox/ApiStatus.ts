/**
 * The fake control plane's one error type: a Kubernetes `Status` body (`kind: Status`, `code`, `reason`,
 * `message`, `details`). The store fails with it, the HTTP face sends `status` as the response body with
 * `code` as the HTTP status, and a `KubeApi` layer on the store decodes it exactly as it decodes a real
 * server's reply. Messages follow the real API server's wording so tests that match on them stay honest.
 *
 * @since 0.1.0
 */
import { Data } from "effect"

/** One entry of `details.causes`. */
export interface StatusCause {
  readonly reason: string
  readonly message: string
  readonly field: string
}

/** The `Status` body of a failed request, as the API server sends it. */
export interface StatusBody {
  readonly kind: "Status"
  readonly apiVersion: "v1"
  readonly metadata: Record<string, never>
  readonly status: "Failure"
  readonly message: string
  readonly reason: string
  readonly details?: {
    readonly name?: string
    readonly group?: string
    readonly kind?: string
    readonly causes?: ReadonlyArray<StatusCause>
    readonly retryAfterSeconds?: number
  }
  readonly code: number
}

/** A failed API request; `status` is the body to send, `status.code` the HTTP status. */
export class ApiStatusError extends Data.TaggedError("ApiStatusError")<{ readonly status: StatusBody }> {
  override get message(): string {
    return `${this.status.code} ${this.status.reason}: ${this.status.message}`
  }
}

/** What an error message names: the kind's `plural.group` ("backups.mysql.cloudnative-mysql.io", "jobs.batch"). */
export interface Subject {
  readonly group: string
  readonly plural: string
  readonly kind: string
}

const qualified = (subject: Subject): string =>
  subject.group === "" ? subject.plural : `${subject.plural}.${subject.group}`

const fail = (code: number, reason: string, message: string, details?: StatusBody["details"]): ApiStatusError =>
  new ApiStatusError({
    status: {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message,
      reason,
      ...(details === undefined ? {} : { details }),
      code
    }
  })

const named = (subject: Subject, name: string) => ({ name, group: subject.group, kind: subject.plural })

/** 404 `NotFound`: `backups.mysql.cloudnative-mysql.io "x" not found`. */
export const notFound = (subject: Subject, name: string): ApiStatusError =>
  fail(404, "NotFound", `${qualified(subject)} "${name}" not found`, named(subject, name))

/** 404 for a path the server does not serve (unknown group, version or resource). */
export const resourceNotFound = (): ApiStatusError =>
  fail(404, "NotFound", "the server could not find the requested resource", { causes: [] })

/** 409 `AlreadyExists` on create. */
export const alreadyExists = (subject: Subject, name: string): ApiStatusError =>
  fail(409, "AlreadyExists", `${qualified(subject)} "${name}" already exists`, named(subject, name))

/** 409 `Conflict`: a write carried a stale resourceVersion (or failed a UID/RV precondition). */
export const conflict = (subject: Subject, name: string, why?: string): ApiStatusError =>
  fail(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualified(subject)} "${name}": ${
      why ?? "the object has been modified; please apply your changes to the latest version and try again"
    }`,
    named(subject, name)
  )

/** 422 `Invalid` with one cause per failing field; the message lists them like the API server does. */
export const invalid = (subject: Subject, name: string, causes: ReadonlyArray<StatusCause>): ApiStatusError => {
  const group = subject.group === "" ? "" : `.${subject.group}`
  const list = causes.map((cause) => `${cause.field}: ${cause.message}`)
  const summary = list.length === 1 ? (list[0] ?? "") : `[${list.join(", ")}]`
  return fail(422, "Invalid", `${subject.kind}${group} "${name}" is invalid: ${summary}`, {
    name,
    group: subject.group,
    kind: subject.kind,
    causes
  })
}

/** A `FieldValueInvalid` cause with the API server's `Invalid value: <json>: <why>` message. */
export const invalidValue = (field: string, value: unknown, why: string): StatusCause => ({
  reason: "FieldValueInvalid",
  message: `Invalid value: ${JSON.stringify(value) ?? "null"}: ${why}`,
  field
})

/** A `FieldValueRequired` cause. */
export const requiredValue = (field: string, why = ""): StatusCause => ({
  reason: "FieldValueRequired",
  message: why === "" ? "Required value" : `Required value: ${why}`,
  field
})

/** A `FieldValueForbidden` cause. */
export const forbiddenValue = (field: string, why: string): StatusCause => ({
  reason: "FieldValueForbidden",
  message: `Forbidden: ${why}`,
  field
})

/** A `FieldValueNotSupported` cause (enum mismatch). */
export const unsupportedValue = (field: string, value: unknown, allowed: ReadonlyArray<unknown>): StatusCause => ({
  reason: "FieldValueNotSupported",
  message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed
    .map((v) => JSON.stringify(v))
    .join(", ")}`,
  field
})

/** The JSON type name the OpenAPI validator reports: `string`, `integer`, `number`, `boolean`, `array`, `object`, `null`. */
export const jsonTypeOf = (value: unknown): string =>
  value === null
    ? "null"
    : Array.isArray(value)
      ? "array"
      : typeof value === "number"
        ? Number.isInteger(value)
          ? "integer"
          : "number"
        : typeof value

/** A `FieldValueTypeInvalid` cause, worded like the CRD validator's. */
export const typeInvalid = (field: string, value: unknown, expected: string): StatusCause => ({
  reason: "FieldValueTypeInvalid",
  message: `Invalid value: "${jsonTypeOf(value)}": ${field} in body must be of type ${expected}: "${jsonTypeOf(value)}"`,
  field
})

/** 410 `Expired`: the requested resourceVersion is older than the retained history. */
export const expired = (message: string): ApiStatusError => fail(410, "Expired", message)

/** 400 `BadRequest`. */
export const badRequest = (message: string): ApiStatusError => fail(400, "BadRequest", message)

/** 401 `Unauthorized`, the real server's body for a presented token that does not check out. */
export const unauthorized = (): ApiStatusError => fail(401, "Unauthorized", "Unauthorized")

/** 403 `Forbidden`. */
export const forbidden = (message: string): ApiStatusError => fail(403, "Forbidden", message)

/** 405 `MethodNotAllowed`. */
export const methodNotAllowed = (message: string): ApiStatusError => fail(405, "MethodNotAllowed", message)

/** 415 `UnsupportedMediaType`, with the API server's wording unless a more specific message is given. */
export const unsupportedMediaType = (
  contentType: string,
  message = `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got ${contentType})`
): ApiStatusError => fail(415, "UnsupportedMediaType", message)

/** 500 `InternalError`. */
export const internalError = (message: string): ApiStatusError =>
  fail(500, "InternalError", `Internal error occurred: ${message}`, { causes: [{ reason: "", message, field: "" }] })

/** 503 `ServiceUnavailable`. */
export const serviceUnavailable = (message: string): ApiStatusError => fail(503, "ServiceUnavailable", message)
