/**
 * The archiving status, pure: the archive's gap-free runs (what the archiver reports), the recoverability window
 * checked against the recovery plan itself (a window is right when the plan reaches its end from its base backup
 * and from no older one), the `ContinuousArchiving` condition with its Events, and the controller's gauges.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Layer, Schema } from "effect"
import type { ArchiverStatus, BinlogManifest } from "../../src/api/binlogArchive.ts"
import type { Cluster, ClusterStatus } from "../../src/api/cluster.ts"
import { binlogArchiverLabels } from "../../src/api/names.ts"
import {
  type ArchiverObservation,
  type CompletedBackup,
  continuousArchiving,
  decideArchiving,
  recoverabilityWindow
} from "../../src/controller/binlogArchiving/decide.ts"
import { archivingSeries } from "../../src/controller/binlogArchiving/metrics.ts"
import { findCondition } from "../../src/controller/conditions.ts"
import type { RecordedEvent } from "../../src/controller/Events.ts"
import { KubeApi } from "../../src/kube/KubeApi.ts"
import { type Pod, Resources } from "../../src/kube/resources.ts"
import { archiveSegments } from "../../src/pitr/archiveSegments.ts"
import { planRecovery } from "../../src/pitr/recoveryPlan.ts"
import { FakeCluster } from "../../src/sandbox/FakeCluster.ts"
import { layerFake } from "../../src/sandbox/KubeApiFake.ts"
import { gtidState, historyManifest } from "../pitr/history.ts"
import { backupObject, clusterObject, objectStore, reconcileFresh } from "./cluster/fixtures.ts"

// one domain; transaction k is 0-1-k, committed at second 10k (test/pitr/history.ts)
const T0 = Date.parse("2026-12-01T08:00:00Z")
const time = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString().replace(".000Z", "Z")

// file n (1-based) holds transactions from+1 … to
const file = (n: number, from: number, to: number): BinlogManifest => historyManifest(time)(n - 1, from, to)

/** Consecutive files of `sizes` transactions; `dropped[i]` leaves file i out of the archive. */
const archiveOf = (sizes: ReadonlyArray<number>, dropped: ReadonlyArray<boolean>) => {
  let seq = 0
  return sizes.flatMap((size, i) => {
    const m = file(i + 1, seq, seq + size)
    seq += size
    return dropped[i] === true ? [] : [m]
  })
}

const backup = (seq: number): CompletedBackup => ({
  name: `b${seq}`,
  endGTID: gtidState(seq),
  stoppedAt: time(10 * seq + 5)
})

const reaches = (b: CompletedBackup, manifests: ReadonlyArray<BinlogManifest>, target: string) =>
  Effect.map(
    Effect.exit(
      planRecovery({
        backups: [{ backupId: b.name, endGTID: b.endGTID, stoppedAt: b.stoppedAt }],
        manifests,
        target: { _tag: "Gtid", gtid: target },
        backupID: b.name
      })
    ),
    Exit.isSuccess
  )

const seqOf = (s: string): number => (s === "" ? 0 : Number(s.split("-")[2]))

const Sizes = Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 4 }))).check(Schema.isMaxLength(8))
const Dropped = Schema.Array(Schema.Boolean).check(Schema.isMaxLength(8))
const Backups = Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 34 }))).check(
  Schema.isMaxLength(4)
)

