/**
 * Backups end to end on the sandbox: the operator as the Pod of its Deployment (`kubectl apply -k deploy/default`,
 * RBAC on), a 2-instance MariaDB 10.11 Cluster, the real
 * worker (`cloudnative-mysql backup` in a Job Pod) streaming from an instance manager over mTLS into Ceph RGW.
 * One Cluster is reused by every case, in order: `kubectl cloudnative-mysql backup --wait` from the replica
 * (every status field, live progress, the sha256 equal to the object's, the worker's least-privilege identity);
 * `target: primary`; a worker SIGKILLed mid-stream on every attempt (failed with the Job's reason, the incomplete
 * uploads aborted by the cleanup Job); the controller-side failure surfaces (missing Cluster, no object store)
 * and bad credentials; a ScheduledBackup producing two Backups, then suspended. docs/backup.md is the behaviour
 * checked here. Last, the API server denied no request (zero 403s).
 */
import { createHash } from "node:crypto"
import { readdirSync, readFileSync } from "node:fs"
import { assert, describe } from "@effect/vitest"
import { Effect, Redacted, Stream } from "effect"
import { ApiVersion } from "../../../src/api/common.ts"
import { ObjectStoreClient } from "../../../src/objectstore/ObjectStoreClient.ts"
import {
  clusterManifest,
  e2eLayer,
  e2eTimeout,
  type Json,
  nothingDenied,
  OperatorSandbox,
  sandboxObjectStore
} from "./harness.ts"

const name = "bk"
const pod = (serial: number) => `${name}-${serial}`
const storePath = "e2e"

const backupManifest = (backup: string, spec: Readonly<Record<string, unknown>> = {}) => ({
  apiVersion: ApiVersion,
  kind: "Backup",
  metadata: { name: backup },
  spec: { cluster: { name }, ...spec }
})

/** The sandbox's bucket, read directly (not through the code under test). */
const withStore = <A, E>(use: (client: typeof ObjectStoreClient.Service) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const e2e = yield* OperatorSandbox
    const store = e2e.sandbox.objectStore
    if (store === undefined) return yield* Effect.die("the sandbox runs no object store")
    const connection = {
      spec: sandboxObjectStore(e2e.sandbox, storePath),
      credentials: { accessKeyId: Redacted.make(store.accessKey), secretAccessKey: Redacted.make(store.secretKey) }
    }
    return yield* ObjectStoreClient.use(use).pipe(Effect.provide(ObjectStoreClient.layer(connection)))
  })

const sha256Of = (key: string) =>
  withStore((client) =>
    Stream.runFold(
      client.getObject(key),
      () => createHash("sha256"),
      (hash, chunk) => hash.update(chunk)
    ).pipe(Effect.map((hash) => hash.digest("hex")))
  )

const uploadsUnder = (prefix: string) => withStore((client) => client.listMultipartUploads(prefix))

/** The key prefix of a Backup's objects, from `status.destinationPath` (`s3://<bucket>/<prefix>`). */
const prefixOf = (backup: Json): string => String(backup.status.destinationPath).replace(/^s3:\/\/[^/]+\//u, "")

const eventsOf = (object: string) =>
  Effect.map(
    Effect.flatMap(OperatorSandbox, (e2e) => e2e.list("events")),
    (all) =>
      all
        .filter((event: Json) => event.involvedObject?.name === object)
        .map((event: Json) => ({ type: event.type as string, reason: event.reason as string, message: event.message }))
  )

const completedCondition = (backup: Json) =>
  (backup.status?.conditions ?? []).find((condition: Json) => condition.type === "Completed")

/**
 * The host PIDs of a backup worker's Node process (`cloudnative-mysql.js backup`; the container's processes are
 * visible from the host, Node names its main thread `MainThread`, so the command line is what identifies it).
 */
const workerPids = (backup: string): ReadonlyArray<number> => {
  const pids: Array<number> = []
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/u.test(entry)) continue
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0")
      const script = argv.findIndex((arg) => arg.endsWith("cloudnative-mysql.js"))
      if (script < 0 || argv[script + 1] !== "backup") continue
      const env = readFileSync(`/proc/${entry}/environ`, "utf8").split("\0")
      if (env.includes(`BACKUP_NAME=${backup}`)) pids.push(Number(entry))
    } catch {
      // the process ended while we looked
    }
  }
  return pids
}

