/**
 * The controller-manager's shared caches: one informer per watched kind (a reflector per watched namespace, or
 * one across all namespaces), shared by every controller, with secondary indexes so a reconcile finds an
 * object's dependents without scanning (`backupsByCluster`, `podsByOwner`, `podsByCluster`,
 * `clustersByRecoveryBackup`). The
 * indexes are filed in the step that changes the cache (the reflector's `onChange`), so they never lag it.
 * Reconcilers read from here, never from the API server; they write through `KubeApi`.
 *
 * Jobs and Pods are watched by the `app.kubernetes.io/managed-by=cloudnative-mysql` label only: the operator
 * neither caches nor pays for the rest of a cluster's Pods.
 *
 * A subscriber first receives every cached object as `Added` (so one registered after the first list misses
 * nothing), then every change.
 *
 * What no reconciler reads is dropped before an object is cached, and what stays is laid out compactly with its
 * repeated strings shared by all kinds (`projections.ts`). An index value that one object is filed under (an
 * owner's Job, a Job's Pod) maps to that object's key itself, a Set only once a second one joins it.
 *
 * @since 0.1.0
 */
import { Context, Deferred, Duration, Effect, Layer, Option, Stream } from "effect"
import type { Backup } from "../api/backup.ts"
import type { Cluster } from "../api/cluster.ts"
import { labels } from "../api/names.ts"
import type { ScheduledBackup } from "../api/scheduledBackup.ts"
import type { KubeApi } from "../kube/KubeApi.ts"
import { makeReflector, type ReflectorEvent } from "../kube/Reflector.ts"
import { type Job, type KubeObject, keyOf, type Pod, type Resource, Resources } from "../kube/resources.ts"
import { compacted, jobForCache, ownedByJob, podForCache, StringTable, withoutBookkeeping } from "./projections.ts"

/** An index function: the values an object is found under (`namespace/…` strings, so namespaces never mix). */
export type IndexFunction<A> = (object: A) => ReadonlyArray<string>

/** A handler of cache events (typically: enqueue keys). */
export type CacheHandler<A> = (event: ReflectorEvent<A>) => Effect.Effect<void>

/** One kind's cache. */
export interface Informer<A extends KubeObject> {
  readonly resource: Resource<A>
  readonly get: (key: string) => Effect.Effect<Option.Option<A>>
  readonly list: (namespace?: string) => Effect.Effect<ReadonlyArray<A>>
  /** The objects an index maps `value` to. */
  readonly byIndex: (index: string, value: string) => Effect.Effect<ReadonlyArray<A>>
  /** Registers a handler: every cached object is delivered as `Added` first. */
  readonly subscribe: (handler: CacheHandler<A>) => Effect.Effect<void>
  readonly synced: Effect.Effect<void>
  readonly isSynced: Effect.Effect<boolean>
  readonly size: Effect.Effect<number>
}

/** The controller ownerReference of an object as an index value: `Kind:namespace/name`. */
export const ownerIndexValue = (kind: string, namespace: string | undefined, name: string): string =>
  `${kind}:${namespace ?? ""}/${name}`

type WithOwners = KubeObject & {
  readonly metadata?:
    | {
        readonly namespace?: string | undefined
        readonly labels?: Readonly<Record<string, string>> | undefined
        readonly ownerReferences?:
          | ReadonlyArray<{ readonly kind: string; readonly name: string; readonly controller?: boolean | undefined }>
          | undefined
      }
    | undefined
}

/** Index by the controller ownerReference. */
export const byControllerOwner: IndexFunction<WithOwners> = (object) =>
  (object.metadata?.ownerReferences ?? [])
    .filter((ref) => ref.controller === true)
    .map((ref) => ownerIndexValue(ref.kind, object.metadata?.namespace, ref.name))

/** Index by a label: `namespace/<value>`. */
export const byLabel =
  (label: string): IndexFunction<WithOwners> =>
  (object) => {
    const value = object.metadata?.labels?.[label]
    return value === undefined ? [] : [`${object.metadata?.namespace ?? ""}/${value}`]
  }

/** The index names. */
export const indexes = {
  backupsByCluster: "cluster",
  backupsBySchedule: "scheduledBackup",
  podsByOwner: "owner",
  podsByCluster: "cluster",
  clustersByRecoveryBackup: "recoveryBackup"
} as const