describe("recoverability window", () => {
  it.effect.prop(
    "for any archive and backups: the plan reaches the window's end from its base backup and from no older one, or the window is absent for the reason given",
    { sizes: Sizes, dropped: Dropped, seqs: Backups },
    ({ sizes, dropped, seqs }) =>
      Effect.gen(function* () {
        const manifests = archiveOf(sizes, dropped)
        const backups = seqs.map(backup)
        const segments = archiveSegments(manifests)
        // runs never overlap and go forward; gaps are exactly the transactions no archived file holds
        for (const [a, b] of segments.slice(1).map((s, i) => [segments[i], s] as const)) {
          expect(seqOf(b.startState)).toBeGreaterThan(seqOf(a?.endState ?? ""))
        }
        assert.strictEqual(
          segments.reduce((n, s) => n + s.files, 0),
          manifests.length
        )
        const result = recoverabilityWindow(backups, segments)
        const end = Math.max(...manifests.map((m) => seqOf(m.gtidStateAfter)))
        if (result._tag === "Window") {
          const w = result.window
          assert.strictEqual(seqOf(w.lastRecoverableGTID), end)
          const base = backups.find((b) => b.name === w.baseBackup)
          assert.isDefined(base)
          if (base === undefined) return
          assert.strictEqual(w.firstRecoverableGTID, base.endGTID)
          assert.strictEqual(w.firstRecoverableTime, base.stoppedAt)
          assert.isTrue(yield* reaches(base, manifests, w.lastRecoverableGTID), "the base reaches the end")
          for (const older of backups.filter((b) => Date.parse(b.stoppedAt) < Date.parse(base.stoppedAt))) {
            assert.isFalse(yield* reaches(older, manifests, w.lastRecoverableGTID), `${older.name} is older`)
          }
          // the last time is the newest event of the run that ends the archive
          const inRun = manifests.filter((m) => seqOf(m.gtidStateBefore) >= seqOf(segments.at(-1)?.startState ?? ""))
          assert.strictEqual(
            Date.parse(w.lastRecoverableTime),
            Math.max(...inRun.map((m) => Date.parse(m.lastEventTime)))
          )
          return
        }
        if (manifests.length === 0) return assert.strictEqual(result.reason, "NothingArchived")
        if (backups.length === 0) return assert.strictEqual(result.reason, "NoBaseBackup")
        // a backup past the archive's end is no base for it (with the empty end state the plan would not say so)
        for (const b of backups.filter((b) => seqOf(b.endGTID) <= end)) {
          assert.isFalse(yield* reaches(b, manifests, gtidState(end)), `${b.name} reaches the end`)
        }
        assert.strictEqual(result.reason, seqs.some((s) => s <= end) ? "ArchiveGap" : "ArchiveBehindBackup")
      })
  )

  it("a failover's new series continues the run; an overlapping file does not start a new one", () => {
    const old = [file(1, 0, 3), file(2, 3, 5)]
    // the new primary's first file starts at the state it had replicated, its second overlaps nothing
    const promoted = [
      { ...file(1, 5, 7), series: "server-2" },
      { ...file(2, 7, 9), series: "server-2" }
    ]
    const runs = archiveSegments([...promoted, ...old])
    assert.deepStrictEqual(
      runs.map((r) => [r.startState, r.endState, r.firstFile, r.lastFile, r.files]),
      [["", "0-1-9", "server-1/mysql-bin.000001", "server-2/mysql-bin.000002", 4]]
    )
    const gap = archiveSegments([old[0] as BinlogManifest, ...promoted])
    assert.deepStrictEqual(
      gap.map((r) => [r.startState, r.endState]),
      [
        ["", "0-1-3"],
        ["0-1-5", "0-1-9"]
      ]
    )
  })
})

const report = (over: Partial<ArchiverStatus> = {}): ArchiverStatus => ({
  version: 1,
  state: "ok",
  series: "server-1",
  lastArchived: {
    file: "server-1/mysql-bin.000002",
    gtidState: "0-1-5",
    lastGTID: "0-1-5",
    eventTime: time(52),
    archivedAt: time(53)
  },
  segments: archiveSegments([file(1, 0, 3), file(2, 3, 5)]),
  caughtUp: false,
  lagSeconds: 12,
  filesArchived: 2,
  bytesArchived: 600,
  ...over
})

const decideAt = (
  status: ClusterStatus,
  observation: ArchiverObservation,
  backups: ReadonlyArray<CompletedBackup> = [backup(2)]
) => decideArchiving({ status, observation, backups, generation: 3 }, "2026-12-01T09:00:00Z")

