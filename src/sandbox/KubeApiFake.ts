/**
 * `KubeApi` straight on the fake control plane's store (face A of the fake): no HTTP, no sockets, so
 * reconcile tests run in microseconds and under `TestClock`. Errors go through the same `Status` decoding as
 * the live layer, and objects through the same Schemas, so a reconcile sees what it would see over the wire.
 *
 * @since 0.1.0
 */
import { KubeConfig } from "@kubernetes/client-node"
import { Effect, Layer, Stream } from "effect"
import { fromStatus, type KubeError } from "../kube/errors.ts"
import { fromRaw, KubeApi, type RawKubeApi, type RawWatchEvent } from "../kube/KubeApi.ts"
import { describeRequest, type ObjectRef, type ResourceType } from "../kube/resources.ts"
import type { ApiStatusError } from "./ApiStatus.ts"
import { FakeApiServer, kubeconfigYaml } from "./FakeApiServer.ts"
import { FakeCluster, type FakeClusterService, type ResourceRef } from "./FakeCluster.ts"

const toRef = (resource: ResourceType, namespace: string | undefined): ResourceRef => ({
  group: resource.group,
  version: resource.version,
  plural: resource.plural,
  namespace: resource.namespaced ? namespace : undefined
})

const typed =
  (request: string) =>
  <A>(effect: Effect.Effect<A, ApiStatusError>): Effect.Effect<A, KubeError> =>
    Effect.mapError(effect, (error) => fromStatus(request, error.status.code, error.status))

/** The JSON-level API on a `FakeCluster` store. */
export const makeFakeRaw = (cluster: FakeClusterService): RawKubeApi => ({
  get: (resource, ref) =>
    cluster.get(toRef(resource, ref.namespace), ref.name).pipe(typed(describeRequest("GET", resource, ref))),
  list: (resource, options) =>
    cluster
      .list(toRef(resource, options.namespace), {
        ...(options.labelSelector === undefined ? {} : { labelSelector: options.labelSelector }),
        ...(options.fieldSelector === undefined ? {} : { fieldSelector: options.fieldSelector })
      })
      .pipe(
        Effect.map((list) => ({ items: list.items, resourceVersion: list.metadata.resourceVersion ?? "" })),
        typed(describeRequest("LIST", resource))
      ),
  create: (resource, namespace, body) =>
    cluster.create(toRef(resource, namespace), body).pipe(typed(describeRequest("POST", resource, { namespace }))),
  replace: (resource, ref: ObjectRef, body) =>
    cluster.replace(toRef(resource, ref.namespace), ref.name, body).pipe(typed(describeRequest("PUT", resource, ref))),
  patch: (resource, ref, patch, subresource) =>
    (subresource === "status"
      ? cluster.statusMergePatch(toRef(resource, ref.namespace), ref.name, patch)
      : cluster.mergePatch(toRef(resource, ref.namespace), ref.name, patch)
    ).pipe(typed(describeRequest(subresource === "status" ? "PATCH status" : "PATCH", resource, ref))),
  delete: (resource, ref, options) =>
    cluster
      .delete(toRef(resource, ref.namespace), ref.name, {
        ...(options.propagationPolicy === undefined ? {} : { propagationPolicy: options.propagationPolicy }),
        ...(options.preconditions === undefined ? {} : { preconditions: options.preconditions })
      })
      .pipe(Effect.asVoid, typed(describeRequest("DELETE", resource, ref))),
  watch: (resource, options) =>
    cluster
      .watch(toRef(resource, options.namespace), {
        ...(options.resourceVersion === undefined ? {} : { resourceVersion: options.resourceVersion }),
        ...(options.labelSelector === undefined ? {} : { labelSelector: options.labelSelector }),
        ...(options.fieldSelector === undefined ? {} : { fieldSelector: options.fieldSelector })
      })
      .pipe(
        Stream.map((event): RawWatchEvent => ({ type: event.type, object: event.object })),
        Stream.mapError((error) => fromStatus(describeRequest("WATCH", resource), error.status.code, error.status))
      )
})

/** `KubeApi` on the `FakeCluster` store in context. */
export const layerFake: Layer.Layer<KubeApi, never, FakeCluster> = Layer.effect(
  KubeApi,
  Effect.gen(function* () {
    const cluster = yield* FakeCluster
    return KubeApi.of(fromRaw(makeFakeRaw(cluster)))
  })
)

/**
 * The production client-node layer pointed at a fresh fake API server over HTTP, with the server (and its
 * store) exposed too: for tests and benchmarks of the live client, the reflector and the work queue.
 */
export const layerLiveOnFakeServer = Layer.unwrap(
  Effect.gen(function* () {
    const server = yield* FakeApiServer
    const kc = new KubeConfig()
    kc.loadFromString(kubeconfigYaml(server.url))
    return KubeApi.layerKubeConfig(kc)
  })
).pipe(Layer.provideMerge(FakeApiServer.layerTest))
