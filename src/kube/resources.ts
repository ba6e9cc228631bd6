/**
 * Resource descriptors: where a kind lives in the API (group, version, plural, scope) and the Schema its
 * objects decode with. `KubeApi` is generic over these, so one implementation serves every kind.
 *
 * The built-in kinds get minimal Schemas of the fields the operator reads or writes. Each object level is
 * open (`StructWithRest` with an `unknown` record), so fields we do not model survive a read-modify-PUT:
 * dropping them on replace would erase what the API server or other controllers set.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { Backup } from "../api/backup.ts"
import { Cluster } from "../api/cluster.ts"
import { Group, ObjectMeta, Version } from "../api/common.ts"
import { ScheduledBackup } from "../api/scheduledBackup.ts"

/** The fields of an object every verb needs: its identity and resourceVersion. */
export interface KubeObject {
  readonly metadata?:
    | {
        readonly name?: string | undefined
        readonly generateName?: string | undefined
        readonly namespace?: string | undefined
        readonly resourceVersion?: string | undefined
        readonly uid?: string | undefined
      }
    | undefined
}

/** Which object: its name, and its namespace for namespaced kinds. */
export interface ObjectRef {
  readonly namespace?: string | undefined
  readonly name: string
}

/** Where a kind lives in the API. */
export interface ResourceType {
  /** API group; `""` for the core group (`/api/v1`). */
  readonly group: string
  readonly version: string
  /** Lower-case plural used in paths, e.g. `backups`. */
  readonly plural: string
  readonly kind: string
  readonly namespaced: boolean
}

/** A kind's place in the API plus the Schema its objects decode with. */
export interface Resource<A extends KubeObject> extends ResourceType {
  readonly schema: Schema.Codec<A, unknown>
}

/** `apiVersion` of a resource's objects, e.g. `batch/v1` or `v1`. */
export const apiVersionOf = (resource: ResourceType): string =>
  resource.group === "" ? resource.version : `${resource.group}/${resource.version}`

/** The collection path: `/apis/batch/v1/namespaces/ns/jobs`, or without namespace for all namespaces. */
export const collectionPath = (resource: ResourceType, namespace: string | undefined): string => {
  const root = resource.group === "" ? `/api/${resource.version}` : `/apis/${resource.group}/${resource.version}`
  const scope = resource.namespaced && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : ""
  return `${root}${scope}/${resource.plural}`
}

/** The path of one object (`…/jobs/name`). */
export const objectPath = (resource: ResourceType, namespace: string | undefined, name: string): string =>
  `${collectionPath(resource, namespace)}/${encodeURIComponent(name)}`

/** How a request is named in errors and spans: `PATCH backups ns/name`. */
export const describeRequest = (verb: string, resource: ResourceType, ref?: Partial<ObjectRef>): string => {
  const where =
    ref === undefined ? "" : ref.namespace === undefined ? ` ${ref.name ?? ""}` : ` ${ref.namespace}/${ref.name ?? ""}`
  return `${verb} ${resource.plural}${where}`.trimEnd()
}

/** The cache and work-queue key of an object: `namespace/name`, or `name` for cluster-scoped kinds. */
export const keyOf = (object: KubeObject): string => {
  const namespace = object.metadata?.namespace
  const name = object.metadata?.name ?? ""
  return namespace === undefined || namespace === "" ? name : `${namespace}/${name}`
}

/** Splits a `namespace/name` key. */
export const parseKey = (key: string): ObjectRef => {
  const slash = key.indexOf("/")
  return slash < 0
    ? { namespace: undefined, name: key }
    : { namespace: key.slice(0, slash), name: key.slice(slash + 1) }
}

const Rest = [Schema.Record(Schema.String, Schema.Unknown)] as const

/** A struct that keeps the fields it does not model. */
export const open = <const Fields extends Schema.Struct.Fields>(fields: Fields) =>
  Schema.StructWithRest(Schema.Struct(fields), Rest)

export const OptionalString = Schema.optionalKey(Schema.String)
export const OptionalInt = Schema.optionalKey(Schema.Int)
/** Go `*metav1.Time`/`MicroTime` fields are serialised as `null` when unset on some kinds (Events). */
export const OptionalTime = Schema.optionalKey(Schema.NullOr(Schema.String))

/** `metadata` of a built-in object: our modelled fields, everything else kept. */
export const OpenObjectMeta = Schema.StructWithRest(ObjectMeta, Rest)

