/**
 * Fault run R3: S3 faults. Backups (the worker's own `runBackup`) and restores (`restore` through the catalog)
 * talk to RGW through the fault proxy, which damages a share of all requests: 500 `InternalError`, 503
 * `SlowDown`, a connection reset on arrival, a connection cut mid-body (request bodies of uploads, response bodies
 * of downloads), a stalled response (the client's socket timeout must fire) and a slow one. Each run must end with
 * the right SHA-256 (checked directly against the store) or a clean typed failure after the retry budget, with no
 * multipart upload left behind (checked directly; the janitor then cleans any, so both counts are reported).
 *
 * Faults are drawn from Effect's `Random` in the order requests arrive: run it under `Random.withSeed`. With
 * concurrent part uploads the arrival order can vary a little between runs, so a seed reproduces the fault mix,
 * not necessarily the exact request each fault hits.
 *
 * @since 0.1.0
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Random, type Scope, Stream } from "effect"
import { backupIdFromDate } from "../../api/backupId.ts"
import { isFailure } from "../../api/failures.ts"
import { mariadb } from "../../instance/flavor.ts"
import { abortUploads } from "../../janitor/abortUploads.ts"
import { findBackup } from "../../objectstore/catalog.ts"
import { decodeMetadataSync } from "../../objectstore/metadata.ts"
import { ObjectStoreClient, type S3ClientTuning } from "../../objectstore/ObjectStoreClient.ts"
import { isEmptyDataDir } from "../../recovery/dataDir.ts"
import { restore } from "../../recovery/restore.ts"
import { type FaultAction, faultProxy } from "../faultProxy.ts"
import { writeRestoredServerDefaults } from "../mariadb.ts"
import { direct, type FaultLab, labConnection, readBytes, sha256Hex, takeBackup } from "./lab.ts"

/** The kinds of fault injected. */
export const s3FaultKinds = ["InternalError", "SlowDown", "Reset", "MidBody", "Stall", "Slow"] as const

/** The figures of R3. */
export interface S3FaultFigures {
  readonly faultRate: number
  readonly requests: number
  readonly faultsInjected: number
  readonly byFault: Readonly<Record<string, number>>
  readonly backups: number
  readonly backupsVerified: number
  readonly backupsFailedCleanly: number
  readonly restores: number
  readonly restoresVerified: number
  readonly restoresFailedCleanly: number
  /** Runs that ended neither verified nor with a clean typed failure. */
  readonly bad: number
  readonly failureReasons: Readonly<Record<string, number>>
  readonly orphanedUploadsBeforeJanitor: number
  readonly orphanedUploadsAfterJanitor: number
  readonly unexpected: ReadonlyArray<string>
}

/** A stalled answer must end in the client's socket timeout, quickly: the benchmark has many of them. */
export const faultRunTuning: S3ClientTuning = { socketTimeoutMillis: 2_000, connectionTimeoutMillis: 2_000 }

const backupIdOf = (i: number): string => backupIdFromDate(new Date(Date.UTC(2026, 11, 1, 0, 0, i)))

