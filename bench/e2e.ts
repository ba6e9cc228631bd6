/**
 * The operator's own overhead end to end: the same backup and recovery through Kubernetes objects on the
 * sandbox and as bare processes, for a database of `BENCH_BYTES` of sample data (default 256 MiB; `1GiB`, `64MiB`
 * or a byte count).
 *
 * On the sandbox (`OperatorSandbox`: the real controller, Pods as processes, Ceph RGW):
 * - `backup_seconds`: `Backup` created → `status.phase` `completed` (controller reaction, the worker Job's Pod,
 *   the stream from the replica-less source's instance manager, metadata.json, the status write), polled every
 *   0.5 s; `backup_archive_bytes` its size;
 * - `recovery_1_seconds`, `recovery_3_seconds`: a recovered `Cluster` with 1 / 3 instances created → `healthy`
 *   with all of them ready (the recovery Job, the primary on the restored volume, each replica cloning it).
 *
 * As bare processes (what `bench:backup` measures, here for the same data on the same RGW):
 * - `bare_backup_seconds`: `cloudnative-mysql backup` spawned → exited, against `cloudnative-mysql instance`
 *   attached to a throwaway MariaDB holding the same sample data;
 * - `bare_recovery_seconds`: `cloudnative-mysql restore` spawned → exited, then `mariadbd` on the restored data
 *   directory until it answers; `bare_backup_archive_bytes` its archive's size (the two sources hold the same
 *   rows, but their redo and undo at backup time differ, so the archives do too).
 *
 * `*_ratio` = sandbox / bare. Other sessions share this machine: compare runs made under the same load.
 * Notes go to stderr; the last stdout line is the JSON result. Run: `npm run bench:e2e` (BENCH_BYTES=64MiB for a
 * quick run).
 */
import { join } from "node:path"
import { Clock, Effect, Layer } from "effect"
import { backupIdFromDate } from "../src/api/backupId.ts"
import { WorkerTerminationMessage } from "../src/api/jobs.ts"
import { nowDate } from "../src/api/time.ts"
import { backupUser, startMariadb, writeRestoredServerDefaults } from "../src/sandbox/mariadb.ts"
import { clusterManifest, type Json, OperatorSandbox, sandboxObjectStore } from "../src/sandbox/OperatorSandbox.ts"
import {
  objectStoreEnv,
  restoreEnv,
  runSubcommand,
  type S3Target,
  spawnSubcommand,
  startLocalInstanceManager,
  terminationResult,
  workerEnv
} from "../src/sandbox/processes.ts"

const MiB = 1024 * 1024

const parseBytes = (text: string | undefined, fallback: number): number => {
  if (text === undefined || text === "") return fallback
  const match = /^(\d+(?:\.\d+)?)\s*(MiB|GiB)?$/u.exec(text.trim())
  if (match === null) throw new Error(`BENCH_BYTES: cannot read ${text} (e.g. 256MiB, 1GiB, 1000000)`)
  const unit = match[2] === "GiB" ? 1024 * MiB : match[2] === "MiB" ? MiB : 1
  return Math.round(Number(match[1]) * unit)
}
const databaseBytes = parseBytes(process.env.BENCH_BYTES, 256 * MiB)

const note = (text: string): void => {
  process.stderr.write(`${text}\n`)
}
const seconds = (millis: number): number => Math.round(millis / 100) / 10
const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100

/** Wall time of `effect` in milliseconds, on the Clock. */
const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = yield* Clock.currentTimeMillis
    const value = yield* effect
    return { value, millis: (yield* Clock.currentTimeMillis) - start }
  })

const onSandbox = Effect.gen(function* () {
  const e2e = yield* OperatorSandbox
  const path = "bench-e2e"
  yield* e2e.apply(
    clusterManifest("bench", { instances: 1, backup: { objectStore: sandboxObjectStore(e2e.sandbox, path) } })
  )
  yield* e2e.waitForPhase("bench", "healthy", { timeout: "600 seconds" })
  note(`sandbox: loading ${Math.round(databaseBytes / MiB)} MiB of sample data`)
  const primary = yield* e2e.sql("bench-1")
  yield* primary.loadSampleData({ tables: 4, bytes: databaseBytes })

  note("sandbox: Backup created → completed")
  const backup = yield* timed(
    Effect.gen(function* () {
      yield* e2e.apply({
        apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
        kind: "Backup",
        metadata: { name: "bench" },
        spec: { cluster: { name: "bench" }, method: "xtrabackup" }
      })
      return yield* e2e.waitForBackup("bench", "completed", { timeout: "1800 seconds" })
    })
  )
  const size: number = backup.value.status.size
  note(`  ${seconds(backup.millis)} s, ${Math.round(size / MiB)} MiB archive`)

  const recover = (name: string, instances: number) =>
    Effect.gen(function* () {
      note(`sandbox: recovery Cluster with ${instances} instance(s) created → healthy`)
      const run = yield* timed(
        Effect.gen(function* () {
          yield* e2e.apply(clusterManifest(name, { instances, bootstrap: { recovery: { backup: { name: "bench" } } } }))
          return yield* e2e.waitForCluster(
            name,
            `healthy with ${instances} ready`,
            (c: Json) => c.status?.phase === "healthy" && c.status?.readyInstances === instances,
            { timeout: "1800 seconds" }
          )
        })
      )
      note(`  ${seconds(run.millis)} s`)
      // the next measurement gets the machine to itself
      yield* e2e.remove("clusters", name)
      return run.millis
    })
  const recovery1 = yield* recover("bench-r1", 1)
  const recovery3 = yield* recover("bench-r3", 3)
  yield* e2e.remove("clusters", "bench")
  const store = e2e.sandbox.objectStore
  if (store === undefined) return yield* Effect.die(new Error("the sandbox runs no object store"))
  return { backupMillis: backup.millis, size, recovery1, recovery3, store, dir: e2e.dir }
})

