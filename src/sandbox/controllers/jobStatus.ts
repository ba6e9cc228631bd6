/**
 * The Job controller's decisions, pure: given a Job, its Pods and the time, what the controller does next
 * (kube-controller-manager's `syncJob` for `completions`/`parallelism` 1, NonIndexed, no Pod failure policy,
 * Pod replacement policy `TerminatingOrFailed`, Kubernetes ≥ 1.31).
 *
 * - Pods carry the `batch.kubernetes.io/job-tracking` finalizer until counted: a finished Pod (or one being
 *   deleted, which counts as failed) first goes into `status.uncountedTerminatedPods`, then its finalizer is
 *   removed, then it moves into `succeeded`/`failed`. A Pod is therefore counted exactly once even when the
 *   controller is interrupted between writes.
 * - Success (`succeeded ≥ completions`) writes `SuccessCriteriaMet`; too many failures (`failed >
 *   backoffLimit`, or for `restartPolicy: OnFailure` the containers' restarts reaching it) or a passed
 *   `activeDeadlineSeconds` write `FailureTarget`. Active Pods are then deleted, and the terminal condition
 *   (`Complete` with `completionTime`, or `Failed`) is written only once no Pod is terminating.
 * - A replacement Pod waits for the failure backoff (base × 2^(failures−1), capped), as the controller's
 *   Pod backoff does.
 *
 * @since 0.1.0
 */
import type { Condition, Job, Pod } from "./kinds.ts"

/** The finalizer that keeps a Job's Pod around until the Job controller has counted it. */
export const trackingFinalizer = "batch.kubernetes.io/job-tracking"

/** Why a Job fails. */
export type FailureReason = "BackoffLimitExceeded" | "DeadlineExceeded"

/** The interim condition, once reached: the Job's fate is decided, its Pods are being wound down. */
export type Finish =
  | { readonly type: "SuccessCriteriaMet"; readonly reason: "CompletionsReached"; readonly message: string }
  | { readonly type: "FailureTarget"; readonly reason: FailureReason; readonly message: string }

const messages: Record<Finish["reason"], string> = {
  CompletionsReached: "Reached expected number of succeeded pods",
  BackoffLimitExceeded: "Job has reached the specified backoff limit",
  DeadlineExceeded: "Job was active longer than specified deadline"
}

/** Timing of the Pod re-creation backoff. */
export interface JobTiming {
  /** Delay before the first replacement of a failed Pod (the controller's 10 s by default). */
  readonly podBackoffMillis: number
  /** Upper bound of that delay (6 minutes in Kubernetes). */
  readonly podBackoffCapMillis: number
}

/** What one reconcile of a running Job does. */
export interface JobPlan {
  /** Pods whose finalizer is removed after they are recorded as uncounted. */
  readonly release: ReadonlyArray<Pod>
  readonly uncountedSucceeded: ReadonlyArray<string>
  readonly uncountedFailed: ReadonlyArray<string>
  readonly succeeded: number
  readonly failed: number
  /** The interim condition: already in status, or reached now. */
  readonly finish: Finish | undefined
  /** True when `finish` is new in this reconcile. */
  readonly newFinish: boolean
  /** Active Pods to delete (the Job's fate is decided). */
  readonly remove: ReadonlyArray<Pod>
  /** Whether to create one Pod now. */
  readonly create: boolean
  readonly active: number
  readonly ready: number
  readonly terminating: number
  /** When to look again if nothing else happens (deadline, backoff), in ms from now. */
  readonly requeueAfterMillis: number | undefined
}

const isTrue = (conditions: ReadonlyArray<Condition> | undefined, type: string): Condition | undefined =>
  conditions?.find((condition) => condition.type === type && condition.status === "True")

/** The terminal condition (`Complete` or `Failed`), if the Job has one. */
export const terminalCondition = (job: Job): Condition | undefined =>
  isTrue(job.status?.conditions, "Complete") ?? isTrue(job.status?.conditions, "Failed")

const interimCondition = (job: Job): Finish | undefined => {
  const success = isTrue(job.status?.conditions, "SuccessCriteriaMet")
  if (success !== undefined)
    return { type: "SuccessCriteriaMet", reason: "CompletionsReached", message: messages.CompletionsReached }
  const failure = isTrue(job.status?.conditions, "FailureTarget")
  if (failure === undefined) return undefined
  const reason: FailureReason = failure.reason === "DeadlineExceeded" ? "DeadlineExceeded" : "BackoffLimitExceeded"
  return { type: "FailureTarget", reason, message: failure.message ?? messages[reason] }
}

const failure = (reason: FailureReason): Finish => ({ type: "FailureTarget", reason, message: messages[reason] })

const hasFinalizer = (pod: Pod): boolean => pod.metadata.finalizers?.includes(trackingFinalizer) ?? false

const deleting = (pod: Pod): boolean => typeof pod.metadata.deletionTimestamp === "string"

const uidOf = (pod: Pod): string => pod.metadata.uid ?? ""

const restarts = (pod: Pod): number =>
  [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])].reduce(
    (sum, status) => sum + (status.restartCount ?? 0),
    0
  )

