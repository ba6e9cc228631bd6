/**
 * `FakeCluster`: the in-memory Kubernetes API store behind both faces of the fake control plane (a
 * `KubeApi` layer for reconcile tests, and `FakeApiServer`, the HTTP face for client-node and `kubectl`).
 * It holds the semantics of the real API server that controllers depend on; see `Store.ts` for the rules.
 *
 * Every object is plain JSON (`StoredObject`), deep-frozen inside the store and handed out frozen: copy
 * before mutating (`structuredClone`). Every failure is an `ApiStatusError` whose `status` is the exact
 * `Status` body the real server would send (`code`, `reason`, `message`, `details.causes`).
 *
 * A resource is addressed by `ResourceRef` = `{ group, version, plural, namespace? }` (`group: ""` for core
 * v1; `namespace` omitted on a list or watch means all namespaces).
 *
 * API (all `Effect`s unless noted):
 * - `get(ref, name)` → `StoredObject`
 * - `list(ref, { labelSelector?, fieldSelector? })` → `KubeList` (`metadata.resourceVersion` = store RV)
 * - `create(ref, object, { fieldValidation? })` → created object (server-set uid, creationTimestamp, generation, resourceVersion;
 *   `generateName` honoured; defaults applied; validated)
 * - `replace(ref, name, object)` / `replaceStatus(ref, name, object)` → PUT on the object / on `/status`
 * - `mergePatch(ref, name, patch)` / `statusMergePatch(ref, name, patch)` → RFC 7386 merge patch
 * - `jsonPatch(ref, name, ops, { subresource? })` → RFC 6902 JSON patch
 * - `strategicMergePatch(ref, name, patch, { subresource? })` → built-ins only (415 for custom resources)
 * - every write takes `{ fieldValidation: "Strict" }` optionally: unknown fields of a custom resource are
 *   then a 400 instead of being pruned (what `kubectl apply` asks for)
 * - `delete(ref, name, { propagationPolicy?, preconditions? })` → `{ deleted, object }`: `deleted: false`
 *   means the object stays with `deletionTimestamp` set until its finalizers are gone
 * - `watch(ref, { resourceVersion?, labelSelector?, fieldSelector? })` → `Stream<StoreWatchEvent, ApiStatusError>`:
 *   ADDED/MODIFIED/DELETED in resourceVersion order; no RV or "0" starts with synthetic ADDEDs; an RV
 *   replays retained history after it; an RV older than the history fails the stream with a 410 `Expired`;
 *   the stream ends when `dropWatches` runs
 * - `resource(ref)` → the `ServedKind` (kind, scope, subresources, printer columns), 404 if unknown
 * - `resources` → every served `ServedKind` (for discovery)
 * - test hooks: `gc` (one garbage-collector pass to a fixed point), `jobs` (Job simulator: `start`, then
 *   `finish` with `succeeded` or `failed`), `faults` (`failNextWrite`, `dropWatches`, `compact`, `stall`/`resume`),
 *   `audit` (every request: verb, resource, namespace, name, subresource, outcome code), `resourceVersion`
 *   (the store-wide counter)
 *
 * `FakeCluster.layer` loads the CRDs from `deploy/crds/*.yaml`; `FakeCluster.layerWith(options)` takes
 * other CRD files, a history window, or extra CRDs as objects.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Latch, Layer, Random, Stream } from "effect"
import * as Queue from "effect/Queue"
import { ApiStatusError } from "./ApiStatus.ts"
import { crdTypes, defaultCrdFiles, loadCrdFiles } from "./crdFiles.ts"
import { collectGarbage } from "./garbageCollector.ts"
import { finishJob, type JobOutcome, startJob } from "./jobSimulator.ts"
import type { ServedKind } from "./resources.ts"
import {
  type AuditEntry,
  type DeleteResult,
  type FaultCode,
  type JsonPatchOperation,
  type ResourceRef,
  Store,
  type StoreDeleteOptions,
  type StoreListOptions,
  type StoreOptions,
  type StoreWatchEvent,
  type StoreWatchOptions,
  type WriteFault,
  type WriteOptions
} from "./Store.ts"
import type { KubeList, StoredObject } from "./StoredObject.ts"

export type {
  AuditEntry,
  DeleteResult,
  FaultCode,
  JobOutcome,
  JsonPatchOperation,
  ResourceRef,
  StoreDeleteOptions,
  StoreListOptions,
  StoreWatchEvent,
  StoreWatchOptions,
  WriteFault,
  WriteOptions
}

/** Which part of an object a write targets. */
export type Subresource = "" | "status"

