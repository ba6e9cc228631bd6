/**
 * The Backup lifecycle as a pure function: `decide(observation, now)` gives the status to write, the actions to
 * take (after the status write succeeded), the Events to record and when to look again. Every failure surface
 * ends here as a phase, a `Completed` condition with the surface's stable reason and a Warning Event with the
 * same reason (docs/backup.md lists them).
 *
 * The lifecycle (`pending` → `running` → `completed` | `failed`):
 *
 * 1. No backup id yet: resolve the Cluster (`ClusterNotFound`, pending), the method (`UnsupportedBackupMethod`),
 *    the object store (`ObjectStoreNotConfigured`), the object keys (`InvalidName`) and the source instance
 *    (`NoHealthyInstance`, pending, retried); then assign the id from `now` and persist it (with the source and
 *    the destination) in status, and only then create the Job. A restart at any point finds the id in status.
 * 2. Id assigned, no Job: create it (again; `AlreadyExists` is success), unless the Job had been seen running —
 *    then it was deleted under the running Backup: `failed`, `JobDeleted`.
 * 3. The Job: active → `running`; `Complete` → `completed` with every field of the worker's termination
 *    message; `Failed` → `failed` with the worker's reason, else the Job condition's (`BackoffLimitExceeded`,
 *    `DeadlineExceeded`); a worker Pod that cannot start (`ErrImagePull`, …, or `ObjectStoreSecretMissing` while
 *    the kubelet cannot mount the object store's Secret or key) → `failed` and the Job is deleted.
 * 4. `completed` and `failed` are final: nothing is rerun or recreated.
 *
 * The janitor runs beside the lifecycle on the backup Job, whoever owns it: a Job that failed, or was deleted
 * before completing, keeps the `abort-uploads` finalizer until its Pods are gone and a cleanup Job aborting the
 * multipart uploads under the backup's prefix exists; the cleanup's outcome becomes the `UploadsCleanedUp`
 * condition and an Event.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Option, Result, Schema } from "effect"
import type { Backup, BackupStatus } from "../../api/backup.ts"
import { backupIdFromDate } from "../../api/backupId.ts"
import { CleanupResult } from "../../api/cleanupJob.ts"
import type { Condition } from "../../api/common.ts"
import {
  ClusterNotFound,
  type Failure,
  failureStatus,
  InvalidName,
  ObjectStoreNotConfigured,
  UnsupportedBackupMethod
} from "../../api/failures.ts"
import { WorkerResult } from "../../api/jobs.ts"
import { annotations, backupJobName, finalizers } from "../../api/names.ts"
import type { ObjectStore } from "../../api/objectStore.ts"
import type { Job, Pod } from "../../kube/resources.ts"
import { backupKeys } from "../../objectstore/layout.ts"
import { findCondition, setCondition } from "../conditions.ts"
import { catalogue, event, type PendingEvent } from "../Events.ts"
import { parseTime, rfc3339 } from "../time.ts"
import type { BackupObservation } from "./observe.ts"
import {
  backupContainerName,
  cleanupContainerName,
  type ProgressAccess,
  renderBackupJob,
  renderCleanupJob,
  renderProgressAccess
} from "./render.ts"
import { selectSource } from "./selectSource.ts"

/** The condition types on a Backup. */
export const conditionTypes = { completed: "Completed", uploadsCleanedUp: "UploadsCleanedUp" } as const

/** Reasons the controller itself gives (besides the taxonomy's and the worker's). */
export const reasons = {
  pending: "Pending",
  running: "Running",
  completed: "Completed",
  jobDeleted: "JobDeleted",
  invalidTerminationMessage: "InvalidTerminationMessage",
  cleanupRunning: "CleanupRunning",
  cleanedUp: "CleanedUp",
  cleanupFailed: "CleanupFailed"
} as const

/** Pod waiting reasons that mean the worker will not start without a change (image or configuration). */
export const unstartableReasons: ReadonlySet<string> = new Set([
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "ErrImageNeverPull",
  "CreateContainerConfigError",
  "CreateContainerError"
])

