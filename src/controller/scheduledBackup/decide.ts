/**
 * The ScheduledBackup lifecycle as a pure function of the object, its Backups, its Cluster and `now`.
 *
 * - The schedule and time zone are checked first: an invalid one is the `Scheduled` condition `False` with
 *   reason `InvalidSchedule` / `InvalidTimeZone` and a Warning Event; nothing is created.
 * - `immediate`: one Backup as soon as the ScheduledBackup exists (before any slot), labelled `immediate`.
 * - A slot is due when it is after `status.lastScheduleTime` (else the creation time) and not after `now`. Of the
 *   due slots only the most recent one may run, and only when it is at most `startingDeadlineSeconds` (default
 *   3600) old; the ones before it are missed (a Warning Event says how many). This is CronJob's rule with a
 *   default deadline, so a controller back from an outage starts at most one catch-up backup.
 * - At most one running Backup per ScheduledBackup: a slot that comes while one runs is consumed and skipped
 *   (a `BackupSkipped` Event, repeated skips aggregate into its count), never queued.
 * - `suspend`: nothing is created; slots that pass meanwhile are missed as in an outage.
 * - A Backup is named `<scheduled>-<YYYYMMDDHHMMSS>` from the slot's UTC time, so a retry after a lost response
 *   finds it (`AlreadyExists`): one created by this ScheduledBackup (its label) is adopted; another one is
 *   refused (`BackupAdoptionRefused`).
 * - Status: `lastScheduleTime` (the slot last consumed), `nextScheduleTime`, `lastBackupName`; the reconcile
 *   asks to run again at the next slot.
 *
 * @since 0.1.0
 */
import { Duration, Result } from "effect"
import type { Backup } from "../../api/backup.ts"
import type { Cluster } from "../../api/cluster.ts"
import { annotations, labels, truncatedName } from "../../api/names.ts"
import type { ScheduledBackup, ScheduledBackupStatus } from "../../api/scheduledBackup.ts"
import { findCondition, setCondition } from "../conditions.ts"
import { catalogue, event, type PendingEvent } from "../Events.ts"
import { parseTime, rfc3339 } from "../time.ts"
import { dueSlots, parseSchedule } from "./schedule.ts"

/** The condition type on a ScheduledBackup. */
export const scheduledCondition = "Scheduled"

/** How old the most recent missed slot may be and still run, when the spec does not say. */
export const defaultStartingDeadlineSeconds = 3600

