/**
 * The `scale` subresource of Deployments and ReplicaSets (`autoscaling/v1` `Scale`), what `kubectl scale`
 * reads and patches: `spec.replicas` maps to the object's `spec.replicas`, `status.replicas` and
 * `status.selector` (the label selector as a string) come from the object.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { type ApiStatusError, badRequest, unsupportedMediaType } from "./ApiStatus.ts"
import type { FakeClusterService, ResourceRef } from "./FakeCluster.ts"
import { jsonPatch, mergePatch, strategicMergePatch } from "./patches.ts"
import type { ServedKind } from "./resources.ts"
import { isRecord, type StoredObject } from "./StoredObject.ts"

/** True for the kinds that serve `…/scale`. */
export const servesScale = (type: ServedKind): boolean =>
  type.group === "apps" && (type.plural === "deployments" || type.plural === "replicasets")

/** The discovery entry of a kind's scale subresource. */
export const scaleDiscovery = (type: ServedKind) => ({
  name: `${type.plural}/scale`,
  singularName: "",
  namespaced: type.namespaced,
  group: "autoscaling",
  version: "v1",
  kind: "Scale",
  verbs: ["get", "patch", "update"]
})

const selectorOf = (object: StoredObject): string => {
  const spec = isRecord(object.spec) ? object.spec : {}
  const selector = isRecord(spec.selector) ? spec.selector : {}
  const labels = isRecord(selector.matchLabels) ? selector.matchLabels : {}
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${String(value)}`)
    .join(",")
}

/** The `Scale` view of an object. */
export const scaleOf = (object: StoredObject) => {
  const spec = isRecord(object.spec) ? object.spec : {}
  const status = isRecord(object.status) ? object.status : {}
  const { name, namespace, uid, resourceVersion, creationTimestamp } = object.metadata
  return {
    kind: "Scale",
    apiVersion: "autoscaling/v1",
    metadata: { name, namespace, uid, resourceVersion, creationTimestamp },
    spec: { replicas: typeof spec.replicas === "number" ? spec.replicas : 0 },
    status: { replicas: typeof status.replicas === "number" ? status.replicas : 0, selector: selectorOf(object) }
  }
}

const replicasIn = (scale: unknown): Effect.Effect<number, ApiStatusError> => {
  const spec = isRecord(scale) && isRecord(scale.spec) ? scale.spec : {}
  const replicas = spec.replicas
  return typeof replicas === "number" && Number.isInteger(replicas) && replicas >= 0
    ? Effect.succeed(replicas)
    : Effect.fail(badRequest("Scale: spec.replicas must be a non-negative integer"))
}

/** GET, PATCH or PUT of `…/scale`; `body` is the request body, `contentType` its media type. */
export const handleScale = (
  cluster: FakeClusterService,
  type: ServedKind,
  ref: ResourceRef,
  name: string,
  method: string,
  contentType: string,
  body: unknown
): Effect.Effect<unknown, ApiStatusError> =>
  Effect.gen(function* () {
    const object = yield* cluster.get(ref, name)
    if (method === "GET") return scaleOf(object)
    const current = scaleOf(object)
    let next: unknown
    if (method === "PUT") next = body
    else if (contentType === "application/merge-patch+json") next = mergePatch(current, body)
    else if (contentType === "application/strategic-merge-patch+json") next = strategicMergePatch(current, body)
    else if (contentType === "application/json-patch+json") {
      next = jsonPatch(current, body, { group: "autoscaling", plural: `${type.plural}/scale`, kind: "Scale" }, name)
    } else return yield* unsupportedMediaType(`"${contentType}"`)
    const replicas = yield* replicasIn(next)
    const updated = yield* cluster.mergePatch(ref, name, { spec: { replicas } })
    return scaleOf(updated)
  })
