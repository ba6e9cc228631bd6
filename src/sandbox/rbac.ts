/**
 * The RBAC authorizer of the fake API server, evaluated as the real one evaluates it (the `rbac.authorization.k8s.io`
 * docs and `plugin/pkg/auth/authorizer/rbac`): a request is allowed when one rule of one role bound to the user
 * allows it; nothing ever denies explicitly.
 *
 * - ClusterRoleBindings grant their ClusterRole everywhere (every namespace, cluster-scoped kinds, non-resource URLs).
 * - RoleBindings in the request's namespace grant their Role, or their ClusterRole's resource rules, in that
 *   namespace only; a cluster-scoped request never consults RoleBindings.
 * - Subjects: `User` by name, `Group` by membership, `ServiceAccount` by `system:serviceaccount:<ns>:<name>` (a
 *   ServiceAccount subject without a namespace means one in the RoleBinding's namespace).
 * - A rule matches when its verbs, API groups and resources contain the request's (or `*`); a resource rule names
 *   a subresource as `<resource>/<subresource>` (`pods` does not grant `pods/status`; `* /status` grants every
 *   status); `resourceNames` restrict it to those names (so never a create, nor a list without a name);
 *   `nonResourceURLs` match a path exactly or by a trailing `*` prefix.
 * - A binding whose role does not exist grants nothing and is reported in the denial's reason
 *   (`RBAC: clusterrole.rbac.authorization.k8s.io "x" not found`), as the real server does.
 * - Members of `system:masters` are allowed everything before RBAC is asked (the server's privileged group).
 *
 * Not evaluated: ClusterRole aggregation, escalation checks on writes of roles and bindings, impersonation.
 *
 * @since 0.1.0
 */
import type { StatusBody } from "./ApiStatus.ts"
import type { RequestAttributes } from "./requestAttributes.ts"
import type { StoredObject } from "./StoredObject.ts"
import { isRecord } from "./StoredObject.ts"

/** Who a request is from. */
export interface UserInfo {
  readonly name: string
  readonly uid?: string
  readonly groups: ReadonlyArray<string>
}

/** The RBAC objects the authorizer reads. */
export interface RbacPolicy {
  readonly roles: ReadonlyArray<StoredObject>
  readonly clusterRoles: ReadonlyArray<StoredObject>
  readonly roleBindings: ReadonlyArray<StoredObject>
  readonly clusterRoleBindings: ReadonlyArray<StoredObject>
}

/** The authorizer's answer: allowed, or not with the reason the Forbidden message appends (often empty). */
export type Decision = { readonly allowed: true } | { readonly allowed: false; readonly reason: string }

/** The group whose members bypass authorization. */
export const mastersGroup = "system:masters"

interface Rule {
  readonly verbs: ReadonlyArray<string>
  readonly apiGroups: ReadonlyArray<string>
  readonly resources: ReadonlyArray<string>
  readonly resourceNames: ReadonlyArray<string>
  readonly nonResourceURLs: ReadonlyArray<string>
}

const strings = (value: unknown): ReadonlyArray<string> =>
  Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : []

const rulesOf = (role: StoredObject): ReadonlyArray<Rule> =>
  (Array.isArray(role.rules) ? role.rules : []).filter(isRecord).map((rule) => ({
    verbs: strings(rule.verbs),
    apiGroups: strings(rule.apiGroups),
    resources: strings(rule.resources),
    resourceNames: strings(rule.resourceNames),
    nonResourceURLs: strings(rule.nonResourceURLs)
  }))

const has = (values: ReadonlyArray<string>, value: string): boolean => values.includes("*") || values.includes(value)

const resourceMatches = (rule: Rule, resource: string, subresource: string): boolean => {
  const combined = subresource === "" ? resource : `${resource}/${subresource}`
  return rule.resources.some(
    (granted) => granted === "*" || granted === combined || (subresource !== "" && granted === `*/${subresource}`)
  )
}

const urlMatches = (rule: Rule, path: string): boolean =>
  rule.nonResourceURLs.some(
    (granted) => granted === "*" || granted === path || (granted.endsWith("*") && path.startsWith(granted.slice(0, -1)))
  )

/** Whether one rule allows the request (`RuleAllows`). */
export const ruleAllows = (rule: Rule, request: RequestAttributes): boolean => {
  if (!request.resourceRequest) return has(rule.verbs, request.verb) && urlMatches(rule, request.path)
  return (
    has(rule.verbs, request.verb) &&
    has(rule.apiGroups, request.apiGroup) &&
    resourceMatches(rule, request.resource, request.subresource) &&
    (rule.resourceNames.length === 0 || rule.resourceNames.includes(request.name))
  )
}

