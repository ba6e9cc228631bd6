/**
 * The synchronous core of the fake control plane. Every rule here is one the real API server enforces and a
 * controller can observe (Kubernetes API concepts and API conventions):
 *
 * 1. server-set metadata (uid, creationTimestamp, generation, resourceVersion, generateName) and name rules;
 * 2. one store-wide resourceVersion counter; stale PUT → 409; PUT of a custom resource without an RV → 422;
 *    a write that changes nothing is not a write (no new RV, no event);
 * 3. status subresource isolation both ways; 4. generation bumped on spec changes and on deletion;
 * 5. watches: events in RV order, replay from retained history, 410 when too old, selector transitions;
 * 6. finalizers and deletionTimestamp; 7. ownerReferences and an explicit `gc()`;
 * 8–11. Event validation, selectors, CRD schema validation/pruning/defaulting, Job defaults/immutability;
 * 12. the Job simulator and fault hooks; 13. the DefaultStorageClass admission plugin for claims.
 *
 * Objects are frozen once stored, so reads and watch fan-out share them without copying. Operations are
 * O(1) map work plus the size of the object, except list (O(n log n) in the collection). The garbage
 * collector and the Job controller live in `garbageCollector.ts` and `jobSimulator.ts`.
 *
 * @since 0.1.0
 */

import { randomUUID } from "node:crypto"
import { metaV1Time } from "../api/time.ts"
import {
  type ApiStatusError,
  alreadyExists,
  badRequest,
  conflict,
  expired,
  forbiddenValue,
  internalError,
  invalid,
  invalidValue,
  notFound,
  requiredValue,
  resourceNotFound,
  type StatusCause,
  type Subject,
  serviceUnavailable,
  unsupportedMediaType,
  unsupportedValue
} from "./ApiStatus.ts"
import { decodeError, defaultBuiltin, validateBuiltin, validateBuiltinUpdate } from "./builtinRules.ts"
import { crdTypes } from "./crdFiles.ts"
import { labelCauses, nameCauses, ownerReferenceCauses } from "./metadataRules.ts"
import { type JsonPatchOperation, jsonPatch, mergePatch, strategicMergePatch } from "./patches.ts"
import { apiVersionOf, builtinTypes, type ServedKind } from "./resources.ts"
import {
  cloneJson,
  deepFreeze,
  isRecord,
  type JsonObject,
  jsonEqual,
  type KubeList,
  metaOf,
  type StoredObject,
  stringAt,
  stringsAt
} from "./StoredObject.ts"
import {
  type FieldRequirement,
  type LabelSelector,
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector
} from "./selectors.ts"
import { applyDefaults, prune, unknownFields, validateSchema } from "./structural.ts"

export type { JsonPatchOperation }

/** Where a request goes: the kind (group, version, plural) and, for namespaced kinds, the namespace. */
export interface ResourceRef {
  readonly group: string
  readonly version: string
  readonly plural: string
  readonly namespace?: string | undefined
}

/**
 * Options of a write: `fieldValidation=Strict` turns unknown fields of a custom resource into a 400;
 * `dryRun` runs every rule and returns the result without storing it (no new RV, no event).
 */
export interface WriteOptions {
  readonly fieldValidation?: "Strict" | "Warn" | "Ignore" | undefined
  readonly dryRun?: boolean | undefined
}

const strict = (options: WriteOptions): boolean => options.fieldValidation === "Strict"

/** Options of a list. */
export interface StoreListOptions {
  readonly labelSelector?: string | undefined
  readonly fieldSelector?: string | undefined
}

/** Options of a watch. */
export interface StoreWatchOptions extends StoreListOptions {
  /** Start after this RV (replaying retained history); absent or "0": start with the current objects as ADDED. */
  readonly resourceVersion?: string | undefined
}

/** One watch event, as on the wire. */
export interface StoreWatchEvent {
  readonly type: "ADDED" | "MODIFIED" | "DELETED"
  readonly object: StoredObject
}

/** Options of a delete. */
export interface StoreDeleteOptions {
  readonly dryRun?: boolean | undefined
  /** For Pods: how long the kubelet gives the containers (default `spec.terminationGracePeriodSeconds`). */
  readonly gracePeriodSeconds?: number | undefined
  readonly propagationPolicy?: "Orphan" | "Background" | "Foreground" | undefined
  readonly preconditions?: { readonly uid?: string | undefined; readonly resourceVersion?: string | undefined }
}

/** The result of a delete: gone now, or kept with `deletionTimestamp` until its finalizers are removed. */
export interface DeleteResult {
  readonly deleted: boolean
  readonly object: StoredObject
}

/** What an injected fault answers. */
export type FaultCode = 409 | 500 | 503

/** A fault for the next write that matches (every field given must match). */
export interface WriteFault {
  readonly code: FaultCode
  readonly verb?: "create" | "update" | "patch" | "delete" | undefined
  readonly plural?: string | undefined
  readonly name?: string | undefined
}

