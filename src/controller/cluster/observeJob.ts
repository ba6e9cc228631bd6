/**
 * A run-once Job of the operator (recovery, recovery plan, retention) as the caches hold it: absent, running, or
 * what its Pod's termination message says, with a container that cannot start, or a Pod that waits for its
 * object-store Secret (`objectStoreSecretWait.ts`), reported as `Unstartable`.
 *
 * @since 0.2.0
 */
import { Effect, Option } from "effect"
import type { Pod } from "../../kube/resources.ts"
import { unstartableReasons } from "../backup/decide.ts"
import { Caches, indexes, ownerIndexValue } from "../Caches.ts"
import { finishedCondition } from "../jobConditions.ts"
import { secretWaitOfJob } from "../objectStoreSecretWait.ts"
import type { ClusterRef } from "./render.ts"

type Waiting = { readonly waiting?: { readonly reason?: string; readonly message?: string } }

/** The kubelet's reason when the Job's container cannot start without a change (image, configuration). */
const unstartable = (pods: ReadonlyArray<Pod>): { reason: string; message: string } | undefined => {
  for (const pod of pods) {
    for (const container of pod.status?.containerStatuses ?? []) {
      const waiting = (container.state as Waiting | undefined)?.waiting
      if (waiting?.reason !== undefined && unstartableReasons.has(waiting.reason)) {
        return {
          reason: waiting.reason,
          message: waiting.message ?? `the Job's container is waiting: ${waiting.reason}`
        }
      }
    }
  }
  return undefined
}

const terminationMessage = (pod: Pod | undefined): string | undefined =>
  pod?.status?.containerStatuses?.find((c) => c.state?.terminated !== undefined)?.state?.terminated?.message

/**
 * One of a Cluster's run-once Jobs (recovery, recovery plan, retention): absent, running, or what its Pod's
 * termination message says (`decode`), with a container that cannot start reported as `Unstartable`.
 */
export const observeJob = Effect.fn("ClusterReconciler.observeJob")(function* <O extends { readonly _tag: string }>(
  cluster: ClusterRef,
  jobName: string,
  decode: (message: string | undefined, fallback: string) => Effect.Effect<O>
) {
  const caches = yield* Caches
  const job = Option.getOrUndefined(yield* caches.jobs.get(`${cluster.namespace}/${jobName}`))
  if (job === undefined) return "absent" as const
  const finished = finishedCondition(job)
  // the index is by owner name: a Pod of an earlier Job of that name is not this one's
  const pods = (yield* caches.pods.byIndex(
    indexes.podsByOwner,
    ownerIndexValue("Job", cluster.namespace, jobName)
  )).filter((pod) => (pod.metadata?.ownerReferences ?? []).some((owner) => owner.uid === job.metadata?.uid))
  if (finished === undefined) {
    const stuck = unstartable(pods) ?? (yield* secretWaitOfJob(job, pods))
    return stuck === undefined ? ("running" as const) : { outcome: { _tag: "Unstartable", ...stuck } as const }
  }
  const message = pods.map(terminationMessage).find((m) => m !== undefined)
  // the Job may be seen finished before its Pod's final status reaches the cache
  if (message === undefined && pods.some((pod) => pod.status?.phase === "Running" || pod.status?.phase === "Pending")) {
    return "running" as const
  }
  const outcome = yield* decode(
    message,
    `Job ${jobName} ${finished.type}: ${finished.reason ?? ""} ${finished.message ?? ""}`.trim()
  )
  // a Job that reports success must carry a result; one without is treated as the failure it is
  if (finished.type === "Failed" && outcome._tag !== "Failed") {
    const failure = { reason: "InternalError", message: `Job ${jobName} failed after reporting a result` } as const
    return { outcome: { _tag: "Failed", failure } as const }
  }
  return { outcome }
})
