/**
 * Per-kind rules of the built-in kinds the operator writes: Job defaulting, validation and immutability
 * (`pkg/apis/batch` defaults and `ValidateJob`), Pod creation status, and Event validation (the legacy
 * core/v1 rules, plus the events.k8s.io rules that apply as soon as `eventTime` is set).
 *
 * @since 0.1.0
 */
import { forbiddenValue, invalidValue, requiredValue, type StatusCause, unsupportedValue } from "./ApiStatus.ts"
import type { ServedKind } from "./resources.ts"
import { isRecord, type JsonObject, jsonEqual, metaOf, type StoredObject, stringAt } from "./StoredObject.ts"

const isJob = (type: ServedKind) => type.group === "batch" && type.plural === "jobs"
const isPod = (type: ServedKind) => type.group === "" && type.plural === "pods"
const isEvent = (type: ServedKind) => type.group === "" && type.plural === "events"
const isSecret = (type: ServedKind) => type.group === "" && type.plural === "secrets"

const base64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

const isLease = (type: ServedKind) => type.group === "coordination.k8s.io" && type.plural === "leases"

const microTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/

/** Go's `time.Parse` with the `RFC3339Micro` layout accepts exactly six fractional digits. */
const microTimeError = (kind: string, value: unknown): string | undefined =>
  value === undefined || value === null || (typeof value === "string" && microTime.test(value))
    ? undefined
    : `${kind} in version "v1" cannot be handled as a ${kind}: parsing time ${JSON.stringify(value)} as "2006-01-02T15:04:05.000000Z07:00": cannot parse as RFC3339Micro (metav1.MicroTime needs exactly 6 fractional digits)`

/**
 * What the API server's decoder rejects before validation (a 400, not a 422): Secret `data` values that
 * are not base64, and `metav1.MicroTime` fields (Event `eventTime`, Lease `acquireTime`/`renewTime`) without
 * exactly six fractional digits (kubernetes#94748). Returns the error message, or undefined.
 */
export const decodeError = (type: ServedKind, object: JsonObject): string | undefined => {
  if (isSecret(type) && isRecord(object.data)) {
    for (const [key, value] of Object.entries(object.data)) {
      if (typeof value !== "string" || !base64.test(value)) {
        return `Secret in version "v1" cannot be handled as a Secret: illegal base64 data at data.${key}`
      }
    }
  }
  if (isEvent(type)) return microTimeError("Event", object.eventTime)
  if (isLease(type)) {
    const spec = isRecord(object.spec) ? object.spec : {}
    return microTimeError("Lease", spec.acquireTime) ?? microTimeError("Lease", spec.renewTime)
  }
  return undefined
}

const recordAt = (parent: JsonObject, key: string): JsonObject => {
  const value = parent[key]
  if (isRecord(value)) return value
  const fresh: JsonObject = {}
  parent[key] = fresh
  return fresh
}

const setDefault = (record: JsonObject, key: string, value: unknown): void => {
  if (record[key] === undefined) record[key] = value
}

/** The defaults the API server gives a Pod spec (the ones that show up as drift when ignored). */
const defaultPodSpec = (spec: JsonObject, restartPolicy: string): void => {
  setDefault(spec, "restartPolicy", restartPolicy)
  setDefault(spec, "dnsPolicy", "ClusterFirst")
  setDefault(spec, "schedulerName", "default-scheduler")
  setDefault(spec, "terminationGracePeriodSeconds", 30)
  setDefault(spec, "securityContext", {})
  for (const list of ["initContainers", "containers"]) {
    const containers = spec[list]
    if (!Array.isArray(containers)) continue
    for (const container of containers) {
      if (!isRecord(container)) continue
      setDefault(container, "terminationMessagePath", "/dev/termination-log")
      setDefault(container, "terminationMessagePolicy", "File")
      setDefault(container, "resources", {})
      const image = typeof container.image === "string" ? container.image : ""
      const tag = image.includes("@") ? "digest" : (image.split("/").pop() ?? "").split(":")[1]
      setDefault(container, "imagePullPolicy", tag === undefined || tag === "latest" ? "Always" : "IfNotPresent")
    }
  }
}

/** Server-side defaults of a built-in kind, applied on create and update (like decoding does). */
export const defaultBuiltin = (type: ServedKind, object: JsonObject, old: StoredObject | undefined): void => {
  if (isJob(type)) {
    const spec = recordAt(object, "spec")
    const template = recordAt(spec, "template")
    defaultPodSpec(recordAt(template, "spec"), "Always")
    if (spec.completions === undefined && spec.parallelism === undefined) {
      spec.completions = 1
      spec.parallelism = 1
    }
    setDefault(spec, "parallelism", 1)
    setDefault(spec, "backoffLimit", 6)
    setDefault(spec, "completionMode", "NonIndexed")
    setDefault(spec, "suspend", false)
    if (spec.podFailurePolicy === undefined) setDefault(spec, "podReplacementPolicy", "TerminatingOrFailed")
    if (old === undefined) {
      const meta = metaOf(object)
      const templateMeta = recordAt(template, "metadata")
      const userLabels = isRecord(templateMeta.labels) ? { ...templateMeta.labels } : {}
      if (!isRecord(meta.labels) || Object.keys(meta.labels).length === 0) {
        if (Object.keys(userLabels).length > 0) meta.labels = userLabels
      }
      // generateSelector: the controller-uid selector and labels tie Pods to exactly this Job.
      if (spec.manualSelector !== true) {
        const uid = stringAt(meta, "uid") ?? ""
        const name = stringAt(meta, "name") ?? ""
        spec.selector = { matchLabels: { "batch.kubernetes.io/controller-uid": uid } }
        templateMeta.labels = {
          ...userLabels,
          "batch.kubernetes.io/controller-uid": uid,
          "batch.kubernetes.io/job-name": name,
          "controller-uid": uid,
          "job-name": name
        }
      }
    }
  } else if (isSecret(type)) {
    // stringData is write-only: the server folds it into data (base64) and never stores it.
    if (isRecord(object.stringData)) {
      const data = recordAt(object, "data")
      for (const [key, value] of Object.entries(object.stringData)) {
        data[key] = Buffer.from(String(value), "utf8").toString("base64")
      }
    }
    delete object.stringData
    setDefault(object, "type", "Opaque")
  } else if (isPod(type)) {
    defaultPodSpec(recordAt(object, "spec"), "Always")
    if (old === undefined && object.status === undefined) object.status = { phase: "Pending", qosClass: "BestEffort" }
  }
}

