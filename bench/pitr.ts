/**
 * Point-in-time recovery figures on real MariaDB 10.11 and s3rver, small by default:
 *
 * - `archive`: `PITR_TXNS` single-row autocommit transactions are written with the archiver running, then the
 *   primary's binlog is rotated; from the rotation to the last file's manifest is the archive lag, and the
 *   archiver's throughput is the archived bytes over the whole run (this process's CPU: upload pipeline,
 *   SHA-256, manifest parsing; `mariadb-binlog`'s dump is a child and is not counted).
 * - `replay`: `pointInTimeRecovery` from the archive into a fresh server (download verified, then
 *   `mariadb-binlog | mariadb`), next to `local_pipe`: the same files already on local disk piped the same way
 *   into another fresh server. Both targets run with `innodb_flush_log_at_trx_commit=2` and `sync_binlog=0`
 *   (the research note's replay-only durability; the restore itself keeps the server's settings).
 *   `server_cpu_seconds` is the receiving `mariadbd`'s CPU from /proc.
 *
 * Run: `npm run bench:pitr` (`PITR_TXNS`, default 20000). Progress on stderr; the last line is the JSON result.
 */
import { spawn } from "node:child_process"
import { mkdtemp, readdir, rm, stat } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Fiber, Layer } from "effect"
import { binlogArchivePrefix } from "../src/objectstore/binlogLayout.ts"
import { ObjectStoreClient } from "../src/objectstore/ObjectStoreClient.ts"
import { archivedManifests } from "../src/pitr/archiveCatalog.ts"
import { archivedFiles, runArchiver } from "../src/pitr/archiver.ts"
import { pointInTimeRecovery } from "../src/pitr/pointInTimeRecovery.ts"
import { startMariadb } from "../src/sandbox/mariadb.ts"
import { s3rver, s3rverConnection } from "../src/sandbox/s3rver.ts"
import { perGiB, procCpuSeconds } from "./support/processCpu.ts"

const txns = Number(process.env.PITR_TXNS ?? "20000")
const progress = (message: string) => Effect.sync(() => process.stderr.write(`${message}\n`))
const seconds = (from: number) => (performance.now() - from) / 1000
const nodeCpu = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-bench-pitr-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

/** `mariadb-binlog <files> | mariadb` as a shell pipeline with pipefail: the local baseline. */
const localPipe = (files: ReadonlyArray<string>, defaultsFile: string, start: string) =>
  Effect.callback<void, Error>((resume) => {
    const quoted = files.map((f) => `'${f}'`).join(" ")
    const startArg = start === "" ? "" : `--start-position=${start}`
    const child = spawn(
      "bash",
      [
        "-c",
        `set -o pipefail; TZ=UTC mariadb-binlog --no-defaults ${startArg} ${quoted} | mariadb --defaults-file='${defaultsFile}' --binary-mode`
      ],
      { stdio: ["ignore", "ignore", "pipe"] }
    )
    let err = ""
    child.stderr.on("data", (c: Buffer) => (err += c.toString()))
    child.on("close", (code) =>
      resume(code === 0 ? Effect.void : Effect.fail(new Error(`local pipe exited ${code}: ${err.slice(-500)}`)))
    )
  })

const relaxed = "SET GLOBAL innodb_flush_log_at_trx_commit = 2; SET GLOBAL sync_binlog = 0"