/** One audited request. */
export interface AuditEntry {
  readonly verb: "get" | "list" | "watch" | "create" | "update" | "patch" | "delete"
  readonly group: string
  readonly plural: string
  readonly namespace: string | undefined
  readonly name: string | undefined
  readonly subresource: string
  /** The patch format for patches (`merge`, `json`, `strategic`). */
  readonly patchType?: string
  /** 200/201 on success, else the `Status` code. */
  readonly code: number
}

/** Options of the store. */
export interface StoreOptions {
  /** Custom kinds (from CRDs) to serve next to the built-ins. */
  readonly customTypes?: ReadonlyArray<ServedKind>
  /** How many watch events the store keeps for replay (default 10,000). Smaller makes 410 easy to provoke. */
  readonly historySize?: number
  /**
   * Uniform numbers in [0, 1) for `generateName` suffixes. The store is synchronous, so `FakeCluster` hands it
   * the fiber's `Random` service (seedable in tests) as a function.
   */
  readonly random: () => number
}

interface Listener {
  readonly onEvent: (event: StoreWatchEvent) => void
  readonly onClose: () => void
}

interface Watcher extends Listener {
  readonly namespace: string | undefined
  readonly labels: LabelSelector
  readonly fields: ReadonlyArray<FieldRequirement>
}

interface HistoryEvent {
  readonly rv: number
  readonly typeKey: string
  readonly type: StoreWatchEvent["type"]
  readonly object: StoredObject
  readonly previous: StoredObject | undefined
}

type Patch = "merge" | "json" | "strategic"

const AUDIT_LIMIT = 10_000
const NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

const subjectOf = (type: ServedKind): Subject => ({ group: type.group, plural: type.plural, kind: type.kind })

/** What `generation` tracks: everything but metadata (and status, when it is a subresource). */
const specPart = (type: ServedKind, object: JsonObject): JsonObject => {
  const { metadata: _metadata, status, ...rest } = object
  return type.statusSubresource ? rest : { ...rest, status }
}

/**
 * The grace period a Pod delete gets, or undefined for a Pod never bound to a node (nothing runs it: it goes at
 * once, as the Pod strategy decides); a terminal Pod gets 0.
 */
const podGracePeriod = (type: ServedKind, pod: StoredObject, requested: number | undefined): number | undefined => {
  if (type.group !== "" || type.plural !== "pods") return undefined
  const spec = isRecord(pod.spec) ? pod.spec : {}
  const status = isRecord(pod.status) ? pod.status : {}
  if (typeof spec.nodeName !== "string" || spec.nodeName === "") return undefined
  // a terminal Pod has nothing left to stop: grace 0 (also ends a graceful deletion already under way)
  if (status.phase === "Succeeded" || status.phase === "Failed") return 0
  const fromSpec = typeof spec.terminationGracePeriodSeconds === "number" ? spec.terminationGracePeriodSeconds : 30
  return Math.max(0, requested ?? fromSpec)
}

/** The in-memory API store. Methods throw `ApiStatusError`; the `FakeCluster` service turns that into failures. */
export class Store {
  // a real API server never lists at resourceVersion "0" (an etcd revision is never 0, and "0" as a watch start
  // means "synthetic ADDED of current state"), so the store starts where an empty etcd would already be
  private rv = 1
  private readonly types = new Map<string, ServedKind>()
  private readonly collections = new Map<string, Map<string, StoredObject>>()
  private readonly uids = new Map<string, { readonly type: ServedKind; readonly key: string }>()
  private readonly historySize: number
  private history: Array<HistoryEvent> = []
  private compactedRv = 1
  private readonly watchers = new Map<string, Set<Watcher>>()
  private faults: Array<WriteFault> = []
  private dryRun = false
  private system = false
  private audit: Array<AuditEntry> = []

  private readonly random: () => number

  constructor(options: StoreOptions) {
    this.historySize = options.historySize ?? 10_000
    this.random = options.random
    for (const type of [...builtinTypes, ...(options.customTypes ?? [])]) {
      this.types.set(`${type.group}/${type.version}/${type.plural}`, type)
    }
  }

  /** The API server's `generateName` suffix: 5 characters from its consonant-and-digit alphabet. */
  randomSuffix(): string {
    return Array.from({ length: 5 }, () => NAME_ALPHABET[Math.floor(this.random() * NAME_ALPHABET.length)]).join("")
  }

  /** Every served kind. */
  resourceTypes(): ReadonlyArray<ServedKind> {
    return [...this.types.values()]
  }

  /** The kind a ref names; 404 when the fake does not serve it. */
  resourceType(ref: ResourceRef): ServedKind {
    const type = this.types.get(`${ref.group}/${ref.version}/${ref.plural}`)
    if (type === undefined) throw resourceNotFound()
    return type
  }

