/**
 * `Controller.make`: one reconciler wired to the shared caches. It subscribes to the primary kind (an object's
 * key is enqueued on every change), to the kinds it owns (a change to a Job enqueues the key of the Job's
 * controller owner of the primary kind) and to other kinds it watches (a mapping from the changed object to the
 * keys to enqueue, e.g. a Cluster to its in-flight Backups), and runs a keyed work queue over `reconcile`.
 *
 * The work queue gives the guarantees reconcilers rely on: one key is never reconciled twice at once, a burst
 * of events is one reconcile, failures (only `KubeError`s should fail a reconcile) retry with per-key backoff,
 * `requeueAfter` schedules the next look. Subscriptions start after the caches synced, so the first reconcile
 * of every object sees its dependents. Each reconcile is counted in `/metrics` and logged with its key.
 *
 * A reconcile the API server refused with 403 also becomes a Warning Event `Forbidden` on the primary object,
 * naming what the operator's role does not allow: a role missing a rule (a hand-edited install, an upgrade that
 * needs a new one) shows where users look, not only in the operator's log (repeats aggregate into one Event).
 *
 * @since 0.1.0
 */
import { Cause, type Duration, Effect, Layer, Option } from "effect"
import type { KubeObject } from "../kube/resources.ts"
import { makeWorkQueue, type Reconciled } from "../kube/WorkQueue.ts"
import { type CacheKind, Caches, type CachesService, type Informer } from "./Caches.ts"
import { Events } from "./Events.ts"
import { Metrics } from "./Metrics.ts"

/** Maps a changed object of a watched kind to the primary keys to reconcile. */
export interface Watch {
  readonly kind: CacheKind
  readonly map: (object: KubeObject, caches: CachesService) => Effect.Effect<ReadonlyArray<string>>
}

/** A controller's definition. */
export interface ControllerOptions<E, R> {
  /** Name in logs and metrics, e.g. `backup`. */
  readonly name: string
  /** The primary kind. */
  readonly kind: CacheKind
  /** Kinds whose controller ownerReference points at a primary object. */
  readonly owns?: ReadonlyArray<CacheKind> | undefined
  readonly watches?: ReadonlyArray<Watch> | undefined
  /** Concurrent reconciles (of different keys); default 2. */
  readonly workers?: number | undefined
  /** How long shutdown waits for in-flight reconciles (default 30 s). */
  readonly shutdownTimeout?: Duration.Input | undefined
  readonly reconcile: (key: string) => Effect.Effect<Reconciled, E, R>
}

type Owned = KubeObject & {
  readonly metadata?:
    | {
        readonly namespace?: string | undefined
        readonly ownerReferences?:
          | ReadonlyArray<{ readonly kind: string; readonly name: string; readonly controller?: boolean | undefined }>
          | undefined
      }
    | undefined
}

/** The primary keys an owned object maps to: its controller owner of `kind`. */
export const ownerKeys = (object: KubeObject, kind: string): ReadonlyArray<string> => {
  const metadata = (object as Owned).metadata
  return (metadata?.ownerReferences ?? [])
    .filter((ref) => ref.controller === true && ref.kind === kind)
    .map((ref) => `${metadata?.namespace ?? ""}/${ref.name}`)
}

/** The running controller as a layer: its fibers live in the layer's scope. */
export const make = <E, R>(
  options: ControllerOptions<E, R>
): Layer.Layer<never, never, Caches | Events | Metrics | R> =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const caches = yield* Caches
      const metrics = yield* Metrics
      const events = yield* Events
      const controller = options.name
      const forbidden = (key: string, cause: Cause.Cause<E>) =>
        Effect.gen(function* () {
          const error = Cause.findErrorOption(cause)
          if (Option.isNone(error) || (error.value as { _tag?: unknown } | null)?._tag !== "Forbidden") return
          const informer: Informer<KubeObject> = caches[options.kind]
          const object = yield* informer.get(key)
          if (Option.isNone(object)) return
          yield* events.record(informer.resource, object.value, {
            type: "Warning",
            reason: "Forbidden",
            message: `the operator's role does not allow a request this reconcile needs: ${(error.value as { message: string }).message}`
          })
        })
      yield* metrics.describe("controller_reconcile_total", "Reconciles by controller and result")
      yield* metrics.describe("controller_reconcile_seconds_total", "Time spent reconciling, by controller")
      const reconcile = (key: string) =>
        Effect.gen(function* () {
          const started = performance.now()
          const exit = yield* Effect.exit(options.reconcile(key))
          yield* metrics.increment(
            "controller_reconcile_seconds_total",
            { controller },
            (performance.now() - started) / 1000
          )
          yield* metrics.increment("controller_reconcile_total", {
            controller,
            result: exit._tag === "Success" ? (exit.value === undefined ? "success" : "requeue_after") : "error"
          })
          if (exit._tag === "Failure") yield* forbidden(key, exit.cause)
          return yield* exit
        }).pipe(
          Effect.annotateLogs({ controller, key }),
          Effect.withSpan(`reconcile ${controller}`, { attributes: { key } })
        )

      const queue = yield* makeWorkQueue({
        workers: options.workers ?? 2,
        reconcile,
        ...(options.shutdownTimeout === undefined ? {} : { shutdownTimeout: options.shutdownTimeout })
      })
      yield* metrics.gauge(
        "workqueue_depth",
        "Keys waiting for a worker",
        Effect.map(queue.pending, (n) => [[{ name: controller }, n]])
      )

      yield* caches.synced
      const primary = caches[options.kind]
      const primaryKind = primary.resource.kind
      yield* primary.subscribe((event) => queue.add(event.key))
      for (const owned of options.owns ?? []) {
        yield* caches[owned].subscribe((event) =>
          Effect.forEach(ownerKeys(event.object, primaryKind), queue.add, { discard: true })
        )
      }
      for (const watch of options.watches ?? []) {
        yield* caches[watch.kind].subscribe((event) =>
          Effect.flatMap(watch.map(event.object, caches), (keys) => Effect.forEach(keys, queue.add, { discard: true }))
        )
      }
      yield* Effect.logInfo("controller started", { controller })
    })
  )