/** The shared caches. */
export interface CachesService {
  readonly backups: Informer<Backup>
  readonly scheduledBackups: Informer<ScheduledBackup>
  readonly clusters: Informer<Cluster>
  readonly jobs: Informer<Job>
  readonly pods: Informer<Pod>
  /** Completes once every informer has listed once. */
  readonly synced: Effect.Effect<void>
  readonly isSynced: Effect.Effect<boolean>
  /** Objects per kind (for `/metrics`). */
  readonly sizes: Effect.Effect<Readonly<Record<CacheKind, number>>>
}

/** The kinds the caches hold. */
export type CacheKind = "backups" | "scheduledBackups" | "clusters" | "jobs" | "pods"

/** What to watch. */
export interface CachesOptions {
  /** Namespaces to watch; absent or empty means all namespaces. */
  readonly namespaces?: ReadonlyArray<string> | undefined
  /** How often every cached object is delivered again (default 10 minutes). */
  readonly resyncPeriod?: Duration.Input | undefined
}

/** The label selector of the Jobs and Pods the operator manages. */
export const managedSelector = `${labels.managedBy}=cloudnative-mysql`

interface InformerOptions<A extends KubeObject> {
  readonly resource: Resource<A>
  readonly labelSelector?: string | undefined
  readonly indexers?: Readonly<Record<string, IndexFunction<A>>> | undefined
  readonly transform?: ((object: A) => A) | undefined
}

const namespaceOfKey = (key: string): string | undefined => {
  const slash = key.indexOf("/")
  return slash < 0 ? undefined : key.slice(0, slash)
}

/** Builds an informer and forks its reflectors into the current scope. */
const makeInformer = <A extends KubeObject>(options: InformerOptions<A>, caches: CachesOptions, strings: StringTable) =>
  Effect.gen(function* () {
    const namespaces = caches.namespaces !== undefined && caches.namespaces.length > 0 ? caches.namespaces : [undefined]
    const indexers = Object.entries(options.indexers ?? {})
    // index name → value → key, or keys once there are several (most values, an owner, have one); an object is
    // unfiled under the values of the version it had (the event's `previous`), so nothing per object is kept
    // besides the keys themselves
    const index = new Map<string, Map<string, string | Set<string>>>(indexers.map(([name]) => [name, new Map()]))
    const handlers = new Set<CacheHandler<A>>()

    const unindex = (key: string, object: A) => {
      for (const [name, f] of indexers) {
        const byValue = index.get(name)
        for (const value of f(object)) {
          const keys = byValue?.get(value)
          if (keys === key) byValue?.delete(value)
          else if (typeof keys === "object") {
            keys.delete(key)
            if (keys.size === 1) byValue?.set(value, keys.values().next().value ?? "")
          }
        }
      }
    }
    const reindex = (key: string, object: A) => {
      for (const [name, f] of indexers) {
        const byValue = index.get(name)!
        for (const value of f(object)) {
          const keys = byValue.get(value)
          if (keys === undefined) byValue.set(value, key)
          else if (typeof keys === "object") keys.add(key)
          else if (keys !== key) byValue.set(value, new Set([keys, key]))
        }
      }
    }
    const file = (event: ReflectorEvent<A>) => {
      if (event.previous !== undefined) unindex(event.key, event.previous)
      if (event.type !== "Deleted") reindex(event.key, event.object)
    }
    // filed as the reflector changes its cache, not when the event reaches the handlers: a reconcile never finds
    // an object with `get` that `byIndex` misses (right after the first list, say)
    const reflectors = yield* Effect.forEach(namespaces, (namespace) =>
      makeReflector({
        resource: options.resource,
        namespace,
        labelSelector: options.labelSelector,
        resyncPeriod: caches.resyncPeriod ?? Duration.minutes(10),
        transform: (object: A) => compacted((options.transform ?? withoutBookkeeping)(object), strings),
        onChange: file
      })
    )
    const reflectorFor = new Map(namespaces.map((namespace, i) => [namespace, reflectors[i]!]))

    const get = (key: string): Effect.Effect<Option.Option<A>> => {
      const reflector = reflectorFor.get(namespaceOfKey(key)) ?? reflectorFor.get(undefined)
      return reflector === undefined ? Effect.succeed(Option.none()) : reflector.cache.get(key)
    }
    const list = (namespace?: string) =>
      Effect.map(
        Effect.forEach(reflectors, (reflector) => reflector.cache.list(namespace)),
        (lists) => lists.flat()
      )

    for (const reflector of reflectors) {
      yield* reflector.events.pipe(
        Stream.runForEach((event) => Effect.forEach([...handlers], (handler) => handler(event), { discard: true })),
        Effect.forkScoped
      )
    }

    const synced = Effect.forEach(reflectors, (reflector) => reflector.cache.synced, { discard: true })
    const informer: Informer<A> = {
      resource: options.resource,
      get,
      list,
      byIndex: (name, value) =>
        Effect.gen(function* () {
          const filed = index.get(name)?.get(value)
          const keys = filed === undefined ? [] : typeof filed === "string" ? [filed] : [...filed]
          const objects: Array<A> = []
          for (const key of keys) {
            const object = yield* get(key)
            if (Option.isSome(object)) objects.push(object.value)
          }
          return objects
        }),
      subscribe: (handler) =>
        Effect.gen(function* () {
          const current = yield* list()
          handlers.add(handler)
          yield* Effect.forEach(current, (object) => handler({ type: "Added", key: keyOf(object), object }), {
            discard: true
          })
        }),
      synced,
      isSynced: Effect.map(
        Effect.forEach(reflectors, (reflector) => reflector.cache.isSynced),
        (all) => all.every(Boolean)
      ),
      size: Effect.map(
        Effect.forEach(reflectors, (reflector) => reflector.cache.size),
        (sizes) => sizes.reduce((a, b) => a + b, 0)
      )
    }
    return informer
  })

