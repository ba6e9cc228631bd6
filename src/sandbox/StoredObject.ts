/**
 * The shape of objects inside the fake control plane: plain JSON with a `metadata` block, exactly what goes
 * over the wire. The store keeps them deep-frozen and hands the frozen values out (no copy per read or per
 * watcher); writers pass fresh objects that the store copies on the way in.
 *
 * @since 0.1.0
 */

/** An owner reference (`metadata.ownerReferences[]`). */
export interface OwnerReference {
  readonly apiVersion: string
  readonly kind: string
  readonly name: string
  readonly uid: string
  readonly controller?: boolean
  readonly blockOwnerDeletion?: boolean
}

/** `metadata` as the server fills it; unknown keys survive. */
export interface StoredObjectMeta {
  readonly name?: string
  readonly generateName?: string
  readonly namespace?: string
  readonly uid?: string
  readonly resourceVersion?: string
  readonly generation?: number
  readonly creationTimestamp?: string
  readonly deletionTimestamp?: string
  readonly deletionGracePeriodSeconds?: number
  readonly labels?: Readonly<Record<string, string>>
  readonly annotations?: Readonly<Record<string, string>>
  readonly finalizers?: ReadonlyArray<string>
  readonly ownerReferences?: ReadonlyArray<OwnerReference>
  readonly [key: string]: unknown
}

/** Any Kubernetes object as JSON. */
export interface StoredObject {
  readonly apiVersion?: string
  readonly kind?: string
  readonly metadata: StoredObjectMeta
  readonly [key: string]: unknown
}

/** A list response: `items` plus the store's resourceVersion at the time of the list. */
export interface KubeList {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: { readonly resourceVersion: string }
  readonly items: ReadonlyArray<StoredObject>
}

/** A mutable JSON object, used while the store builds a new version of an object. */
export type JsonObject = Record<string, unknown>

/** True for a JSON object (not null, not an array). */
export const isRecord = (value: unknown): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** A deep, mutable copy of a JSON value. */
export const cloneJson = <A>(value: A): A => structuredClone(value)

/** Freezes a JSON value in place, all the way down, and returns it. */
export const deepFreeze = <A>(value: A): A => {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}

/** Structural equality of JSON values (key order ignored). */
export const jsonEqual = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    return a.every((item, index) => jsonEqual(item, b[index]))
  }
  if (Array.isArray(b)) return false
  const aRecord = a as JsonObject
  const bRecord = b as JsonObject
  const aKeys = Object.keys(aRecord).filter((key) => aRecord[key] !== undefined)
  const bKeys = Object.keys(bRecord).filter((key) => bRecord[key] !== undefined)
  if (aKeys.length !== bKeys.length) return false
  return aKeys.every((key) => Object.hasOwn(bRecord, key) && jsonEqual(aRecord[key], bRecord[key]))
}

/** `metadata` of a mutable object, created if missing. */
export const metaOf = (object: JsonObject): JsonObject => {
  const meta = object.metadata
  if (isRecord(meta)) return meta
  const fresh: JsonObject = {}
  object.metadata = fresh
  return fresh
}

/** A string field of a record, or undefined. */
export const stringAt = (record: JsonObject, key: string): string | undefined => {
  const value = record[key]
  return typeof value === "string" ? value : undefined
}

/** A string-array field of a record ([] when absent or not an array of strings). */
export const stringsAt = (record: JsonObject, key: string): Array<string> => {
  const value = record[key]
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : []
}

/** Follows a dotted path (`spec.cluster.name`) into a JSON value. */
export const valueAtPath = (value: unknown, path: ReadonlyArray<string>): unknown => {
  let current = value
  for (const segment of path) {
    if (!isRecord(current)) return undefined
    current = current[segment]
  }
  return current
}
