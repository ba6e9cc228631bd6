/**
 * The one status write of a reconcile: `writeStatus` compares the status a reconciler computed with the one it
 * observed and, only when they differ, sends a JSON merge patch of the difference to `/status` carrying the
 * observed `resourceVersion`. The lock makes a write computed from a stale read fail with `Conflict` (the work
 * queue then reconciles again from fresh state) instead of overwriting a newer status, e.g. a backup id another
 * controller replica already assigned. An unchanged status costs no request.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type { KubeError } from "../kube/errors.ts"
import { KubeApi, type MergePatch } from "../kube/KubeApi.ts"
import type { KubeObject, Resource } from "../kube/resources.ts"

type Json = unknown

const isPlainObject = (value: Json): value is Record<string, Json> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** Structural equality of JSON values (objects by keys, arrays by position); `undefined` keys count as absent. */
export const jsonEqual = (a: Json, b: Json): boolean => {
  if (a === b) return true
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]))
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)])
    for (const key of keys) if (!jsonEqual(a[key], b[key])) return false
    return true
  }
  return false
}

/**
 * The RFC 7386 merge patch that turns `from` into `to`: changed keys, `null` for removed ones, arrays whole.
 * `undefined` when they are equal.
 */
export const mergePatchBetween = (from: Json, to: Json): Json | undefined => {
  if (jsonEqual(from, to)) return undefined
  if (!isPlainObject(from) || !isPlainObject(to)) return to === undefined ? null : to
  const patch: Record<string, Json> = {}
  for (const key of new Set([...Object.keys(from), ...Object.keys(to)])) {
    const next = to[key]
    if (next === undefined) {
      if (from[key] !== undefined) patch[key] = null
      continue
    }
    const inner = mergePatchBetween(from[key], next)
    if (inner !== undefined) patch[key] = inner
  }
  return patch
}

/** An object with a status subresource. */
export interface WithStatus<S> extends KubeObject {
  readonly status?: S | undefined
}

/**
 * Writes `status` when it differs from `object.status`; succeeds with the object as stored afterwards (the same
 * object when nothing was sent). Fails with `Conflict` when the object changed since it was read.
 */
export const writeStatus = <A extends WithStatus<unknown>>(
  resource: Resource<A>,
  object: A,
  status: NonNullable<A["status"]>
): Effect.Effect<A, KubeError, KubeApi> =>
  Effect.gen(function* () {
    const patch = mergePatchBetween(object.status ?? {}, status)
    if (patch === undefined) return object
    const api = yield* KubeApi
    const body: MergePatch = {
      metadata: { resourceVersion: object.metadata?.resourceVersion },
      status: patch
    }
    return yield* api.patchStatus(
      resource,
      { namespace: object.metadata?.namespace, name: object.metadata?.name ?? "" },
      body
    )
  }).pipe(Effect.withSpan("writeStatus", { attributes: { resource: resource.plural } }))
