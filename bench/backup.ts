/**
 * Backup and restore throughput and CPU cost of the real processes against a real MariaDB and Ceph RGW on
 * loopback.
 *
 * For a database of `BENCH_BYTES` of sample data (default 1 GiB; accepts `128MiB`, `1GiB` or a byte count):
 *
 * - `backup_mbps`: (a) the full path, `cloudnative-mysql instance` → mTLS → `cloudnative-mysql backup` → RGW,
 *   archive bytes / the worker's own interval (tool start → metadata.json written);
 * - `source_only_mbps`: (b) `mariabackup --stream | wc -c` (the tool alone, output discarded);
 * - `sink_only_mbps`: (c) the upload pipeline alone: as many in-memory bytes uploaded to RGW in-process
 *   (`sink_only_cpu_s_per_gib`: this process's CPU for it: hashing, part cutting and sending, no receiving);
 * - `rclone_mbps`: (d) `mariabackup --stream | tee >(sha256sum) | rclone rcat` (null when rclone is missing);
 * - `restore_mbps`: the `cloudnative-mysql restore` process's download → SHA-256 → `mbstream -x` phase;
 * - `local_extract_mbps`: `mbstream -x < local file` of the same archive;
 * - `worker_cpu_s_per_gib`, `restore_cpu_s_per_gib`: user + system CPU of the whole `backup` / `restore`
 *   process (start-up included, every thread) per GiB of archive, from its own `resourceUsage()` at exit;
 *   `*_startup_cpu_s`: the same for a run that only loads its modules and stops at configuration;
 * - `instance_cpu_s_per_gib`: the instance manager's own CPU (`/proc/<pid>/stat`, the backup tool excluded)
 *   while it serves the backup, per GiB;
 * - `floor_cpu_s_per_gib`: one SHA-256 pass + one AES-256-GCM pass per GiB (`openssl speed`, measured in the
 *   same run), what receiving the bytes over TLS and hashing them once must cost; `floor_*` the parts;
 * - `worker_peak_rss_mib`: the worker's peak RSS; `worker_rss_bound_mib` the bound for it,
 *   64 MiB + (uploadConcurrency + 2) × partSize.
 *
 * `BENCH_S3_TLS=1` uses RGW's https endpoint (parts then go as UNSIGNED-PAYLOAD). `BENCH_RESTORE_REPEAT` (default 1)
 * restores per tree, interleaved.
 * `BENCH_REPEAT` (default 1) runs the worker that many times against the same instance manager and reports the
 * median of each figure (peak RSS: the highest; the worker's CPU-s of each run in `worker_cpu_s_runs`). `BENCH_PHASES` (default all:
 * `source,sink,rclone,restore,local`) chooses the side measurements besides the worker. `BENCH_CPU_PROF=dir`
 * runs the worker, the instance manager and restore under `--cpu-prof` into `dir` (bench/profile.ts reads
 * them). Other processes share this machine: trust the CPU-seconds, not the MB/s, and compare runs made
 * under the same conditions.
 *
 * MB/s are 10^6 bytes per second. Notes go to stderr; the last stdout line is the JSON result.
 * Run: `npm run bench:backup` (BENCH_BYTES=128MiB for a quick run).
 */
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises"
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
  type RunningInstanceManager,
  restoreEnv,
  runSubcommand,
  type S3Target,
  spawnSubcommand,
  startLocalInstanceManager,
  terminationResult,
  workerEnv,
  writePki
} from "../src/sandbox/processes.ts"
import { launchRgw } from "../src/sandbox/rgw/rgw.ts"
import { createBucket } from "../src/sandbox/s3Endpoint.ts"
import { measureFloor, perGiB, procCpuSeconds, readUsage, usageEnv } from "./support/processCpu.ts"

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
const repeat = Math.max(1, Number(process.env.BENCH_REPEAT ?? 1))
const phases = new Set((process.env.BENCH_PHASES ?? "source,sink,rclone,restore,local").split(","))
const profDir = process.env.BENCH_CPU_PROF
/** `BENCH_S3_TLS=1`: the worker, restore and the sink-only upload talk to RGW's https endpoint. */
const s3Tls = process.env.BENCH_S3_TLS === "1"
const profFlags = (name: string): Array<string> =>
  profDir === undefined || profDir === ""
    ? []
    : ["--cpu-prof", `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${name}-\${pid}.cpuprofile`]
