/**
 * A reflector keeps a local, Schema-decoded copy of one collection (a kind, optionally narrowed to a namespace
 * and selectors) and tells its consumer what changed: list, then watch from the list's resourceVersion.
 *
 * - An expired resourceVersion (HTTP 410, or an ERROR event carrying 410) relists at once; objects that
 *   vanished meanwhile come out as `Deleted`.
 * - Any other failure (connection refused, reset, 5xx, 403) re-watches from the last resourceVersion after a
 *   jittered exponential backoff (capped), so a flapping server is not hammered; progress resets it.
 * - A watch that ends cleanly (server `timeoutSeconds`, client-node's 30-second inactivity abort, a load
 *   balancer cut) resumes from the last resourceVersion without relisting.
 * - Every `resyncPeriod` each cached object is delivered again as `Resync`, so a level-based controller
 *   re-checks objects whose dependents (Jobs, the object store) may have drifted without an event.
 *
 * `events` is the loop itself: run it once (typically feeding a `WorkQueue`); running it keeps `cache`
 * current, and `cache.synced` completes after the first list has been applied.
 *
 * @since 0.1.0
 */
import { Clock, Deferred, Duration, Effect, Option, Queue, Random, Schedule, Stream } from "effect"
import type { KubeError } from "./errors.ts"
import { KubeApi, type ListOptions, type WatchEvent } from "./KubeApi.ts"
import { type KubeObject, keyOf, type Resource } from "./resources.ts"

/** What happened to one object. */
export interface ReflectorEvent<A> {
  readonly type: "Added" | "Updated" | "Deleted" | "Resync"
  /** `namespace/name` */
  readonly key: string
  readonly object: A
  /**
   * The cached version this event replaced (`Updated`) or removed (`Deleted`; a watch's DELETED carries the
   * server's last state, which may differ): what a secondary index filed the object under.
   */
  readonly previous?: A | undefined
}

/** The reflector's local copy, for readers (reconcilers read from here instead of the API server). */
export interface ReflectorCache<A> {
  readonly get: (key: string) => Effect.Effect<Option.Option<A>>
  readonly list: (namespace?: string) => Effect.Effect<ReadonlyArray<A>>
  readonly size: Effect.Effect<number>
  /** Completes once the first list has been applied. */
  readonly synced: Effect.Effect<void>
  readonly isSynced: Effect.Effect<boolean>
  /** The resourceVersion the cache reflects (of the last list, event or bookmark). */
  readonly resourceVersion: Effect.Effect<string | undefined>
}

/** A cache plus the stream that fills it. */
export interface Reflector<A> {
  readonly cache: ReflectorCache<A>
  readonly events: Stream.Stream<ReflectorEvent<A>, never, KubeApi>
}

/** Settings of a reflector. */
export interface ReflectorOptions<A extends KubeObject> extends ListOptions {
  readonly resource: Resource<A>
  /** Redeliver every cached object this often (default 10 minutes). */
  readonly resyncPeriod?: Duration.Input | undefined
  /** Backoff between failed lists/watches (default 500 ms doubling, jittered, at most 30 s). */
  readonly backoff?: Schedule.Schedule<unknown, unknown> | undefined
  /**
   * `timeoutSeconds` asked of the server per watch (default: random in 5–10 minutes, as client-go does, so
   * many watchers do not reconnect in lockstep).
   */
  readonly watchTimeoutSeconds?: number | undefined
  /**
   * Applied to every listed or watched object before it is cached and delivered (client-go's `SetTransform`):
   * what it drops costs no memory for as long as the object is cached. It must keep `metadata.name`,
   * `namespace` and `resourceVersion`.
   */
  readonly transform?: ((object: A) => A) | undefined
  /**
   * Called with every `Added`, `Updated` and `Deleted` in the same step that changes the cache, before the event
   * is emitted (client-go's indexer updates its store and indexes together): what a consumer keeps beside the
   * cache, such as secondary indexes, never lags it, while the events may wait in the stream's buffer.
   */
  readonly onChange?: ((event: ReflectorEvent<A>) => void) | undefined
}

const defaultReconnectBackoff: Schedule.Schedule<unknown, unknown> = Schedule.min([
  Schedule.exponential("500 millis").pipe(Schedule.jittered),
  Schedule.spaced("30 seconds")
])

