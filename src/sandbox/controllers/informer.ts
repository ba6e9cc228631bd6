/**
 * The plumbing every sandbox controller shares, shaped like client-go's: a reflector per watched kind whose
 * events are turned into work-queue keys, a work queue whose workers reconcile one key at a time, and small
 * readers of object metadata (controller owner, Pod readiness, label selectors).
 *
 * Controllers read their informers' caches only to decide *which* keys to reconcile; the reconcile itself
 * reads the objects live from the API server. That removes the "expectations" bookkeeping client-go needs
 * to avoid acting on a cache that has not yet seen its own writes, at the price of a GET and a LIST per
 * reconcile, which on a one-machine sandbox is nothing.
 *
 * @since 0.1.0
 */
import { Context, Data, Duration, Effect, Option, Schedule, type Scope, Stream } from "effect"
import type { KubeError } from "../../kube/errors.ts"
import { KubeApi } from "../../kube/KubeApi.ts"
import { makeReflector, type Reflector, type ReflectorCache, type ReflectorEvent } from "../../kube/Reflector.ts"
import type { KubeObject, Resource } from "../../kube/resources.ts"
import { makeWorkQueue, type Reconciled, type WorkQueue } from "../../kube/WorkQueue.ts"
import { Kinds, type LabelSelector, type Pod } from "./kinds.ts"

/** A running controller: `synced` completes once its informers have listed everything. */
export interface RunningController {
  readonly synced: Effect.Effect<void>
}

/** Retries of a failed reconcile: fast at first (a 409 usually clears at once), never slower than 5 s. */
export const controllerBackoff: Schedule.Schedule<unknown, unknown> = Schedule.min([
  Schedule.exponential("50 millis").pipe(Schedule.jittered),
  Schedule.spaced("5 seconds")
])

/** Starts a work queue with the controllers' retry policy; its logs say which controller they come from. */
export const startQueue = <E>(
  controller: string,
  reconcile: (key: string) => Effect.Effect<Reconciled, E, KubeApi>,
  workers = 2
): Effect.Effect<WorkQueue, never, KubeApi | Scope.Scope> =>
  makeWorkQueue({ workers, reconcile, backoff: controllerBackoff, shutdownTimeout: "2 seconds" }).pipe(
    Effect.annotateLogs({ controller })
  )

/** A bug: two controllers registered the same kind with different Schemas (they must share one descriptor). */
export class InformerSchemaMismatch extends Data.TaggedError("InformerSchemaMismatch")<{ readonly kind: string }> {
  override get message(): string {
    return `two Schemas registered for ${this.kind}: controllers must share one descriptor per kind`
  }
}

interface SharedReflector {
  readonly resource: Resource<KubeObject>
  readonly reflector: Reflector<KubeObject>
  readonly handlers: Array<(event: ReflectorEvent<KubeObject>) => Effect.Effect<void>>
}

/**
 * One reflector per kind for all the sandbox's controllers, like client-go's shared informer factory: a Pod
 * change is listed, watched and decoded once, then handed to every controller that watches Pods. Controllers
 * register with `startInformer` while they start; `run` then starts every reflector in the current scope.
 */
export class SharedInformers extends Context.Service<
  SharedInformers,
  {
    readonly register: <A extends KubeObject>(
      resource: Resource<A>,
      onEvent: (event: ReflectorEvent<A>) => Effect.Effect<void>
    ) => Effect.Effect<ReflectorCache<A>>
    readonly run: Effect.Effect<void, never, KubeApi | Scope.Scope>
  }
