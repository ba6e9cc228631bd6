/**
 * Reconcile-loop tests: the controllers running against the fake store (`FakeCluster`, in memory) under
 * `TestClock`, with the Job simulator playing kube-controller-manager's Job controller.
 */
import { Effect, Layer } from "effect"
import type { Backup } from "../../src/api/backup.ts"
import type { Cluster, InstanceSummary } from "../../src/api/cluster.ts"
import type { WorkerResult } from "../../src/api/jobs.ts"
import type { ScheduledBackup } from "../../src/api/scheduledBackup.ts"
import { Caches } from "../../src/controller/Caches.ts"
import { Events } from "../../src/controller/Events.ts"
import { Metrics } from "../../src/controller/Metrics.ts"
import type { Reconciler } from "../../src/controller/main.ts"
import { KubeApi } from "../../src/kube/KubeApi.ts"
import { type Event, type Job, type Pod, Resources } from "../../src/kube/resources.ts"
import { FakeCluster } from "../../src/sandbox/FakeCluster.ts"
import { layerFake } from "../../src/sandbox/KubeApiFake.ts"

/** Lets forked fibers (reflectors, workers) run until they block. */
export const settle = Effect.gen(function* () {
  for (let i = 0; i < 400; i++) yield* Effect.yieldNow
})

/** The store, the typed API on it, and nothing running yet. */
export const StoreLayer = layerFake.pipe(Layer.provideMerge(FakeCluster.layer))

/**
 * What a test provides: the store only. Controllers bring their own caches (`startControllers`), so moving the
 * TestClock far (`setTime`) before they start does not replay years of cache resyncs.
 */
export const ServicesLayer = StoreLayer

/** Runs reconcilers in the background of the current scope (a "controller process"); returns a stopper. */
export const startControllers = (...reconcilers: ReadonlyArray<Reconciler>) =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const fake = yield* FakeCluster
    const layer = reconcilers
      .reduce<Layer.Layer<never, never, Caches | Metrics | Events | KubeApi>>(
        (all, r) => Layer.merge(all, r.layer(r.defaultWorkers)),
        Layer.empty
      )
      .pipe(
        Layer.provideMerge(
          Layer.mergeAll(Caches.layer(), Metrics.layer, Events.layer({ component: "cloudnative-mysql-controller" }))
        ),
        Layer.provide(Layer.succeed(KubeApi, api))
      )
    const fiber = yield* Effect.forkChild(Layer.launch(layer))
    yield* settle
    return { fiber, fake }
  })

export const namespace = "db"
export const imageName = "ghcr.io/cloudnative-mysql/cloudnative-mysql-instance:mariadb-10.11"

export const objectStore = {
  bucket: "backups",
  path: "prod",
  endpoint: "http://127.0.0.1:9000",
  forcePathStyle: true,
  credentials: {
    accessKeyId: { name: "s3-creds", key: "ACCESS_KEY_ID" },
    secretAccessKey: { name: "s3-creds", key: "SECRET_ACCESS_KEY" }
  }
} as const

export const instances = (...summaries: ReadonlyArray<InstanceSummary>) => summaries

/** A healthy two-instance Cluster: primary `c-1`, replica `c-2` 1 s behind. */
export const healthyInstances: ReadonlyArray<InstanceSummary> = [
  { name: "c-1", role: "primary", ready: true, podIP: "127.0.10.1", executedGtid: "0-1-100" },
  { name: "c-2", role: "replica", ready: true, podIP: "127.0.10.2", executedGtid: "0-1-99", lagSeconds: 1 }
]

export const clusterObject = (name = "c", options: { readonly objectStore?: boolean } = {}): Cluster => ({
  apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
  kind: "Cluster",
  metadata: { namespace, name },
  spec: {
    instances: 2,
    imageName,
    storage: { size: "1Gi" },
    ...(options.objectStore === false ? {} : { backup: { objectStore } })
  }
})

/** Creates a Cluster and writes its status as the Cluster controller would. */
export const createCluster = (
  name = "c",
  statuses: ReadonlyArray<InstanceSummary> = healthyInstances,
  options: { readonly objectStore?: boolean } = {}
) =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const created = yield* api.create(Resources.clusters, clusterObject(name, options))
    return yield* api.patchStatus(
      Resources.clusters,
      { namespace, name },
      {
        status: {
          phase: "healthy",
          currentPrimary: statuses.find((s) => s.role === "primary")?.name ?? null,
          instanceStatuses: statuses
        },
        metadata: { resourceVersion: created.metadata.resourceVersion }
      }
    )
  })

export const backupObject = (name: string, cluster = "c", spec: Partial<Backup["spec"]> = {}): Backup => ({
  apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
  kind: "Backup",
  metadata: { namespace, name },
  spec: { cluster: { name: cluster }, method: "xtrabackup", target: "prefer-standby", online: true, ...spec }
})

export const createBackup = (name: string, cluster = "c", spec: Partial<Backup["spec"]> = {}) =>
  KubeApi.use((api) => api.create(Resources.backups, backupObject(name, cluster, spec)))

export const getBackup = (name: string) => KubeApi.use((api) => api.get(Resources.backups, { namespace, name }))

export const getScheduledBackup = (name: string) =>
  KubeApi.use((api) => api.get(Resources.scheduledBackups, { namespace, name }))

export const listJobs = KubeApi.use((api) =>
  Effect.map(api.list(Resources.jobs, { namespace }), (list): ReadonlyArray<Job> => list.items)
)

export const listPods = KubeApi.use((api) =>
  Effect.map(api.list(Resources.pods, { namespace }), (list): ReadonlyArray<Pod> => list.items)
)

export const listBackups = KubeApi.use((api) =>
  Effect.map(api.list(Resources.backups, { namespace }), (list): ReadonlyArray<Backup> => list.items)
)

/** Events about an object, as `reason: message`. */
export const eventsOf = (name: string) =>
  KubeApi.use((api) =>
    Effect.map(api.list(Resources.events, { namespace }), (list) =>
      list.items
        .filter((e: Event) => e.involvedObject.name === name)
        .map((e: Event) => `${e.type ?? ""} ${e.reason ?? ""}: ${e.message ?? ""}`)
    )
  )

/** A worker's termination message for a backup id. */
export const workerResult = (backupId: string, prefix = "prod/c/b1"): WorkerResult => ({
  backupId: backupId as WorkerResult["backupId"],
  archiveKey: `${prefix}/${backupId}/backup.xbstream`,
  metadataKey: `${prefix}/${backupId}/metadata.json`,
  sha256: "a".repeat(64),
  size: 123456,
  tool: "mariabackup",
  toolVersion: "10.11.6",
  beginGTID: "0-1-90",
  endGTID: "0-1-99",
  beginBinlog: { file: "mysql-bin.000003", position: 4 },
  endBinlog: { file: "mysql-bin.000003", position: 1234 },
  startedAt: "2026-12-01T00:00:00Z",
  stoppedAt: "2026-12-01T00:01:00Z"
})

export type { ScheduledBackup }