const clusterLabel = byLabel(labels.cluster)

/**
 * A Cluster's own Pods (instances, the binlog archiver) by its label: a Pod of one of its Jobs carries the label
 * too, but its readers find it by its Job (`podsByOwner`), and the Cluster's readers want the others.
 */
const clusterPodsIndex: IndexFunction<Pod> = (pod) => (ownedByJob(pod) ? [] : clusterLabel(pod))

/** A Cluster bootstrapped by recovery from a Backup object, under that Backup's key. */
const recoveryBackup: IndexFunction<Cluster> = (cluster) => {
  const backup = cluster.spec.bootstrap?.recovery?.backup?.name
  return backup === undefined ? [] : [`${cluster.metadata.namespace ?? ""}/${backup}`]
}

const backupCluster: IndexFunction<Backup> = (backup) => [
  `${backup.metadata.namespace ?? ""}/${backup.spec.cluster.name}`
]

/** Strings per generation of the caches' string table (`StringTable`): about 100 KB at most. */
const stringTableGeneration = 2048

/** The shared caches of the controller-manager. */
export class Caches extends Context.Service<Caches, CachesService>()("cloudnative-mysql/controller/Caches") {
  /** Starts one reflector per kind (and namespace) in the layer's scope. */
  static readonly layer = (options: CachesOptions = {}): Layer.Layer<Caches, never, KubeApi> =>
    Layer.effect(
      Caches,
      Effect.gen(function* () {
        // one table for every kind: a Job, its Pod and its Backup share namespace, labels, owner names
        const strings = new StringTable(stringTableGeneration)
        const backups = yield* makeInformer(
          {
            resource: Resources.backups,
            indexers: {
              [indexes.backupsByCluster]: backupCluster,
              [indexes.backupsBySchedule]: byLabel(labels.scheduledBackup)
            }
          },
          options,
          strings
        )
        const scheduledBackups = yield* makeInformer({ resource: Resources.scheduledBackups }, options, strings)
        const clusters = yield* makeInformer(
          { resource: Resources.clusters, indexers: { [indexes.clustersByRecoveryBackup]: recoveryBackup } },
          options,
          strings
        )
        const jobs = yield* makeInformer(
          {
            resource: Resources.jobs,
            labelSelector: managedSelector,
            transform: jobForCache
          },
          options,
          strings
        )
        const pods = yield* makeInformer(
          {
            resource: Resources.pods,
            labelSelector: managedSelector,
            indexers: { [indexes.podsByOwner]: byControllerOwner, [indexes.podsByCluster]: clusterPodsIndex },
            transform: podForCache
          },
          options,
          strings
        )
        const all = [backups, scheduledBackups, clusters, jobs, pods] as const
        const synced = yield* Deferred.make<void>()
        yield* Effect.forkScoped(
          Effect.andThen(
            Effect.forEach(all, (informer) => informer.synced, { discard: true }),
            Deferred.succeed(synced, undefined)
          )
        )
        return Caches.of({
          backups,
          scheduledBackups,
          clusters,
          jobs,
          pods,
          synced: Deferred.await(synced),
          isSynced: Deferred.isDone(synced),
          sizes: Effect.gen(function* () {
            return {
              backups: yield* backups.size,
              scheduledBackups: yield* scheduledBackups.size,
              clusters: yield* clusters.size,
              jobs: yield* jobs.size,
              pods: yield* pods.size
            }
          })
        })
      })
    )
}