/** What one reconcile does. */
export interface ScheduledBackupDecision {
  readonly status: ScheduledBackupStatus
  /** A Backup to create (after the status write). */
  readonly create: Backup | undefined
  readonly events: ReadonlyArray<PendingEvent>
  readonly requeueAfter: Duration.Duration | undefined
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0")

/** `YYYYMMDDHHMMSS` of an instant, UTC. */
export const slotSuffix = (millis: number): string => {
  const d = new Date(millis)
  return `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(
    d.getUTCMinutes()
  )}${pad(d.getUTCSeconds())}`
}

/** The name of the Backup of a slot: `<scheduled>-<YYYYMMDDHHMMSS>` (a Backup name is at most 253 characters). */
export const scheduledBackupName = (scheduled: string, slotMillis: number): string =>
  truncatedName(`${scheduled}-${slotSuffix(slotMillis)}`, 253)

/** The Backup a ScheduledBackup creates for a slot. */
export const renderScheduledBackup = (
  scheduled: ScheduledBackup,
  cluster: Cluster | undefined,
  slotMillis: number,
  immediate: boolean
): Backup => {
  const name = scheduled.metadata.name ?? ""
  const spec = scheduled.spec
  const owner =
    spec.backupOwnerReference === "self"
      ? { apiVersion: scheduled.apiVersion, kind: scheduled.kind, name, uid: scheduled.metadata.uid ?? "" }
      : spec.backupOwnerReference === "cluster" && cluster !== undefined
        ? {
            apiVersion: cluster.apiVersion,
            kind: cluster.kind,
            name: cluster.metadata.name ?? "",
            uid: cluster.metadata.uid ?? ""
          }
        : undefined
  return {
    apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
    kind: "Backup",
    metadata: {
      name: scheduledBackupName(name, slotMillis),
      namespace: scheduled.metadata.namespace ?? "",
      labels: {
        [labels.scheduledBackup]: truncatedName(name),
        [labels.cluster]: spec.cluster.name,
        ...(immediate ? { [labels.immediate]: "true" } : {})
      },
      annotations: { [annotations.scheduledAt]: rfc3339(slotMillis), [annotations.scheduledBackup]: name },
      ...(owner === undefined ? {} : { ownerReferences: [{ ...owner, blockOwnerDeletion: true }] })
    },
    spec: {
      cluster: spec.cluster,
      method: spec.method,
      target: spec.target,
      online: spec.online
    }
  }
}

const isRunning = (backup: Backup) => backup.status?.phase !== "completed" && backup.status?.phase !== "failed"

/** One reconcile of a ScheduledBackup (see the module comment). `backups` are the ones it created. */
export const decide = (
  scheduled: ScheduledBackup,
  backups: ReadonlyArray<Backup>,
  cluster: Cluster | undefined,
  nowMillis: number
): ScheduledBackupDecision => {
  const now = rfc3339(nowMillis)
  const status: ScheduledBackupStatus = scheduled.status ?? {}
  const generation = scheduled.metadata.generation
  const withCondition = (
    next: ScheduledBackupStatus,
    conditionStatus: "True" | "False",
    reason: string,
    message: string
  ) => ({
    ...next,
    conditions: setCondition(
      next.conditions,
      { type: scheduledCondition, status: conditionStatus, reason, message },
      now,
      generation
    )
  })
  const reasonChanged = (next: ScheduledBackupStatus) =>
    findCondition(status.conditions, scheduledCondition)?.reason !==
    findCondition(next.conditions, scheduledCondition)?.reason

  const parsed = parseSchedule(scheduled.spec.schedule, scheduled.spec.timeZone)
  if (Result.isFailure(parsed)) {
    const problem = parsed.failure
    const pending =
      problem._tag === "InvalidTimeZone"
        ? event(catalogue.invalidTimeZone, { timeZone: problem.timeZone })
        : event(catalogue.invalidSchedule, { message: problem.message })
    const next = withCondition(status, "False", problem._tag, pending.message)
    return { status: next, create: undefined, events: reasonChanged(next) ? [pending] : [], requeueAfter: undefined }
  }
  const schedule = parsed.success
  const created = parseTime(scheduled.metadata.creationTimestamp) ?? nowMillis
  const after = parseTime(status.lastScheduleTime) ?? created
  const running = backups.find(isRunning)
  const events: Array<PendingEvent> = []
  let next: ScheduledBackupStatus = status
  let create: Backup | undefined

  if (scheduled.spec.suspend) {
    next = withCondition(next, "False", "Suspended", "spec.suspend is set: no Backups are created")
  } else {
    const firstEver = status.lastScheduleTime === undefined && status.lastBackupName === undefined
    const { latest, earlier } = dueSlots(schedule, after, nowMillis)
    if (firstEver && scheduled.spec.immediate && backups.length === 0) {
      create = renderScheduledBackup(scheduled, cluster, nowMillis, true)
      next = { ...next, lastBackupName: create.metadata.name ?? "", lastScheduleTime: now }
    } else if (latest !== undefined) {
      const deadline = (scheduled.spec.startingDeadlineSeconds ?? defaultStartingDeadlineSeconds) * 1000
      const slot = rfc3339(latest)
      if (earlier > 0 || nowMillis - latest > deadline) {
        const missed = earlier + (nowMillis - latest > deadline ? 1 : 0)
        events.push(event(catalogue.scheduledBackupMissed, { missed, slot }))
      }
      if (nowMillis - latest > deadline) {
        next = { ...next, lastScheduleTime: slot }
      } else if (running !== undefined) {
        events.push(event(catalogue.scheduledBackupSkipped, { slot, running: running.metadata.name ?? "" }))
        next = { ...next, lastScheduleTime: slot }
      } else {
        create = renderScheduledBackup(scheduled, cluster, latest, false)
        next = { ...next, lastScheduleTime: slot, lastBackupName: create.metadata.name ?? "" }
      }
    }
    next = withCondition(next, "True", "Scheduled", `next run at ${rfc3339(schedule.next(nowMillis) ?? nowMillis)}`)
  }
  if (create !== undefined) {
    const slot = create.metadata.annotations?.[annotations.scheduledAt] ?? now
    events.push(event(catalogue.scheduledBackupCreated, { backup: create.metadata.name ?? "", slot }))
  }
  const upcoming = scheduled.spec.suspend ? undefined : schedule.next(nowMillis)
  next = upcoming === undefined ? next : { ...next, nextScheduleTime: rfc3339(upcoming) }
  return {
    status: next,
    create,
    events,
    requeueAfter: upcoming === undefined ? undefined : Duration.millis(Math.max(1, upcoming - nowMillis))
  }
}