/** A built-in object's Schema: `apiVersion`, `kind`, open `metadata`, and `fields`, all open. */
export const envelope = <const Fields extends Schema.Struct.Fields>(fields: Fields) =>
  open({ apiVersion: OptionalString, kind: OptionalString, metadata: OpenObjectMeta, ...fields })

const Container = open({ name: Schema.String, image: OptionalString })

/** A Pod template / Pod spec: containers and restart policy modelled, the rest kept. */
export const PodSpec = open({
  containers: Schema.Array(Container),
  restartPolicy: OptionalString,
  nodeName: OptionalString
})

/** `spec.template` of a Job or Deployment. */
const PodTemplate = open({ metadata: Schema.optionalKey(OpenObjectMeta), spec: Schema.optionalKey(PodSpec) })

/** `batch/v1` JobCondition (`Complete`, `Failed`, `SuccessCriteriaMet`, `FailureTarget`, …). */
export const JobCondition = open({
  type: Schema.String,
  status: Schema.String,
  reason: OptionalString,
  message: OptionalString,
  lastTransitionTime: OptionalTime
})
export type JobCondition = typeof JobCondition.Type

/** `batch/v1` Job. */
export const Job = envelope({
  spec: Schema.optionalKey(
    open({
      template: PodTemplate,
      backoffLimit: OptionalInt,
      activeDeadlineSeconds: OptionalInt,
      ttlSecondsAfterFinished: OptionalInt
    })
  ),
  status: Schema.optionalKey(
    open({
      active: OptionalInt,
      succeeded: OptionalInt,
      failed: OptionalInt,
      startTime: OptionalTime,
      completionTime: OptionalTime,
      conditions: Schema.optionalKey(Schema.Array(JobCondition))
    })
  )
})
export type Job = typeof Job.Type

/** apps/v1 Deployment: the binlog archiver's (one per Cluster that enables archiving). */
export const Deployment = envelope({
  spec: Schema.optionalKey(
    open({
      replicas: OptionalInt,
      template: PodTemplate
    })
  ),
  status: Schema.optionalKey(open({ readyReplicas: OptionalInt, availableReplicas: OptionalInt }))
})
export type Deployment = typeof Deployment.Type

const ContainerStatus = open({
  name: Schema.String,
  ready: Schema.optionalKey(Schema.Boolean),
  restartCount: OptionalInt,
  state: Schema.optionalKey(
    open({
      terminated: Schema.optionalKey(open({ exitCode: Schema.Int, reason: OptionalString, message: OptionalString }))
    })
  )
})

/** core/v1 Pod: phase, IP and container termination state (where a Job's termination message is). */
export const Pod = envelope({
  spec: Schema.optionalKey(PodSpec),
  status: Schema.optionalKey(
    open({
      phase: OptionalString,
      podIP: OptionalString,
      conditions: Schema.optionalKey(Schema.Array(open({ type: Schema.String, status: Schema.String }))),
      containerStatuses: Schema.optionalKey(Schema.Array(ContainerStatus))
    })
  )
})
export type Pod = typeof Pod.Type

/** core/v1 Secret (`data` values are base64). */
export const Secret = envelope({
  type: OptionalString,
  data: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  stringData: Schema.optionalKey(Schema.Record(Schema.String, Schema.String))
})
export type Secret = typeof Secret.Type

/** core/v1 ConfigMap. */
export const ConfigMap = envelope({
  data: Schema.optionalKey(Schema.Record(Schema.String, Schema.String))
})
export type ConfigMap = typeof ConfigMap.Type

/** core/v1 Service. */
export const Service = envelope({
  spec: Schema.optionalKey(
    open({
      selector: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
      clusterIP: OptionalString,
      ports: Schema.optionalKey(Schema.Array(open({ port: Schema.Int, name: OptionalString })))
    })
  )
})
export type Service = typeof Service.Type

/** core/v1 PersistentVolumeClaim. */
export const PersistentVolumeClaim = envelope({
  spec: Schema.optionalKey(
    open({
      accessModes: Schema.optionalKey(Schema.Array(Schema.String)),
      storageClassName: OptionalString
    })
  ),
  status: Schema.optionalKey(open({ phase: OptionalString }))
})
export type PersistentVolumeClaim = typeof PersistentVolumeClaim.Type

