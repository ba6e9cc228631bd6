/**
 * `KubeApi`: the operator's one door to the Kubernetes API. Generic over a `Resource` descriptor, so the same
 * eight verbs serve our custom resources and the built-in kinds, and every object that comes out has been
 * decoded with the kind's Schema.
 *
 * Two implementations share the typed part (`fromRaw`): the live one over `@kubernetes/client-node`
 * (`KubeApi.layer`, `KubeApi.layerKubeConfig`) and the in-memory one on the fake control plane
 * (`src/sandbox/KubeApiFake.ts`). Only the raw, JSON-in/JSON-out part differs.
 *
 * @since 0.1.0
 */
import type { KubeConfig } from "@kubernetes/client-node"
import { Context, Effect, Layer, Schema, Stream } from "effect"
import { makeClientNodeRaw } from "./clientNode.ts"
import { type KubeConfigMissing, type KubeError, MalformedObject } from "./errors.ts"
import { loadKubeConfig } from "./kubeConfig.ts"
import {
  apiVersionOf,
  describeRequest,
  type KubeObject,
  type ObjectRef,
  type Resource,
  type ResourceType
} from "./resources.ts"

export type { ObjectRef } from "./resources.ts"

/** A list response: the items and the collection's resourceVersion (where a watch continues from). */
export interface ObjectList<A> {
  readonly items: ReadonlyArray<A>
  readonly resourceVersion: string
}

/** Filters for list and watch. Label selectors support equality and set-based syntax, as the server does. */
export interface ListOptions {
  /** Omit to list across all namespaces. */
  readonly namespace?: string | undefined
  readonly labelSelector?: string | undefined
  readonly fieldSelector?: string | undefined
}

/** Watch parameters. */
export interface WatchOptions extends ListOptions {
  /** Continue after this resourceVersion; omitted means "current state as ADDED events, then changes". */
  readonly resourceVersion?: string | undefined
  /** Ask the server to close the watch cleanly after this many seconds. */
  readonly timeoutSeconds?: number | undefined
  readonly allowWatchBookmarks?: boolean | undefined
}

/** Delete parameters. Jobs need an explicit policy: without one the server orphans their Pods. */
export interface DeleteOptions {
  readonly propagationPolicy?: "Background" | "Foreground" | "Orphan" | undefined
  readonly preconditions?: { readonly uid?: string; readonly resourceVersion?: string } | undefined
}

/** An RFC 7386 JSON merge patch (`application/merge-patch+json`): `null` removes a field. */
export type MergePatch = { readonly [key: string]: unknown }

/** A decoded watch event. `BOOKMARK` only moves the resourceVersion forward. */
export type WatchEvent<A> =
  | { readonly type: "ADDED" | "MODIFIED" | "DELETED"; readonly object: A }
  | { readonly type: "BOOKMARK"; readonly resourceVersion: string }

/** A watch event before decoding, as it comes off the wire (ERROR events are already turned into failures). */
export interface RawWatchEvent {
  readonly type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK"
  readonly object: unknown
}

/**
 * The JSON-level API an implementation provides. `resource` is passed for paths and error messages only;
 * bodies are plain JSON.
 */
export interface RawKubeApi {
  readonly get: (resource: ResourceType, ref: ObjectRef) => Effect.Effect<unknown, KubeError>
  readonly list: (
    resource: ResourceType,
    options: ListOptions
  ) => Effect.Effect<{ readonly items: ReadonlyArray<unknown>; readonly resourceVersion: string }, KubeError>
  readonly create: (
    resource: ResourceType,
    namespace: string | undefined,
    body: unknown
  ) => Effect.Effect<unknown, KubeError>
  readonly replace: (resource: ResourceType, ref: ObjectRef, body: unknown) => Effect.Effect<unknown, KubeError>
  readonly patch: (
    resource: ResourceType,
    ref: ObjectRef,
    patch: MergePatch,
    subresource: "status" | undefined
  ) => Effect.Effect<unknown, KubeError>
  readonly delete: (resource: ResourceType, ref: ObjectRef, options: DeleteOptions) => Effect.Effect<void, KubeError>
  readonly watch: (resource: ResourceType, options: WatchOptions) => Stream.Stream<RawWatchEvent, KubeError>
}

