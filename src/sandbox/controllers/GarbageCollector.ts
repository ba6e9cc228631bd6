/**
 * The garbage collector of kube-controller-manager, running continuously: informers on every kind that owns
 * or is owned in the sandbox (the built-ins the controllers and the operator create, and our custom
 * resources) feed one work-queue key, so bursts of events coalesce into one pass. A pass plans from the
 * informers' caches (`planCollection`) and acts through the API: orphaning strips owner references, foreground
 * deletion deletes dependents (foreground) and drops `foregroundDeletion` once nothing blocks, and dependents
 * of vanished owners are deleted in the background — after a live GET confirms the owner is really gone (or
 * was replaced by a namesake with another uid). Owner references to kinds it does not watch are left alone.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Schema } from "effect"
import { Group } from "../../api/common.ts"
import type { KubeError } from "../../kube/errors.ts"
import { KubeApi } from "../../kube/KubeApi.ts"
import type { ReflectorCache } from "../../kube/Reflector.ts"
import { apiVersionOf, type KubeObject, OpenObjectMeta, type Resource, Resources } from "../../kube/resources.ts"
import { type CollectorAction, metaOf, type Node, planCollection } from "./collectorPlan.ts"
import { ignoreNotFound, type OwnerRef, type RunningController, startInformer, startQueue } from "./informer.ts"
import { Kinds } from "./kinds.ts"

/** Any object: only its metadata is read, everything else is kept. */
const AnyObject = Schema.StructWithRest(
  Schema.Struct({
    apiVersion: Schema.optionalKey(Schema.String),
    kind: Schema.optionalKey(Schema.String),
    metadata: OpenObjectMeta
  }),
  [Schema.Record(Schema.String, Schema.Unknown)]
)

const loose = (resource: Resource<KubeObject>): Resource<KubeObject> => ({ ...resource, schema: AnyObject })

/** The collector reads only metadata: any descriptor of a kind serves, typed as its common part. */
const asAny = <A extends KubeObject>(resource: Resource<A>): Resource<KubeObject> =>
  resource as unknown as Resource<KubeObject>

/**
 * The kinds whose ownership the collector follows. The controllers' descriptors are shared (one informer per
 * kind); the operator's own kinds and ConfigMaps, which no other controller watches, decode loosely so an object
 * the operator's Schema would reject still has its ownership followed.
 */
const watched: ReadonlyArray<Resource<KubeObject>> = [
  ...[
    Kinds.pods,
    Kinds.jobs,
    Kinds.persistentVolumeClaims,
    Kinds.persistentVolumes,
    Kinds.deployments,
    Kinds.replicaSets,
    Kinds.services,
    Kinds.endpoints,
    Kinds.endpointSlices
  ].map((resource) => asAny(resource as Resource<KubeObject>)),
  ...[
    Resources.secrets,
    Resources.leases,
    Resources.clusters,
    Resources.backups,
    Resources.scheduledBackups,
    { group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true, schema: AnyObject }
  ].map((resource) => loose(resource as Resource<KubeObject>))
]

const kindKey = (apiVersion: string, kind: string) => `${apiVersion}/${kind}`

const PASS = "pass"

