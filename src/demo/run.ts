/**
 * `npm run demo`: the whole physical backup and recovery path on one machine, with the real processes.
 *
 * 1. a throwaway MariaDB 10.11 with sample data (`DEMO_BYTES`, default 64 MiB);
 * 2. an S3 server: Ceph RGW when its binaries are installed, else s3rver (the npm fake S3);
 * 3. a cluster CA with server and client certificates, and `cloudnative-mysql instance` attached to MariaDB;
 * 4. `cloudnative-mysql backup` (the worker Job's process) with a live progress line;
 * 5. `cloudnative-mysql restore` (the init container's process) into a new data directory;
 * 6. a second MariaDB on the restored data directory; checksums side by side, GTIDs, metadata.json;
 * 7. everything stopped and removed, also on Ctrl-C.
 *
 * Nothing is installed: a missing system package ends the demo with the apt-get command that installs it.
 *
 * @since 0.1.0
 */
import { existsSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Cause, Data, Effect, Exit, Fiber, Stream } from "effect"
import { backupIdFromDate } from "../api/backupId.ts"
import { RestoreTerminationMessage, WorkerTerminationMessage } from "../api/jobs.ts"
import { nowDate } from "../api/time.ts"
import { ObjectStoreClient } from "../objectstore/ObjectStoreClient.ts"
import { backupUser, startMariadb, writeRestoredServerDefaults } from "../sandbox/mariadb.ts"
import {
  objectStoreEnv,
  parseLogLines,
  restoreEnv,
  runSubcommand,
  type S3Target,
  spawnSubcommand,
  startLocalInstanceManager,
  terminationResult,
  workerEnv
} from "../sandbox/processes.ts"
import { launchRgw } from "../sandbox/rgw/rgw.ts"
import { createBucket, staticConnection } from "../sandbox/s3Endpoint.ts"
import { s3rver } from "../sandbox/s3rver.ts"

const binDirs = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin", "/bin"]
const has = (binary: string): boolean => binDirs.some((dir) => existsSync(join(dir, binary)))