const program = Effect.gen(function* () {
  const primary = yield* startMariadb({ bufferPoolSize: "256M" })
  yield* primary.exec(relaxed)
  yield* primary.createUser("archiver", "arch-pw-1", "REPLICATION SLAVE, BINLOG MONITOR")
  const credentialsFile = yield* primary.credentialsFile("archiver", "arch-pw-1")
  const prefix = yield* binlogArchivePrefix("bench", "pitr")
  const cpuStart = nodeCpu()
  const archiveStarted = performance.now()
  const archiver = yield* Effect.forkScoped(
    runArchiver({
      source: { host: "127.0.0.1", port: primary.port, credentialsFile },
      dumpServerId: 4100,
      workDir: join(yield* tempDir, "work"),
      archivePrefix: prefix,
      identity: { version: 1, cluster: "pitr", namespace: "bench" },
      pollInterval: "200 millis"
    })
  )
  yield* primary.exec("CREATE DATABASE app; CREATE TABLE app.load (k INT PRIMARY KEY, v VARCHAR(40))")
  yield* progress(`writing ${txns} transactions`)
  const writeStarted = performance.now()
  // one autocommit INSERT per line: every one is its own transaction with its own GTID
  for (let from = 0; from < txns; from += 5000) {
    const lines: Array<string> = []
    for (let k = from; k < Math.min(txns, from + 5000); k++)
      lines.push(`INSERT INTO app.load VALUES (${k}, '${"x".repeat(40)}');`)
    yield* primary.exec(lines.join("\n"))
  }
  const writeSeconds = seconds(writeStarted)
  const target = yield* primary.gtidPosition
  const rotated = performance.now()
  yield* primary.exec("FLUSH BINARY LOGS")
  const listed = (yield* primary.query("SHOW BINARY LOGS")).map((r) => r.Log_name ?? "")
  while ((yield* archivedFiles(prefix, "server-1")).join() !== listed.slice(0, -1).join()) {
    yield* Effect.sleep("100 millis")
  }
  const lagSeconds = seconds(rotated)
  const archiveSeconds = seconds(archiveStarted)
  const archiveCpu = nodeCpu() - cpuStart
  yield* Fiber.interrupt(archiver)
  const manifests = yield* archivedManifests(prefix)
  const bytes = manifests.reduce((sum, m) => sum + m.size, 0)
  yield* progress(`archived ${manifests.length} files, ${bytes} bytes; replaying`)

  const base = { backupId: "base", endGTID: "", stoppedAt: "2026-01-01T00:00:00Z" }
  const restored = yield* startMariadb({ serverId: 2, bufferPoolSize: "256M" })
  yield* restored.exec(relaxed)
  const scratch = yield* tempDir
  const serverCpuBefore = yield* Effect.promise(() => procCpuSeconds(restored.pid))
  const replayStarted = performance.now()
  const replayCpuStart = nodeCpu()
  const recovered = yield* pointInTimeRecovery({
    archivePrefix: prefix,
    backup: base,
    target: { _tag: "Gtid", gtid: target },
    server: { defaultsFile: restored.defaultsFile, scratchDir: scratch }
  })
  const replaySeconds = seconds(replayStarted)
  const replayNodeCpu = nodeCpu() - replayCpuStart
  const replayServerCpu = (yield* Effect.promise(() => procCpuSeconds(restored.pid))) - serverCpuBefore
  if (recovered.gtid !== target) return yield* Effect.die(new Error(`replayed to ${recovered.gtid}, not ${target}`))

  const files = (yield* Effect.promise(() => readdir(scratch))).sort().map((f) => join(scratch, f))
  const localBytes = (yield* Effect.forEach(files, (f) => Effect.promise(() => stat(f)))).reduce(
    (sum, s) => sum + s.size,
    0
  )
  const baseline = yield* startMariadb({ serverId: 3, bufferPoolSize: "256M" })
  yield* baseline.exec(relaxed)
  const baselineCpuBefore = yield* Effect.promise(() => procCpuSeconds(baseline.pid))
  const pipeStarted = performance.now()
  yield* localPipe(files, baseline.defaultsFile, "")
  const pipeSeconds = seconds(pipeStarted)
  const pipeServerCpu = (yield* Effect.promise(() => procCpuSeconds(baseline.pid))) - baselineCpuBefore
  if ((yield* baseline.gtidPosition) !== target) return yield* Effect.die(new Error("the local pipe missed the target"))

  const transactions = txns + 2
  console.log(
    JSON.stringify({
      transactions,
      binlog_bytes: bytes,
      binlog_files: manifests.length,
      write_seconds: Number(writeSeconds.toFixed(2)),
      archive: {
        lag_seconds_after_rotation: Number(lagSeconds.toFixed(2)),
        seconds: Number(archiveSeconds.toFixed(2)),
        mib_per_second: Number((bytes / 1024 ** 2 / archiveSeconds).toFixed(2)),
        node_cpu_seconds: Number(archiveCpu.toFixed(2)),
        node_cpu_seconds_per_gib: perGiB(archiveCpu, bytes)
      },
      replay: {
        seconds: Number(replaySeconds.toFixed(2)),
        transactions_per_second: Math.round(transactions / replaySeconds),
        mib_per_second: Number((bytes / 1024 ** 2 / replaySeconds).toFixed(2)),
        server_cpu_seconds: Number(replayServerCpu.toFixed(2)),
        server_cpu_seconds_per_gib: perGiB(replayServerCpu, bytes),
        node_cpu_seconds: Number(replayNodeCpu.toFixed(2))
      },
      local_pipe: {
        bytes: localBytes,
        seconds: Number(pipeSeconds.toFixed(2)),
        transactions_per_second: Math.round(transactions / pipeSeconds),
        server_cpu_seconds: Number(pipeServerCpu.toFixed(2)),
        server_cpu_seconds_per_gib: perGiB(pipeServerCpu, localBytes)
      },
      replay_vs_local_pipe: Number((pipeSeconds / replaySeconds).toFixed(2))
    })
  )
})

const store = Layer.unwrap(
  Effect.map(s3rver({ bucket: "bench-pitr" }), (s) => ObjectStoreClient.layer(s3rverConnection(s)))
)

Effect.runPromise(program.pipe(Effect.provide(store), Effect.scoped)).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
