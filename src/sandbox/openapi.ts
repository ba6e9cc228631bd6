/**
 * Just enough OpenAPI v3 (`/openapi/v3`, `/openapi/v3/<api|apis/group>/<version>`) for `kubectl apply`:
 * kubectl reads it to learn that the server validates fields itself (the `fieldValidation` query
 * parameter on PATCH) and whether a kind accepts strategic merge patch (built-ins) or only JSON merge
 * patch (custom resources). Each group-version document lists the object paths with that PATCH operation
 * and, for custom resources, the CRD's schema under `components.schemas`.
 *
 * @since 0.1.0
 */
import { apiVersionOf, type ServedKind } from "./resources.ts"

const groupVersionPath = (type: ServedKind): string =>
  type.group === "" ? `api/${type.version}` : `apis/${type.group}/${type.version}`

/** The `/openapi/v3` index: one entry per served group-version. */
export const openApiIndex = (types: ReadonlyArray<ServedKind>) => ({
  paths: Object.fromEntries(
    types.map((type) => {
      const path = groupVersionPath(type)
      return [path, { serverRelativeURL: `/openapi/v3/${path}?hash=fake` }]
    })
  )
})

const schemaName = (type: ServedKind): string =>
  `${type.group === "" ? "io.k8s.api.core" : type.group.split(".").reverse().join(".")}.${type.version}.${type.kind}`

/** The OpenAPI v3 document of one group-version (`api/v1`, `apis/batch/v1`), or undefined if not served. */
export const openApiDocument = (types: ReadonlyArray<ServedKind>, path: string) => {
  const served = types.filter((type) => groupVersionPath(type) === path)
  if (served.length === 0) return undefined
  const patchTypes = (type: ServedKind) => [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
    ...(type.custom ? [] : ["application/strategic-merge-patch+json"])
  ]
  const paths = Object.fromEntries(
    served.map((type) => {
      const scope = type.namespaced ? "/namespaces/{namespace}" : ""
      const gvk = { group: type.group, version: type.version, kind: type.kind }
      return [
        `/${path}${scope}/${type.plural}/{name}`,
        {
          patch: {
            operationId: `patch${type.kind}`,
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
            parameters: [
              { name: "dryRun", in: "query", schema: { type: "string" } },
              { name: "fieldManager", in: "query", schema: { type: "string" } },
              { name: "fieldValidation", in: "query", schema: { type: "string" } },
              { name: "force", in: "query", schema: { type: "boolean" } }
            ],
            requestBody: {
              content: Object.fromEntries(
                patchTypes(type).map((contentType) => [contentType, { schema: { type: "object" } }])
              )
            },
            responses: { "200": { description: "OK" } }
          }
        }
      ]
    })
  )
  const schemas = Object.fromEntries(
    served
      .filter((type) => type.schema !== undefined)
      .map((type) => [
        schemaName(type),
        {
          ...type.schema,
          "x-kubernetes-group-version-kind": [{ group: type.group, version: type.version, kind: type.kind }]
        }
      ])
  )
  return {
    openapi: "3.0.0",
    info: {
      title: "Kubernetes (cloudnative-mysql fake)",
      version: apiVersionOf(served[0] ?? { group: "", version: "v1" })
    },
    paths,
    components: { schemas }
  }
}
