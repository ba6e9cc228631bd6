/**
 * Records core/v1 Events about our objects, the way `kubectl describe` users expect to read them:
 * `Type`, a CamelCase `Reason` (the failure taxonomy's reasons are used verbatim), `From` (the component),
 * `Message`, and "x5 over 3m" for repeats.
 *
 * Repeats are aggregated as client-go's event correlator does: the same object, type, reason and message
 * update the existing Event (`count` + 1, new `lastTimestamp`, merge patch) instead of creating a new one. If
 * that Event is gone (Events expire after an hour by default), a new one is created. What the recorder remembers
 * for this is bounded, the least recently seen going first (client-go's LRU; not by time: an API server may keep
 * Events longer than the default hour, and an hourly repeat is then still one Event).
 * Recording never fails the caller: an Event is a courtesy, so API errors are logged and dropped.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import { Clock, Effect, Semaphore } from "effect"
import { metaV1Time } from "../api/time.ts"
import { KubeApi } from "./KubeApi.ts"
import { apiVersionOf, type KubeObject, type ObjectReference, Resources, type ResourceType } from "./resources.ts"

/** Normal for progress, Warning for anything a human may need to act on. */
export type EventType = "Normal" | "Warning"

/** Who records: `source.component` ("From" in kubectl describe) and the replica (`source.host`). */
export interface EventRecorderOptions {
  readonly component: string
  readonly host?: string | undefined
  /** How many distinct events to remember for aggregation (default 4096, as client-go). */
  readonly cacheSize?: number | undefined
}

/** client-go's aggregation cache size: the default `cacheSize`. */
export const defaultEventCacheSize = 4096

/** Writes Events about objects. */
export interface EventRecorder {
  readonly record: (
    resource: ResourceType,
    object: KubeObject,
    type: EventType,
    reason: string,
    message: string
  ) => Effect.Effect<void>
  readonly normal: (resource: ResourceType, object: KubeObject, reason: string, message: string) => Effect.Effect<void>
  readonly warning: (resource: ResourceType, object: KubeObject, reason: string, message: string) => Effect.Effect<void>
}

/** `metav1.Time`: RFC 3339 in whole seconds. */

// kubectl shows the message on one line; the API server stores long ones but they help nobody
const maxMessageLength = 1024

/**
 * The aggregation key of an Event: a SHA-256 digest of what identifies it (object, type, reason, message), 44
 * characters instead of the message and names, for each of the up to `cacheSize` Events remembered.
 */
const digest = (identity: ReadonlyArray<string>): string =>
  createHash("sha256").update(JSON.stringify(identity)).digest("base64")

interface Aggregate {
  readonly namespace: string
  readonly name: string
  count: number
}

/** Creates a recorder bound to the `KubeApi` in context. */
export const makeEventRecorder = Effect.fnUntraced(function* (
  options: EventRecorderOptions
): Effect.fn.Return<EventRecorder, never, KubeApi> {
  const api = yield* KubeApi
  const lock = yield* Semaphore.make(1)
  const seen = new Map<string, Aggregate>()
  const cacheSize = options.cacheSize ?? defaultEventCacheSize
  let sequence = 0

  const remember = (key: string, aggregate: Aggregate) => {
    seen.delete(key)
    seen.set(key, aggregate)
    if (seen.size > cacheSize) {
      const oldest = seen.keys().next()
      if (oldest.done !== true) seen.delete(oldest.value)
    }
  }

  const record = (resource: ResourceType, object: KubeObject, type: EventType, reason: string, message: string) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const metadata = object.metadata ?? {}
      const involvedObject: ObjectReference = {
        apiVersion: apiVersionOf(resource),
        kind: resource.kind,
        name: metadata.name ?? "",
        ...(metadata.namespace === undefined ? {} : { namespace: metadata.namespace }),
        ...(metadata.uid === undefined ? {} : { uid: metadata.uid }),
        ...(metadata.resourceVersion === undefined ? {} : { resourceVersion: metadata.resourceVersion })
      }
      const namespace = metadata.namespace ?? "default"
      const text = message.length > maxMessageLength ? `${message.slice(0, maxMessageLength - 3)}...` : message
      const key = digest([resource.kind, namespace, metadata.name ?? "", metadata.uid ?? "", type, reason, text])

      const previous = seen.get(key)
      if (previous !== undefined) {
        const patched = yield* api
          .patch(
            Resources.events,
            { namespace: previous.namespace, name: previous.name },
            { count: previous.count + 1, lastTimestamp: metaV1Time(now) }
          )
          .pipe(
            Effect.as(true),
            Effect.catchTag("NotFound", () => Effect.succeed(false))
          )
        if (patched) {
          previous.count += 1
          remember(key, previous)
          return
        }
      }
      const created = yield* api.create(Resources.events, {
        apiVersion: "v1",
        kind: "Event",
        // client-go's naming: the object's name and the time in hex nanoseconds, unique per recorder
        metadata: {
          namespace,
          name: `${involvedObject.name}.${(BigInt(now) * 1_000_000n + BigInt(sequence++ % 1_000_000)).toString(16)}`
        },
        involvedObject,
        type,
        reason,
        message: text,
        source: { component: options.component, ...(options.host === undefined ? {} : { host: options.host }) },
        reportingComponent: options.component,
        reportingInstance: options.host ?? options.component,
        firstTimestamp: metaV1Time(now),
        lastTimestamp: metaV1Time(now),
        count: 1
      })
      remember(key, { namespace, name: created.metadata.name ?? "", count: 1 })
    }).pipe(
      Semaphore.withPermits(lock, 1),
      Effect.catch((error) =>
        Effect.logWarning("could not record event", { reason, object: object.metadata?.name, error: error.message })
      )
    )

  return {
    record,
    normal: (resource, object, reason, message) => record(resource, object, "Normal", reason, message),
    warning: (resource, object, reason, message) => record(resource, object, "Warning", reason, message)
  }
})
