import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as Failures from "../../src/api/failures.ts"

// The spec's "Failure surfaces" list, verbatim (fixtures/spec/failure-surfaces.txt). Surfaces that name two
// operations ("upload/download", "prepare or copy-back") are two surfaces with one error each.
const surfaceReasons: Record<string, ReadonlyArray<Failures.FailureReason>> = {
  "missing referenced Cluster;": ["ClusterNotFound"],
  "missing object-store configuration;": ["ObjectStoreNotConfigured"],
  "unsupported backup method;": ["UnsupportedBackupMethod"],
  "no healthy source instance;": ["NoHealthyInstance"],
  "mTLS connection failure to the source instance manager;": ["InstanceManagerTLSFailed"],
  "XtraBackup failure;": ["XtraBackupFailed"],
  "object-store upload/download failure;": ["ObjectStoreUploadFailed", "ObjectStoreDownloadFailed"],
  "checksum mismatch;": ["ChecksumMismatch"],
  "failed restore prepare or copy-back;": ["RestorePrepareFailed", "RestoreCopyBackFailed"],
  "raw-S3 recovery: `source` does not name an `externalClusters` entry;": ["ExternalClusterNotFound"],
  "raw-S3 recovery: the referenced external cluster entry has no `objectStore`;": ["ExternalClusterObjectStoreMissing"],
  "raw-S3 recovery: no base backups found under the source prefix;": ["NoBaseBackupsFound"],
  "raw-S3 recovery: the requested `backupID` is not present in the object store.": ["BackupIDNotFound"]
}

// One instance of every failure, built through its Schema (so the field definitions are exercised too).
const samples: ReadonlyArray<Failures.Failure> = [
  new Failures.ClusterNotFound({ namespace: "db", cluster: "c" }),
  new Failures.ObjectStoreNotConfigured({ cluster: "c" }),
  new Failures.UnsupportedBackupMethod({ method: "mysqldump" }),
  new Failures.NoHealthyInstance({ cluster: "c", target: "primary" }),
  new Failures.InstanceManagerTLSFailed({ url: "https://c-1:8443", detail: "unknown CA" }),
  new Failures.XtraBackupFailed({ tool: "mariabackup", exitCode: 1, detail: "Access denied" }),
  new Failures.ObjectStoreUploadFailed({
    operation: "UploadPart",
    bucket: "b",
    key: "k",
    status: 503,
    code: "SlowDown",
    detail: "retries exhausted"
  }),
  new Failures.ObjectStoreDownloadFailed({
    operation: "GetObject",
    bucket: "b",
    key: "k",
    status: 404,
    code: "NoSuchKey",
    detail: ""
  }),
  new Failures.ChecksumMismatch({ key: "k", expectedSha256: "a", actualSha256: "b", expectedSize: 1, actualSize: 1 }),
  new Failures.RestorePrepareFailed({ step: "prepare", exitCode: 1, detail: "log sequence mismatch" }),
  new Failures.RestoreCopyBackFailed({ dataDir: "/var/lib/mysql", detail: "not empty" }),
  new Failures.ExternalClusterNotFound({ source: "prod" }),
  new Failures.ExternalClusterObjectStoreMissing({ source: "prod" }),
  new Failures.NoBaseBackupsFound({ bucket: "b", prefix: "p/prod/" }),
  new Failures.BackupIDNotFound({ bucket: "b", prefix: "p/prod/", backupID: "20261123T204644Z" }),
  new Failures.BackupDamaged({
    bucket: "b",
    prefix: "p/prod/nightly/20261123T204644Z/",
    backupID: "20261123T204644Z",
    problem: "metadata.json promises 68566457 bytes, the archive has 68565457"
  }),
  new Failures.RecoverySourceConflict({ detail: "both source and backup set" }),
  new Failures.BackupNotFound({ namespace: "db", backup: "b" }),
  new Failures.BackupNotCompleted({ backup: "b", phase: "running" }),
  new Failures.InvalidName({ field: "cluster name", value: "A/B", detail: "must be a DNS-1123 label" }),
  new Failures.InvalidConfiguration({ detail: "BACKUP_ID: Expected a string matching the RegExp" })
]

describe("failure taxonomy", () => {
  it("the fixture is the specification's failure-surface list", () => {
    const listed = readFileSync(join(import.meta.dirname, "fixtures", "spec", "failure-surfaces.txt"), "utf8")
      .trim()
      .split("\n")
    expect(listed).toEqual(Object.keys(surfaceReasons))
  })

  it("every failure surface of the spec has its own errors, and no error serves two surfaces", () => {
    const all = Object.values(surfaceReasons).flat()
    expect(new Set(all).size).toBe(all.length)
    const defined = new Set(samples.map((e) => e._tag))
    for (const reason of all) expect(defined.has(reason), reason).toBe(true)
  })

  it("the samples cover every member of the Failure union exactly once", () => {
    expect(new Set(samples.map((e) => e._tag)).size).toBe(samples.length)
    expect(samples.length).toBe(Failures.Failure.members.length)
  })

  it("reasons are stable CamelCase and messages are human sentences", () => {
    for (const error of samples) {
      const status = Failures.failureStatus(error)
      expect(status.reason).toBe(error._tag)
      expect(status.reason).toMatch(/^[A-Z][A-Za-z0-9]*$/u)
      expect(status.message.length).toBeGreaterThan(10)
      expect(status.message).not.toContain("undefined")
    }
  })

  it("a failure survives the trip through the worker's termination message (JSON)", () =>
    Effect.gen(function* () {
      for (const error of samples) {
        const json = JSON.parse(JSON.stringify(Schema.encodeSync(Failures.Failure)(error)))
        const decoded = yield* Schema.decodeUnknownEffect(Failures.Failure)(json)
        expect(decoded._tag).toBe(error._tag)
        expect(decoded.message).toBe(error.message)
        expect(Failures.isFailure(decoded)).toBe(true)
      }
    }).pipe(Effect.runPromise))

  it("non-retryable failures need a spec change; retryable ones can clear by themselves", () => {
    const status = (e: Failures.Failure) => Failures.failureStatus(e)
    expect(
      status(
        new Failures.ChecksumMismatch({
          key: "k",
          expectedSha256: "a",
          actualSha256: "b",
          expectedSize: 1,
          actualSize: 2
        })
      ).retryable
    ).toBe(false)
    expect(status(new Failures.NoHealthyInstance({ cluster: "c", target: "primary" }))).toMatchObject({
      phase: "pending",
      retryable: true
    })
    expect(status(new Failures.UnsupportedBackupMethod({ method: "x" }))).toMatchObject({
      phase: "failed",
      retryable: false
    })
  })

  it("object-store errors never render more than operation, target, status, code and detail", () => {
    const e = new Failures.ObjectStoreUploadFailed({
      operation: "PutObject",
      bucket: "b",
      key: "p/k",
      status: 403,
      code: "SignatureDoesNotMatch",
      detail: "denied"
    })
    expect(e.message).toBe("object store upload failed: PutObject s3://b/p/k: HTTP 403 SignatureDoesNotMatch denied")
  })
})
