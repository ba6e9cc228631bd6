/**
 * The Job controller (and the TTL-after-finished controller) of kube-controller-manager, running against the
 * API server like the real ones: informers on Jobs and Pods feed a work queue of Job keys; each reconcile reads
 * the Job and its Pods live, asks `planJob` what to do, and acts — create the Pod from `spec.template`
 * (`generateName: <job>-`, the template's labels including `controller-uid`/`job-name` and their
 * `batch.kubernetes.io/` forms, a controller owner reference, the job-tracking finalizer), count finished Pods
 * through `uncountedTerminatedPods`, delete active Pods once the Job's fate is decided, write the interim and then
 * the terminal condition, and delete a finished Job with `ttlSecondsAfterFinished` (foreground, so its Pods go
 * first). Events as the real controller records them: `SuccessfulCreate`, `SuccessfulDelete`, `Completed`,
 * and a Warning with the failure reason.
 *
 * @since 0.1.0
 */
import { Duration, Effect } from "effect"
import { metaV1Time, nowMillis } from "../../api/time.ts"
import { makeEventRecorder } from "../../kube/EventRecorder.ts"
import type { KubeError } from "../../kube/errors.ts"
import { KubeApi } from "../../kube/KubeApi.ts"
import { type ObjectRef, parseKey } from "../../kube/resources.ts"
import type { Reconciled } from "../../kube/WorkQueue.ts"
import {
  controllerOf,
  controllerReference,
  createPodOrReport,
  ignoreNotFound,
  isControlledBy,
  isDeleting,
  type RunningController,
  refusedCreateRetry,
  startOwnerInformers,
  startQueue
} from "./informer.ts"
import { expiresAt, type JobTiming, planJob, terminalCondition, trackingFinalizer } from "./jobStatus.ts"
import { type Condition, type Job, Kinds, type Pod } from "./kinds.ts"

const withoutFinalizer = (pod: Pod) => (pod.metadata.finalizers ?? []).filter((item) => item !== trackingFinalizer)