/** How long to wait before looking again at a Backup waiting for a healthy instance or its Cluster. */
export const pendingRetry = Duration.seconds(30)
/** How long a completed Job's worker Pod may stay out of the cache before its result counts as missing. */
export const terminationMessageGrace = 60_000

/**
 * How often a Backup whose worker Pod has not started is looked at again: a missing object-store Secret shows
 * only in the kubelet's Events, which wake no reconcile.
 */
export const notStartedRetry = Duration.seconds(10)

/** How long to wait for the Pods of a deleted Job to go. */
export const podsGoneRetry = Duration.seconds(5)

/** Something to do after the status write. */
export type BackupAction =
  | { readonly _tag: "CreateProgressAccess"; readonly access: ProgressAccess }
  | { readonly _tag: "CreateJob"; readonly job: Job }
  | { readonly _tag: "DeleteJob"; readonly name: string }
  | { readonly _tag: "DeletePods"; readonly names: ReadonlyArray<string> }
  | { readonly _tag: "RemoveFinalizer"; readonly job: Job }

/** What one reconcile does. */
export interface BackupDecision {
  /** The Backup's next status (`undefined`: no Backup to write to). */
  readonly status: BackupStatus | undefined
  readonly actions: ReadonlyArray<BackupAction>
  /** Events about the Backup (or, when it is gone, nothing is recorded). */
  readonly events: ReadonlyArray<PendingEvent>
  readonly requeueAfter?: Duration.Duration | undefined
}

const keysOf = (location: Parameters<typeof backupKeys>[0]) => Effect.runSync(Effect.result(backupKeys(location)))

const isTrue = (job: Job | undefined, type: string) =>
  job?.status?.conditions?.some((condition) => condition.type === type && condition.status === "True") ?? false

const jobCondition = (job: Job, type: string) =>
  job.status?.conditions?.find((condition) => condition.type === type && condition.status === "True")

interface Terminated {
  readonly exitCode: number
  readonly reason?: string | undefined
  readonly message?: string | undefined
}

type ContainerState = {
  readonly terminated?: Terminated | undefined
  readonly waiting?: { readonly reason?: string | undefined; readonly message?: string | undefined } | undefined
}

const containerState = (pod: Pod, container: string): ContainerState | undefined =>
  pod.status?.containerStatuses?.find((status) => status.name === container)?.state as ContainerState | undefined

const newestFirst = (pods: ReadonlyArray<Pod>) =>
  [...pods].sort((a, b) => (b.metadata.creationTimestamp ?? "").localeCompare(a.metadata.creationTimestamp ?? ""))

const podPhase = (pod: Pod) => pod.status?.phase ?? "Pending"
const isLive = (pod: Pod) => podPhase(pod) !== "Succeeded" && podPhase(pod) !== "Failed"

const FailureText = Schema.Struct({ reason: Schema.String, message: Schema.String })
const decodeResult = Schema.decodeUnknownOption(Schema.fromJsonString(WorkerResult))
const decodeFailure = Schema.decodeUnknownOption(Schema.fromJsonString(FailureText))
const decodeCleanupResult = Schema.decodeUnknownOption(Schema.fromJsonString(CleanupResult))

const binlog = (position: { readonly file: string; readonly position: number } | undefined) =>
  position === undefined ? undefined : `${position.file}:${position.position}`

const defined = <T extends Record<string, unknown>>(fields: T): { [K in keyof T]?: Exclude<T[K], undefined> } =>
  Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>
  }

/** The status without what only a running backup shows. */
const withoutRunFields = (status: BackupStatus): BackupStatus =>
  Object.fromEntries(Object.entries(status).filter(([key]) => key !== "progress" && key !== "error")) as BackupStatus

/** Where a failure of a Backup's Job came from, in the words status and Events use. */
export interface JobFailure {
  readonly reason: string
  readonly message: string
}

