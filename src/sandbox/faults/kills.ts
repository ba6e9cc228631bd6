/**
 * Fault run R1: the backup worker (the real `cloudnative-mysql backup` process) SIGKILLed at byte offsets of
 * what it sends to the store. The worker talks to RGW through the fault proxy, whose body observer kills it
 * the moment the bytes it has sent (every request body: parts, CompleteMultipartUpload, metadata.json) reach the
 * offset (that chunk is dropped). A first clean run measures the total; the kill points are the first byte, the
 * CompleteMultipartUpload and the metadata.json PUT each just before and just after the store got it (found by
 * request, since each backup differs by a few bytes), and random offsets below the total (Effect's `Random`: run
 * it under `Random.withSeed`).
 *
 * After each kill, directly against the store: a backup the catalog calls completed must have a metadata.json
 * that matches its archive byte for byte (sha256) and no completed-looking backup may be damaged; then the
 * janitor process (`cloudnative-mysql abort-uploads`, as the cleanup Job runs it) must leave no multipart upload
 * under the backup's prefix.
 *
 * @since 0.1.0
 */
import { join } from "node:path"
import { Effect, Random, type Scope } from "effect"
import { backupIdFromDate } from "../../api/backupId.ts"
import { listBackups } from "../../objectstore/catalog.ts"
import { ObjectStoreClient } from "../../objectstore/ObjectStoreClient.ts"
import { faultProxy } from "../faultProxy.ts"
import { runSubcommand, spawnSubcommand, workerEnv } from "../processes.ts"
import { clearPrefix, direct, type FaultLab, labStoreEnv, readBytes, sha256Hex, waitUntilIdle } from "./lab.ts"

/** The figures of R1. */
export interface KillFigures {
  readonly offsets: number
  /** Bytes a clean run sends (measured only when there are random offsets, else 0). */
  readonly bytesPerBackup: number
  readonly killed: number
  /** Offsets past the end of a run: the worker finished before reaching them. */
  readonly finishedBeforeTheOffset: number
  readonly completedAndValid: number
  /** Completed-looking (metadata.json present) but damaged or not matching its archive: must be 0. */
  readonly completedLookingWithoutValidMetadata: number
  /** Archives without metadata.json (killed between completing the upload and writing metadata). */
  readonly archivesWithoutMetadata: number
  readonly uploadsLeftBeforeJanitor: number
  readonly runsWithUploadsLeft: number
  readonly uploadsLeftAfterJanitor: number
  readonly janitorAborted: number
  readonly janitorFailures: number
  readonly unexpected: ReadonlyArray<string>
}

/** Where a worker run is killed. */
type KillPoint =
  | { readonly _tag: "Offset"; readonly bytes: number }
  /** At the request's first body byte; `forwarded`: after the store got it, else before. */
  | { readonly _tag: "Complete" | "Metadata"; readonly forwarded: boolean }

const describePoint = (p: KillPoint): string =>
  p._tag === "Offset" ? `byte ${p.bytes}` : `the ${p._tag} request (${p.forwarded ? "after" : "before"} forwarding)`

const backupIdOf = (i: number): string => backupIdFromDate(new Date(Date.UTC(2026, 11, 1, 1, 0, i)))

