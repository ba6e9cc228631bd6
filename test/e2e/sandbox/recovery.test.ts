/**
 * Recovery end to end on the sandbox (issue 11, e2e items 3–5; docs/recovery.md describes what is checked): the
 * operator as the Pod of its Deployment (`kubectl apply -k deploy/default`, RBAC on), recovery Jobs running `cloudnative-mysql restore` against Ceph RGW, instance managers
 * supervising MariaDB 10.11 in Pods.
 *
 * One source is shared by every case, in order: a 1-instance Cluster `src` with sample data and two completed
 * Backups (`b1`, then rows written after it, `b2`, then more rows).
 *
 * 1. A new 3-instance Cluster recovered from Backup `b1`: every table's checksum on every instance equals the
 *    source's at `b1`, the GTID state is `b1`'s `endGTID`, rows written after `b1` are absent; then a write on
 *    the recovered primary reaches its replicas (its own server ids, root password and CA).
 * 2. Every failure surface at once, each a 1-instance Cluster: `ExternalClusterNotFound`,
 *    `ExternalClusterObjectStoreMissing`, `NoBaseBackupsFound`, `BackupIDNotFound`, `BackupNotCompleted`, bad
 *    credentials (`ObjectStoreDownloadFailed`), and one flipped byte in `b1`'s archive in the bucket
 *    (`ChecksumMismatch` through the Backup, `BackupDamaged` through the raw prefix) → the documented phase,
 *    `Recovered=False` with the same reason, a Warning Event with it, no database Pod, the volume left empty.
 * 3. After the source Cluster and its Backups were deleted, from the raw object store: the latest backup (the
 *    bad-credentials Cluster of case 2 once its Secret is fixed and its Job deleted: the retry on the volume the
 *    failed restore left empty) and `b1` pinned by `backupID`. 1 instance each, to keep the wall time down (the
 *    replicas of a recovered Cluster are checked in case 1).
 * 4. A recovery whose object-store credentials Secret does not exist yet: `failed`, `Recovered=False` with
 *    `ObjectStoreSecretMissing` and a Warning Event naming the Secret, no database Pod; once the Secret is
 *    created the same Job runs, the Cluster is `recovering` again and ends healthy with the latest backup's data.
 *
 * Last, the API server denied no request (zero 403s).
 */
import { assert, describe } from "@effect/vitest"
import { Effect } from "effect"
import { stringify } from "yaml"
import type { OperatorSandboxService } from "../../../src/sandbox/OperatorSandbox.ts"
import {
  bucketClient,
  clusterManifest,
  e2eLayer,
  type Json,
  nothingDenied,
  OperatorSandbox,
  putObject,
  readObject,
  sandboxObjectStore,
  volumeFiles,
  warningReasons
} from "./harness.ts"

const path = "e2e"
const source = "src"

/** What the source looked like at each Backup, filled by the first case. */
interface BackupPoint {
  readonly name: string
  readonly backupId: string
  readonly endGTID: string
  readonly archiveKey: string
  readonly size: number
  readonly checksums: Record<string, string>
}
const points: { b1?: BackupPoint; b2?: BackupPoint } = {}

const point = (which: "b1" | "b2"): BackupPoint => {
  const found = points[which]
  if (found === undefined) throw new Error(`the source case did not complete Backup ${which}`)
  return found
}

const backupManifest = (name: string) => ({
  apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
  kind: "Backup",
  metadata: { name },
  spec: { cluster: { name: source }, method: "xtrabackup" }
})

const externalClusters = (e2e: OperatorSandboxService, store: Record<string, unknown> = {}) => [
  { name: source, objectStore: { ...sandboxObjectStore(e2e.sandbox, path), ...store } }
]

/** Waits for `name` to be healthy with `instances` ready ones. */
const healthy = (e2e: OperatorSandboxService, name: string, instances: number) =>
  e2e.waitForCluster(
    name,
    `healthy with ${instances} ready instance(s)`,
    (c) => c.status?.phase === "healthy" && c.status?.readyInstances === instances,
    // the shared 2-core machine runs other sessions too: a 3-instance recovery took over 4 minutes at load 50
    { timeout: "480 seconds" }
  )

