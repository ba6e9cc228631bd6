/**
 * Events: the service reconcilers record core/v1 Events through, and the catalogue of every Event the
 * controllers emit (MOCO's `pkg/event`): one entry per reason, with its type and how its message is worded, so
 * `docs/backup.md` can list them and tests can name them instead of repeating strings.
 *
 * Failures of the taxonomy (`src/api/failures.ts`) are Events too: `failure(status)` records a Warning whose
 * reason is the failure's stable tag, the same reason the condition carries.
 *
 * @since 0.1.0
 */
import { Context, Effect, FiberSet, Layer } from "effect"
import type { FailureStatus } from "../api/failures.ts"
import {
  defaultEventCacheSize,
  type EventRecorderOptions,
  type EventType,
  makeEventRecorder
} from "../kube/EventRecorder.ts"
import type { KubeApi } from "../kube/KubeApi.ts"
import type { KubeObject, ResourceType } from "../kube/resources.ts"

/** One kind of Event: a stable CamelCase reason, its type, and its message. */
export interface EventSpec<Args> {
  readonly type: EventType
  readonly reason: string
  readonly message: (args: Args) => string
}

const spec = <Args = void>(type: EventType, reason: string, message: (args: Args) => string): EventSpec<Args> => ({
  type,
  reason,
  message
})

/** Every Event of the Backup and ScheduledBackup controllers (the Cluster controller adds its own entries). */
export const catalogue = {
  /** The Job was created; the message names the source instance and why it was chosen. */
  backupJobCreated: spec<{
    readonly job: string
    readonly backupId: string
    readonly instance: string
    readonly why: string
  }>(
    "Normal",
    "JobCreated",
    ({ job, backupId, instance, why }) => `created Job ${job} for backup id ${backupId} from ${instance} (${why})`
  ),
  backupStarted: spec<{ readonly job: string }>("Normal", "Started", ({ job }) => `Job ${job} is running`),
  backupCompleted: spec<{ readonly size: number; readonly sha256: string }>(
    "Normal",
    "Completed",
    ({ size, sha256 }) => `backup completed: ${size} bytes, sha256 ${sha256}`
  ),
  uploadsCleanupStarted: spec<{ readonly job: string; readonly prefix: string }>(
    "Normal",
    "CleanupStarted",
    ({ job, prefix }) => `Job ${job} aborts the incomplete multipart uploads under ${prefix}`
  ),
  uploadsCleanedUp: spec<{ readonly aborted: number; readonly prefix: string }>(
    "Normal",
    "CleanedUp",
    ({ aborted, prefix }) => `aborted ${aborted} incomplete multipart upload(s) under ${prefix}`
  ),
  uploadsCleanupFailed: spec<{ readonly job: string; readonly message: string }>(
    "Warning",
    "CleanupFailed",
    ({ job, message }) => `cleanup Job ${job} failed: ${message}`
  ),
  scheduledBackupCreated: spec<{ readonly backup: string; readonly slot: string }>(
    "Normal",
    "BackupCreated",
    ({ backup, slot }) => `created Backup ${backup} for ${slot}`
  ),
  scheduledBackupSkipped: spec<{ readonly slot: string; readonly running: string }>(
    "Normal",
    "BackupSkipped",
    // no slot in the message: repeated skips aggregate into one Event's count
    ({ running }) => `skipped a scheduled run: Backup ${running} is still running`
  ),
  scheduledBackupMissed: spec<{ readonly missed: number; readonly slot: string }>(
    "Warning",
    "MissedSchedules",
    ({ missed, slot }) => `${missed} scheduled run(s) missed while the controller was away; catching up with ${slot}`
  ),
  invalidSchedule: spec<{ readonly message: string }>("Warning", "InvalidSchedule", ({ message }) => message),
  invalidTimeZone: spec<{ readonly timeZone: string }>(
    "Warning",
    "InvalidTimeZone",
    ({ timeZone }) => `spec.timeZone ${JSON.stringify(timeZone)} is not an IANA time zone`
  ),
  backupAdoptionRefused: spec<{ readonly backup: string }>(
    "Warning",
    "BackupAdoptionRefused",
    ({ backup }) => `Backup ${backup} exists and was not created by this ScheduledBackup`
  )
} as const