/** The typed API the controllers use. */
export interface KubeApiService {
  /** Reads one object. */
  readonly get: <A extends KubeObject>(resource: Resource<A>, ref: ObjectRef) => Effect.Effect<A, KubeError>
  /** Lists objects. Items the kind's Schema rejects are skipped with a warning, so one bad object cannot stall a controller. */
  readonly list: <A extends KubeObject>(
    resource: Resource<A>,
    options?: ListOptions
  ) => Effect.Effect<ObjectList<A>, KubeError>
  /** Creates an object in `metadata.namespace`; `apiVersion`/`kind` are filled in from the descriptor. */
  readonly create: <A extends KubeObject>(resource: Resource<A>, object: A) => Effect.Effect<A, KubeError>
  /** PUT: replaces the object; the server refuses with `Conflict` when `metadata.resourceVersion` is stale. */
  readonly replace: <A extends KubeObject>(resource: Resource<A>, object: A) => Effect.Effect<A, KubeError>
  /** JSON merge patch of the main resource (the server ignores `status` here when the kind has a status subresource). */
  readonly patch: <A extends KubeObject>(
    resource: Resource<A>,
    ref: ObjectRef,
    patch: MergePatch
  ) => Effect.Effect<A, KubeError>
  /** JSON merge patch through `/status`: only `status` changes. */
  readonly patchStatus: <A extends KubeObject>(
    resource: Resource<A>,
    ref: ObjectRef,
    patch: MergePatch
  ) => Effect.Effect<A, KubeError>
  /** Deletes an object (with finalizers it only gets a deletionTimestamp). */
  readonly delete: (resource: ResourceType, ref: ObjectRef, options?: DeleteOptions) => Effect.Effect<void, KubeError>
  /**
   * Watches a collection until the server or client ends the watch (the stream then completes). An ERROR event
   * fails the stream (`Gone` for an expired resourceVersion). Objects the Schema rejects are skipped with a warning.
   */
  readonly watch: <A extends KubeObject>(
    resource: Resource<A>,
    options?: WatchOptions
  ) => Stream.Stream<WatchEvent<A>, KubeError>
}

// building a decoder walks the whole schema: do it once per kind, not per object
const decoders = new WeakMap<object, (input: unknown) => Effect.Effect<unknown, Schema.SchemaError>>()
const encoders = new WeakMap<object, (input: unknown) => Effect.Effect<unknown, Schema.SchemaError>>()

const decoderFor = <A extends KubeObject>(resource: Resource<A>) => {
  let decode = decoders.get(resource.schema)
  if (decode === undefined) {
    decode = Schema.decodeUnknownEffect(resource.schema)
    decoders.set(resource.schema, decode)
  }
  return decode as (input: unknown) => Effect.Effect<A, Schema.SchemaError>
}

const encoderFor = <A extends KubeObject>(resource: Resource<A>) => {
  let encode = encoders.get(resource.schema)
  if (encode === undefined) {
    encode = Schema.encodeUnknownEffect(resource.schema)
    encoders.set(resource.schema, encode)
  }
  return encode
}

const nameOf = (object: unknown): Partial<ObjectRef> => {
  const metadata = (object as KubeObject | null)?.metadata
  return { namespace: metadata?.namespace, name: metadata?.name ?? metadata?.generateName ?? "" }
}

const decodeOne = <A extends KubeObject>(resource: Resource<A>, verb: string, object: unknown) =>
  decoderFor(resource)(object).pipe(
    Effect.mapError(
      (error) =>
        new MalformedObject({ request: describeRequest(verb, resource, nameOf(object)), detail: error.message })
    )
  )

const encodeOne = <A extends KubeObject>(resource: Resource<A>, verb: string, object: A) =>
  encoderFor(resource)(object).pipe(
    Effect.map((encoded) => ({ ...(encoded as object), apiVersion: apiVersionOf(resource), kind: resource.kind })),
    Effect.mapError(
      (error) =>
        new MalformedObject({ request: describeRequest(verb, resource, nameOf(object)), detail: error.message })
    )
  )

/** Decodes what may fail to decode; `undefined` (after a warning) for an object the Schema rejects. */
const decodeOrSkip = <A extends KubeObject>(resource: Resource<A>, verb: string, object: unknown) =>
  decodeOne(resource, verb, object).pipe(
    Effect.catchTag("MalformedObject", (error) =>
      Effect.as(Effect.logWarning("skipping object the schema rejects", { error: error.message }), undefined)
    )
  )