/** The same steps as bare processes on the same object store (another prefix). */
const bare = (store: Omit<S3Target, "path">, dir: string) =>
  Effect.gen(function* () {
    note(`bare: a MariaDB with the same ${Math.round(databaseBytes / MiB)} MiB of sample data`)
    const source = yield* startMariadb({ bufferPoolSize: "256M" })
    yield* source.createUser(backupUser.user, backupUser.password, backupUser.grants)
    yield* source.loadSampleData({ tables: 4, bytes: databaseBytes })
    const { pki, im } = yield* startLocalInstanceManager({
      socket: source.socket,
      backupUser: backupUser.user,
      backupPassword: backupUser.password,
      dir: join(dir, "bare")
    })
    const target: S3Target = { ...store, path: "bench-e2e-bare" }
    const storeEnv = yield* objectStoreEnv(target, join(dir, "bare-store"))
    note("bare: cloudnative-mysql backup spawned → exited")
    const backupId = backupIdFromDate(yield* nowDate)
    const backup = yield* timed(
      Effect.scoped(
        Effect.flatMap(
          spawnSubcommand("backup", {
            workDir: join(dir, "bare-worker"),
            env: { ...workerEnv({ url: im.url, pki, cluster: "bare", backupName: "bare", backupId }), ...storeEnv }
          }),
          (worker) => worker.outcome
        )
      )
    )
    if (backup.value.exitCode !== 0) return yield* Effect.die(new Error(`bare backup failed: ${backup.value.stderr}`))
    const { size } = yield* Effect.orDie(terminationResult(WorkerTerminationMessage, backup.value))
    note(`  ${seconds(backup.millis)} s, ${Math.round(size / MiB)} MiB archive`)
    yield* source.stop

    note("bare: cloudnative-mysql restore spawned → exited, then mariadbd on the restored data directory")
    const restoredDir = join(dir, "bare-restored")
    const dataDir = join(restoredDir, "data")
    const defaults = yield* writeRestoredServerDefaults(restoredDir, dataDir, 2, "256M")
    const recovery = yield* timed(
      Effect.scoped(
        Effect.gen(function* () {
          const restore = yield* runSubcommand("restore", {
            workDir: join(dir, "bare-restore"),
            env: { ...storeEnv, ...restoreEnv({ dataDir, defaultsFile: defaults, from: { sourceCluster: "bare" } }) }
          })
          if (restore.exitCode !== 0) return yield* Effect.die(new Error(`bare restore failed: ${restore.stdout}`))
          yield* startMariadb({ dataDir, serverId: 2, bufferPoolSize: "256M" })
        })
      )
    )
    note(`  ${seconds(recovery.millis)} s`)
    return { backupMillis: backup.millis, size, recoveryMillis: recovery.millis }
  })

// one sandbox scope for both halves: the bare processes use its RGW, after its Clusters were removed
const bench = Effect.gen(function* () {
  const sandbox = yield* onSandbox
  const processes = yield* Effect.scoped(bare(sandbox.store, sandbox.dir))
  return {
    bench: "e2e",
    database_bytes: databaseBytes,
    backup_archive_bytes: sandbox.size,
    backup_seconds: seconds(sandbox.backupMillis),
    recovery_1_seconds: seconds(sandbox.recovery1),
    recovery_3_seconds: seconds(sandbox.recovery3),
    bare_backup_seconds: seconds(processes.backupMillis),
    bare_backup_archive_bytes: processes.size,
    bare_recovery_seconds: seconds(processes.recoveryMillis),
    backup_ratio: ratio(sandbox.backupMillis, processes.backupMillis),
    recovery_1_ratio: ratio(sandbox.recovery1, processes.recoveryMillis),
    recovery_3_ratio: ratio(sandbox.recovery3, processes.recoveryMillis)
  }
}).pipe(Effect.provide(Layer.fresh(OperatorSandbox.layer())))

const output = await Effect.runPromise(bench)
process.stdout.write(`${JSON.stringify(output)}\n`)