const podReady = (pod: Pod): boolean =>
  pod.status?.conditions?.some((condition) => condition.type === "Ready" && condition.status === "True") ?? false

/**
 * Decides one reconcile of a Job that has no terminal condition yet. `startedAt` is `status.startTime`
 * (ms) or now for a Job seen for the first time; `lastFailureAt` is when the controller last counted a failed
 * Pod of this Job (undefined when it has not since it started).
 */
export const planJob = (
  job: Job,
  pods: ReadonlyArray<Pod>,
  now: number,
  startedAt: number,
  lastFailureAt: number | undefined,
  timing: JobTiming
): JobPlan => {
  const spec = job.spec
  const status = job.status
  const uncounted = status?.uncountedTerminatedPods
  const uncountedSucceeded = new Set(uncounted?.succeeded ?? [])
  const uncountedFailed = new Set(uncounted?.failed ?? [])
  const previousFinish = interimCondition(job)
  const release: Array<Pod> = []
  for (const pod of pods) {
    if (!hasFinalizer(pod)) continue
    const uid = uidOf(pod)
    if (uncountedSucceeded.has(uid) || uncountedFailed.has(uid)) {
      release.push(pod)
      continue
    }
    const phase = pod.status?.phase
    if (phase === "Succeeded") {
      uncountedSucceeded.add(uid)
      release.push(pod)
    } else if (phase === "Failed" || deleting(pod)) {
      // a deleted Pod that never reached a phase counts as failed, so orphaned Pods are not lost
      uncountedFailed.add(uid)
      release.push(pod)
    }
  }
  const succeeded = (status?.succeeded ?? 0) + uncountedSucceeded.size
  const failed = (status?.failed ?? 0) + uncountedFailed.size
  const active = pods.filter(
    (pod) => !deleting(pod) && pod.status?.phase !== "Succeeded" && pod.status?.phase !== "Failed"
  )
  const terminating = pods.filter(
    (pod) => deleting(pod) && pod.status?.phase !== "Succeeded" && pod.status?.phase !== "Failed"
  ).length
  const completions = spec?.completions ?? 1
  const backoffLimit = spec?.backoffLimit ?? 6
  const onFailure = spec?.template.spec?.restartPolicy === "OnFailure"
  const restartCount = onFailure ? active.reduce((sum, pod) => sum + restarts(pod), 0) : 0
  const pastRestartLimit = onFailure && (backoffLimit === 0 ? restartCount > 0 : restartCount >= backoffLimit)
  const deadline = spec?.activeDeadlineSeconds
  const deadlineAt = deadline === undefined ? undefined : startedAt + deadline * 1000
  let finish = previousFinish
  if (finish === undefined) {
    if (succeeded >= completions) {
      finish = { type: "SuccessCriteriaMet", reason: "CompletionsReached", message: messages.CompletionsReached }
    } else if (failed > backoffLimit || pastRestartLimit) finish = failure("BackoffLimitExceeded")
    else if (deadlineAt !== undefined && now >= deadlineAt) finish = failure("DeadlineExceeded")
  }
  const delay =
    lastFailureAt === undefined || failed === 0
      ? 0
      : Math.min(timing.podBackoffCapMillis, timing.podBackoffMillis * 2 ** Math.max(0, failed - 1))
  const backoffUntil = lastFailureAt === undefined ? 0 : lastFailureAt + delay
  const wantsPod = finish === undefined && spec?.suspend !== true && active.length === 0 && (spec?.parallelism ?? 1) > 0
  const create = wantsPod && now >= backoffUntil
  const waits = [
    wantsPod && !create ? backoffUntil - now : undefined,
    finish === undefined && deadlineAt !== undefined ? deadlineAt - now : undefined
  ].filter((wait): wait is number => wait !== undefined && wait > 0)
  return {
    release,
    uncountedSucceeded: [...uncountedSucceeded],
    uncountedFailed: [...uncountedFailed],
    succeeded,
    failed,
    finish,
    newFinish: finish !== undefined && previousFinish === undefined,
    remove: finish === undefined ? [] : active,
    create,
    active: finish === undefined ? active.length + (create ? 1 : 0) : 0,
    ready: finish === undefined ? active.filter(podReady).length : 0,
    terminating: terminating + (finish === undefined ? 0 : active.length),
    requeueAfterMillis: waits.length === 0 ? undefined : Math.min(...waits)
  }
}

/** When a finished Job is due for deletion by `ttlSecondsAfterFinished` (ms), if it has a TTL. */
export const expiresAt = (job: Job): number | undefined => {
  const ttl = job.spec?.ttlSecondsAfterFinished
  const finished = terminalCondition(job)
  if (ttl === undefined || finished === undefined) return undefined
  const at = typeof finished.lastTransitionTime === "string" ? Date.parse(finished.lastTransitionTime) : Number.NaN
  const from = Number.isNaN(at) ? Date.parse(job.status?.completionTime ?? "") : at
  return Number.isNaN(from) ? undefined : from + ttl * 1000
}
