/**
 * The Cluster reconciler: observe (caches, the Cluster's Secrets/PVCs/ConfigMap, each instance manager's
 * `/cluster/status` over mTLS) → `decide` (pure, decide.ts) → act (creates and deletes, in dependency order) →
 * one status write (skipped when unchanged) → Events. Taxonomy failures become status; only API errors fail a
 * reconcile (the work queue retries those with backoff).
 *
 * Secrets, Services and the ConfigMap are ensured on every reconcile before anything that mounts them. The
 * controller has no object-store client: the recovery plan Job (with a recovery target) and the recovery Job
 * read the catalog, the archive and the bytes.
 *
 * @since 0.1.0
 */

import { Duration, Effect, Layer, Option, Random } from "effect"
import type { Cluster } from "../../api/cluster.ts"
import type { Failure } from "../../api/failures.ts"
import { flavorOfImage } from "../../api/images.ts"
import {
  annotations,
  configMapName,
  instanceDnsName,
  instanceName,
  instanceSerial,
  labels,
  recoveryJobName,
  recoveryPlanJobName,
  secretNames
} from "../../api/names.ts"
import type { KubeError } from "../../kube/errors.ts"
import { KubeApi } from "../../kube/KubeApi.ts"
import { type ConfigMap, type KubeObject, keyOf, type Pod, type Resource, Resources } from "../../kube/resources.ts"
import { urlHost } from "../../platform/urlHost.ts"
import { ArchiverStatusClient } from "../binlogArchiving/ArchiverStatusClient.ts"
import { completedBackupsOf, decideArchiving } from "../binlogArchiving/decide.ts"
import { archiverPollSeconds, reconcileArchiver } from "../binlogArchiving/reconcile.ts"
import { Caches, indexes } from "../Caches.ts"
import * as Controller from "../Controller.ts"
import { Events } from "../Events.ts"
import { reconcileRetention } from "../retention/reconcile.ts"
import { writeStatus } from "../status.ts"
import { now as nowTime } from "../time.ts"
import { type Action, decide, isRecovered, type ObservedInstance, type RecoveryObservation } from "./decide.ts"
import { actionEventReasons } from "./events.ts"
import { InstanceStatusClient } from "./InstanceStatusClient.ts"
import { ports } from "./layout.ts"
import { observeJob } from "./observeJob.ts"
import { planOutcome, recoveryOutcome, recoveryPlan } from "./recovery.ts"
import {
  type ClusterRef,
  clusterRef,
  describeRecoveryTarget,
  type InstancePlan,
  type RecoveryPlan,
  renderConfigMap,
  renderPod,
  renderPvc,
  renderRecoveryJob,
  renderRecoveryPlanJob,
  renderServices
} from "./render.ts"
import { clientTlsOf, type ExistingSecrets, missingSecrets, secureRandom } from "./secrets.ts"

const getOptional = <A extends KubeObject>(resource: Resource<A>, namespace: string, name: string) =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    return yield* api.get(resource, { namespace, name }).pipe(
      Effect.map(Option.some),
      Effect.catchTag("NotFound", () => Effect.succeed(Option.none<A>()))
    )
  })

const createIfMissing = <A extends KubeObject>(resource: Resource<A>, object: A) =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    yield* api.create(resource, object).pipe(Effect.catchTag("AlreadyExists", () => Effect.void))
  })

const ignoreNotFound = <E extends KubeError>(effect: Effect.Effect<void, E, KubeApi>) =>
  effect.pipe(
    Effect.catchIf(
      (e): e is Extract<E, { _tag: "NotFound" }> => e._tag === "NotFound",
      () => Effect.void
    )
  )

/** Reads the four Secrets and creates the missing ones; returns the operator's client TLS material. */
const ensureSecrets = Effect.fn("ClusterReconciler.ensureSecrets")(function* (cluster: ClusterRef) {
  const names = secretNames(cluster.name)
  const read = (name: string) =>
    Effect.map(getOptional(Resources.secrets, cluster.namespace, name), Option.getOrUndefined)
  const existing: ExistingSecrets = Object.fromEntries(
    Object.entries({
      ca: yield* read(names.ca),
      serverTls: yield* read(names.serverTls),
      clientTls: yield* read(names.clientTls),
      credentials: yield* read(names.credentials)
    }).filter(([, v]) => v !== undefined)
  )
  // key generation failing is a bug or a broken runtime, not a state of the Cluster
  const created = yield* Effect.orDie(missingSecrets(cluster, existing))
  yield* Effect.forEach(created, (secret) => createIfMissing(Resources.secrets, secret), { discard: true })
  const clientTls = existing.clientTls ?? created.find((s) => s.metadata?.name === names.clientTls)
  return clientTlsOf(clientTls)
})

