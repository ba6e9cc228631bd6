/**
 * Controller-side throughput of the Kubernetes layer: two reflectors (Backups, Jobs) over the live client-node
 * `KubeApi` against the fake API server, feeding one work queue with a no-op reconcile.
 *
 * Half of the 1,000 Backups and 1,000 Jobs exist before the reflectors start (they arrive through the list),
 * half are created in the fake's store while the reflectors run (they arrive through the watches).
 * `drain_seconds` runs from starting the reflectors to the last of the 2,000 keys being reconciled.
 * `idle_cpu_percent` is this process's CPU over 10 s after draining (watches open, nothing changing).
 * The fake API server runs in this process, so `peak_rss_mib` includes it.
 *
 * Run: `npm run bench:kube` (BENCH_OBJECTS=200 for a quick run). The last line is the JSON result.
 */
import { Deferred, Effect, Stream } from "effect"
import { makeReflector } from "../src/kube/Reflector.ts"
import { type Job, Resources } from "../src/kube/resources.ts"
import { makeWorkQueue } from "../src/kube/WorkQueue.ts"
import { FakeCluster } from "../src/sandbox/FakeCluster.ts"
import { layerLiveOnFakeServer } from "../src/sandbox/KubeApiFake.ts"

const perKind = Number(process.env.BENCH_OBJECTS ?? "1000")
const namespace = "bench"

const backup = (i: number) => ({
  apiVersion: "mysql.cloudnative-mysql.io/v1alpha1" as const,
  kind: "Backup" as const,
  metadata: { namespace, name: `backup-${i}` },
  spec: { cluster: { name: "main" }, method: "xtrabackup" as const, target: "prefer-standby" as const, online: true }
})

const job = (i: number): Job => ({
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { namespace, name: `backup-job-${i}` },
  spec: {
    template: { spec: { restartPolicy: "Never", containers: [{ name: "backup", image: "cloudnative-mysql:dev" }] } },
    backoffLimit: 0
  }
})

const backupsRef = { group: "mysql.cloudnative-mysql.io", version: "v1alpha1", plural: "backups", namespace }
const jobsRef = { group: "batch", version: "v1", plural: "jobs", namespace }

/** Creates objects in the store directly: the bench measures the controller side, not POST throughput. */
const createRange = (from: number, to: number) =>
  Effect.gen(function* () {
    const cluster = yield* FakeCluster
    for (let i = from; i < to; i++) {
      yield* cluster.create(backupsRef, backup(i))
      yield* cluster.create(jobsRef, job(i))
    }
  })

const program = Effect.gen(function* () {
  const half = Math.floor(perKind / 2)
  yield* createRange(0, half)

  const expected = perKind * 2
  const reconciled = new Set<string>()
  const drained = yield* Deferred.make<void>()
  const queue = yield* makeWorkQueue({
    workers: 4,
    reconcile: (key) =>
      Effect.suspend(() => {
        reconciled.add(key)
        return reconciled.size === expected ? Deferred.succeed(drained, undefined) : Effect.void
      })
  })
  const started = performance.now()
  const backups = yield* makeReflector({ resource: Resources.backups, namespace })
  const jobs = yield* makeReflector({ resource: Resources.jobs, namespace })
  yield* Effect.forkScoped(Stream.runForEach(backups.events, (event) => queue.add(`Backup:${event.key}`)))
  yield* Effect.forkScoped(Stream.runForEach(jobs.events, (event) => queue.add(`Job:${event.key}`)))
  yield* backups.cache.synced
  yield* jobs.cache.synced
  yield* createRange(half, perKind)
  yield* Deferred.await(drained)
  const drainSeconds = (performance.now() - started) / 1000

  const cpuBefore = process.cpuUsage()
  const idleStarted = performance.now()
  yield* Effect.sleep("10 seconds")
  const cpu = process.cpuUsage(cpuBefore)
  const idleCpuPercent = ((cpu.user + cpu.system) / 1000 / (performance.now() - idleStarted)) * 100

  const result = {
    objects: expected,
    via_list: half * 2,
    via_watch: (perKind - half) * 2,
    drain_seconds: Number(drainSeconds.toFixed(3)),
    peak_rss_mib: Number((process.resourceUsage().maxRSS / 1024).toFixed(1)),
    idle_cpu_percent: Number(idleCpuPercent.toFixed(2)),
    cached: { backups: yield* backups.cache.size, jobs: yield* jobs.cache.size }
  }
  console.log(JSON.stringify(result))
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(layerLiveOnFakeServer))).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