describe("ContinuousArchiving", () => {
  it("archiving with a window: True, the figures, one Normal Event, none when nothing changed", () => {
    const first = decideAt({ phase: "healthy" }, { _tag: "Reported", status: report() })
    const condition = findCondition(first.status.conditions, continuousArchiving)
    assert.strictEqual(condition?.status, "True")
    assert.strictEqual(condition?.reason, "Archiving")
    assert.strictEqual(
      condition?.message,
      `archiving series server-1; recoverable from backup b2 (0-1-2, ${time(25)}) to 0-1-5 (${time(52)})`
    )
    assert.deepStrictEqual(first.status.binlogArchive, {
      lastArchivedFile: "server-1/mysql-bin.000002",
      lastArchivedGTID: "0-1-5",
      lastArchivedTime: time(52),
      caughtUp: false
    })
    assert.deepStrictEqual(first.status.recoverabilityWindow, {
      baseBackup: "b2",
      firstRecoverableGTID: "0-1-2",
      firstRecoverableTime: time(25),
      lastRecoverableGTID: "0-1-5",
      lastRecoverableTime: time(52)
    })
    assert.deepStrictEqual(
      first.events.map((e) => [e.type, e.reason]),
      [["Normal", "Archiving"]]
    )
    assert.strictEqual(first.status.phase, "healthy")
    const again = decideAt(first.status, { _tag: "Reported", status: report() })
    assert.deepStrictEqual(again.events, [])
    assert.deepStrictEqual(again.status, first.status)
  })

  it("each False reason, with a Warning on the transition except for a starting archiver", () => {
    const archiving = decideAt({}, { _tag: "Reported", status: report() }).status
    const cases: ReadonlyArray<[ArchiverObservation, string, "Normal" | "Warning"]> = [
      [{ _tag: "NoPod", deployment: "c-binlog-archiver" }, "ArchiverNotReady", "Normal"],
      [{ _tag: "Unreachable", detail: "connect ECONNREFUSED" }, "ArchiverNotReady", "Normal"],
      [{ _tag: "Reported", status: report({ state: "starting", message: "claiming" }) }, "ArchiverNotReady", "Normal"],
      [
        { _tag: "Reported", status: report({ state: "ownedByOtherCluster", message: "belongs to ns/other" }) },
        "ArchiveOwnedByOtherCluster",
        "Warning"
      ],
      [
        { _tag: "Reported", status: report({ state: "serverUnreachable", message: "down" }) },
        "SourceUnreachable",
        "Warning"
      ],
      [{ _tag: "Reported", status: report({ state: "failed", message: "disk full" }) }, "ArchiverFailed", "Warning"],
      [
        { _tag: "Reported", status: report({ segments: archiveSegments([file(1, 0, 1), file(3, 3, 5)]) }) },
        "ArchiveGap",
        "Warning"
      ]
    ]
    for (const [observation, reason, type] of cases) {
      const next = decideAt(archiving, observation)
      const condition = findCondition(next.status.conditions, continuousArchiving)
      assert.strictEqual(condition?.status, "False", reason)
      assert.strictEqual(condition?.reason, reason)
      assert.strictEqual(condition?.lastTransitionTime, "2026-12-01T09:00:00Z")
      assert.deepStrictEqual(
        next.events.map((e) => [e.type, e.reason]),
        [[type, reason]]
      )
    }
    // an archiver that is away keeps the last figures; another cluster's prefix has none of ours
    assert.deepStrictEqual(
      decideAt(archiving, { _tag: "Unreachable", detail: "x" }).status.recoverabilityWindow,
      archiving.recoverabilityWindow
    )
    const owned = decideAt(archiving, { _tag: "Reported", status: report({ state: "ownedByOtherCluster" }) }).status
    assert.isUndefined(owned.binlogArchive)
    assert.isUndefined(owned.recoverabilityWindow)
  })

  it("no base backup yet: still True, the message says why nothing is recoverable; disabled removes it all", () => {
    const none = decideAt({}, { _tag: "Reported", status: report() }, [])
    const condition = findCondition(none.status.conditions, continuousArchiving)
    assert.strictEqual(condition?.status, "True")
    assert.include(condition?.message, "nothing is recoverable yet: there is no completed base backup")
    assert.isUndefined(none.status.recoverabilityWindow)
    const off = decideAt(decideAt({}, { _tag: "Reported", status: report() }).status, { _tag: "Disabled" })
    assert.deepStrictEqual(off.status, { conditions: [] })
    assert.deepStrictEqual(off.events, [])
  })
})

