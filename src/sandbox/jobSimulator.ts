/**
 * The Job controller of kube-controller-manager, driven step by step by tests (`FakeCluster.jobs`):
 * `start` records `startTime`/`active` and creates the Job's Pod (labels from the template, a controller
 * owner reference); `finish` terminates the Pod (exit code, reason, termination message in
 * `state.terminated.message`, where `terminationMessagePolicy: File` puts it) and writes the Job's
 * terminal status. As in Kubernetes ≥ 1.31 the interim condition (`SuccessCriteriaMet` or
 * `FailureTarget`) is written first and the terminal one (`Complete` or `Failed`) in a second write, so
 * a watcher can observe both.
 *
 * @since 0.1.0
 */

import { metaV1Time } from "../api/time.ts"
import { notFound } from "./ApiStatus.ts"
import type { ServedKind } from "./resources.ts"
import type { Store } from "./Store.ts"
import { cloneJson, isRecord, type JsonObject, type StoredObject } from "./StoredObject.ts"

/** How the simulated Job ends. */
export type JobOutcome =
  | { readonly result: "succeeded"; readonly terminationMessage?: string | undefined }
  | {
      readonly result: "failed"
      readonly reason?: "BackoffLimitExceeded" | "DeadlineExceeded" | undefined
      readonly exitCode?: number | undefined
      readonly terminationMessage?: string | undefined
    }

const containerNames = (pod: JsonObject): Array<string> => {
  const spec = isRecord(pod.spec) ? pod.spec : {}
  const containers = Array.isArray(spec.containers) ? spec.containers : []
  return containers.flatMap((container) =>
    isRecord(container) && typeof container.name === "string" ? [container.name] : []
  )
}

const statusOf = (object: JsonObject): JsonObject => (isRecord(object.status) ? object.status : {})

const jobOf = (
  store: Store,
  namespace: string,
  name: string
): { readonly type: ServedKind; readonly job: StoredObject } => {
  const type = store.builtin("batch", "jobs")
  const job = store.current(type, namespace, name)
  if (job === undefined) throw notFound(type, name)
  return { type, job }
}

/** Starts a Job: `startTime`, `active: 1`, and one Running Pod owned by it. */
export const startJob = (store: Store, namespace: string, name: string, now: number): StoredObject =>
  store.asSystem(() => {
    const { type, job } = jobOf(store, namespace, name)
    const spec = isRecord(job.spec) ? job.spec : {}
    const template = isRecord(spec.template) ? spec.template : {}
    const templateMeta = isRecord(template.metadata) ? template.metadata : {}
    const pods = store.builtin("", "pods")
    const pod = store.create(
      { group: "", version: "v1", plural: "pods", namespace },
      {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name: `${name}-${store.randomSuffix()}`,
          namespace,
          labels: { ...(isRecord(templateMeta.labels) ? templateMeta.labels : {}) },
          ownerReferences: [
            {
              apiVersion: "batch/v1",
              kind: "Job",
              name,
              uid: job.metadata.uid ?? "",
              controller: true,
              blockOwnerDeletion: true
            }
          ]
        },
        spec: cloneJson(isRecord(template.spec) ? template.spec : {})
      },
      now
    )
    store.updateWith(pods, namespace, pod.metadata.name ?? "", "status", (current) => ({
      ...current,
      status: {
        phase: "Running",
        startTime: metaV1Time(now),
        containerStatuses: containerNames(current).map((container) => ({
          name: container,
          ready: true,
          restartCount: 0,
          started: true,
          state: { running: { startedAt: metaV1Time(now) } }
        }))
      }
    }))
    return store.updateWith(type, namespace, name, "status", (current) => ({
      ...current,
      status: { ...statusOf(current), startTime: metaV1Time(now), active: 1, ready: 1 }
    }))
  })

/** Ends a started Job: its running Pods terminate, then the interim and terminal conditions are written. */
export const finishJob = (
  store: Store,
  namespace: string,
  name: string,
  outcome: JobOutcome,
  now: number
): StoredObject =>
  store.asSystem(() => {
    const { type, job } = jobOf(store, namespace, name)
    const pods = store.builtin("", "pods")
    const succeeded = outcome.result === "succeeded"
    const exitCode = outcome.result === "failed" ? (outcome.exitCode ?? 1) : 0
    for (const { type: podType, object: pod } of store.entries()) {
      if (podType !== pods || pod.metadata.namespace !== namespace) continue
      if (!(pod.metadata.ownerReferences?.some((ref) => ref.uid === job.metadata.uid) ?? false)) continue
      const phase = isRecord(pod.status) ? pod.status.phase : undefined
      if (phase === "Succeeded" || phase === "Failed") continue
      store.updateWith(pods, namespace, pod.metadata.name ?? "", "status", (current) => ({
        ...current,
        status: {
          ...statusOf(current),
          phase: succeeded ? "Succeeded" : "Failed",
          containerStatuses: containerNames(current).map((container) => ({
            name: container,
            ready: false,
            restartCount: 0,
            started: false,
            state: {
              terminated: {
                exitCode,
                reason: succeeded ? "Completed" : "Error",
                startedAt: statusOf(current).startTime ?? metaV1Time(now),
                finishedAt: metaV1Time(now),
                ...(outcome.terminationMessage === undefined ? {} : { message: outcome.terminationMessage })
              }
            }
          }))
        }
      }))
    }
    const reason = outcome.result === "succeeded" ? "CompletionsReached" : (outcome.reason ?? "BackoffLimitExceeded")
    const message = succeeded
      ? "Reached expected number of succeeded pods"
      : reason === "DeadlineExceeded"
        ? "Job was active longer than specified deadline"
        : "Job has reached the specified backoff limit"
    const condition = (conditionType: string) => ({
      type: conditionType,
      status: "True",
      lastProbeTime: metaV1Time(now),
      lastTransitionTime: metaV1Time(now),
      reason,
      message
    })
    const counts = succeeded
      ? { active: 0, ready: 0, succeeded: 1, terminating: 0 }
      : { active: 0, ready: 0, failed: 1, terminating: 0 }
    const addCondition = (conditionType: string, extra: JsonObject) =>
      store.updateWith(type, namespace, name, "status", (current) => {
        const status = statusOf(current)
        const conditions = Array.isArray(status.conditions) ? status.conditions : []
        return { ...current, status: { ...status, ...extra, conditions: [...conditions, condition(conditionType)] } }
      })
    addCondition(succeeded ? "SuccessCriteriaMet" : "FailureTarget", counts)
    return addCondition(succeeded ? "Complete" : "Failed", succeeded ? { completionTime: metaV1Time(now) } : {})
  })