const refOf = (object: KubeObject): ObjectRef => ({
  namespace: object.metadata?.namespace,
  name: object.metadata?.name ?? ""
})

/** Builds the typed API over a JSON-level implementation. */
export const fromRaw = (raw: RawKubeApi): KubeApiService => ({
  get: Effect.fn("KubeApi.get")(function* <A extends KubeObject>(resource: Resource<A>, ref: ObjectRef) {
    const object = yield* raw.get(resource, ref)
    return yield* decodeOne(resource, "GET", object)
  }),
  list: Effect.fn("KubeApi.list")(function* <A extends KubeObject>(resource: Resource<A>, options?: ListOptions) {
    const list = yield* raw.list(resource, options ?? {})
    const items: Array<A> = []
    for (const item of list.items) {
      const decoded = yield* decodeOrSkip(resource, "LIST", item)
      if (decoded !== undefined) items.push(decoded)
    }
    return { items, resourceVersion: list.resourceVersion }
  }),
  create: Effect.fn("KubeApi.create")(function* <A extends KubeObject>(resource: Resource<A>, object: A) {
    const body = yield* encodeOne(resource, "POST", object)
    const created = yield* raw.create(resource, object.metadata?.namespace, body)
    return yield* decodeOne(resource, "POST", created)
  }),
  replace: Effect.fn("KubeApi.replace")(function* <A extends KubeObject>(resource: Resource<A>, object: A) {
    const body = yield* encodeOne(resource, "PUT", object)
    const replaced = yield* raw.replace(resource, refOf(object), body)
    return yield* decodeOne(resource, "PUT", replaced)
  }),
  patch: Effect.fn("KubeApi.patch")(function* <A extends KubeObject>(
    resource: Resource<A>,
    ref: ObjectRef,
    patch: MergePatch
  ) {
    const patched = yield* raw.patch(resource, ref, patch, undefined)
    return yield* decodeOne(resource, "PATCH", patched)
  }),
  patchStatus: Effect.fn("KubeApi.patchStatus")(function* <A extends KubeObject>(
    resource: Resource<A>,
    ref: ObjectRef,
    patch: MergePatch
  ) {
    const patched = yield* raw.patch(resource, ref, patch, "status")
    return yield* decodeOne(resource, "PATCH", patched)
  }),
  delete: Effect.fn("KubeApi.delete")(function* (resource: ResourceType, ref: ObjectRef, options?: DeleteOptions) {
    yield* raw.delete(resource, ref, options ?? {})
  }),
  watch: <A extends KubeObject>(resource: Resource<A>, options?: WatchOptions) =>
    raw.watch(resource, options ?? {}).pipe(
      Stream.mapEffect((event): Effect.Effect<WatchEvent<A> | undefined> => {
        const type = event.type
        if (type === "BOOKMARK") return Effect.succeed({ type, resourceVersion: bookmarkVersion(event.object) })
        return Effect.map(decodeOrSkip(resource, "WATCH", event.object), (object) =>
          object === undefined ? undefined : { type, object }
        )
      }),
      Stream.filter((event): event is WatchEvent<A> => event !== undefined)
    )
})

const bookmarkVersion = (object: unknown): string => (object as KubeObject | null)?.metadata?.resourceVersion ?? ""

/** The Kubernetes API, decoded and typed. */
export class KubeApi extends Context.Service<KubeApi, KubeApiService>()("cloudnative-mysql/KubeApi") {
  /**
   * Live layer: in-cluster service account, `KUBECONFIG`, or `~/.kube/config`; fails with `KubeConfigMissing`
   * when none exists (never the silent `http://localhost:8080` of client-node's `loadFromDefault`).
   */
  static readonly layer: Layer.Layer<KubeApi, KubeConfigMissing> = Layer.effect(
    KubeApi,
    Effect.map(loadKubeConfig(), (kc) => KubeApi.of(fromRaw(makeClientNodeRaw(kc))))
  )

  /** Live layer over an explicit client-node `KubeConfig` (tests point it at the fake API server). */
  static readonly layerKubeConfig = (kc: KubeConfig): Layer.Layer<KubeApi> =>
    Layer.succeed(KubeApi, KubeApi.of(fromRaw(makeClientNodeRaw(kc))))
}
