/**
 * Latency and idle cost of the sandbox's controllers (`SandboxControllers.layer`) on the fake API server
 * over HTTP, with this process playing the kubelet (Pod status through the status subresource).
 *
 * - `job_pod_created_ms`: Job POST → its Pod exists (median and p95 over BENCH_JOBS Jobs, one after another);
 * - `job_completed_ms`: the Pod reported `Succeeded` → the Job has `Complete`;
 * - `deployment_available_ms`: a 3-replica Deployment created → `availableReplicas: 3` (Pods reported ready as
 *   soon as they appear);
 * - `claim_bound_ms`: a PVC created → `Bound` (directory made, PV created);
 * - `idle_cpu_percent`: this process's CPU over 10 s afterwards (every controller's watches open, nothing
 *   changing). The fake API server runs in this process too.
 * Latencies are polled every 5 ms, so they are accurate to about that.
 *
 * Run: `npm run bench:controllers`. The last line is the JSON result.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Fiber, Layer } from "effect"
import { KubeApi } from "../src/kube/KubeApi.ts"
import { Kinds } from "../src/sandbox/controllers/kinds.ts"
import { SandboxControllers } from "../src/sandbox/controllers/SandboxControllers.ts"
import { layerLiveOnFakeServer } from "../src/sandbox/KubeApiFake.ts"

const jobs = Number(process.env.BENCH_JOBS ?? "20")
const namespace = "bench"

const until = <A>(check: Effect.Effect<A | undefined, unknown, KubeApi>) =>
  Effect.gen(function* () {
    for (;;) {
      const value = yield* check
      if (value !== undefined) return value
      yield* Effect.sleep("5 millis")
    }
  })

const elapsed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const started = performance.now()
    const value = yield* effect
    return { value, ms: performance.now() - started }
  })

const summary = (samples: ReadonlyArray<number>) => {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
  return { median: Number(at(0.5).toFixed(1)), p95: Number(at(0.95).toFixed(1)) }
}

const program = Effect.gen(function* () {
  const api = yield* KubeApi
  yield* (yield* SandboxControllers).synced
  const created: Array<number> = []
  const completed: Array<number> = []
  for (let i = 0; i < jobs; i++) {
    const name = `job-${i}`
    const pod = yield* elapsed(
      Effect.andThen(
        api.create(Kinds.jobs, {
          metadata: { namespace, name },
          spec: {
            backoffLimit: 0,
            template: { spec: { restartPolicy: "Never", containers: [{ name: "main", image: "operator" }] } }
          }
        }),
        until(
          Effect.map(api.list(Kinds.pods, { namespace, labelSelector: `job-name=${name}` }), (list) => list.items[0])
        )
      )
    )
    created.push(pod.ms)
    const done = yield* elapsed(
      Effect.andThen(
        api.patchStatus(
          Kinds.pods,
          { namespace, name: pod.value.metadata.name ?? "" },
          { status: { phase: "Succeeded" } }
        ),
        until(
          Effect.map(api.get(Kinds.jobs, { namespace, name }), (job) =>
            job.status?.conditions?.some((condition) => condition.type === "Complete") === true ? true : undefined
          )
        )
      )
    )
    completed.push(done.ms)
  }

  const kubelet = yield* Effect.forkChild(
    Effect.forever(
      Effect.gen(function* () {
        for (const pod of (yield* api.list(Kinds.pods, { namespace, labelSelector: "app=web" })).items) {
          if (pod.status?.phase !== "Pending") continue
          yield* api.patchStatus(
            Kinds.pods,
            { namespace, name: pod.metadata.name ?? "" },
            {
              status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] }
            }
          )
        }
        yield* Effect.sleep("5 millis")
      })
    )
  )
  const rollout = yield* elapsed(
    Effect.andThen(
      api.create(Kinds.deployments, {
        metadata: { namespace, name: "web" },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: "web" } },
          template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "web", image: "operator" }] } }
        }
      }),
      until(
        Effect.map(api.get(Kinds.deployments, { namespace, name: "web" }), (deployment) =>
          deployment.status?.availableReplicas === 3 ? true : undefined
        )
      )
    )
  )
  yield* Fiber.interrupt(kubelet)

  const claim = yield* elapsed(
    Effect.andThen(
      api.create(Kinds.persistentVolumeClaims, {
        metadata: { namespace, name: "data" },
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } }
      }),
      until(
        Effect.map(api.get(Kinds.persistentVolumeClaims, { namespace, name: "data" }), (value) =>
          value.status?.phase === "Bound" ? true : undefined
        )
      )
    )
  )

  const cpuBefore = process.cpuUsage()
  const idleStarted = performance.now()
  yield* Effect.sleep("10 seconds")
  const cpu = process.cpuUsage(cpuBefore)
  const idleCpuPercent = ((cpu.user + cpu.system) / 1000 / (performance.now() - idleStarted)) * 100
  console.log(
    JSON.stringify({
      jobs,
      job_pod_created_ms: summary(created),
      job_completed_ms: summary(completed),
      deployment_available_ms: Number(rollout.ms.toFixed(1)),
      claim_bound_ms: Number(claim.ms.toFixed(1)),
      idle_cpu_percent: Number(idleCpuPercent.toFixed(2)),
      peak_rss_mib: Number((process.resourceUsage().maxRSS / 1024).toFixed(1))
    })
  )
})

const stateDirectory = mkdtempSync(join(tmpdir(), "bench-controllers-"))
const layer = SandboxControllers.layer({ stateDirectory }).pipe(Layer.provideMerge(layerLiveOnFakeServer))
Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(layer))).then(
  () => {
    rmSync(stateDirectory, { recursive: true, force: true })
    process.exit(0)
  },
  (error: unknown) => {
    rmSync(stateDirectory, { recursive: true, force: true })
    console.error(error)
    process.exit(1)
  }
)
