/**
 * Point-in-time recovery end to end on the sandbox (issue 12, the e2e item; docs/pitr.md): the real controller,
 * the archiver Deployment (`archive-binlogs` dumping the primary over verified TLS, rotating through the instance
 * manager's mTLS API), recovery Jobs replaying the archive into the restored backup, against Ceph RGW.
 *
 * One source, shared by the cases in order: a 1-instance Cluster `src` archiving with `flushInterval: 5s`, a
 * Backup `b1`, then rows in `pitr.orders` with known GTIDs and commit times, a `DROP TABLE` by mistake once a
 * whole second has passed (the time target), and, in a later archived file, one more transaction.
 *
 * 1. The source: the archive holds the drop's file and then the later one (manifests listed in the bucket), one
 *    series named after the primary's server id; the archiver Pod never restarted and logged the rotations it
 *    asked the instance manager for.
 * 2. Three recoveries at once, 1 instance each: `targetGTID` (the last row's GTID) from Backup `b1`, and
 *    `targetTime` (the second before the drop) from the raw object store through `externalClusters`, each with
 *    the table, every row and nothing after the target (GTID state = the target); and a target after the last
 *    archived transaction → `RecoveryTargetUnreachable` (phase `failed`, `Recovered=False`, Warning Event) from
 *    the recovery plan Job, with the plan in `status.recovery.plan` and no recovery Job, volume or instance Pod;
 *    the two recovered Clusters' `status.recovery.plan` named b1 and the files they then replayed.
 *    At the same time, one flipped byte in the later archived file, which only a recovery to the last
 *    transaction needs → `ChecksumMismatch` from the recovery Job (the plan reads manifests only: it was
 *    reachable), nothing started (the other two never read that file).
 */
import { assert, describe } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { stringify } from "yaml"
import { binlogArchiverLabels } from "../../../src/api/names.ts"
import { ObjectStoreClient } from "../../../src/objectstore/ObjectStoreClient.ts"
import type { OperatorSandboxService } from "../../../src/sandbox/OperatorSandbox.ts"
import {
  bucketClient,
  clusterManifest,
  e2eLayer,
  type Json,
  OperatorSandbox,
  putObject,
  readObject,
  sandboxObjectStore,
  volumeFiles,
  warningReasons
} from "./harness.ts"

const path = "pitr"
const source = "src"
const archivePrefix = `${path}/${source}/binlogs/`

const selectorOf = (labels: Record<string, string>): string =>
  Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(",")

/** What the source case recorded for the recoveries. */
interface SourcePoints {
  /** The GTID of the last row before the drop: the GTID target. */
  readonly lastRowGTID: string
  /** A whole second after the last row's commit, at or before the drop's: the (exclusive) time target. */
  readonly targetTime: string
  /** The ids in `pitr.orders` at both targets. */
  readonly rows: ReadonlyArray<string>
  /** Backup `b1`: the base of every recovery. */
  readonly backupId: string
  readonly backupEndGTID: string
  /** The transaction after the drop, in a later archived file. */
  readonly laterGTID: string
  /** That later file's key in the bucket. */
  readonly laterFileKey: string
}
let points: SourcePoints | undefined

const recorded = (): SourcePoints => {
  if (points === undefined) throw new Error("the source case did not complete")
  return points
}

/** Every archived file's manifest (only manifests make a file visible), with the file's key. */
const manifests = (e2e: OperatorSandboxService) =>
  Effect.gen(function* () {
    const client = yield* ObjectStoreClient
    const keys = [...(yield* Stream.runCollect(client.listObjects(archivePrefix)))].flatMap((entry) =>
      "key" in entry && entry.key.endsWith(".manifest.json") ? [entry.key] : []
    )
    return yield* Effect.forEach(keys, (key) =>
      Effect.map(readObject(key), (bytes) => ({
        fileKey: key.slice(0, -".manifest.json".length),
        manifest: JSON.parse(Buffer.from(bytes).toString("utf8")) as Json
      }))
    )
  }).pipe(Effect.provide(bucketClient(e2e)))

/** The sequence number of domain 0 in a MariaDB GTID list (`0-1-5,1-2-3` → 5), or -1. */
const domain0Seq = (list: string): number => {
  const gtid = list.split(",").find((g) => g.startsWith("0-"))
  return gtid === undefined ? -1 : Number(gtid.split("-")[2])
}