/**
 * `BENCH_TREES=label=/path,label2=/path`: compare checkouts of this repository side by side under the same load:
 * each gets its own instance manager, its worker runs alternate with the others', and each restores once
 * (default: this tree alone). The JSON's top-level figures are the first tree's; `variants` has each tree's.
 */
interface Tree {
  readonly label: string
  readonly executable: string | undefined
}
const trees: ReadonlyArray<Tree> =
  process.env.BENCH_TREES === undefined || process.env.BENCH_TREES === ""
    ? [{ label: "current", executable: undefined }]
    : process.env.BENCH_TREES.split(",").map((entry) => {
        const [label = "", path = ""] = entry.split("=")
        return { label, executable: join(path, "bin", "cloudnative-mysql.js") }
      })
/** `BENCH_RESTORE_REPEAT` (default 1): restores per tree, interleaved across trees; medians are reported. */
const restoreRepeat = Math.max(1, Number(process.env.BENCH_RESTORE_REPEAT ?? 1))
const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const lower = sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN
  const upper = sorted[Math.ceil((sorted.length - 1) / 2)] ?? Number.NaN
  return (lower + upper) / 2
}
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

const startRgw = (dir: string) =>
  Effect.acquireRelease(
    // room for every archive (each worker run of each tree, sink alone, rclone; an archive is ~1.3× the
    // data, RGW stores about 1.5× that) plus RGW's overhead: a full OSD stalls writes instead of failing them
    Effect.promise(() =>
      launchRgw(join(dir, "rgw"), {
        storeGb: Math.max(8, Math.ceil(((trees.length * repeat + 2) * databaseBytes * 2) / 1024 ** 3) + 4)
      })
    ),
    (rgw) => Effect.promise(rgw.stop)
  ).pipe(Effect.map((rgw) => rgw.endpoints))

/** The worker's default upload settings (src/pipeline/upload.ts, partSchedule.ts): the RSS bound uses them. */
const uploadConcurrency = 4
const firstPartMiB = 16

