/**
 * The part of the core/v1 Pod spec the node agent acts on, as Schemas: the agent decodes every Pod it runs with
 * these, so a field it honours has one typed shape and everything else passes by untouched.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

const opt = Schema.optionalKey
const Str = Schema.String
const Int = Schema.Int
const Bool = Schema.Boolean

/** `IntOrString` (a port number or a named container port). */
export const IntOrString = Schema.Union([Int, Str])

export const KeyToPath = Schema.Struct({ key: Str, path: Str, mode: opt(Int) })
export type KeyToPath = typeof KeyToPath.Type

const KeySelector = Schema.Struct({ name: opt(Str), key: Str, optional: opt(Bool) })
export type KeySelector = typeof KeySelector.Type

const ObjectFieldSelector = Schema.Struct({ fieldPath: Str, apiVersion: opt(Str) })
export type ObjectFieldSelector = typeof ObjectFieldSelector.Type

const ResourceFieldSelector = Schema.Struct({
  containerName: opt(Str),
  resource: Str,
  divisor: opt(Schema.Union([Str, Schema.Number]))
})
export type ResourceFieldSelector = typeof ResourceFieldSelector.Type

export const EnvVar = Schema.Struct({
  name: Str,
  value: opt(Str),
  valueFrom: opt(
    Schema.Struct({
      secretKeyRef: opt(KeySelector),
      configMapKeyRef: opt(KeySelector),
      fieldRef: opt(ObjectFieldSelector),
      resourceFieldRef: opt(ResourceFieldSelector)
    })
  )
})
export type EnvVar = typeof EnvVar.Type

const NameRef = Schema.Struct({ name: opt(Str), optional: opt(Bool) })

export const EnvFromSource = Schema.Struct({ prefix: opt(Str), secretRef: opt(NameRef), configMapRef: opt(NameRef) })
export type EnvFromSource = typeof EnvFromSource.Type

export const VolumeMount = Schema.Struct({ name: Str, mountPath: Str, readOnly: opt(Bool), subPath: opt(Str) })
export type VolumeMount = typeof VolumeMount.Type

const HttpGetAction = Schema.Struct({
  path: opt(Str),
  port: IntOrString,
  host: opt(Str),
  scheme: opt(Str),
  httpHeaders: opt(Schema.Array(Schema.Struct({ name: Str, value: Str })))
})
const TcpSocketAction = Schema.Struct({ port: IntOrString, host: opt(Str) })
const ExecAction = Schema.Struct({ command: opt(Schema.Array(Str)) })

/** core/v1 `ProbeHandler`: the actions a probe and a lifecycle hook share. */
const probeHandler = { httpGet: opt(HttpGetAction), tcpSocket: opt(TcpSocketAction), exec: opt(ExecAction) }

/** core/v1 `LifecycleHandler`. */
export const Handler = Schema.Struct({ ...probeHandler, sleep: opt(Schema.Struct({ seconds: Int })) })
export type Handler = typeof Handler.Type

export const Probe = Schema.Struct({
  ...probeHandler,
  initialDelaySeconds: opt(Int),
  periodSeconds: opt(Int),
  timeoutSeconds: opt(Int),
  successThreshold: opt(Int),
  failureThreshold: opt(Int),
  terminationGracePeriodSeconds: opt(Int)
})
export type Probe = typeof Probe.Type

export const SecurityContext = Schema.Struct({
  runAsUser: opt(Int),
  runAsGroup: opt(Int),
  runAsNonRoot: opt(Bool),
  readOnlyRootFilesystem: opt(Bool)
})
export type SecurityContext = typeof SecurityContext.Type

const ContainerPort = Schema.Struct({ name: opt(Str), containerPort: Int, protocol: opt(Str) })

const Quantities = Schema.Record(Str, Schema.Union([Str, Schema.Number]))