/** The failure of a failed Job: the worker's own report, else the Job's condition plus the Pod's exit. */
export const jobFailure = (job: Job, pods: ReadonlyArray<Pod>): JobFailure => {
  const states = newestFirst(pods).map((pod) => containerState(pod, backupContainerName))
  for (const state of states) {
    const reported = Option.getOrUndefined(decodeFailure(state?.terminated?.message ?? ""))
    if (reported !== undefined) return reported
  }
  const condition = jobCondition(job, "Failed")
  const exit = states.find((state) => state?.terminated !== undefined)?.terminated
  const exitText =
    exit === undefined ? "" : `; the last worker exited with code ${exit.exitCode} (${exit.reason ?? "Error"})`
  return {
    reason: condition?.reason ?? "JobFailed",
    message: `${condition?.message ?? "the backup Job failed"}${exitText}`
  }
}

/** The waiting reason of a worker Pod that cannot start, if any. */
export const unstartable = (pods: ReadonlyArray<Pod>): JobFailure | undefined => {
  for (const pod of newestFirst(pods)) {
    const waiting = containerState(pod, backupContainerName)?.waiting
    if (waiting?.reason !== undefined && unstartableReasons.has(waiting.reason)) {
      return {
        reason: waiting.reason,
        message: waiting.message ?? `the worker container is waiting: ${waiting.reason}`
      }
    }
  }
  return undefined
}

const completedCondition = (
  status: BackupStatus,
  conditionStatus: Condition["status"],
  reason: string,
  message: string,
  now: string,
  generation: number | undefined
): BackupStatus => ({
  ...status,
  conditions: setCondition(
    status.conditions,
    { type: conditionTypes.completed, status: conditionStatus, reason, message },
    now,
    generation
  )
})

/** Events for a status change: only when the `Completed` condition's reason changed. */
const changed = (before: BackupStatus, after: BackupStatus) =>
  findCondition(before.conditions, conditionTypes.completed)?.reason !==
  findCondition(after.conditions, conditionTypes.completed)?.reason

const ownedBy = (job: Job | undefined, backup: Backup): Job | undefined =>
  job !== undefined && job.metadata.ownerReferences?.some((ref) => ref.uid === backup.metadata.uid) === true
    ? job
    : undefined

interface Step {
  readonly status: BackupStatus
  readonly actions: ReadonlyArray<BackupAction>
  readonly events: ReadonlyArray<PendingEvent>
  readonly requeueAfter?: Duration.Duration | undefined
}

