/**
 * Validation of the metadata every kind shares (`ValidateObjectMeta`): the name rule of the kind, label
 * keys and values, and owner references.
 *
 * @since 0.1.0
 */
import { invalidValue, requiredValue, type StatusCause } from "./ApiStatus.ts"
import type { ServedKind } from "./resources.ts"
import { isRecord, type JsonObject } from "./StoredObject.ts"

/** The DNS naming rules: the real server's length limit, pattern and message. */
const dnsNameRules = {
  dns1123Subdomain: {
    maxLength: 253,
    pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    message:
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
  },
  dns1035Label: {
    maxLength: 63,
    pattern: /^[a-z]([-a-z0-9]*[a-z0-9])?$/,
    message:
      "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
  }
} as const

/** `metadata.name` against the kind's naming rule. */
export const nameCauses = (type: ServedKind, name: string): Array<StatusCause> => {
  if (type.nameRule === "pathSegment") {
    return name === "." || name === ".." || /[/%]/.test(name)
      ? [invalidValue("metadata.name", name, "may not contain '/' or '%' and may not be '.' or '..'")]
      : []
  }
  const rule = dnsNameRules[type.nameRule]
  if (name.length > rule.maxLength) {
    return [invalidValue("metadata.name", name, `must be no more than ${rule.maxLength} characters`)]
  }
  return rule.pattern.test(name) ? [] : [invalidValue("metadata.name", name, rule.message)]
}

const labelKey =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/
const labelValue = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/

/** Label keys and values, the way `ValidateLabels` checks them. */
export const labelCauses = (labels: unknown, field: string): Array<StatusCause> => {
  if (!isRecord(labels)) return []
  return Object.entries(labels).flatMap(([key, value]) => {
    const causes: Array<StatusCause> = []
    const name = key.includes("/") ? key.slice(key.indexOf("/") + 1) : key
    if (!labelKey.test(key) || name.length > 63) {
      causes.push(
        invalidValue(
          field,
          key,
          "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        )
      )
    }
    if (typeof value !== "string") causes.push(invalidValue(`${field}.${key}`, value, "must be a string"))
    else if (value.length > 63) causes.push(invalidValue(field, value, "must be no more than 63 characters"))
    else if (!labelValue.test(value)) {
      causes.push(
        invalidValue(
          field,
          value,
          "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        )
      )
    }
    return causes
  })
}

/** Required fields of each owner reference, and at most one `controller: true`. */
export const ownerReferenceCauses = (meta: JsonObject): Array<StatusCause> => {
  const refs = meta.ownerReferences
  if (refs === undefined) return []
  if (!Array.isArray(refs)) return [invalidValue("metadata.ownerReferences", refs, "must be a list")]
  const causes: Array<StatusCause> = []
  refs.forEach((ref, index) => {
    const field = `metadata.ownerReferences[${index}]`
    if (!isRecord(ref)) {
      causes.push(invalidValue(field, ref, "must be an object"))
      return
    }
    for (const key of ["apiVersion", "kind", "name", "uid"]) {
      if (typeof ref[key] !== "string" || ref[key] === "")
        causes.push(requiredValue(`${field}.${key}`, `${key} must not be empty`))
    }
  })
  const controllers = refs.filter((ref) => isRecord(ref) && ref.controller === true)
  if (controllers.length > 1) {
    causes.push(invalidValue("metadata.ownerReferences", refs, "Only one reference can have Controller set to true"))
  }
  return causes
}
