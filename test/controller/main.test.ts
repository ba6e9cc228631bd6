/**
 * `cloudnative-mysql controller` as processes against the fake API server over HTTP: probes and metrics,
 * leader election between two replicas (the second waits, ready as a follower), graceful SIGTERM releasing
 * the Lease so the follower takes over at once.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { FakeApiServer } from "../../src/sandbox/FakeApiServer.ts"
import { FakeCluster } from "../../src/sandbox/FakeCluster.ts"
import { parseExposition, sampleOf } from "../support/prometheus.ts"

const executable = join(import.meta.dirname, "..", "..", "bin", "cloudnative-mysql.js")

interface Replica {
  readonly child: ChildProcess
  readonly probe: string
  readonly metrics: string
  readonly output: () => string
  readonly exited: Promise<number>
}

/** Starts a controller replica and resolves once both listeners logged their addresses. */
const startReplica = (kubeconfig: string, name: string) =>
  Effect.acquireRelease(
    Effect.callback<Replica, Error>((resume) => {
      const child = spawn(
        process.execPath,
        [
          executable,
          "controller",
          "--kubeconfig",
          kubeconfig,
          "--probe-address",
          "127.0.0.1:0",
          "--metrics-address",
          "127.0.0.1:0",
          "--leader-election-namespace",
          "default"
        ],
        { env: { ...process.env, POD_NAME: name, KUBECONFIG: "" }, stdio: ["ignore", "pipe", "pipe"] }
      )
      let output = ""
      const addresses: Record<string, string> = {}
      const exited = new Promise<number>((resolve) => child.once("exit", (code) => resolve(code ?? -1)))
      let resumed = false
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString("utf8")
        for (const line of output.split("\n")) {
          if (!line.includes('"listening"')) continue
          const [, fields] = (JSON.parse(line) as { message: [string, { server: string; address: string }] }).message
          addresses[fields.server] = fields.address
        }
        if (!resumed && addresses.probe !== undefined && addresses.metrics !== undefined) {
          resumed = true
          resume(
            Effect.succeed({
              child,
              probe: `http://${addresses.probe}`,
              metrics: `http://${addresses.metrics}`,
              output: () => output,
              exited
            })
          )
        }
      })
      child.stderr.on("data", (chunk: Buffer) => {
        output += chunk.toString("utf8")
      })
      void exited.then((code) => {
        if (!resumed) resume(Effect.fail(new Error(`controller exited ${code} before listening:\n${output}`)))
      })
    }).pipe(Effect.timeout("30 seconds")),
    (replica) => Effect.sync(() => replica.child.exitCode === null && replica.child.kill("SIGKILL"))
  )

const get = (url: string) =>
  Effect.tryPromise(async () => {
    const response = await fetch(url)
    return { status: response.status, text: await response.text() }
  })

/** Polls until `check` holds (up to 20 s). */
const eventually = <A>(effect: Effect.Effect<A, unknown>, check: (a: A) => boolean, what: string) =>
  effect.pipe(
    Effect.flatMap((a) => (check(a) ? Effect.succeed(a) : Effect.fail(new Error(`not yet: ${what}`)))),
    Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 200 })
  )

describe("cloudnative-mysql controller (process)", () => {
  it.live(
    "serves probes and metrics, elects one leader, and hands the Lease over on SIGTERM",
    () =>
      Effect.gen(function* () {
        const server = yield* FakeApiServer
        const fake = yield* FakeCluster
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "cnm-controller-"))),
          (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
        )
        const kubeconfig = yield* server.writeKubeconfig(join(dir, "config"))
        const leaseRef = { group: "coordination.k8s.io", version: "v1", plural: "leases", namespace: "default" }
        const holder = Effect.map(
          fake.get(leaseRef, "cloudnative-mysql-controller"),
          (lease) => ((lease as { spec?: { holderIdentity?: string } }).spec?.holderIdentity ?? "") as string
        )

        // two finished Backups of Cluster db/c (the Cluster need not exist: a finished Backup is final)
        const backupsRef = {
          group: "mysql.cloudnative-mysql.io",
          version: "v1alpha1",
          plural: "backups",
          namespace: "db"
        }
        const finished = (name: string, status: Record<string, unknown>) =>
          Effect.gen(function* () {
            yield* fake.create(backupsRef, {
              apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
              kind: "Backup",
              metadata: { namespace: "db", name },
              spec: { cluster: { name: "c" } }
            })
            yield* fake.statusMergePatch(backupsRef, name, { status })
          })
        yield* finished("good", {
          phase: "completed",
          size: 4096,
          startedAt: "2026-12-01T00:00:00Z",
          stoppedAt: "2026-12-01T00:01:30Z"
        })
        yield* finished("bad", { phase: "failed", error: "boom", stoppedAt: "2026-12-01T02:00:00Z" })

        const first = yield* startReplica(kubeconfig, "first")
        assert.strictEqual((yield* get(`${first.probe}/healthz`)).status, 200)
        yield* eventually(get(`${first.probe}/readyz`), (r) => r.status === 200, "first ready")
        yield* eventually(holder, (h) => h.startsWith("first_"), "first holds the lease")
        const metrics = yield* get(`${first.metrics}/metrics`)
        assert.include(metrics.text, 'leader_election_master_status{name="cloudnative-mysql-controller"} 1')
        assert.match(metrics.text, /controller_cached_objects\{kind="backups"\} 2/u)
        assert.match(metrics.text, /process_resident_memory_bytes \d+/u)
        // parsed as Prometheus parses it: the per-Cluster backup gauges, from the Backups' status
        const families = parseExposition(metrics.text)
        const cluster = { namespace: "db", cluster: "c" }
        assert.strictEqual(
          sampleOf(families, "cnmysql_backup_last_success_timestamp_seconds", cluster),
          Date.parse("2026-12-01T00:01:30Z") / 1000
        )
        assert.strictEqual(
          sampleOf(families, "cnmysql_backup_last_failure_timestamp_seconds", cluster),
          Date.parse("2026-12-01T02:00:00Z") / 1000
        )
        assert.strictEqual(sampleOf(families, "cnmysql_backup_last_success_size_bytes", cluster), 4096)
        assert.strictEqual(sampleOf(families, "cnmysql_backup_last_success_duration_seconds", cluster), 90)
        assert.strictEqual(families.get("controller_reconcile_total")?.type, "COUNTER")
        assert.strictEqual((yield* get(`${first.probe}/nothing`)).status, 404)

        const second = yield* startReplica(kubeconfig, "second")
        yield* eventually(get(`${second.probe}/readyz`), (r) => r.status === 200, "second ready as a follower")
        const standby = yield* get(`${second.metrics}/metrics`)
        assert.include(standby.text, 'leader_election_master_status{name="cloudnative-mysql-controller"} 0')

        first.child.kill("SIGTERM")
        const code = yield* Effect.promise(() => first.exited)
        assert.strictEqual(code, 0, first.output())
        // released on the way out, so the follower need not wait for the 15 s lease to expire
        yield* eventually(holder, (h) => h.startsWith("second_"), "second takes over")
        const leading = yield* eventually(
          get(`${second.metrics}/metrics`),
          (r) => r.text.includes('leader_election_master_status{name="cloudnative-mysql-controller"} 1'),
          "second leads"
        )
        assert.include(leading.text, "leader_election_master_status")
        assert.include(first.output(), "acquired leadership")
      }).pipe(Effect.provide(FakeApiServer.layerTest)),
    120_000
  )
})
