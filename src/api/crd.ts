/**
 * CustomResourceDefinitions generated from the Schemas, so the API server validates exactly what our code
 * decodes. `npm run generate` writes them to `deploy/crds/`; a test fails when the committed YAML differs.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { Backup, BackupSpec, BackupStatus } from "./backup.ts"
import { Cluster, ClusterSpec, ClusterStatus } from "./cluster.ts"
import { Group, Version } from "./common.ts"
import { ScheduledBackup, ScheduledBackupSpec, ScheduledBackupStatus } from "./scheduledBackup.ts"

/** A printer column of `kubectl get`. */
export interface PrinterColumn {
  readonly name: string
  readonly type: "string" | "integer" | "date" | "boolean" | "number"
  readonly jsonPath: string
  readonly description?: string
  readonly priority?: number
}

/** Everything that makes one CRD. */
export interface ResourceDefinition {
  readonly kind: string
  readonly plural: string
  readonly singular: string
  readonly shortNames: ReadonlyArray<string>
  readonly description: string
  readonly spec: Schema.Top
  readonly status: Schema.Top
  readonly printerColumns: ReadonlyArray<PrinterColumn>
}

/** The custom resources of this operator, in the order their files are written. */
export const resources: ReadonlyArray<ResourceDefinition> = [
  {
    kind: Backup.fields.kind.literal,
    plural: "backups",
    singular: "backup",
    shortNames: ["mbk"],
    description: "A physical backup of a Cluster, stored as one xbstream archive plus metadata.json in object storage",
    spec: BackupSpec,
    status: BackupStatus,
    printerColumns: [
      { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
      { name: "Cluster", type: "string", jsonPath: ".spec.cluster.name" },
      { name: "Method", type: "string", jsonPath: ".spec.method" },
      { name: "Phase", type: "string", jsonPath: ".status.phase" },
      { name: "Backup ID", type: "string", jsonPath: ".status.backupId" },
      { name: "Error", type: "string", jsonPath: ".status.error" },
      { name: "Instance", type: "string", jsonPath: ".status.instanceName", priority: 1 },
      { name: "SHA256", type: "string", jsonPath: ".status.sha256", priority: 1 }
    ]
  },
  {
    kind: Cluster.fields.kind.literal,
    plural: "clusters",
    singular: "cluster",
    shortNames: ["mcl"],
    description: "A MySQL-family database cluster, optionally recovered from a physical backup",
    spec: ClusterSpec,
    status: ClusterStatus,
    printerColumns: [
      { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
      { name: "Instances", type: "integer", jsonPath: ".status.instances" },
      { name: "Ready", type: "integer", jsonPath: ".status.readyInstances" },
      { name: "Status", type: "string", jsonPath: ".status.phase" },
      { name: "Primary", type: "string", jsonPath: ".status.currentPrimary" },
      { name: "Recovered From", type: "string", jsonPath: ".status.recovery.backupId", priority: 1 }
    ]
  },
  {
    kind: ScheduledBackup.fields.kind.literal,
    plural: "scheduledbackups",
    singular: "scheduledbackup",
    shortNames: ["msbk"],
    description: "Creates Backups of a Cluster on a cron schedule",
    spec: ScheduledBackupSpec,
    status: ScheduledBackupStatus,
    printerColumns: [
      { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
      { name: "Cluster", type: "string", jsonPath: ".spec.cluster.name" },
      { name: "Schedule", type: "string", jsonPath: ".spec.schedule" },
      { name: "Suspended", type: "boolean", jsonPath: ".spec.suspend" },
      { name: "Last Backup", type: "date", jsonPath: ".status.lastScheduleTime" }
    ]
  }
]

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

const isObject = (node: Json): node is { readonly [key: string]: Json } =>
  typeof node === "object" && node !== null && !Array.isArray(node)

type EnumMember = { readonly type: string; readonly enum: ReadonlyArray<Json> }

const isEnumUnion = (value: Json): value is ReadonlyArray<EnumMember> =>
  Array.isArray(value) &&
  value.length > 0 &&
  value.every(
    (member: Json) =>
      isObject(member) &&
      Object.keys(member).length === 2 &&
      Array.isArray(member.enum) &&
      member.type === (value[0] as EnumMember).type
  )

// Literals annotated with a description or default come out as anyOf of single-type enums; CRDs want one enum
const foldEnumUnion = (members: ReadonlyArray<EnumMember>): { readonly [key: string]: Json } => ({
  type: (members[0] as EnumMember).type,
  enum: members.flatMap((member) => member.enum)
})

/**
 * Turns Effect's JSON Schema output into a Kubernetes structural schema:
 * - drops `additionalProperties` next to `properties` (structural schemas forbid the pair; unknown fields are
 *   pruned by the API server instead);
 * - folds unions of same-typed enums into one enum;
 * - folds the `allOf` members our checks produce (CEL rules, list-map markers) into their parent, concatenating
 *   `x-kubernetes-validations`;
 * - refuses `$ref` and other constructs the API server rejects, so a Schema change cannot silently produce an
 *   invalid CRD.
 */
export const toStructural = (node: Json, at = "$"): Json => {
  if (Array.isArray(node)) return node.map((item, i) => toStructural(item, `${at}[${i}]`))
  if (!isObject(node)) return node
  for (const forbidden of ["$ref", "$defs", "definitions", "oneOf", "$schema"]) {
    if (forbidden in node) throw new Error(`${at}: ${forbidden} is not allowed in a structural CRD schema`)
  }
  const out: Record<string, Json> = {}
  const rules: Array<Json> = []
  const merge = (source: { readonly [key: string]: Json }) => {
    for (const [key, value] of Object.entries(source)) {
      if (key === "anyOf" && isEnumUnion(value)) {
        merge(foldEnumUnion(value))
      } else if (key === "allOf") {
        for (const member of value as ReadonlyArray<Json>) {
          if (!isObject(member)) throw new Error(`${at}: unexpected allOf member`)
          merge(member)
        }
      } else if (key === "x-kubernetes-validations") {
        rules.push(...(value as ReadonlyArray<Json>))
      } else if (key === "additionalProperties" && "properties" in node) {
        // dropped: see above
      } else if (key in out && JSON.stringify(out[key]) !== JSON.stringify(value)) {
        throw new Error(`${at}: conflicting ${key} while folding allOf`)
      } else {
        out[key] = toStructural(value, `${at}.${key}`)
      }
    }
  }
  merge(node)
  if (rules.length > 0) out["x-kubernetes-validations"] = rules
  if ("anyOf" in out) throw new Error(`${at}: anyOf is not supported here (use Literals / optionalKey)`)
  return out
}

const jsonSchemaOf = (schema: Schema.Top): Json => {
  const document = Schema.toJsonSchemaDocument(schema)
  if (Object.keys(document.definitions).length > 0) {
    throw new Error("schemas with identifiers become $refs, which CRDs forbid")
  }
  return toStructural(document.schema as Json)
}

/** The apiextensions.k8s.io/v1 CustomResourceDefinition of one resource. */
export const customResourceDefinition = (resource: ResourceDefinition) => ({
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: {
    name: `${resource.plural}.${Group}`,
    labels: { "app.kubernetes.io/name": "cloudnative-mysql" }
  },
  spec: {
    group: Group,
    names: {
      kind: resource.kind,
      listKind: `${resource.kind}List`,
      plural: resource.plural,
      singular: resource.singular,
      shortNames: resource.shortNames,
      categories: ["cloudnative-mysql"]
    },
    scope: "Namespaced",
    versions: [
      {
        name: Version,
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: resource.printerColumns,
        schema: {
          openAPIV3Schema: {
            description: resource.description,
            type: "object",
            required: ["metadata", "spec"],
            properties: {
              apiVersion: { type: "string", description: "APIVersion of this representation of an object" },
              kind: { type: "string", description: "Kind of this object" },
              metadata: { type: "object" },
              spec: jsonSchemaOf(resource.spec),
              status: jsonSchemaOf(resource.status)
            }
          }
        }
      }
    ]
  }
})
