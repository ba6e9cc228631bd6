/**
 * AWS Signature Version 2 for S3 (the legacy `Authorization: AWS <key>:<signature>` scheme), written from
 * the S3 developer guide's "Signing and authenticating REST requests":
 *
 * ```
 * Signature    = Base64(HMAC-SHA1(secret, UTF-8(StringToSign)))
 * StringToSign = VERB "\n" Content-MD5 "\n" Content-Type "\n" Date "\n" CanonicalizedAmzHeaders CanonicalizedResource
 * ```
 *
 * - `CanonicalizedAmzHeaders`: every `x-amz-*` header, name lowercased, sorted, `name:value\n`, repeated
 *   headers joined with `,`, folded whitespace collapsed.
 * - `Date` is empty when `x-amz-date` is sent (it is then part of the amz headers instead).
 * - `CanonicalizedResource`: `/bucket` (virtual-host style) + the request path as sent (still URI-encoded),
 *   then the signed sub-resources (`?partNumber=1&uploadId=…`, sorted by name, values not encoded). List
 *   parameters such as `list-type` or `prefix` are not signed.
 *
 * The SDK only signs v4, so `SigV2Signer` plugs into the S3 client as the signer of its auth scheme: it
 * receives whatever identity the client resolved (static keys or the default provider chain) and adds
 * `x-amz-security-token` when the identity has a session token.
 *
 * @since 0.1.0
 */
import { createHmac } from "node:crypto"
import type { AwsCredentialIdentity, HttpRequest, HttpSigner, Identity } from "@smithy/types"

/** Query parameters that are part of the signed resource (the AWS list, as botocore uses it). */
export const signedSubresources: ReadonlySet<string> = new Set([
  "accelerate",
  "acl",
  "analytics",
  "cors",
  "delete",
  "inventory",
  "lifecycle",
  "location",
  "logging",
  "metrics",
  "notification",
  "object-lock",
  "partNumber",
  "policy",
  "replication",
  "requestPayment",
  "response-cache-control",
  "response-content-disposition",
  "response-content-encoding",
  "response-content-language",
  "response-content-type",
  "response-expires",
  "restore",
  "select",
  "select-type",
  "tagging",
  "torrent",
  "uploadId",
  "uploads",
  "versionId",
  "versioning",
  "versions",
  "website"
])

/** The parts of a request that SigV2 signs. */
export interface SigV2Request {
  readonly method: string
  readonly hostname: string
  /** The path as sent on the wire (URI-encoded). */
  readonly path: string
  readonly query: Readonly<Record<string, string | ReadonlyArray<string> | null | undefined>>
  readonly headers: Readonly<Record<string, string | undefined>>
}

const header = (headers: SigV2Request["headers"], name: string): string | undefined => {
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v
  return undefined
}

const fold = (value: string): string => value.replace(/\s+/gu, " ").trim()

const canonicalizedAmzHeaders = (headers: SigV2Request["headers"]): string => {
  const amz = new Map<string, Array<string>>()
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase()
    if (!lower.startsWith("x-amz-") || value === undefined) continue
    amz.set(lower, [...(amz.get(lower) ?? []), fold(value)])
  }
  return [...amz.keys()]
    .sort()
    .map((name) => `${name}:${amz.get(name)?.join(",")}\n`)
    .join("")
}

/**
 * The canonicalized resource. `bucket` is given for virtual-host style requests (host `bucket.endpoint`),
 * where the path does not contain it.
 */
export const canonicalizedResource = (request: SigV2Request, virtualHostBucket?: string): string => {
  const base = virtualHostBucket === undefined ? request.path : `/${virtualHostBucket}${request.path}`
  const sub: Array<string> = []
  for (const name of Object.keys(request.query)
    .filter((n) => signedSubresources.has(n))
    .sort()) {
    const raw = request.query[name]
    const values = raw === null || raw === undefined ? [undefined] : typeof raw === "string" ? [raw] : raw
    for (const value of values) sub.push(value === undefined || value === "" ? name : `${name}=${value}`)
  }
  return sub.length === 0 ? base : `${base}?${sub.join("&")}`
}

/** The StringToSign of a request. */
export const stringToSign = (request: SigV2Request, virtualHostBucket?: string): string => {
  const date = header(request.headers, "x-amz-date") === undefined ? (header(request.headers, "date") ?? "") : ""
  return [
    request.method.toUpperCase(),
    header(request.headers, "content-md5") ?? "",
    header(request.headers, "content-type") ?? "",
    date,
    `${canonicalizedAmzHeaders(request.headers)}${canonicalizedResource(request, virtualHostBucket)}`
  ].join("\n")
}

/** `Base64(HMAC-SHA1(secret, StringToSign))`. */
export const signature = (secretAccessKey: string, toSign: string): string =>
  createHmac("sha1", secretAccessKey).update(toSign, "utf8").digest("base64")

const isCredentials = (identity: Identity): identity is AwsCredentialIdentity =>
  typeof (identity as Partial<AwsCredentialIdentity>).accessKeyId === "string" &&
  typeof (identity as Partial<AwsCredentialIdentity>).secretAccessKey === "string"

/** Options of the signer. */
export interface SigV2SignerOptions {
  /** The bucket, to recognise virtual-host style requests (`bucket.host`). */
  readonly bucket: string
  /** Path-style addressing is forced (then the host never names the bucket). */
  readonly forcePathStyle?: boolean
  /** The time a request is dated with (the `Date` header the signature covers). */
  readonly now: () => Date
}

/** An `HttpSigner` for the S3 client that signs with SigV2. */
export class SigV2Signer implements HttpSigner {
  readonly #bucket: string
  readonly #now: () => Date
  readonly #forcePathStyle: boolean

  constructor(options: SigV2SignerOptions) {
    this.#bucket = options.bucket
    this.#forcePathStyle = options.forcePathStyle === true
    this.#now = options.now
  }

  async sign(httpRequest: HttpRequest, identity: Identity): Promise<HttpRequest> {
    if (!isCredentials(identity)) throw new Error("SigV2 signing needs AWS access key credentials")
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(httpRequest.headers)) {
      // a v4 payload hash means nothing in v2; x-amz-date would make servers disagree on the Date line
      const lower = name.toLowerCase()
      if (lower !== "x-amz-content-sha256" && lower !== "x-amz-date" && lower !== "date") headers[name] = value
    }
    headers.date = this.#now().toUTCString()
    if (identity.sessionToken !== undefined) headers["x-amz-security-token"] = identity.sessionToken
    const virtualHostBucket =
      !this.#forcePathStyle && httpRequest.hostname.startsWith(`${this.#bucket}.`) ? this.#bucket : undefined
    const toSign = stringToSign({ ...httpRequest, query: httpRequest.query ?? {}, headers }, virtualHostBucket)
    headers.authorization = `AWS ${identity.accessKeyId}:${signature(identity.secretAccessKey, toSign)}`
    const signed = Object.assign(
      Object.create(Object.getPrototypeOf(httpRequest) as object) as HttpRequest,
      httpRequest
    )
    signed.headers = headers
    return signed
  }
}