/** Runs `backups` backups, then `restores` restores of the latest completed one, all through the proxy. */
export const runS3Faults = (
  lab: FaultLab,
  options: { readonly backups: number; readonly restores: number; readonly faultRate: number }
): Effect.Effect<S3FaultFigures, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const proxy = yield* faultProxy(lab.s3.endpoint)
    const rng = yield* Random.Random
    const byFault: Record<string, number> = {}
    const pickFault = (method: string, length: number): FaultAction => {
      const kind = s3FaultKinds[Math.floor(rng.nextDoubleUnsafe() * s3FaultKinds.length)] ?? "InternalError"
      byFault[kind] = (byFault[kind] ?? 0) + 1
      switch (kind) {
        case "InternalError":
          return { _tag: "Error", status: 500, code: "InternalError" }
        case "SlowDown":
          return { _tag: "Error", status: 503, code: "SlowDown" }
        case "Reset":
          return { _tag: "Reset" }
        case "MidBody":
          // uploads lose the connection part-way through the body, downloads part-way through the answer
          return method === "GET" || length <= 1
            ? { _tag: "CutResponse", afterBytes: Math.floor(rng.nextDoubleUnsafe() * 16 * 1024 * 1024) }
            : { _tag: "CutRequest", afterBytes: 1 + Math.floor(rng.nextDoubleUnsafe() * (length - 1)) }
        case "Stall":
          return { _tag: "Stall" }
        case "Slow":
          return { _tag: "Delay", millis: 200 + Math.floor(rng.nextDoubleUnsafe() * 1_000) }
      }
    }
    proxy.setDecider((request) =>
      rng.nextDoubleUnsafe() < options.faultRate
        ? pickFault(request.method, Number(request.headers["content-length"] ?? 0))
        : undefined
    )
    const through = labConnection(lab, proxy.endpoint)
    const store = direct(lab)
    const cluster = "r3"
    const unexpected: Array<string> = []
    const failureReasons: Record<string, number> = {}
    let backupsVerified = 0
    let backupsFailedCleanly = 0
    let restoresVerified = 0
    let restoresFailedCleanly = 0
    let orphans = 0
    const orphanPrefixes: Array<string> = []
    const countFailure = (error: unknown) => {
      const reason = isFailure(error) ? error._tag : "untyped"
      failureReasons[reason] = (failureReasons[reason] ?? 0) + 1
      return isFailure(error)
    }

    for (let i = 0; i < options.backups; i++) {
      const backup = { cluster, backupName: `b${i}`, backupId: backupIdOf(i) }
      const prefix = `${cluster}/${backup.backupName}/${backup.backupId}/`
      const outcome = yield* takeBackup(lab, backup, through, faultRunTuning).pipe(Effect.result)
      const left = yield* Effect.gen(function* () {
        const client = yield* ObjectStoreClient
        const keys = (yield* Stream.runCollect(client.listObjects(prefix))).flatMap((e) => ("key" in e ? [e.key] : []))
        const uploads = yield* client.listMultipartUploads(prefix)
        return { keys, uploads: uploads.length }
      }).pipe(Effect.provide(store))
      if (left.uploads > 0) {
        orphans += left.uploads
        orphanPrefixes.push(prefix)
      }
      if (outcome._tag === "Success") {
        const result = outcome.success
        const verified = yield* Effect.gen(function* () {
          const archive = yield* readBytes(result.archiveKey)
          const metadata = decodeMetadataSync((yield* readBytes(result.metadataKey)).toString())
          return sha256Hex(archive) === result.sha256 && metadata.archive.sha256 === result.sha256
        }).pipe(Effect.provide(store))
        if (verified) backupsVerified++
        else unexpected.push(`backup ${i}: stored bytes differ from the reported sha256`)
      } else if (countFailure(outcome.failure) && !left.keys.some((k) => k.endsWith("metadata.json"))) {
        backupsFailedCleanly++
      } else {
        unexpected.push(`backup ${i}: ${String(outcome.failure)} left ${left.keys.join(", ")}`)
      }
    }

    const latest = yield* findBackup("", cluster).pipe(Effect.provide(store), Effect.option)
    const work = join(lab.dir, "r3")
    yield* Effect.promise(() => mkdir(work, { recursive: true }))
    for (let i = 0; i < (latest._tag === "Some" ? options.restores : 0); i++) {
      const expected = latest._tag === "Some" ? latest.value.metadata.archive.sha256 : ""
      const parent = yield* Effect.promise(() => mkdtemp(join(work, `restore-${i}-`)))
      const dataDir = join(parent, "data")
      const serverDefaultsFile = yield* writeRestoredServerDefaults(parent, dataDir, 2)
      const outcome = yield* restore({
        flavor: mariadb,
        source: { _tag: "Prefix", path: "", cluster },
        dataDir,
        serverDefaultsFile
      }).pipe(Effect.provide(ObjectStoreClient.layer(through, faultRunTuning)), Effect.result)
      if (outcome._tag === "Success" && outcome.success.sha256 === expected && !(yield* isEmptyDataDir(dataDir))) {
        restoresVerified++
      } else if (outcome._tag === "Failure" && countFailure(outcome.failure) && (yield* isEmptyDataDir(dataDir))) {
        restoresFailedCleanly++
      } else {
        unexpected.push(`restore ${i}: ${outcome._tag === "Failure" ? String(outcome.failure) : "wrong sha256"}`)
      }
      yield* Effect.promise(() => rm(parent, { recursive: true, force: true }))
    }
    if (latest._tag === "None" && options.restores > 0) unexpected.push("no backup completed: nothing to restore")

    proxy.setDecider(undefined)
    yield* Effect.forEach(orphanPrefixes, (prefix) => abortUploads(prefix), { discard: true }).pipe(
      Effect.provide(store)
    )
    const after = yield* ObjectStoreClient.use((c) => c.listMultipartUploads(`${cluster}/`)).pipe(Effect.provide(store))
    const injected = Object.values(byFault).reduce((a, b) => a + b, 0)
    return {
      faultRate: options.faultRate,
      requests: proxy.requests.length,
      faultsInjected: injected,
      byFault,
      backups: options.backups,
      backupsVerified,
      backupsFailedCleanly,
      restores: latest._tag === "Some" ? options.restores : 0,
      restoresVerified,
      restoresFailedCleanly,
      bad: unexpected.length,
      failureReasons,
      orphanedUploadsBeforeJanitor: orphans,
      orphanedUploadsAfterJanitor: after.length,
      unexpected: unexpected.slice(0, 20)
    } satisfies S3FaultFigures
  })