/** The recovered Cluster holds exactly the source's data at `at`: checksums, GTID state, no later tables. */
const holdsBackupPoint = (
  e2e: OperatorSandboxService,
  pod: string,
  at: BackupPoint,
  laterTables: ReadonlyArray<string>
) =>
  Effect.gen(function* () {
    const sql = yield* e2e.sql(pod)
    assert.deepStrictEqual(yield* sql.checksums, at.checksums, `${pod}: checksums at ${at.name}`)
    assert.strictEqual(yield* sql.gtidPosition, at.endGTID, `${pod}: GTID state at ${at.name}`)
    for (const table of laterTables) {
      const rows = yield* sql.query(
        `SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'shop' AND table_name = '${table}'`
      )
      assert.strictEqual(rows[0]?.n, "0", `${pod}: ${table} was written after ${at.name}`)
    }
  })

/** One failure surface: the Cluster to apply and what it must end in. */
interface FailureCase {
  readonly name: string
  readonly spec: Record<string, unknown>
  readonly reason: string
  readonly phase: "failed" | "pending"
  /** Whether a recovery Job (and so the volume) exists: resolution failures never create one. */
  readonly job: boolean
}

describe("Recovery on the sandbox", () => {
  e2eLayer({ operator: "pod" })((it) => {
    it.effect(
      "a new 3-instance Cluster recovered from a Backup holds the source's data at the backup point on every instance",
      () =>
        Effect.gen(function* () {
          const e2e = yield* OperatorSandbox
          yield* e2e.apply(
            clusterManifest(source, { instances: 1, backup: { objectStore: sandboxObjectStore(e2e.sandbox, path) } })
          )
          yield* healthy(e2e, source, 1)
          const primary = yield* e2e.sql(`${source}-1`)
          yield* primary.loadSampleData({ tables: 3, bytes: 4 * 1024 * 1024 })

          const backUp = (name: "b1" | "b2") =>
            Effect.gen(function* () {
              const checksums = yield* primary.checksums
              const gtid = yield* primary.gtidPosition
              yield* e2e.apply(backupManifest(name))
              const backup: Json = yield* e2e.waitForBackup(name, "completed", { timeout: "180 seconds" })
              assert.strictEqual(backup.status.endGTID, gtid, `${name} ends at the source's GTID`)
              points[name] = {
                name,
                backupId: backup.status.backupId,
                endGTID: backup.status.endGTID,
                archiveKey: backup.status.archiveKey,
                size: backup.status.size,
                checksums
              }
              // written after the backup point: must not be in a Cluster recovered from it
              yield* primary.exec(
                `CREATE TABLE shop.after_${name} (id INT PRIMARY KEY); INSERT INTO shop.after_${name} VALUES (1);`
              )
            })
          yield* backUp("b1")
          yield* backUp("b2")

          const b1 = point("b1")
          yield* e2e.apply(
            clusterManifest("restored", { instances: 3, bootstrap: { recovery: { backup: { name: "b1" } } } })
          )
          const restored: Json = yield* healthy(e2e, "restored", 3)
          assert.strictEqual(restored.status.recovery.backupName, "b1")
          assert.strictEqual(restored.status.recovery.backupId, b1.backupId)
          assert.strictEqual(restored.status.recovery.endGTID, b1.endGTID)
          assert.strictEqual(
            restored.status.conditions.find((c: Json) => c.type === "Recovered")?.status,
            "True",
            "Recovered condition"
          )
          for (const pod of ["restored-1", "restored-2", "restored-3"]) {
            yield* holdsBackupPoint(e2e, pod, b1, ["after_b1", "after_b2"])
          }

          // its own identity: other server ids and passwords than the source's, and it replicates new writes
          const sourceIds = yield* primary.query("SELECT @@server_id AS id")
          const recovered = yield* e2e.sql("restored-1")
          const ids = yield* recovered.query("SELECT @@server_id AS id")
          assert.notStrictEqual(ids[0]?.id, sourceIds[0]?.id)
          const secretKey = (secret: string, key: string) =>
            Effect.forEach([source, "restored"], (c) =>
              Effect.map(e2e.get("secrets", `${c}-${secret}`), (s): unknown => s?.data?.[key])
            )
          const passwords = yield* secretKey("credentials", "root")
          assert.isString(passwords[0])
          assert.notStrictEqual(passwords[0], passwords[1], "its own root password")
          const authorities = yield* secretKey("server-tls", "ca.crt")
          assert.isString(authorities[0])
          assert.notStrictEqual(authorities[0], authorities[1], "its own CA")
          yield* recovered.exec(
            "CREATE TABLE shop.after_recovery (id INT PRIMARY KEY); INSERT INTO shop.after_recovery VALUES (7);"
          )
          const expected = yield* recovered.checksums
          for (const replica of ["restored-2", "restored-3"]) {
            const sql = yield* e2e.sql(replica)
            yield* e2e.waitFor(
              `${replica} replicates the recovered primary`,
              Effect.map(
                Effect.orElseSucceed(sql.checksums, (): Record<string, string> => ({})),
                (sums) => (sums["shop.after_recovery"] === expected["shop.after_recovery"] ? sums : undefined)
              ),
              { timeout: "60 seconds", describe: [["pods", replica]] }
            )
          }
          // done with it: the next cases need the CPU
          yield* e2e.remove("clusters", "restored")
        }),
      { timeout: 900_000 }
    )

    it.effect(
      "every recovery failure surface ends in its documented phase, condition and Warning Event, nothing started, the volume empty",
      () =>
        Effect.gen(function* () {
          const e2e = yield* OperatorSandbox
          const b1 = point("b1")
          // left behind when the first case failed after its Backups: it would only compete for the CPU
          yield* e2e.kubectl(["delete", "clusters", "restored", "--ignore-not-found", "--wait=false"])
          // a Backup that never completes: its Cluster does not exist
          yield* e2e.apply({
            ...backupManifest("orphan"),
            spec: { cluster: { name: "no-such-cluster" }, method: "xtrabackup" }
          })
          yield* e2e.apply({
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "wrong-s3-credentials" },
            stringData: { accessKey: "TESTACCESSKEY0000001", secretKey: "not-the-secret-key" }
          })
          const wrongCredentials = {
            credentials: {
              accessKeyId: { name: "wrong-s3-credentials", key: "accessKey" },
              secretAccessKey: { name: "wrong-s3-credentials", key: "secretKey" }
            }
          }
          const raw = (
            recovery: Record<string, unknown>,
            clusters: ReadonlyArray<unknown> = externalClusters(e2e)
          ) => ({
            bootstrap: { recovery },
            externalClusters: clusters
          })
          const cases: ReadonlyArray<FailureCase> = [
            {
              name: "f-noext",
              spec: raw({ source: "elsewhere" }),
              reason: "ExternalClusterNotFound",
              phase: "failed",
              job: false
            },
            {
              name: "f-nostore",
              spec: raw({ source }, [{ name: source }]),
              reason: "ExternalClusterObjectStoreMissing",
              phase: "failed",
              job: false
            },
            {
              name: "f-nobackups",
              spec: raw({ source: "nothing" }, [
                { name: "nothing", objectStore: sandboxObjectStore(e2e.sandbox, path) }
              ]),
              reason: "NoBaseBackupsFound",
              phase: "failed",
              job: true
            },
            {
              name: "f-badid",
              spec: raw({ source, backupID: "20200101T000000Z" }),
              reason: "BackupIDNotFound",
              phase: "failed",
              job: true
            },
            {
              name: "f-notdone",
              spec: { bootstrap: { recovery: { backup: { name: "orphan" } } } },
              reason: "BackupNotCompleted",
              phase: "pending",
              job: false
            },
            {
              name: "f-creds",
              spec: raw({ source }, externalClusters(e2e, wrongCredentials)),
              reason: "ObjectStoreDownloadFailed",
              phase: "failed",
              job: true
            },
            {
              name: "f-flipped",
              spec: { bootstrap: { recovery: { backup: { name: "b1" } } } },
              reason: "ChecksumMismatch",
              phase: "failed",
              job: true
            },
            {
              name: "f-damaged",
              spec: raw({ source, backupID: b1.backupId }),
              reason: "BackupDamaged",
              phase: "failed",
              job: true
            }
          ]

          // one flipped byte in the middle of b1's archive; its original bytes go back afterwards
          const original = yield* readObject(b1.archiveKey).pipe(Effect.provide(bucketClient(e2e)))
          assert.strictEqual(original.length, b1.size)
          const flipped = new Uint8Array(original)
          const middle = Math.floor(flipped.length / 2)
          flipped[middle] = (flipped[middle] ?? 0) ^ 0x01
          yield* putObject(b1.archiveKey, flipped).pipe(Effect.provide(bucketClient(e2e)))

          // one kubectl run for all of them, as YAML documents (the harness joins its arguments with `---`, which
          // JSON input does not allow; the sandbox's API server has no schema for a v1 List)
          yield* e2e.apply(...cases.map((c) => stringify(clusterManifest(c.name, { instances: 1, ...c.spec }))))
          yield* Effect.forEach(
            cases,
            (c) =>
              Effect.gen(function* () {
                const cluster: Json = yield* e2e.waitForCluster(
                  c.name,
                  `${c.phase} with Recovered=False/${c.reason}`,
                  (cl) =>
                    cl.status?.phase === c.phase &&
                    cl.status?.conditions?.some(
                      (cond: Json) => cond.type === "Recovered" && cond.status === "False" && cond.reason === c.reason
                    ),
                  { timeout: "240 seconds" }
                )
                assert.strictEqual(cluster.status.readyInstances, 0, c.name)
                const events = yield* e2e.waitFor(
                  `a Warning Event ${c.reason} on ${c.name}`,
                  Effect.map(warningReasons(e2e, c.name), (reasons) =>
                    reasons.includes(c.reason) ? reasons : undefined
                  ),
                  { timeout: "30 seconds" }
                )
                assert.include(events, c.reason)
                // nothing started on bad data
                assert.isUndefined(yield* e2e.get("pods", `${c.name}-1`), `${c.name}: no database Pod`)
                const files = yield* volumeFiles(e2e, `${c.name}-1`)
                if (c.job) assert.deepStrictEqual(files, [], `${c.name}: the volume is left empty for a retry`)
                else assert.isUndefined(yield* e2e.get("jobs", `${c.name}-1-recovery`), `${c.name}: no recovery Job`)
              }),
            { concurrency: "unbounded", discard: true }
          )
          yield* putObject(b1.archiveKey, original).pipe(Effect.provide(bucketClient(e2e)))
          // only f-creds is retried (next case)
          yield* Effect.forEach(
            cases.filter((c) => c.name !== "f-creds"),
            (c) => e2e.remove("clusters", c.name),
            { concurrency: "unbounded", discard: true }
          )
        }),
      { timeout: 600_000 }
    )

    it.effect(
      "after the source Cluster and its Backups are deleted, the raw object store recovers the latest backup (a retry) and a pinned backupID",
      () =>
        Effect.gen(function* () {
          const e2e = yield* OperatorSandbox
          const b1 = point("b1")
          const b2 = point("b2")
          yield* Effect.all(
            [...["b1", "b2", "orphan"].map((backup) => e2e.remove("backups", backup)), e2e.remove("clusters", source)],
            { concurrency: "unbounded", discard: true }
          )

          // the retry: fix the credentials, delete the failed Job; the reconciler runs it again on the empty volume
          yield* e2e.apply({
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "wrong-s3-credentials" },
            stringData: {
              accessKey: e2e.sandbox.objectStore?.accessKey ?? "",
              secretKey: e2e.sandbox.objectStore?.secretKey ?? ""
            }
          })
          yield* e2e.remove("jobs", "f-creds-1-recovery")
          yield* e2e.apply(
            clusterManifest("pinned", {
              instances: 1,
              bootstrap: { recovery: { source, backupID: b1.backupId } },
              externalClusters: externalClusters(e2e)
            })
          )
          const [latest, pinned]: Array<Json> = yield* Effect.all(
            [healthy(e2e, "f-creds", 1), healthy(e2e, "pinned", 1)],
            {
              concurrency: "unbounded"
            }
          )
          assert.strictEqual(latest.status.recovery.source, source)
          assert.strictEqual(latest.status.recovery.backupId, b2.backupId)
          assert.strictEqual(latest.status.recovery.endGTID, b2.endGTID)
          yield* holdsBackupPoint(e2e, "f-creds-1", b2, ["after_b2"])
          assert.strictEqual(pinned.status.recovery.backupId, b1.backupId)
          assert.strictEqual(pinned.status.recovery.endGTID, b1.endGTID)
          yield* holdsBackupPoint(e2e, "pinned-1", b1, ["after_b1", "after_b2"])
        }),
      { timeout: 600_000 }
    )

    it.effect(
      "a recovery whose object-store Secret appears late: failed ObjectStoreSecretMissing naming it, then recovering and the backup's data once it exists",
      () =>
        Effect.gen(function* () {
          const e2e = yield* OperatorSandbox
          const b2 = point("b2")
          // done with them: this case needs the CPU
          yield* e2e.kubectl(["delete", "clusters", "f-creds", "pinned", "--ignore-not-found", "--wait=false"])
          const secret = "late-s3-credentials"
          const late = {
            credentials: {
              accessKeyId: { name: secret, key: "accessKey" },
              secretAccessKey: { name: secret, key: "secretKey" }
            }
          }
          yield* e2e.apply(
            clusterManifest("late", {
              instances: 1,
              bootstrap: { recovery: { source } },
              externalClusters: externalClusters(e2e, late)
            })
          )
          const waiting: Json = yield* e2e.waitForCluster(
            "late",
            "failed with Recovered=False/ObjectStoreSecretMissing",
            (c) =>
              c.status?.phase === "failed" &&
              c.status?.conditions?.some(
                (cond: Json) =>
                  cond.type === "Recovered" && cond.status === "False" && cond.reason === "ObjectStoreSecretMissing"
              ),
            { timeout: "60 seconds" }
          )
          const condition = waiting.status.conditions.find((c: Json) => c.type === "Recovered")
          assert.include(condition.message, `Secret ${e2e.namespace}/${secret} does not exist`)
          assert.include(condition.message, "late-1-recovery")
          const warning: Json = yield* e2e.waitFor(
            "a Warning Event ObjectStoreSecretMissing on late",
            Effect.map(e2e.list("events"), (events) =>
              events.find(
                (e: Json) =>
                  e.involvedObject?.name === "late" && e.type === "Warning" && e.reason === "ObjectStoreSecretMissing"
              )
            ),
            { timeout: "30 seconds" }
          )
          assert.include(warning.message, secret)
          assert.isUndefined(yield* e2e.get("pods", "late-1"), "no database Pod while the restore waits")
          // nothing is deleted: the same Job runs once the kubelet can mount the Secret
          const job: Json = yield* e2e.get("jobs", "late-1-recovery")
          assert.isDefined(job, "the recovery Job waits")

          yield* e2e.apply({
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: secret },
            stringData: {
              accessKey: e2e.sandbox.objectStore?.accessKey ?? "",
              secretKey: e2e.sandbox.objectStore?.secretKey ?? ""
            }
          })
          // every phase the Cluster is seen in on its way to healthy
          const phases: Array<string> = []
          const recovered: Json = yield* e2e.waitForCluster(
            "late",
            "healthy with 1 ready instance",
            (c) => {
              const phase = String(c.status?.phase)
              if (phases.at(-1) !== phase) phases.push(phase)
              return phase === "healthy" && c.status?.readyInstances === 1
            },
            { timeout: "120 seconds" }
          )
          // the controller may leave `failed` before the first look after the Secret's creation
          const afterFailed = phases[0] === "failed" ? phases.slice(1) : phases
          assert.strictEqual(afterFailed[0], "recovering", `phases: ${phases.join(" → ")}`)
          assert.strictEqual(
            (yield* e2e.get("jobs", "late-1-recovery"))?.metadata?.uid,
            job.metadata.uid,
            "the waiting Job ran, not a new one"
          )
          assert.strictEqual(recovered.status.recovery.backupId, b2.backupId)
          assert.strictEqual(
            recovered.status.conditions.find((c: Json) => c.type === "Recovered")?.status,
            "True",
            "Recovered condition"
          )
          yield* holdsBackupPoint(e2e, "late-1", b2, ["after_b2"])
        }),
      { timeout: 300_000 }
    )

    it.effect("the API server denied nothing: zero 403s in its log", () => nothingDenied)
  })
})