/** The lifecycle part (see the module comment), for a Backup that exists and is not being deleted. */
const lifecycle = (observation: BackupObservation, backup: Backup, nowMillis: number): Step => {
  const now = rfc3339(nowMillis)
  const generation = backup.metadata.generation
  const status: BackupStatus = backup.status ?? {}
  const phase = status.phase
  const same: Step = { status, actions: [], events: [] }
  if (phase === "completed" || phase === "failed") return same

  const withFailure = (failure: Failure, requeueAfter?: Duration.Duration): Step => {
    const reported = failureStatus(failure)
    const next = completedCondition(
      {
        ...status,
        phase: reported.phase,
        // `<reason>: <message>`, as for the worker's and the Job's failures (docs/backup.md, "Status fields")
        ...(reported.phase === "failed" ? { error: `${reported.reason}: ${reported.message}` } : {})
      },
      "False",
      reported.reason,
      reported.message,
      now,
      generation
    )
    return {
      status: next,
      actions: [],
      events: changed(status, next) ? [{ type: "Warning", reason: reported.reason, message: reported.message }] : [],
      requeueAfter: reported.phase === "pending" ? (requeueAfter ?? pendingRetry) : undefined
    }
  }
  const failJob = (failure: JobFailure, actions: ReadonlyArray<BackupAction> = []): Step => {
    const next = completedCondition(
      { ...status, phase: "failed", error: `${failure.reason}: ${failure.message}`, stoppedAt: now },
      "False",
      failure.reason,
      failure.message,
      now,
      generation
    )
    return {
      status: next,
      actions,
      // the Warning carries the condition's reason: the worker's, the Job's or the Pod's own
      events: changed(status, next) ? [{ type: "Warning", reason: failure.reason, message: failure.message }] : []
    }
  }

  const namespace = backup.metadata.namespace ?? ""
  const name = backup.metadata.name ?? ""
  const clusterName = backup.spec.cluster.name
  const cluster = observation.cluster
  const job = ownedBy(observation.job, backup)

  if (job === undefined) {
    if (status.backupId !== undefined && phase === "running") {
      return failJob({
        reason: reasons.jobDeleted,
        message: `the backup Job ${status.jobName ?? ""} was deleted before it completed`
      })
    }
    // a Job of a previous Backup of the same name is still going away (the janitor handles it)
    if (observation.job !== undefined) return { ...same, requeueAfter: podsGoneRetry }
    if (cluster === undefined) return withFailure(new ClusterNotFound({ namespace, cluster: clusterName }))
    if ((backup.spec.method as string) !== "xtrabackup")
      return withFailure(new UnsupportedBackupMethod({ method: backup.spec.method }))
    const objectStore: ObjectStore | undefined = backup.spec.objectStore ?? cluster.spec.backup?.objectStore
    if (objectStore === undefined) return withFailure(new ObjectStoreNotConfigured({ cluster: clusterName }))
    const selected = selectSource(clusterName, backup.spec.target, cluster.status)
    if (Result.isFailure(selected)) return withFailure(selected.failure)
    const source = selected.success
    const backupId = status.backupId ?? backupIdFromDate(new Date(nowMillis))
    const keys = keysOf({
      path: objectStore.path ?? "",
      cluster: clusterName,
      backupName: name,
      backupId: backupId as never
    })
    if (Result.isFailure(keys)) {
      const failure = keys.failure
      return withFailure(
        failure instanceof InvalidName
          ? failure
          : new InvalidName({ field: "backup", value: name, detail: String(failure) })
      )
    }
    const jobName = backupJobName(name)
    const next = completedCondition(
      {
        ...status,
        phase: "pending",
        method: backup.spec.method,
        backupId,
        instanceName: source.instance.name,
        jobName,
        destinationPath: `s3://${objectStore.bucket}/${keys.success.prefix}`
      },
      "False",
      reasons.pending,
      `Job ${jobName} created; waiting for it to start`,
      now,
      generation
    )
    const rendered = renderBackupJob({
      backup,
      cluster,
      backupId,
      instanceName: source.instance.name,
      podIP: source.instance.podIP,
      objectStore,
      prefix: keys.success.prefix
    })
    return {
      status: next,
      // the worker's ServiceAccount exists before its Pod: a Pod naming a missing one is refused at admission
      actions: [
        { _tag: "CreateProgressAccess", access: renderProgressAccess(backup, clusterName) },
        { _tag: "CreateJob", job: rendered }
      ],
      events:
        status.backupId === undefined
          ? [
              event(catalogue.backupJobCreated, {
                job: jobName,
                backupId,
                instance: source.instance.name,
                why: source.why
              })
            ]
          : []
    }
  }

  const terminating = job.metadata.deletionTimestamp !== undefined
  if (isTrue(job, "Complete")) {
    const pod = newestFirst(observation.jobPods).find((p) => podPhase(p) === "Succeeded")
    const message = pod === undefined ? undefined : containerState(pod, backupContainerName)?.terminated?.message
    const result = Option.getOrUndefined(decodeResult(message ?? ""))
    // the Pod watch may lag behind the Job watch: give the terminated Pod time to show up before giving up
    const completedAt = parseTime(
      job.status?.completionTime ?? jobCondition(job, "Complete")?.lastTransitionTime ?? undefined
    )
    if (pod === undefined && (completedAt === undefined || nowMillis - completedAt < terminationMessageGrace)) {
      return { ...same, requeueAfter: podsGoneRetry }
    }
    if (result === undefined) {
      return failJob({
        reason: reasons.invalidTerminationMessage,
        message: `the backup Job ${job.metadata.name ?? ""} completed but its worker's termination message is ${message === undefined ? "missing" : "not a backup result"}`
      })
    }
    const next = completedCondition(
      {
        ...withoutRunFields(status),
        phase: "completed",
        ...defined({
          backupId: result.backupId,
          archiveKey: result.archiveKey,
          metadataKey: result.metadataKey,
          sha256: result.sha256,
          size: result.size,
          beginGTID: result.beginGTID,
          endGTID: result.endGTID,
          beginBinlog: binlog(result.beginBinlog),
          endBinlog: binlog(result.endBinlog),
          startedAt: result.startedAt,
          stoppedAt: result.stoppedAt
        })
      },
      "True",
      reasons.completed,
      `backup ${result.backupId} completed: ${result.size} bytes`,
      now,
      generation
    )
    return {
      status: next,
      actions: [],
      events: changed(status, next)
        ? [event(catalogue.backupCompleted, { size: result.size, sha256: result.sha256 })]
        : []
    }
  }
  if (isTrue(job, "Failed")) return failJob(jobFailure(job, observation.jobPods))
  if (terminating) {
    return failJob({
      reason: reasons.jobDeleted,
      message: `the backup Job ${job.metadata.name ?? ""} was deleted before it completed`
    })
  }
  const stuck = unstartable(observation.jobPods) ?? observation.jobSecretWait
  if (stuck !== undefined) return failJob(stuck, [{ _tag: "DeleteJob", name: job.metadata.name ?? "" }])
  if ((job.status?.active ?? 0) > 0 || observation.jobPods.some((pod) => podPhase(pod) === "Running")) {
    const next = completedCondition(
      { ...status, phase: "running", startedAt: status.startedAt ?? job.status?.startTime ?? now },
      "False",
      reasons.running,
      `Job ${job.metadata.name ?? ""} is running`,
      now,
      generation
    )
    return {
      status: next,
      actions: [],
      events: changed(status, next) ? [event(catalogue.backupStarted, { job: job.metadata.name ?? "" })] : [],
      requeueAfter: observation.jobPods.some((pod) => podPhase(pod) === "Pending") ? notStartedRetry : undefined
    }
  }
  return same
}

