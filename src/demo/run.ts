/**
 * `npm run demo`: the operator's story on the local Kubernetes (the sandbox), told to a person.
 *
 * 1. the sandbox (fake API server, a node that runs Pods as processes, Ceph RGW — s3rver when RGW is not
 *    installed) and the operator's controller as a process, both on loopback;
 * 2. `kubectl apply` of a Cluster (`DEMO_INSTANCES`, default 2: a primary and a replica cloning it) on the
 *    MariaDB 10.11 instance image, followed until `healthy`;
 * 3. sample data on the primary (`DEMO_BYTES`, default 64 MiB), replicated;
 * 4. `kubectl cloudnative-mysql backup … --wait` (the kubectl plugin): a Backup, taken from the replica, streamed
 *    over mTLS by a worker Job into the bucket, with its live progress;
 * 5. a row written after the backup, then a new Cluster recovered from the Backup (`bootstrap.recovery.backup`);
 * 6. checksums of every table side by side, the GTID positions, `kubectl get clusters,backups`;
 * 7. everything stopped and removed (also on Ctrl-C).
 *
 * While it runs, the KUBECONFIG it prints works in another terminal (`kubectl get pods -w`).
 *
 * @since 0.1.0
 */
import { existsSync } from "node:fs"
import { join } from "node:path"
import { Cause, Clock, Data, Effect, Exit, Fiber, Layer } from "effect"
import { clusterManifest, type Json, OperatorSandbox, sandboxObjectStore } from "../sandbox/OperatorSandbox.ts"

const binDirs = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin", "/bin"]
const has = (binary: string): boolean => binDirs.some((dir) => existsSync(join(dir, binary)))
const required = ["mariadbd", "mariadb-install-db", "mariadb", "mariadb-backup", "mbstream", "kubectl"]

const MiB = 1024 * 1024
const say = (text: string): void => {
  process.stdout.write(`${text}\n`)
}
const step = (text: string): void => say(`\n▶ ${text}`)
const indent = (text: string): string =>
  text
    .trimEnd()
    .split("\n")
    .map((line) => `  ${line}`)
    .join("\n")

/** The demo could not run to its end; `message` says which step and why. */
class DemoFailed extends Data.TaggedError("DemoFailed")<{ readonly message: string }> {}

const source = "demo"
const restored = "demo-restored"
const backupName = "demo-backup"

const elapsedSince = (start: number) =>
  Effect.map(Clock.currentTimeMillis, (now) => `${((now - start) / 1000).toFixed(0)} s`)

/** Follows a Cluster until it is healthy with `instances` ready, printing each change of phase and readiness. */
const followCluster = (name: string, instances: number) =>
  Effect.gen(function* () {
    const e2e = yield* OperatorSandbox
    const missing = required.filter((binary) => !has(binary))
    if (missing.length > 0) {
      return yield* new DemoFailed({ message: `missing: ${missing.join(", ")}. Install them with: npm run setup` })
    }
    const start = yield* Clock.currentTimeMillis
    let shown = ""
    return yield* e2e.waitFor(
      `Cluster ${name} healthy with ${instances} ready instance(s)`,
      Effect.gen(function* () {
        const cluster: Json = yield* e2e.get("clusters", name)
        const status = cluster?.status ?? {}
        const line = `phase ${status.phase ?? "-"}, ${status.readyInstances ?? 0}/${instances} ready${
          status.currentPrimary === undefined ? "" : `, primary ${status.currentPrimary}`
        }`
        if (line !== shown) {
          shown = line
          say(`  ${(yield* elapsedSince(start)).padStart(5)}  ${line}`)
        }
        return status.phase === "healthy" && status.readyInstances === instances ? cluster : undefined
      }),
      { timeout: "600 seconds", describe: [["clusters", name]] }
    )
  })