/** Starts the garbage collector in the current scope. */
export const startGarbageCollector = Effect.gen(function* () {
  const api = yield* KubeApi
  const byKind = new Map(watched.map((resource) => [kindKey(apiVersionOf(resource), resource.kind), resource]))
  const caches: Array<{ readonly resource: Resource<KubeObject>; readonly cache: ReflectorCache<KubeObject> }> = []

  const refOf = (node: Node) => ({ namespace: node.object.metadata?.namespace, name: node.object.metadata?.name ?? "" })
  const resourceOf = (node: Node) => byKind.get(node.kind)

  /** Merge patch of metadata with the object's resourceVersion as precondition (a 409 retries the pass). */
  const patchMeta = (node: Node, metadata: Record<string, unknown>) => {
    const resource = resourceOf(node)
    if (resource === undefined) return Effect.void
    return ignoreNotFound(
      api.patch(resource, refOf(node), {
        metadata: { ...metadata, resourceVersion: node.object.metadata?.resourceVersion }
      })
    ).pipe(Effect.asVoid)
  }

  const dropFinalizer = (node: Node, finalizer: string) =>
    patchMeta(node, { finalizers: (metaOf(node.object).finalizers ?? []).filter((item) => item !== finalizer) })

  const remove = (node: Node, policy: "Background" | "Foreground") => {
    const resource = resourceOf(node)
    if (resource === undefined) return Effect.void
    return ignoreNotFound(
      api.delete(resource, refOf(node), {
        propagationPolicy: policy,
        preconditions: { uid: metaOf(node.object).uid ?? "" }
      })
    ).pipe(Effect.asVoid)
  }

  /** True when the owner a reference names is really gone: absent, or a namesake with another uid. */
  const confirmedGone = (dependent: Node, ref: OwnerRef) =>
    Effect.gen(function* () {
      const resource = byKind.get(kindKey(ref.apiVersion, ref.kind))
      if (resource === undefined) return false
      const namespace = resource.namespaced ? dependent.object.metadata?.namespace : undefined
      const owner = yield* ignoreNotFound(api.get(resource, { namespace, name: ref.name }))
      return owner === undefined || owner.metadata?.uid !== ref.uid
    })

  const act = (action: CollectorAction): Effect.Effect<void, KubeError> =>
    Effect.gen(function* () {
      switch (action.type) {
        case "orphan": {
          const uid = metaOf(action.owner.object).uid
          for (const dependent of action.dependents) {
            const refs = (metaOf(dependent.object).ownerReferences ?? []).filter((ref) => ref.uid !== uid)
            yield* patchMeta(dependent, { ownerReferences: refs.length === 0 ? null : refs })
          }
          return yield* dropFinalizer(action.owner, "orphan")
        }
        case "foreground": {
          for (const dependent of action.remove) yield* remove(dependent, "Foreground")
          if (!action.blocked) yield* dropFinalizer(action.owner, "foregroundDeletion")
          return
        }
        case "dangling": {
          const gone: Array<OwnerRef> = []
          for (const ref of action.missing) if (yield* confirmedGone(action.dependent, ref)) gone.push(ref)
          if (gone.length === 0) return
          const refs = metaOf(action.dependent.object).ownerReferences ?? []
          const kept = refs.filter((ref) => !gone.some((item) => item.uid === ref.uid))
          if (kept.length === 0) return yield* remove(action.dependent, "Background")
          return yield* patchMeta(action.dependent, { ownerReferences: kept })
        }
      }
    })

  const reconcile = () =>
    Effect.gen(function* () {
      const nodes: Array<Node> = []
      for (const { resource, cache } of caches) {
        const key = kindKey(apiVersionOf(resource), resource.kind)
        for (const object of yield* cache.list()) nodes.push({ kind: key, object })
      }
      // the plan comes from caches, which may lag behind the collector's own writes: a conflict only means
      // "look again once the cache has caught up", not a failure worth a warning
      let stale = false
      for (const action of planCollection(nodes)) {
        yield* act(action).pipe(
          Effect.catchTag("Conflict", () =>
            Effect.sync(() => {
              stale = true
            })
          )
        )
      }
      return stale ? { requeueAfter: Duration.millis(50) } : undefined
    }).pipe(Effect.withSpan("GarbageCollector.pass"))

  const queue = yield* startQueue("garbage-collector", reconcile, 1)
  for (const resource of watched) {
    caches.push({ resource, cache: yield* startInformer(resource, () => queue.add(PASS)) })
  }
  return {
    // custom resources may be served only once the CRDs are applied: readiness waits for the built-ins only
    synced: Effect.forEach(
      caches.filter(({ resource }) => resource.group !== Group),
      ({ cache }) => cache.synced,
      { discard: true }
    )
  } satisfies RunningController
})
