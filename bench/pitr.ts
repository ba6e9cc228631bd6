/**
 * Point-in-time recovery figures on real MariaDB 10.11 and s3rver:
 *
 * - `archive`: `PITR_TXNS` (default 100000) single-row autocommit transactions are written with the archiver
 *   running, the binlog rotated every `PITR_ROTATE_EVERY` (default 20000) of them while the writes go on.
 *   `lag_seconds_under_load`: for each rotation, from the `FLUSH BINARY LOGS` to the rotated file's manifest,
 *   with the writes still running; `lag_seconds_after_last_rotation` the same for the last one, after them. The
 *   archiver's throughput is the archived bytes over the whole run (this process's CPU: upload pipeline,
 *   SHA-256, manifest parsing; `mariadb-binlog`'s dump is a child and is not counted).
 * - `replay`: `pointInTimeRecovery` from the archive into a fresh server (download verified, then
 *   `mariadb-binlog | mariadb`), next to `local_pipe`: the same files already on local disk piped the same way
 *   into another fresh server. Both targets run with `innodb_flush_log_at_trx_commit=2` and `sync_binlog=0`
 *   (the research note's replay-only durability; the restore itself keeps the server's settings).
 *   `server_cpu_seconds` is the receiving `mariadbd`'s CPU from /proc. `PITR_ROUNDS` (default 3) rounds of both,
 *   in ABBA order so a change of the shared machine's load weighs on both; `replay_vs_local_pipe` is the median
 *   of the per-round speed ratios (local pipe seconds ÷ replay seconds; ≥ 1 means the replay is as fast).
 *
 * Run: `npm run bench:pitr`. Progress on stderr; the last line is the JSON result.
 */
import { spawn } from "node:child_process"
import { copyFile, mkdtemp, readdir, rm, stat } from "node:fs/promises"
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

const txns = Number(process.env.PITR_TXNS ?? "100000")
const rotateEvery = Number(process.env.PITR_ROTATE_EVERY ?? "20000")
const rounds = Number(process.env.PITR_ROUNDS ?? "3")
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

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
}
const round2 = (n: number) => Number(n.toFixed(2))