/** Validation of a built-in kind's object (create and update). */
export const validateBuiltin = (type: ServedKind, object: JsonObject): Array<StatusCause> => {
  if (isJob(type)) return validateJob(object)
  if (isEvent(type)) return validateEvent(object)
  if (isPod(type)) {
    const spec = isRecord(object.spec) ? object.spec : {}
    return Array.isArray(spec.containers) && spec.containers.length > 0 ? [] : [requiredValue("spec.containers")]
  }
  return []
}

const validateJob = (object: JsonObject): Array<StatusCause> => {
  const causes: Array<StatusCause> = []
  const spec = isRecord(object.spec) ? object.spec : {}
  const template = isRecord(spec.template) ? spec.template : {}
  const podSpec = isRecord(template.spec) ? template.spec : {}
  const templateMeta = isRecord(template.metadata) ? template.metadata : {}
  const templateLabels = isRecord(templateMeta.labels) ? templateMeta.labels : {}
  for (const key of ["batch.kubernetes.io/job-name", "job-name"]) {
    const value = templateLabels[key]
    if (typeof value === "string" && value.length > 63) {
      causes.push(invalidValue("spec.template.labels", value, "must be no more than 63 characters"))
    }
  }
  if (!Array.isArray(podSpec.containers) || podSpec.containers.length === 0) {
    causes.push(requiredValue("spec.template.spec.containers"))
  }
  const restartPolicy = podSpec.restartPolicy
  if (restartPolicy !== "Never" && restartPolicy !== "OnFailure") {
    causes.push(unsupportedValue("spec.template.spec.restartPolicy", restartPolicy, ["OnFailure", "Never"]))
  }
  for (const field of [
    "backoffLimit",
    "parallelism",
    "completions",
    "activeDeadlineSeconds",
    "ttlSecondsAfterFinished"
  ]) {
    const value = spec[field]
    if (value !== undefined && value !== null && (typeof value !== "number" || value < 0)) {
      causes.push(invalidValue(`spec.${field}`, value, "must be greater than or equal to 0"))
    }
  }
  return causes
}

/** Immutable fields of built-in kinds: a Job's template, selector, completions and completion mode. */
export const validateBuiltinUpdate = (type: ServedKind, object: JsonObject, old: StoredObject): Array<StatusCause> => {
  if (!isJob(type)) return []
  const spec = isRecord(object.spec) ? object.spec : {}
  const oldSpec = isRecord(old.spec) ? old.spec : {}
  return ["template", "selector", "completions", "completionMode"].flatMap((field) =>
    jsonEqual(spec[field], oldSpec[field])
      ? []
      : [invalidValue(`spec.${field}`, spec[field] ?? null, "field is immutable")]
  )
}

const validateEvent = (object: JsonObject): Array<StatusCause> => {
  const causes: Array<StatusCause> = []
  const meta = metaOf(object)
  const namespace = stringAt(meta, "namespace") ?? ""
  const involved = isRecord(object.involvedObject) ? object.involvedObject : {}
  const involvedNamespace = stringAt(involved, "namespace") ?? ""
  if (involvedNamespace === "" ? namespace !== "" && namespace !== "default" : involvedNamespace !== namespace) {
    causes.push(invalidValue("involvedObject.namespace", involvedNamespace, "does not match event.namespace"))
  }
  const type = object.type
  if (type !== undefined && type !== "" && type !== "Normal" && type !== "Warning") {
    causes.push(unsupportedValue("type", type, ["Normal", "Warning"]))
  }
  const eventTime = object.eventTime
  if (eventTime !== undefined && eventTime !== null) {
    // Setting eventTime opts a core/v1 Event into the events.k8s.io validation (kubernetes#95913).
    for (const field of ["reportingComponent", "reportingInstance", "action", "reason"]) {
      const value = object[field]
      if (typeof value !== "string" || value === "") causes.push(requiredValue(field))
      else if (value.length > 128) causes.push(invalidValue(field, value, "can have at most 128 characters"))
    }
    if (type === undefined || type === "") causes.push(requiredValue("type", `supported values: "Normal", "Warning"`))
    const message = object.message
    if (typeof message === "string" && message.length > 1024) {
      causes.push(invalidValue("note", message, "can have at most 1024 characters"))
    }
  } else if (typeof object.reason === "string" && object.reason.length > 128) {
    causes.push(forbiddenValue("reason", "can have at most 128 characters"))
  }
  return causes
}