/** Creates the Services that do not exist (one list, no write when all do). */
const ensureServices = Effect.fn("ClusterReconciler.ensureServices")(function* (cluster: ClusterRef) {
  const api = yield* KubeApi
  const existing = yield* api.list(Resources.services, {
    namespace: cluster.namespace,
    labelSelector: `${labels.cluster}=${cluster.name}`
  })
  const names = new Set(existing.items.map((service) => service.metadata?.name))
  yield* Effect.forEach(
    renderServices(cluster).filter((service) => !names.has(service.metadata?.name)),
    (service) => createIfMissing(Resources.services, service),
    { discard: true }
  )
})

/** Makes the ConfigMap hold exactly the option files of `plans`. */
const ensureConfigMap = Effect.fn("ClusterReconciler.ensureConfigMap")(function* (
  cluster: ClusterRef,
  plans: ReadonlyArray<Pick<InstancePlan, "serial" | "role">>
) {
  const api = yield* KubeApi
  const wanted: ConfigMap = renderConfigMap(
    cluster,
    plans.map((p) => ({ ...p, bootstrap: "clone" }))
  )
  const current = yield* getOptional(Resources.configMaps, cluster.namespace, configMapName(cluster.name))
  if (Option.isNone(current)) return yield* createIfMissing(Resources.configMaps, wanted)
  const have = current.value.data ?? {}
  const want = wanted.data ?? {}
  const patch: Record<string, string | null> = {}
  for (const key of new Set([...Object.keys(have), ...Object.keys(want)])) {
    if (have[key] !== want[key]) patch[key] = want[key] ?? null
  }
  if (Object.keys(patch).length === 0) return
  yield* api.patch(
    Resources.configMaps,
    { namespace: cluster.namespace, name: configMapName(cluster.name) },
    {
      data: patch
    }
  )
})

/** Where recovery stands, from the spec, the Backups and the recovery Job with its Pod. */
const observeRecovery = Effect.fn("ClusterReconciler.observeRecovery")(function* (
  cluster: ClusterRef,
  status: Cluster["status"]
) {
  const caches = yield* Caches
  const recovery = cluster.spec.bootstrap?.recovery
  if (recovery === undefined) return { _tag: "NotRequested" } as RecoveryObservation
  if (isRecovered(status)) return { _tag: "Recovered" } as RecoveryObservation
  const key = (name: string) => `${cluster.namespace}/${name}`
  const backup =
    recovery.backup === undefined
      ? undefined
      : Option.getOrUndefined(yield* caches.backups.get(key(recovery.backup.name)))
  const sourceCluster =
    backup === undefined ? undefined : Option.getOrUndefined(yield* caches.clusters.get(key(backup.spec.cluster.name)))
  const plan = yield* Effect.result(
    recoveryPlan(cluster, {
      backup: (name) => (backup?.metadata.name === name ? backup : undefined),
      cluster: (name) => (sourceCluster?.metadata.name === name ? sourceCluster : undefined)
    })
  )
  if (plan._tag === "Failure") return { _tag: "Unresolved", failure: plan.failure as Failure } as RecoveryObservation
  if (plan.success === undefined) return { _tag: "NotRequested" } as RecoveryObservation
  const job = yield* observeJob(cluster, recoveryJobName(cluster.name), recoveryOutcome)
  const planJob = recovery.recoveryTarget === undefined ? undefined : yield* observePlanJob(cluster, plan.success)
  return {
    _tag: "Resolved",
    plan: plan.success,
    job,
    ...(planJob === undefined ? {} : { planJob })
  } as RecoveryObservation
})

/** The recovery plan Job, `stale` when its annotation names another target than the spec's now. */
const observePlanJob = Effect.fn("ClusterReconciler.observePlanJob")(function* (
  cluster: ClusterRef,
  plan: RecoveryPlan
) {
  const caches = yield* Caches
  const name = recoveryPlanJobName(cluster.name)
  const job = Option.getOrUndefined(yield* caches.jobs.get(`${cluster.namespace}/${name}`))
  const planned = job?.metadata?.annotations?.[annotations.recoveryTarget]
  if (planned !== undefined && planned !== describeRecoveryTarget(plan)) return "stale" as const
  return yield* observeJob(cluster, name, planOutcome)
})