>()("cloudnative-mysql/sandbox/SharedInformers") {
  static readonly make = Effect.sync(() => {
    const shared = new Map<string, SharedReflector>()
    return SharedInformers.of({
      register: <A extends KubeObject>(
        resource: Resource<A>,
        onEvent: (event: ReflectorEvent<A>) => Effect.Effect<void>
      ) =>
        Effect.gen(function* () {
          const key = `${resource.group}/${resource.plural}`
          let entry = shared.get(key)
          if (entry === undefined) {
            // the map holds every kind; each entry's events and cache are of the one Schema it was made with
            const reflector = (yield* makeReflector({ resource })) as unknown as Reflector<KubeObject>
            entry = { resource: resource as unknown as Resource<KubeObject>, reflector, handlers: [] }
            shared.set(key, entry)
          } else if (entry.resource.schema !== resource.schema) {
            return yield* Effect.die(new InformerSchemaMismatch({ kind: key }))
          }
          entry.handlers.push(onEvent as unknown as (event: ReflectorEvent<KubeObject>) => Effect.Effect<void>)
          return entry.reflector.cache as unknown as ReflectorCache<A>
        }),
      run: Effect.suspend(() =>
        Effect.forEach(
          [...shared.values()],
          (entry) =>
            Effect.forkScoped(
              Stream.runForEach(entry.reflector.events, (event) =>
                Effect.forEach(entry.handlers, (handler) => handler(event), { discard: true })
              )
            ),
          { discard: true }
        )
      )
    })
  })
}

/** Registers a controller's interest in a kind with the shared informers; returns the kind's cache. */
export const startInformer = <A extends KubeObject>(
  resource: Resource<A>,
  onEvent: (event: ReflectorEvent<A>) => Effect.Effect<void>
): Effect.Effect<ReflectorCache<A>, never, SharedInformers> =>
  Effect.flatMap(SharedInformers, (informers) => informers.register(resource, onEvent))

/** An owner reference as the controllers read it. */
export interface OwnerRef {
  readonly apiVersion: string
  readonly kind: string
  readonly name: string
  readonly uid: string
  readonly controller?: boolean | undefined
  readonly blockOwnerDeletion?: boolean | undefined
}

/** The owner reference with `controller: true`, if any. */
export const controllerOf = (object: KubeObject): OwnerRef | undefined => {
  const refs = (object.metadata as { readonly ownerReferences?: ReadonlyArray<OwnerRef> } | undefined)?.ownerReferences
  return refs?.find((ref) => ref.controller === true)
}

/** The work-queue key of an object's controller of the given kind (same namespace), if it has one. */
export const controllerKey = (object: KubeObject, kind: string): Option.Option<string> => {
  const owner = controllerOf(object)
  const namespace = object.metadata?.namespace
  return owner === undefined || owner.kind !== kind || namespace === undefined
    ? Option.none()
    : Option.some(`${namespace}/${owner.name}`)
}

/**
 * The informers of a controller of `owners` that also reconciles an owner when an object it controls changes
 * (a Job when one of its Pods does): an event of either kind queues the owner's key. Returns the owned kind's
 * cache (the Deployment controller finds its ReplicaSets in it) and when both have synced.
 */
export const startOwnerInformers = <A extends KubeObject, B extends KubeObject>(
  queue: WorkQueue,
  owners: Resource<A>,
  owned: Resource<B>
): Effect.Effect<{ readonly owned: ReflectorCache<B>; readonly synced: Effect.Effect<void> }, never, SharedInformers> =>
  Effect.gen(function* () {
    const ownerCache = yield* startInformer(owners, (event) => queue.add(event.key))
    const ownedCache = yield* startInformer(owned, (event) =>
      Option.match(controllerKey(event.object, owners.kind), { onNone: () => Effect.void, onSome: queue.add })
    )
    return { owned: ownedCache, synced: Effect.andThen(ownerCache.synced, ownedCache.synced) }
  })

/** An owner reference making `owner` the controller of a new object. */
export const controllerReference = (
  apiVersion: string,
  kind: string,
  owner: KubeObject
): OwnerRef & { readonly controller: boolean; readonly blockOwnerDeletion: boolean } => ({
  apiVersion,
  kind,
  name: owner.metadata?.name ?? "",
  uid: owner.metadata?.uid ?? "",
  controller: true,
  blockOwnerDeletion: true
})