/** An Event about to be recorded (what reconcilers' decisions return). */
export interface PendingEvent {
  readonly type: EventType
  readonly reason: string
  readonly message: string
}

/** Fills in an Event of the catalogue. */
export const event = <Args>(entry: EventSpec<Args>, args: Args): PendingEvent => ({
  type: entry.type,
  reason: entry.reason,
  message: entry.message(args)
})

/** The Warning Event of a taxonomy failure: same reason as its condition. */
export const failureEvent = (status: FailureStatus): PendingEvent => ({
  type: "Warning",
  reason: status.reason,
  message: status.message
})

/** Records Events about objects; never fails (an Event is a courtesy, API errors are logged). */
export interface EventsService {
  readonly record: (resource: ResourceType, object: KubeObject, event: PendingEvent) => Effect.Effect<void>
  readonly recordAll: (
    resource: ResourceType,
    object: KubeObject,
    events: ReadonlyArray<PendingEvent>
  ) => Effect.Effect<void>
}

const shards = 8

const shardOf = (key: string): number => {
  let hash = 0
  for (let i = 0; i < key.length; i++) hash = (hash * 31 + key.charCodeAt(i)) | 0
  return Math.abs(hash) % shards
}

/** An Event as `Events.layerMemory` keeps it. */
export interface RecordedEvent extends PendingEvent {
  readonly kind: string
  readonly namespace: string | undefined
  readonly name: string
}

/** The Events service. */
export class Events extends Context.Service<Events, EventsService>()("cloudnative-mysql/controller/Events") {
  /** Records through the API server (aggregating repeats like client-go). */
  static readonly layer = (options: EventRecorderOptions): Layer.Layer<Events, never, KubeApi> =>
    Layer.effect(
      Events,
      Effect.gen(function* () {
        // a recorder writes one Event at a time (its aggregation needs that); shards by object keep one object's
        // Events in order and aggregated while different objects' Events are written concurrently
        // the shards share the aggregation bound (client-go's 4096 distinct Events per process, not per shard)
        const cacheSize = Math.ceil((options.cacheSize ?? defaultEventCacheSize) / shards)
        const recorders = yield* Effect.forEach(Array.from({ length: shards }), () =>
          makeEventRecorder({ ...options, cacheSize })
        )
        // recorded in the background: a reconcile does not wait for its Events (they are a courtesy)
        const background = yield* FiberSet.make()
        const record = (resource: ResourceType, object: KubeObject, pending: PendingEvent) => {
          const recorder =
            recorders[shardOf(`${resource.kind}/${object.metadata?.namespace ?? ""}/${object.metadata?.name ?? ""}`)]!
          return FiberSet.run(
            background,
            recorder.record(resource, object, pending.type, pending.reason, pending.message)
          ).pipe(Effect.asVoid)
        }
        return Events.of({
          record,
          recordAll: (resource, object, events) =>
            Effect.forEach(events, (e) => record(resource, object, e), { discard: true })
        })
      })
    )

  /** Keeps Events in the given array (unit tests of reconcilers without an API server). */
  static readonly layerMemory = (into: Array<RecordedEvent>): Layer.Layer<Events> => {
    const record = (resource: ResourceType, object: KubeObject, pending: PendingEvent) =>
      Effect.sync(() => {
        into.push({
          ...pending,
          kind: resource.kind,
          namespace: object.metadata?.namespace,
          name: object.metadata?.name ?? ""
        })
      })
    return Layer.succeed(
      Events,
      Events.of({
        record,
        recordAll: (resource, object, events) =>
          Effect.forEach(events, (e) => record(resource, object, e), { discard: true })
      })
    )
  }
}