describe("archiving gauges", () => {
  it("lag from the last archived time unless caught up; the window's first and last point; absent when unknown", () => {
    const cluster = (name: string, status: ClusterStatus): Cluster =>
      ({ metadata: { namespace: "db", name }, spec: {}, status }) as unknown as Cluster
    const archiving = decideAt({}, { _tag: "Reported", status: report() }).status
    const caughtUp = decideAt({}, { _tag: "Reported", status: report({ caughtUp: true }) }).status
    const series = archivingSeries(
      [cluster("a", archiving), cluster("b", caughtUp), cluster("plain", {})],
      Date.parse(time(52)) + 90_000
    )
    assert.deepStrictEqual(series.cnmysql_binlog_archive_lag_seconds, [
      [{ namespace: "db", cluster: "a" }, 90],
      [{ namespace: "db", cluster: "b" }, 0]
    ])
    assert.deepStrictEqual(series.cnmysql_recoverability_first_timestamp_seconds[0], [
      { namespace: "db", cluster: "a" },
      Date.parse(time(25)) / 1000
    ])
    assert.deepStrictEqual(series.cnmysql_recoverability_last_timestamp_seconds[0], [
      { namespace: "db", cluster: "a" },
      Date.parse(time(52)) / 1000
    ])
    assert.deepStrictEqual(
      series.cnmysql_binlog_archive_continuous.map(([l, v]) => [l.cluster, v]),
      [
        ["a", 1],
        ["b", 1]
      ]
    )
  })
})

