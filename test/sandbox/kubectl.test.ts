/**
 * The real `kubectl` against the fake API server: client-side apply of the spec's sample manifests
 * (`deploy/samples`) and of the CRDs (`deploy/crds`, which the fake serves already), `get` with our CRDs' printer
 * columns, `describe` with Events, `delete`.
 */
import { execFile, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { FakeApiServer } from "../../src/sandbox/FakeApiServer.ts"
import { FakeCluster } from "../../src/sandbox/FakeCluster.ts"

const samples = join(import.meta.dirname, "..", "..", "deploy", "samples")
const crds = join(import.meta.dirname, "..", "..", "deploy", "crds")
const readSample = (file: string): string => readFileSync(join(samples, file), "utf8")

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** A temp kubeconfig for the running server and a `kubectl` runner that uses it. */
const kubectlFor = Effect.gen(function* () {
  const server = yield* FakeApiServer
  const directory = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "sandbox-kubectl-"))),
    (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
  )
  const kubeconfig = yield* server.writeKubeconfig(join(directory, "config"))
  const run = (...args: Array<string>): Effect.Effect<Run> =>
    Effect.callback<Run>((resume) => {
      execFile(
        "kubectl",
        args,
        { env: { ...process.env, KUBECONFIG: kubeconfig, HOME: directory }, timeout: 30_000 },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
          resume(Effect.succeed({ code, stdout, stderr }))
        }
      )
    })
  /** Starts `kubectl get … -w` and resolves with its output once `until` appears in it. */
  const watchUntil = (until: RegExp, ...args: Array<string>): Effect.Effect<string> =>
    Effect.callback<string>((resume) => {
      const child = spawn("kubectl", args, { env: { ...process.env, KUBECONFIG: kubeconfig, HOME: directory } })
      let output = ""
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString("utf8")
        if (until.test(output)) {
          child.kill()
          resume(Effect.succeed(output))
        }
      })
      return Effect.sync(() => child.kill())
    }).pipe(Effect.timeout("15 seconds"), Effect.orDie)
  return { run, watchUntil, directory }
})

const withServer = <A, E, R>(effect: Effect.Effect<A, E, R>) => effect.pipe(Effect.provide(FakeApiServer.layerTest))

const backupsRef = { group: "mysql.cloudnative-mysql.io", version: "v1alpha1", plural: "backups", namespace: "default" }

