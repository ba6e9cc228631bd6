/**
 * Building blocks shared by the CRD schemas: Kubernetes names, Secret key references, conditions.
 *
 * Every regex carries the `u` flag: the JSON Schema generator only exports `pattern` for those.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import { listMapKeyed } from "./validation.ts"

/** A DNS-1123 label (what Kubernetes requires for most object names that become DNS or label values). */
export const DnsLabel = Schema.String.check(
  Schema.isPattern(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/u),
  Schema.isMaxLength(63)
).annotate({ description: "A DNS-1123 label: lowercase alphanumerics and '-', at most 63 characters" })

/** A DNS-1123 subdomain (the general Kubernetes object name rule, e.g. Secret names). */
export const DnsSubdomain = Schema.String.check(
  Schema.isPattern(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/u),
  Schema.isMaxLength(253)
).annotate({ description: "A DNS-1123 subdomain" })

/** A reference to one key of a Secret in the same namespace. */
export const SecretKeySelector = Schema.Struct({
  name: DnsSubdomain.annotate({ description: "Name of the Secret" }),
  key: Schema.String.check(Schema.isPattern(/^[-._a-zA-Z0-9]+$/u), Schema.isMaxLength(253)).annotate({
    description: "Key inside the Secret"
  })
}).annotate({ description: "A key of a Secret in the object's namespace" })
export type SecretKeySelector = typeof SecretKeySelector.Type

/** A reference to another object by name, in the same namespace. */
export const LocalObjectReference = Schema.Struct({
  name: DnsSubdomain
})
export type LocalObjectReference = typeof LocalObjectReference.Type

/** The `metav1.Condition` shape. */
export const Condition = Schema.Struct({
  type: Schema.String.check(Schema.isMaxLength(316)),
  status: Schema.Literals(["True", "False", "Unknown"]),
  reason: Schema.String.check(Schema.isPattern(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/u), Schema.isMaxLength(1024)),
  message: Schema.String.check(Schema.isMaxLength(32768)),
  lastTransitionTime: Schema.String.annotate({ format: "date-time" }),
  observedGeneration: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)))
}).annotate({ description: "A metav1.Condition" })
export type Condition = typeof Condition.Type

/** A condition list, one entry per type (`x-kubernetes-list-type: map`). */
export const Conditions = Schema.Array(Condition).check(listMapKeyed("type"))

/** The `metadata` fields our code reads; the rest is preserved by the API server, not by us. */
export const ObjectMeta = Schema.Struct({
  name: Schema.optionalKey(Schema.String),
  generateName: Schema.optionalKey(Schema.String),
  namespace: Schema.optionalKey(Schema.String),
  uid: Schema.optionalKey(Schema.String),
  resourceVersion: Schema.optionalKey(Schema.String),
  generation: Schema.optionalKey(Schema.Int),
  creationTimestamp: Schema.optionalKey(Schema.String),
  deletionTimestamp: Schema.optionalKey(Schema.String),
  labels: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  annotations: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  finalizers: Schema.optionalKey(Schema.Array(Schema.String)),
  ownerReferences: Schema.optionalKey(
    Schema.Array(
      Schema.Struct({
        apiVersion: Schema.String,
        kind: Schema.String,
        name: Schema.String,
        uid: Schema.String,
        controller: Schema.optionalKey(Schema.Boolean),
        blockOwnerDeletion: Schema.optionalKey(Schema.Boolean)
      })
    )
  )
})
export type ObjectMeta = typeof ObjectMeta.Type

/** The supported server flavours (`metadata.json`'s `flavor`, the restore's `RESTORE_FLAVOR`). */
export const FlavorName = Schema.Literals(["mariadb", "mysql"])
export type FlavorName = typeof FlavorName.Type

/** API group and version of every custom resource of this operator. */
export const Group = "mysql.cloudnative-mysql.io"
export const Version = "v1alpha1"
export const ApiVersion = `${Group}/${Version}`

/**
 * A field with a default, written once: the API server applies it (the CRD's `default`) and decoding applies
 * it again, so code reading an object never sees the field absent.
 */
export const defaulted = <S extends Schema.Constraint & Schema.Top>(
  schema: S,
  value: S["Type"],
  description?: string
) =>
  Schema.withDecodingDefaultTypeKey<S>(Effect.succeed(value))(
    schema.annotate(description === undefined ? { default: value } : { default: value, description }) as S
  )

/** The fields every status of ours ends with. */
export const statusFields = {
  conditions: Schema.optionalKey(Conditions),
  observedGeneration: Schema.optionalKey(Schema.Int)
}

/** A custom resource of this operator: the envelope around its `spec` and optional `status`. */
export const customResource = <Kind extends string, Spec extends Schema.Top, Status extends Schema.Top>(
  kind: Kind,
  spec: Spec,
  status: Status
) =>
  Schema.Struct({
    apiVersion: Schema.Literal(ApiVersion),
    kind: Schema.Literal(kind),
    metadata: ObjectMeta,
    spec,
    status: Schema.optionalKey(status)
  })
