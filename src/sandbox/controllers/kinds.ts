/**
 * The kinds the sandbox's controllers read and write, as `KubeApi` resource descriptors with Schemas of the
 * fields the controllers use. Every level is open (unknown fields kept), so a controller's read-modify-write
 * never drops what the user, the API server or another controller set. The operator's own descriptors in
 * `src/kube/resources.ts` stay minimal; these model more (Pod conditions, Job counters, Deployment strategy).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import {
  envelope,
  type KubeObject,
  OpenObjectMeta,
  OptionalInt,
  OptionalString,
  OptionalTime,
  open,
  type Resource
} from "../../kube/resources.ts"

const StringMap = Schema.Record(Schema.String, Schema.String)

/** `metav1.LabelSelector`. */
export const LabelSelector = open({
  matchLabels: Schema.optionalKey(StringMap),
  matchExpressions: Schema.optionalKey(
    Schema.Array(
      open({ key: Schema.String, operator: Schema.String, values: Schema.optionalKey(Schema.Array(Schema.String)) })
    )
  )
})
export type LabelSelector = typeof LabelSelector.Type

const ContainerPort = open({ name: OptionalString, containerPort: Schema.Int, protocol: OptionalString })
const Container = open({ name: Schema.String, ports: Schema.optionalKey(Schema.Array(ContainerPort)) })

/** A Pod spec: what the controllers read (restart policy, containers' ports, hostname/subdomain, volumes). */
export const PodSpec = open({
  containers: Schema.Array(Container),
  restartPolicy: OptionalString,
  nodeName: OptionalString,
  hostname: OptionalString,
  subdomain: OptionalString,
  volumes: Schema.optionalKey(
    Schema.Array(
      open({
        name: Schema.String,
        persistentVolumeClaim: Schema.optionalKey(open({ claimName: Schema.String }))
      })
    )
  )
})

/** `spec.template` of a Job, Deployment or ReplicaSet. */
export const PodTemplate = open({ metadata: Schema.optionalKey(OpenObjectMeta), spec: Schema.optionalKey(PodSpec) })
export type PodTemplate = typeof PodTemplate.Type

const Condition = open({
  type: Schema.String,
  status: Schema.String,
  reason: OptionalString,
  message: OptionalString,
  lastTransitionTime: OptionalTime,
  lastUpdateTime: OptionalTime,
  lastProbeTime: OptionalTime
})
export type Condition = typeof Condition.Type

const ContainerStatus = open({
  name: Schema.String,
  ready: Schema.optionalKey(Schema.Boolean),
  restartCount: OptionalInt
})

/** core/v1 Pod. */
export const Pod = envelope({
  spec: Schema.optionalKey(PodSpec),
  status: Schema.optionalKey(
    open({
      phase: OptionalString,
      podIP: OptionalString,
      conditions: Schema.optionalKey(Schema.Array(Condition)),
      containerStatuses: Schema.optionalKey(Schema.Array(ContainerStatus)),
      initContainerStatuses: Schema.optionalKey(Schema.Array(ContainerStatus))
    })
  )
})
export type Pod = typeof Pod.Type

/** batch/v1 Job, with the counters the Job controller maintains. */
export const Job = envelope({
  spec: Schema.optionalKey(
    open({
      template: PodTemplate,
      selector: Schema.optionalKey(LabelSelector),
      backoffLimit: OptionalInt,
      activeDeadlineSeconds: OptionalInt,
      ttlSecondsAfterFinished: OptionalInt,
      completions: Schema.optionalKey(Schema.NullOr(Schema.Int)),
      parallelism: OptionalInt,
      suspend: Schema.optionalKey(Schema.Boolean)
    })
  ),
  status: Schema.optionalKey(
    open({
      active: OptionalInt,
      ready: OptionalInt,
      terminating: OptionalInt,
      succeeded: OptionalInt,
      failed: OptionalInt,
      startTime: OptionalTime,
      completionTime: OptionalTime,
      conditions: Schema.optionalKey(Schema.Array(Condition)),
      uncountedTerminatedPods: Schema.optionalKey(
        open({
          succeeded: Schema.optionalKey(Schema.Array(Schema.String)),
          failed: Schema.optionalKey(Schema.Array(Schema.String))
        })
      )
    })
  )
})
export type Job = typeof Job.Type

/** core/v1 PersistentVolumeClaim. */
export const PersistentVolumeClaim = envelope({
  spec: Schema.optionalKey(
    open({
      accessModes: Schema.optionalKey(Schema.Array(Schema.String)),
      storageClassName: Schema.optionalKey(Schema.NullOr(Schema.String)),
      volumeName: OptionalString,
      volumeMode: OptionalString,
      resources: Schema.optionalKey(open({ requests: Schema.optionalKey(StringMap) }))
    })
  ),
  status: Schema.optionalKey(open({ phase: OptionalString }))
})
export type PersistentVolumeClaim = typeof PersistentVolumeClaim.Type