/** Options of a JSON or strategic merge patch. */
export interface PatchOptions extends WriteOptions {
  readonly subresource?: Subresource
}

/** The fake API server's store. */
export interface FakeClusterService {
  readonly resources: Effect.Effect<ReadonlyArray<ServedKind>>
  readonly resource: (ref: ResourceRef) => Effect.Effect<ServedKind, ApiStatusError>
  readonly get: (ref: ResourceRef, name: string) => Effect.Effect<StoredObject, ApiStatusError>
  readonly list: (ref: ResourceRef, options?: StoreListOptions) => Effect.Effect<KubeList, ApiStatusError>
  readonly create: (
    ref: ResourceRef,
    object: unknown,
    options?: WriteOptions
  ) => Effect.Effect<StoredObject, ApiStatusError>
  readonly replace: (
    ref: ResourceRef,
    name: string,
    object: unknown,
    options?: WriteOptions
  ) => Effect.Effect<StoredObject, ApiStatusError>
  readonly replaceStatus: (
    ref: ResourceRef,
    name: string,
    object: unknown,
    options?: WriteOptions
  ) => Effect.Effect<StoredObject, ApiStatusError>
  readonly mergePatch: (
    ref: ResourceRef,
    name: string,
    patch: unknown,
    options?: WriteOptions
  ) => Effect.Effect<StoredObject, ApiStatusError>
  readonly statusMergePatch: (
    ref: ResourceRef,
    name: string,
    patch: unknown,
    options?: WriteOptions
  ) => Effect.Effect<StoredObject, ApiStatusError>
  readonly jsonPatch: (
    ref: ResourceRef,
    name: string,
    operations: unknown,
    options?: PatchOptions
  ) => Effect.Effect<StoredObject, ApiStatusError>
  readonly strategicMergePatch: (
    ref: ResourceRef,
    name: string,
    patch: unknown,
    options?: PatchOptions
  ) => Effect.Effect<StoredObject, ApiStatusError>
  readonly delete: (
    ref: ResourceRef,
    name: string,
    options?: StoreDeleteOptions
  ) => Effect.Effect<DeleteResult, ApiStatusError>
  readonly watch: (ref: ResourceRef, options?: StoreWatchOptions) => Stream.Stream<StoreWatchEvent, ApiStatusError>
  /** The store-wide resourceVersion counter (the RV of the latest write). */
  readonly resourceVersion: Effect.Effect<string>
  /**
   * One garbage-collector pass run to a fixed point: orphan and foreground finalizers processed,
   * dependents of deleted owners deleted. Returns how many writes it made.
   */
  readonly gc: Effect.Effect<number>
  /** Job simulator: the kube-controller-manager's Job controller, driven by the test. */
  readonly jobs: {
    /** Marks the Job started (`startTime`, `active: 1`) and creates its Pod (Pending → Running). */
    readonly start: (namespace: string, name: string) => Effect.Effect<StoredObject, ApiStatusError>
    /** Finishes the Job's Pod and sets the terminal condition (`Complete` or `Failed`). */
    readonly finish: (
      namespace: string,
      name: string,
      outcome: JobOutcome
    ) => Effect.Effect<StoredObject, ApiStatusError>
  }
  readonly faults: {
    /** The next matching write (create, replace, patch, delete) fails with this code instead of running. */
    readonly failNextWrite: (fault: WriteFault) => Effect.Effect<void>
    /** Ends every open watch stream, as a server restart or load-balancer reset would. */
    readonly dropWatches: Effect.Effect<void>
    /** Forgets the watch history: a watch from any older resourceVersion now gets 410 `Expired`. */
    readonly compact: Effect.Effect<void>
    /** Holds every new request (and watch start) until `resume`. */
    readonly stall: Effect.Effect<void>
    readonly resume: Effect.Effect<void>
  }
  /**
   * Every API request so far, oldest first (the last 10,000 at least). Writes made by the simulated
   * controllers (`gc`, `jobs`) are not requests and are not listed.
   */
  readonly audit: Effect.Effect<ReadonlyArray<AuditEntry>>
  readonly clearAudit: Effect.Effect<void>
}

/** Options of `FakeCluster.layerWith`. */
export interface FakeClusterOptions extends Omit<StoreOptions, "customTypes" | "random"> {
  /** CRD YAML files to serve (default: every `deploy/crds/*.yaml` except kustomization files). */
  readonly crdFiles?: ReadonlyArray<string>
  /** Extra CRD objects (`apiextensions.k8s.io/v1`) to serve as well. */
  readonly crds?: ReadonlyArray<unknown>
}

