/**
 * The kubectl plugin through the real `kubectl` (plugin discovery on PATH) against the fake API server's HTTP
 * face, with the Backup controller running on the same server and the Job simulator finishing the Jobs.
 */
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { backupReconciler } from "../../src/controller/backup/reconcile.ts"
import { bytes, progressLine, shortDuration, table } from "../../src/plugin/format.ts"
import { FakeApiServer } from "../../src/sandbox/FakeApiServer.ts"
import { FakeCluster } from "../../src/sandbox/FakeCluster.ts"
import { layerLiveOnFakeServer } from "../../src/sandbox/KubeApiFake.ts"
import { createCluster, namespace, startControllers, workerResult } from "../controller/support.ts"

const root = join(import.meta.dirname, "..", "..")
// Node 24 first (the plugin runs TypeScript sources), then the plugin itself
const PATH = [join(root, "node_modules", ".bin"), join(root, "bin"), process.env.PATH ?? ""].join(":")

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** `kubectl` with a two-context kubeconfig: the current context points nowhere, `fake` at the server. */
const kubectlFor = Effect.gen(function* () {
  const server = yield* FakeApiServer
  const directory = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "plugin-"))),
    (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
  )
  const kubeconfig = join(directory, "config")
  writeFileSync(
    kubeconfig,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: fake",
      "  cluster:",
      `    server: ${server.url}`,
      "    insecure-skip-tls-verify: true",
      "- name: nowhere",
      "  cluster:",
      "    server: http://127.0.0.1:9",
      "    insecure-skip-tls-verify: true",
      "users:",
      "- name: fake",
      "  user:",
      "    token: fake",
      "contexts:",
      "- name: fake",
      "  context:",
      "    cluster: fake",
      "    user: fake",
      `    namespace: ${namespace}`,
      "- name: nowhere",
      "  context:",
      "    cluster: nowhere",
      "    user: fake",
      "current-context: nowhere",
      ""
    ].join("\n")
  )
  const run = (...args: Array<string>): Effect.Effect<Run> =>
    Effect.callback<Run>((resume) => {
      execFile(
        "kubectl",
        args,
        { env: { ...process.env, PATH, KUBECONFIG: kubeconfig, HOME: directory }, timeout: 60_000 },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
          resume(Effect.succeed({ code, stdout, stderr }))
        }
      )
    })
  return { run }
})

/** The Job simulator: starts each backup Job, reports progress, then finishes it as `outcome` says. */
const simulateJobs = (outcome: (name: string, backupId: string) => "succeeded" | "failed") =>
  Effect.gen(function* () {
    const fake = yield* FakeCluster
    const jobs = { group: "batch", version: "v1", plural: "jobs", namespace }
    const backups = { group: "mysql.cloudnative-mysql.io", version: "v1alpha1", plural: "backups", namespace }
    yield* fake.watch(jobs).pipe(
      Stream.filter((event) => event.type === "ADDED" && event.object.metadata.name?.endsWith("-backup") === true),
      Stream.runForEach((event) =>
        Effect.gen(function* () {
          const name = event.object.metadata.name ?? ""
          const backup = event.object.metadata.ownerReferences?.[0]?.name ?? ""
          const id = event.object.metadata.annotations?.["cloudnative-mysql.io/backup-id"] ?? ""
          yield* fake.jobs.start(namespace, name)
          yield* Effect.sleep("1500 millis")
          yield* fake.statusMergePatch(backups, backup, {
            status: {
              progress: {
                bytesStreamed: 3 << 20,
                bytesUploaded: 2 << 20,
                bytesPerSecond: 1 << 20,
                elapsedSeconds: 3,
                estimatedTotalBytes: 6 << 20,
                updatedAt: "2026-12-01T00:00:03Z"
              }
            }
          })
          yield* Effect.sleep("1500 millis")
          const result = outcome(backup, id)
          yield* fake.jobs.finish(
            namespace,
            name,
            result === "succeeded"
              ? { result, terminationMessage: JSON.stringify(workerResult(id, `prod/c/${backup}`)) }
              : {
                  result,
                  terminationMessage: JSON.stringify({
                    reason: "InstanceManagerTLSFailed",
                    message: "certificate signed by unknown authority"
                  })
                }
          )
        }).pipe(Effect.orDie)
      ),
      Effect.forkScoped
    )
  })