export const Container = Schema.Struct({
  name: Str,
  image: opt(Str),
  command: opt(Schema.Array(Str)),
  args: opt(Schema.Array(Str)),
  workingDir: opt(Str),
  env: opt(Schema.Array(EnvVar)),
  envFrom: opt(Schema.Array(EnvFromSource)),
  volumeMounts: opt(Schema.Array(VolumeMount)),
  ports: opt(Schema.Array(ContainerPort)),
  readinessProbe: opt(Probe),
  livenessProbe: opt(Probe),
  startupProbe: opt(Probe),
  lifecycle: opt(Schema.Struct({ preStop: opt(Handler), postStart: opt(Handler) })),
  terminationMessagePath: opt(Str),
  terminationMessagePolicy: opt(Str),
  securityContext: opt(SecurityContext),
  resources: opt(Schema.Struct({ requests: opt(Quantities), limits: opt(Quantities) }))
})
export type Container = typeof Container.Type

const DownwardItem = Schema.Struct({
  path: Str,
  fieldRef: opt(ObjectFieldSelector),
  resourceFieldRef: opt(ResourceFieldSelector),
  mode: opt(Int)
})
export type DownwardItem = typeof DownwardItem.Type

const SecretProjection = Schema.Struct({ name: opt(Str), items: opt(Schema.Array(KeyToPath)), optional: opt(Bool) })
export type ObjectProjection = typeof SecretProjection.Type

export const ProjectionSource = Schema.Struct({
  secret: opt(SecretProjection),
  configMap: opt(SecretProjection),
  downwardAPI: opt(Schema.Struct({ items: opt(Schema.Array(DownwardItem)) })),
  serviceAccountToken: opt(Schema.Struct({ path: Str, expirationSeconds: opt(Int), audience: opt(Str) }))
})
export type ProjectionSource = typeof ProjectionSource.Type

export const Volume = Schema.Struct({
  name: Str,
  emptyDir: opt(Schema.Struct({ medium: opt(Str), sizeLimit: opt(Schema.Union([Str, Schema.Number])) })),
  secret: opt(
    Schema.Struct({
      secretName: opt(Str),
      items: opt(Schema.Array(KeyToPath)),
      defaultMode: opt(Int),
      optional: opt(Bool)
    })
  ),
  configMap: opt(
    Schema.Struct({ name: opt(Str), items: opt(Schema.Array(KeyToPath)), defaultMode: opt(Int), optional: opt(Bool) })
  ),
  persistentVolumeClaim: opt(Schema.Struct({ claimName: Str, readOnly: opt(Bool) })),
  downwardAPI: opt(Schema.Struct({ items: opt(Schema.Array(DownwardItem)), defaultMode: opt(Int) })),
  projected: opt(Schema.Struct({ sources: opt(Schema.Array(ProjectionSource)), defaultMode: opt(Int) }))
})
export type Volume = typeof Volume.Type

export const PodSecurityContext = Schema.Struct({
  runAsUser: opt(Int),
  runAsGroup: opt(Int),
  runAsNonRoot: opt(Bool),
  fsGroup: opt(Int),
  supplementalGroups: opt(Schema.Array(Int)),
  fsGroupChangePolicy: opt(Str)
})
export type PodSecurityContext = typeof PodSecurityContext.Type

export const PodSpec = Schema.Struct({
  nodeName: opt(Str),
  containers: Schema.Array(Container),
  initContainers: opt(Schema.Array(Container)),
  volumes: opt(Schema.Array(Volume)),
  restartPolicy: opt(Schema.Literals(["Always", "OnFailure", "Never"])),
  terminationGracePeriodSeconds: opt(Int),
  activeDeadlineSeconds: opt(Int),
  serviceAccountName: opt(Str),
  automountServiceAccountToken: opt(Bool),
  hostname: opt(Str),
  subdomain: opt(Str),
  securityContext: opt(PodSecurityContext),
  hostAliases: opt(Schema.Array(Schema.Struct({ ip: Str, hostnames: opt(Schema.Array(Str)) })))
})
export type PodSpec = typeof PodSpec.Type

/** Decodes a stored Pod's spec; the message names the first field that does not fit. */
export const decodePodSpec = Schema.decodeUnknownEffect(PodSpec)