/** Starts the Job controller in the current scope. */
export const startJobController = (timing: JobTiming) =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const recorder = yield* makeEventRecorder({ component: "job-controller" })
    // job uid → when the controller last counted one of its Pods as failed (the real controller's backoff record)
    const lastFailure = new Map<string, number>()

    const release = (pod: Pod) =>
      ignoreNotFound(
        api.patch(
          Kinds.pods,
          { namespace: pod.metadata.namespace, name: pod.metadata.name ?? "" },
          { metadata: { finalizers: withoutFinalizer(pod), resourceVersion: pod.metadata.resourceVersion } }
        )
      )

    const podsOf = (ref: ObjectRef) =>
      Effect.map(api.list(Kinds.pods, { namespace: ref.namespace }), (list) => list.items)

    /** Pods whose Job is gone (or going) keep no tracking finalizer: nothing will count them any more. */
    const releaseAll = (pods: ReadonlyArray<Pod>) =>
      Effect.forEach(
        pods.filter((pod) => pod.metadata.finalizers?.includes(trackingFinalizer) ?? false),
        release,
        { discard: true }
      )

    const condition = (type: string, reason: string, message: string, now: number): Condition => ({
      type,
      status: "True",
      reason,
      message,
      lastProbeTime: metaV1Time(now),
      lastTransitionTime: metaV1Time(now)
    })

    const finished = (job: Job, now: number) =>
      Effect.gen(function* () {
        const expiry = expiresAt(job)
        if (expiry === undefined) return
        if (now < expiry) return { requeueAfter: Duration.millis(expiry - now) }
        yield* ignoreNotFound(
          api.delete(
            Kinds.jobs,
            { namespace: job.metadata.namespace, name: job.metadata.name ?? "" },
            { propagationPolicy: "Foreground", preconditions: { uid: job.metadata.uid ?? "" } }
          )
        )
      })

    const reconcile = (key: string): Effect.Effect<Reconciled, KubeError, KubeApi> =>
      Effect.gen(function* () {
        const ref = parseKey(key)
        const job = yield* ignoreNotFound(api.get(Kinds.jobs, ref))
        const all = yield* podsOf(ref)
        if (job === undefined) {
          yield* releaseAll(
            all.filter((pod) => {
              const owner = controllerOf(pod)
              return owner?.kind === "Job" && owner.name === ref.name
            })
          )
          return
        }
        const pods = all.filter((pod) => isControlledBy(pod, job))
        const uid = job.metadata.uid ?? ""
        if (isDeleting(job)) {
          lastFailure.delete(uid)
          return yield* releaseAll(pods)
        }
        const now = yield* nowMillis
        if (terminalCondition(job) !== undefined) {
          lastFailure.delete(uid)
          yield* releaseAll(pods)
          return yield* finished(job, now)
        }
        const startTime = job.status?.startTime ?? metaV1Time(now)
        const decide = () => planJob(job, pods, now, Date.parse(startTime), lastFailure.get(uid), timing)
        const known = new Set(job.status?.uncountedTerminatedPods?.failed ?? [])
        let plan = decide()
        if (plan.uncountedFailed.some((failed) => !known.has(failed))) {
          // a failure seen now starts the backoff now: decide again with it
          lastFailure.set(uid, now)
          plan = decide()
        }

        if (plan.create) {
          const template = job.spec?.template
          const pod = yield* createPodOrReport(
            {
              metadata: {
                generateName: `${ref.name}-`,
                namespace: ref.namespace ?? "",
                labels: { ...template?.metadata?.labels },
                ...(template?.metadata?.annotations === undefined
                  ? {}
                  : { annotations: template.metadata.annotations }),
                finalizers: [trackingFinalizer],
                ownerReferences: [controllerReference("batch/v1", "Job", job)]
              },
              spec: template?.spec ?? { containers: [] }
            },
            (message) => recorder.warning(Kinds.jobs, job, "FailedCreate", message)
          )
          if (pod === undefined) return { requeueAfter: refusedCreateRetry }
          yield* recorder.normal(Kinds.jobs, job, "SuccessfulCreate", `Created pod: ${pod.metadata.name ?? ""}`)
        }
        for (const pod of plan.remove) {
          yield* ignoreNotFound(api.delete(Kinds.pods, { namespace: ref.namespace, name: pod.metadata.name ?? "" }, {}))
          yield* recorder.normal(Kinds.jobs, job, "SuccessfulDelete", `Deleted pod: ${pod.metadata.name ?? ""}`)
        }

        const conditions = [...(job.status?.conditions ?? [])]
        if (plan.finish !== undefined && plan.newFinish) {
          conditions.push(condition(plan.finish.type, plan.finish.reason, plan.finish.message, now))
        }
        const counters = {
          startTime,
          active: plan.active,
          ready: plan.ready,
          terminating: plan.terminating
        }
        let resourceVersion = job.metadata.resourceVersion
        const writeStatus = (status: Record<string, unknown>) =>
          Effect.map(api.patchStatus(Kinds.jobs, ref, { metadata: { resourceVersion }, status }), (written) => {
            resourceVersion = written.metadata.resourceVersion
            return written
          })
        if (plan.release.length > 0) {
          yield* writeStatus({
            ...counters,
            conditions,
            uncountedTerminatedPods: { succeeded: plan.uncountedSucceeded, failed: plan.uncountedFailed }
          })
          yield* Effect.forEach(plan.release, release, { discard: true })
        }
        const terminal = plan.finish !== undefined && plan.terminating === 0
        if (terminal && plan.finish !== undefined) {
          const type = plan.finish.type === "SuccessCriteriaMet" ? "Complete" : "Failed"
          conditions.push(condition(type, plan.finish.reason, plan.finish.message, now))
        }
        const written = yield* writeStatus({
          ...counters,
          succeeded: plan.succeeded,
          failed: plan.failed,
          conditions,
          // a merge patch merges `{}` into what is there: clear the lists explicitly
          uncountedTerminatedPods: { succeeded: null, failed: null },
          ...(terminal && plan.finish?.type === "SuccessCriteriaMet" ? { completionTime: metaV1Time(now) } : {})
        })
        if (terminal && plan.finish !== undefined) {
          if (plan.finish.type === "SuccessCriteriaMet") {
            yield* recorder.normal(Kinds.jobs, written, "Completed", "Job completed")
          } else yield* recorder.warning(Kinds.jobs, written, plan.finish.reason, plan.finish.message)
          return yield* finished(written, now)
        }
        return plan.requeueAfterMillis === undefined
          ? undefined
          : { requeueAfter: Duration.millis(plan.requeueAfterMillis) }
      }).pipe(Effect.withSpan("JobController.reconcile", { attributes: { key } }))

    const queue = yield* startQueue("job-controller", reconcile)
    const informers = yield* startOwnerInformers(queue, Kinds.jobs, Kinds.pods)
    return { synced: informers.synced } satisfies RunningController
  })
