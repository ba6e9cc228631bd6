/**
 * Validation of the RBAC kinds as the API server's `pkg/apis/rbac/validation` does it, so a Role the operator (or a
 * test) writes that a real cluster would refuse is refused here too: every rule needs verbs; a resource rule needs
 * API groups and resources; a non-resource rule only in a ClusterRole and never mixed with resources; a binding's
 * `roleRef` names a Role or ClusterRole (a ClusterRoleBinding: a ClusterRole) of `rbac.authorization.k8s.io` and is
 * immutable; subjects are `User`, `Group` (group `rbac.authorization.k8s.io`) or `ServiceAccount` (no group; a
 * namespace required in a ClusterRoleBinding). Messages and values are worded like the real server's, which
 * formats list and struct values the Go way (`[]string{"/metrics"}`).
 *
 * @since 0.1.0
 */
import { requiredValue, type StatusCause, unsupportedValue } from "./ApiStatus.ts"
import type { ServedKind } from "./resources.ts"
import { isRecord, type JsonObject, jsonEqual, type StoredObject } from "./StoredObject.ts"

const rbacGroup = "rbac.authorization.k8s.io"

const goStrings = (values: ReadonlyArray<string>): string =>
  `[]string{${values.map((v) => JSON.stringify(v)).join(", ")}}`

const goInvalid = (field: string, value: string, why: string): StatusCause => ({
  reason: "FieldValueInvalid",
  message: `Invalid value: ${value}: ${why}`,
  field
})

const strings = (value: unknown): ReadonlyArray<string> =>
  Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : []

const stringOf = (record: JsonObject, key: string): string => (typeof record[key] === "string" ? record[key] : "")

const isRbac = (type: ServedKind, plural: string): boolean => type.group === rbacGroup && type.plural === plural

const ruleCauses = (rules: unknown, namespaced: boolean): Array<StatusCause> =>
  (Array.isArray(rules) ? rules : []).flatMap((rule, index) => {
    const at = `rules[${index}]`
    const record = isRecord(rule) ? rule : {}
    const causes: Array<StatusCause> = []
    if (strings(record.verbs).length === 0) {
      causes.push(requiredValue(`${at}.verbs`, "verbs must contain at least one value"))
    }
    const urls = strings(record.nonResourceURLs)
    if (urls.length > 0) {
      if (namespaced) {
        causes.push(
          goInvalid(`${at}.nonResourceURLs`, goStrings(urls), "namespaced rules cannot apply to non-resource URLs")
        )
      }
      if ([record.apiGroups, record.resources, record.resourceNames].some((list) => strings(list).length > 0)) {
        causes.push(
          goInvalid(
            `${at}.nonResourceURLs`,
            goStrings(urls),
            "rules cannot apply to both regular resources and non-resource URLs"
          )
        )
      }
      return causes
    }
    if (strings(record.apiGroups).length === 0) {
      causes.push(requiredValue(`${at}.apiGroups`, "resource rules must supply at least one api group"))
    }
    if (strings(record.resources).length === 0) {
      causes.push(requiredValue(`${at}.resources`, "resource rules must supply at least one resource"))
    }
    return causes
  })

const subjectCauses = (subjects: unknown, namespaced: boolean): Array<StatusCause> =>
  (Array.isArray(subjects) ? subjects : []).flatMap((subject, index) => {
    const at = `subjects[${index}]`
    const record = isRecord(subject) ? subject : {}
    const kind = stringOf(record, "kind")
    const apiGroup = stringOf(record, "apiGroup")
    const causes: Array<StatusCause> = []
    if (stringOf(record, "name") === "") causes.push(requiredValue(`${at}.name`))
    switch (kind) {
      case "ServiceAccount":
        if (apiGroup !== "") causes.push(unsupportedValue(`${at}.apiGroup`, apiGroup, [""]))
        if (!namespaced && stringOf(record, "namespace") === "") causes.push(requiredValue(`${at}.namespace`))
        break
      case "User":
      case "Group":
        if (apiGroup !== rbacGroup) causes.push(unsupportedValue(`${at}.apiGroup`, apiGroup, [rbacGroup]))
        break
      default:
        causes.push(unsupportedValue(`${at}.kind`, kind, ["ServiceAccount", "User", "Group"]))
    }
    return causes
  })

const roleRefOf = (object: JsonObject): JsonObject => (isRecord(object.roleRef) ? object.roleRef : {})

const bindingCauses = (object: JsonObject, namespaced: boolean): Array<StatusCause> => {
  const ref = roleRefOf(object)
  const causes: Array<StatusCause> = []
  if (stringOf(ref, "apiGroup") !== rbacGroup) {
    causes.push(unsupportedValue("roleRef.apiGroup", stringOf(ref, "apiGroup"), [rbacGroup]))
  }
  const kinds = namespaced ? ["Role", "ClusterRole"] : ["ClusterRole"]
  if (!kinds.includes(stringOf(ref, "kind")))
    causes.push(unsupportedValue("roleRef.kind", stringOf(ref, "kind"), kinds))
  if (stringOf(ref, "name") === "") causes.push(requiredValue("roleRef.name"))
  return [...causes, ...subjectCauses(object.subjects, namespaced)]
}

/** Validation of a Role, ClusterRole, RoleBinding or ClusterRoleBinding (create and update); [] for other kinds. */
export const validateRbac = (type: ServedKind, object: JsonObject): Array<StatusCause> => {
  if (isRbac(type, "roles")) return ruleCauses(object.rules, true)
  if (isRbac(type, "clusterroles")) return ruleCauses(object.rules, false)
  if (isRbac(type, "rolebindings")) return bindingCauses(object, true)
  if (isRbac(type, "clusterrolebindings")) return bindingCauses(object, false)
  return []
}

/** A binding's `roleRef` never changes (delete and recreate the binding instead). */
export const validateRbacUpdate = (type: ServedKind, object: JsonObject, old: StoredObject): Array<StatusCause> => {
  if (!isRbac(type, "rolebindings") && !isRbac(type, "clusterrolebindings")) return []
  const ref = roleRefOf(object)
  if (jsonEqual(ref, roleRefOf(old))) return []
  const value = `rbac.RoleRef{APIGroup:${JSON.stringify(stringOf(ref, "apiGroup"))}, Kind:${JSON.stringify(
    stringOf(ref, "kind")
  )}, Name:${JSON.stringify(stringOf(ref, "name"))}}`
  return [goInvalid("roleRef", value, "cannot change roleRef")]
}