/** Creates a reflector; nothing runs until `events` is run. */
export const makeReflector = <A extends KubeObject>(options: ReflectorOptions<A>): Effect.Effect<Reflector<A>> =>
  Effect.gen(function* () {
    const objects = new Map<string, A>()
    const synced = yield* Deferred.make<void>()
    let resourceVersion: string | undefined
    const { resource } = options
    const selection: ListOptions = {
      namespace: options.namespace,
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector
    }

    const cache: ReflectorCache<A> = {
      get: (key) => Effect.sync(() => Option.fromNullishOr(objects.get(key))),
      list: (namespace) =>
        Effect.sync(() => {
          const all = [...objects.values()]
          return namespace === undefined ? all : all.filter((object) => object.metadata?.namespace === namespace)
        }),
      size: Effect.sync(() => objects.size),
      synced: Deferred.await(synced),
      isSynced: Deferred.isDone(synced),
      resourceVersion: Effect.sync(() => resourceVersion)
    }

    const versionOf = (object: A) => object.metadata?.resourceVersion
    const transform = options.transform ?? ((object: A) => object)

    const events = Stream.callback<ReflectorEvent<A>, never, KubeApi>(
      (queue) =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          const emit = (event: ReflectorEvent<A>) => Queue.offer(queue, event)
          const changed = (event: ReflectorEvent<A>) => {
            options.onChange?.(event)
            return emit(event)
          }

          /** Replaces the cache with a full list, emitting the difference. */
          const relist = Effect.gen(function* () {
            const list = yield* api.list(resource, selection)
            const seen = new Set<string>()
            for (const item of list.items) {
              const object = transform(item)
              const key = keyOf(object)
              seen.add(key)
              const previous = objects.get(key)
              objects.set(key, object)
              if (previous === undefined) yield* changed({ type: "Added", key, object })
              else if (versionOf(previous) !== versionOf(object)) {
                yield* changed({ type: "Updated", key, object, previous })
              }
            }
            for (const [key, object] of objects) {
              if (!seen.has(key)) {
                objects.delete(key)
                yield* changed({ type: "Deleted", key, object, previous: object })
              }
            }
            resourceVersion = list.resourceVersion
            yield* Deferred.succeed(synced, undefined)
          })

          const apply = (event: WatchEvent<A>) => {
            if (event.type === "BOOKMARK") {
              resourceVersion = event.resourceVersion
              return Effect.void
            }
            const object = transform(event.object)
            const key = keyOf(object)
            resourceVersion = versionOf(object) ?? resourceVersion
            const previous = objects.get(key)
            if (event.type === "DELETED") {
              objects.delete(key)
              return changed({ type: "Deleted", key, object, previous })
            }
            objects.set(key, object)
            if (previous === undefined) return changed({ type: "Added", key, object })
            // a replayed ADDED after a reconnect carries the version we already have: nothing changed
            return versionOf(previous) === versionOf(object)
              ? Effect.void
              : changed({ type: "Updated", key, object, previous })
          }

          const watchTimeout = Effect.suspend(() =>
            options.watchTimeoutSeconds === undefined
              ? Random.nextBetween(300, 600).pipe(Effect.map(Math.floor))
              : Effect.succeed(options.watchTimeoutSeconds)
          )

          /** One watch from the current resourceVersion; succeeds with whether it made progress. */
          const watchOnce = Effect.gen(function* () {
            let progressed = false
            const started = yield* Clock.currentTimeMillis
            const timeoutSeconds = yield* watchTimeout
            yield* api
              .watch(resource, { ...selection, resourceVersion, timeoutSeconds, allowWatchBookmarks: true })
              .pipe(
                Stream.runForEach((event) =>
                  Effect.andThen(
                    Effect.sync(() => {
                      progressed = true
                    }),
                    apply(event)
                  )
                )
              )
            // a quiet watch that stayed open (until client-node's 30 s abort, say) was healthy too
            return progressed || (yield* Clock.currentTimeMillis) - started >= 1000
          })

          const loop = Effect.gen(function* () {
            let step = yield* Schedule.toStepWithSleep(options.backoff ?? defaultReconnectBackoff)
            const resetBackoff = Effect.map(
              Schedule.toStepWithSleep(options.backoff ?? defaultReconnectBackoff),
              (fresh) => {
                step = fresh
              }
            )
            const backOff = (error: KubeError | undefined) =>
              Effect.andThen(
                error === undefined
                  ? Effect.void
                  : Effect.logWarning("list/watch failed; retrying", {
                      resource: resource.plural,
                      error: error.message
                    }),
                Effect.ignore(step(error))
              )
            let needList = true
            while (true) {
              if (needList) {
                const listed = yield* Effect.result(relist)
                if (listed._tag === "Failure") {
                  yield* backOff(listed.failure)
                  continue
                }
                needList = false
                yield* resetBackoff
              }
              const watched = yield* Effect.result(watchOnce)
              if (watched._tag === "Success") {
                // a watch that closes at once, again and again, must not become a hot loop
                if (watched.success) yield* resetBackoff
                else yield* backOff(undefined)
              } else if (watched.failure._tag === "Gone") {
                yield* Effect.logDebug("resourceVersion expired; relisting", { resource: resource.plural })
                needList = true
              } else {
                yield* backOff(watched.failure)
              }
            }
          })

          const resync = Effect.gen(function* () {
            yield* Deferred.await(synced)
            const period = options.resyncPeriod ?? Duration.minutes(10)
            yield* Effect.forever(
              Effect.gen(function* () {
                yield* Effect.sleep(period)
                for (const [key, object] of [...objects]) yield* emit({ type: "Resync", key, object })
              })
            )
          })

          yield* Effect.forkScoped(loop)
          yield* Effect.forkScoped(resync)
        }).pipe(Effect.annotateLogs({ reflector: resource.plural })),
      { bufferSize: 1024, strategy: "suspend" }
    )

    return { cache, events }
  })
