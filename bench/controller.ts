/**
 * `npm run bench:controller`: the controller-manager as a real process against the fake API server over HTTP,
 * 1,000 Backups across 100 Clusters, with the Job simulator (in this process, on the server's store) starting
 * each backup Job as soon as it appears and completing it with a worker's termination message.
 *
 * - `seconds_to_all_completed`: from creating the first Backup to the last one `completed`;
 * - `writes_per_backup`: the controller's create/update/patch/delete requests in the server's audit log (Lease
 *   renewals excluded, broken down by resource at completion), divided by the Backups, once its background
 *   Events have drained (`…_at_completion`: when the last Backup completed); `requests_per_backup` counts reads;
 * - memory is read after a full, compacting collection in the controller (`HeapProfiler.collectGarbage` over the
 *   DevTools protocol: the controller runs with `--inspect=127.0.0.1:0`, `support/inspector.ts`), so garbage the
 *   collector has not reached yet does not count: `rss_empty_mib` once synced with nothing to do, `rss_full_mib`
 *   with every object cached (Backups, Jobs, Pods, Clusters) after the idle period, `rss_peak_mib` the highest
 *   resident set of the run (`VmHWM`);
 * - `rss_bytes_per_object`, `heap_used_bytes_per_object`: growth of the resident set and of the V8 heap in use
 *   from the empty to the full state, divided by the tracked objects; `heap_before_gc_bytes_per_object`: the
 *   same for the heap as it was before that collection (mostly the burst's garbage);
 * - `rss_bytes_per_added_object`, `heap_used_bytes_per_added_object`: the growth over a second round of as many
 *   Backups on the warm controller, divided by the objects it added: the marginal cost of tracking more objects,
 *   without the first round's one-time costs (code compiled on first use, connection pools, allocator arenas);
 * - `memory_mib`: at each reading, where the controller's memory is (`process.memoryUsage()` and each V8 heap
 *   space's committed and used size), to tell live data from what V8 keeps committed or code;
 * - `cache_retained_bytes_per_object`: what the shared caches alone retain per object, measured in this process
 *   on the same store after forced GCs (`--expose-gc`, which the npm script passes);
 * - `idle_cpu_percent`: the controller's CPU time over 10 s after everything completed, as a share of one core.
 *
 * Other processes share this machine's cores: CPU-seconds are more telling than wall time. The last line is the
 * JSON result. `BENCH_BACKUPS=200` for a quick run; `BENCH_CONTROLLER_NODE_ARGS` passes Node options to the
 * controller (`--cpu-prof --cpu-prof-dir=DIR` for a profile); `BENCH_HEAP_SNAPSHOT=PREFIX` writes the controller's
 * heap at each memory reading to `PREFIX-{empty,full,second}.heapsnapshot` (Chrome DevTools' Memory tab reads
 * them; taking one inflates the RSS read after it, so the memory figures of such a run are not comparable).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer, Stream } from "effect"
import type { WorkerResult } from "../src/api/jobs.ts"
import { Caches } from "../src/controller/Caches.ts"
import { FakeApiServer } from "../src/sandbox/FakeApiServer.ts"
import { FakeCluster } from "../src/sandbox/FakeCluster.ts"
import { layerFake } from "../src/sandbox/KubeApiFake.ts"
import { connectInspector, inspectorUrl } from "./support/inspector.ts"

const backupCount = Number(process.env.BENCH_BACKUPS ?? "1000")
const clusterCount = Math.max(1, Math.round(backupCount / 10))
const namespace = "bench"
const group = "mysql.cloudnative-mysql.io"
const ref = (plural: string, g = group, version = "v1alpha1") => ({ group: g, version, plural, namespace })
const clustersRef = ref("clusters")
const backupsRef = ref("backups")
const jobsRef = ref("jobs", "batch", "v1")

const executable = join(import.meta.dirname, "..", "bin", "cloudnative-mysql.js")

/** The process's CPU time, resident set and peak resident set (`VmHWM`), from one read of each /proc file. */
const procStat = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? []
  const ticks = Number(fields[11]) + Number(fields[12])
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`, "u").exec(status)?.[1] ?? 0) * 1024
  return { cpuSeconds: ticks / 100, rss: kib("VmRSS"), peakRss: kib("VmHWM") }
}

/**
 * Where the controller's memory is, in MiB: `process.memoryUsage()` (heap committed and used, external, array
 * buffers) and each V8 heap space's committed and used size, read in the controller over the DevTools session.
 */
const memoryBreakdown = `(() => {
  const mib = (bytes) => Number((bytes / 2 ** 20).toFixed(1))
  const usage = process.memoryUsage()
  const spaces = {}
  for (const s of process.getBuiltinModule("node:v8").getHeapSpaceStatistics()) {
    spaces[s.space_name] = { committed: mib(s.physical_space_size), used: mib(s.space_used_size) }
  }
  return {
    heap_committed: mib(usage.heapTotal), heap_used: mib(usage.heapUsed), external: mib(usage.external),
    array_buffers: mib(usage.arrayBuffers), spaces
  }
})()`

const waitFor = <A>(what: string, poll: Effect.Effect<A | undefined>, timeoutMillis = 600_000) =>
  Effect.gen(function* () {
    const started = Date.now()
    while (true) {
      const value = yield* poll
      if (value !== undefined) return value
      if (Date.now() - started > timeoutMillis) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep("1 second")
    }
  })

const result = (backupId: string, cluster: string, name: string): WorkerResult => ({
  backupId: backupId as WorkerResult["backupId"],
  archiveKey: `${cluster}/${name}/${backupId}/backup.xbstream`,
  metadataKey: `${cluster}/${name}/${backupId}/metadata.json`,
  sha256: "0".repeat(64),
  size: 1 << 30,
  tool: "mariabackup",
  toolVersion: "10.11",
  beginGTID: "0-1-1",
  endGTID: "0-1-2",
  beginBinlog: { file: "mysql-bin.000001", position: 4 },
  endBinlog: { file: "mysql-bin.000001", position: 400 },
  startedAt: "2026-12-01T00:00:00Z",
  stoppedAt: "2026-12-01T00:10:00Z"
})

const program = Effect.gen(function* () {
  const server = yield* FakeApiServer
  const fake = yield* FakeCluster
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "bench-controller-"))),
    (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
  )
  const kubeconfig = yield* server.writeKubeconfig(join(dir, "config"))
  for (let c = 0; c < clusterCount; c++) {
    const name = `c${c}`
    const created = yield* fake.create(clustersRef, {
      apiVersion: `${group}/v1alpha1`,
      kind: "Cluster",
      metadata: { namespace, name },
      spec: {
        instances: 2,
        imageName: "ghcr.io/cloudnative-mysql/cloudnative-mysql-instance:mariadb-10.11",
        storage: { size: "1Gi" },
        backup: {
          objectStore: {
            bucket: "backups",
            credentials: { accessKeyId: { name: "s3", key: "id" }, secretAccessKey: { name: "s3", key: "secret" } }
          }
        }
      }
    })
    yield* fake.statusMergePatch(clustersRef, name, {
      metadata: { resourceVersion: created.metadata.resourceVersion },
      status: {
        currentPrimary: `${name}-1`,
        instanceStatuses: [
          { name: `${name}-1`, role: "primary", ready: true, podIP: "127.0.20.1" },
          { name: `${name}-2`, role: "replica", ready: true, podIP: "127.0.20.2", lagSeconds: 0 }
        ]
      }
    })
  }

  const child: ChildProcess = yield* Effect.acquireRelease(
    Effect.sync(() =>
      spawn(
        process.execPath,
        [
          // the bench's DevTools session forces full collections before it reads the controller's memory
          "--inspect=127.0.0.1:0",
          // e.g. BENCH_CONTROLLER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the controller under this load
          ...(process.env.BENCH_CONTROLLER_NODE_ARGS ?? "").split(" ").filter((arg) => arg !== ""),
          executable,
          "controller",
          "--kubeconfig",
          kubeconfig,
          "--probe-address",
          "127.0.0.1:0",
          "--metrics-address",
          "127.0.0.1:0",
          "--leader-election-namespace",
          namespace,
          // the bench's Clusters have no Pods: the Cluster controller would report them not ready (and it is
          // not what this bench measures)
          "--controllers",
          "backup,scheduled-backup"
        ],
        { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, KUBECONFIG: "" } }
      )
    ),
    (c) => Effect.sync(() => c.kill("SIGKILL"))
  )
  let log = ""
  child.stdout?.on("data", (chunk: Buffer) => {
    log = (log + chunk.toString("utf8")).slice(-100_000)
    if (process.env.BENCH_LOG !== undefined) appendFileSync(process.env.BENCH_LOG, chunk)
  })
  let errors = ""
  child.stderr?.on("data", (chunk: Buffer) => {
    if (inspectorUrl(errors) === undefined) errors += chunk.toString("utf8")
    process.stderr.write(chunk)
  })
  const pid = child.pid ?? 0
  yield* waitFor(
    "the controller to lead",
    Effect.sync(() => (log.includes("controller started") ? true : undefined)),
    60_000
  )
  yield* Effect.sleep("2 seconds")
  const metricsUrl = `http://${/"server":"metrics","address":"([^"]+)"/u.exec(log)?.[1] ?? ""}/metrics`
  const url = yield* waitFor(
    "the controller's inspector",
    Effect.sync(() => inspectorUrl(errors)),
    10_000
  )
  const inspector = yield* Effect.acquireRelease(
    Effect.promise(() => connectInspector(url)),
    (session) => Effect.sync(() => session.close())
  )
  const snapshots = process.env.BENCH_HEAP_SNAPSHOT
  /** The controller's heap in use before and after a full collection, and its RSS after it. */
  const settledMemory = (state: "empty" | "full" | "second") =>
    Effect.promise(async () => {
      const heapBeforeGc = await inspector.heapUsedBytes()
      await inspector.collectGarbage()
      const heap = await inspector.heapUsedBytes()
      const { rss } = procStat(pid)
      const breakdown = await inspector.evaluate(memoryBreakdown)
      if (snapshots !== undefined) await inspector.writeHeapSnapshot(`${snapshots}-${state}.heapsnapshot`)
      return { heapBeforeGc, heap, rss, breakdown }
    })
  const empty = yield* settledMemory("empty")

  // the Job simulator: start and complete every backup Job as soon as it appears
  yield* fake.watch(jobsRef).pipe(
    Stream.filter((event) => event.type === "ADDED"),
    Stream.runForEach((event) =>
      Effect.gen(function* () {
        const job = event.object
        const name = job.metadata.name ?? ""
        const backupId = job.metadata.annotations?.["cloudnative-mysql.io/backup-id"] ?? ""
        const backup = job.metadata.ownerReferences?.[0]?.name ?? ""
        const cluster = job.metadata.labels?.["cloudnative-mysql.io/cluster"] ?? ""
        yield* fake.jobs.start(namespace, name)
        yield* fake.jobs.finish(namespace, name, {
          result: "succeeded",
          terminationMessage: JSON.stringify(result(backupId, cluster, backup))
        })
      }).pipe(Effect.orDie)
    ),
    Effect.forkScoped
  )

  const createBackups = (from: number, to: number) =>
    Effect.gen(function* () {
      for (let i = from; i < to; i++) {
        yield* fake.create(backupsRef, {
          apiVersion: `${group}/v1alpha1`,
          kind: "Backup",
          metadata: { namespace, name: `b${i}` },
          spec: { cluster: { name: `c${i % clusterCount}` } }
        })
      }
    })
  let polls = 0
  const allCompleted = waitFor(
    "every Backup completed",
    Effect.map(fake.list(backupsRef), (list) => {
      const phases: Record<string, number> = {}
      for (const b of list.items) {
        const status = (b as { status?: { phase?: string; reason?: string } }).status
        const phase = `${status?.phase ?? "none"}${status?.reason === undefined ? "" : `/${status.reason}`}`
        phases[phase] = (phases[phase] ?? 0) + 1
      }
      // progress on stderr (the JSON result stays the last stdout line), so a stuck run shows where it is stuck
      if (++polls % 10 === 0) console.error(JSON.stringify({ waiting_seconds: polls, phases }))
      return phases.completed === list.items.length ? true : undefined
    }).pipe(Effect.orDie)
  )

  yield* fake.clearAudit
  const started = performance.now()
  const cpuBefore = procStat(pid).cpuSeconds
  const benchCpuBefore = process.cpuUsage()
  yield* createBackups(0, backupCount)
  yield* allCompleted
  const seconds = (performance.now() - started) / 1000
  const benchCpu = process.cpuUsage(benchCpuBefore)
  const busyCpu = procStat(pid).cpuSeconds - cpuBefore
  const audit = (yield* fake.audit).filter((entry) => entry.plural !== "leases")
  const writes = audit.filter((e) => e.verb !== "get" && e.verb !== "list" && e.verb !== "watch")
  // the Backups were created by this benchmark, not by the controller
  const controllerWrites = writes.length - backupCount
  const byResource: Record<string, number> = {}
  for (const e of writes) {
    const key = `${e.verb} ${e.plural}${e.subresource === "" ? "" : `/${e.subresource}`}`
    byResource[key] = (byResource[key] ?? 0) + 1
  }
  byResource[`create backups`] = (byResource[`create backups`] ?? 0) - backupCount
  const failedWrites = writes.filter((e) => e.code >= 400).length

  // Events are written in the background: let them drain before counting and before the idle period
  const eventCreates = Effect.map(
    fake.audit,
    (entries) => entries.filter((e) => e.verb === "create" && e.plural === "events").length
  )
  // unchanged for 3 s in a row: on a loaded machine the writer can pause for a second and still have work left,
  // which the idle period below would then measure
  const eventsDrained = Effect.gen(function* () {
    let drained = yield* eventCreates
    for (let i = 0, quiet = 0; i < 90 && quiet < 3; i++) {
      yield* Effect.sleep("1 second")
      const now = yield* eventCreates
      quiet = now === drained ? quiet + 1 : 0
      drained = now
    }
  })
  yield* eventsDrained
  const finalWrites =
    (yield* fake.audit).filter(
      (e) => e.plural !== "leases" && e.verb !== "get" && e.verb !== "list" && e.verb !== "watch"
    ).length - backupCount
  const objects = clusterCount + backupCount * 3 // each Backup: itself, its Job, its Pod
  const idleStart = procStat(pid)
  yield* Effect.sleep("10 seconds")
  const idleEnd = procStat(pid)
  const full = yield* settledMemory("full")
  const peakRss = procStat(pid).peakRss
  // what the shared caches retain per object, measured in this process where a GC can be forced
  const gc = (globalThis as { gc?: () => void }).gc
  const retainedHeap = (measure: () => number) => {
    gc?.()
    gc?.()
    return measure()
  }
  const heapBefore = retainedHeap(() => process.memoryUsage().heapUsed)
  const cachesHeap = yield* Effect.gen(function* () {
    const caches = yield* Caches
    yield* caches.synced
    yield* Effect.sleep("1 second")
    return retainedHeap(() => process.memoryUsage().heapUsed)
  }).pipe(Effect.provide(Caches.layer().pipe(Layer.provide(layerFake))), Effect.scoped)
  const metricsText = yield* Effect.promise(async () => (await fetch(metricsUrl)).text())
  const sumOf = (pattern: RegExp) =>
    [...metricsText.matchAll(pattern)].reduce((total, match) => total + Number(match[1] ?? 0), 0)
  const reconciles = sumOf(/^controller_reconcile_total\{controller="backup",[^}]*\} (\S+)$/gmu)
  const reconcileSeconds = sumOf(/^controller_reconcile_seconds_total\{controller="backup"\} (\S+)$/gmu)
  // a second round of as many Backups on the warm process: its growth is the marginal cost of tracking more
  // objects, without the first round's one-time costs (code compiled on first use, connection pools, allocator
  // arenas sized for the burst)
  yield* createBackups(backupCount, 2 * backupCount)
  yield* allCompleted
  yield* eventsDrained
  const second = yield* settledMemory("second")
  const added = backupCount * 3
  // a graceful stop, as in a rollout (and the moment a --cpu-prof profile is written)
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  child.kill("SIGTERM")
  yield* Effect.promise(() => exited).pipe(Effect.timeoutOption("20 seconds"))

  return {
    backups: backupCount,
    clusters: clusterCount,
    seconds_to_all_completed: Number(seconds.toFixed(2)),
    controller_cpu_seconds: Number(busyCpu.toFixed(2)),
    api_server_and_simulator_cpu_seconds: Number(((benchCpu.user + benchCpu.system) / 1e6).toFixed(2)),
    writes_per_backup_at_completion: Number((controllerWrites / backupCount).toFixed(2)),
    writes_per_backup: Number((finalWrites / backupCount).toFixed(2)),
    requests_per_backup: Number(((audit.length - backupCount) / backupCount).toFixed(2)),
    failed_writes: failedWrites,
    backup_reconciles: reconciles,
    mean_reconcile_ms: Number(((reconcileSeconds / Math.max(1, reconciles)) * 1000).toFixed(1)),
    writes_by_resource: byResource,
    rss_empty_mib: Number((empty.rss / 2 ** 20).toFixed(1)),
    rss_full_mib: Number((full.rss / 2 ** 20).toFixed(1)),
    rss_peak_mib: Number((peakRss / 2 ** 20).toFixed(1)),
    tracked_objects: objects,
    rss_bytes_per_object: Math.round((full.rss - empty.rss) / objects),
    heap_used_bytes_per_object: Math.round((full.heap - empty.heap) / objects),
    heap_before_gc_bytes_per_object: Math.round((full.heapBeforeGc - empty.heapBeforeGc) / objects),
    rss_bytes_per_added_object: Math.round((second.rss - full.rss) / added),
    heap_used_bytes_per_added_object: Math.round((second.heap - full.heap) / added),
    cache_retained_bytes_per_object: gc === undefined ? null : Math.round((cachesHeap - heapBefore) / objects),
    memory_mib: { empty: empty.breakdown, full: full.breakdown, second: second.breakdown },
    idle_cpu_percent: Number((((idleEnd.cpuSeconds - idleStart.cpuSeconds) / 10) * 100).toFixed(2))
  }
}).pipe(Effect.scoped, Effect.provide(FakeApiServer.layerTest))

const output = await Effect.runPromise(program)
console.log(JSON.stringify(output))
