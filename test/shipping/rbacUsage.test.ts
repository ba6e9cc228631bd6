/**
 * The operator's roles grant exactly what its code calls. The controller-manager — the same shared caches, Event
 * recorder, leader election and reconcilers the process runs (`src/controller/main.ts`) — runs as its
 * ServiceAccount against the fake API server with RBAC on and the shipped roles (`deploy/rbac`), through
 * client-node over HTTP, while the test (the sandbox admin, in memory) walks it through every path that writes:
 * Cluster bootstrap, replicas, role labels, option files, failed Pods, scale-down, recovery, the binlog archiver
 * switched on, changed and off, a retention policy's first run; Backups whose worker
 * fails and gets cleaned up, that cannot pull their image, whose Job is deleted under them, whose Cluster does not
 * exist; a ScheduledBackup that meets a name that is taken and then creates its own; an Event that repeats.
 *
 * The server's log of allowed requests then says which permissions the operator used: a verb the code uses and
 * the role lacks shows up as a denial (and the path it was on stops), and a verb the role grants and no path used
 * fails the equality. `<kind>/finalizers` is the one grant no request uses: the admission check on owner
 * references with `blockOwnerDeletion` (OwnerReferencesPermissionEnforcement, not in the fake) asks for it, so it
 * is checked against the owner references the controller wrote instead.
 *
 * The one stand-in: the instance managers' `/cluster/status` answers (`InstanceStatusClient.layerTest`), since no
 * database runs here; everything the controller says to the API server is its own.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { KubeConfig } from "@kubernetes/client-node"
import { Duration, Effect, Fiber, Layer, Logger, Option, Schedule } from "effect"
import { parseAllDocuments } from "yaml"
import { operatorNames, operatorNamespace } from "../../src/api/install.ts"
import { binlogArchiverName, group, labels, retentionJobName } from "../../src/api/names.ts"
import { leaderElectionRules, operatorRules, permissionsOf } from "../../src/api/rbac.ts"
import { ArchiverStatusClient } from "../../src/controller/binlogArchiving/ArchiverStatusClient.ts"
import { archiverSpecHashAnnotation } from "../../src/controller/binlogArchiving/render.ts"
import { Caches } from "../../src/controller/Caches.ts"
import { requeue } from "../../src/controller/cluster/decide.ts"
import { InstanceStatusClient } from "../../src/controller/cluster/InstanceStatusClient.ts"
import { makeClusterController } from "../../src/controller/cluster/reconcile.ts"
import { secureRandom } from "../../src/controller/cluster/secrets.ts"
import { Events } from "../../src/controller/Events.ts"
import { Metrics } from "../../src/controller/Metrics.ts"
import { type ControllerServices, reconcilers } from "../../src/controller/main.ts"
import { scheduledBackupName } from "../../src/controller/scheduledBackup/decide.ts"
import type { InstanceStatus } from "../../src/instance/protocol.ts"
import { makeClientNodeRaw } from "../../src/kube/clientNode.ts"
import { fromRaw, KubeApi } from "../../src/kube/KubeApi.ts"
import { runAsLeader } from "../../src/kube/LeaderElection.ts"
import { type Job, type Pod, Resources } from "../../src/kube/resources.ts"
import { FakeApiServer } from "../../src/sandbox/FakeApiServer.ts"
import { FakeCluster } from "../../src/sandbox/FakeCluster.ts"
import { layerFake } from "../../src/sandbox/KubeApiFake.ts"
import { permissionsUsed } from "../../src/sandbox/permissionsUsed.ts"
import { serviceAccountUserName } from "../../src/sandbox/rbac.ts"
import type { StoredObject } from "../../src/sandbox/StoredObject.ts"
import { backupObject, clusterObject, completed, instanceStatus } from "../controller/cluster/fixtures.ts"

const repo = join(import.meta.dirname, "..", "..")
const ns = "ns"
const operatorUser = serviceAccountUserName(operatorNamespace, operatorNames.serviceAccount)

/** The roles as `deploy/rbac` ships them (generated from src/api/rbac.ts; a test keeps them fresh). */
const rbacObjects: ReadonlyArray<StoredObject> = [
  "service_account.yaml",
  "role.yaml",
  "role_binding.yaml",
  "leader_election_role.yaml",
  "leader_election_role_binding.yaml"
]
  .flatMap((file) => parseAllDocuments(readFileSync(join(repo, "deploy", "rbac", file), "utf8")))
  .map((document) => document.toJS() as StoredObject)