/** One timed load into a fresh relaxed server: its wall time and the receiving server's CPU. */
const timedInto = <E, R>(
  serverId: number,
  load: (defaultsFile: string, scratch: string) => Effect.Effect<void, E, R>
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const server = yield* startMariadb({ serverId, bufferPoolSize: "256M" })
      yield* server.exec(relaxed)
      const scratch = yield* tempDir
      const cpuBefore = yield* Effect.promise(() => procCpuSeconds(server.pid))
      const started = performance.now()
      yield* load(server.defaultsFile, scratch)
      const wall = seconds(started)
      const serverCpu = (yield* Effect.promise(() => procCpuSeconds(server.pid))) - cpuBefore
      return { seconds: wall, serverCpu, gtid: yield* server.gtidPosition }
    })
  )

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
  yield* progress(`writing ${txns} transactions, rotating every ${rotateEvery}`)

  // The archive lag under load: each rotation's file is timed from the FLUSH to its manifest while the writes go on.
  const rotations: Array<{ readonly file: string; readonly at: number }> = []
  const lags: Array<number> = []
  const watcher = yield* Effect.forkScoped(
    Effect.gen(function* () {
      while (true) {
        const archived = new Set(yield* archivedFiles(prefix, "server-1"))
        for (const rotation of rotations.splice(0)) {
          if (archived.has(rotation.file)) lags.push(seconds(rotation.at))
          else rotations.push(rotation)
        }
        yield* Effect.sleep("50 millis")
      }
    })
  )
  const rotate = Effect.gen(function* () {
    const at = performance.now()
    const file = (yield* primary.query("SHOW MASTER STATUS"))[0]?.File ?? ""
    yield* primary.exec("FLUSH BINARY LOGS")
    rotations.push({ file, at })
  })
  const writeStarted = performance.now()
  // one autocommit INSERT per line: every one is its own transaction with its own GTID
  for (let from = 0; from < txns; from += 5000) {
    const lines: Array<string> = []
    for (let k = from; k < Math.min(txns, from + 5000); k++)
      lines.push(`INSERT INTO app.load VALUES (${k}, '${"x".repeat(40)}');`)
    yield* primary.exec(lines.join("\n"))
    if ((from + 5000) % rotateEvery === 0 && from + 5000 < txns) yield* rotate
  }
  const writeSeconds = seconds(writeStarted)
  const target = yield* primary.gtidPosition
  const lastRotation = performance.now()
  yield* rotate
  const listed = (yield* primary.query("SHOW BINARY LOGS")).map((r) => r.Log_name ?? "")
  while ((yield* archivedFiles(prefix, "server-1")).join() !== listed.slice(0, -1).join()) {
    yield* Effect.sleep("100 millis")
  }
  const lagSeconds = seconds(lastRotation)
  const archiveSeconds = seconds(archiveStarted)
  const archiveCpu = nodeCpu() - cpuStart
  yield* Fiber.interrupt(watcher)
  yield* Fiber.interrupt(archiver)
  const manifests = yield* archivedManifests(prefix)
  const bytes = manifests.reduce((sum, m) => sum + m.size, 0)
  yield* progress(`archived ${manifests.length} files, ${bytes} bytes; ${rounds} rounds of replay and local pipe`)

  const base = { backupId: "base", endGTID: "", stoppedAt: "2026-01-01T00:00:00Z" }
  const localFiles = yield* tempDir
  const replayNodeCpu: Array<number> = []
  // round 1 runs the replay first: its verified downloads are the local pipe's input
  const replay = timedInto(2, (defaultsFile, scratch) =>
    Effect.gen(function* () {
      const cpu = nodeCpu()
      yield* pointInTimeRecovery({
        archivePrefix: prefix,
        backup: base,
        target: { _tag: "Gtid", gtid: target },
        server: { defaultsFile, scratchDir: scratch }
      })
      replayNodeCpu.push(nodeCpu() - cpu)
      if ((yield* Effect.promise(() => readdir(localFiles))).length === 0) {
        for (const f of yield* Effect.promise(() => readdir(scratch))) {
          yield* Effect.promise(() => copyFile(join(scratch, f), join(localFiles, f)))
        }
      }
    })
  )
  const pipe = timedInto(3, (defaultsFile) =>
    Effect.gen(function* () {
      const files = (yield* Effect.promise(() => readdir(localFiles))).sort().map((f) => join(localFiles, f))
      yield* localPipe(files, defaultsFile, "")
    })
  )
  const replays: Array<{ seconds: number; serverCpu: number }> = []
  const pipes: Array<{ seconds: number; serverCpu: number }> = []
  // ABBA order, so a load change on the shared machine weighs on both paths alike
  for (let r = 0; r < rounds; r++) {
    for (const path of r % 2 === 0 ? (["replay", "pipe"] as const) : (["pipe", "replay"] as const)) {
      const result = yield* path === "replay" ? replay : pipe
      if (result.gtid !== target) return yield* Effect.die(new Error(`${path} reached ${result.gtid}, not ${target}`))
      if (path === "replay") replays.push(result)
      else pipes.push(result)
      yield* progress(
        `round ${r + 1}: ${path} ${result.seconds.toFixed(1)} s, server ${result.serverCpu.toFixed(1)} CPU-s`
      )
    }
  }
  const localBytes = (yield* Effect.forEach(yield* Effect.promise(() => readdir(localFiles)), (f) =>
    Effect.promise(() => stat(join(localFiles, f)))
  )).reduce((sum, s) => sum + s.size, 0)

  const transactions = txns + 2
  const summary = (runs: ReadonlyArray<{ seconds: number; serverCpu: number }>, size: number) => ({
    seconds: runs.map((x) => round2(x.seconds)),
    median_seconds: round2(median(runs.map((x) => x.seconds))),
    transactions_per_second: Math.round(transactions / median(runs.map((x) => x.seconds))),
    server_cpu_seconds: runs.map((x) => round2(x.serverCpu)),
    server_cpu_seconds_per_gib: perGiB(median(runs.map((x) => x.serverCpu)), size)
  })
  const ratios = replays.map((x, i) => (pipes[i]?.seconds ?? Number.NaN) / x.seconds)
  console.log(
    JSON.stringify({
      transactions,
      binlog_bytes: bytes,
      binlog_files: manifests.length,
      rounds,
      write_seconds: round2(writeSeconds),
      archive: {
        lag_seconds_under_load: lags.map(round2),
        median_lag_seconds_under_load: round2(median(lags)),
        lag_seconds_after_last_rotation: round2(lagSeconds),
        seconds: round2(archiveSeconds),
        mib_per_second: round2(bytes / 1024 ** 2 / archiveSeconds),
        node_cpu_seconds: round2(archiveCpu),
        node_cpu_seconds_per_gib: perGiB(archiveCpu, bytes)
      },
      replay: { ...summary(replays, bytes), node_cpu_seconds: replayNodeCpu.map(round2) },
      local_pipe: { bytes: localBytes, ...summary(pipes, localBytes) },
      replay_vs_local_pipe_per_round: ratios.map(round2),
      replay_vs_local_pipe: round2(median(ratios))
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
