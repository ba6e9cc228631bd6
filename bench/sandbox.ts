/**
 * The sandbox node under load (issue 9): the whole sandbox in this process (fake API server, controllers, node
 * agent), driven with the real `kubectl`.
 *
 * - `pods_to_succeeded_ms`: `kubectl apply` of 20 trivial Pods (the operator image running `--help`, each a
 *   Node 24 start-up) until all 20 are `Succeeded`;
 * - `pod_overhead_ms`: for one Pod running `true` (no start-up cost of its own), create → `Succeeded`, median
 *   of 5 in a row: what the node adds per Pod (binding, IP, volumes, namespaces, root, status writes);
 * - `job_to_complete_ms`: a Job running `cloudnative-mysql --help` from create to its `Complete` condition;
 * - `idle_cpu_percent`: this process's CPU (node agent + API server + controllers) over 10 s with 20 Pods
 *   Running (no probes) and nothing changing, as % of one core; `idle_cpu_percent_with_probes` the same with a
 *   1 s exec readiness probe in each Pod.
 *
 * Run: `npm run bench:sandbox`. The last line is the JSON result.
 */
import { execFile } from "node:child_process"
import { availableParallelism } from "node:os"
import { Clock, Effect } from "effect"
import { FakeCluster } from "../src/sandbox/FakeCluster.ts"
import { Sandbox } from "../src/sandbox/Sandbox.ts"

const image = "ghcr.io/cloudnative-mysql/cloudnative-mysql:0.1.0"
const podsRef = { group: "", version: "v1", plural: "pods", namespace: "default" }

const pod = (name: string, command: ReadonlyArray<string>, extra: object = {}) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, labels: { bench: "sandbox" } },
  spec: {
    restartPolicy: "Never",
    terminationGracePeriodSeconds: 1,
    containers: [{ name: "main", image, command, ...extra }]
  }
})

const kubectl = (kubeconfig: string, args: ReadonlyArray<string>, stdin?: string) =>
  Effect.callback<string>((resume) => {
    const child = execFile(
      "kubectl",
      [...args],
      { env: { ...process.env, KUBECONFIG: kubeconfig } },
      (error, stdout, stderr) =>
        resume(error === null ? Effect.succeed(stdout) : Effect.die(new Error(`kubectl ${args.join(" ")}: ${stderr}`)))
    )
    child.stdin?.end(stdin ?? "")
  })

/** Waits until every Pod matching the names has `phase`, polling the store (no HTTP in the measurement loop). */
const untilPhase = (names: ReadonlyArray<string>, phase: string, ready = false) =>
  Effect.gen(function* () {
    const cluster = yield* FakeCluster
    for (;;) {
      const list = yield* Effect.orDie(cluster.list(podsRef, { labelSelector: "bench=sandbox" }))
      const done = list.items.filter((item) => {
        const status = item.status as
          | { phase?: string; conditions?: Array<{ type: string; status: string }> }
          | undefined
        if (!names.includes(item.metadata.name ?? "") || status?.phase !== phase) return false
        return !ready || (status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True")
      })
      if (done.length === names.length) return
      yield* Effect.sleep("20 millis")
    }
  })

const removeAll = (kubeconfig: string) =>
  Effect.gen(function* () {
    yield* kubectl(kubeconfig, ["delete", "pods", "-l", "bench=sandbox", "--grace-period=1", "--wait=true"])
  })

const cpuPercentOver = (millis: number) =>
  Effect.gen(function* () {
    const before = process.cpuUsage()
    yield* Effect.sleep(`${millis} millis`)
    const used = process.cpuUsage(before)
    return Math.round(((used.user + used.system) / 1000 / millis) * 1000) / 10
  })

const program = Effect.gen(function* () {
  const sandbox = yield* Sandbox
  const kubeconfig = sandbox.kubeconfig
  const now = Clock.currentTimeMillis

  const names = Array.from({ length: 20 }, (_, index) => `trivial-${index}`)
  const manifests = names.map((name) => JSON.stringify(pod(name, ["cloudnative-mysql", "--help"]))).join("\n")
  const start = yield* now
  yield* kubectl(kubeconfig, ["apply", "-f", "-"], manifests)
  yield* untilPhase(names, "Succeeded")
  const podsToSucceeded = (yield* now) - start
  yield* removeAll(kubeconfig)

  const overheads: Array<number> = []
  for (let run = 0; run < 5; run++) {
    const name = `overhead-${run}`
    const cluster = yield* FakeCluster
    const created = yield* now
    yield* Effect.orDie(cluster.create(podsRef, pod(name, ["true"])))
    yield* untilPhase([name], "Succeeded")
    overheads.push((yield* now) - created)
  }
  overheads.sort((a, b) => a - b)
  yield* removeAll(kubeconfig)

  const jobStart = yield* now
  yield* kubectl(
    kubeconfig,
    ["apply", "-f", "-"],
    JSON.stringify({
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "bench-job" },
      spec: {
        backoffLimit: 0,
        template: {
          spec: {
            restartPolicy: "Never",
            containers: [{ name: "main", image, command: ["cloudnative-mysql", "--help"] }]
          }
        }
      }
    })
  )
  yield* kubectl(kubeconfig, ["wait", "--for=condition=complete", "job/bench-job", "--timeout=60s"])
  const jobToComplete = (yield* now) - jobStart

  const sleepers = Array.from({ length: 20 }, (_, index) => `sleeper-${index}`)
  yield* kubectl(
    kubeconfig,
    ["apply", "-f", "-"],
    sleepers.map((name) => JSON.stringify(pod(name, ["sleep", "3600"]))).join("\n")
  )
  yield* untilPhase(sleepers, "Running")
  yield* Effect.sleep("1 second")
  const idle = yield* cpuPercentOver(10_000)
  yield* removeAll(kubeconfig)

  const probed = Array.from({ length: 20 }, (_, index) => `probed-${index}`)
  const probe = { readinessProbe: { exec: { command: ["true"] }, periodSeconds: 1 } }
  yield* kubectl(
    kubeconfig,
    ["apply", "-f", "-"],
    probed.map((name) => JSON.stringify(pod(name, ["sleep", "3600"], probe))).join("\n")
  )
  yield* untilPhase(probed, "Running", true)
  yield* Effect.sleep("1 second")
  const idleWithProbes = yield* cpuPercentOver(10_000)
  yield* removeAll(kubeconfig)

  const result = {
    bench: "sandbox",
    pods: 20,
    pods_to_succeeded_ms: podsToSucceeded,
    pod_overhead_ms: overheads[2],
    pod_overhead_ms_runs: overheads,
    job_to_complete_ms: jobToComplete,
    idle_cpu_percent: idle,
    idle_cpu_percent_with_probes: idleWithProbes,
    cores: availableParallelism()
  }
  process.stdout.write(`${JSON.stringify(result)}\n`)
})

await Effect.runPromise(
  program.pipe(Effect.provide(Sandbox.layer({ objectStore: "none", node: { shutdownGraceSeconds: 1 } })), Effect.scoped)
)
