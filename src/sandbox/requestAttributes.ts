/**
 * What the API server's authorizer is asked about a request, derived from the method and URL as the real
 * server's `RequestInfoFactory` does: a resource request (`/api/v1/...`, `/apis/<group>/<version>/...` with at least
 * a resource) has a verb (`get`/`list`/`watch` for GET on an object, a collection, or `watch=true`; `create`,
 * `update`, `patch`, `delete`, `deletecollection`), API group, resource, subresource, namespace and name (also taken
 * from a list's or watch's `fieldSelector=metadata.name=<x>`); anything else (`/version`, `/api`, `/apis/batch/v1`,
 * `/openapi/v3`, `/healthz`) is a non-resource request whose verb is the lower-cased HTTP method.
 *
 * @since 0.1.0
 */

/** A request for an API object or collection. */
export interface ResourceAttributes {
  readonly resourceRequest: true
  readonly verb: string
  readonly apiGroup: string
  readonly apiVersion: string
  readonly resource: string
  readonly subresource: string
  readonly namespace: string
  readonly name: string
  readonly path: string
}

/** A request for a path that is not an API object (discovery, OpenAPI, health). */
export interface NonResourceAttributes {
  readonly resourceRequest: false
  readonly verb: string
  readonly path: string
}

/** What the authorizer decides about. */
export type RequestAttributes = ResourceAttributes | NonResourceAttributes

const verbOfMethod: Record<string, string> = {
  POST: "create",
  GET: "get",
  HEAD: "get",
  PUT: "update",
  PATCH: "patch",
  DELETE: "delete"
}

/** Go's `strconv.ParseBool`, which the list options decoder uses for `watch`. */
const isTrue = (value: string | null): boolean =>
  value !== null && ["1", "t", "T", "true", "TRUE", "True"].includes(value)

/** The name a field selector pins with `metadata.name=<x>` (or `==`), when that is its only way to match. */
const exactName = (selector: string | null): string => {
  if (selector === null) return ""
  for (const term of selector.split(",")) {
    const match = /^\s*metadata\.name\s*==?\s*(.*?)\s*$/.exec(term)
    if (match !== null && match[1] !== undefined && !match[1].includes("/")) return match[1]
  }
  return ""
}

/** The authorizer's view of a request. */
export const requestAttributes = (method: string, url: URL): RequestAttributes => {
  const path = url.pathname
  const nonResource: NonResourceAttributes = { resourceRequest: false, verb: method.toLowerCase(), path }
  let parts = path.split("/").filter((part) => part !== "")
  if (parts.length < 3 || (parts[0] !== "api" && parts[0] !== "apis")) return nonResource
  const grouped = parts[0] === "apis"
  parts = parts.slice(1)
  if (grouped && parts.length < 3) return nonResource
  const apiGroup = grouped ? (parts.shift() ?? "") : ""
  const apiVersion = parts.shift() ?? ""
  let verb = verbOfMethod[method.toUpperCase()] ?? method.toLowerCase()
  let namespace = ""
  if (parts[0] === "namespaces" && parts.length > 1) {
    namespace = parts[1] ?? ""
    // `/namespaces/<ns>` itself is the Namespace object; `/namespaces/<ns>/<resource>/...` a namespaced one
    if (parts.length > 2) parts = parts.slice(2)
  }
  const [resource = "", name = "", subresource = ""] = parts.map(decodeURIComponent)
  let objectName = name
  if (name === "" && verb === "get") {
    verb = isTrue(url.searchParams.get("watch")) ? "watch" : "list"
    objectName = exactName(url.searchParams.get("fieldSelector"))
  }
  if (name === "" && verb === "delete") verb = "deletecollection"
  return { resourceRequest: true, verb, apiGroup, apiVersion, resource, subresource, namespace, name: objectName, path }
}
