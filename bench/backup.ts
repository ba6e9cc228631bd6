/**
 * Backup and restore throughput of the real processes against a real MariaDB and Ceph RGW on loopback.
 *
 * For a database of `BENCH_BYTES` of sample data (default 1 GiB; accepts `128MiB`, `1GiB` or a byte count):
 *
 * - `backup_mbps`: (a) the full path, `cloudnative-mysql instance` → mTLS → `cloudnative-mysql backup` → RGW,
 *   archive bytes / the worker's own interval (tool start → metadata.json written);
 * - `source_only_mbps`: (b) `mariabackup --stream | wc -c` (the tool alone, output discarded);
 * - `sink_only_mbps`: (c) the upload pipeline alone: as many in-memory bytes uploaded to RGW in-process;
 * - `rclone_mbps`: (d) `mariabackup --stream | tee >(sha256sum) | rclone rcat` (null when rclone is missing);
 * - `restore_mbps`: the `cloudnative-mysql restore` process's download → SHA-256 → `mbstream -x` phase;
 * - `local_extract_mbps`: `mbstream -x < local file` of the same archive;
 * - `worker_peak_rss_mib`: the worker process's peak RSS (VmHWM).
 *
 * MB/s are 10^6 bytes per second. Notes go to stderr; the last stdout line is the JSON result.
 * Run: `npm run bench:backup` (BENCH_BYTES=128MiB for a quick run). `RGW_STATE_DIR` reuses a running RGW.
 */
import { execFile } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { mkdir, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { Effect, Redacted, Stream } from "effect"
import { WorkerTerminationMessage } from "../src/api/jobs.ts"
import { ObjectStoreClient } from "../src/objectstore/ObjectStoreClient.ts"
import { uploadStream } from "../src/pipeline/upload.ts"
import { backupUser, startMariadb, writeRestoredServerDefaults } from "../src/sandbox/mariadb.ts"
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
} from "../src/sandbox/processes.ts"
import { launchRgw } from "../src/sandbox/rgw/rgw.ts"
import { createBucket } from "../src/sandbox/s3Endpoint.ts"

const run = promisify(execFile)
const MiB = 1024 * 1024

const parseBytes = (text: string | undefined, fallback: number): number => {
  if (text === undefined || text === "") return fallback
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?$/iu.exec(text.trim())
  if (m === null) throw new Error(`BENCH_BYTES: cannot parse ${text}`)
  const factor = { b: 1, kib: 1024, mib: MiB, gib: 1024 * MiB }[(m[2] ?? "b").toLowerCase()] ?? 1
  return Math.round(Number(m[1]) * factor)
}

const databaseBytes = parseBytes(process.env.BENCH_BYTES, 1024 * MiB)
const note = (text: string): void => {
  process.stderr.write(`${text}\n`)
}
const mbps = (bytes: number, millis: number): number => Math.round((bytes / 1e6 / (millis / 1000)) * 10) / 10
const has = (binary: string): boolean =>
  ["/usr/bin", "/usr/sbin", "/usr/local/bin"].some((d) => existsSync(join(d, binary)))

const timed = async <A>(f: () => Promise<A>): Promise<{ value: A; millis: number }> => {
  const start = performance.now()
  const value = await f()
  return { value, millis: performance.now() - start }
}

const shell = (script: string, env: Record<string, string> = {}) =>
  run("bash", ["-o", "pipefail", "-c", script], { env: { ...process.env, ...env }, maxBuffer: 16 * MiB })

/** Peak RSS (VmHWM) of a process, polled until it exits. */
const watchPeakRss = (pid: number): { readonly peakMiB: () => number; readonly stop: () => void } => {
  let peak = 0
  const timer = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/u.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
      if (m !== null) peak = Math.max(peak, Number(m[1]) / 1024)
    } catch {
      clearInterval(timer)
    }
  }, 50)
  return { peakMiB: () => Math.round(peak), stop: () => clearInterval(timer) }
}

const startRgw = (dir: string) =>
  Effect.acquireRelease(
    // room for the archive written three times (worker, sink alone, rclone) plus RGW's overhead
    Effect.promise(() =>
      launchRgw(join(dir, "rgw"), { storeGb: Math.max(8, Math.ceil((databaseBytes * 6) / 1024 ** 3) + 4) })
    ),
    (rgw) => Effect.promise(rgw.stop)
  ).pipe(Effect.map((rgw) => rgw.endpoints))