/** The `involvedObject` of a core/v1 Event (an `ObjectReference`). */
export const ObjectReference = open({
  apiVersion: OptionalString,
  kind: OptionalString,
  name: OptionalString,
  namespace: OptionalString,
  uid: OptionalString,
  resourceVersion: OptionalString,
  fieldPath: OptionalString
})
export type ObjectReference = typeof ObjectReference.Type

/** core/v1 Event: what `kubectl describe` lists under "Events". */
export const Event = envelope({
  involvedObject: ObjectReference,
  reason: OptionalString,
  message: OptionalString,
  type: OptionalString,
  source: Schema.optionalKey(open({ component: OptionalString, host: OptionalString })),
  firstTimestamp: OptionalTime,
  lastTimestamp: OptionalTime,
  eventTime: OptionalTime,
  count: OptionalInt,
  reportingComponent: OptionalString,
  reportingInstance: OptionalString
})
export type Event = typeof Event.Type

/** coordination.k8s.io/v1 Lease, the leader-election lock. Times are MicroTime (6 fractional digits). */
export const Lease = envelope({
  spec: Schema.optionalKey(
    open({
      holderIdentity: Schema.optionalKey(Schema.NullOr(Schema.String)),
      leaseDurationSeconds: Schema.optionalKey(Schema.NullOr(Schema.Int)),
      acquireTime: OptionalTime,
      renewTime: OptionalTime,
      leaseTransitions: Schema.optionalKey(Schema.NullOr(Schema.Int))
    })
  )
})
export type Lease = typeof Lease.Type

/** core/v1 ServiceAccount (the per-Backup identity the worker reports progress with). */
export const ServiceAccount = envelope({ automountServiceAccountToken: Schema.optionalKey(Schema.Boolean) })
export type ServiceAccount = typeof ServiceAccount.Type

const PolicyRule = open({
  apiGroups: Schema.optionalKey(Schema.Array(Schema.String)),
  resources: Schema.optionalKey(Schema.Array(Schema.String)),
  resourceNames: Schema.optionalKey(Schema.Array(Schema.String)),
  verbs: Schema.Array(Schema.String)
})

/** rbac.authorization.k8s.io/v1 Role. */
export const Role = envelope({ rules: Schema.optionalKey(Schema.Array(PolicyRule)) })
export type Role = typeof Role.Type

/** rbac.authorization.k8s.io/v1 RoleBinding. */
export const RoleBinding = envelope({
  roleRef: open({ apiGroup: Schema.String, kind: Schema.String, name: Schema.String }),
  subjects: Schema.optionalKey(
    Schema.Array(open({ kind: Schema.String, name: Schema.String, namespace: OptionalString }))
  )
})
export type RoleBinding = typeof RoleBinding.Type

const namespaced = <A extends KubeObject>(
  group: string,
  version: string,
  plural: string,
  kind: string,
  schema: Schema.Codec<A, unknown>
): Resource<A> => ({ group, version, plural, kind, namespaced: true, schema })

/** The resources the operator touches. */
export const Resources = {
  backups: namespaced(Group, Version, "backups", "Backup", Backup),
  scheduledBackups: namespaced(Group, Version, "scheduledbackups", "ScheduledBackup", ScheduledBackup),
  clusters: namespaced(Group, Version, "clusters", "Cluster", Cluster),
  jobs: namespaced("batch", "v1", "jobs", "Job", Job),
  deployments: namespaced("apps", "v1", "deployments", "Deployment", Deployment),
  pods: namespaced("", "v1", "pods", "Pod", Pod),
  secrets: namespaced("", "v1", "secrets", "Secret", Secret),
  configMaps: namespaced("", "v1", "configmaps", "ConfigMap", ConfigMap),
  services: namespaced("", "v1", "services", "Service", Service),
  persistentVolumeClaims: namespaced(
    "",
    "v1",
    "persistentvolumeclaims",
    "PersistentVolumeClaim",
    PersistentVolumeClaim
  ),
  events: namespaced("", "v1", "events", "Event", Event),
  leases: namespaced("coordination.k8s.io", "v1", "leases", "Lease", Lease),
  serviceAccounts: namespaced("", "v1", "serviceaccounts", "ServiceAccount", ServiceAccount),
  roles: namespaced("rbac.authorization.k8s.io", "v1", "roles", "Role", Role),
  roleBindings: namespaced("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", RoleBinding)
} as const