/** Each instance's PVC, Pod and instance-manager status. */
const observeInstances = Effect.fn("ClusterReconciler.observeInstances")(function* (
  cluster: ClusterRef,
  tls: ReturnType<typeof clientTlsOf>
) {
  const api = yield* KubeApi
  const caches = yield* Caches
  const client = yield* InstanceStatusClient
  const pvcs = yield* api.list(Resources.persistentVolumeClaims, {
    namespace: cluster.namespace,
    labelSelector: `${labels.cluster}=${cluster.name},${labels.component}=database`
  })
  const pods = (yield* caches.pods.byIndex(indexes.podsByCluster, `${cluster.namespace}/${cluster.name}`)).filter(
    (pod) => pod.metadata?.labels?.[labels.component] === "database"
  )
  const serials = new Map<number, { hasPvc: boolean; pod?: Pod }>()
  const entry = (serial: number) => {
    const found = serials.get(serial) ?? { hasPvc: false }
    serials.set(serial, found)
    return found
  }
  for (const pvc of pvcs.items) {
    const serial = instanceSerial(cluster.name, pvc.metadata?.name ?? "")
    if (serial !== undefined && pvc.metadata?.deletionTimestamp === undefined) entry(serial).hasPvc = true
  }
  for (const pod of pods) {
    const serial = instanceSerial(cluster.name, pod.metadata?.name ?? "")
    if (serial !== undefined) entry(serial).pod = pod
  }
  return yield* Effect.forEach(
    [...serials.entries()],
    ([serial, { hasPvc, pod }]) =>
      Effect.gen(function* () {
        const name = instanceName(cluster.name, serial)
        const ip = pod?.status?.podIP
        const status =
          tls === undefined || ip === undefined || pod?.metadata?.deletionTimestamp !== undefined
            ? undefined
            : Option.getOrUndefined(
                yield* Effect.option(
                  client.status({
                    instance: name,
                    url: `https://${urlHost(ip)}:${ports.api}`,
                    // dial the IP, verify the Pod's DNS name from the server certificate
                    tls: { ...tls, servername: instanceDnsName(cluster.name, name, cluster.namespace) }
                  })
                )
              )
        const observed: ObservedInstance = {
          serial,
          name,
          hasPvc,
          ...(pod === undefined ? {} : { pod }),
          ...(status === undefined ? {} : { status })
        }
        return observed
      }),
    { concurrency: 4 }
  )
})

/** Carries out the actions in order (PVCs before the Pods that mount them). */
const act = Effect.fn("ClusterReconciler.act")(function* (cluster: ClusterRef, actions: ReadonlyArray<Action>) {
  const api = yield* KubeApi
  const ref = (name: string) => ({ namespace: cluster.namespace, name })
  for (const action of actions) {
    switch (action._tag) {
      case "CreatePvc":
        yield* createIfMissing(Resources.persistentVolumeClaims, renderPvc(cluster, action.serial))
        break
      case "CreateRecoveryPlanJob":
        yield* createIfMissing(Resources.jobs, renderRecoveryPlanJob(cluster, action.plan))
        break
      case "DeleteRecoveryPlanJob":
        yield* ignoreNotFound(api.delete(Resources.jobs, ref(action.name), { propagationPolicy: "Background" }))
        break
      case "CreateRecoveryJob":
        yield* createIfMissing(Resources.jobs, renderRecoveryJob(cluster, action.plan))
        break
      case "CreatePod":
        yield* createIfMissing(Resources.pods, renderPod(cluster, action.plan))
        break
      case "DeletePod":
        yield* ignoreNotFound(api.delete(Resources.pods, ref(action.name)))
        break
      case "DeletePvc":
        yield* ignoreNotFound(api.delete(Resources.persistentVolumeClaims, ref(action.name)))
        break
      case "SetRole":
        yield* ignoreNotFound(
          Effect.asVoid(
            api.patch(Resources.pods, ref(action.name), { metadata: { labels: { [labels.role]: action.role } } })
          )
        )
        break
    }
  }
})