const story = (start: number) =>
  Effect.gen(function* () {
    const bytes = Number(process.env.DEMO_BYTES ?? 64 * MiB)
    const instances = Number(process.env.DEMO_INSTANCES ?? 2)
    const e2e = yield* OperatorSandbox
    const store = e2e.sandbox.objectStore
    say(`  ready after ${yield* elapsedSince(start)}`)
    say(`  KUBECONFIG=${e2e.sandbox.kubeconfig}   (use it from another terminal while the demo runs)`)
    say(`  object store: ${store?.kind} at ${store?.endpoint}, bucket ${store?.bucket}`)
    say(`  controller pid ${e2e.controller.pid()} (cloudnative-mysql controller)`)

    step(`kubectl apply: Cluster ${source}, ${instances} instance(s) of MariaDB 10.11, backups to the bucket`)
    yield* e2e.apply(
      clusterManifest(source, { instances, backup: { objectStore: sandboxObjectStore(e2e.sandbox, "demo") } })
    )
    yield* followCluster(source, instances)
    say(indent(yield* e2e.kubectlOk(["get", "pods", "-o", "wide"])))

    step(`Loading ${(bytes / MiB).toFixed(0)} MiB of sample data into ${source}-1 (the primary)`)
    const primary = yield* e2e.sql(`${source}-1`)
    yield* primary.loadSampleData({ database: "shop", tables: 4, bytes })
    const checksumsAtBackup = yield* primary.checksums
    const gtidAtBackup = yield* primary.gtidPosition
    say(`  ${Object.keys(checksumsAtBackup).length} tables, GTID position ${gtidAtBackup}`)
    if (instances > 1) {
      const replica = yield* e2e.sql(`${source}-2`)
      yield* e2e.waitFor(
        `${source}-2 caught up with ${gtidAtBackup}`,
        Effect.map(
          Effect.orElseSucceed(replica.gtidPosition, () => ""),
          (gtid) => (gtid === gtidAtBackup ? gtid : undefined)
        ),
        { timeout: "300 seconds", describe: [["pods", `${source}-2`]] }
      )
      say(`  ${source}-2 (replica) caught up`)
    }

    step(`kubectl cloudnative-mysql backup ${source} --name ${backupName} --wait`)
    const backupRun = yield* e2e.plugin(["backup", source, "--name", backupName, "--wait"], { echo: true })
    if (backupRun.code !== 0) {
      return yield* new DemoFailed({
        message: `the backup failed:\n${backupRun.stderr}\n${yield* e2e.describe("backups", backupName)}`
      })
    }
    const backup: Json = yield* e2e.get("backups", backupName)

    // written after the backup point: the recovered Cluster must not have it
    yield* primary.exec(
      "CREATE TABLE shop.written_after_backup (id INT PRIMARY KEY); INSERT INTO shop.written_after_backup VALUES (1);"
    )
    say("  then wrote table shop.written_after_backup on the source (after the backup point)")

    step(`kubectl apply: Cluster ${restored}, recovered from Backup ${backupName} (bootstrap.recovery.backup)`)
    yield* e2e.apply(
      clusterManifest(restored, { instances: 1, bootstrap: { recovery: { backup: { name: backupName } } } })
    )
    const recovered: Json = yield* followCluster(restored, 1)
    say(`  status.recovery: ${JSON.stringify(recovered.status.recovery)}`)

    step("CHECKSUM TABLE: the source at the backup point vs the recovered Cluster")
    const target = yield* e2e.sql(`${restored}-1`)
    const checksumsRestored = yield* target.checksums
    const gtidRestored = yield* target.gtidPosition
    const names = [...new Set([...Object.keys(checksumsAtBackup), ...Object.keys(checksumsRestored)])].sort()
    const width = Math.max(...names.map((n) => n.length), 5)
    say(`  ${"table".padEnd(width)}  ${source.padStart(12)}  ${restored.padStart(14)}`)
    let same = true
    for (const name of names) {
      const a = checksumsAtBackup[name] ?? "-"
      const b = checksumsRestored[name] ?? "-"
      same &&= a === b
      say(`  ${name.padEnd(width)}  ${a.padStart(12)}  ${b.padStart(14)}  ${a === b ? "✓" : "✗"}`)
    }
    const gtidSame = gtidRestored === gtidAtBackup && backup.status.endGTID === gtidAtBackup
    say(
      `  GTID: source at the backup ${gtidAtBackup}, Backup endGTID ${backup.status.endGTID}, recovered ${gtidRestored} ${gtidSame ? "✓" : "✗"}`
    )
    const later = yield* target.query(
      "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'shop' AND table_name = 'written_after_backup'"
    )
    const absent = later[0]?.n === "0"
    say(`  shop.written_after_backup in the recovered Cluster: ${absent ? "absent ✓" : "present ✗"}`)

    step("kubectl get clusters,backups")
    say(indent(yield* e2e.kubectlOk(["get", "clusters,backups"])))

    if (!same || !gtidSame || !absent) {
      return yield* new DemoFailed({ message: "the recovered Cluster differs from the source at the backup point" })
    }
    step("Done: cleaning up (controller, Pods, RGW stopped; the sandbox's state directory removed)")
  })

const demo = Effect.gen(function* () {
  const missing = required.filter((binary) => !has(binary))
  if (missing.length > 0) {
    return yield* new DemoFailed({ message: `missing: ${missing.join(", ")}. Install them with: npm run setup` })
  }
  const start = yield* Clock.currentTimeMillis
  step("Starting the sandbox (API server, node, controllers, object store) and the operator's controller")
  yield* story(start).pipe(Effect.provide(Layer.fresh(OperatorSandbox.layer({ sandbox: { objectStore: "auto" } }))))
  say(`\ndemo finished in ${yield* elapsedSince(start)}`)
})

const main = async (): Promise<number> => {
  const fiber = Effect.runFork(demo)
  const interrupt = () => {
    process.stdout.write("\ninterrupted: cleaning up…\n")
    Effect.runFork(Fiber.interrupt(fiber))
  }
  process.once("SIGINT", interrupt)
  process.once("SIGTERM", interrupt)
  // a closed stdout (e.g. piped into `head`) must still clean up
  process.stdout.on("error", () => Effect.runFork(Fiber.interrupt(fiber)))
  const exit = await Effect.runPromise(Fiber.await(fiber))
  if (Exit.isSuccess(exit)) return 0
  const error = exit.cause.reasons.find((r) => r._tag === "Fail")
  const message =
    error?._tag === "Fail"
      ? error.error instanceof Error
        ? error.error.message
        : String(error.error)
      : Cause.hasInterruptsOnly(exit.cause)
        ? "interrupted"
        : Cause.pretty(exit.cause)
  process.stderr.write(`\ndemo failed: ${message}\n`)
  return 1
}

process.exit(await main())
