/**
 * The kinds the fake serves: a few built-ins (the ones the operator touches) plus every CRD it is given.
 * A `ServedKind` carries what the store's rules and the discovery endpoints need to know about a kind.
 *
 * @since 0.1.0
 */
import type { JsonObject } from "./StoredObject.ts"
import { isRecord, valueAtPath } from "./StoredObject.ts"

/** One `additionalPrinterColumns` entry of a CRD version. */
export interface PrinterColumn {
  readonly name: string
  readonly type: string
  readonly jsonPath: string
  readonly description?: string
  readonly format?: string
  readonly priority?: number
}

/** How `metadata.name` is validated. */
export type NameRule = "dns1123Subdomain" | "dns1035Label" | "pathSegment"

/** A kind served by the fake. */
export interface ServedKind {
  readonly group: string
  readonly version: string
  readonly plural: string
  readonly singular: string
  readonly kind: string
  readonly listKind: string
  readonly shortNames: ReadonlyArray<string>
  readonly categories: ReadonlyArray<string>
  readonly namespaced: boolean
  /** Writes to the main resource ignore `.status`; `/status` writes ignore everything else. */
  readonly statusSubresource: boolean
  /** A custom resource: PUT needs a resourceVersion, strategic merge patch is 415, schema-validated. */
  readonly custom: boolean
  /** `metadata.generation` is maintained (set to 1, bumped on spec changes and on deletion). */
  readonly tracksGeneration: boolean
  readonly nameRule: NameRule
  /** The version's `openAPIV3Schema` (custom resources only). */
  readonly schema?: JsonObject
  readonly printerColumns: ReadonlyArray<PrinterColumn>
  /** Field selectors the kind supports beyond `metadata.name` and `metadata.namespace`. */
  readonly fieldSelectors: ReadonlyArray<string>
}

/** `apiVersion` of a kind's objects (`v1`, `batch/v1`). */
export const apiVersionOf = (type: Pick<ServedKind, "group" | "version">): string =>
  type.group === "" ? type.version : `${type.group}/${type.version}`

const builtin = (
  fields: Pick<ServedKind, "group" | "version" | "plural" | "kind" | "namespaced"> & Partial<ServedKind>
): ServedKind => ({
  singular: fields.kind.toLowerCase(),
  listKind: `${fields.kind}List`,
  shortNames: [],
  categories: [],
  statusSubresource: false,
  custom: false,
  tracksGeneration: false,
  nameRule: "dns1123Subdomain",
  printerColumns: [],
  fieldSelectors: [],
  ...fields
})

const rbacGroup = "rbac.authorization.k8s.io"

const column = (name: string, jsonPath: string, type = "string"): PrinterColumn => ({ name, type, jsonPath })
const age = column("Age", ".metadata.creationTimestamp", "date")

/**
 * The built-in kinds: core Pods, Secrets, ConfigMaps, Services, PVCs, PVs, Endpoints, Events, Namespaces, Nodes, ServiceAccounts;
 * Jobs; Deployments and ReplicaSets; StorageClasses; EndpointSlices; Leases; Roles, RoleBindings, ClusterRoles,
 * ClusterRoleBindings; CustomResourceDefinitions (only the ones the fake already serves: Store.ts).
 */
