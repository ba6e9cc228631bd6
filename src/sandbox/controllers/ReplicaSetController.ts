/**
 * The ReplicaSet controller of kube-controller-manager: keeps `spec.replicas` active Pods (not terminal, not
 * being deleted) controlled by each ReplicaSet — a deleted Pod is replaced at once — and reports
 * `replicas`, `fullyLabeledReplicas`, `readyReplicas`, `availableReplicas` (ready for `minReadySeconds`) and
 * `observedGeneration`. Surplus Pods go not-ready first, then newest first. Pods are created from
 * `spec.template` with `generateName: <replicaset>-` and a controller owner reference; Events
 * `SuccessfulCreate`/`SuccessfulDelete` as the real controller writes them. Orphan Pods matching the selector
 * are not adopted (nothing in the sandbox creates them).
 *
 * @since 0.1.0
 */
import { Duration, Effect } from "effect"
import { nowMillis } from "../../api/time.ts"
import { makeEventRecorder } from "../../kube/EventRecorder.ts"
import type { KubeError } from "../../kube/errors.ts"
import { KubeApi } from "../../kube/KubeApi.ts"
import { parseKey } from "../../kube/resources.ts"
import type { Reconciled } from "../../kube/WorkQueue.ts"
import {
  controllerReference,
  createPodOrReport,
  ignoreNotFound,
  isActive,
  isControlledBy,
  isDeleting,
  isReady,
  type RunningController,
  readySince,
  refusedCreateRetry,
  startOwnerInformers,
  startQueue
} from "./informer.ts"
import { Kinds, type Pod } from "./kinds.ts"

const createdAt = (pod: Pod) => Date.parse(pod.metadata.creationTimestamp ?? "") || 0

/** Starts the ReplicaSet controller in the current scope. */
export const startReplicaSetController = Effect.gen(function* () {
  const api = yield* KubeApi
  const recorder = yield* makeEventRecorder({ component: "replicaset-controller" })

  const reconcile = (key: string): Effect.Effect<Reconciled, KubeError, KubeApi> =>
    Effect.gen(function* () {
      const ref = parseKey(key)
      const replicaSet = yield* ignoreNotFound(api.get(Kinds.replicaSets, ref))
      if (replicaSet === undefined || isDeleting(replicaSet)) return
      const pods = (yield* api.list(Kinds.pods, { namespace: ref.namespace })).items.filter((pod) =>
        isControlledBy(pod, replicaSet)
      )
      const active = pods.filter(isActive)
      const wanted = replicaSet.spec?.replicas ?? 1
      const template = replicaSet.spec?.template
      for (let index = active.length; index < wanted; index++) {
        const pod = yield* createPodOrReport(
          {
            metadata: {
              generateName: `${ref.name}-`,
              namespace: ref.namespace ?? "",
              labels: { ...template?.metadata?.labels },
              ...(template?.metadata?.annotations === undefined ? {} : { annotations: template.metadata.annotations }),
              ownerReferences: [controllerReference("apps/v1", "ReplicaSet", replicaSet)]
            },
            spec: template?.spec ?? { containers: [] }
          },
          (message) => recorder.warning(Kinds.replicaSets, replicaSet, "FailedCreate", message)
        )
        if (pod === undefined) return { requeueAfter: refusedCreateRetry }
        yield* recorder.normal(
          Kinds.replicaSets,
          replicaSet,
          "SuccessfulCreate",
          `Created pod: ${pod.metadata.name ?? ""}`
        )
      }
      if (active.length > wanted) {
        const surplus = [...active]
          .sort((a, b) => Number(isReady(a)) - Number(isReady(b)) || createdAt(b) - createdAt(a))
          .slice(0, active.length - wanted)
        for (const pod of surplus) {
          yield* ignoreNotFound(api.delete(Kinds.pods, { namespace: ref.namespace, name: pod.metadata.name ?? "" }))
          yield* recorder.normal(
            Kinds.replicaSets,
            replicaSet,
            "SuccessfulDelete",
            `Deleted pod: ${pod.metadata.name ?? ""}`
          )
        }
      }
      const now = yield* nowMillis
      const minReadyMillis = (replicaSet.spec?.minReadySeconds ?? 0) * 1000
      const labels = template?.metadata?.labels ?? {}
      const ready = active.filter(isReady)
      const available = ready.filter((pod) => (readySince(pod) ?? now) + minReadyMillis <= now)
      yield* api.patchStatus(Kinds.replicaSets, ref, {
        status: {
          replicas: active.length,
          fullyLabeledReplicas: active.filter((pod) =>
            Object.entries(labels).every(([name, value]) => pod.metadata.labels?.[name] === value)
          ).length,
          readyReplicas: ready.length,
          availableReplicas: available.length,
          observedGeneration: replicaSet.metadata.generation ?? 0
        }
      })
      // a Pod ready but not yet for minReadySeconds becomes available without any event: look again then
      const waits = ready
        .filter((pod) => !available.includes(pod))
        .map((pod) => (readySince(pod) ?? now) + minReadyMillis - now)
      return waits.length === 0 ? undefined : { requeueAfter: Duration.millis(Math.max(1, Math.min(...waits))) }
    }).pipe(Effect.withSpan("ReplicaSetController.reconcile", { attributes: { key } }))

  const queue = yield* startQueue("replicaset-controller", reconcile)
  const informers = yield* startOwnerInformers(queue, Kinds.replicaSets, Kinds.pods)
  return { synced: informers.synced } satisfies RunningController
})
