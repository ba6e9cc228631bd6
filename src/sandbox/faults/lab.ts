/**
 * The fault lab: what fault runs R1–R3 share. A throwaway MariaDB with sample data, the cluster PKI, the real
 * instance manager process attached to it, one bucket on a loopback S3 server (Ceph RGW), and helpers to take a
 * backup in-process through any endpoint (the fault proxy or the store itself) and to inspect the store directly.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import { mkdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect, type Scope, Stream } from "effect"
import { decodeWorkerEnv } from "../../api/jobs.ts"
import { getStatus } from "../../instance/client.ts"
import type { ObjectStoreConnection } from "../../objectstore/connection.ts"
import { ObjectStoreClient, type S3ClientTuning } from "../../objectstore/ObjectStoreClient.ts"
import { loadClientTls, runBackup } from "../../pipeline/worker.ts"
import { backupUser, type MariadbInstance, startMariadb } from "../mariadb.ts"
import {
  objectStoreEnv,
  type PkiFiles,
  type RunningInstanceManager,
  startLocalInstanceManager,
  workerEnv
} from "../processes.ts"
import { createBucket, type S3Endpoint, staticConnection } from "../s3Endpoint.ts"

/** Everything a fault run works with. */
export interface FaultLab {
  readonly dir: string
  readonly s3: S3Endpoint
  readonly bucket: string
  readonly mdb: MariadbInstance
  readonly pki: PkiFiles
  readonly im: RunningInstanceManager
}

/** Sets the lab up in `dir` (removed by the caller) against `s3`, with `sampleBytes` of data in the database. */
export const makeFaultLab = (options: {
  readonly dir: string
  readonly s3: S3Endpoint
  readonly bucket: string
  readonly sampleBytes: number
}): Effect.Effect<FaultLab, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    yield* Effect.promise(() => mkdir(options.dir, { recursive: true }))
    yield* Effect.tryPromise(() => createBucket(options.s3, options.bucket))
    const mdb = yield* startMariadb()
    yield* mdb.createUser(backupUser.user, backupUser.password, backupUser.grants)
    yield* mdb.loadSampleData({ tables: 2, bytes: options.sampleBytes })
    const { pki, im } = yield* startLocalInstanceManager({
      socket: mdb.socket,
      backupUser: backupUser.user,
      backupPassword: backupUser.password,
      dir: options.dir
    })
    return { dir: options.dir, s3: options.s3, bucket: options.bucket, mdb, pki, im }
  })

/** A connection to the lab's bucket through `endpoint` (default: the store itself). */
export const labConnection = (lab: FaultLab, endpoint: string = lab.s3.endpoint): ObjectStoreConnection =>
  staticConnection({ ...lab.s3, endpoint }, lab.bucket)

/** The environment a worker or restore process needs to reach the lab's bucket through `endpoint`. */
export const labStoreEnv = (lab: FaultLab, endpoint: string, name: string) =>
  objectStoreEnv({ ...lab.s3, endpoint, bucket: lab.bucket, path: "" }, join(lab.dir, `store-${name}`))

/** The store itself, for inspection and setup (never through the proxy). */
export const direct = (lab: FaultLab) => ObjectStoreClient.layer(labConnection(lab))

/** Takes one backup in-process (the worker's own `runBackup`) into the store reached by `connection`. */
export const takeBackup = (
  lab: FaultLab,
  backup: { readonly cluster: string; readonly backupName: string; readonly backupId: string },
  connection: ObjectStoreConnection = labConnection(lab),
  tuning: S3ClientTuning = {}
) =>
  Effect.gen(function* () {
    const env = yield* decodeWorkerEnv(workerEnv({ url: lab.im.url, pki: lab.pki, ...backup }))
    const tls = yield* loadClientTls(env)
    return yield* runBackup(env, tls, "").pipe(Effect.provide(ObjectStoreClient.layer(connection, tuning)))
  })

/** The bytes of an object, read directly. */
export const readBytes = (key: string) =>
  Effect.gen(function* () {
    const client = yield* ObjectStoreClient
    return Buffer.concat(yield* Stream.runCollect(client.getObject(key)))
  })

/** SHA-256 in hex. */
export const sha256Hex = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

/** Waits until the instance manager runs no backup (a killed worker's tool is being stopped). */
export const waitUntilIdle = (lab: FaultLab) =>
  Effect.gen(function* () {
    const tls = yield* Effect.promise(async () => ({
      ca: await readFile(lab.pki.caFile, "utf8"),
      cert: await readFile(lab.pki.clientCertFile, "utf8"),
      key: await readFile(lab.pki.clientKeyFile, "utf8")
    }))
    // what the last look saw, so a timeout says whether a backup still ran or the status could not be read
    let last = "no answer yet"
    for (let i = 0; i < 600; i++) {
      const status = yield* getStatus(lab.im.url, tls).pipe(Effect.result)
      if (status._tag === "Success" && !status.success.backupRunning) return
      last = status._tag === "Success" ? "a backup still runs" : `the status failed: ${status.failure.message}`
      yield* Effect.sleep("100 millis")
    }
    return yield* Effect.fail(new Error(`the instance manager is not idle after 60 s: ${last}`))
  })

/** Deletes every object and aborts every upload under `prefix`, directly (the store is shared by many runs). */
export const clearPrefix = (prefix: string) =>
  Effect.gen(function* () {
    const client = yield* ObjectStoreClient
    const entries = yield* Stream.runCollect(client.listObjects(prefix))
    yield* Effect.forEach(entries, (e) => ("key" in e ? client.deleteObject(e.key) : Effect.void), {
      concurrency: 8,
      discard: true
    })
    const uploads = yield* client.listMultipartUploads(prefix)
    yield* Effect.forEach(uploads, (u) => client.abortMultipartUpload(u.key, u.uploadId), { discard: true })
  })