const refOf = (object: StoredObject) => {
  const [group, version] = object.apiVersion?.includes("/") ? object.apiVersion.split("/") : ["", object.apiVersion]
  return {
    group: group ?? "",
    version: version ?? "v1",
    plural: `${(object.kind ?? "").toLowerCase()}s`,
    namespace: object.metadata?.namespace
  }
}
const podsRef = { group: "", version: "v1", plural: "pods", namespace: ns }

/** Polls `check` (the admin's view) until it holds, for `seconds` at most. */
const waitFor = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, seconds = 20) =>
  check.pipe(
    Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (done) => done }),
    Effect.timeoutOrElse({
      duration: Duration.seconds(seconds),
      orElse: () => Effect.die(new Error(`timed out: ${what}`))
    })
  )

/** `waitFor`, where a request the role denied ends the wait at once. */
const eventually = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, seconds = 20) =>
  waitFor(
    what,
    Effect.gen(function* () {
      const denied = (yield* (yield* FakeApiServer).denials).filter((d) => d.user === operatorUser)
      if (denied.length > 0) return yield* Effect.die(new Error(`${what}: ${denied.map((d) => d.message).join("; ")}`))
      return yield* check
    }),
    seconds
  )

const admin = {
  pods: KubeApi.use((api) => Effect.map(api.list(Resources.pods, { namespace: ns }), (l): Array<Pod> => [...l.items])),
  jobs: KubeApi.use((api) => Effect.map(api.list(Resources.jobs, { namespace: ns }), (l): Array<Job> => [...l.items])),
  backup: (name: string) => KubeApi.use((api) => api.get(Resources.backups, { namespace: ns, name })),
  pvcs: KubeApi.use((api) => Effect.map(api.list(Resources.persistentVolumeClaims, { namespace: ns }), (l) => l.items)),
  backups: KubeApi.use((api) => Effect.map(api.list(Resources.backups, { namespace: ns }), (l) => l.items)),
  events: KubeApi.use((api) => Effect.map(api.list(Resources.events, { namespace: ns }), (l) => l.items))
}

const markReady = (name: string, ip: string) =>
  Effect.flatMap(FakeCluster, (fake) =>
    fake.statusMergePatch(podsRef, name, {
      status: { phase: "Running", podIP: ip, conditions: [{ type: "Ready", status: "True" }] }
    })
  )

const backupFor = (name: string, cluster = "c") => ({
  ...backupObject(name, undefined),
  spec: { ...backupObject(name, undefined).spec, cluster: { name: cluster } }
})

const scheduledBackup = (name: string, spec: { readonly schedule: string; readonly timeZone?: string }) => ({
  apiVersion: "mysql.cloudnative-mysql.io/v1alpha1" as const,
  kind: "ScheduledBackup" as const,
  metadata: { namespace: ns, name },
  spec: {
    cluster: { name: "nope" },
    method: "xtrabackup" as const,
    target: "prefer-standby" as const,
    online: true,
    immediate: false,
    suspend: false,
    backupOwnerReference: "self" as const,
    ...spec
  }
})

const jobExists = (name: string) => Effect.map(admin.jobs, (jobs) => jobs.some((job) => job.metadata.name === name))

const roleOf = (pods: ReadonlyArray<Pod>, name: string) =>
  pods.find((pod) => pod.metadata?.name === name)?.metadata?.labels?.[labels.role]

/**
 * Creates the roles and starts the controller-manager as the operator's ServiceAccount: its shared caches, Event
 * recorder and the process's reconcilers under leader election, over client-node; returns its fiber.
 */