describe("the Cluster reconcile loop reports archiving (FakeCluster, the archiver's /status scripted)", () => {
  it.effect(
    "not ready until the archiver Pod answers, then the window from a completed Backup; another cluster's prefix is a Warning, once",
    () =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        const fake = yield* FakeCluster
        const events: Array<RecordedEvent> = []
        let answer: ArchiverStatus | undefined = report()
        const asked: Array<string> = []
        const reconcile = reconcileFresh("ns/arch", events, {
          archiver: (url) => {
            asked.push(url)
            return answer
          }
        })
        const condition = Effect.map(
          api.get(Resources.clusters, { namespace: "ns", name: "arch" }),
          (c) => [c.status, findCondition(c.status?.conditions, continuousArchiving)] as const
        )
        yield* api.create(
          Resources.clusters,
          clusterObject("arch", { backup: { objectStore, binlogArchiving: { enabled: true, flushInterval: "5m" } } })
        )
        const first = yield* reconcile
        // a running archiver is polled: never later than 30 s (the instances may ask for sooner)
        assert.isAtMost(Duration.toMillis(first?.requeueAfter ?? Duration.infinity), 30_000)
        const [, notReady] = yield* condition
        assert.strictEqual(notReady?.reason, "ArchiverNotReady")
        assert.include(notReady?.message, "arch-binlog-archiver")
        assert.deepStrictEqual(asked, [], "no Pod, nothing to ask")

        const pod: Pod = {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { namespace: "ns", name: "arch-binlog-archiver-x1", labels: binlogArchiverLabels("arch") },
          spec: { containers: [{ name: "archiver", image: "i" }] }
        } as Pod
        yield* api.create(Resources.pods, pod)
        const ns = (plural: string, group = "", version = "v1") => ({ group, version, plural, namespace: "ns" })
        yield* fake.statusMergePatch(ns("pods"), "arch-binlog-archiver-x1", {
          status: { phase: "Running", podIP: "10.1.2.3" }
        })
        const b = backupObject("b2", undefined)
        yield* api.create(Resources.backups, { ...b, spec: { ...b.spec, cluster: { name: "arch" } } })
        yield* fake.statusMergePatch(ns("backups", "mysql.cloudnative-mysql.io", "v1alpha1"), "b2", {
          status: { phase: "completed", endGTID: "0-1-2", stoppedAt: time(25) }
        })
        yield* reconcile
        assert.deepStrictEqual(asked, ["http://10.1.2.3:9187/status"])
        const [archived, archiving] = yield* condition
        assert.strictEqual(archiving?.status, "True")
        assert.strictEqual(archived?.recoverabilityWindow?.baseBackup, "b2")
        assert.strictEqual(archived?.recoverabilityWindow?.lastRecoverableGTID, "0-1-5")
        assert.strictEqual(archived?.binlogArchive?.lastArchivedFile, "server-1/mysql-bin.000002")

        answer = report({
          state: "ownedByOtherCluster",
          message: "the binlog archive at k belongs to cluster ns/other"
        })
        yield* reconcile
        yield* reconcile
        const [owned, refused] = yield* condition
        assert.strictEqual(refused?.status, "False")
        assert.strictEqual(refused?.reason, "ArchiveOwnedByOtherCluster")
        assert.isUndefined(owned?.binlogArchive)
        assert.deepStrictEqual(
          events
            .filter((e) => !e.reason.startsWith("BinlogArchiver") && e.reason !== "InstanceCreated")
            .filter((e) => ["ArchiverNotReady", "Archiving", "ArchiveOwnedByOtherCluster"].includes(e.reason))
            .map((e) => [e.type, e.reason]),
          [
            ["Normal", "ArchiverNotReady"],
            ["Normal", "Archiving"],
            ["Warning", "ArchiveOwnedByOtherCluster"]
          ]
        )

        answer = undefined
        yield* reconcile
        const [, away] = yield* condition
        assert.strictEqual(away?.reason, "ArchiverNotReady")
        assert.include(away?.message, "ECONNREFUSED")
      }).pipe(Effect.provide(Layer.fresh(layerFake.pipe(Layer.provideMerge(FakeCluster.layer)))))
  )

  it.effect(
    "an archiver Pod waiting for a missing object-store Secret: ObjectStoreSecretMissing naming it, a Warning; archiving once it runs",
    () =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        const fake = yield* FakeCluster
        const events: Array<RecordedEvent> = []
        const reconcile = reconcileFresh("ns/nosec", events, { archiver: () => report() })
        const condition = Effect.map(api.get(Resources.clusters, { namespace: "ns", name: "nosec" }), (c) =>
          findCondition(c.status?.conditions, continuousArchiving)
        )
        yield* api.create(
          Resources.clusters,
          clusterObject("nosec", { backup: { objectStore, binlogArchiving: { enabled: true, flushInterval: "5m" } } })
        )
        yield* reconcile
        // the Deployment's Pod, as the kubelet leaves it while the projected volume cannot be set up
        const pod = yield* api.create(Resources.pods, {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { namespace: "ns", name: "nosec-binlog-archiver-x1", labels: binlogArchiverLabels("nosec") },
          spec: { containers: [{ name: "archiver", image: "i" }] }
        } as Pod)
        const ns = (plural: string) => ({ group: "", version: "v1", plural, namespace: "ns" })
        yield* fake.statusMergePatch(ns("pods"), "nosec-binlog-archiver-x1", {
          status: {
            phase: "Pending",
            containerStatuses: [{ name: "archiver", state: { waiting: { reason: "ContainerCreating" } } }]
          }
        })
        yield* api.create(Resources.events, {
          metadata: { namespace: "ns", generateName: "nosec-binlog-archiver-x1." },
          involvedObject: {
            kind: "Pod",
            namespace: "ns",
            name: "nosec-binlog-archiver-x1",
            uid: pod.metadata?.uid ?? ""
          },
          reason: "FailedMount",
          type: "Warning",
          message: 'MountVolume.SetUp failed for volume "object-store" : secret "s3-creds" not found',
          source: { component: "kubelet", host: "node" }
        })
        yield* reconcile
        const missing = yield* condition
        assert.strictEqual(missing?.status, "False")
        assert.strictEqual(missing?.reason, "ObjectStoreSecretMissing")
        assert.strictEqual(
          missing?.message,
          "the object store's Secret ns/s3-creds does not exist (keys access, secret): the Pod of Deployment nosec-binlog-archiver waits in ContainerCreating and starts once it exists"
        )
        // the Secret is created: the kubelet mounts it and the archiver runs
        yield* fake.statusMergePatch(ns("pods"), "nosec-binlog-archiver-x1", {
          status: {
            phase: "Running",
            podIP: "10.1.2.4",
            containerStatuses: [{ name: "archiver", state: { running: { startedAt: "2026-12-01T10:00:00Z" } } }]
          }
        })
        yield* reconcile
        assert.strictEqual((yield* condition)?.status, "True")
        assert.deepStrictEqual(
          events
            .filter((e) => ["ArchiverNotReady", "Archiving", "ObjectStoreSecretMissing"].includes(e.reason))
            .map((e) => [e.type, e.reason]),
          [
            ["Normal", "ArchiverNotReady"],
            ["Warning", "ObjectStoreSecretMissing"],
            ["Normal", "Archiving"]
          ]
        )
      }).pipe(Effect.provide(Layer.fresh(layerFake.pipe(Layer.provideMerge(FakeCluster.layer)))))
  )
})
