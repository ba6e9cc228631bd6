/**
 * `ObjectStore`: where backups live and how to reach it. Used by `Cluster.spec.backup.objectStore`,
 * `Backup.spec.objectStore` and `Cluster.spec.externalClusters[].objectStore`.
 *
 * Secrets are referenced, never inlined: the controller mounts them into the backup Job and the recovery
 * init container only.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { SecretKeySelector } from "./common.ts"
import { celRule } from "./validation.ts"

/** An S3 bucket name (the AWS rules for new buckets; also accepted by Ceph RGW and MinIO). */
export const BucketName = Schema.String.check(
  Schema.isPattern(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/u),
  Schema.makeFilter((s: string) => !s.includes("..") || "must not contain two adjacent periods")
).annotate({ description: "S3 bucket name: 3-63 lowercase letters, digits, '.' and '-'" })

/**
 * The key prefix under the bucket. Empty means the bucket root. No leading or trailing slash, no empty
 * segments and no segment starting with `.`, so every key built from it is canonical and cannot escape it.
 * (No look-ahead in the pattern: the API server evaluates CRD patterns with RE2.)
 */
export const ObjectPath = Schema.String.check(
  Schema.isPattern(/^$|^[A-Za-z0-9_-][A-Za-z0-9!_.*'()-]*(\/[A-Za-z0-9_-][A-Za-z0-9!_.*'()-]*)*$/u),
  Schema.isMaxLength(512)
).annotate({
  description: "Key prefix inside the bucket ('' for the root); '/'-separated non-empty segments not starting with '.'"
})

/** Static credentials from Secrets, or inherit the environment's identity (IRSA, instance profile). */
export const S3Credentials = Schema.Struct({
  accessKeyId: Schema.optionalKey(SecretKeySelector),
  secretAccessKey: Schema.optionalKey(SecretKeySelector),
  sessionToken: Schema.optionalKey(SecretKeySelector),
  inheritFromIAMRole: Schema.optionalKey(
    Schema.Boolean.annotate({
      description: "Use the SDK's default credential chain (web identity/IRSA, container or instance metadata)"
    })
  )
})
  .check(
    celRule({
      rule: "has(self.inheritFromIAMRole) && self.inheritFromIAMRole ? !has(self.accessKeyId) && !has(self.secretAccessKey) && !has(self.sessionToken) : has(self.accessKeyId) && has(self.secretAccessKey)",
      message:
        "set both accessKeyId and secretAccessKey (optionally sessionToken), or inheritFromIAMRole: true without static keys",
      predicate: (c: {
        readonly accessKeyId?: unknown
        readonly secretAccessKey?: unknown
        readonly sessionToken?: unknown
        readonly inheritFromIAMRole?: boolean
      }) =>
        c.inheritFromIAMRole === true
          ? c.accessKeyId === undefined && c.secretAccessKey === undefined && c.sessionToken === undefined
          : c.accessKeyId !== undefined && c.secretAccessKey !== undefined
    })
  )
  .annotate({
    description: "Either accessKeyId + secretAccessKey (+ optional sessionToken), or inheritFromIAMRole: true"
  })
export type S3Credentials = typeof S3Credentials.Type

/** Server-side encryption of the stored objects. */
export const ServerSideEncryption = Schema.Struct({
  algorithm: Schema.Literals(["AES256", "aws:kms", "customer"]).annotate({
    description: "AES256 (SSE-S3), aws:kms (SSE-KMS, optional kmsKeyId) or customer (SSE-C, key from a Secret)"
  }),
  kmsKeyId: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1))),
  customerKey: Schema.optionalKey(
    SecretKeySelector.annotate({ description: "Secret key holding the 256-bit SSE-C key, base64-encoded" })
  )
})
  .check(
    celRule({
      rule: "self.algorithm == 'customer' ? has(self.customerKey) && !has(self.kmsKeyId) : !has(self.customerKey) && (self.algorithm == 'aws:kms' || !has(self.kmsKeyId))",
      message: "customerKey goes with algorithm customer only, kmsKeyId with aws:kms only",
      predicate: (s: { readonly algorithm: string; readonly kmsKeyId?: string; readonly customerKey?: unknown }) =>
        s.algorithm === "customer"
          ? s.customerKey !== undefined && s.kmsKeyId === undefined
          : s.customerKey === undefined && (s.algorithm === "aws:kms" || s.kmsKeyId === undefined)
    })
  )
  .annotate({ description: "Server-side encryption settings" })
export type ServerSideEncryption = typeof ServerSideEncryption.Type

/** An S3-compatible object store location and how to authenticate and talk to it. */
export const ObjectStore = Schema.Struct({
  bucket: BucketName,
  path: Schema.optionalKey(ObjectPath),
  endpoint: Schema.optionalKey(
    Schema.String.check(Schema.isPattern(/^https?:\/\/[^\s/]+(\/[^\s]*)?$/u)).annotate({
      description: "Custom endpoint URL (http:// or https://); omit for AWS"
    })
  ),
  region: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1))),
  forcePathStyle: Schema.optionalKey(
    Schema.Boolean.annotate({ description: "Path-style addressing (endpoint/bucket/key) instead of virtual hosts" })
  ),
  signatureVersion: Schema.optionalKey(
    Schema.Literals(["v2", "v4"]).annotate({ description: "Request signing: v4 (default) or legacy v2" })
  ),
  caBundle: Schema.optionalKey(
    SecretKeySelector.annotate({ description: "Secret key holding PEM CA certificates trusted for the endpoint" })
  ),
  insecure: Schema.optionalKey(
    Schema.Boolean.annotate({ description: "Skip TLS certificate verification (test endpoints only)" })
  ),
  checksumCalculation: Schema.optionalKey(
    Schema.Literals(["WHEN_REQUIRED", "WHEN_SUPPORTED"]).annotate({
      description:
        "SDK request checksums: WHEN_REQUIRED (default; works with S3-compatible stores that reject aws-chunked bodies) or WHEN_SUPPORTED"
    })
  ),
  serverSideEncryption: Schema.optionalKey(ServerSideEncryption),
  storageClass: Schema.optionalKey(
    Schema.String.check(Schema.isPattern(/^[A-Z][A-Z0-9_]*$/u)).annotate({
      description: "Storage class of the stored objects, e.g. STANDARD, STANDARD_IA, GLACIER_IR"
    })
  ),
  credentials: S3Credentials
}).annotate({ description: "S3-compatible object store" })
export type ObjectStore = typeof ObjectStore.Type
