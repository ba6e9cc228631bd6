/**
 * The Cluster reconcile loop against the fake API server (`FakeCluster`) under `TestClock`: the Job simulator
 * finishes recovery Jobs with real termination messages, the test marks Pods Ready, and the instance managers
 * answer through `InstanceStatusClient.layerTest`. Every reconcile runs on freshly built caches, so each one is
 * also a controller restart; one test restarts explicitly in the middle of a recovery.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Option } from "effect"
import type { Cluster } from "../../../src/api/cluster.ts"
import { findCondition } from "../../../src/controller/conditions.ts"
import type { RecordedEvent } from "../../../src/controller/Events.ts"
import type { InstanceStatus } from "../../../src/instance/protocol.ts"
import { KubeApi } from "../../../src/kube/KubeApi.ts"
import { type Job, type Pod, Resources } from "../../../src/kube/resources.ts"
import { FakeCluster } from "../../../src/sandbox/FakeCluster.ts"
import { layerFake } from "../../../src/sandbox/KubeApiFake.ts"
import {
  backupObject,
  clusterObject,
  completed,
  fromBackup,
  fromSource,
  instanceStatus,
  reconcileFresh,
  sha
} from "./fixtures.ts"

const World = layerFake.pipe(Layer.provideMerge(FakeCluster.layer))

interface Harness {
  readonly events: Array<RecordedEvent>
  readonly statuses: Map<string, InstanceStatus>
}

/** One reconcile on freshly built caches (a controller that just started), once they synced. */
const reconcile = (harness: Harness, key: string) =>
  reconcileFresh(key, harness.events, { instances: (instance) => harness.statuses.get(instance) })

const ns = (plural: string, group = "", version = "v1") => ({ group, version, plural, namespace: "ns" })

const getCluster = (name: string) =>
  Effect.flatMap(KubeApi, (api) => api.get(Resources.clusters, { namespace: "ns", name }))

const pods = Effect.flatMap(KubeApi, (api) => api.list(Resources.pods, { namespace: "ns" }))

const markReady = (name: string, ip: string) =>
  Effect.flatMap(FakeCluster, (fake) =>
    fake.statusMergePatch(ns("pods"), name, {
      status: { phase: "Running", podIP: ip, conditions: [{ type: "Ready", status: "True" }] }
    })
  )

const restoreResult = {
  backupId: "20261201T101500Z",
  archiveKey: "prod/source/nightly/20261201T101500Z/backup.xbstream",
  size: 12345,
  sha256: sha,
  gtid: "0-1-42",
  binlog: { file: "mysql-bin.000003", position: 1234 },
  startedAt: "2026-12-01T10:00:00Z",
  stoppedAt: "2026-12-01T10:02:00Z"
}

const envOf = (pod: Pod) =>
  Object.fromEntries(
    (
      (pod.spec as unknown as { containers: Array<{ env: Array<{ name: string; value?: string }> }> }).containers[0]
        ?.env ?? []
    ).map((e) => [e.name, e.value])
  )