/** core/v1 PersistentVolume (the sandbox provisions `hostPath` volumes only). */
export const PersistentVolume = envelope({
  spec: Schema.optionalKey(
    open({
      capacity: Schema.optionalKey(StringMap),
      accessModes: Schema.optionalKey(Schema.Array(Schema.String)),
      persistentVolumeReclaimPolicy: OptionalString,
      storageClassName: OptionalString,
      hostPath: Schema.optionalKey(open({ path: Schema.String, type: OptionalString })),
      claimRef: Schema.optionalKey(
        open({ namespace: OptionalString, name: OptionalString, uid: OptionalString, kind: OptionalString })
      )
    })
  ),
  status: Schema.optionalKey(open({ phase: OptionalString }))
})
export type PersistentVolume = typeof PersistentVolume.Type

/** storage.k8s.io/v1 StorageClass. */
export const StorageClass = envelope({
  provisioner: Schema.String,
  reclaimPolicy: OptionalString,
  volumeBindingMode: OptionalString
})
export type StorageClass = typeof StorageClass.Type

const IntOrString = Schema.Union([Schema.Int, Schema.String])

/** apps/v1 Deployment. */
export const Deployment = envelope({
  spec: Schema.optionalKey(
    open({
      replicas: OptionalInt,
      selector: LabelSelector,
      template: PodTemplate,
      minReadySeconds: OptionalInt,
      revisionHistoryLimit: OptionalInt,
      progressDeadlineSeconds: OptionalInt,
      paused: Schema.optionalKey(Schema.Boolean),
      strategy: Schema.optionalKey(
        open({
          type: OptionalString,
          rollingUpdate: Schema.optionalKey(
            open({ maxUnavailable: Schema.optionalKey(IntOrString), maxSurge: Schema.optionalKey(IntOrString) })
          )
        })
      )
    })
  ),
  status: Schema.optionalKey(
    open({
      observedGeneration: OptionalInt,
      replicas: OptionalInt,
      updatedReplicas: OptionalInt,
      readyReplicas: OptionalInt,
      availableReplicas: OptionalInt,
      unavailableReplicas: OptionalInt,
      conditions: Schema.optionalKey(Schema.Array(Condition))
    })
  )
})
export type Deployment = typeof Deployment.Type

/** apps/v1 ReplicaSet. */
export const ReplicaSet = envelope({
  spec: Schema.optionalKey(
    open({ replicas: OptionalInt, selector: LabelSelector, template: PodTemplate, minReadySeconds: OptionalInt })
  ),
  status: Schema.optionalKey(
    open({
      observedGeneration: OptionalInt,
      replicas: OptionalInt,
      fullyLabeledReplicas: OptionalInt,
      readyReplicas: OptionalInt,
      availableReplicas: OptionalInt
    })
  )
})
export type ReplicaSet = typeof ReplicaSet.Type

/** core/v1 Service. */
export const Service = envelope({
  spec: Schema.optionalKey(
    open({
      selector: Schema.optionalKey(StringMap),
      clusterIP: OptionalString,
      publishNotReadyAddresses: Schema.optionalKey(Schema.Boolean),
      ports: Schema.optionalKey(
        Schema.Array(
          open({
            port: Schema.Int,
            name: OptionalString,
            protocol: OptionalString,
            targetPort: Schema.optionalKey(IntOrString)
          })
        )
      )
    })
  )
})
export type Service = typeof Service.Type

/** core/v1 Endpoints (written whole; the subsets are not read back). */
export const Endpoints = envelope({ subsets: Schema.optionalKey(Schema.Array(Schema.Unknown)) })
export type Endpoints = typeof Endpoints.Type

/** discovery.k8s.io/v1 EndpointSlice (written whole). */
export const EndpointSlice = envelope({
  addressType: Schema.String,
  endpoints: Schema.optionalKey(Schema.NullOr(Schema.Array(Schema.Unknown))),
  ports: Schema.optionalKey(Schema.NullOr(Schema.Array(Schema.Unknown)))
})
export type EndpointSlice = typeof EndpointSlice.Type

const kind = <A extends KubeObject>(
  group: string,
  plural: string,
  name: string,
  namespaced: boolean,
  schema: Schema.Codec<A, unknown>
): Resource<A> => ({ group, version: "v1", plural, kind: name, namespaced, schema })

/** The resources the sandbox's controllers touch. */
export const Kinds = {
  pods: kind("", "pods", "Pod", true, Pod),
  jobs: kind("batch", "jobs", "Job", true, Job),
  persistentVolumeClaims: kind("", "persistentvolumeclaims", "PersistentVolumeClaim", true, PersistentVolumeClaim),
  persistentVolumes: kind("", "persistentvolumes", "PersistentVolume", false, PersistentVolume),
  storageClasses: kind("storage.k8s.io", "storageclasses", "StorageClass", false, StorageClass),
  deployments: kind("apps", "deployments", "Deployment", true, Deployment),
  replicaSets: kind("apps", "replicasets", "ReplicaSet", true, ReplicaSet),
  services: kind("", "services", "Service", true, Service),
  endpoints: kind("", "endpoints", "Endpoints", true, Endpoints),
  endpointSlices: kind("discovery.k8s.io", "endpointslices", "EndpointSlice", true, EndpointSlice)
} as const