const make = (options: FakeClusterOptions) =>
  Effect.gen(function* () {
    const files = options.crdFiles ?? (yield* defaultCrdFiles)
    const crds = [...(yield* loadCrdFiles(files)), ...(options.crds ?? [])]
    const random = yield* Random.Random
    const store = new Store({
      ...options,
      customTypes: crds.flatMap(crdTypes),
      random: () => random.nextDoubleUnsafe()
    })
    const running = yield* Latch.make(true)

    const now = Clock.currentTimeMillis
    /** Waits while stalled, then runs a store call with the current (test) clock. */
    const call = <A>(f: (nowMillis: number) => A): Effect.Effect<A, ApiStatusError> =>
      running.await.pipe(
        Effect.andThen(now),
        Effect.flatMap((millis) => {
          try {
            return Effect.succeed(f(millis))
          } catch (error) {
            // Store rules throw ApiStatusError; anything else is a bug in the fake and must surface as a defect.
            return error instanceof ApiStatusError ? Effect.fail(error) : Effect.die(error)
          }
        })
      )

    const watch = (
      ref: ResourceRef,
      watchOptions: StoreWatchOptions = {}
    ): Stream.Stream<StoreWatchEvent, ApiStatusError> =>
      Stream.callback<StoreWatchEvent, ApiStatusError>((queue) =>
        Effect.acquireRelease(
          call(() =>
            store.watch(ref, watchOptions, {
              onEvent: (event) => {
                Queue.offerUnsafe(queue, event)
              },
              onClose: () => {
                Queue.endUnsafe(queue)
              }
            })
          ),
          (unsubscribe) => Effect.sync(unsubscribe)
        )
      )

    return FakeCluster.of({
      resources: Effect.sync(() => store.resourceTypes()),
      resource: (ref) => call(() => store.resourceType(ref)),
      get: (ref, name) => call(() => store.get(ref, name)),
      list: (ref, listOptions) => call(() => store.list(ref, listOptions ?? {})),
      create: (ref, object, options) => call((millis) => store.create(ref, object, millis, options)),
      replace: (ref, name, object, options) => call(() => store.replace(ref, name, object, "", options)),
      replaceStatus: (ref, name, object, options) => call(() => store.replace(ref, name, object, "status", options)),
      mergePatch: (ref, name, patch, options) => call(() => store.patch(ref, name, "merge", patch, "", options)),
      statusMergePatch: (ref, name, patch, options) =>
        call(() => store.patch(ref, name, "merge", patch, "status", options)),
      jsonPatch: (ref, name, operations, options) =>
        call(() => store.patch(ref, name, "json", operations, options?.subresource ?? "", options)),
      strategicMergePatch: (ref, name, patch, options) =>
        call(() => store.patch(ref, name, "strategic", patch, options?.subresource ?? "", options)),
      delete: (ref, name, deleteOptions) => call((millis) => store.delete(ref, name, deleteOptions ?? {}, millis)),
      watch,
      resourceVersion: Effect.sync(() => String(store.currentResourceVersion())),
      gc: Effect.flatMap(now, (millis) => Effect.sync(() => collectGarbage(store, millis))),
      jobs: {
        start: (namespace, name) => call((millis) => startJob(store, namespace, name, millis)),
        finish: (namespace, name, outcome) => call((millis) => finishJob(store, namespace, name, outcome, millis))
      },
      faults: {
        failNextWrite: (fault) => Effect.sync(() => store.failNextWrite(fault)),
        dropWatches: Effect.sync(() => store.dropWatches()),
        compact: Effect.sync(() => store.compact()),
        stall: Effect.asVoid(running.close),
        resume: Effect.asVoid(running.open)
      },
      audit: Effect.sync(() => store.auditLog()),
      clearAudit: Effect.sync(() => store.clearAudit())
    })
  })

/** The fake API server's store (see the module comment for the API). */
export class FakeCluster extends Context.Service<FakeCluster, FakeClusterService>()(
  "cloudnative-mysql/sandbox/FakeCluster"
) {
  /** A store serving the built-in kinds and the CRDs in `deploy/crds`. */
  static readonly layer: Layer.Layer<FakeCluster> = Layer.effect(FakeCluster, make({}))
  /** A store with other CRD files, a different history window, or extra CRD objects. */
  static readonly layerWith = (options: FakeClusterOptions): Layer.Layer<FakeCluster> =>
    Layer.effect(FakeCluster, make(options))
}