describe("Cluster reconcile loop (FakeCluster, TestClock)", () => {
  it.effect(
    "recovers from a Backup across a controller restart, starts the primary on the restored volume, clones two replicas, becomes healthy, recreates a deleted Pod, scales down",
    () =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        const fake = yield* FakeCluster
        const harness: Harness = { events: [], statuses: new Map() }
        const backup = yield* api.create(Resources.backups, backupObject("nightly", undefined))
        yield* api.patchStatus(
          Resources.backups,
          { namespace: "ns", name: "nightly" },
          {
            metadata: { resourceVersion: backup.metadata.resourceVersion },
            status: completed
          }
        )
        yield* api.create(Resources.clusters, clusterObject("restored", fromBackup))
        const key = "ns/restored"

        yield* reconcile(harness, key)
        let cluster: Cluster = yield* getCluster("restored")
        assert.strictEqual(cluster.status?.phase, "recovering")
        assert.strictEqual(cluster.status?.recovery?.backupName, "nightly")
        const secrets = yield* api.list(Resources.secrets, { namespace: "ns" })
        assert.deepStrictEqual(secrets.items.map((s) => s.metadata?.name).sort(), [
          "restored-ca",
          "restored-client-tls",
          "restored-credentials",
          "restored-server-tls"
        ])
        const services = yield* api.list(Resources.services, { namespace: "ns" })
        assert.strictEqual(services.items.length, 4)
        const job: Job = yield* api.get(Resources.jobs, { namespace: "ns", name: "restored-1-recovery" })
        assert.include(JSON.stringify(job.spec), "RESTORE_EXPECTED_SHA256")
        assert.strictEqual((yield* pods).items.length, 0, "no database Pod before the restore succeeded")

        // the controller restarts while the Job runs: it finds the Job, creates no second one
        yield* fake.jobs.start("ns", "restored-1-recovery")
        yield* reconcile(harness, key)
        const jobCreates = (yield* fake.audit).filter((a) => a.verb === "create" && a.plural === "jobs")
        assert.strictEqual(jobCreates.length, 1)
        cluster = yield* getCluster("restored")
        assert.strictEqual(cluster.status?.phase, "recovering")

        yield* fake.jobs.finish("ns", "restored-1-recovery", {
          result: "succeeded",
          terminationMessage: JSON.stringify(restoreResult)
        })
        yield* reconcile(harness, key)
        cluster = yield* getCluster("restored")
        assert.strictEqual(findCondition(cluster.status?.conditions, "Recovered")?.status, "True")
        assert.strictEqual(cluster.status?.recovery?.endGTID, "0-1-42")
        assert.strictEqual(cluster.status?.recovery?.backupId, "20261201T101500Z")
        const first = (yield* pods).items.filter((p) => !p.metadata?.name?.includes("recovery"))
        assert.deepStrictEqual(
          first.map((p) => p.metadata?.name),
          ["restored-1"]
        )
        assert.strictEqual(envOf(first[0]!).DATA_DIR_BOOTSTRAP, "restored")
        assert.strictEqual(first[0]!.metadata?.labels?.["cloudnative-mysql.io/role"], "primary")

        yield* markReady("restored-1", "127.0.1.1")
        harness.statuses.set("restored-1", instanceStatus("primary", "0-1-42"))
        yield* reconcile(harness, key)
        yield* markReady("restored-2", "127.0.1.2")
        harness.statuses.set("restored-2", instanceStatus("replica", "0-1-42", 3))
        const second: Pod = yield* api.get(Resources.pods, { namespace: "ns", name: "restored-2" })
        assert.strictEqual(envOf(second).DATA_DIR_BOOTSTRAP, "clone")
        assert.strictEqual(envOf(second).CLONE_SOURCE_URL, "https://restored-rw.ns.svc:8443")
        yield* reconcile(harness, key)
        yield* markReady("restored-3", "127.0.1.3")
        harness.statuses.set("restored-3", instanceStatus("replica", "0-1-42", 0))
        yield* reconcile(harness, key)
        cluster = yield* getCluster("restored")
        assert.strictEqual(cluster.status?.phase, "healthy")
        assert.strictEqual(cluster.status?.readyInstances, 3)
        assert.strictEqual(cluster.status?.currentPrimary, "restored-1")
        assert.deepStrictEqual(
          cluster.status?.instanceStatuses?.map((s) => [s.name, s.role, s.ready, s.lagSeconds ?? null, s.podIP]),
          [
            ["restored-1", "primary", true, null, "127.0.1.1"],
            ["restored-2", "replica", true, 3, "127.0.1.2"],
            ["restored-3", "replica", true, 0, "127.0.1.3"]
          ]
        )
        const configMap = yield* api.get(Resources.configMaps, { namespace: "ns", name: "restored-config" })
        assert.deepStrictEqual(Object.keys(configMap.data ?? {}), [
          "restored-1.cnf",
          "restored-2.cnf",
          "restored-3.cnf"
        ])
        // a healthy, unchanged Cluster writes nothing
        yield* fake.clearAudit
        yield* reconcile(harness, key)
        const writes = (yield* fake.audit).filter((a) => a.verb !== "get" && a.verb !== "list" && a.verb !== "watch")
        assert.deepStrictEqual(
          writes.map((a) => `${a.verb} ${a.plural} ${a.name ?? ""}`),
          []
        )

        // a deleted Pod is recreated on its PVC
        yield* api.delete(Resources.pods, { namespace: "ns", name: "restored-2" })
        harness.statuses.delete("restored-2")
        yield* reconcile(harness, key)
        cluster = yield* getCluster("restored")
        assert.strictEqual(cluster.status?.phase, "degraded")
        const recreated: Pod = yield* api.get(Resources.pods, { namespace: "ns", name: "restored-2" })
        assert.isUndefined(recreated.status?.podIP)
        const pvcCreates = (yield* fake.audit).filter(
          (a) => a.verb === "create" && a.plural === "persistentvolumeclaims"
        )
        assert.strictEqual(pvcCreates.length, 0, "the PVC is reused")
        yield* markReady("restored-2", "127.0.1.2")
        harness.statuses.set("restored-2", instanceStatus("replica", "0-1-42", 0))

        // scale down: the highest-numbered replica and its PVC go
        yield* api.patch(Resources.clusters, { namespace: "ns", name: "restored" }, { spec: { instances: 2 } })
        yield* reconcile(harness, key)
        assert.isTrue(
          Option.isNone(yield* Effect.option(api.get(Resources.pods, { namespace: "ns", name: "restored-3" })))
        )
        const pvcs = yield* api.list(Resources.persistentVolumeClaims, { namespace: "ns" })
        assert.deepStrictEqual(pvcs.items.map((p) => p.metadata?.name).sort(), ["restored-1", "restored-2"])
        harness.statuses.delete("restored-3")
        yield* reconcile(harness, key)
        cluster = yield* getCluster("restored")
        assert.strictEqual(cluster.status?.phase, "healthy")
        assert.strictEqual(cluster.status?.instances, 2)
        assert.strictEqual(cluster.status?.latestInstance, 3)

        const reasons = harness.events.map((e) => e.reason)
        for (const reason of [
          "RecoveryStarted",
          "Recovered",
          "InstanceCreated",
          "ClusterHealthy",
          "ClusterDegraded",
          "InstanceRemoved"
        ]) {
          assert.include(reasons, reason)
        }
        assert.strictEqual(reasons.filter((r) => r === "RecoveryStarted").length, 1)
      }).pipe(Effect.provide(Layer.fresh(World)))
  )

  const jobFailures = [
    "NoBaseBackupsFound",
    "BackupIDNotFound",
    "ObjectStoreDownloadFailed",
    "ChecksumMismatch",
    "RestorePrepareFailed",
    "RestoreCopyBackFailed"
  ] as const
  it.effect(
    "every raw-S3 recovery failure surface: phase failed, condition and Warning Event, nothing started; deleting the Job retries",
    () =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        const fake = yield* FakeCluster
        for (const reason of jobFailures) {
          const harness: Harness = { events: [], statuses: new Map() }
          const name = `r-${reason.toLowerCase()}`
          yield* api.create(
            Resources.clusters,
            clusterObject(name, fromSource(reason === "BackupIDNotFound" ? "20250101T000000Z" : undefined))
          )
          yield* reconcile(harness, `ns/${name}`)
          const job: Job = yield* api.get(Resources.jobs, { namespace: "ns", name: `${name}-1-recovery` })
          assert.include(JSON.stringify(job.spec), "RESTORE_SOURCE_CLUSTER")
          yield* fake.jobs.start("ns", `${name}-1-recovery`)
          yield* fake.jobs.finish("ns", `${name}-1-recovery`, {
            result: "failed",
            terminationMessage: JSON.stringify({ reason, message: `${reason} for the test` })
          })
          yield* reconcile(harness, `ns/${name}`)
          const cluster: Cluster = yield* getCluster(name)
          assert.strictEqual(cluster.status?.phase, "failed", reason)
          assert.strictEqual(findCondition(cluster.status?.conditions, "Recovered")?.reason, reason)
          assert.deepStrictEqual(
            harness.events.filter((e) => e.type === "Warning").map((e) => [e.reason, e.name]),
            [[reason, name]]
          )
          const started = (yield* pods).items.filter((p) => p.metadata?.name === `${name}-1`)
          assert.strictEqual(started.length, 0, "nothing started on bad data")
          // a later reconcile neither repeats the Event nor starts anything
          yield* reconcile(harness, `ns/${name}`)
          assert.strictEqual(harness.events.filter((e) => e.type === "Warning").length, 1)
          if (reason === "ObjectStoreDownloadFailed") {
            yield* api.delete(
              Resources.jobs,
              { namespace: "ns", name: `${name}-1-recovery` },
              { propagationPolicy: "Background" }
            )
            yield* reconcile(harness, `ns/${name}`)
            const again = yield* getCluster(name)
            assert.strictEqual(again.status?.phase, "recovering", "a deleted Job is a retry")
          }
        }
        for (const [reason, extra] of [
          ["ExternalClusterNotFound", { ...fromSource(), externalClusters: [] }],
          ["ExternalClusterObjectStoreMissing", { ...fromSource(), externalClusters: [{ name: "old" }] }]
        ] as const) {
          const harness: Harness = { events: [], statuses: new Map() }
          const name = `r-${reason.toLowerCase()}`
          yield* api.create(Resources.clusters, clusterObject(name, extra))
          yield* reconcile(harness, `ns/${name}`)
          const cluster: Cluster = yield* getCluster(name)
          assert.strictEqual(cluster.status?.phase, "failed")
          assert.strictEqual(findCondition(cluster.status?.conditions, "Recovered")?.reason, reason)
          assert.deepStrictEqual(
            harness.events.map((e) => e.reason),
            [reason]
          )
          assert.isTrue(
            Option.isNone(
              yield* Effect.option(api.get(Resources.jobs, { namespace: "ns", name: `${name}-1-recovery` }))
            )
          )
        }
      }).pipe(Effect.provide(Layer.fresh(World)))
  )

  it.effect(
    "a status write on a stale read is a quick requeue, not a failure; what was done is still reported once",
    () =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        const fake = yield* FakeCluster
        const harness: Harness = { events: [], statuses: new Map() }
        yield* api.create(Resources.clusters, clusterObject("stale", {}))
        yield* fake.faults.failNextWrite({ code: 409, verb: "patch", plural: "clusters", name: "stale" })
        const first = yield* reconcile(harness, "ns/stale")
        assert.deepStrictEqual(first, { requeueAfter: Duration.seconds(1) })
        // what was done is reported at once; the status transition waits for the write that lands
        assert.deepStrictEqual(
          harness.events.map((e) => e.reason),
          ["InstanceCreated"]
        )
        assert.isUndefined((yield* getCluster("stale")).status)
        yield* reconcile(harness, "ns/stale")
        assert.strictEqual((yield* getCluster("stale")).status?.currentPrimary, "stale-1")
        assert.deepStrictEqual(
          harness.events.map((e) => e.reason),
          ["InstanceCreated"]
        )
      }).pipe(Effect.provide(Layer.fresh(World)))
  )

  it.effect("a recovery Job whose image cannot be pulled is reported with the kubelet's reason", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const fake = yield* FakeCluster
      const harness: Harness = { events: [], statuses: new Map() }
      yield* api.create(Resources.clusters, clusterObject("pull", fromSource()))
      yield* reconcile(harness, "ns/pull")
      yield* fake.jobs.start("ns", "pull-1-recovery")
      const jobPod = (yield* pods).items.find((p) => p.metadata?.name?.startsWith("pull-1-recovery-"))
      yield* fake.statusMergePatch(ns("pods"), jobPod?.metadata?.name ?? "", {
        status: {
          phase: "Pending",
          containerStatuses: [
            {
              name: "restore",
              ready: false,
              restartCount: 0,
              state: { waiting: { reason: "ErrImagePull", message: 'Failed to pull image "x"' } }
            }
          ]
        }
      })
      yield* reconcile(harness, "ns/pull")
      const cluster: Cluster = yield* getCluster("pull")
      assert.strictEqual(cluster.status?.phase, "failed")
      assert.strictEqual(findCondition(cluster.status?.conditions, "Recovered")?.reason, "ErrImagePull")
      assert.deepStrictEqual(
        harness.events.map((e) => e.reason),
        ["RecoveryStarted", "ErrImagePull"]
      )
    }).pipe(Effect.provide(Layer.fresh(World)))
  )

  it.effect(
    "a recovery Job whose Pod waits for a missing object-store Secret or key says which, and runs on once it exists",
    () =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        const fake = yield* FakeCluster
        const harness: Harness = { events: [], statuses: new Map() }
        yield* api.create(Resources.clusters, clusterObject("nosecret", fromSource()))
        yield* reconcile(harness, "ns/nosecret")
        yield* fake.jobs.start("ns", "nosecret-1-recovery")
        const jobPod = (yield* pods).items.find((p) => p.metadata?.name?.startsWith("nosecret-1-recovery-"))
        // what the kubelet reports while it cannot set up the projected volume: the Pod stays ContainerCreating
        yield* fake.statusMergePatch(ns("pods"), jobPod?.metadata?.name ?? "", {
          status: {
            phase: "Pending",
            containerStatuses: [
              { name: "restore", ready: false, restartCount: 0, state: { waiting: { reason: "ContainerCreating" } } }
            ]
          }
        })
        const failedMount = (detail: string, at: string) =>
          api.create(Resources.events, {
            metadata: { namespace: "ns", generateName: "nosecret-1-recovery." },
            involvedObject: {
              kind: "Pod",
              namespace: "ns",
              name: jobPod?.metadata?.name ?? "",
              uid: jobPod?.metadata?.uid ?? ""
            },
            reason: "FailedMount",
            type: "Warning",
            message: `MountVolume.SetUp failed for volume "object-store" : ${detail}`,
            source: { component: "kubelet", host: "node" },
            firstTimestamp: at,
            lastTimestamp: at
          })
        yield* failedMount('secret "s3-creds" not found', "2026-12-01T10:00:01Z")
        yield* reconcile(harness, "ns/nosecret")
        const waiting: Cluster = yield* getCluster("nosecret")
        assert.strictEqual(waiting.status?.phase, "failed")
        const condition = findCondition(waiting.status?.conditions, "Recovered")
        assert.strictEqual(condition?.reason, "ObjectStoreSecretMissing")
        assert.strictEqual(
          condition?.message,
          "the object store's Secret ns/s3-creds does not exist (keys access, secret): the Pod of Job nosecret-1-recovery waits in ContainerCreating and starts once it exists"
        )
        assert.deepStrictEqual(
          harness.events.map((e) => [e.type, e.reason]),
          [
            ["Normal", "RecoveryStarted"],
            ["Warning", "ObjectStoreSecretMissing"]
          ]
        )
        // the Secret exists now, without the key the kubelet asks for next
        yield* failedMount("references non-existent secret key: secret", "2026-12-01T10:00:09Z")
        yield* reconcile(harness, "ns/nosecret")
        assert.strictEqual(
          findCondition((yield* getCluster("nosecret")).status?.conditions, "Recovered")?.message,
          "the object store's Secret ns/s3-creds has no key secret: the Pod of Job nosecret-1-recovery waits in ContainerCreating and starts once it exists"
        )
        // the key is added: once the kubelet mounted the volume its FailedMount Events are history, even before
        // the container runs
        yield* fake.statusMergePatch(ns("pods"), jobPod?.metadata?.name ?? "", {
          status: { conditions: [{ type: "PodReadyToStartContainers", status: "True" }] }
        })
        yield* reconcile(harness, "ns/nosecret")
        assert.strictEqual((yield* getCluster("nosecret")).status?.phase, "recovering")
        // the container runs; recovery goes on
        yield* fake.statusMergePatch(ns("pods"), jobPod?.metadata?.name ?? "", {
          status: {
            phase: "Running",
            containerStatuses: [
              {
                name: "restore",
                ready: true,
                restartCount: 0,
                state: { running: { startedAt: "2026-12-01T10:00:20Z" } }
              }
            ]
          }
        })
        yield* reconcile(harness, "ns/nosecret")
        const running: Cluster = yield* getCluster("nosecret")
        assert.strictEqual(running.status?.phase, "recovering")
        assert.strictEqual(findCondition(running.status?.conditions, "Recovered")?.reason, "RecoveryRunning")
      }).pipe(Effect.provide(Layer.fresh(World)))
  )

  it.effect("a Backup that is not completed yet keeps the Cluster pending until it is", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const harness: Harness = { events: [], statuses: new Map() }
      yield* api.create(Resources.clusters, clusterObject("waits", fromBackup))
      yield* reconcile(harness, "ns/waits")
      let cluster: Cluster = yield* getCluster("waits")
      assert.strictEqual(cluster.status?.phase, "pending")
      assert.strictEqual(findCondition(cluster.status?.conditions, "Recovered")?.reason, "BackupNotFound")
      const backup = yield* api.create(Resources.backups, backupObject("nightly", undefined))
      yield* api.patchStatus(
        Resources.backups,
        { namespace: "ns", name: "nightly" },
        {
          metadata: { resourceVersion: backup.metadata.resourceVersion },
          status: { phase: "running" }
        }
      )
      yield* reconcile(harness, "ns/waits")
      cluster = yield* getCluster("waits")
      assert.strictEqual(findCondition(cluster.status?.conditions, "Recovered")?.reason, "BackupNotCompleted")
      const running = yield* api.get(Resources.backups, { namespace: "ns", name: "nightly" })
      yield* api.patchStatus(
        Resources.backups,
        { namespace: "ns", name: "nightly" },
        {
          metadata: { resourceVersion: running.metadata.resourceVersion },
          status: completed
        }
      )
      yield* reconcile(harness, "ns/waits")
      cluster = yield* getCluster("waits")
      assert.strictEqual(cluster.status?.phase, "recovering")
      assert.deepStrictEqual(
        harness.events.map((e) => e.reason),
        ["BackupNotFound", "BackupNotCompleted", "RecoveryStarted"]
      )
    }).pipe(Effect.provide(Layer.fresh(World)))
  )
})
