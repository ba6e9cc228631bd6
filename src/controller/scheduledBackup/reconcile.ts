/**
 * The ScheduledBackup controller: observe (the object, the Backups it created, its Cluster) → decide (pure) →
 * create the slot's Backup → one status write → Events → requeue at the next slot.
 *
 * The Backup is created before the status that consumes its slot is written: if the write is lost, the next
 * reconcile finds the slot due again and its deterministic name already taken by the Backup it created
 * (adopted), so a slot yields at most one Backup and is never lost to a failed create.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Option } from "effect"
import { annotations, labels, truncatedName } from "../../api/names.ts"
import { KubeApi } from "../../kube/KubeApi.ts"
import { type KubeObject, parseKey, Resources } from "../../kube/resources.ts"
import type { Reconciled } from "../../kube/WorkQueue.ts"
import { Caches, indexes } from "../Caches.ts"
import * as Controller from "../Controller.ts"
import { catalogue, Events, event } from "../Events.ts"
import type { Reconciler } from "../main.ts"
import { writeStatus } from "../status.ts"
import { decide } from "./decide.ts"

/** Reconciles one ScheduledBackup key. */
export const reconcileScheduledBackup = Effect.fn("ScheduledBackup.reconcile")(
  function* (key: string) {
    const caches = yield* Caches
    const api = yield* KubeApi
    const events = yield* Events
    const cached = yield* caches.scheduledBackups.get(key)
    if (Option.isNone(cached) || cached.value.metadata.deletionTimestamp !== undefined) return undefined
    const scheduled = cached.value
    const { namespace, name } = parseKey(key)
    const backups = (yield* caches.backups.byIndex(
      indexes.backupsBySchedule,
      `${namespace ?? ""}/${truncatedName(name)}`
    )).filter((backup) => backup.spec.cluster.name === scheduled.spec.cluster.name)
    const cluster = Option.getOrUndefined(
      yield* caches.clusters.get(`${namespace ?? ""}/${scheduled.spec.cluster.name}`)
    )
    const decision = decide(scheduled, backups, cluster, yield* Clock.currentTimeMillis)
    const pending = [...decision.events]
    if (decision.create !== undefined) {
      const backup = decision.create
      yield* api.create(Resources.backups, backup).pipe(
        Effect.asVoid,
        Effect.catchTag("AlreadyExists", () =>
          Effect.gen(function* () {
            const existing = yield* api.get(Resources.backups, { namespace, name: backup.metadata.name ?? "" })
            if (existing.metadata.labels?.[labels.scheduledBackup] !== truncatedName(name)) {
              pending.push(event(catalogue.backupAdoptionRefused, { backup: backup.metadata.name ?? "" }))
            }
          })
        )
      )
    }
    const written = yield* writeStatus(Resources.scheduledBackups, scheduled, decision.status)
    yield* events.recordAll(Resources.scheduledBackups, written, pending)
    return decision.requeueAfter === undefined ? undefined : { requeueAfter: decision.requeueAfter }
  },
  (effect) => effect.pipe(Effect.catchTag("Conflict", () => Effect.succeed<Reconciled>({ requeueAfter: "50 millis" })))
)

/**
 * The key of the ScheduledBackup that created `backup`: its annotation, else (Backups created before it existed)
 * the label, which is the name itself up to 63 characters.
 */
export const scheduledBackupKeysOf = (backup: KubeObject): ReadonlyArray<string> => {
  const metadata = (
    backup as {
      metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }
    }
  ).metadata
  const name = metadata?.annotations?.[annotations.scheduledBackup] ?? metadata?.labels?.[labels.scheduledBackup]
  return name === undefined ? [] : [`${backup.metadata?.namespace ?? ""}/${name}`]
}

const backupToScheduledBackup = (backup: KubeObject) => Effect.sync(() => scheduledBackupKeysOf(backup))

/** The ScheduledBackup controller as the controller-manager registers it. */
export const scheduledBackupReconciler: Reconciler = {
  name: "scheduled-backup",
  defaultWorkers: 1,
  layer: (workers) =>
    Controller.make({
      name: "scheduled-backup",
      kind: "scheduledBackups",
      watches: [{ kind: "backups", map: backupToScheduledBackup }],
      workers,
      reconcile: reconcileScheduledBackup
    })
}