/** True when `object`'s controller is exactly `owner` (by uid). */
export const isControlledBy = (object: KubeObject, owner: KubeObject): boolean =>
  controllerOf(object)?.uid === owner.metadata?.uid

/** `metadata.deletionTimestamp` is set: the object is being deleted. */
export const isDeleting = (object: KubeObject): boolean =>
  typeof (object.metadata as { readonly deletionTimestamp?: unknown } | undefined)?.deletionTimestamp === "string"

/** A Pod that has run to completion (`Succeeded` or `Failed`): it will not run again. */
export const isTerminal = (pod: Pod): boolean => pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed"

/** A Pod that counts as running for its controller: not terminal and not being deleted. */
export const isActive = (pod: Pod): boolean => !isTerminal(pod) && !isDeleting(pod)

/** The Pod's `Ready` condition is `True`. */
export const isReady = (pod: Pod): boolean =>
  pod.status?.conditions?.some((condition) => condition.type === "Ready" && condition.status === "True") ?? false

/** When the Pod's `Ready` condition last became `True` (ms), if it is ready. */
export const readySince = (pod: Pod): number | undefined => {
  const ready = pod.status?.conditions?.find((condition) => condition.type === "Ready" && condition.status === "True")
  if (ready === undefined) return undefined
  const since = typeof ready.lastTransitionTime === "string" ? Date.parse(ready.lastTransitionTime) : Number.NaN
  return Number.isNaN(since) ? 0 : since
}

/** A `metav1.LabelSelector` as the `labelSelector` query string (equality and set-based forms). */
export const selectorString = (selector: LabelSelector | undefined): string => {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([key, value]) => `${key}=${value}`)
  for (const expression of selector?.matchExpressions ?? []) {
    const values = (expression.values ?? []).join(",")
    if (expression.operator === "In") parts.push(`${expression.key} in (${values})`)
    else if (expression.operator === "NotIn") parts.push(`${expression.key} notin (${values})`)
    else if (expression.operator === "Exists") parts.push(expression.key)
    else if (expression.operator === "DoesNotExist") parts.push(`!${expression.key}`)
  }
  return parts.join(",")
}

/** True when `labels` satisfy the selector's `matchLabels` (the form every selector here uses). */
export const matchesSelector = (
  selector: { readonly [key: string]: string } | undefined,
  labels: { readonly [key: string]: string } | undefined
): boolean =>
  selector !== undefined &&
  Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([key, value]) => labels?.[key] === value)

/** Swallows `NotFound` (the object is already gone), keeping every other error for the work queue's retry. */
export const ignoreNotFound = <A, R>(
  effect: Effect.Effect<A, KubeError, R>
): Effect.Effect<A | undefined, KubeError, R> => Effect.catchTag(effect, "NotFound", () => Effect.succeed(undefined))

/** How long a controller waits before trying again to create a Pod the API server refused. */
export const refusedCreateRetry = Duration.seconds(10)

/**
 * Creates a Pod; a refusal (422 Invalid, 403 Forbidden, 400) is not an API hiccup to retry at once but a
 * template problem: it is reported as the real controllers report it (a Warning `FailedCreate` Event,
 * "Error creating: …") and `undefined` comes back, so the caller looks again after `refusedCreateRetry`.
 */
export const createPodOrReport = (
  pod: Pod,
  report: (message: string) => Effect.Effect<void>
): Effect.Effect<Pod | undefined, KubeError, KubeApi> =>
  Effect.flatMap(KubeApi, (api) =>
    api.create(Kinds.pods, pod).pipe(
      Effect.map((created): Pod | undefined => created),
      Effect.catchTags({
        Invalid: (error) => Effect.as(report(`Error creating: ${error.detail}`), undefined),
        Forbidden: (error) => Effect.as(report(`Error creating: ${error.detail}`), undefined)
      })
    )
  )