  /** The latest resourceVersion handed out. */
  currentResourceVersion(): number {
    return this.rv
  }

  auditLog(): ReadonlyArray<AuditEntry> {
    return [...this.audit]
  }

  clearAudit(): void {
    this.audit = []
  }

  failNextWrite(fault: WriteFault): void {
    this.faults.push(fault)
  }

  /** Ends every open watch. */
  dropWatches(): void {
    const all = [...this.watchers.values()].flatMap((set) => [...set])
    this.watchers.clear()
    for (const watcher of all) watcher.onClose()
  }

  /** Forgets all history: watching from any RV older than now gets 410. */
  compact(): void {
    this.history = []
    this.compactedRv = this.rv
  }

  // ---- reads ----

  get(ref: ResourceRef, name: string): StoredObject {
    return this.audited("get", ref, name, "", undefined, () => {
      const type = this.resourceType(ref)
      const object = this.collection(type).get(this.keyOf(type, ref.namespace, name))
      if (object === undefined) throw notFound(subjectOf(type), name)
      return object
    })
  }

  list(ref: ResourceRef, options: StoreListOptions): KubeList {
    return this.audited("list", ref, undefined, "", undefined, () => {
      const type = this.resourceType(ref)
      const labels = parseLabelSelector(options.labelSelector ?? "")
      const fields = parseFieldSelector(options.fieldSelector ?? "", type.fieldSelectors)
      const items = [...this.collection(type).entries()]
        .filter(([, object]) => this.matches(type, ref.namespace, labels, fields, object))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, object]) => object)
      return {
        apiVersion: apiVersionOf(type),
        kind: type.listKind,
        metadata: { resourceVersion: String(this.rv) },
        items
      }
    })
  }

  /**
   * Registers a watch and returns its unsubscribe function. Replayed and initial events are delivered
   * synchronously before this returns; live events as they are committed.
   */
  watch(ref: ResourceRef, options: StoreWatchOptions, listener: Listener): () => void {
    return this.audited("watch", ref, undefined, "", undefined, () => {
      const type = this.resourceType(ref)
      const watcher: Watcher = {
        ...listener,
        namespace: type.namespaced ? ref.namespace : undefined,
        labels: parseLabelSelector(options.labelSelector ?? ""),
        fields: parseFieldSelector(options.fieldSelector ?? "", type.fieldSelectors)
      }
      const typeKey = this.typeKey(type)
      const from = options.resourceVersion
      if (from === undefined || from === "" || from === "0") {
        for (const [, object] of [...this.collection(type).entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
          if (this.matchesWatcher(watcher, object)) listener.onEvent({ type: "ADDED", object })
        }
      } else {
        const since = Number(from)
        if (!Number.isInteger(since) || since < 0) throw badRequest(`invalid resourceVersion: ${from}`)
        if (since < this.compactedRv) {
          throw expired(`too old resource version: ${since} (${this.compactedRv})`)
        }
        for (const event of this.history) {
          if (event.rv > since && event.typeKey === typeKey) this.deliver(watcher, event)
        }
      }
      let set = this.watchers.get(typeKey)
      if (set === undefined) {
        set = new Set()
        this.watchers.set(typeKey, set)
      }
      set.add(watcher)
      return () => {
        this.watchers.get(typeKey)?.delete(watcher)
      }
    })
  }

  // ---- writes ----

  create(ref: ResourceRef, body: unknown, now: number, options: WriteOptions = {}): StoredObject {
    return this.audited("create", ref, undefined, "", undefined, () => {
      return this.withDryRun(options.dryRun === true, () => {
        const type = this.resourceType(ref)
        const object = this.bodyOf(type, body)
        const meta = metaOf(object)
        const namespace = this.namespaceFor(type, ref, meta)
        let name = stringAt(meta, "name") ?? ""
        const generateName = stringAt(meta, "generateName")
        if (name === "" && generateName !== undefined && generateName !== "") {
          // the generator keeps the whole name within 63 characters: the base is cut to 58
          name = `${generateName.slice(0, 58)}${this.randomSuffix()}`
        }
        if (name === "") {
          throw invalid(subjectOf(type), "", [requiredValue("metadata.name", "name or generateName is required")])
        }
        this.injectFault(type, "create", name)
        if (stringAt(meta, "resourceVersion") !== undefined && meta.resourceVersion !== "") {
          throw internalError("resourceVersion should not be set on objects to be created")
        }
        meta.name = name
        if (namespace !== undefined) meta.namespace = namespace
        const uid = randomUUID()
        meta.uid = uid
        meta.creationTimestamp = metaV1Time(now)
        delete meta.deletionTimestamp
        delete meta.deletionGracePeriodSeconds
        delete meta.resourceVersion
        if (type.tracksGeneration) meta.generation = 1
        else delete meta.generation
        if (type.statusSubresource) delete object.status
        this.admitDefaultStorageClass(type, object)
        this.prepare(type, object, undefined, strict(options))
        const key = this.keyOf(type, namespace, name)
        if (this.collection(type).has(key)) throw alreadyExists(subjectOf(type), name)
        return this.commit(type, key, object, undefined)
      })
    })
  }

  replace(
    ref: ResourceRef,
    name: string,
    body: unknown,
    subresource: "" | "status",
    options: WriteOptions = {}
  ): StoredObject {
    return this.audited("update", ref, name, subresource, undefined, () => {
      return this.withDryRun(options.dryRun === true, () => {
        const type = this.resourceType(ref)
        const object = this.bodyOf(type, body)
        const meta = metaOf(object)
        const bodyName = stringAt(meta, "name")
        if (bodyName !== undefined && bodyName !== name) {
          throw badRequest(`the name of the object (${bodyName}) does not match the name on the URL (${name})`)
        }
        this.namespaceFor(type, ref, meta)
        const resourceVersion = stringAt(meta, "resourceVersion")
        if (type.custom && (resourceVersion === undefined || resourceVersion === "")) {
          throw invalid(subjectOf(type), name, [
            invalidValue("metadata.resourceVersion", "0x0", "must be specified for an update")
          ])
        }
        return this.update(type, ref.namespace, name, subresource, "update", strict(options), () => object)
      })
    })
  }

  patch(
    ref: ResourceRef,
    name: string,
    patchType: Patch,
    patch: unknown,
    subresource: "" | "status",
    options: WriteOptions = {}
  ): StoredObject {
    return this.audited("patch", ref, name, subresource, patchType, () => {
      return this.withDryRun(options.dryRun === true, () => {
        const type = this.resourceType(ref)
        if (patchType === "strategic" && type.custom)
          throw unsupportedMediaType("application/strategic-merge-patch+json")
        if (patchType !== "json" && !isRecord(patch)) {
          throw badRequest("the body of the request was in an unknown format: a patch must be a JSON object")
        }
        return this.update(type, ref.namespace, name, subresource, "patch", strict(options), (current) => {
          const patched =
            patchType === "merge"
              ? mergePatch(current, patch)
              : patchType === "strategic"
                ? strategicMergePatch(current, patch)
                : jsonPatch(current, patch, subjectOf(type), name)
          if (!isRecord(patched)) throw badRequest("a patch must leave an object")
          return patched
        })
      })
    })
  }

  delete(ref: ResourceRef, name: string, options: StoreDeleteOptions, now: number): DeleteResult {
    return this.audited("delete", ref, name, "", undefined, () => {
      return this.withDryRun(options.dryRun === true, () => {
        const type = this.resourceType(ref)
        const key = this.keyOf(type, ref.namespace, name)
        const existing = this.collection(type).get(key)
        if (existing === undefined) throw notFound(subjectOf(type), name)
        const policy = options.propagationPolicy
        if (policy !== undefined && !["Orphan", "Background", "Foreground"].includes(policy)) {
          throw invalid(subjectOf(type), name, [
            unsupportedValue("propagationPolicy", policy, ["Foreground", "Background", "Orphan"])
          ])
        }
        const preconditions = options.preconditions
        if (preconditions?.uid !== undefined && preconditions.uid !== existing.metadata.uid) {
          throw conflict(
            subjectOf(type),
            name,
            `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${existing.metadata.uid ?? ""}`
          )
        }
        if (
          preconditions?.resourceVersion !== undefined &&
          preconditions.resourceVersion !== existing.metadata.resourceVersion
        ) {
          throw conflict(
            subjectOf(type),
            name,
            `Precondition failed: ResourceVersion in precondition: ${preconditions.resourceVersion}, ResourceVersion in object meta: ${existing.metadata.resourceVersion ?? ""}`
          )
        }
        this.injectFault(type, "delete", name)
        // batch/v1 Jobs keep their Pods unless asked otherwise (kubernetes#20902): the default policy is Orphan.
        const effective = policy ?? (type.group === "batch" && type.plural === "jobs" ? "Orphan" : "Background")
        const grace = podGracePeriod(type, existing, options.gracePeriodSeconds)
        if (grace !== undefined) return this.deletePodGracefully(type, key, existing, effective, grace, now)
        return this.deleteObject(type, key, existing, effective, now)
      })
    })
  }

  // ---- for the controllers simulated in this folder (garbage collector, Job controller) ----

  /** Runs `f` as the control plane itself: its writes are not audited and never hit injected faults. */
  asSystem<A>(f: () => A): A {
    const before = this.system
    this.system = true
    try {
      return f()
    } finally {
      this.system = before
    }
  }

  /** A built-in kind by group and plural (`"batch"`, `"jobs"`). */
  builtin(group: string, plural: string): ServedKind {
    return this.resourceType({ group, version: "v1", plural })
  }

  /** Every stored object with its kind (a snapshot). */
  entries(): Array<{ readonly type: ServedKind; readonly object: StoredObject }> {
    const all: Array<{ readonly type: ServedKind; readonly object: StoredObject }> = []
    for (const type of this.types.values()) {
      for (const object of this.collection(type).values()) all.push({ type, object })
    }
    return all
  }

  /** The current version of an object, or undefined. */
  current(type: ServedKind, namespace: string | undefined, name: string): StoredObject | undefined {
    return this.collection(type).get(this.keyOf(type, namespace, name))
  }

  /** The object with this uid, if it exists. */
  byUid(uid: string): { readonly type: ServedKind; readonly object: StoredObject } | undefined {
    const location = this.uids.get(uid)
    if (location === undefined) return undefined
    const object = this.collection(location.type).get(location.key)
    return object === undefined ? undefined : { type: location.type, object }
  }

  /** The update pipeline (all rules) with a function from the current object to the next. */
  updateWith(
    type: ServedKind,
    namespace: string | undefined,
    name: string,
    subresource: "" | "status",
    build: (current: JsonObject) => JsonObject
  ): StoredObject {
    return this.update(type, namespace, name, subresource, "update", false, build)
  }

  /** Deletes with an explicit propagation policy (finalizers honoured), as the garbage collector does. */
  deleteWith(
    type: ServedKind,
    object: StoredObject,
    policy: "Orphan" | "Background" | "Foreground",
    now: number
  ): DeleteResult {
    const key = this.keyOf(type, object.metadata.namespace, object.metadata.name ?? "")
    return this.deleteObject(type, key, object, policy, now)
  }

  // ---- internals ----

  private audited<A>(
    verb: AuditEntry["verb"],
    ref: ResourceRef,
    name: string | undefined,
    subresource: string,
    patchType: string | undefined,
    f: () => A
  ): A {
    const entry = {
      verb,
      group: ref.group,
      plural: ref.plural,
      namespace: ref.namespace,
      name,
      subresource,
      ...(patchType === undefined ? {} : { patchType })
    }
    try {
      const result = f()
      this.record({ ...entry, code: verb === "create" ? 201 : 200 })
      return result
    } catch (error) {
      const code =
        isRecord(error) && isRecord(error.status) && typeof error.status.code === "number" ? error.status.code : 500
      this.record({ ...entry, code })
      throw error
    }
  }

  private record(entry: AuditEntry): void {
    if (this.system) return
    this.audit.push(entry)
    if (this.audit.length > AUDIT_LIMIT * 2) this.audit = this.audit.slice(-AUDIT_LIMIT)
  }

  private typeKey(type: ServedKind): string {
    return `${type.group}/${type.plural}`
  }

  private collection(type: ServedKind): Map<string, StoredObject> {
    const typeKey = this.typeKey(type)
    let collection = this.collections.get(typeKey)
    if (collection === undefined) {
      collection = new Map()
      this.collections.set(typeKey, collection)
    }
    return collection
  }

  private keyOf(type: ServedKind, namespace: string | undefined, name: string): string {
    return type.namespaced ? `${namespace ?? ""}/${name}` : name
  }

  /** A private, mutable copy of a request body, with apiVersion/kind checked and filled in. */
  private bodyOf(type: ServedKind, body: unknown): JsonObject {
    if (!isRecord(body)) throw badRequest("the body of the request was in an unknown format: expected a JSON object")
    const object = cloneJson(body)
    const apiVersion = apiVersionOf(type)
    if (object.kind !== undefined && object.kind !== "" && object.kind !== type.kind) {
      throw badRequest(
        `the API version in the data (${String(object.apiVersion)}) does not match the expected API version (${apiVersion}) or kind ${String(object.kind)} is not ${type.kind}`
      )
    }
    if (object.apiVersion !== undefined && object.apiVersion !== "" && object.apiVersion !== apiVersion) {
      throw badRequest(
        `the API version in the data (${String(object.apiVersion)}) does not match the expected API version (${apiVersion})`
      )
    }
    object.apiVersion = apiVersion
    object.kind = type.kind
    if (object.metadata !== undefined && !isRecord(object.metadata)) throw badRequest("metadata must be an object")
    return object
  }

  private namespaceFor(type: ServedKind, ref: ResourceRef, meta: JsonObject): string | undefined {
    if (!type.namespaced) {
      delete meta.namespace
      return undefined
    }
    const namespace = ref.namespace
    if (namespace === undefined || namespace === "") throw badRequest("the namespace of the object must be set")
    const inBody = stringAt(meta, "namespace")
    if (inBody !== undefined && inBody !== "" && inBody !== namespace) {
      throw badRequest("the namespace of the provided object does not match the namespace sent on the request")
    }
    return namespace
  }

  private injectFault(type: ServedKind, verb: WriteFault["verb"], name: string): void {
    if (this.system) return
    const index = this.faults.findIndex(
      (fault) =>
        (fault.verb === undefined || fault.verb === verb) &&
        (fault.plural === undefined || fault.plural === type.plural) &&
        (fault.name === undefined || fault.name === name)
    )
    if (index < 0) return
    const [fault] = this.faults.splice(index, 1)
    if (fault?.code === 409) throw conflict(subjectOf(type), name)
    if (fault?.code === 503)
      throw serviceUnavailable("the server is currently unable to handle the request (injected fault)")
    throw internalError("injected fault")
  }

  /**
   * The DefaultStorageClass admission plugin: a claim created without `spec.storageClassName` gets the class
   * annotated `storageclass.kubernetes.io/is-default-class: "true"` (the newest one when several are).
   */
  private admitDefaultStorageClass(type: ServedKind, object: JsonObject): void {
    if (type.group !== "" || type.plural !== "persistentvolumeclaims") return
    const spec = isRecord(object.spec) ? object.spec : undefined
    if (spec === undefined || spec.storageClassName !== undefined) return
    const defaults = [...(this.collections.get("storage.k8s.io/storageclasses")?.values() ?? [])]
      .filter((item) => item.metadata.annotations?.["storageclass.kubernetes.io/is-default-class"] === "true")
      .sort((a, b) => (b.metadata.creationTimestamp ?? "").localeCompare(a.metadata.creationTimestamp ?? ""))
    const chosen = defaults[0]?.metadata.name
    if (chosen !== undefined) spec.storageClassName = chosen
  }

  /**
   * A CustomResourceDefinition is stored (so `kubectl apply -k deploy/default` goes through) only when it
   * describes exactly kinds the fake already serves: the fake cannot start serving a new or changed kind, and
   * accepting one silently would let a stale manifest pass.
   */
  private definitionCauses(type: ServedKind, object: JsonObject): Array<StatusCause> {
    if (type.group !== "apiextensions.k8s.io" || type.plural !== "customresourcedefinitions") return []
    let defined: ReadonlyArray<ServedKind>
    try {
      defined = crdTypes(object)
    } catch (error) {
      return [invalidValue("spec", null, String(error instanceof Error ? error.message.split("\n")[0] : error))]
    }
    const unserved = defined.filter(
      (kind) => !jsonEqual(kind, this.types.get(`${kind.group}/${kind.version}/${kind.plural}`) ?? null)
    )
    return unserved.map((kind) =>
      forbiddenValue(
        "spec",
        `the sandbox serves only the CustomResourceDefinitions it started with (deploy/crds): ${kind.plural}.${kind.group}/${kind.version} is new or differs`
      )
    )
  }

  /** Defaulting, pruning and validation shared by create and update. */
  private prepare(type: ServedKind, object: JsonObject, old: StoredObject | undefined, strict: boolean): void {
    const meta = metaOf(object)
    const name = stringAt(meta, "name") ?? ""
    if (strict && type.custom && type.schema !== undefined) {
      const unknown = unknownFields(type.schema, object)
      if (unknown.length > 0) {
        throw badRequest(
          `${type.kind} in version "${type.version}" cannot be handled as a ${type.kind}: strict decoding error: ${unknown
            .map((field) => `unknown field "${field}"`)
            .join(", ")}`
        )
      }
    }
    const undecodable = decodeError(type, object)
    if (undecodable !== undefined) throw badRequest(undecodable)
    if (type.custom && type.schema !== undefined) {
      prune(type.schema, object)
      applyDefaults(type.schema, object)
    } else {
      defaultBuiltin(type, object, old)
    }
    const causes: Array<StatusCause> = [
      ...nameCauses(type, name),
      ...labelCauses(meta.labels, "metadata.labels"),
      ...ownerReferenceCauses(meta),
      ...(type.custom && type.schema !== undefined
        ? validateSchema(type.schema, object, old)
        : [...validateBuiltin(type, object), ...(old === undefined ? [] : validateBuiltinUpdate(type, object, old))]),
      ...this.definitionCauses(type, object)
    ]
    if (old?.metadata.deletionTimestamp !== undefined) {
      const before = new Set(old.metadata.finalizers ?? [])
      const added = stringsAt(meta, "finalizers").filter((finalizer) => !before.has(finalizer))
      if (added.length > 0) {
        causes.push(
          forbiddenValue(
            "metadata.finalizers",
            `no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`
          )
        )
      }
    }
    if (causes.length > 0) throw invalid(subjectOf(type), name, causes)
  }

  /**
   * The update pipeline behind PUT and PATCH: optimistic concurrency, status isolation, server-owned
   * metadata, generation, validation, no-op suppression, and deletion once the last finalizer is gone.
   */
  private update(
    type: ServedKind,
    namespace: string | undefined,
    name: string,
    subresource: "" | "status",
    verb: "update" | "patch",
    strict: boolean,
    build: (current: JsonObject) => JsonObject
  ): StoredObject {
    if (subresource === "status" && !type.statusSubresource) {
      throw notFound({ ...subjectOf(type), plural: `${type.plural}/status` }, name)
    }
    const key = this.keyOf(type, namespace, name)
    const old = this.collection(type).get(key)
    if (old === undefined) throw notFound(subjectOf(type), name)
    const requested = build(cloneJson(old) as JsonObject)
    const requestedMeta = metaOf(requested)
    const resourceVersion = stringAt(requestedMeta, "resourceVersion")
    if (resourceVersion !== undefined && resourceVersion !== "" && resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(subjectOf(type), name)
    }
    if (stringAt(requestedMeta, "name") !== undefined && requestedMeta.name !== name) {
      throw badRequest(
        `the name of the object (${String(requestedMeta.name)}) does not match the name on the URL (${name})`
      )
    }
    this.injectFault(type, verb, name)
    let next: JsonObject
    if (subresource === "status") {
      // The status strategy grafts the new status onto the stored object; nothing else changes.
      next = cloneJson(old) as JsonObject
      if (requested.status === undefined) delete next.status
      else next.status = requested.status
    } else {
      next = requested
      if (type.statusSubresource) {
        if (old.status === undefined) delete next.status
        else next.status = cloneJson(old.status)
      }
    }
    const meta = metaOf(next)
    const oldMeta = old.metadata
    meta.name = name
    for (const field of [
      "namespace",
      "uid",
      "creationTimestamp",
      "deletionTimestamp",
      "deletionGracePeriodSeconds",
      "generation"
    ]) {
      if (oldMeta[field] === undefined) delete meta[field]
      else meta[field] = oldMeta[field]
    }
    meta.resourceVersion = oldMeta.resourceVersion
    if (subresource === "") this.prepare(type, next, old, strict)
    else if (type.custom && type.schema !== undefined) {
      prune(type.schema, next)
      applyDefaults(type.schema, next)
      const causes = validateSchema(type.schema, next, old)
      if (causes.length > 0) throw invalid(subjectOf(type), name, causes)
    }
    if (type.tracksGeneration && !jsonEqual(specPart(type, next), specPart(type, old as JsonObject))) {
      meta.generation = (old.metadata.generation ?? 0) + 1
    }
    if (jsonEqual(next, old)) return old
    const deleting =
      meta.deletionTimestamp !== undefined &&
      stringsAt(meta, "finalizers").length === 0 &&
      (typeof meta.deletionGracePeriodSeconds === "number" ? meta.deletionGracePeriodSeconds : 0) === 0
    if (deleting) {
      return this.commitDelete(type, key, next)
    }
    return this.commit(type, key, next, old)
  }

  private deleteObject(
    type: ServedKind,
    key: string,
    existing: StoredObject,
    policy: "Orphan" | "Background" | "Foreground",
    now: number
  ): DeleteResult {
    if (existing.metadata.deletionTimestamp !== undefined) return { deleted: false, object: existing }
    const finalizers = [...(existing.metadata.finalizers ?? [])]
    if (policy === "Orphan" && !finalizers.includes("orphan")) finalizers.push("orphan")
    if (policy === "Foreground" && !finalizers.includes("foregroundDeletion")) finalizers.push("foregroundDeletion")
    if (finalizers.length === 0) return { deleted: true, object: this.commitDelete(type, key, existing) }
    const next = cloneJson(existing) as JsonObject
    const meta = metaOf(next)
    meta.finalizers = finalizers
    meta.deletionTimestamp = metaV1Time(now)
    meta.deletionGracePeriodSeconds = 0
    if (typeof meta.generation === "number" && meta.generation > 0) meta.generation = meta.generation + 1
    return { deleted: false, object: this.commit(type, key, next, existing) }
  }

  /**
   * Graceful deletion of a Pod bound to a node (the Pod strategy's `CheckGracefulDelete`): the object stays with
   * `deletionTimestamp = now + grace` and `deletionGracePeriodSeconds = grace` until the kubelet has stopped its
   * containers and deletes it again with grace 0. A later delete may only shorten the period.
   */
  private deletePodGracefully(
    type: ServedKind,
    key: string,
    existing: StoredObject,
    policy: "Orphan" | "Background" | "Foreground",
    grace: number,
    now: number
  ): DeleteResult {
    const current = existing.metadata.deletionGracePeriodSeconds
    if (existing.metadata.deletionTimestamp !== undefined && current !== undefined && grace >= current) {
      return { deleted: false, object: existing }
    }
    if (grace === 0) {
      if ((existing.metadata.finalizers ?? []).length === 0) {
        return { deleted: true, object: this.commitDelete(type, key, existing) }
      }
      const next = cloneJson(existing) as JsonObject
      const meta = metaOf(next)
      meta.deletionGracePeriodSeconds = 0
      if (meta.deletionTimestamp === undefined) meta.deletionTimestamp = metaV1Time(now)
      return { deleted: false, object: this.commit(type, key, next, existing) }
    }
    const next = cloneJson(existing) as JsonObject
    const meta = metaOf(next)
    const finalizers = stringsAt(meta, "finalizers")
    if (policy === "Orphan" && !finalizers.includes("orphan")) meta.finalizers = [...finalizers, "orphan"]
    if (policy === "Foreground" && !finalizers.includes("foregroundDeletion"))
      meta.finalizers = [...finalizers, "foregroundDeletion"]
    meta.deletionTimestamp = metaV1Time(now + grace * 1000)
    meta.deletionGracePeriodSeconds = grace
    return { deleted: false, object: this.commit(type, key, next, existing) }
  }

  /** Stores a new version of an object at the next resourceVersion and tells the watchers. */
  private withDryRun<A>(dryRun: boolean, f: () => A): A {
    const before = this.dryRun
    this.dryRun = dryRun
    try {
      return f()
    } finally {
      this.dryRun = before
    }
  }

  private commit(type: ServedKind, key: string, next: JsonObject, previous: StoredObject | undefined): StoredObject {
    if (this.dryRun) {
      metaOf(next).resourceVersion = previous?.metadata.resourceVersion ?? ""
      return deepFreeze(next) as StoredObject
    }
    this.rv += 1
    metaOf(next).resourceVersion = String(this.rv)
    const object = deepFreeze(next) as StoredObject
    this.collection(type).set(key, object)
    if (object.metadata.uid !== undefined) this.uids.set(object.metadata.uid, { type, key })
    this.publish(type, previous === undefined ? "ADDED" : "MODIFIED", object, previous)
    return object
  }

  /** Removes an object; the DELETED event carries its last state at the deletion's resourceVersion. */
  private commitDelete(type: ServedKind, key: string, last: JsonObject | StoredObject): StoredObject {
    if (this.dryRun) return deepFreeze(cloneJson(last)) as StoredObject
    const previous = this.collection(type).get(key)
    this.rv += 1
    const object = deepFreeze({
      ...cloneJson(last),
      metadata: { ...cloneJson(last.metadata as JsonObject), resourceVersion: String(this.rv) }
    }) as StoredObject
    this.collection(type).delete(key)
    if (object.metadata.uid !== undefined) this.uids.delete(object.metadata.uid)
    this.publish(type, "DELETED", object, previous)
    return object
  }

  private publish(
    type: ServedKind,
    kind: StoreWatchEvent["type"],
    object: StoredObject,
    previous: StoredObject | undefined
  ): void {
    const typeKey = this.typeKey(type)
    const event: HistoryEvent = { rv: this.rv, typeKey, type: kind, object, previous }
    this.history.push(event)
    if (this.history.length > this.historySize * 2) {
      const dropped = this.history.length - this.historySize
      this.compactedRv = this.history[dropped - 1]?.rv ?? this.compactedRv
      this.history = this.history.slice(dropped)
    }
    const watchers = this.watchers.get(typeKey)
    if (watchers === undefined) return
    for (const watcher of watchers) this.deliver(watcher, event)
  }

  /** Filters one event for one watcher; selector transitions become ADDED/DELETED as in the watch cache. */
  private deliver(watcher: Watcher, event: HistoryEvent): void {
    const now = this.matchesWatcher(watcher, event.object)
    if (event.type !== "MODIFIED") {
      if (now) watcher.onEvent({ type: event.type, object: event.object })
      return
    }
    const before = event.previous !== undefined && this.matchesWatcher(watcher, event.previous)
    if (now && before) watcher.onEvent({ type: "MODIFIED", object: event.object })
    else if (now) watcher.onEvent({ type: "ADDED", object: event.object })
    else if (before && event.previous !== undefined) {
      const gone = deepFreeze({
        ...event.previous,
        metadata: { ...event.previous.metadata, resourceVersion: event.object.metadata.resourceVersion ?? "" }
      })
      watcher.onEvent({ type: "DELETED", object: gone })
    }
  }

  private matchesWatcher(watcher: Watcher, object: StoredObject): boolean {
    if (watcher.namespace !== undefined && object.metadata.namespace !== watcher.namespace) return false
    return matchesLabels(watcher.labels, object.metadata.labels) && matchesFields(watcher.fields, object)
  }

  private matches(
    type: ServedKind,
    namespace: string | undefined,
    labels: LabelSelector,
    fields: ReadonlyArray<FieldRequirement>,
    object: StoredObject
  ): boolean {
    if (type.namespaced && namespace !== undefined && object.metadata.namespace !== namespace) return false
    return matchesLabels(labels, object.metadata.labels) && matchesFields(fields, object)
  }
}

export type { ApiStatusError }
