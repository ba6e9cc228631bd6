/**
 * The retention step of the Cluster reconciler: observe the retention Job `<cluster>-retention` and its Pod's
 * termination message (from the caches, as the Cluster's other run-once Jobs) and the Cluster's Backups →
 * `decideRetention` (pure) → act: create or delete the Job, mark the Backups whose data a run deleted
 * (`DataRemoved`, one status write each, with an Event). The new `status.retention` and the Cluster's Events
 * are returned to the Cluster reconciler, which writes them with its one status write. The controller never
 * reads the object store: the Job does.
 *
 * @since 0.2.0
 */
import { Effect, Option, Schema } from "effect"
import type { Backup } from "../../api/backup.ts"
import type { Cluster } from "../../api/cluster.ts"
import { retentionJobName } from "../../api/names.ts"
import { RetentionTerminationMessage } from "../../api/retentionJob.ts"
import { nowMillis } from "../../api/time.ts"
import { KubeApi } from "../../kube/KubeApi.ts"
import { Resources } from "../../kube/resources.ts"
import { Caches } from "../Caches.ts"
import { observeJob } from "../cluster/observeJob.ts"
import { terminationOutcome } from "../cluster/recovery.ts"
import type { ClusterRef } from "../cluster/render.ts"
import { Events } from "../Events.ts"
import { writeStatus } from "../status.ts"
import { rfc3339 } from "../time.ts"
import { decideRetention, finishedAtOf, type RetentionJobObservation, type RetentionOutcome } from "./decide.ts"
import { dryRunAnnotation } from "./render.ts"

const decodeMessage = Schema.decodeUnknownEffect(Schema.fromJsonString(RetentionTerminationMessage))

const retentionOutcome = (message: string | undefined, fallback: string) =>
  Effect.map(
    terminationOutcome("retention Job", decodeMessage, message, fallback),
    (outcome): RetentionOutcome => (outcome._tag === "Done" ? { _tag: "Result", result: outcome.value } : outcome)
  )

/**
 * The retention Job of `cluster` as the caches hold it (`observeJob`, as the Cluster's other run-once Jobs). A Job
 * of that name the Cluster does not own is absent; one whose container cannot start (`ImagePullBackOff`, …) is a
 * failed run at once, dated when it started, rather than running until its deadline.
 */
const observeRetentionJob = Effect.fn("ClusterReconciler.observeRetentionJob")(function* (
  cluster: ClusterRef,
  now: number
) {
  const caches = yield* Caches
  const name = retentionJobName(cluster.name)
  const job = Option.getOrUndefined(yield* caches.jobs.get(`${cluster.namespace}/${name}`))
  if (job === undefined || !(job.metadata?.ownerReferences ?? []).some((o) => o.uid === cluster.uid)) {
    return { _tag: "Absent" } as RetentionJobObservation
  }
  const observed = yield* observeJob(cluster, name, retentionOutcome)
  if (observed === "absent") return { _tag: "Absent" } as RetentionJobObservation
  if (observed === "running") return { _tag: "Running" } as RetentionJobObservation
  const outcome = observed.outcome
  return {
    _tag: "Finished",
    name,
    dryRun: job.metadata?.annotations?.[dryRunAnnotation] !== "false",
    finishedAt:
      outcome._tag === "Unstartable"
        ? (job.status?.startTime ?? job.metadata?.creationTimestamp ?? rfc3339(now))
        : finishedAtOf(job, now),
    outcome:
      outcome._tag === "Unstartable"
        ? {
            _tag: "Failed",
            failure: { reason: outcome.reason, message: `Job ${name} cannot start: ${outcome.message}` }
          }
        : outcome
  } as RetentionJobObservation
})

/**
 * Observes, decides and acts for the retention of `cluster` (`backups`: the Cluster's, as the caches hold
 * them); returns the new `status.retention` (or `undefined`), the Cluster's Events and when to look again. API
 * errors fail the reconcile (it is retried), except a Backup whose status changed under the mark: it is marked
 * at the next look.
 */
export const reconcileRetention = Effect.fn("ClusterReconciler.reconcileRetention")(function* (
  cluster: ClusterRef,
  object: Cluster,
  backups: ReadonlyArray<Backup>
) {
  const api = yield* KubeApi
  const recorder = yield* Events
  const now = yield* nowMillis
  const job = yield* observeRetentionJob(cluster, now)
  const decision = decideRetention({ cluster, previous: object.status?.retention, job, backups, now })
  let unmarked = 0
  for (const mark of decision.marks) {
    const written = yield* writeStatus(Resources.backups, mark.backup, mark.status).pipe(
      Effect.as(true),
      Effect.catchTag("Conflict", () => Effect.succeed(false))
    )
    if (!written) {
      unmarked++
      continue
    }
    yield* recorder.record(Resources.backups, mark.backup, mark.event)
  }
  for (const action of decision.actions) {
    switch (action._tag) {
      case "CreateJob":
        yield* api.create(Resources.jobs, action.job).pipe(Effect.catchTag("AlreadyExists", () => Effect.void))
        break
      case "DeleteJob":
        yield* api
          .delete(
            Resources.jobs,
            { namespace: cluster.namespace, name: action.name },
            { propagationPolicy: "Background" }
          )
          .pipe(Effect.catchTag("NotFound", () => Effect.void))
        break
    }
  }
  return {
    status: decision.status,
    events: decision.events,
    requeueAfterSeconds: unmarked > 0 || decision.marks.length > 0 ? 1 : decision.requeueAfterSeconds
  }
})
