/**
 * The archiver step of the Cluster reconciler: observe the Deployment `<cluster>-binlog-archiver` (read by name,
 * not cached: one small object per Cluster) → decide (pure) → act → Events on the Cluster. Enabled: create it,
 * or replace it when its rendering changed (image, flushInterval, object store); disabled: delete it. The
 * archive itself is never deleted here (retention is its own job).
 *
 * @since 0.2.0
 */
import { Effect, Option } from "effect"
import { archiverStatusPaths, archiverStatusPort } from "../../api/binlogArchive.ts"
import type { Cluster } from "../../api/cluster.ts"
import { binlogArchiverLabels, binlogArchiverName } from "../../api/names.ts"
import { KubeApi } from "../../kube/KubeApi.ts"
import { type Deployment, Resources } from "../../kube/resources.ts"
import { urlHost } from "../../platform/urlHost.ts"
import { Caches, indexes } from "../Caches.ts"
import type { ClusterRef } from "../cluster/render.ts"
import { Events, event, type PendingEvent } from "../Events.ts"
import { secretWaitOfPods } from "../objectStoreSecretWait.ts"
import { ArchiverStatusClient } from "./ArchiverStatusClient.ts"
import type { ArchiverObservation } from "./decide.ts"
import { archiverEvents } from "./events.ts"
import { archiverSpecHashAnnotation, renderArchiverDeployment } from "./render.ts"

/** What to do with the archiver Deployment. */
export type ArchiverAction =
  | { readonly _tag: "Keep" }
  | { readonly _tag: "Create"; readonly deployment: Deployment }
  | { readonly _tag: "Replace"; readonly deployment: Deployment }
  | { readonly _tag: "Delete"; readonly name: string }

const hashOf = (deployment: Deployment | undefined): string | undefined =>
  deployment?.metadata?.annotations?.[archiverSpecHashAnnotation]

/**
 * The action from the wanted and the existing Deployment (pure). A Deployment of that name that this Cluster
 * does not own is never touched.
 */
export const decideArchiver = (
  clusterUid: string,
  wanted: Deployment | undefined,
  existing: Deployment | undefined
): { readonly action: ArchiverAction; readonly events: ReadonlyArray<PendingEvent> } => {
  if (existing !== undefined && !(existing.metadata?.ownerReferences ?? []).some((o) => o.uid === clusterUid)) {
    return { action: { _tag: "Keep" }, events: [] }
  }
  if (wanted === undefined) {
    return existing === undefined
      ? { action: { _tag: "Keep" }, events: [] }
      : {
          action: { _tag: "Delete", name: existing.metadata?.name ?? "" },
          events: [event(archiverEvents.stopped, { deployment: existing.metadata?.name ?? "" })]
        }
  }
  const name = wanted.metadata?.name ?? ""
  if (existing === undefined) {
    return {
      action: { _tag: "Create", deployment: wanted },
      events: [event(archiverEvents.started, { deployment: name })]
    }
  }
  if (hashOf(existing) === hashOf(wanted)) return { action: { _tag: "Keep" }, events: [] }
  return {
    action: {
      _tag: "Replace",
      deployment: {
        ...wanted,
        metadata: { ...wanted.metadata, resourceVersion: existing.metadata?.resourceVersion }
      } as Deployment
    },
    events: [event(archiverEvents.updated, { deployment: name })]
  }
}

/** How often the reconciler asks a running archiver for its status (the Cluster is requeued after it). */
export const archiverPollSeconds = 30

/** What the archiver reports, from its running Pod's `/status`; `Disabled` without a wanted Deployment. */
const observeArchiver = Effect.fn("ClusterReconciler.observeArchiver")(function* (
  cluster: ClusterRef,
  wanted: Deployment | undefined
) {
  if (wanted === undefined) return { _tag: "Disabled" } as ArchiverObservation
  const caches = yield* Caches
  const client = yield* ArchiverStatusClient
  const selector = binlogArchiverLabels(cluster.name)
  const pods = (yield* caches.pods.byIndex(indexes.podsByCluster, `${cluster.namespace}/${cluster.name}`)).filter(
    (p) =>
      Object.entries(selector).every(([k, v]) => p.metadata?.labels?.[k] === v) &&
      p.metadata?.deletionTimestamp === undefined
  )
  const pod = pods.find((p) => p.status?.phase === "Running" && (p.status.podIP ?? "") !== "")
  const ip = pod?.status?.podIP
  if (ip === undefined) {
    const deployment = binlogArchiverName(cluster.name)
    const wait = yield* secretWaitOfPods(wanted.spec?.template.spec, pods, `the Pod of Deployment ${deployment}`)
    return (
      wait === undefined ? { _tag: "NoPod", deployment } : { _tag: "SecretMissing", ...wait }
    ) as ArchiverObservation
  }
  const url = `http://${urlHost(ip)}:${archiverStatusPort}${archiverStatusPaths.status}`
  return yield* client.status(url).pipe(
    Effect.map((status): ArchiverObservation => ({ _tag: "Reported", status })),
    Effect.catchTag("ArchiverStatusUnavailable", (e) =>
      Effect.succeed<ArchiverObservation>({ _tag: "Unreachable", detail: e.message })
    )
  )
})

/**
 * Observes, decides and acts for the archiver Deployment of `cluster`, then observes what the archiver reports
 * (the caller decides the status from it, in its one status write). API errors fail the reconcile (retried).
 */
export const reconcileArchiver = Effect.fn("ClusterReconciler.reconcileArchiver")(function* (
  cluster: ClusterRef,
  object: Cluster
) {
  const api = yield* KubeApi
  const ref = { namespace: cluster.namespace, name: binlogArchiverName(cluster.name) }
  const existing = yield* api.get(Resources.deployments, ref).pipe(
    Effect.map(Option.some),
    Effect.catchTag("NotFound", () => Effect.succeed(Option.none<Deployment>()))
  )
  const wanted = renderArchiverDeployment(cluster)
  const { action, events } = decideArchiver(cluster.uid, wanted, Option.getOrUndefined(existing))
  switch (action._tag) {
    case "Keep":
      break
    case "Create":
      yield* api
        .create(Resources.deployments, action.deployment)
        .pipe(Effect.catchTag("AlreadyExists", () => Effect.void))
      break
    case "Replace":
      yield* api.replace(Resources.deployments, action.deployment)
      break
    case "Delete":
      yield* api
        .delete(Resources.deployments, ref, { propagationPolicy: "Background" })
        .pipe(Effect.catchTag("NotFound", () => Effect.void))
      break
  }
  const recorder = yield* Events
  yield* recorder.recordAll(Resources.clusters, object, events)
  return yield* observeArchiver(cluster, wanted)
})