describe("kubectl against the fake API server", () => {
  it.live("kubectl apply creates the spec's samples; kubectl get backups prints our printer columns", () =>
    withServer(
      Effect.gen(function* () {
        const { run } = yield* kubectlFor
        const applied = yield* run("apply", "-k", samples)
        assert.strictEqual(applied.code, 0, applied.stderr)
        assert.include(applied.stdout, "backup.mysql.cloudnative-mysql.io/backup-sample created")
        assert.include(applied.stdout, "cluster.mysql.cloudnative-mysql.io/restored-cluster created")
        assert.include(applied.stdout, "cluster.mysql.cloudnative-mysql.io/recovered-cluster created")
        const fake = yield* FakeCluster
        yield* fake.statusMergePatch(backupsRef, "backup-sample", {
          status: { phase: "completed", backupId: "20260101T000000Z" }
        })
        const table = yield* run("get", "backups")
        assert.strictEqual(table.code, 0, table.stderr)
        const [header, row] = table.stdout.trim().split("\n")
        assert.deepStrictEqual(header?.split(/\s{2,}/), [
          "NAME",
          "AGE",
          "CLUSTER",
          "METHOD",
          "PHASE",
          "BACKUP ID",
          "ERROR"
        ])
        assert.match(
          row ?? "",
          /^backup-sample\s+\d+s\s+cluster-sample\s+xtrabackup\s+completed\s+20260101T000000Z\s*$/
        )
        const wide = yield* run("get", "backups", "-o", "wide")
        assert.include(wide.stdout.split("\n")[0], "INSTANCE")
        const clusters = yield* run("get", "clusters")
        assert.match(clusters.stdout, /^NAME\s+AGE\s+INSTANCES\s+READY\s+STATUS\s+PRIMARY/)
        assert.include(clusters.stdout, "recovered-cluster")
        const short = yield* run("get", "mbk", "-o", "name")
        assert.strictEqual(short.stdout.trim(), "backup.mysql.cloudnative-mysql.io/backup-sample")
      })
    )
  )

  it.live("kubectl apply again: unchanged, merge-patches a changed Cluster, and reports server-side refusals", () =>
    withServer(
      Effect.gen(function* () {
        const { run, directory } = yield* kubectlFor
        assert.strictEqual((yield* run("apply", "-k", samples)).code, 0)
        const again = yield* run("apply", "-f", join(samples, "cluster-recovery-source.yaml"))
        assert.include(again.stdout, "recovered-cluster unchanged")
        const scaled = join(directory, "scaled.yaml")
        writeFileSync(scaled, readSample("cluster-recovery-source.yaml").replace("instances: 3", "instances: 2"))
        const configured = yield* run("apply", "-f", scaled)
        assert.include(configured.stdout, "recovered-cluster configured")
        const instances = yield* run(
          "get",
          "cluster",
          "recovered-cluster",
          "-o",
          "jsonpath={.spec.instances} {.metadata.generation}"
        )
        assert.strictEqual(instances.stdout, "2 2")
        const changedBackup = join(directory, "backup.yaml")
        writeFileSync(changedBackup, readSample("backup.yaml").replace("online: true", "online: false"))
        const immutable = yield* run("apply", "-f", changedBackup)
        assert.notStrictEqual(immutable.code, 0)
        assert.include(immutable.stderr, "Backup spec is immutable")
        const unknownField = join(directory, "unknown.yaml")
        writeFileSync(
          unknownField,
          readSample("cluster-recovery-source.yaml").replace("instances: 3", "instances: 3\n  replicas: 3")
        )
        const strict = yield* run("apply", "-f", unknownField)
        assert.notStrictEqual(strict.code, 0)
        assert.include(strict.stderr, 'unknown field "spec.replicas"')
        const serverSide = yield* run("apply", "--server-side", "-f", join(samples, "backup.yaml"))
        assert.notStrictEqual(serverSide.code, 0)
        assert.include(serverSide.stderr, "server-side apply is not supported by the fake API server")
      })
    )
  )

  it.live("kubectl apply -k deploy/crds stores the CRDs it serves; a changed one is refused, not half-served", () =>
    withServer(
      Effect.gen(function* () {
        const { run, directory } = yield* kubectlFor
        const applied = yield* run("apply", "-k", crds)
        assert.strictEqual(applied.code, 0, applied.stderr)
        assert.include(
          applied.stdout,
          "customresourcedefinition.apiextensions.k8s.io/clusters.mysql.cloudnative-mysql.io created"
        )
        const again = yield* run("apply", "-k", crds)
        assert.strictEqual(again.code, 0, again.stderr)
        assert.include(again.stdout, "clusters.mysql.cloudnative-mysql.io unchanged")
        const listed = yield* run("get", "crd", "-o", "name")
        assert.deepStrictEqual(listed.stdout.trim().split("\n"), [
          "customresourcedefinition.apiextensions.k8s.io/backups.mysql.cloudnative-mysql.io",
          "customresourcedefinition.apiextensions.k8s.io/clusters.mysql.cloudnative-mysql.io",
          "customresourcedefinition.apiextensions.k8s.io/scheduledbackups.mysql.cloudnative-mysql.io"
        ])

        const changed = readFileSync(join(crds, "backups.yaml"), "utf8").replace(/plural: backups/u, "plural: backupz")
        const file = join(directory, "changed.yaml")
        writeFileSync(file, changed.replace(/name: backups\./u, "name: backupz."))
        const refused = yield* run("apply", "-f", file)
        assert.notStrictEqual(refused.code, 0)
        assert.include(refused.stderr, "the sandbox serves only the CustomResourceDefinitions it started with")
        assert.include(refused.stderr, "backupz.mysql.cloudnative-mysql.io/v1alpha1 is new or differs")
        const discovery = yield* run("api-resources", "--api-group=mysql.cloudnative-mysql.io", "-o", "name")
        assert.notInclude(discovery.stdout, "backupz")
      })
    )
  )

  it.live("kubectl get -w streams Table rows with our printer columns as the status changes", () =>
    withServer(
      Effect.gen(function* () {
        const { run, watchUntil } = yield* kubectlFor
        const fake = yield* FakeCluster
        assert.strictEqual((yield* run("apply", "-f", join(samples, "backup.yaml"))).code, 0)
        const watching = yield* Effect.forkChild(watchUntil(/running/, "get", "backups", "-w"))
        yield* Effect.sleep("1 second")
        yield* fake.statusMergePatch(backupsRef, "backup-sample", { status: { phase: "running" } })
        const output = yield* Fiber.join(watching)
        const lines = output.trim().split("\n")
        assert.match(lines[0] ?? "", /^NAME\s+AGE\s+CLUSTER\s+METHOD\s+PHASE/)
        assert.match(lines[lines.length - 1] ?? "", /^backup-sample\s+\d+s\s+cluster-sample\s+xtrabackup\s+running/)
      })
    )
  )

  it.live("kubectl describe shows the Backup and its Events; kubectl delete removes it", () =>
    withServer(
      Effect.gen(function* () {
        const { run } = yield* kubectlFor
        const fake = yield* FakeCluster
        assert.strictEqual((yield* run("apply", "-f", join(samples, "backup.yaml"))).code, 0)
        const created = yield* fake.get(backupsRef, "backup-sample")
        yield* fake.create(
          { group: "", version: "v1", plural: "events", namespace: "default" },
          {
            metadata: { name: "backup-sample.1" },
            involvedObject: {
              apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
              kind: "Backup",
              namespace: "default",
              name: "backup-sample",
              uid: created.metadata.uid
            },
            reason: "BackupStarted",
            message: "Job backup-sample-backup created",
            type: "Normal",
            source: { component: "cloudnative-mysql" },
            count: 1,
            firstTimestamp: created.metadata.creationTimestamp,
            lastTimestamp: created.metadata.creationTimestamp
          }
        )
        const described = yield* run("describe", "backup", "backup-sample")
        assert.strictEqual(described.code, 0, described.stderr)
        assert.include(described.stdout, "Name:         backup-sample")
        assert.match(described.stdout, /Method:\s+xtrabackup/)
        assert.match(
          described.stdout,
          /Normal\s+BackupStarted\s+\S+\s+cloudnative-mysql\s+Job backup-sample-backup created/
        )
        const deleted = yield* run("delete", "backup", "backup-sample")
        assert.strictEqual(deleted.code, 0, deleted.stderr)
        assert.include(deleted.stdout, 'backup.mysql.cloudnative-mysql.io "backup-sample" deleted')
        const none = yield* run("get", "backups")
        assert.include(none.stderr, "No resources found in default namespace.")
      })
    )
  )
})