/** Runs `count` killed backups (at least the five fixed kill points). */
export const runKillFaults = (
  lab: FaultLab,
  options: { readonly count: number }
): Effect.Effect<KillFigures, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const proxy = yield* faultProxy(lab.s3.endpoint)
    const storeEnv = yield* labStoreEnv(lab, proxy.endpoint, "r1")
    const janitorEnv = yield* labStoreEnv(lab, lab.s3.endpoint, "r1-janitor")
    const store = direct(lab)
    const cluster = "r1"

    /** One worker run, killed at `point` (never when undefined); an offset's chunk is not forwarded. */
    const run = (i: number, point: KillPoint | undefined) =>
      Effect.gen(function* () {
        yield* waitUntilIdle(lab)
        let sent = 0
        let pid: number | undefined
        let killed = false
        proxy.setObserver((request, chunk) => {
          const complete = request.method === "POST" && request.url.searchParams.has("uploadId")
          const metadata = request.method === "PUT" && request.url.pathname.endsWith("/metadata.json")
          sent += chunk.length
          const reached =
            point?._tag === "Offset"
              ? sent >= point.bytes
              : point?._tag === "Complete"
                ? complete
                : point?._tag === "Metadata" && metadata
          if (!reached || killed || pid === undefined) return undefined
          killed = true
          process.kill(pid, "SIGKILL")
          return point?._tag !== "Offset" && point?.forwarded === true ? undefined : "drop"
        })
        const backup = { cluster, backupName: `k${i}`, backupId: backupIdOf(i) }
        const worker = yield* spawnSubcommand("backup", {
          workDir: join(lab.dir, "r1", `k${i}`),
          env: { ...storeEnv, ...workerEnv({ url: lab.im.url, pki: lab.pki, ...backup }) }
        })
        pid = worker.pid
        const outcome = yield* worker.outcome
        proxy.setObserver(undefined)
        return { ...backup, prefix: `${cluster}/${backup.backupName}/${backup.backupId}/`, outcome, sent, killed }
      }).pipe(Effect.scoped)

    const points: Array<KillPoint> = [
      { _tag: "Offset", bytes: 1 },
      { _tag: "Complete", forwarded: false },
      { _tag: "Complete", forwarded: true },
      { _tag: "Metadata", forwarded: false },
      { _tag: "Metadata", forwarded: true }
    ]
    // random offsets need the size of a clean run; they stay below 99 % of it (the next backup may be shorter)
    let total = 0
    if (options.count > points.length) {
      const reference = yield* run(0, undefined)
      if (reference.outcome.exitCode !== 0) {
        return yield* Effect.fail(new Error(`the reference backup failed: ${reference.outcome.stdout.slice(-2000)}`))
      }
      yield* clearPrefix(reference.prefix).pipe(Effect.provide(store))
      total = reference.sent
    }
    while (points.length < options.count) {
      points.push({ _tag: "Offset", bytes: yield* Random.nextIntBetween(1, Math.floor(total * 0.99)) })
    }

    const unexpected: Array<string> = []
    let killed = 0
    let finished = 0
    let valid = 0
    let invalid = 0
    let withoutMetadata = 0
    let uploadsBefore = 0
    let runsWithUploads = 0
    let uploadsAfter = 0
    let aborted = 0
    let janitorFailures = 0
    for (const [n, point] of points.entries()) {
      const offset = describePoint(point)
      const r = yield* run(n + 1, point)
      if (r.killed) killed++
      else finished++
      if (r.killed && r.outcome.exitCode !== 137) unexpected.push(`kill at ${offset}: exit code ${r.outcome.exitCode}`)
      const entries = yield* listBackups("", cluster).pipe(Effect.provide(store))
      const mine = entries.filter((e) => e.prefix === r.prefix)
      for (const entry of mine) {
        if (entry.status === "completed") {
          const bytes = yield* readBytes(entry.archiveKey).pipe(Effect.provide(store))
          if (sha256Hex(bytes) === entry.metadata.archive.sha256) valid++
          else {
            invalid++
            unexpected.push(`kill at ${offset}: completed backup whose archive does not match its metadata.json`)
          }
        } else if (entry.status === "damaged") {
          invalid++
          unexpected.push(`kill at ${offset}: damaged backup: ${entry.problem}`)
        } else {
          withoutMetadata++
        }
      }
      const before = yield* ObjectStoreClient.use((c) => c.listMultipartUploads(r.prefix)).pipe(Effect.provide(store))
      uploadsBefore += before.length
      if (before.length > 0) runsWithUploads++
      const janitor = yield* runSubcommand("abort-uploads", {
        workDir: join(lab.dir, "r1", `janitor-${n}`),
        env: { ...janitorEnv, CLEANUP_PREFIX: r.prefix }
      })
      const message = janitor.termination as { aborted?: unknown } | undefined
      if (janitor.exitCode === 0 && typeof message?.aborted === "number") aborted += message.aborted
      else {
        janitorFailures++
        unexpected.push(`janitor at ${r.prefix}: exit ${janitor.exitCode} ${JSON.stringify(janitor.termination)}`)
      }
      const after = yield* ObjectStoreClient.use((c) => c.listMultipartUploads(r.prefix)).pipe(Effect.provide(store))
      uploadsAfter += after.length
      yield* clearPrefix(r.prefix).pipe(Effect.provide(store))
    }
    return {
      offsets: points.length,
      bytesPerBackup: total,
      killed,
      finishedBeforeTheOffset: finished,
      completedAndValid: valid,
      completedLookingWithoutValidMetadata: invalid,
      archivesWithoutMetadata: withoutMetadata,
      uploadsLeftBeforeJanitor: uploadsBefore,
      runsWithUploadsLeft: runsWithUploads,
      uploadsLeftAfterJanitor: uploadsAfter,
      janitorAborted: aborted,
      janitorFailures,
      unexpected: unexpected.slice(0, 20)
    } satisfies KillFigures
  })