const startOperator = (objects: ReadonlyArray<StoredObject>, statuses: Map<string, InstanceStatus>) =>
  Effect.gen(function* () {
    const server = yield* FakeApiServer
    const fake = yield* FakeCluster
    for (const object of objects) yield* fake.create(refOf(object), object)

    // the operator's own client: its ServiceAccount's token, client-node over HTTP
    const kc = new KubeConfig()
    kc.loadFromOptions({
      clusters: [{ name: "sandbox", server: server.url, skipTLSVerify: true }],
      users: [{ name: "operator", token: yield* server.issueToken(operatorNamespace, operatorNames.serviceAccount) }],
      contexts: [{ name: "operator", cluster: "sandbox", user: "operator" }],
      currentContext: "operator"
    })
    const operatorApi = KubeApi.of(fromRaw(makeClientNodeRaw(kc)))

    // the process's reconcilers; the Cluster one with scripted instance managers instead of mTLS to Pod IPs
    assert.deepStrictEqual(
      reconcilers.map((r) => r.name),
      ["backup", "scheduled-backup", "cluster"],
      "a new reconciler needs its paths walked here"
    )
    const controllers = reconcilers
      .map((r) =>
        r.name === "cluster"
          ? makeClusterController({ workers: r.defaultWorkers, random: secureRandom }).pipe(
              Layer.provide(
                Layer.mergeAll(
                  InstanceStatusClient.layerTest((instance) => statuses.get(instance)),
                  ArchiverStatusClient.layerTest(() => undefined)
                )
              )
            )
          : r.layer(r.defaultWorkers)
      )
      .reduce<Layer.Layer<never, never, ControllerServices>>((all, layer) => Layer.merge(all, layer), Layer.empty)
    const services = Layer.mergeAll(
      Caches.layer(),
      Events.layer({ component: "cloudnative-mysql-controller", host: "rbac-test" }),
      Metrics.layer
    ).pipe(Layer.provideMerge(Layer.succeed(KubeApi, operatorApi)))
    return yield* Effect.forkChild(
      runAsLeader(
        {
          namespace: operatorNamespace,
          name: operatorNames.leaderElectionLease,
          identity: "rbac-test",
          retryPeriod: "200 millis"
        },
        Layer.launch(controllers.pipe(Layer.provide(services)))
      ).pipe(Effect.provideService(KubeApi, operatorApi))
    )
  })