const mariadbBinaries = ["mariadbd", "mariadb-install-db", "mariadb", "mariadb-admin", "mariadb-backup", "mbstream"]
const rgwBinaries = ["ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "ceph"]

const MiB = 1024 * 1024
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`
const say = (text: string): void => {
  process.stdout.write(`${text}\n`)
}
const step = (text: string): void => say(`\n▶ ${text}`)

/** The demo could not run to its end; `message` says which step and why. */
class DemoFailed extends Data.TaggedError("DemoFailed")<{ readonly message: string }> {}

/** An S3 server for the demo: RGW when installed, else s3rver; stopped when the scope closes. */
const startS3 = (dir: string) =>
  Effect.gen(function* () {
    if (rgwBinaries.every(has)) {
      say("S3 server: Ceph RGW (radosgw on loopback; takes ~15 s to start)")
      const rgw = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: () => launchRgw(join(dir, "rgw")),
          catch: (error) => new DemoFailed({ message: String(error) })
        }),
        (r) => Effect.promise(r.stop)
      )
      const bucket = "demo-backups"
      yield* Effect.promise(() => createBucket(rgw.endpoints, bucket))
      return {
        endpoint: rgw.endpoints.endpoint,
        region: rgw.endpoints.region,
        bucket,
        path: "demo",
        accessKey: rgw.endpoints.accessKey,
        secretKey: rgw.endpoints.secretKey
      } satisfies S3Target
    }
    say(`S3 server: s3rver (npm; Ceph RGW is not installed: ${rgwBinaries.filter((b) => !has(b)).join(", ")} missing)`)
    const server = yield* s3rver({ bucket: "demo-backups" })
    return {
      endpoint: server.endpoint,
      region: "us-east-1",
      bucket: server.bucket,
      path: "demo",
      accessKey: server.accessKey,
      secretKey: server.secretKey
    } satisfies S3Target
  })

const readObject = (target: S3Target, key: string) =>
  Effect.gen(function* () {
    const s3 = yield* ObjectStoreClient
    return yield* Stream.mkString(Stream.decodeText(s3.getObject(key)))
  }).pipe(Effect.provide(ObjectStoreClient.layer(staticConnection(target, target.bucket))))

const demo = Effect.gen(function* () {
  const missing = mariadbBinaries.filter((b) => !has(b))
  if (missing.length > 0) {
    return yield* Effect.fail(
      new DemoFailed({
        message: `missing: ${missing.join(", ")}. Install with:\n  sudo apt-get update && sudo apt-get install -y mariadb-server mariadb-backup`
      })
    )
  }
  const bytes = Number(process.env.DEMO_BYTES ?? 64 * MiB)
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-demo-"))),
    (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
  )

  step(`Starting MariaDB with ${mib(bytes)} of sample data`)
  const source = yield* startMariadb({ bufferPoolSize: "256M" })
  yield* source.createUser(backupUser.user, backupUser.password, backupUser.grants)
  yield* source.loadSampleData({ tables: 4, bytes })
  say(`MariaDB pid ${source.pid}, socket ${source.socket}`)

  step("Starting the S3 server")
  const target = yield* startS3(dir)
  say(`endpoint ${target.endpoint}, bucket ${target.bucket}`)

  step("Generating the cluster PKI and starting the instance manager (cloudnative-mysql instance)")
  const { pki, im } = yield* startLocalInstanceManager({
    socket: source.socket,
    backupUser: backupUser.user,
    backupPassword: backupUser.password,
    dir
  })
  say(`instance manager pid ${im.pid}, mTLS API ${im.url}`)

  const checksumsAtBackup = yield* source.checksums
  const gtidAtBackup = yield* source.gtidPosition
  const storeEnv = yield* objectStoreEnv(target, join(dir, "store"))

  step("Taking a backup (cloudnative-mysql backup: instance manager → mTLS → worker → S3)")
  const backupId = backupIdFromDate(yield* nowDate)
  const worker = yield* spawnSubcommand("backup", {
    workDir: join(dir, "worker"),
    env: {
      ...workerEnv({ url: im.url, pki, cluster: "demo", backupName: "demo-backup", backupId }),
      ...storeEnv,
      BACKUP_PROGRESS_INTERVAL_MS: "250"
    },
    onLine: (line) => {
      const [log] = parseLogLines(line)
      const message = Array.isArray(log?.message) ? log.message[0] : log?.message
      if (message !== "backup progress") return
      const a = log?.annotations ?? {}
      process.stdout.write(
        `\r  ${mib(Number(a.bytes ?? 0)).padStart(12)} read, ${mib(Number(a.bytesUploaded ?? 0)).padStart(12)} uploaded, ${mib(Number(a.bytesPerSecond ?? 0))}/s   `
      )
    }
  })
  const backup = yield* worker.outcome
  process.stdout.write("\n")
  if (backup.exitCode !== 0) {
    return yield* Effect.fail(new DemoFailed({ message: `the backup failed: ${JSON.stringify(backup.termination)}` }))
  }
  const result = yield* terminationResult(WorkerTerminationMessage, backup)
  say(`backup ${backupId}: ${mib(result.size)}, sha256 ${result.sha256}`)

  // written after the backup point: the restore must not have it
  yield* source.exec(
    "CREATE TABLE written_after_backup (id INT PRIMARY KEY); INSERT INTO written_after_backup VALUES (1);",
    "shop"
  )

  step("Restoring the latest backup (cloudnative-mysql restore) into a new data directory")
  const restoredDir = join(dir, "restored")
  const dataDir = join(restoredDir, "data")
  const defaults = yield* writeRestoredServerDefaults(restoredDir, dataDir, 2, "256M")
  const restore = yield* runSubcommand("restore", {
    workDir: join(dir, "restore"),
    env: { ...storeEnv, ...restoreEnv({ dataDir, defaultsFile: defaults, from: { sourceCluster: "demo" } }) }
  })
  if (restore.exitCode !== 0) {
    return yield* Effect.fail(new DemoFailed({ message: `the restore failed: ${JSON.stringify(restore.termination)}` }))
  }
  say(`restored: ${JSON.stringify(yield* terminationResult(RestoreTerminationMessage, restore))}`)

  step("Starting a second MariaDB on the restored data directory")
  const restored = yield* startMariadb({ dataDir, serverId: 2, bufferPoolSize: "256M" })
  const checksumsRestored = yield* restored.checksums
  const gtidRestored = yield* restored.gtidPosition

  step("CHECKSUM TABLE: source at the backup point vs restored")
  const names = [...new Set([...Object.keys(checksumsAtBackup), ...Object.keys(checksumsRestored)])].sort()
  const width = Math.max(...names.map((n) => n.length), 5)
  say(`  ${"table".padEnd(width)}  ${"source".padStart(12)}  ${"restored".padStart(12)}`)
  let same = true
  for (const name of names) {
    const a = checksumsAtBackup[name] ?? "-"
    const b = checksumsRestored[name] ?? "-"
    same &&= a === b
    say(`  ${name.padEnd(width)}  ${a.padStart(12)}  ${b.padStart(12)}  ${a === b ? "✓" : "✗"}`)
  }
  say(`  GTID at backup ${gtidAtBackup}, restored server ${gtidRestored} ${gtidAtBackup === gtidRestored ? "✓" : "✗"}`)
  const later = yield* restored.query(
    "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_name = 'written_after_backup'"
  )
  say(`  table written after the backup present in the restore: ${later[0]?.n === "0" ? "no ✓" : "yes ✗"}`)

  step("metadata.json")
  say(yield* readObject(target, result.metadataKey))

  if (!same || gtidAtBackup !== gtidRestored || later[0]?.n !== "0") {
    return yield* Effect.fail(
      new DemoFailed({ message: "the restored server differs from the source at the backup point" })
    )
  }
  step("Done: cleaning up (servers stopped, temp files removed)")
}).pipe(Effect.scoped)

const main = async (): Promise<number> => {
  const fiber = Effect.runFork(demo)
  const interrupt = () => {
    process.stdout.write("\ninterrupted: cleaning up…\n")
    Effect.runFork(Fiber.interrupt(fiber))
  }
  process.once("SIGINT", interrupt)
  process.once("SIGTERM", interrupt)
  // a closed stdout (e.g. piped into `head`) must still clean up
  process.stdout.on("error", () => Effect.runFork(Fiber.interrupt(fiber)))
  const exit = await Effect.runPromise(Fiber.await(fiber))
  if (Exit.isSuccess(exit)) return 0
  const error = exit.cause.reasons.find((r) => r._tag === "Fail")
  const message =
    error?._tag === "Fail"
      ? error.error instanceof Error
        ? error.error.message
        : String(error.error)
      : Cause.hasInterruptsOnly(exit.cause)
        ? "interrupted"
        : Cause.pretty(exit.cause)
  process.stderr.write(`\ndemo failed: ${message}\n`)
  return 1
}

process.exit(await main())