/** Waits until an archived file holds `gtid` (domain 0), returning that file's key. */
const archivedFileOf = (e2e: OperatorSandboxService, gtid: string) =>
  e2e.waitFor(
    `an archived binlog file holding ${gtid}`,
    Effect.map(
      Effect.orElseSucceed(manifests(e2e), () => []),
      (all) =>
        all.find(
          ({ manifest }) =>
            domain0Seq(manifest.gtidStateBefore) < domain0Seq(gtid) &&
            domain0Seq(manifest.gtidStateAfter) >= domain0Seq(gtid)
        )?.fileKey
    ),
    { timeout: "120 seconds", describe: [["deployments", `${source}-binlog-archiver`]] }
  )

/** The recovered Cluster, once healthy with its one instance. */
const healthy = (e2e: OperatorSandboxService, name: string) =>
  e2e.waitForCluster(
    name,
    "healthy with 1 ready instance",
    (c) => c.status?.phase === "healthy" && c.status?.readyInstances === 1,
    { timeout: "420 seconds", describe: [["jobs", `${name}-1-recovery`]] }
  )

/** The recovered instance holds the table with exactly `rows`, at GTID `gtid`, and nothing written after it. */
const holdsTarget = (e2e: OperatorSandboxService, name: string, at: SourcePoints) =>
  Effect.gen(function* () {
    const sql = yield* e2e.sql(`${name}-1`)
    const rows = yield* sql.query("SELECT id FROM pitr.orders ORDER BY id")
    assert.deepStrictEqual(
      rows.map((r) => String(r.id)),
      [...at.rows],
      `${name}: the table and every row up to the target`
    )
    assert.strictEqual(yield* sql.gtidPosition, at.lastRowGTID, `${name}: the GTID state is the target`)
    const later = yield* sql.query(
      "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'pitr' AND table_name = 'after_drop'"
    )
    assert.strictEqual(later[0]?.n, "0", `${name}: nothing after the target`)
  })

/**
 * A failed recovery: the phase, `Recovered=False/<reason>`, a Warning Event, no instance Pod, and either an empty
 * volume (the recovery Job refused) or, refused by the plan Job, no recovery Job and no volume at all.
 */
const failsWith = (e2e: OperatorSandboxService, name: string, reason: string, refusedBy: "plan" | "restore") =>
  Effect.gen(function* () {
    const cluster: Json = yield* e2e.waitForCluster(
      name,
      `failed with Recovered=False/${reason}`,
      (c) =>
        c.status?.phase === "failed" &&
        c.status?.conditions?.some(
          (cond: Json) => cond.type === "Recovered" && cond.status === "False" && cond.reason === reason
        ),
      {
        timeout: "300 seconds",
        describe: [
          ["jobs", `${name}-1-recovery-plan`],
          ["jobs", `${name}-1-recovery`]
        ]
      }
    )
    assert.strictEqual(cluster.status.readyInstances, 0, name)
    yield* e2e.waitFor(
      `a Warning Event ${reason} on ${name}`,
      Effect.map(warningReasons(e2e, name), (reasons) => (reasons.includes(reason) ? reasons : undefined)),
      { timeout: "30 seconds" }
    )
    assert.isUndefined(yield* e2e.get("pods", `${name}-1`), `${name}: no instance Pod`)
    if (refusedBy === "plan") {
      assert.isUndefined(yield* e2e.get("jobs", `${name}-1-recovery`), `${name}: no recovery Job`)
      assert.isUndefined(yield* e2e.get("pvc", `${name}-1`), `${name}: no volume`)
    } else {
      assert.deepStrictEqual(yield* volumeFiles(e2e, `${name}-1`), [], `${name}: the volume is left empty`)
    }
    return cluster
  })