const Live = layerLiveOnFakeServer

describe("kubectl cloudnative-mysql (real kubectl, plugin on PATH)", () => {
  it.live(
    "backup --wait shows progress and exits 0 on completed; list, describe and status; -o json|yaml; --context",
    () =>
      Effect.gen(function* () {
        const { run } = yield* kubectlFor
        yield* startControllers(backupReconciler)
        yield* simulateJobs(() => "succeeded")
        yield* createCluster()

        const help = yield* run("cloudnative-mysql", "backup", "--help")
        assert.strictEqual(help.code, 0, help.stderr)
        assert.include(help.stdout, "--wait")

        // the current context points nowhere: --context picks the fake server and its namespace
        const created = yield* run(
          "cloudnative-mysql",
          "--context",
          "fake",
          "backup",
          "c",
          "--name",
          "manual",
          "--wait"
        )
        assert.strictEqual(created.code, 0, created.stderr + created.stdout)
        assert.include(created.stdout, "backup.mysql.cloudnative-mysql.io/manual created")
        assert.include(created.stdout, "[##########..........] 50% 3.00 MiB / 6.00 MiB  1.00 MiB/s  ETA 3s")
        assert.include(created.stdout, `backup manual completed`)
        assert.include(created.stdout, "a".repeat(64))

        const generated = yield* run(
          "cloudnative-mysql",
          "--context",
          "fake",
          "-n",
          namespace,
          "backup",
          "c",
          "--target",
          "primary"
        )
        assert.strictEqual(generated.code, 0, generated.stderr)
        assert.match(generated.stdout, /backup\.mysql\.cloudnative-mysql\.io\/c-\d{14} created/u)

        const listed = yield* run("cloudnative-mysql", "--context", "fake", "backup", "list", "c")
        assert.strictEqual(listed.code, 0, listed.stderr)
        const [header, ...rows] = listed.stdout.trim().split("\n")
        assert.match(header ?? "", /^NAME\s+CLUSTER\s+PHASE\s+ID\s+SIZE\s+DURATION\s+SOURCE\s+AGE$/u)
        assert.isTrue(
          rows.some((row) => /^manual\s+c\s+completed\s+\d{8}T\d{6}Z\s+120\.6 KiB\s+60s\s+c-2\s+/u.test(row)),
          listed.stdout
        )

        const json = yield* run("cloudnative-mysql", "--context", "fake", "backup", "list", "-o", "json")
        const items = (JSON.parse(json.stdout) as { items: Array<{ metadata: { name: string } }> }).items
        assert.includeMembers(
          items.map((i) => i.metadata.name),
          ["manual"]
        )

        const described = yield* run("cloudnative-mysql", "--context", "fake", "backup", "describe", "manual")
        assert.strictEqual(described.code, 0, described.stderr)
        assert.match(described.stdout, /Archive key:\s+prod\/c\/manual\/\d{8}T\d{6}Z\/backup\.xbstream/u)
        assert.match(described.stdout, /Completed\s+True\s+Completed/u)
        assert.match(described.stdout, /Normal\s+JobCreated/u)
        const yaml = yield* run("cloudnative-mysql", "--context", "fake", "backup", "describe", "manual", "-o", "yaml")
        assert.include(yaml.stdout, "phase: completed")

        const status = yield* run("cloudnative-mysql", "--context", "fake", "status", "c")
        assert.strictEqual(status.code, 0, status.stderr)
        assert.match(status.stdout, /c-1\s+primary\s+true/u)
        assert.match(status.stdout, /c-2\s+replica\s+true\s+1s/u)
        assert.match(status.stdout, /Last completed backup: (manual|c-\d{14}) \(id \d{8}T\d{6}Z, 120\.6 KiB/u)

        const usage = yield* run("cloudnative-mysql", "--context", "fake", "backup")
        assert.strictEqual(usage.code, 2)
        assert.include(usage.stderr, "error: backup needs a CLUSTER")
        const both = yield* run("cloudnative-mysql", "--context", "fake", "backup", "c", "--online", "--offline")
        assert.strictEqual(both.code, 2)
        assert.include(both.stderr, "error: --online and --offline exclude each other")
        const unreachable = yield* run("cloudnative-mysql", "backup", "list")
        assert.strictEqual(unreachable.code, 1)
        assert.include(unreachable.stderr, "error:")
      }).pipe(Effect.provide(Live)),
    // ten kubectl runs, each starting Node: slow on a loaded machine
    300_000
  )

  it.live(
    "status shows continuous archiving, the last archived file and the recoverability window",
    () =>
      Effect.gen(function* () {
        const { run } = yield* kubectlFor
        const fake = yield* FakeCluster
        yield* createCluster()
        const clusters = { group: "mysql.cloudnative-mysql.io", version: "v1alpha1", plural: "clusters", namespace }
        yield* fake.statusMergePatch(clusters, "c", {
          status: {
            conditions: [
              {
                type: "ContinuousArchiving",
                status: "True",
                reason: "Archiving",
                message: "archiving series server-7",
                lastTransitionTime: "2026-12-01T10:00:00Z"
              }
            ],
            binlogArchive: {
              lastArchivedFile: "server-7/mysql-bin.000004",
              lastArchivedGTID: "0-7-42",
              lastArchivedTime: "2026-12-01T10:05:00Z",
              caughtUp: false
            },
            recoverabilityWindow: {
              baseBackup: "nightly",
              firstRecoverableGTID: "0-7-30",
              firstRecoverableTime: "2026-12-01T09:00:00Z",
              lastRecoverableGTID: "0-7-42",
              lastRecoverableTime: "2026-12-01T10:05:00Z"
            }
          }
        })
        const shown = yield* run("cloudnative-mysql", "--context", "fake", "status", "c")
        assert.strictEqual(shown.code, 0, shown.stderr)
        assert.include(shown.stdout, "Continuous archiving: True (Archiving): archiving series server-7")
        assert.include(
          shown.stdout,
          "Last archived:    server-7/mysql-bin.000004, GTID 0-7-42, 2026-12-01T10:05:00Z (primary ahead)"
        )
        assert.include(
          shown.stdout,
          "Recoverable:      from 0-7-30 (2026-12-01T09:00:00Z, backup nightly) to 0-7-42 (2026-12-01T10:05:00Z)"
        )
      }).pipe(Effect.provide(Live)),
    120_000
  )

  it.live(
    "backup --wait exits 1 with the failure's reason and message",
    () =>
      Effect.gen(function* () {
        const { run } = yield* kubectlFor
        yield* startControllers(backupReconciler)
        yield* simulateJobs(() => "failed")
        yield* createCluster()
        const failed = yield* run("cloudnative-mysql", "--context", "fake", "backup", "c", "--name", "doomed", "--wait")
        assert.strictEqual(failed.code, 1, failed.stdout)
        assert.include(
          failed.stderr,
          "backup doomed failed: InstanceManagerTLSFailed: certificate signed by unknown authority"
        )
      }).pipe(Effect.provide(Live)),
    120_000
  )
})

describe("plugin formatting", () => {
  it("tables, durations and the progress line", () => {
    assert.strictEqual(table(["a", "bb"], [["xxx", "y"]]), "A     BB\nxxx   y")
    assert.strictEqual(shortDuration(59_000), "59s")
    assert.strictEqual(shortDuration(192_000), "3m12s")
    assert.strictEqual(shortDuration(5 * 3600_000 + 180_000), "5h3m")
    assert.strictEqual(
      progressLine({ bytesStreamed: 0, bytesUploaded: 0, bytesPerSecond: 0, elapsedSeconds: 1, updatedAt: "x" }),
      "0 B streamed  0 B/s  1s elapsed"
    )
    assert.strictEqual(bytes(1536), "1.50 KiB")
  })
})