/** The janitor part (see the module comment). */
const janitor = (observation: BackupObservation, status: BackupStatus | undefined, nowMillis: number) => {
  const none = {
    status,
    actions: [] as Array<BackupAction>,
    events: [] as Array<PendingEvent>,
    requeueAfter: undefined as Duration.Duration | undefined
  }
  const job = observation.job
  const backup = observation.backup
  const owner = backup !== undefined && ownedBy(job, backup) !== undefined ? backup : undefined
  const now = rfc3339(nowMillis)
  const withCleanupCondition = (conditionStatus: Condition["status"], reason: string, message: string) =>
    status === undefined || owner === undefined
      ? status
      : {
          ...status,
          conditions: setCondition(
            status.conditions,
            { type: conditionTypes.uploadsCleanedUp, status: conditionStatus, reason, message },
            now
          )
        }

  // the cleanup's outcome, once, as a condition (and Event) on the Backup
  const cleanup = observation.cleanupJob
  if (cleanup !== undefined && owner !== undefined && status !== undefined) {
    const prefix = cleanup.metadata.annotations?.[annotations.backupPrefix] ?? ""
    const before = findCondition(status.conditions, conditionTypes.uploadsCleanedUp)
    const pod = newestFirst(observation.cleanupPods).find((p) => !isLive(p))
    const terminated = pod === undefined ? undefined : containerState(pod, cleanupContainerName)?.terminated
    if (isTrue(cleanup, "Complete")) {
      const result = Option.getOrUndefined(decodeCleanupResult(terminated?.message ?? ""))
      const aborted = result?.aborted ?? 0
      const next = withCleanupCondition(
        "True",
        reasons.cleanedUp,
        `aborted ${aborted} incomplete multipart upload(s) under ${prefix}`
      )
      if (before?.reason !== reasons.cleanedUp) {
        none.status = next
        none.events.push(event(catalogue.uploadsCleanedUp, { aborted, prefix }))
      }
    } else if (isTrue(cleanup, "Failed")) {
      const failure = Option.getOrUndefined(decodeFailure(terminated?.message ?? ""))
      const message =
        failure === undefined
          ? (jobCondition(cleanup, "Failed")?.message ?? "failed")
          : `${failure.reason}: ${failure.message}`
      if (before?.reason !== reasons.cleanupFailed) {
        none.status = withCleanupCondition("False", reasons.cleanupFailed, message)
        none.events.push(event(catalogue.uploadsCleanupFailed, { job: cleanup.metadata.name ?? "", message }))
      }
    }
  }

  if (job === undefined || !(job.metadata.finalizers ?? []).includes(finalizers.abortUploads)) return none
  const terminating = job.metadata.deletionTimestamp !== undefined
  const complete = isTrue(job, "Complete")
  if (complete) {
    if (terminating) none.actions.push({ _tag: "RemoveFinalizer", job })
    return none
  }
  if (!terminating && !isTrue(job, "Failed")) return none
  const live = observation.jobPods.filter(isLive)
  const everRan = observation.jobPods.length === 0 || observation.jobPods.some((pod) => podPhase(pod) !== "Pending")
  if (live.length > 0 && everRan) {
    const deletable = live.filter((pod) => pod.metadata.deletionTimestamp === undefined)
    if (terminating && deletable.length > 0) {
      none.actions.push({ _tag: "DeletePods", names: deletable.map((pod) => pod.metadata.name ?? "") })
    }
    none.requeueAfter = podsGoneRetry
    return none
  }
  if (!everRan) {
    // the worker never started (image pull, configuration): nothing can have been uploaded
    none.actions.push({ _tag: "RemoveFinalizer", job })
    return none
  }
  if (cleanup === undefined) {
    const rendered = renderCleanupJob(job, owner)
    // once the cleanup Job exists nothing is lost when the backup Job goes (an orphan one enqueues nothing later)
    none.actions.push({ _tag: "CreateJob", job: rendered }, { _tag: "RemoveFinalizer", job })
    none.status = withCleanupCondition(
      "Unknown",
      reasons.cleanupRunning,
      `Job ${rendered.metadata.name ?? ""} is aborting the incomplete uploads`
    )
    if (owner !== undefined) {
      none.events.push(
        event(catalogue.uploadsCleanupStarted, {
          job: rendered.metadata.name ?? "",
          prefix: job.metadata.annotations?.[annotations.backupPrefix] ?? ""
        })
      )
    }
    return none
  }
  none.actions.push({ _tag: "RemoveFinalizer", job })
  return none
}

const minDuration = (a: Duration.Duration | undefined, b: Duration.Duration | undefined) =>
  a === undefined ? b : b === undefined ? a : Duration.min(a, b)

/** One reconcile of a Backup key (see the module comment). */
export const decide = (observation: BackupObservation, nowMillis: number): BackupDecision => {
  const backup = observation.backup
  const live = backup !== undefined && backup.metadata.deletionTimestamp === undefined ? backup : undefined
  const step = live === undefined ? undefined : lifecycle(observation, live, nowMillis)
  const cleaning = janitor(observation, step?.status, nowMillis)
  return {
    status: live === undefined ? undefined : cleaning.status,
    actions: [...(step?.actions ?? []), ...cleaning.actions],
    events: live === undefined ? [] : [...(step?.events ?? []), ...cleaning.events],
    requeueAfter: minDuration(step?.requeueAfter, cleaning.requeueAfter)
  }
}