/** One reconcile of the Cluster `namespace/name`. */
export const reconcileCluster = Effect.fn("ClusterReconciler.reconcile")(function* (key: string) {
  const caches = yield* Caches
  const found = yield* caches.clusters.get(key)
  if (Option.isNone(found)) return
  const object = found.value
  const cluster = clusterRef(object)
  if (cluster === undefined || object.metadata.deletionTimestamp !== undefined) return
  const status = object.status ?? {}
  const tls = yield* ensureSecrets(cluster)
  yield* ensureServices(cluster)
  const archiver = yield* reconcileArchiver(cluster, object)
  // read once: retention marks Backups' conditions, which the archiving decision does not read
  const backups = yield* caches.backups.byIndex(indexes.backupsByCluster, `${cluster.namespace}/${cluster.name}`)
  const retention = yield* reconcileRetention(cluster, object, backups)
  const recovery = yield* observeRecovery(cluster, status)
  const instances = yield* observeInstances(cluster, tls)
  const decision = decide(
    { cluster, generation: object.metadata.generation, status, recovery, instances },
    yield* nowTime
  )
  // every instance that will exist after this reconcile has its option file before its Pod is created
  const removed = new Set(decision.actions.flatMap((a) => (a._tag === "DeletePvc" ? [a.name] : [])))
  const serials = new Set([
    ...instances.filter((i) => !removed.has(i.name)).map((i) => i.serial),
    ...decision.actions.flatMap((a) =>
      a._tag === "CreatePod" || a._tag === "CreatePvc" ? [a._tag === "CreatePod" ? a.plan.serial : a.serial] : []
    )
  ])
  const primary = decision.status.currentPrimary ?? instanceName(cluster.name, 1)
  yield* ensureConfigMap(
    cluster,
    [...serials]
      .sort((a, b) => a - b)
      .map((serial) => ({
        serial,
        role: instanceName(cluster.name, serial) === primary ? ("primary" as const) : ("replica" as const)
      }))
  )
  yield* act(cluster, decision.actions)
  const archiving = decideArchiving(
    {
      status: decision.status,
      observation: archiver,
      backups: completedBackupsOf(backups, cluster.name),
      generation: object.metadata.generation,
      flavor: flavorOfImage(cluster.spec.imageName)
    },
    yield* nowTime
  )
  // our own writes (Pods, the previous status) wake the next reconcile before the cache has the Cluster's new
  // resourceVersion: a stale read is not a failure, look again in a moment (the actions are idempotent; the
  // transitions' Events come from the reconcile whose status write lands)
  const written = yield* writeStatus(
    Resources.clusters,
    object,
    retention.status === undefined ? archiving.status : { ...archiving.status, retention: retention.status }
  ).pipe(
    Effect.as(true),
    Effect.catchTag("Conflict", () => Effect.succeed(false))
  )
  const events = yield* Events
  if (!written) {
    yield* events.recordAll(
      Resources.clusters,
      object,
      decision.events.filter((e) => actionEventReasons.has(e.reason))
    )
    return { requeueAfter: Duration.seconds(1) }
  }
  yield* events.recordAll(Resources.clusters, object, [...decision.events, ...archiving.events, ...retention.events])
  // a running archiver is asked again: its figures move without any object changing
  const requeue = [
    decision.requeueAfterSeconds,
    retention.requeueAfterSeconds,
    archiver._tag === "Disabled" ? undefined : archiverPollSeconds
  ].filter((s) => s !== undefined)
  return requeue.length === 0 ? undefined : { requeueAfter: Duration.seconds(Math.min(...requeue)) }
})

/** Clusters whose recovery waits for this Backup (by index: every status write of every Backup comes here). */
const clustersRecoveringFrom = (object: KubeObject, caches: typeof Caches.Service) =>
  Effect.map(caches.clusters.byIndex(indexes.clustersByRecoveryBackup, keyOf(object)), (clusters) =>
    clusters.map((c) => `${c.metadata.namespace ?? ""}/${c.metadata.name ?? ""}`)
  )

/** The Cluster controller; `random` generates the passwords (the process passes `secureRandom`). */
export const makeClusterController = (options: { readonly workers: number; readonly random: Random.Random }) =>
  Controller.make({
    name: "cluster",
    kind: "clusters",
    owns: ["jobs", "pods"],
    watches: [{ kind: "backups", map: clustersRecoveringFrom }],
    workers: options.workers,
    reconcile: (key) => reconcileCluster(key).pipe(Effect.provideService(Random.Random, options.random))
  })

/** The Cluster controller as the controller-manager registers it. */
export const clusterReconciler = {
  name: "cluster",
  defaultWorkers: 2,
  layer: (workers: number) =>
    makeClusterController({ workers, random: secureRandom }).pipe(
      Layer.provide(Layer.mergeAll(InstanceStatusClient.layer, ArchiverStatusClient.layer))
    )
}