export const builtinTypes: ReadonlyArray<ServedKind> = [
  builtin({
    group: "",
    version: "v1",
    plural: "pods",
    kind: "Pod",
    namespaced: true,
    shortNames: ["po"],
    categories: ["all"],
    statusSubresource: true,
    fieldSelectors: ["spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName", "status.phase", "status.podIP"]
  }),
  builtin({ group: "", version: "v1", plural: "secrets", kind: "Secret", namespaced: true, fieldSelectors: ["type"] }),
  builtin({ group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true, shortNames: ["cm"] }),
  builtin({
    group: "",
    version: "v1",
    plural: "services",
    kind: "Service",
    namespaced: true,
    shortNames: ["svc"],
    categories: ["all"],
    statusSubresource: true,
    nameRule: "dns1035Label"
  }),
  builtin({
    group: "",
    version: "v1",
    plural: "persistentvolumeclaims",
    kind: "PersistentVolumeClaim",
    namespaced: true,
    shortNames: ["pvc"],
    statusSubresource: true,
    printerColumns: [
      column("Status", ".status.phase"),
      column("Volume", ".spec.volumeName"),
      column("Capacity", ".status.capacity.storage"),
      column("StorageClass", ".spec.storageClassName"),
      age
    ]
  }),
  builtin({
    group: "",
    version: "v1",
    plural: "persistentvolumes",
    kind: "PersistentVolume",
    namespaced: false,
    shortNames: ["pv"],
    statusSubresource: true,
    printerColumns: [
      column("Capacity", ".spec.capacity.storage"),
      column("Reclaim Policy", ".spec.persistentVolumeReclaimPolicy"),
      column("Status", ".status.phase"),
      column("StorageClass", ".spec.storageClassName"),
      age
    ]
  }),
  builtin({ group: "", version: "v1", plural: "endpoints", kind: "Endpoints", namespaced: true, shortNames: ["ep"] }),
  builtin({
    group: "",
    version: "v1",
    plural: "events",
    kind: "Event",
    namespaced: true,
    shortNames: ["ev"],
    fieldSelectors: [
      "involvedObject.kind",
      "involvedObject.namespace",
      "involvedObject.name",
      "involvedObject.uid",
      "involvedObject.apiVersion",
      "involvedObject.resourceVersion",
      "involvedObject.fieldPath",
      "reason",
      "reportingComponent",
      "source",
      "type"
    ]
  }),
  builtin({
    group: "",
    version: "v1",
    plural: "namespaces",
    kind: "Namespace",
    namespaced: false,
    shortNames: ["ns"],
    statusSubresource: true,
    nameRule: "dns1035Label",
    fieldSelectors: ["status.phase"]
  }),
  builtin({
    group: "batch",
    version: "v1",
    plural: "jobs",
    kind: "Job",
    namespaced: true,
    categories: ["all"],
    statusSubresource: true,
    tracksGeneration: true,
    fieldSelectors: ["status.successful"]
  }),
  builtin({ group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease", namespaced: true }),
  // identities and RBAC, for the fake's authenticator and authorizer (rbac.ts); role names may hold colons
  builtin({
    group: "",
    version: "v1",
    plural: "serviceaccounts",
    kind: "ServiceAccount",
    namespaced: true,
    shortNames: ["sa"]
  }),
  builtin({
    group: rbacGroup,
    version: "v1",
    plural: "roles",
    kind: "Role",
    namespaced: true,
    nameRule: "pathSegment"
  }),
  builtin({
    group: rbacGroup,
    version: "v1",
    plural: "rolebindings",
    kind: "RoleBinding",
    namespaced: true,
    nameRule: "pathSegment"
  }),
  builtin({
    group: rbacGroup,
    version: "v1",
    plural: "clusterroles",
    kind: "ClusterRole",
    namespaced: false,
    nameRule: "pathSegment"
  }),
  builtin({
    group: rbacGroup,
    version: "v1",
    plural: "clusterrolebindings",
    kind: "ClusterRoleBinding",
    namespaced: false,
    nameRule: "pathSegment"
  }),
  builtin({
    group: "apps",
    version: "v1",
    plural: "deployments",
    kind: "Deployment",
    namespaced: true,
    shortNames: ["deploy"],
    categories: ["all"],
    statusSubresource: true,
    tracksGeneration: true,
    printerColumns: [
      column("Replicas", ".spec.replicas", "integer"),
      column("Up-to-date", ".status.updatedReplicas", "integer"),
      column("Available", ".status.availableReplicas", "integer"),
      age
    ]
  }),
  builtin({
    group: "apps",
    version: "v1",
    plural: "replicasets",
    kind: "ReplicaSet",
    namespaced: true,
    shortNames: ["rs"],
    categories: ["all"],
    statusSubresource: true,
    tracksGeneration: true,
    printerColumns: [
      column("Desired", ".spec.replicas", "integer"),
      column("Current", ".status.replicas", "integer"),
      column("Ready", ".status.readyReplicas", "integer"),
      age
    ]
  }),
  builtin({
    group: "storage.k8s.io",
    version: "v1",
    plural: "storageclasses",
    kind: "StorageClass",
    namespaced: false,
    shortNames: ["sc"],
    printerColumns: [
      column("Provisioner", ".provisioner"),
      column("ReclaimPolicy", ".reclaimPolicy"),
      column("VolumeBindingMode", ".volumeBindingMode"),
      age
    ]
  }),
  builtin({
    group: "discovery.k8s.io",
    version: "v1",
    plural: "endpointslices",
    kind: "EndpointSlice",
    namespaced: true
  }),
  builtin({
    group: "apiextensions.k8s.io",
    version: "v1",
    plural: "customresourcedefinitions",
    kind: "CustomResourceDefinition",
    namespaced: false,
    shortNames: ["crd", "crds"],
    categories: ["api-extensions"],
    statusSubresource: true
  }),
  builtin({
    group: "",
    version: "v1",
    plural: "nodes",
    kind: "Node",
    namespaced: false,
    shortNames: ["no"],
    statusSubresource: true
  })
]

/** Reads the value a field selector compares against (`""` when the field is unset, as the server does). */
export const fieldValue = (object: unknown, field: string): string => {
  if (field === "source" && isRecord(object)) {
    const source = object.source
    return isRecord(source) && typeof source.component === "string" ? source.component : ""
  }
  const value = valueAtPath(object, field.split("."))
  if (value === undefined || value === null) return ""
  return typeof value === "string" ? value : JSON.stringify(value)
}