const bench = Effect.gen(function* () {
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-bench-backup-"))),
    (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
  )
  note(`loading ${Math.round(databaseBytes / MiB)} MiB of sample data`)
  const source = yield* startMariadb({ bufferPoolSize: "1G" })
  yield* source.createUser(backupUser.user, backupUser.password, backupUser.grants)
  yield* source.loadSampleData({ tables: 4, bytes: databaseBytes })
  const r = yield* startRgw(dir)
  const bucket = `bench-backup-${Date.now().toString(36)}`
  yield* Effect.promise(() => createBucket(r, bucket))
  const target: S3Target = {
    endpoint: r.endpoint,
    region: r.region,
    bucket,
    path: "bench",
    accessKey: r.accessKey,
    secretKey: r.secretKey
  }
  const storeEnv = yield* objectStoreEnv(target, dir)
  const { pki, im } = yield* startLocalInstanceManager({
    socket: source.socket,
    backupUser: backupUser.user,
    backupPassword: backupUser.password,
    dir
  })
  const backupCommand = `mariadb-backup --defaults-file=${source.defaultsFile} --backup --stream=xbstream --user=${backupUser.user} --password=${backupUser.password} --target-dir=${join(dir, "unused")} 2>/dev/null`

  note("(b) mariabackup --stream | wc -c")
  const sourceOnly = yield* Effect.promise(() => timed(() => shell(`${backupCommand} | wc -c`)))
  const sourceBytes = Number(sourceOnly.value.stdout.trim())

  note("(a) instance manager → mTLS → worker → RGW")
  const worker = yield* spawnSubcommand("backup", {
    workDir: join(dir, "worker"),
    env: {
      ...workerEnv({ url: im.url, pki, cluster: "bench", backupName: "full", backupId: "20261123T000000Z" }),
      ...storeEnv
    }
  })
  const rss = watchPeakRss(worker.pid)
  const backup = yield* worker.outcome
  rss.stop()
  if (backup.exitCode !== 0) return yield* Effect.die(new Error(`backup failed: ${backup.stdout.slice(-2000)}`))
  const result = yield* terminationResult(WorkerTerminationMessage, backup)
  const backupMillis = Date.parse(result.stoppedAt) - Date.parse(result.startedAt)

  note("(c) the upload pipeline alone, in-process, same byte count")
  const block = Buffer.alloc(4 * MiB)
  for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((i * 2654435761) >>> 0, i)
  const chunk = 64 * 1024
  const chunks = Math.ceil(result.size / chunk)
  const synthetic = Stream.range(0, chunks - 1).pipe(
    Stream.map((i) => {
      const offset = (i * chunk) % block.length
      const length = Math.min(chunk, result.size - i * chunk)
      return block.subarray(offset, offset + length) as Uint8Array
    })
  )
  const sinkStart = performance.now()
  yield* uploadStream(synthetic, { key: "bench/sink-only/object" }).pipe(
    Effect.provide(
      ObjectStoreClient.layer({
        spec: {
          bucket,
          endpoint: r.endpoint,
          region: r.region,
          forcePathStyle: true,
          credentials: { accessKeyId: { name: "s3", key: "a" }, secretAccessKey: { name: "s3", key: "s" } }
        },
        credentials: { accessKeyId: Redacted.make(r.accessKey), secretAccessKey: Redacted.make(r.secretKey) }
      })
    )
  )
  const sinkMillis = performance.now() - sinkStart

  let rcloneMbps: number | null = null
  if (has("rclone")) {
    note("(d) mariabackup --stream | tee >(sha256sum) | rclone rcat")
    const rcloneEnv = {
      RCLONE_CONFIG_BENCH_TYPE: "s3",
      RCLONE_CONFIG_BENCH_PROVIDER: "Ceph",
      RCLONE_CONFIG_BENCH_ENDPOINT: r.endpoint,
      RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: r.accessKey,
      RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: r.secretKey,
      RCLONE_CONFIG_BENCH_REGION: r.region,
      RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: "true"
    }
    const rc = yield* Effect.promise(() =>
      timed(() =>
        shell(
          `${backupCommand} | tee >(sha256sum > ${join(dir, "rclone.sha256")}) | env -u AWS_CA_BUNDLE rclone rcat --s3-chunk-size 16M bench:${bucket}/bench/rclone/backup.xbstream`,
          rcloneEnv
        )
      )
    )
    rcloneMbps = mbps(sourceBytes, rc.millis)
  } else {
    note("(d) skipped: rclone is not installed")
  }

  note("restore: cloudnative-mysql restore (download → sha256 → mbstream -x phase)")
  const restoreParent = join(dir, "restore")
  yield* Effect.promise(() => mkdir(restoreParent, { recursive: true }))
  const dataDir = join(restoreParent, "data")
  const defaults = yield* writeRestoredServerDefaults(restoreParent, dataDir, 2)
  const restore = yield* runSubcommand("restore", {
    workDir: join(dir, "restore-run"),
    env: { ...storeEnv, ...restoreEnv({ dataDir, defaultsFile: defaults, from: { sourceCluster: "bench" } }) }
  })
  if (restore.exitCode !== 0) return yield* Effect.die(new Error(`restore failed: ${restore.stdout.slice(-2000)}`))
  const logs = parseLogLines(restore.stdout) as Array<{ message?: unknown; timestamp?: string }>
  const at = (message: string) => {
    const line = logs.find((l) => (Array.isArray(l.message) ? l.message[0] : l.message) === message)
    return Date.parse(line?.timestamp ?? "")
  }
  const restoreMillis = at("backup downloaded, verified and extracted") - at("restoring backup")

  note("local: mbstream -x < file")
  const archiveFile = join(dir, "archive.xbstream")
  yield* Effect.promise(() => shell(`${backupCommand} > ${archiveFile}`))
  const archiveBytes = Number((yield* Effect.promise(() => shell(`stat -c %s ${archiveFile}`))).stdout.trim())
  const extractDir = join(dir, "local-extract")
  yield* Effect.promise(() => mkdir(extractDir))
  const local = yield* Effect.promise(() => timed(() => shell(`mbstream -x -C ${extractDir} < ${archiveFile}`)))

  return {
    database_bytes: databaseBytes,
    archive_bytes: result.size,
    backup_mbps: mbps(result.size, backupMillis),
    source_only_mbps: mbps(sourceBytes, sourceOnly.millis),
    sink_only_mbps: mbps(result.size, sinkMillis),
    rclone_mbps: rcloneMbps,
    restore_mbps: mbps(result.size, restoreMillis),
    local_extract_mbps: mbps(archiveBytes, local.millis),
    worker_peak_rss_mib: rss.peakMiB()
  }
}).pipe(Effect.scoped)

const output = await Effect.runPromise(bench)
process.stdout.write(`${JSON.stringify(output)}\n`)
process.exit(0)