describe("Point-in-time recovery on the sandbox", () => {
  e2eLayer()((it) => {
    it.effect(
      "the archiver Deployment archives the source's binlogs: rows with known GTIDs and times, the drop, a later file",
      () =>
        Effect.gen(function* () {
          const e2e = yield* OperatorSandbox
          yield* e2e.apply(
            clusterManifest(source, {
              instances: 1,
              backup: {
                objectStore: sandboxObjectStore(e2e.sandbox, path),
                binlogArchiving: { enabled: true, flushInterval: "5s" }
              }
            })
          )
          yield* e2e.waitForCluster(
            source,
            "healthy with 1 ready instance",
            (c) => c.status?.phase === "healthy" && c.status?.readyInstances === 1,
            { timeout: "240 seconds" }
          )
          const primary = yield* e2e.sql(`${source}-1`)
          yield* primary.exec(
            "CREATE DATABASE pitr; CREATE TABLE pitr.orders (id INT PRIMARY KEY, note VARCHAR(64)); INSERT INTO pitr.orders VALUES (0, 'in the backup');"
          )
          yield* e2e.apply({
            apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
            kind: "Backup",
            metadata: { name: "b1" },
            spec: { cluster: { name: source }, method: "xtrabackup" }
          })
          const backup: Json = yield* e2e.waitForBackup("b1", "completed", { timeout: "180 seconds" })

          // after the backup: one transaction per row, each GTID known
          const rowGTIDs: Array<string> = []
          for (const id of [1, 2, 3]) {
            yield* primary.exec(`INSERT INTO pitr.orders VALUES (${id}, 'replayed')`)
            rowGTIDs.push(yield* primary.gtidPosition)
          }
          const lastRowGTID = rowGTIDs[2] ?? ""
          assert.isAbove(domain0Seq(lastRowGTID), domain0Seq(backup.status.endGTID))
          // binlog event times are whole seconds of the statement's start: the next second after the last row
          // is a time target that keeps every row and, once the server's clock reached it, leaves out the drop
          const now = yield* primary.query("SELECT UNIX_TIMESTAMP() AS t")
          const target = Number(now[0]?.t) + 1
          yield* e2e.waitFor(
            "the server's clock at the time target",
            Effect.map(primary.query("SELECT UNIX_TIMESTAMP() AS t"), (r) =>
              Number(r[0]?.t) >= target ? true : undefined
            ),
            { timeout: "10 seconds" }
          )
          yield* primary.exec("DROP TABLE pitr.orders")
          const dropGTID = yield* primary.gtidPosition
          assert.strictEqual(domain0Seq(dropGTID), domain0Seq(lastRowGTID) + 1, "the drop follows the last row")

          // the rotation (flushInterval) closes the drop's file; the next transaction lands in a later one
          yield* archivedFileOf(e2e, dropGTID)
          yield* primary.exec(
            "CREATE TABLE pitr.after_drop (id INT PRIMARY KEY); INSERT INTO pitr.after_drop VALUES (1);"
          )
          const laterGTID = yield* primary.gtidPosition
          const laterFileKey = yield* archivedFileOf(e2e, laterGTID)
          // the archiver Pod never restarted, and the files closed because it asked the instance manager to rotate
          const archivers = yield* e2e.list("pods", selectorOf(binlogArchiverLabels(source)))
          assert.strictEqual(archivers.length, 1, "one archiver Pod")
          const archiver = archivers[0]
          assert.strictEqual(archiver.status?.containerStatuses?.[0]?.restartCount, 0, "the archiver never restarted")
          assert.include(
            yield* e2e.kubectlOk(["logs", archiver.metadata.name]),
            "binlog rotated",
            "rotated through the instance manager"
          )
          const all = yield* manifests(e2e)
          assert.deepStrictEqual(
            [...new Set(all.map((m) => m.manifest.series))],
            [`server-${lastRowGTID.split("-")[1]}`],
            "one series, named after the primary's server id"
          )
          const later = all.find((m) => m.fileKey === laterFileKey)?.manifest
          assert.isAtLeast(domain0Seq(later?.gtidStateBefore ?? ""), domain0Seq(dropGTID), "a file after the drop's")
          points = {
            backupId: backup.status.backupId,
            backupEndGTID: backup.status.endGTID,
            lastRowGTID,
            targetTime: new Date(target * 1000).toISOString().replace(".000Z", "Z"),
            rows: ["0", "1", "2", "3"],
            laterGTID,
            laterFileKey
          }
        }),
      { timeout: 600_000 }
    )

    it.effect(
      "recoveries to targetGTID from a Backup and to targetTime from the raw object store hold every row up to the target and nothing after; an unreachable target and a flipped archived byte fail before any instance starts",
      () =>
        Effect.gen(function* () {
          const e2e = yield* OperatorSandbox
          const at = recorded()
          const serverId = at.lastRowGTID.split("-")[1]

          // one flipped byte in the file after the drop: only a recovery to its transaction reads it
          const original = yield* readObject(at.laterFileKey).pipe(Effect.provide(bucketClient(e2e)))
          const flipped = new Uint8Array(original)
          const middle = Math.floor(flipped.length / 2)
          flipped[middle] = (flipped[middle] ?? 0) ^ 0x01
          yield* putObject(at.laterFileKey, flipped).pipe(Effect.provide(bucketClient(e2e)))

          const fromBackup = (recoveryTarget: Record<string, string>) => ({
            bootstrap: { recovery: { backup: { name: "b1" }, recoveryTarget } }
          })
          const clusters = [
            clusterManifest("by-gtid", { instances: 1, ...fromBackup({ targetGTID: at.lastRowGTID }) }),
            clusterManifest("by-time", {
              instances: 1,
              bootstrap: { recovery: { source, recoveryTarget: { targetTime: at.targetTime } } },
              externalClusters: [{ name: source, objectStore: sandboxObjectStore(e2e.sandbox, path) }]
            }),
            clusterManifest("unreachable", {
              instances: 1,
              ...fromBackup({ targetGTID: `0-${serverId}-${domain0Seq(at.laterGTID) + 1000}` })
            }),
            clusterManifest("flipped", { instances: 1, ...fromBackup({ targetGTID: at.laterGTID }) })
          ]
          yield* e2e.apply(...clusters.map((c) => stringify(c)))

          const [byGtid, byTime, unreachable, damaged]: Array<Json> = yield* Effect.all(
            [
              healthy(e2e, "by-gtid"),
              healthy(e2e, "by-time"),
              failsWith(e2e, "unreachable", "RecoveryTargetUnreachable", "plan"),
              // the plan reads manifests only: the damaged bytes are the recovery Job's to find
              failsWith(e2e, "flipped", "ChecksumMismatch", "restore")
            ],
            { concurrency: "unbounded" }
          )
          yield* putObject(at.laterFileKey, original).pipe(Effect.provide(bucketClient(e2e)))

          const laterFile = at.laterFileKey.slice(archivePrefix.length)
          for (const [name, cluster, target] of [
            ["by-gtid", byGtid, `targetGTID ${at.lastRowGTID}`],
            ["by-time", byTime, `targetTime ${at.targetTime}`]
          ] as const) {
            const recovery = cluster.status.recovery
            assert.strictEqual(recovery.backupId, at.backupId, `${name}: b1 is the base`)
            assert.strictEqual(recovery.endGTID, at.lastRowGTID, `${name}: stopped at the target`)
            assert.strictEqual(recovery.pointInTime?.target, target, `${name}: status.recovery.pointInTime`)
            assert.strictEqual(recovery.pointInTime.startGTID, at.backupEndGTID, `${name}: replayed from b1's end`)
            assert.isAbove(recovery.pointInTime.binlogFiles.length, 0, `${name}: archived files replayed`)
            assert.notInclude(
              recovery.pointInTime.binlogFiles,
              laterFile,
              `${name}: the file after the drop is not read`
            )
            const plan = recovery.plan
            assert.isTrue(plan?.reachable, `${name}: status.recovery.plan is reachable`)
            assert.strictEqual(plan.target, target, `${name}: the plan's target`)
            assert.strictEqual(plan.backupId, at.backupId, `${name}: the plan's base is b1`)
            assert.strictEqual(plan.startGTID, at.backupEndGTID, `${name}: the plan starts at b1's end`)
            assert.strictEqual(plan.fileCount, recovery.pointInTime.binlogFiles.length, `${name}: planned = replayed`)
            assert.deepStrictEqual(
              plan.files.map((f: Json) => `${f.series}/${f.file}`),
              recovery.pointInTime.binlogFiles.slice(0, plan.files.length),
              `${name}: the planned files are the replayed ones`
            )
            yield* holdsTarget(e2e, name, at)
          }
          assert.strictEqual(byGtid.status.recovery.backupName, "b1")
          assert.strictEqual(byTime.status.recovery.source, source)
          assert.include(
            unreachable.status.conditions.find((c: Json) => c.type === "Recovered")?.message ?? "",
            "AfterLastArchivedTransaction"
          )
          assert.isFalse(unreachable.status.recovery?.plan?.reachable, "the unreachable plan is in status")
          assert.strictEqual(unreachable.status.recovery.plan.why, "AfterLastArchivedTransaction")
          assert.strictEqual(unreachable.status.recovery.plan.backupId, at.backupId)
          assert.isTrue(damaged.status.recovery?.plan?.reachable, "the damage is not visible to the plan")
          assert.include(
            damaged.status.conditions.find((c: Json) => c.type === "Recovered")?.message ?? "",
            at.laterFileKey.split("/").at(-1) ?? "",
            "the message names the damaged binlog"
          )
        }),
      { timeout: 600_000 }
    )
  })
})
