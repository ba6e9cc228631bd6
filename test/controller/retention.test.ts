/**
 * The retention step: the Job's rendering (snapshot; env the Job decodes, credentials only as Secret
 * references, no token), the pure decision (schedule, dry run first, the two steps per finished Job, Backup
 * marks) and the loop on the fake API server: a dry run, an hour later the real run, the status, the
 * `DataRemoved` condition and the Events.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import { stringify } from "yaml"
import type { Backup } from "../../src/api/backup.ts"
import { type Cluster, RetentionPolicy, type RetentionStatus, retentionWindowMillis } from "../../src/api/cluster.ts"
import { DnsLabel } from "../../src/api/common.ts"
import { maxDnsLabelLength } from "../../src/api/names.ts"
import { RetentionEnv, type RetentionResult } from "../../src/api/retentionJob.ts"
import { findCondition } from "../../src/controller/conditions.ts"
import type { RecordedEvent } from "../../src/controller/Events.ts"
import {
  decideRetention,
  type RetentionJobObservation,
  retentionIntervalSeconds
} from "../../src/controller/retention/decide.ts"
import { renderRetentionJob } from "../../src/controller/retention/render.ts"
import { KubeApi } from "../../src/kube/KubeApi.ts"
import { type Job, Resources } from "../../src/kube/resources.ts"
import { FakeCluster } from "../../src/sandbox/FakeCluster.ts"
import { layerFake } from "../../src/sandbox/KubeApiFake.ts"
import { clusterObject, objectStore, reconcileFresh, ref } from "./cluster/fixtures.ts"

const withPolicy = (policy = "30d", dryRun?: boolean) => ({
  backup: { objectStore, retentionPolicy: policy, ...(dryRun === undefined ? {} : { retentionDryRun: dryRun }) }
})

type Container = {
  env: ReadonlyArray<{ name: string; value?: string; valueFrom?: unknown }>
  securityContext: Record<string, unknown>
  volumeMounts: ReadonlyArray<{ name: string; mountPath: string }>
}
type PodSpecShape = {
  containers: ReadonlyArray<Container>
  volumes: ReadonlyArray<Record<string, unknown>>
  automountServiceAccountToken: boolean
}
const podSpec = (job: Job) => job.spec?.template.spec as unknown as PodSpecShape
const envOf = (container: Container) => Object.fromEntries(container.env.map((e) => [e.name, e.value ?? ""]))

const result = (overrides: Partial<RetentionResult> = {}): RetentionResult => ({
  dryRun: true,
  policy: "30d",
  windowStart: "2026-11-01T00:00:00.000Z",
  anchorBackupId: "20261030T000000Z",
  backups: [{ backupName: "nightly", backupId: "20261001T000000Z", status: "completed" }],
  moreBackups: 0,
  binlogFiles: ["server-1/mysql-bin.000001"],
  binlogFilesTotal: 1,
  ...overrides
})

const finished = (
  r: RetentionResult | { readonly reason: string; readonly message: string },
  finishedAt = "2026-12-01T00:00:00Z"
): RetentionJobObservation => ({
  _tag: "Finished",
  name: "db-retention",
  dryRun: "dryRun" in r ? r.dryRun : true,
  finishedAt,
  outcome: "reason" in r ? { _tag: "Failed", failure: r } : { _tag: "Result", result: r }
})

const backupCr = (name: string, cluster: string, backupId: string, conditions: Backup["status"] = {}): Backup => ({
  apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
  kind: "Backup",
  metadata: { namespace: "ns", name },
  spec: { cluster: { name: cluster }, method: "xtrabackup", target: "prefer-standby", online: true },
  status: { phase: "completed", backupId, ...conditions }
})

const ClusterName = DnsLabel.check(Schema.isMaxLength(50))

describe("retention Job", () => {
  it("renders the retention Job of a Cluster", async () => {
    await expect(stringify(renderRetentionJob(ref(withPolicy()), true))).toMatchFileSnapshot(
      "__snapshots__/retention-job.yaml"
    )
  })

  it("no Job without a policy; the policy's forms and its length", () => {
    assert.isUndefined(renderRetentionJob(ref(), true))
    assert.deepStrictEqual(
      ["1d", "2w", "1m", "30d"].map(retentionWindowMillis),
      [1, 14, 30, 30].map((days) => days * 24 * 60 * 60 * 1000)
    )
    for (const bad of ["", "0d", "1y", "1h", "d", "30", "1.5d", "10000d"]) {
      assert.isFalse(Schema.is(RetentionPolicy)(bad), bad)
    }
  })

  it.effect.prop(
    "for any Cluster and policy: the env decodes, credentials are Secret references only, no token, no privilege",
    { name: ClusterName, policy: RetentionPolicy, dryRun: Schema.Boolean },
    ({ name, policy, dryRun }) =>
      Effect.sync(() => {
        const job = renderRetentionJob(ref(withPolicy(policy), name), dryRun)
        assert.isDefined(job)
        if (job === undefined) return
        const spec = podSpec(job)
        const container = spec.containers[0] as Container
        const env = Schema.decodeUnknownSync(RetentionEnv)(envOf(container))
        assert.strictEqual(env.RETENTION_CLUSTER_NAME, name)
        assert.strictEqual(env.RETENTION_POLICY, policy)
        assert.strictEqual(env.RETENTION_DRY_RUN, dryRun ? "true" : "false")
        assert.isTrue(container.env.every((e) => e.valueFrom === undefined))
        // the credentials are files of a projected volume of Secret key references
        const volume = spec.volumes.find((v) => v.name === "object-store") as {
          projected: { sources: ReadonlyArray<{ secret: { name: string } }> }
        }
        assert.deepStrictEqual(
          volume.projected.sources.map((s) => s.secret.name),
          ["s3-creds", "s3-creds"]
        )
        assert.notInclude(JSON.stringify(container.env), 'secretAccessKey":"')
        assert.isFalse(spec.automountServiceAccountToken)
        assert.strictEqual(container.securityContext.readOnlyRootFilesystem, true)
        const objectName = job.metadata?.name ?? ""
        assert.isTrue(objectName.length <= maxDnsLabelLength && Schema.is(DnsLabel)(objectName), objectName)
        assert.strictEqual(job.metadata?.ownerReferences?.[0]?.kind, "Cluster")
      })
  )
})

describe("retention decision", () => {
  const now = Date.parse("2026-12-01T12:00:00Z")
  const cluster = ref(withPolicy())
  const ran = (minutesAgo: number, overrides: Partial<RetentionStatus> = {}): RetentionStatus => ({
    policy: "30d",
    lastRunTime: new Date(now - minutesAgo * 60_000).toISOString().replace(".000Z", "Z"),
    dryRun: true,
    ...overrides
  })
  const decide = (
    previous: RetentionStatus | undefined,
    job: RetentionJobObservation = { _tag: "Absent" },
    c = cluster,
    backups: ReadonlyArray<Backup> = []
  ) => decideRetention({ cluster: c, previous, job, backups, now })
  const created = (d: ReturnType<typeof decide>) => {
    const action = d.actions[0]
    return action?._tag === "CreateJob" ? envOf(podSpec(action.job).containers[0] as Container).RETENTION_DRY_RUN : ""
  }

  it("schedule: a new or changed policy runs now as a dry run; the same one an interval after the last run", () => {
    assert.strictEqual(created(decide(undefined)), "true")
    assert.strictEqual(created(decide(ran(5, { policy: "7d" }))), "true")
    const waiting = decide(ran(10))
    assert.deepStrictEqual(waiting.actions, [])
    assert.strictEqual(waiting.requeueAfterSeconds, retentionIntervalSeconds - 600)
    // after a successful dry run of this policy, the next run deletes
    assert.strictEqual(created(decide(ran(61))), "false")
    assert.strictEqual(created(decide(ran(61, { dryRun: false }))), "false")
    // unless the spec asks for dry runs only, or the last run failed
    assert.strictEqual(created(decide(ran(61), { _tag: "Absent" }, ref(withPolicy("30d", true)))), "true")
    assert.strictEqual(
      created(decide(ran(61, { dryRun: false, failure: { reason: "ObjectStoreUploadFailed", message: "denied" } }))),
      "true"
    )
    // no policy: nothing; a running Job then goes
    assert.deepStrictEqual(decide(undefined, { _tag: "Absent" }, ref()).actions, [])
    assert.deepStrictEqual(decide(undefined, { _tag: "Running" }, ref()).actions, [
      { _tag: "DeleteJob", name: "db-retention" }
    ])
    assert.deepStrictEqual(decide(undefined, { _tag: "Running" }).actions, [])
  })

  it("a finished Job: first its result in the status, then (recorded, every Backup marked) the Job goes", () => {
    const dry = decide(undefined, finished(result()))
    assert.deepStrictEqual(dry.actions, [])
    assert.deepStrictEqual(dry.marks, [])
    assert.deepStrictEqual(dry.status, {
      policy: "30d",
      lastRunTime: "2026-12-01T00:00:00Z",
      dryRun: true,
      windowStart: "2026-11-01T00:00:00.000Z",
      anchorBackupId: "20261030T000000Z",
      backups: [{ backupName: "nightly", backupId: "20261001T000000Z", status: "completed" }],
      moreBackups: 0,
      binlogFiles: ["server-1/mysql-bin.000001"],
      binlogFilesTotal: 1
    })
    assert.deepStrictEqual(
      dry.events.map((e) => [e.type, e.reason, e.message]),
      [
        [
          "Normal",
          "RetentionDryRun",
          "retention policy 30d would delete 1 base backup(s) and 1 binlog file(s) (status.retention lists them)"
        ]
      ]
    )
    const recorded = decide(dry.status, finished(result()))
    assert.deepStrictEqual(recorded.actions, [{ _tag: "DeleteJob", name: "db-retention" }])
    assert.isUndefined(recorded.status)
    assert.deepStrictEqual(recorded.events, [])

    // a real run marks the Backup of this Cluster with that name and id, and only it
    const real = result({ dryRun: false })
    const backups = [
      backupCr("nightly", "db", "20261001T000000Z"),
      backupCr("nightly-other-id", "db", "20261002T000000Z"),
      backupCr("nightly", "db", "20261101T000000Z")
    ]
    const applied = decide(undefined, finished(real), cluster, backups)
    assert.strictEqual(applied.marks.length, 1)
    const mark = applied.marks[0]
    assert.strictEqual(mark?.backup, backups[0])
    const condition = findCondition(mark?.status.conditions, "DataRemoved")
    assert.deepStrictEqual(
      [condition?.status, condition?.reason, condition?.lastTransitionTime],
      ["True", "RetentionPolicy", "2026-12-01T00:00:00Z"]
    )
    assert.strictEqual(mark?.status.phase, "completed")
    assert.deepStrictEqual([mark?.event.type, mark?.event.reason], ["Normal", "DataRemoved"])
    // recorded but the Backup not marked yet (a write conflict): the Job stays until it is
    const notYet = decide(applied.status, finished(real), cluster, backups)
    assert.deepStrictEqual(notYet.actions, [])
    assert.strictEqual(notYet.marks.length, 1)
    const marked = [{ ...backups[0], status: mark?.status } as Backup, ...backups.slice(1)]
    assert.deepStrictEqual(decide(applied.status, finished(real), cluster, marked).actions, [
      { _tag: "DeleteJob", name: "db-retention" }
    ])
  })

  it("a failed run: the reason in the status next to what the last good run listed, a Warning, no marks", () => {
    const good = decide(undefined, finished(result())).status
    const failure = { reason: "ObjectStoreUploadFailed", message: "DeleteObject denied" }
    const failed = decide(good, finished(failure, "2026-12-01T01:00:00Z"))
    assert.deepStrictEqual(failed.status, {
      ...(good as RetentionStatus),
      lastRunTime: "2026-12-01T01:00:00Z",
      failure: { reason: "ObjectStoreUploadFailed", message: "DeleteObject denied" }
    })
    assert.deepStrictEqual(
      failed.events.map((e) => [e.type, e.reason]),
      [["Warning", "RetentionFailed"]]
    )
  })
})

describe("retention loop on the fake API server", () => {
  it.effect("a dry run, an hour later the real run: status.retention, the DataRemoved condition, Events", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const fake = yield* FakeCluster
      const events: Array<RecordedEvent> = []
      const reconcile = reconcileFresh("ns/ret", events)
      yield* TestClock.setTime(Date.parse("2026-12-01T12:00:00Z"))
      yield* api.create(Resources.clusters, clusterObject("ret", withPolicy()))
      const backup = backupCr("nightly", "ret", "20261001T000000Z")
      yield* api.create(Resources.backups, backup)
      // the API server drops a status sent with the create
      yield* api.patchStatus(Resources.backups, { namespace: "ns", name: "nightly" }, { status: backup.status ?? {} })
      const jobRef = { namespace: "ns", name: "ret-retention" }
      const runJob = (r: RetentionResult) =>
        Effect.gen(function* () {
          const job = yield* api.get(Resources.jobs, jobRef)
          yield* fake.jobs.start("ns", "ret-retention")
          yield* fake.jobs.finish("ns", "ret-retention", { result: "succeeded", terminationMessage: JSON.stringify(r) })
          return envOf(podSpec(job).containers[0] as Container).RETENTION_DRY_RUN
        })
      const retentionOf = Effect.map(
        api.get(Resources.clusters, { namespace: "ns", name: "ret" }),
        (c: Cluster) => c.status?.retention
      )

      const first = yield* reconcile
      assert.strictEqual(yield* runJob(result()), "true")
      assert.isDefined(first)
      yield* reconcile
      const dry = yield* retentionOf
      assert.strictEqual(dry?.dryRun, true)
      assert.deepStrictEqual(dry?.backups, result().backups)
      yield* reconcile
      assert.strictEqual((yield* Effect.flip(api.get(Resources.jobs, jobRef)))._tag, "NotFound")
      // not due yet: no Job, a wake-up for when it is
      const waiting = yield* reconcile
      assert.strictEqual((yield* Effect.flip(api.get(Resources.jobs, jobRef)))._tag, "NotFound")
      assert.isDefined(waiting)

      yield* TestClock.adjust("61 minutes")
      yield* reconcile
      assert.strictEqual(yield* runJob(result({ dryRun: false })), "false")
      yield* reconcile
      const applied = yield* retentionOf
      assert.strictEqual(applied?.dryRun, false)
      const marked: Backup = yield* api.get(Resources.backups, { namespace: "ns", name: "nightly" })
      const condition = findCondition(marked.status?.conditions, "DataRemoved")
      assert.deepStrictEqual([condition?.status, condition?.reason], ["True", "RetentionPolicy"])
      assert.strictEqual(marked.status?.phase, "completed")
      yield* reconcile
      assert.strictEqual((yield* Effect.flip(api.get(Resources.jobs, jobRef)))._tag, "NotFound")
      assert.deepStrictEqual(
        events
          .filter((e) => e.reason.startsWith("Retention") || e.reason === "DataRemoved")
          .map((e) => `${e.kind} ${e.reason}`),
        ["Cluster RetentionDryRun", "Backup DataRemoved", "Cluster RetentionApplied"]
      )
    }).pipe(Effect.provide(Layer.fresh(layerFake.pipe(Layer.provideMerge(FakeCluster.layer)))))
  )

  it.effect("a Job whose image cannot be pulled fails the run at once (not at its deadline) and goes", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const fake = yield* FakeCluster
      const events: Array<RecordedEvent> = []
      const reconcile = reconcileFresh("ns/pull", events)
      yield* TestClock.setTime(Date.parse("2026-12-01T12:00:00Z"))
      yield* api.create(Resources.clusters, clusterObject("pull", withPolicy()))
      yield* reconcile
      yield* fake.jobs.start("ns", "pull-retention")
      const pods = yield* api.list(Resources.pods, { namespace: "ns" })
      const jobPod = pods.items.find((p) => p.metadata?.name?.startsWith("pull-retention-"))
      assert.isDefined(jobPod)
      yield* fake.statusMergePatch(
        { group: "", version: "v1", plural: "pods", namespace: "ns" },
        jobPod?.metadata?.name ?? "",
        {
          status: {
            phase: "Pending",
            containerStatuses: [
              {
                name: "retention",
                ready: false,
                restartCount: 0,
                state: { waiting: { reason: "ImagePullBackOff", message: 'Back-off pulling image "x"' } }
              }
            ]
          }
        }
      )
      yield* TestClock.adjust("1 minute")
      yield* reconcile
      const cluster: Cluster = yield* api.get(Resources.clusters, { namespace: "ns", name: "pull" })
      const job: Job = yield* api.get(Resources.jobs, { namespace: "ns", name: "pull-retention" })
      assert.deepStrictEqual(cluster.status?.retention?.failure?.reason, "ImagePullBackOff")
      assert.include(cluster.status?.retention?.failure?.message ?? "", 'Back-off pulling image "x"')
      assert.strictEqual(cluster.status?.retention?.lastRunTime, job.status?.startTime)
      assert.deepStrictEqual(
        events.filter((e) => e.reason.startsWith("Retention")).map((e) => `${e.type} ${e.reason}`),
        ["Warning RetentionFailed"]
      )
      // recorded: the Job goes, the next run (a dry run) is an interval after it started
      const next = yield* reconcile
      assert.strictEqual(
        (yield* Effect.flip(api.get(Resources.jobs, { namespace: "ns", name: "pull-retention" })))._tag,
        "NotFound"
      )
      assert.isDefined(next)
      assert.strictEqual(events.filter((e) => e.reason === "RetentionFailed").length, 1)
    }).pipe(Effect.provide(Layer.fresh(layerFake.pipe(Layer.provideMerge(FakeCluster.layer)))))
  )

  it.effect("a Job that failed without a termination message: InternalError with what Kubernetes said", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const fake = yield* FakeCluster
      const events: Array<RecordedEvent> = []
      const reconcile = reconcileFresh("ns/silent", events)
      yield* TestClock.setTime(Date.parse("2026-12-01T12:00:00Z"))
      yield* api.create(Resources.clusters, clusterObject("silent", withPolicy()))
      yield* reconcile
      yield* fake.jobs.start("ns", "silent-retention")
      yield* fake.jobs.finish("ns", "silent-retention", { result: "failed", reason: "DeadlineExceeded" })
      yield* reconcile
      const cluster: Cluster = yield* api.get(Resources.clusters, { namespace: "ns", name: "silent" })
      assert.strictEqual(cluster.status?.retention?.failure?.reason, "InternalError")
      assert.include(cluster.status?.retention?.failure?.message ?? "", "DeadlineExceeded")
    }).pipe(Effect.provide(Layer.fresh(layerFake.pipe(Layer.provideMerge(FakeCluster.layer)))))
  )
})