describe("the operator's roles against what its code calls (fake API server, RBAC on)", () => {
  it.live(
    "every verb the controller uses is granted, and every granted verb is used",
    () =>
      Effect.gen(function* () {
        const server = yield* FakeApiServer
        const fake = yield* FakeCluster
        const api = yield* KubeApi
        const statuses = new Map<string, InstanceStatus>()
        const controller = yield* startOperator(rbacObjects, statuses)

        // Cluster bootstrap: Secrets, Services, ConfigMap, PVC and Pod of the primary
        yield* api.create(Resources.clusters, clusterObject("c", { instances: 2 }))
        yield* eventually(
          "the primary's Pod",
          Effect.map(admin.pods, (pods) => roleOf(pods, "c-1") === "primary")
        )
        statuses.set("c-1", instanceStatus("primary"))
        yield* markReady("c-1", "127.0.10.1")
        // a replica clones the ready primary
        yield* eventually(
          "the replica's Pod",
          Effect.map(admin.pods, (pods) => roleOf(pods, "c-2") === "replica")
        )
        statuses.set("c-2", instanceStatus("replica"))
        yield* markReady("c-2", "127.0.10.2")
        yield* eventually(
          "a healthy Cluster",
          Effect.map(
            KubeApi.use((a) => a.get(Resources.clusters, { namespace: ns, name: "c" })),
            (c) => c.status?.phase === "healthy"
          )
        )
        // a wrong role label is patched back; a hand-edited option file is put back
        yield* fake.mergePatch(podsRef, "c-2", { metadata: { labels: { [labels.role]: "primary" } } })
        yield* eventually(
          "the role label",
          Effect.map(admin.pods, (pods) => roleOf(pods, "c-2") === "replica")
        )
        yield* fake.mergePatch({ group: "", version: "v1", plural: "configmaps", namespace: ns }, "c-config", {
          data: { "edited.cnf": "[mysqld]" }
        })
        // the ConfigMap is not watched: the healthy Cluster's periodic reconcile puts it back
        yield* eventually(
          "the option files",
          Effect.map(
            KubeApi.use((a) => a.get(Resources.configMaps, { namespace: ns, name: "c-config" })),
            (cm) => cm.data?.["edited.cnf"] === undefined
          ),
          requeue.healthy + 20
        )

        // Backups: one whose worker fails (cleanup Job, finalizer removed), one that cannot pull its image (Job
        // deleted), one whose Job is deleted while it runs (the worker's Pod is stopped first), one for a Cluster that does not exist
        yield* api.create(Resources.backups, backupFor("b1"))
        yield* eventually("b1's Job", jobExists("b1-backup"))
        yield* fake.jobs.start(ns, "b1-backup")
        yield* fake.jobs.finish(ns, "b1-backup", {
          result: "failed",
          terminationMessage: JSON.stringify({ reason: "XtraBackupFailed", message: "boom" })
        })
        yield* eventually("b1's cleanup Job", jobExists("b1-cleanup"))
        yield* eventually(
          "b1's Job finalizer removed",
          Effect.map(
            admin.jobs,
            (jobs) => (jobs.find((j) => j.metadata.name === "b1-backup")?.metadata.finalizers ?? []).length === 0
          )
        )

        yield* api.create(Resources.backups, backupFor("b2"))
        yield* eventually("b2's Job", jobExists("b2-backup"))
        yield* fake.jobs.start(ns, "b2-backup")
        const b2Pod = (yield* admin.pods).find((pod) => pod.metadata?.name?.startsWith("b2-backup"))
        yield* fake.statusMergePatch(podsRef, b2Pod?.metadata?.name ?? "", {
          status: {
            phase: "Pending",
            containerStatuses: [
              {
                name: "backup",
                ready: false,
                restartCount: 0,
                state: { waiting: { reason: "ErrImagePull", message: "no such image" } }
              }
            ]
          }
        })
        yield* eventually(
          "b2's Job deleted",
          Effect.map(admin.jobs, (jobs) =>
            jobs.every((j) => j.metadata.name !== "b2-backup" || j.metadata.deletionTimestamp !== undefined)
          )
        )

        yield* api.create(Resources.backups, backupFor("b3"))
        yield* eventually("b3's Job", jobExists("b3-backup"))
        yield* fake.jobs.start(ns, "b3-backup")
        // once the controller saw the worker run (before, a deleted Job had nothing to stop)
        yield* eventually(
          "b3 running",
          Effect.map(admin.backup("b3"), (b) => b.status?.phase === "running")
        )
        yield* api.delete(Resources.jobs, { namespace: ns, name: "b3-backup" }, { propagationPolicy: "Background" })
        yield* eventually(
          "b3's worker Pod deleted",
          Effect.map(admin.pods, (pods) =>
            pods.every(
              (pod) => !pod.metadata?.name?.startsWith("b3-backup") || pod.metadata.deletionTimestamp !== undefined
            )
          )
        )

        yield* api.create(Resources.backups, backupFor("orphan", "nope"))
        yield* eventually(
          "ClusterNotFound",
          Effect.map(admin.backup("orphan"), (b) => JSON.stringify(b.status ?? {}).includes("ClusterNotFound"))
        )

        // a ScheduledBackup every second, owning its Backups, whose next slots' names are taken by Backups it did
        // not create: it refuses to adopt them, then creates its own
        const sbRef = {
          group: "mysql.cloudnative-mysql.io",
          version: "v1alpha1",
          plural: "scheduledbackups",
          namespace: ns
        }
        const now = Date.now()
        for (let second = 1; second <= 2; second++) {
          const taken = scheduledBackupName("nightly", Math.floor(now / 1000 + second) * 1000)
          yield* api.create(Resources.backups, { ...backupFor("x", "nope"), metadata: { namespace: ns, name: taken } })
        }
        yield* api.create(Resources.scheduledBackups, scheduledBackup("nightly", { schedule: "* * * * * *" }))
        yield* eventually(
          "a name that is taken is not adopted",
          Effect.map(admin.events, (events) => events.some((e) => e.reason === "BackupAdoptionRefused"))
        )
        yield* eventually(
          "a Backup of the schedule",
          Effect.map(admin.backups, (backups) =>
            backups.some((b) => b.metadata.labels?.[labels.scheduledBackup] === "nightly")
          )
        )
        yield* fake.mergePatch(sbRef, "nightly", { spec: { suspend: true } })
        // the same Event twice: the second one is a patch of the first one's count
        yield* api.create(
          Resources.scheduledBackups,
          scheduledBackup("zone", { schedule: "0 0 * * *", timeZone: "Mars/Olympus_Mons" })
        )
        const zoneEvent = Effect.map(admin.events, (events) => events.find((e) => e.reason === "InvalidTimeZone"))
        yield* eventually(
          "InvalidTimeZone",
          Effect.map(zoneEvent, (e) => e !== undefined)
        )
        yield* fake.mergePatch(sbRef, "zone", { spec: { timeZone: "UTC" } })
        yield* eventually(
          "scheduled",
          Effect.map(
            KubeApi.use((a) => a.get(Resources.scheduledBackups, { namespace: ns, name: "zone" })),
            (sb) => JSON.stringify(sb.status?.conditions ?? []).includes('"reason":"Scheduled"')
          )
        )
        yield* fake.mergePatch(sbRef, "zone", { spec: { timeZone: "Mars/Olympus_Mons" } })
        yield* eventually(
          "InvalidTimeZone again",
          Effect.map(zoneEvent, (e) => e?.count === 2)
        )

        // recovery from a completed Backup: the recovery Job
        const nightly = yield* api.create(Resources.backups, backupObject("done", undefined))
        yield* api.patchStatus(
          Resources.backups,
          { namespace: ns, name: "done" },
          { metadata: { resourceVersion: nightly.metadata.resourceVersion }, status: completed }
        )
        yield* api.create(
          Resources.clusters,
          clusterObject("r", { bootstrap: { recovery: { backup: { name: "done" } } } })
        )
        yield* eventually("the recovery Job", jobExists("r-1-recovery"))

        // a failed Pod is deleted (and recreated); scaling down deletes the replica's Pod and PVC
        yield* fake.statusMergePatch(podsRef, "c-2", { status: { phase: "Failed" } })
        yield* eventually(
          "the failed Pod replaced",
          Effect.map(admin.pods, (pods) => pods.find((p) => p.metadata?.name === "c-2")?.status?.phase !== "Failed")
        )
        yield* api.patch(Resources.clusters, { namespace: ns, name: "c" }, { spec: { instances: 1 } })
        yield* eventually(
          "the replica's volume deleted",
          Effect.map(admin.pvcs, (pvcs) =>
            pvcs.every((p) => p.metadata?.name !== "c-2" || p.metadata.deletionTimestamp !== undefined)
          )
        )

        // binlog archiving switched on, its interval changed, then off: the archiver Deployment is created,
        // replaced with the new rendering, and deleted
        const archiverHash = Effect.map(
          Effect.option(
            KubeApi.use((a) => a.get(Resources.deployments, { namespace: ns, name: binlogArchiverName("c") }))
          ),
          (deployment) =>
            Option.getOrUndefined(
              Option.map(deployment, (d) => d.metadata?.annotations?.[archiverSpecHashAnnotation] ?? "")
            )
        )
        const archiving = (binlogArchiving: { readonly enabled: boolean; readonly flushInterval?: string }) =>
          api.patch(Resources.clusters, { namespace: ns, name: "c" }, { spec: { backup: { binlogArchiving } } })
        yield* archiving({ enabled: true })
        yield* eventually(
          "the archiver Deployment",
          Effect.map(archiverHash, (hash) => hash !== undefined)
        )
        const firstHash = yield* archiverHash
        yield* archiving({ enabled: true, flushInterval: "1m" })
        yield* eventually(
          "the archiver Deployment replaced",
          Effect.map(archiverHash, (hash) => hash !== undefined && hash !== firstHash)
        )
        yield* archiving({ enabled: false })
        yield* eventually(
          "the archiver Deployment deleted",
          Effect.map(archiverHash, (hash) => hash === undefined)
        )

        // a retention policy: the Job of its first (dry) run, its result in the status, then the Job deleted
        yield* api.patch(
          Resources.clusters,
          { namespace: ns, name: "c" },
          { spec: { backup: { retentionPolicy: "30d" } } }
        )
        yield* eventually("the retention Job", jobExists(retentionJobName("c")))
        yield* fake.jobs.start(ns, retentionJobName("c"))
        yield* fake.jobs.finish(ns, retentionJobName("c"), {
          result: "succeeded",
          terminationMessage: JSON.stringify({
            dryRun: true,
            policy: "30d",
            windowStart: "2026-11-01T00:00:00.000Z",
            backups: [],
            moreBackups: 0,
            binlogFiles: [],
            binlogFilesTotal: 0
          })
        })
        yield* eventually(
          "the dry run in status.retention, the Job deleted",
          Effect.gen(function* () {
            const cluster = yield* KubeApi.use((a) => a.get(Resources.clusters, { namespace: ns, name: "c" }))
            const jobs = yield* admin.jobs
            return (
              cluster.status?.retention?.dryRun === true &&
              !jobs.some((j) => j.metadata.name === retentionJobName("c") && j.metadata.deletionTimestamp === undefined)
            )
          })
        )

        // shutting down releases the Lease
        yield* Fiber.interrupt(controller)

        assert.deepStrictEqual(
          (yield* server.denials).filter((d) => d.user === operatorUser).map((d) => d.message),
          [],
          "every request of the operator was allowed"
        )
        // what `<kind>/finalizers` is for: the controller's owner references that block their owner's deletion
        const owned = [
          ...(yield* admin.pods),
          ...(yield* admin.jobs),
          ...(yield* admin.backups),
          ...(yield* admin.pvcs),
          ...(yield* KubeApi.use((a) => a.list(Resources.secrets, { namespace: ns }))).items
        ]
        const blocking = new Set(
          // a Job's Pods are the Job controller's, not ours
          owned
            .filter((object) => !(object.metadata?.ownerReferences ?? []).some((o) => o.kind === "Job"))
            .flatMap((object) =>
              (object.metadata?.ownerReferences ?? [])
                .filter((owner) => owner.blockOwnerDeletion === true)
                .map((owner) => `update ${group}/${owner.kind.toLowerCase()}s/finalizers`)
            )
        )
        assert.deepStrictEqual(
          [...permissionsOf(operatorRules)].filter((key) => key.endsWith("/finalizers")).sort(),
          [...blocking].sort(),
          "a <kind>/finalizers grant for each kind the controller's owner references block the deletion of"
        )
        const used = permissionsUsed(yield* server.allowed, operatorUser)
        const isLease = (key: string) => key.includes(" coordination.k8s.io/")
        const compare = (usedKeys: ReadonlyArray<string>, granted: ReadonlySet<string>) => ({
          usedNotGranted: usedKeys.filter((key) => !granted.has(key)).sort(),
          grantedNotUsed: [...granted].filter((key) => !usedKeys.includes(key) && !key.endsWith("/finalizers")).sort()
        })
        assert.deepStrictEqual(
          compare(
            [...used].filter((key) => !isLease(key)),
            permissionsOf(operatorRules)
          ),
          { usedNotGranted: [], grantedNotUsed: [] },
          "the ClusterRole grants exactly what the controller used"
        )
        assert.deepStrictEqual(
          compare([...used].filter(isLease), permissionsOf(leaderElectionRules)),
          { usedNotGranted: [], grantedNotUsed: [] },
          "the leader-election Role grants exactly what leader election used"
        )
      }).pipe(Effect.provide(layerFake.pipe(Layer.provideMerge(FakeApiServer.layerTestWith({ rbac: true }))))),
    120_000
  )

  it.live(
    "a rule removed: the path it guards stops with Forbidden in the log and a Warning Event, the process keeps running",
    () =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        const logs: Array<string> = []
        // the shipped roles with `create` taken off ConfigMaps (an install older than the Cluster reconciler's)
        const withoutRule = rbacObjects.map((object) =>
          object.kind !== "ClusterRole"
            ? object
            : {
                ...object,
                rules: (
                  object.rules as ReadonlyArray<{ resources: ReadonlyArray<string>; verbs: ReadonlyArray<string> }>
                ).map((rule) =>
                  rule.resources.includes("configmaps")
                    ? { ...rule, verbs: rule.verbs.filter((v) => v !== "create") }
                    : rule
                )
              }
        )
        const controller = yield* startOperator(withoutRule, new Map()).pipe(
          Effect.provide(Logger.layer([Logger.map(Logger.formatJson, (line) => void logs.push(line))]))
        )
        yield* api.create(Resources.clusters, clusterObject("c", { instances: 1 }))
        const forbiddenEvent = Effect.map(admin.events, (events) =>
          events.find((e) => e.reason === "Forbidden" && e.involvedObject.name === "c")
        )
        yield* waitFor(
          "a Forbidden Event on the Cluster",
          Effect.map(forbiddenEvent, (e) => e !== undefined)
        )
        const warning = yield* forbiddenEvent
        assert.strictEqual(warning?.type, "Warning")
        assert.include(warning?.message, 'cannot create resource "configmaps"')
        assert.include(warning?.message, "the operator's role does not allow")
        assert.isTrue(
          logs.some(
            (line) => line.includes("reconcile failed") && line.includes("Forbidden") && line.includes("configmaps")
          ),
          "the log names the refused request"
        )
        // retried with backoff, not a crash: the controller still runs and still reconciles what it may
        assert.isUndefined(controller.pollUnsafe())
        yield* api.create(Resources.backups, backupFor("orphan", "nope"))
        yield* waitFor(
          "the Backup reconciled",
          Effect.map(admin.backup("orphan"), (b) => JSON.stringify(b.status ?? {}).includes("ClusterNotFound"))
        )
        yield* Fiber.interrupt(controller)
      }).pipe(Effect.provide(layerFake.pipe(Layer.provideMerge(FakeApiServer.layerTestWith({ rbac: true }))))),
    60_000
  )
})