/** The Cluster is healthy and its replica reports a lag, so `prefer-standby` picks it. */
const standbyReady = (cluster: Json) =>
  cluster.status?.phase === "healthy" &&
  cluster.status?.readyInstances === 2 &&
  (cluster.status?.instanceStatuses ?? []).some(
    (s: Json) => s.name === pod(2) && s.role === "replica" && s.ready === true && s.lagSeconds !== undefined
  )

describe("Backups on the sandbox", () => {
  e2eLayer({ operator: "pod" })((it) => {
    it.effect(
      "kubectl cloudnative-mysql backup --wait: completed from the replica, every field, sha256 of the object",
      () =>
        Effect.gen(function* () {
          const e2e = yield* OperatorSandbox
          yield* e2e.apply(
            clusterManifest(name, { instances: 2, backup: { objectStore: sandboxObjectStore(e2e.sandbox, storePath) } })
          )
          yield* e2e.waitForCluster(name, "healthy with 2 ready instances", (c) => c.status?.readyInstances === 2, {
            timeout: "240 seconds"
          })
          // transactions, so the backup has GTIDs and binlog positions to record
          const primary = yield* e2e.sql(pod(1))
          yield* primary.exec(
            "CREATE DATABASE app; CREATE TABLE app.notes (id INT PRIMARY KEY, body TEXT); INSERT INTO app.notes VALUES (1, 'one'), (2, 'two')"
          )
          // enough data that the stream outlasts the worker's first progress report (1 s) and the plugin's poll
          // (1 s) even on an idle machine, and that a kill lands mid-stream
          yield* primary.loadSampleData({ database: "sample", tables: 4, bytes: 256 * 1024 * 1024 })
          const gtid = yield* primary.gtidPosition
          yield* e2e.waitForCluster(name, `the replica ready at ${gtid} with a known lag`, (c) =>
            standbyReady(c)
              ? c.status.instanceStatuses.some((s: Json) => s.name === pod(2) && s.executedGtid === gtid)
              : false
          )

          const run = yield* e2e.plugin(["backup", name, "--name", "bk-standby", "--wait"])
          assert.strictEqual(run.code, 0, `${run.stdout}\n${run.stderr}`)
          // the live line the plugin draws from status.progress while the worker streams
          assert.match(run.stdout, /streamed|MiB \/|KiB \//u, run.stdout)
          assert.match(run.stdout, /backup bk-standby completed: id \d{8}T\d{6}Z, .* from bk-2/u)

          const backup = yield* e2e.get("backups", "bk-standby")
          const status = backup.status
          assert.strictEqual(status.phase, "completed")
          assert.strictEqual(status.instanceName, pod(2))
          assert.strictEqual(status.method, "xtrabackup")
          assert.strictEqual(status.jobName, "bk-standby-backup")
          const prefix = `${storePath}/${name}/bk-standby/${status.backupId}/`
          assert.strictEqual(status.destinationPath, `s3://${e2e.sandbox.objectStore?.bucket}/${prefix}`)
          assert.strictEqual(status.archiveKey, `${prefix}backup.xbstream`)
          assert.strictEqual(status.metadataKey, `${prefix}metadata.json`)
          assert.match(status.beginGTID, /^0-\d+-\d+$/u)
          assert.strictEqual(status.endGTID, gtid)
          assert.match(status.beginBinlog, /^mysql-bin\.\d{6}:\d+$/u)
          assert.match(status.endBinlog, /^mysql-bin\.\d{6}:\d+$/u)
          assert.isAbove(status.size, 1_000_000)
          assert.isBelow(Date.parse(status.startedAt), Date.parse(status.stoppedAt))
          assert.isUndefined(status.progress, "progress is a running backup's, dropped on completion")
          assert.isUndefined(status.error)
          assert.strictEqual(completedCondition(backup).status, "True")
          assert.strictEqual(yield* sha256Of(status.archiveKey), status.sha256)
          const metadata = yield* withStore((client) =>
            Stream.runCollect(client.getObject(status.metadataKey)).pipe(
              Effect.map((chunks) => JSON.parse(Buffer.concat(chunks).toString("utf8")))
            )
          )
          assert.strictEqual(metadata.archive.sha256, status.sha256)
          assert.strictEqual(metadata.sourceInstance, pod(2))
          const reasons = (yield* eventsOf("bk-standby")).map((event: Json) => event.reason)
          assert.includeMembers(reasons, ["JobCreated", "Started", "Completed"])

          // the worker ran as its own ServiceAccount, allowed to patch this Backup's status and nothing else
          const job = yield* e2e.get("jobs", "bk-standby-backup")
          assert.strictEqual(job.spec.template.spec.serviceAccountName, "bk-standby-backup")
          const role = yield* e2e.get("roles", "bk-standby-backup")
          assert.deepStrictEqual(role.rules, [
            {
              apiGroups: ["mysql.cloudnative-mysql.io"],
              resources: ["backups/status"],
              resourceNames: ["bk-standby"],
              verbs: ["patch"]
            }
          ])
          for (const kind of ["serviceaccounts", "roles", "rolebindings"]) {
            const object = yield* e2e.get(kind, "bk-standby-backup")
            assert.strictEqual(object.metadata.ownerReferences[0].uid, backup.metadata.uid, kind)
          }
          const log = yield* e2e.kubectlOk(["logs", "job/bk-standby-backup"])
          assert.include(log, '"backup progress"')
          assert.notInclude(log, "backup progress not written to status")
        }),
      // the Cluster's bring-up is part of this case: on a loaded machine that alone takes minutes
      { timeout: 2 * e2eTimeout }
    )

    it.effect(
      "target: primary backs up the current primary; a second backup's progress has a bar and an ETA",
      () =>
        Effect.gen(function* () {
          const e2e = yield* OperatorSandbox
          const run = yield* e2e.plugin(["backup", name, "--name", "bk-primary", "--target", "primary", "--wait"])
          assert.strictEqual(run.code, 0, `${run.stdout}\n${run.stderr}`)
          // a second backup has an estimate (the previous one's size): a bar with percentage and ETA
          assert.match(run.stdout, /\[[#.]+\] +\d+% .* ETA /u, run.stdout)
          const backup = yield* e2e.waitForBackup("bk-primary", "completed", { timeout: "180 seconds" })
          assert.strictEqual(backup.status.instanceName, pod(1))
          assert.strictEqual(yield* sha256Of(backup.status.archiveKey), backup.status.sha256)
          const created = (yield* eventsOf("bk-primary")).find((event: Json) => event.reason === "JobCreated")
          assert.include(created?.message ?? "", pod(1))
        }),
      { timeout: e2eTimeout }
    )

    it.effect(
      "a worker SIGKILLed mid-stream on every attempt: failed with the Job's reason, no incomplete upload left",
      () =>
        Effect.gen(function* () {
          const e2e = yield* OperatorSandbox
          yield* e2e.apply(backupManifest("bk-killed"))
          const running = yield* e2e.waitFor(
            "bk-killed has its destination",
            Effect.map(e2e.get("backups", "bk-killed"), (b) =>
              b?.status?.destinationPath === undefined ? undefined : b
            )
          )
          const prefix = prefixOf(running)
          // every attempt (backoffLimit 2: three) is killed once its multipart upload exists; an attempt streams
          // for a few seconds only, so the worker's processes are polled fast and the API only when there is none
          let kills = 0
          let failed: Json | undefined
          let lastApiLook = 0
          const deadline = Date.now() + 300_000
          while (failed === undefined) {
            if (Date.now() > deadline) {
              return yield* Effect.die(
                `bk-killed: no failure after ${kills} kills\n${yield* e2e.describe("backups", "bk-killed")}`
              )
            }
            const pids = workerPids("bk-killed")
            if (pids.length > 0) {
              const uploads = yield* uploadsUnder(prefix)
              if (uploads.length > kills) {
                for (const pid of pids) process.kill(pid, "SIGKILL")
                kills++
                yield* e2e.waitFor(
                  "the killed worker gone",
                  Effect.sync(() => (workerPids("bk-killed").some((pid) => pids.includes(pid)) ? undefined : true))
                )
              }
            } else if (Date.now() - lastApiLook > 2_000) {
              lastApiLook = Date.now()
              const backup = yield* e2e.get("backups", "bk-killed")
              if (backup?.status?.phase === "failed" || backup?.status?.phase === "completed") failed = backup
            }
            yield* Effect.sleep("100 millis")
          }
          assert.strictEqual(kills, 3, "each of the three attempts was killed mid-stream")
          assert.strictEqual(failed.status.phase, "failed", "a worker outran the kill")
          const condition = completedCondition(failed)
          assert.strictEqual(condition.reason, "BackoffLimitExceeded")
          assert.match(condition.message, /exited with code \d+/u)
          assert.strictEqual(failed.status.error, `BackoffLimitExceeded: ${condition.message}`)
          const warning = (yield* eventsOf("bk-killed")).find((event: Json) => event.reason === "BackoffLimitExceeded")
          assert.strictEqual(warning?.type, "Warning")

          // the cleanup Job aborted what the killed workers left
          const cleaned = yield* e2e.waitFor(
            "bk-killed UploadsCleanedUp",
            Effect.map(e2e.get("backups", "bk-killed"), (b) => {
              const c = (b?.status?.conditions ?? []).find((x: Json) => x.type === "UploadsCleanedUp")
              return c?.status === "True" || c?.status === "False" ? c : undefined
            }),
            { timeout: "120 seconds", describe: [["jobs", "bk-killed-cleanup"]] }
          )
          assert.strictEqual(cleaned.reason, "CleanedUp", cleaned.message)
          assert.include(cleaned.message, `aborted ${kills} incomplete multipart upload(s)`)
          assert.deepStrictEqual(yield* uploadsUnder(prefix), [])
          const cleanedEvent = (yield* eventsOf("bk-killed")).find((event: Json) => event.reason === "CleanedUp")
          assert.isDefined(cleanedEvent)
        }),
      { timeout: e2eTimeout }
    )

    it.effect(
      "missing Cluster, no object store, bad credentials: the documented phase, condition and Event",
      () =>
        Effect.gen(function* () {
          const e2e = yield* OperatorSandbox
          // a Cluster without an object store: its image is never pulled, the Backup fails before any Job
          // one at a time: kubectl reads a JSON stream of several objects as one document
          const manifests = [
            {
              ...clusterManifest("nostore", { instances: 1 }),
              spec: { ...clusterManifest("nostore", { instances: 1 }).spec, imageName: "example.invalid/none:1" }
            },
            { ...backupManifest("bk-nocluster"), spec: { cluster: { name: "absent" } } },
            { ...backupManifest("bk-nostore"), spec: { cluster: { name: "nostore" } } },
            {
              apiVersion: "v1",
              kind: "Secret",
              metadata: { name: "wrong-s3" },
              stringData: { accessKey: "NOSUCHKEY", secretKey: "wrong-secret" }
            }
          ]
          yield* Effect.forEach(manifests, (manifest) => e2e.apply(manifest), { discard: true })
          const badStore = {
            ...sandboxObjectStore(e2e.sandbox, storePath),
            credentials: {
              accessKeyId: { name: "wrong-s3", key: "accessKey" },
              secretAccessKey: { name: "wrong-s3", key: "secretKey" }
            }
          }
          yield* e2e.apply(backupManifest("bk-badcreds", { objectStore: badStore }))

          const expectSurface = (backup: string, phase: string, reason: string) =>
            Effect.gen(function* () {
              const seen = yield* e2e.waitFor(
                `${backup} ${phase} with ${reason}`,
                Effect.map(e2e.get("backups", backup), (b) =>
                  b?.status?.phase === phase && completedCondition(b)?.reason === reason ? b : undefined
                ),
                { timeout: "180 seconds", describe: [["backups", backup]] }
              )
              assert.strictEqual(completedCondition(seen).status, "False")
              const warning = yield* e2e.waitFor(
                `a Warning ${reason} Event on ${backup}`,
                Effect.map(eventsOf(backup), (events) =>
                  events.find((event: Json) => event.type === "Warning" && event.reason === reason)
                )
              )
              return { backup: seen, warning }
            })

          const noCluster = yield* expectSurface("bk-nocluster", "pending", "ClusterNotFound")
          assert.include(noCluster.warning.message, "absent")
          assert.isUndefined(yield* e2e.get("jobs", "bk-nocluster-backup"))
          const noStore = yield* expectSurface("bk-nostore", "failed", "ObjectStoreNotConfigured")
          assert.include(noStore.backup.status.error, "ObjectStoreNotConfigured")
          assert.isUndefined(yield* e2e.get("jobs", "bk-nostore-backup"))
          yield* e2e.remove("clusters", "nostore")

          const bad = yield* expectSurface("bk-badcreds", "failed", "ObjectStoreUploadFailed")
          assert.match(bad.backup.status.error, /^ObjectStoreUploadFailed: .*(InvalidAccessKeyId|AccessDenied|403)/u)
          assert.notInclude(JSON.stringify(bad.backup), "wrong-secret")
        }),
      { timeout: e2eTimeout }
    )

    it.effect(
      "a ScheduledBackup every few seconds produces two Backups (one at a time), then suspend stops it",
      () =>
        Effect.gen(function* () {
          const e2e = yield* OperatorSandbox
          yield* e2e.apply({
            apiVersion: ApiVersion,
            kind: "ScheduledBackup",
            metadata: { name: "every5s" },
            spec: { cluster: { name }, schedule: "*/5 * * * * *", immediate: true, backupOwnerReference: "self" }
          })
          const selector = "cloudnative-mysql.io/scheduled-backup=every5s"
          const done = yield* e2e.waitFor(
            "two completed Backups of every5s",
            Effect.map(e2e.list("backups", selector), (backups) => {
              const completed = backups.filter((b: Json) => b.status?.phase === "completed")
              return completed.length >= 2 ? completed : undefined
            }),
            { timeout: "240 seconds", describe: [["scheduledbackups", "every5s"]] }
          )
          yield* e2e.kubectlOk([
            "patch",
            "scheduledbackup",
            "every5s",
            "--type=merge",
            "-p",
            '{"spec":{"suspend":true}}'
          ])
          const suspended = yield* e2e.waitFor(
            "every5s suspended",
            Effect.map(e2e.get("scheduledbackups", "every5s"), (s) =>
              (s?.status?.conditions ?? []).some((c: Json) => c.type === "Scheduled" && c.reason === "Suspended")
                ? s
                : undefined
            )
          )
          for (const backup of done) {
            assert.match(backup.metadata.name, /^every5s-\d{14}$/u)
            assert.strictEqual(backup.metadata.ownerReferences[0].name, "every5s")
            assert.strictEqual(yield* sha256Of(backup.status.archiveKey), backup.status.sha256)
          }
          const all = (yield* e2e.list("backups", selector)).map((b: Json) => b.metadata.name)
          assert.include(all, suspended.status.lastBackupName)
          assert.isDefined(suspended.status.lastScheduleTime)
          // suspended: no Backup is created any more (the one running when suspended may still finish)
          const before = (yield* e2e.list("backups", selector)).length
          yield* Effect.sleep("12 seconds")
          assert.strictEqual((yield* e2e.list("backups", selector)).length, before)
          const skipped = (yield* eventsOf("every5s")).filter((event: Json) => event.reason === "BackupSkipped")
          assert.isAbove(skipped.length, 0, "ticks while a Backup ran were skipped, not queued")
        }),
      { timeout: e2eTimeout }
    )

    it.effect("the API server denied nothing: zero 403s in its log", () => nothingDenied)
  })
})