/** The user name of a ServiceAccount. */
export const serviceAccountUserName = (namespace: string, name: string): string =>
  `system:serviceaccount:${namespace}:${name}`

/** `namespace`: the RoleBinding's, which a ServiceAccount subject without one defaults to ("" for ClusterRoleBindings). */
const appliesTo = (user: UserInfo, binding: StoredObject, namespace: string): boolean =>
  (Array.isArray(binding.subjects) ? binding.subjects : []).filter(isRecord).some((subject) => {
    const name = typeof subject.name === "string" ? subject.name : ""
    switch (subject.kind) {
      case "User":
        return user.name === name
      case "Group":
        return user.groups.includes(name)
      case "ServiceAccount": {
        const own = typeof subject.namespace === "string" && subject.namespace !== "" ? subject.namespace : namespace
        return own !== "" && user.name === serviceAccountUserName(own, name)
      }
      default:
        return false
    }
  })

const roleRefOf = (binding: StoredObject): { readonly kind: string; readonly name: string } => {
  const ref = isRecord(binding.roleRef) ? binding.roleRef : {}
  return { kind: typeof ref.kind === "string" ? ref.kind : "", name: typeof ref.name === "string" ? ref.name : "" }
}

const named = (objects: ReadonlyArray<StoredObject>, name: string, namespace?: string): StoredObject | undefined =>
  objects.find(
    (object) => object.metadata.name === name && (namespace === undefined || object.metadata.namespace === namespace)
  )

/** Decides a request with the policy in force (the real server's `RBACAuthorizer.Authorize`). */
export const authorize = (policy: RbacPolicy, user: UserInfo, request: RequestAttributes): Decision => {
  if (user.groups.includes(mastersGroup)) return { allowed: true }
  const errors: Array<string> = []
  const roleRules = (binding: StoredObject, namespace: string | undefined): ReadonlyArray<Rule> => {
    const ref = roleRefOf(binding)
    const role =
      ref.kind === "ClusterRole"
        ? named(policy.clusterRoles, ref.name)
        : ref.kind === "Role" && namespace !== undefined
          ? named(policy.roles, ref.name, namespace)
          : undefined
    if (role === undefined) {
      const message = `${ref.kind.toLowerCase()}.rbac.authorization.k8s.io "${ref.name}" not found`
      if (!errors.includes(message)) errors.push(message)
      return []
    }
    return rulesOf(role)
  }
  for (const binding of policy.clusterRoleBindings) {
    if (!appliesTo(user, binding, "")) continue
    if (roleRules(binding, undefined).some((rule) => ruleAllows(rule, request))) return { allowed: true }
  }
  const namespace = request.resourceRequest ? request.namespace : ""
  if (namespace !== "") {
    for (const binding of policy.roleBindings) {
      if (binding.metadata.namespace !== namespace || !appliesTo(user, binding, namespace)) continue
      if (roleRules(binding, namespace).some((rule) => ruleAllows(rule, request))) return { allowed: true }
    }
  }
  const reason = errors.length === 0 ? "" : `RBAC: ${errors.length === 1 ? errors[0] : `[${errors.join(", ")}]`}`
  return { allowed: false, reason }
}

/** The 403 `Forbidden` Status the real server writes for a denied request (`responsewriters.Forbidden`). */
export const forbiddenStatus = (user: UserInfo, request: RequestAttributes, reason: string): StatusBody => {
  const denied = request.resourceRequest
    ? `User "${user.name}" cannot ${request.verb} resource "${
        request.subresource === "" ? request.resource : `${request.resource}/${request.subresource}`
      }" in API group "${request.apiGroup}" ${
        request.namespace === "" ? "at the cluster scope" : `in the namespace "${request.namespace}"`
      }`
    : `User "${user.name}" cannot ${request.verb} path "${request.path}"`
  // the real server escapes what could read as HTML in its own part of the message
  const escaped = denied.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
  const text = reason === "" ? escaped : `${escaped}: ${reason}`
  const status = (message: string, details: NonNullable<StatusBody["details"]>): StatusBody => ({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason: "Forbidden",
    details,
    code: 403
  })
  if (!request.resourceRequest) return status(`forbidden: ${text}`, {})
  const qualified = request.apiGroup === "" ? request.resource : `${request.resource}.${request.apiGroup}`
  return status(
    request.name === "" ? `${qualified} is forbidden: ${text}` : `${qualified} "${request.name}" is forbidden: ${text}`,
    {
      ...(request.name === "" ? {} : { name: request.name }),
      ...(request.apiGroup === "" ? {} : { group: request.apiGroup }),
      kind: request.resource
    }
  )
}
