/**
 * The Deployment controller of kube-controller-manager: each Deployment owns one ReplicaSet per Pod template
 * (`<deployment>-<pod-template-hash>`, the hash label on the ReplicaSet, its selector and its template), the
 * newest carrying the current template. A template change rolls out by the Deployment's strategy —
 * `RollingUpdate` within `maxSurge`/`maxUnavailable`, or `Recreate` (old Pods gone before new ones start) —
 * and a `replicas` change scales the current ReplicaSet. Old ReplicaSets scaled to zero beyond
 * `revisionHistoryLimit` are deleted. The status (`replicas`, `updatedReplicas`, `readyReplicas`,
 * `availableReplicas`, `unavailableReplicas`, `observedGeneration`, the `Available` and `Progressing`
 * conditions, `ProgressDeadlineExceeded` after `progressDeadlineSeconds` without progress) is what
 * `kubectl rollout status` waits on. Revisions are recorded in `deployment.kubernetes.io/revision`.
 * Not done: `paused`, rollback (`kubectl rollout undo`), proportional scaling of several live ReplicaSets.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Option } from "effect"
import { metaV1Time, nowMillis } from "../../api/time.ts"
import { makeEventRecorder } from "../../kube/EventRecorder.ts"
import type { KubeError } from "../../kube/errors.ts"
import { KubeApi } from "../../kube/KubeApi.ts"
import { parseKey } from "../../kube/resources.ts"
import type { Reconciled } from "../../kube/WorkQueue.ts"
import {
  controllerKey,
  controllerReference,
  ignoreNotFound,
  isControlledBy,
  isDeleting,
  isTerminal,
  type RunningController,
  startInformer,
  startOwnerInformers,
  startQueue
} from "./informer.ts"
import { type Deployment, Kinds, type ReplicaSet } from "./kinds.ts"
import {
  deploymentStatus,
  rollingNewSize,
  rollingOldSizes,
  sameTemplate,
  templateHash,
  templateHashLabel
} from "./rollout.ts"

const REVISION = "deployment.kubernetes.io/revision"

const revisionOf = (replicaSet: ReplicaSet) => Number(replicaSet.metadata.annotations?.[REVISION] ?? "0") || 0

/** Starts the Deployment controller in the current scope. */
export const startDeploymentController = Effect.gen(function* () {
  const api = yield* KubeApi
  const recorder = yield* makeEventRecorder({ component: "deployment-controller" })

  const scale = (deployment: Deployment, replicaSet: ReplicaSet, size: number) =>
    Effect.gen(function* () {
      const from = replicaSet.spec?.replicas ?? 0
      if (from === size) return replicaSet
      const scaled = yield* api.patch(
        Kinds.replicaSets,
        { namespace: replicaSet.metadata.namespace, name: replicaSet.metadata.name ?? "" },
        {
          metadata: {
            resourceVersion: replicaSet.metadata.resourceVersion,
            annotations: {
              "deployment.kubernetes.io/desired-replicas": String(deployment.spec?.replicas ?? 1)
            }
          },
          spec: { replicas: size }
        }
      )
      yield* recorder.normal(
        Kinds.deployments,
        deployment,
        "ScalingReplicaSet",
        `Scaled ${size > from ? "up" : "down"} replica set ${replicaSet.metadata.name ?? ""} from ${from} to ${size}`
      )
      return scaled
    })

  const createReplicaSet = (deployment: Deployment, revision: number, size: number) =>
    Effect.gen(function* () {
      const template = deployment.spec?.template
      const hash = templateHash(template)
      const labels = { ...template?.metadata?.labels, [templateHashLabel]: hash }
      const name = `${deployment.metadata.name ?? ""}-${hash}`
      const replicaSet = yield* api.create(Kinds.replicaSets, {
        metadata: {
          name,
          namespace: deployment.metadata.namespace ?? "",
          labels,
          annotations: {
            [REVISION]: String(revision),
            "deployment.kubernetes.io/desired-replicas": String(deployment.spec?.replicas ?? 1),
            "deployment.kubernetes.io/max-replicas": String(deployment.spec?.replicas ?? 1)
          },
          ownerReferences: [controllerReference("apps/v1", "Deployment", deployment)]
        },
        spec: {
          replicas: size,
          minReadySeconds: deployment.spec?.minReadySeconds ?? 0,
          selector: {
            ...deployment.spec?.selector,
            matchLabels: { ...deployment.spec?.selector.matchLabels, [templateHashLabel]: hash }
          },
          template: { ...template, metadata: { ...template?.metadata, labels } }
        }
      })
      yield* recorder.normal(
        Kinds.deployments,
        deployment,
        "ScalingReplicaSet",
        `Scaled up replica set ${name} from 0 to ${size}`
      )
      return replicaSet
    })

  const reconcile = (key: string): Effect.Effect<Reconciled, KubeError> =>
    Effect.gen(function* () {
      const ref = parseKey(key)
      const deployment = yield* ignoreNotFound(api.get(Kinds.deployments, ref))
      if (deployment === undefined || isDeleting(deployment)) return
      const owned = (yield* api.list(Kinds.replicaSets, { namespace: ref.namespace })).items.filter(
        (replicaSet) => isControlledBy(replicaSet, deployment) && !isDeleting(replicaSet)
      )
      const replicas = deployment.spec?.replicas ?? 1
      let next = owned.find((replicaSet) => sameTemplate(replicaSet.spec?.template, deployment.spec?.template))
      let old = owned.filter((replicaSet) => replicaSet !== next)
      const revision = Math.max(0, ...old.map(revisionOf)) + 1
      let created = false
      if (deployment.spec?.strategy?.type === "Recreate") {
        old = yield* Effect.forEach(old, (replicaSet) => scale(deployment, replicaSet, 0))
        const oldPods = (yield* api.list(Kinds.pods, { namespace: ref.namespace })).items.filter(
          (pod) => !isTerminal(pod) && old.some((replicaSet) => isControlledBy(pod, replicaSet))
        )
        if (oldPods.length === 0) {
          if (next === undefined) {
            next = yield* createReplicaSet(deployment, revision, replicas)
            created = true
          } else next = yield* scale(deployment, next, replicas)
        }
      } else {
        if (next === undefined) {
          const size = old.length === 0 ? replicas : rollingNewSize(deployment, { metadata: {} }, owned)
          next = yield* createReplicaSet(deployment, revision, size)
          created = true
        } else {
          const current = next
          const size = (next.spec?.replicas ?? 0) > replicas ? replicas : rollingNewSize(deployment, next, owned)
          next = yield* scale(deployment, current, size)
        }
        const sizes = rollingOldSizes(deployment, next, old)
        old = yield* Effect.forEach(old, (replicaSet) =>
          scale(deployment, replicaSet, sizes.get(replicaSet.metadata.name ?? "") ?? replicaSet.spec?.replicas ?? 0)
        )
      }
      if (next !== undefined && next.metadata.annotations?.[REVISION] !== undefined) {
        const nextRevision = next.metadata.annotations[REVISION]
        if (deployment.metadata.annotations?.[REVISION] !== nextRevision) {
          yield* api.patch(Kinds.deployments, ref, { metadata: { annotations: { [REVISION]: nextRevision } } })
        }
      }
      // history: old ReplicaSets at zero beyond revisionHistoryLimit, oldest first
      const idle = old
        .filter((replicaSet) => (replicaSet.spec?.replicas ?? 0) === 0 && (replicaSet.status?.replicas ?? 0) === 0)
        .sort((a, b) => revisionOf(a) - revisionOf(b))
      const limit = deployment.spec?.revisionHistoryLimit ?? 10
      for (const replicaSet of idle.slice(0, Math.max(0, idle.length - limit))) {
        yield* ignoreNotFound(
          api.delete(
            Kinds.replicaSets,
            { namespace: ref.namespace, name: replicaSet.metadata.name ?? "" },
            { propagationPolicy: "Background" }
          )
        )
      }
      const now = yield* nowMillis
      const all = next === undefined ? old : [next, ...old]
      const { status, waitMillis } = deploymentStatus(deployment, next, all, created, metaV1Time(now), now)
      yield* api.patchStatus(Kinds.deployments, ref, { status })
      return waitMillis === undefined ? undefined : { requeueAfter: Duration.millis(waitMillis) }
    }).pipe(Effect.withSpan("DeploymentController.reconcile", { attributes: { key } }))

  const queue = yield* startQueue("deployment-controller", reconcile)
  const informers = yield* startOwnerInformers(queue, Kinds.deployments, Kinds.replicaSets)
  // Recreate waits for old Pods to go: a Pod's ReplicaSet leads to its Deployment
  const pods = yield* startInformer(Kinds.pods, (event) =>
    Option.match(controllerKey(event.object, "ReplicaSet"), {
      onNone: () => Effect.void,
      onSome: (replicaSetKey) =>
        Effect.flatMap(informers.owned.get(replicaSetKey), (replicaSet) =>
          Option.match(
            Option.flatMap(replicaSet, (found) => controllerKey(found, "Deployment")),
            {
              onNone: () => Effect.void,
              onSome: queue.add
            }
          )
        )
    })
  )
  return {
    synced: Effect.andThen(informers.synced, pods.synced)
  } satisfies RunningController
})