const bench = Effect.gen(function* () {
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-bench-backup-"))),
    (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
  )
  if (profDir !== undefined && profDir !== "") yield* Effect.promise(() => mkdir(profDir, { recursive: true }))
  note(`loading ${Math.round(databaseBytes / MiB)} MiB of sample data`)
  const source = yield* startMariadb({ bufferPoolSize: "1G" })
  yield* source.createUser(backupUser.user, backupUser.password, backupUser.grants)
  yield* source.loadSampleData({ tables: 4, bytes: databaseBytes })
  const r = yield* startRgw(dir)
  const bucket = `bench-backup-${Date.now().toString(36)}`
  yield* Effect.promise(() => createBucket(r, bucket))
  const caBundle = s3Tls ? yield* Effect.promise(() => readFile(r.caFile, "utf8")) : undefined
  const target: S3Target = {
    endpoint: s3Tls ? r.tlsEndpoint : r.endpoint,
    region: r.region,
    bucket,
    path: "bench",
    accessKey: r.accessKey,
    secretKey: r.secretKey,
    ...(caBundle === undefined ? {} : { caBundle })
  }
  const storeEnv = yield* objectStoreEnv(target, dir)
  const pki = yield* writePki(join(dir, "pki"))
  const managers = new Map<string, RunningInstanceManager>()
  for (const tree of trees) {
    const { im } = yield* startLocalInstanceManager({
      socket: source.socket,
      backupUser: backupUser.user,
      backupPassword: backupUser.password,
      dir,
      pki,
      name: `instance-${tree.label}`,
      ...(tree.executable === undefined ? {} : { executable: tree.executable }),
      ...(profFlags(`instance-${tree.label}`).length === 0
        ? {}
        : { extraEnv: { NODE_OPTIONS: profFlags(`instance-${tree.label}`).join(" ") } })
    })
    managers.set(tree.label, im)
  }
  const backupCommand = `mariadb-backup --defaults-file=${source.defaultsFile} --backup --stream=xbstream --user=${backupUser.user} --password=${backupUser.password} --target-dir=${join(dir, "unused")} 2>/dev/null`

  note("floor: openssl speed sha256 / aes-256-gcm, node createHash")
  const floor = yield* Effect.promise(measureFloor)

  note("start-up: backup and restore processes that load their modules and stop at configuration")
  const startup = (tree: Tree, subcommand: string) =>
    Effect.gen(function* () {
      const file = join(dir, `${subcommand}-${tree.label}-startup-usage.json`)
      yield* runSubcommand(subcommand, {
        workDir: join(dir, `${subcommand}-startup`),
        env: usageEnv(file),
        ...(tree.executable === undefined ? {} : { executable: tree.executable })
      })
      return (yield* Effect.promise(() => readUsage(file))).cpuSeconds
    })
  const startups = new Map<string, { worker: number; restore: number }>()
  for (const tree of trees) {
    startups.set(tree.label, { worker: yield* startup(tree, "backup"), restore: yield* startup(tree, "restore") })
  }

  let sourceBytes = 0
  let sourceMillis = Number.NaN
  if (phases.has("source")) {
    note("(b) mariabackup --stream | wc -c")
    const sourceOnly = yield* Effect.promise(() => timed(() => shell(`${backupCommand} | wc -c`)))
    sourceBytes = Number(sourceOnly.value.stdout.trim())
    sourceMillis = sourceOnly.millis
  }

  interface WorkerRun {
    readonly size: number
    readonly millis: number
    readonly workerCpu: number
    readonly workerRssMiB: number
    readonly instanceCpu: number
  }
  const runWorker = (tree: Tree, treeIndex: number, i: number) =>
    Effect.gen(function* () {
      note(`(a) instance manager → mTLS → worker → RGW, ${tree.label} run ${i + 1}/${repeat}`)
      const im = managers.get(tree.label)
      if (im === undefined) return yield* Effect.die(new Error(`no instance manager for ${tree.label}`))
      const usageFile = join(dir, `worker-${tree.label}-${i}-usage.json`)
      const instanceBefore = yield* Effect.promise(() => procCpuSeconds(im.pid))
      const worker = yield* spawnSubcommand("backup", {
        workDir: join(dir, "worker"),
        ...(tree.executable === undefined ? {} : { executable: tree.executable }),
        env: {
          ...workerEnv({
            url: im.url,
            pki,
            cluster: "bench",
            backupName: `full-${tree.label}-${i}`,
            backupId: `20261123T${String(treeIndex % 24).padStart(2, "0")}00${String(i % 60).padStart(2, "0")}Z`
          }),
          ...storeEnv,
          ...usageEnv(usageFile, profFlags(`worker-${tree.label}`))
        }
      })
      const backup = yield* worker.outcome
      const instanceCpu = (yield* Effect.promise(() => procCpuSeconds(im.pid))) - instanceBefore
      if (backup.exitCode !== 0) return yield* Effect.die(new Error(`backup failed: ${backup.stdout.slice(-2000)}`))
      const result = yield* terminationResult(WorkerTerminationMessage, backup)
      const usage = yield* Effect.promise(() => readUsage(usageFile))
      const millis = Date.parse(result.stoppedAt) - Date.parse(result.startedAt)
      note(
        `    ${mbps(result.size, millis)} MB/s, worker ${perGiB(usage.cpuSeconds, result.size)} CPU-s/GiB, instance ${perGiB(instanceCpu, result.size)} CPU-s/GiB, worker peak RSS ${Math.round(usage.peakRssMiB)} MiB`
      )
      const run: WorkerRun = {
        size: result.size,
        millis,
        workerCpu: usage.cpuSeconds,
        workerRssMiB: usage.peakRssMiB,
        instanceCpu
      }
      return run
    })
  const runs = new Map<string, Array<WorkerRun>>(trees.map((t) => [t.label, []]))
  for (let i = 0; i < repeat; i++) {
    for (let k = 0; k < trees.length; k++) {
      const index = (k + i) % trees.length
      const tree = trees[index]
      if (tree !== undefined) runs.get(tree.label)?.push(yield* runWorker(tree, index, i))
    }
  }
  /** Each figure's median over a tree's runs, taken separately; peak RSS is the highest of them. */
  const middleOf = (label: string): WorkerRun | undefined => {
    const list = runs.get(label) ?? []
    const first = list[0]
    if (first === undefined) return undefined
    return {
      size: first.size,
      millis: median(list.map((x) => x.millis)),
      workerCpu: median(list.map((x) => x.workerCpu)),
      workerRssMiB: Math.max(...list.map((x) => x.workerRssMiB)),
      instanceCpu: median(list.map((x) => x.instanceCpu))
    }
  }
  const first = trees[0]
  const middle = first === undefined ? undefined : middleOf(first.label)
  if (first === undefined || middle === undefined) return yield* Effect.die(new Error("no worker run"))
  const size = middle.size

  let sinkMillis = Number.NaN
  let sinkCpu = Number.NaN
  if (phases.has("sink")) {
    note("(c) the upload pipeline alone, in-process, same byte count")
    const block = Buffer.alloc(4 * MiB)
    for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((i * 2654435761) >>> 0, i)
    const chunk = 64 * 1024
    const chunks = Math.ceil(size / chunk)
    const synthetic = Stream.range(0, chunks - 1).pipe(
      Stream.map((i) => {
        const offset = (i * chunk) % block.length
        const length = Math.min(chunk, size - i * chunk)
        return block.subarray(offset, offset + length) as Uint8Array
      })
    )
    const sinkStart = performance.now()
    const sinkCpuStart = process.cpuUsage()
    yield* uploadStream(synthetic, { key: "bench/sink-only/object" }).pipe(
      Effect.provide(
        ObjectStoreClient.layer({
          ...(caBundle === undefined ? {} : { caBundle }),
          spec: {
            bucket,
            endpoint: target.endpoint,
            region: r.region,
            forcePathStyle: true,
            credentials: { accessKeyId: { name: "s3", key: "a" }, secretAccessKey: { name: "s3", key: "s" } }
          },
          credentials: { accessKeyId: Redacted.make(r.accessKey), secretAccessKey: Redacted.make(r.secretKey) }
        })
      )
    )
    sinkMillis = performance.now() - sinkStart
    const used = process.cpuUsage(sinkCpuStart)
    sinkCpu = (used.user + used.system) / 1e6
  }

  let rcloneMbps: number | null = null
  if (phases.has("rclone") && has("rclone")) {
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
    rcloneMbps = mbps(sourceBytes > 0 ? sourceBytes : size, rc.millis)
  } else {
    note("(d) skipped (not asked for, or rclone is not installed)")
  }

  const restores = new Map<string, { millis: number; cpu: number; rssMiB: number }>()
  const restoreRuns = new Map<string, Array<{ millis: number; cpu: number; rssMiB: number }>>()
  const restoreOrder = phases.has("restore")
    ? Array.from({ length: restoreRepeat * trees.length }, (_, n) => {
        const round = Math.floor(n / trees.length)
        return trees[(n + round) % trees.length]
      }).filter((t): t is Tree => t !== undefined)
    : []
  for (const tree of restoreOrder) {
    note(`restore: cloudnative-mysql restore (download → sha256 → mbstream -x phase), ${tree.label}`)
    const restoreParent = join(dir, `restore-${tree.label}`)
    yield* Effect.promise(() => mkdir(restoreParent, { recursive: true }))
    const dataDir = join(restoreParent, "data")
    const defaults = yield* writeRestoredServerDefaults(restoreParent, dataDir, 2)
    const usageFile = join(dir, `restore-${tree.label}-usage.json`)
    const restore = yield* runSubcommand("restore", {
      workDir: join(dir, "restore-run"),
      ...(tree.executable === undefined ? {} : { executable: tree.executable }),
      env: {
        ...storeEnv,
        ...restoreEnv({ dataDir, defaultsFile: defaults, from: { sourceCluster: "bench" } }),
        ...usageEnv(usageFile, profFlags(`restore-${tree.label}`))
      }
    })
    if (restore.exitCode !== 0) return yield* Effect.die(new Error(`restore failed: ${restore.stdout.slice(-2000)}`))
    const logs = parseLogLines(restore.stdout) as Array<{ message?: unknown; timestamp?: string }>
    const at = (message: string) => {
      const line = logs.find((l) => (Array.isArray(l.message) ? l.message[0] : l.message) === message)
      return Date.parse(line?.timestamp ?? "")
    }
    const usage = yield* Effect.promise(() => readUsage(usageFile))
    const list = restoreRuns.get(tree.label) ?? []
    list.push({
      millis: at("backup downloaded, verified and extracted") - at("restoring backup"),
      cpu: usage.cpuSeconds,
      rssMiB: usage.peakRssMiB
    })
    restoreRuns.set(tree.label, list)
    note(`    restore ${perGiB(usage.cpuSeconds, size)} CPU-s/GiB, peak RSS ${Math.round(usage.peakRssMiB)} MiB`)
    yield* Effect.promise(() => rm(restoreParent, { recursive: true, force: true }))
  }
  for (const [label, list] of restoreRuns) {
    restores.set(label, {
      millis: median(list.map((r) => r.millis)),
      cpu: median(list.map((r) => r.cpu)),
      rssMiB: Math.max(...list.map((r) => r.rssMiB))
    })
  }

  let localMillis = Number.NaN
  let archiveBytes = 0
  if (phases.has("local")) {
    note("local: mbstream -x < file")
    const archiveFile = join(dir, "archive.xbstream")
    yield* Effect.promise(() => shell(`${backupCommand} > ${archiveFile}`))
    archiveBytes = Number((yield* Effect.promise(() => shell(`stat -c %s ${archiveFile}`))).stdout.trim())
    const extractDir = join(dir, "local-extract")
    yield* Effect.promise(() => mkdir(extractDir))
    const local = yield* Effect.promise(() => timed(() => shell(`mbstream -x -C ${extractDir} < ${archiveFile}`)))
    localMillis = local.millis
  }

  const orNull = (n: number): number | null => (Number.isFinite(n) ? n : null)
  const restored = restores.get(first.label)
  const backupMbps = mbps(size, middle.millis)
  const sourceMbps = orNull(mbps(sourceBytes, sourceMillis))
  const sinkMbps = orNull(mbps(size, sinkMillis))
  const restoreMbps = restored === undefined ? null : orNull(mbps(size, restored.millis))
  const localMbps = orNull(mbps(archiveBytes, localMillis))
  const ratio = (a: number | null, bounds: ReadonlyArray<number | null>): number | null => {
    const known = bounds.filter((b): b is number => b !== null)
    return a === null || known.length === 0 ? null : Math.round((a / Math.min(...known)) * 100) / 100
  }
  const figures = (label: string) => {
    const m = middleOf(label)
    const r = restores.get(label)
    const s = startups.get(label)
    return {
      backup_mbps: m === undefined ? null : mbps(size, m.millis),
      worker_cpu_s_per_gib: m === undefined ? null : perGiB(m.workerCpu, size),
      worker_cpu_s_runs: (runs.get(label) ?? []).map((run) => Math.round(run.workerCpu * 100) / 100),
      instance_cpu_s_per_gib: m === undefined ? null : perGiB(m.instanceCpu, size),
      restore_cpu_s_per_gib: r === undefined ? null : perGiB(r.cpu, size),
      restore_mbps: r === undefined ? null : orNull(mbps(size, r.millis)),
      worker_startup_cpu_s: s === undefined ? null : Math.round(s.worker * 100) / 100,
      restore_startup_cpu_s: s === undefined ? null : Math.round(s.restore * 100) / 100,
      worker_peak_rss_mib: m === undefined ? null : Math.round(m.workerRssMiB),
      restore_peak_rss_mib: r === undefined ? null : Math.round(r.rssMiB)
    }
  }
  const main = figures(first.label)
  return {
    database_bytes: databaseBytes,
    s3_tls: s3Tls,
    archive_bytes: size,
    runs: repeat,
    backup_mbps: backupMbps,
    source_only_mbps: sourceMbps,
    sink_only_mbps: sinkMbps,
    sink_only_cpu_s_per_gib: orNull(perGiB(sinkCpu, size)),
    backup_vs_bound: ratio(backupMbps, [sourceMbps, sinkMbps]),
    rclone_mbps: rcloneMbps,
    restore_mbps: restoreMbps,
    local_extract_mbps: localMbps,
    restore_vs_bound: ratio(restoreMbps, [localMbps]),
    worker_cpu_s_per_gib: main.worker_cpu_s_per_gib,
    worker_cpu_s_runs: main.worker_cpu_s_runs,
    instance_cpu_s_per_gib: main.instance_cpu_s_per_gib,
    restore_cpu_s_per_gib: main.restore_cpu_s_per_gib,
    worker_startup_cpu_s: main.worker_startup_cpu_s,
    restore_startup_cpu_s: main.restore_startup_cpu_s,
    floor_cpu_s_per_gib: floor.total,
    floor_sha256_cpu_s_per_gib: floor.sha256,
    floor_aes_gcm_cpu_s_per_gib: floor.aes256gcm,
    floor_node_sha256_cpu_s_per_gib: floor.nodeSha256,
    worker_peak_rss_mib: main.worker_peak_rss_mib,
    worker_rss_bound_mib: 64 + (uploadConcurrency + 2) * firstPartMiB,
    restore_peak_rss_mib: main.restore_peak_rss_mib,
    ...(trees.length > 1 ? { variants: Object.fromEntries(trees.map((t) => [t.label, figures(t.label)])) } : {})
  }
}).pipe(Effect.scoped)

const output = await Effect.runPromise(bench)
process.stdout.write(`${JSON.stringify(output)}\n`)
process.exit(0)
