/**
 * The Backup controller: observe (caches) → decide (pure, `decide.ts`) → one status write → the actions (create
 * the Job after its backup id is persisted, delete Pods, drop the finalizer) → Events → when to look again.
 *
 * Creating the Job is preceded by its ServiceAccount, Role and RoleBinding (the worker's progress reports).
 *
 * Only Kubernetes API errors fail a reconcile (and retry through the work queue's backoff); a `Conflict` on the
 * status write means the Backup changed under us and is re-read at once. Taxonomy failures are status.
 *
 * The controller watches Backups, the Jobs they own, those Jobs' Pods, and Clusters (a Cluster change — an
 * instance becoming ready — re-examines its Backups that are not finished yet).
 *
 * @since 0.1.0
 */
import { Clock, Effect, Option } from "effect"
import { finalizers } from "../../api/names.ts"
import { KubeApi } from "../../kube/KubeApi.ts"
import { type Job, type KubeObject, keyOf, Resources } from "../../kube/resources.ts"
import type { Reconciled } from "../../kube/WorkQueue.ts"
import { type CachesService, indexes } from "../Caches.ts"
import * as Controller from "../Controller.ts"
import { Events } from "../Events.ts"
import type { Reconciler } from "../main.ts"
import { writeStatus } from "../status.ts"
import { type BackupAction, decide } from "./decide.ts"
import { observeBackup, RecentWrites } from "./observe.ts"

const ignoreNotFound = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.catchIf(
    effect,
    (error): error is E & { readonly _tag: "NotFound" } => error._tag === "NotFound",
    () => Effect.void
  )

// an object created once and never changed: after a lost response or a restart it is simply there
const alreadyThere = <A, E extends { readonly _tag: string }, R>(create: Effect.Effect<A, E, R>) =>
  Effect.catchIf(
    Effect.asVoid(create),
    (error): error is E & { readonly _tag: "AlreadyExists" } => error._tag === "AlreadyExists",
    () => Effect.void
  )

/** Reconciles one Backup key. */
export const reconcileBackup = (writes: RecentWrites) =>
  Effect.fn("Backup.reconcile")(
    function* (key: string) {
      const api = yield* KubeApi
      const events = yield* Events
      const observation = yield* observeBackup(key, writes)
      const decision = decide(observation, yield* Clock.currentTimeMillis)
      let backup = observation.backup
      if (backup !== undefined && decision.status !== undefined) {
        const before = backup.metadata.resourceVersion
        const written = yield* writeStatus(Resources.backups, backup, decision.status)
        if (written !== backup) yield* writes.remember("Backup", before, written)
        backup = written
      }
      const act = (action: BackupAction) =>
        Effect.gen(function* () {
          switch (action._tag) {
            case "CreateProgressAccess": {
              const { serviceAccount, role, roleBinding } = action.access
              yield* alreadyThere(api.create(Resources.serviceAccounts, serviceAccount))
              yield* alreadyThere(api.create(Resources.roles, role))
              return yield* alreadyThere(api.create(Resources.roleBindings, roleBinding))
            }
            case "CreateJob": {
              const created = yield* api.create(Resources.jobs, action.job).pipe(
                Effect.map((job): Job | undefined => job),
                // a retry after a lost response, or a cache that has not seen our Job yet: it is there
                Effect.catchTag("AlreadyExists", () => Effect.succeed(undefined))
              )
              if (created !== undefined) yield* writes.remember("Job", undefined, created)
              return
            }
            case "DeleteJob":
              return yield* ignoreNotFound(
                api.delete(
                  Resources.jobs,
                  { namespace: backup?.metadata.namespace, name: action.name },
                  { propagationPolicy: "Background" }
                )
              )
            case "DeletePods":
              return yield* Effect.forEach(
                action.names,
                (name) =>
                  ignoreNotFound(api.delete(Resources.pods, { namespace: observation.job?.metadata.namespace, name })),
                { discard: true }
              )
            case "RemoveFinalizer": {
              const job = action.job
              const remaining = (job.metadata.finalizers ?? []).filter((f) => f !== finalizers.abortUploads)
              const patched = yield* ignoreNotFound(
                api.patch(
                  Resources.jobs,
                  { namespace: job.metadata.namespace, name: job.metadata.name ?? "" },
                  {
                    metadata: { resourceVersion: job.metadata.resourceVersion, finalizers: remaining }
                  }
                )
              )
              if (patched !== undefined) yield* writes.remember("Job", job.metadata.resourceVersion, patched)
              else writes.forget("Job", keyOf(job))
              return
            }
          }
        })
      yield* Effect.forEach(decision.actions, act, { discard: true })
      if (backup !== undefined) yield* events.recordAll(Resources.backups, backup, decision.events)
      return decision.requeueAfter === undefined ? undefined : { requeueAfter: decision.requeueAfter }
    },
    (effect) =>
      effect.pipe(
        // the object changed between our read and our write: read it again now rather than after a backoff
        Effect.catchTag("Conflict", () => Effect.succeed<Reconciled>({ requeueAfter: "50 millis" }))
      )
  )

/** A Pod of a Job owned by a Backup → that Backup. */
const podToBackup = (pod: KubeObject, caches: CachesService) =>
  Effect.gen(function* () {
    const jobs = Controller.ownerKeys(pod, "Job")
    const keys: Array<string> = []
    for (const jobKey of jobs) {
      const job = yield* caches.jobs.get(jobKey)
      if (Option.isSome(job)) keys.push(...Controller.ownerKeys(job.value, "Backup"))
    }
    return keys
  })

/** A Cluster → its Backups that are not finished. */
const clusterToBackups = (cluster: KubeObject, caches: CachesService) =>
  Effect.map(caches.backups.byIndex(indexes.backupsByCluster, keyOf(cluster)), (backups) =>
    backups
      .filter((backup) => backup.status?.phase !== "completed" && backup.status?.phase !== "failed")
      .map((backup) => keyOf(backup))
  )

/** The Backup controller as the controller-manager registers it. */
export const backupReconciler: Reconciler = {
  name: "backup",
  defaultWorkers: 16,
  layer: (workers) =>
    Controller.make({
      name: "backup",
      kind: "backups",
      owns: ["jobs"],
      watches: [
        { kind: "pods", map: podToBackup },
        { kind: "clusters", map: clusterToBackups }
      ],
      workers,
      reconcile: reconcileBackup(new RecentWrites())
    })
}
