/**
 * The Jobs the Backup controller creates, rendered as pure functions of what was observed (no clock, no I/O), so
 * the same Backup always gives the same Job and tests can snapshot it.
 *
 * The backup Job (`<backup>-backup`, at most 63 characters) runs `cloudnative-mysql backup` in the Cluster's
 * image, so the backup tool matches the server. It holds the only copy of the object-store credentials a backup
 * needs: every referenced Secret key is mounted as a file named after the spec field (`objectstore/connection.ts`
 * reads them there); no value ever appears in the environment. The cluster's client certificate is mounted for
 * the mutual-TLS connection to the source's instance manager, addressed by Pod IP and verified against the name
 * in its server certificate.
 *
 * The only Kubernetes access the worker has is to report progress: the Job runs as a ServiceAccount of its own
 * (`<backup>-backup`, created with a Role and RoleBinding of the same name, all owned by the Backup so the garbage
 * collector removes them with it) whose Role allows `get` and `patch` on `backups/status` of that one Backup
 * (`resourceNames`) and nothing else. `renderProgressAccess` renders the three.
 *
 * The cleanup Job (`<backup>-cleanup`) runs `cloudnative-mysql abort-uploads` under the backup's prefix. It is
 * derived from the backup Job alone (same image, same object-store env and volume), so it can be rendered after
 * the Backup itself is gone.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import type { Backup } from "../../api/backup.ts"
import { CleanupEnv } from "../../api/cleanupJob.ts"
import type { Cluster } from "../../api/cluster.ts"
import { Group } from "../../api/common.ts"
import { envVarList } from "../../api/env.ts"
import type { WorkerEnvVars } from "../../api/jobs.ts"
import {
  annotations,
  backupJobLabels,
  backupJobName,
  cleanupJobName,
  finalizers,
  instanceDnsName,
  instanceManagerApiPort,
  labels,
  secretNames
} from "../../api/names.ts"
import type { ObjectStore } from "../../api/objectStore.ts"
import type { Job, Role, RoleBinding, ServiceAccount } from "../../kube/resources.ts"
import { urlHost } from "../../platform/urlHost.ts"
import { objectStoreAccess, objectStoreVolumeName, sdkHome } from "../objectStoreAccess.ts"

/** Retries of a failed worker Pod before the Job fails (`backoffLimit`): each retry reuses the backup id. */
export const backupBackoffLimit = 2

/** The Job deadline when the Backup sets none: 6 hours, for a multi-terabyte stream at a modest rate. */
export const defaultActiveDeadlineSeconds = 6 * 60 * 60

/** The cleanup Job's deadline and how long a finished cleanup Job is kept when no Backup owns it. */
export const cleanupActiveDeadlineSeconds = 15 * 60
export const orphanCleanupTtlSeconds = 60 * 60

/** Where the worker finds the client certificate and the object-store secret files. */
export const tlsMountPath = "/var/run/secrets/cloudnative-mysql/tls"
export const objectStoreMountPath = "/var/run/secrets/cloudnative-mysql/object-store"

/** The container names. */
export const backupContainerName = "backup"
export const cleanupContainerName = "abort-uploads"

const tlsVolume = "client-tls"

/** What a backup Job is rendered from. */
export interface BackupJobInput {
  readonly backup: Backup
  readonly cluster: Cluster
  readonly backupId: string
  /** The source instance (Pod) name and IP, from `Cluster.status`. */
  readonly instanceName: string
  readonly podIP: string
  readonly objectStore: ObjectStore
  /** `<path>/<cluster>/<backup-name>/<backup-id>/` */
  readonly prefix: string
}

const ownerReference = (backup: Backup) => ({
  apiVersion: backup.apiVersion,
  kind: backup.kind,
  name: backup.metadata.name ?? "",
  uid: backup.metadata.uid ?? "",
  controller: true,
  blockOwnerDeletion: true
})

// the worker, the janitor and retention need no privilege and write only their termination message
const restrictedContainer = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] }
}

/**
 * The user the worker and the janitor run as: the instance image's non-root user (the one the database Pods
 * run as), stated rather than inherited so `runAsNonRoot` holds whatever the image says. `fsGroup` is what lets
 * that user read the 0400 Secret files: the kubelet makes Secret content group-readable by it (without it the
 * files belong to root and the worker cannot read its credentials).
 */
export const workerPodSecurityContext = {
  runAsNonRoot: true,
  runAsUser: 999,
  runAsGroup: 999,
  fsGroup: 999,
  seccompProfile: { type: "RuntimeDefault" }
}

/** How often the worker writes `status.progress`: a write per running Backup every 5 s. */
export const progressIntervalMillis = 5_000

/**
 * The one permission the worker's ServiceAccount has: patch its own Backup's status. No `get`: the merge patch
 * needs no read, and RBAC lets the operator grant only what it holds itself (it holds `patch`, not `get`, on
 * `backups/status`).
 */
export const progressRules = (backupName: string) => [
  { apiGroups: [Group], resources: ["backups/status"], resourceNames: [backupName], verbs: ["patch"] }
]

/** The worker's ServiceAccount, its Role and the RoleBinding between them, all owned by the Backup. */
export interface ProgressAccess {
  readonly serviceAccount: ServiceAccount
  readonly role: Role
  readonly roleBinding: RoleBinding
}

/** The worker's identity for progress reports (see the module comment); named like its Job. */
export const renderProgressAccess = (backup: Backup, clusterName: string): ProgressAccess => {
  const backupName = backup.metadata.name ?? ""
  const metadata = {
    name: backupJobName(backupName),
    namespace: backup.metadata.namespace ?? "",
    labels: backupJobLabels(clusterName, backupName),
    ownerReferences: [ownerReference(backup)]
  }
  return {
    serviceAccount: {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata,
      // only the backup Job, which asks for it, mounts a token of this account
      automountServiceAccountToken: false
    },
    role: { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata, rules: progressRules(backupName) },
    roleBinding: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata,
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: metadata.name },
      subjects: [{ kind: "ServiceAccount", name: metadata.name, namespace: metadata.namespace }]
    }
  }
}

/** The worker's environment (the `WorkerEnv` contract, encoded). */
export const workerEnv = (input: BackupJobInput): WorkerEnvVars => {
  const namespace = input.backup.metadata.namespace ?? ""
  const cluster = input.cluster.metadata.name ?? ""
  return {
    BACKUP_NAMESPACE: namespace,
    BACKUP_CLUSTER_NAME: cluster,
    ...(input.cluster.metadata.uid === undefined ? {} : { BACKUP_CLUSTER_UID: input.cluster.metadata.uid }),
    BACKUP_NAME: input.backup.metadata.name ?? "",
    ...(input.backup.metadata.uid === undefined ? {} : { BACKUP_UID: input.backup.metadata.uid }),
    BACKUP_ID: input.backupId,
    BACKUP_INSTANCE_URL: `https://${urlHost(input.podIP)}:${instanceManagerApiPort}`,
    BACKUP_INSTANCE_NAME: input.instanceName,
    BACKUP_TLS_CA_FILE: `${tlsMountPath}/ca.crt`,
    BACKUP_TLS_CERT_FILE: `${tlsMountPath}/tls.crt`,
    BACKUP_TLS_KEY_FILE: `${tlsMountPath}/tls.key`,
    BACKUP_TLS_SERVER_NAME: instanceDnsName(cluster, input.instanceName, namespace),
    BACKUP_PROGRESS_INTERVAL_MS: String(progressIntervalMillis),
    BACKUP_PROGRESS_STATUS: "true"
  }
}

/** The backup Job of a Backup (see the module comment). */
export const renderBackupJob = (input: BackupJobInput): Job => {
  const backupName = input.backup.metadata.name ?? ""
  const cluster = input.cluster.metadata.name ?? ""
  const jobLabels = backupJobLabels(cluster, backupName)
  const jobAnnotations = { [annotations.backupId]: input.backupId, [annotations.backupPrefix]: input.prefix }
  const objectStore = objectStoreAccess(input.objectStore, objectStoreMountPath)
  const env = envVarList({ ...workerEnv(input), ...objectStore.env })
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: backupJobName(backupName),
      namespace: input.backup.metadata.namespace ?? "",
      labels: jobLabels,
      annotations: jobAnnotations,
      ownerReferences: [ownerReference(input.backup)],
      finalizers: [finalizers.abortUploads]
    },
    spec: {
      backoffLimit: backupBackoffLimit,
      activeDeadlineSeconds: input.backup.spec.activeDeadlineSeconds ?? defaultActiveDeadlineSeconds,
      template: {
        metadata: { labels: jobLabels, annotations: jobAnnotations },
        spec: {
          restartPolicy: "Never",
          // the token of the per-Backup ServiceAccount: it may patch this Backup's status and nothing else
          serviceAccountName: backupJobName(backupName),
          automountServiceAccountToken: true,
          enableServiceLinks: false,
          securityContext: workerPodSecurityContext,
          containers: [
            {
              name: backupContainerName,
              image: input.cluster.spec.imageName,
              command: ["cloudnative-mysql", "backup"],
              env,
              terminationMessagePolicy: "File",
              securityContext: restrictedContainer,
              volumeMounts: [
                { name: tlsVolume, mountPath: tlsMountPath, readOnly: true },
                // mounted even when empty: the cleanup Job copies this volume and mount
                objectStore.volumeMount
              ]
            }
          ],
          volumes: [
            {
              name: tlsVolume,
              secret: {
                secretName: secretNames(cluster).clientTls,
                defaultMode: 0o400,
                items: [
                  { key: "ca.crt", path: "ca.crt" },
                  { key: "tls.crt", path: "tls.crt" },
                  { key: "tls.key", path: "tls.key" }
                ]
              }
            },
            objectStore.volume
          ]
        }
      }
    }
  }
}

/**
 * The Pod of a Job whose one process talks only to the object store (the janitor, retention): no token, no
 * Service links, the worker's non-root user, a restricted container that reads the store's secret files from
 * `volumes` (the object-store volume) and reports through its termination message.
 */
export const objectStorePodSpec = <V>(
  container: {
    readonly name: string
    readonly image: string
    readonly command: ReadonlyArray<string>
    readonly env: ReadonlyArray<EnvVar>
  },
  volumes: ReadonlyArray<V>
) => ({
  restartPolicy: "Never",
  automountServiceAccountToken: false,
  enableServiceLinks: false,
  securityContext: workerPodSecurityContext,
  containers: [
    {
      ...container,
      terminationMessagePolicy: "File",
      securityContext: restrictedContainer,
      volumeMounts: [{ name: objectStoreVolumeName, mountPath: objectStoreMountPath, readOnly: true }]
    }
  ],
  volumes
})

interface EnvVar {
  readonly name: string
  readonly value?: string
}

type Container = { readonly image?: string | undefined; readonly env?: ReadonlyArray<EnvVar> }
type Volume = { readonly name: string }

const encodeCleanupEnv = Schema.encodeUnknownSync(CleanupEnv)
const decodeObjectStore = Schema.decodeUnknownSync(CleanupEnv.fields.OBJECT_STORE_SPEC)

type PodTemplateSpec = NonNullable<NonNullable<Job["spec"]>["template"]["spec"]>

/**
 * A Job's Pod template spec reduced to what `renderCleanupJob` reads of a backup Job's: the containers' name and
 * image with only their `OBJECT_STORE_SPEC` variable, and the object-store credentials volume. The caches keep
 * every Job's template this way (the rest of it is most of a Job's size, and no reconciler reads it).
 */
export const cleanupSourceOf = (spec: PodTemplateSpec): PodTemplateSpec => {
  const volumes = ((spec.volumes ?? []) as ReadonlyArray<Volume>).filter(
    (volume) => volume.name === objectStoreVolumeName
  )
  return {
    containers: spec.containers.map(({ name, image, env }) => {
      const kept = ((env ?? []) as ReadonlyArray<EnvVar>).filter((variable) => variable.name === "OBJECT_STORE_SPEC")
      return { name, ...(image === undefined ? {} : { image }), ...(kept.length === 0 ? {} : { env: kept }) }
    }),
    ...(volumes.length === 0 ? {} : { volumes })
  }
}

/**
 * The cleanup Job for a backup Job: aborts the uploads under the backup's prefix. `owner` is the Backup when it
 * still exists (the Job is then deleted with it); without one the Job removes itself an hour after finishing.
 */
export const renderCleanupJob = (backupJob: Job, owner: Backup | undefined): Job => {
  const metadata = backupJob.metadata
  const podSpec = backupJob.spec?.template.spec as
    | { readonly containers: ReadonlyArray<Container>; readonly volumes?: ReadonlyArray<Volume> }
    | undefined
  const worker = podSpec?.containers[0]
  const envOf = (name: string) => worker?.env?.find((variable) => variable.name === name)?.value
  // the owner reference outlives the Backup, so the name is the same whether or not the Backup still exists
  const backupName = metadata.ownerReferences?.find((ref) => ref.kind === "Backup")?.name ?? ""
  const env = encodeCleanupEnv({
    CLEANUP_PREFIX: metadata.annotations?.[annotations.backupPrefix] ?? "",
    OBJECT_STORE_SPEC: decodeObjectStore(envOf("OBJECT_STORE_SPEC") ?? "{}"),
    OBJECT_STORE_SECRETS_DIR: objectStoreMountPath
  }) as Readonly<Record<string, string | undefined>>
  const jobLabels = { ...metadata.labels, [labels.component]: "backup-cleanup" }
  const name = cleanupJobName(backupName)
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name,
      namespace: metadata.namespace ?? "",
      labels: jobLabels,
      annotations: { ...metadata.annotations },
      ...(owner === undefined ? {} : { ownerReferences: [ownerReference(owner)] })
    },
    spec: {
      backoffLimit: backupBackoffLimit,
      activeDeadlineSeconds: cleanupActiveDeadlineSeconds,
      ...(owner === undefined ? { ttlSecondsAfterFinished: orphanCleanupTtlSeconds } : {}),
      template: {
        metadata: { labels: jobLabels },
        spec: objectStorePodSpec(
          {
            name: cleanupContainerName,
            image: worker?.image ?? "",
            command: ["cloudnative-mysql", "abort-uploads"],
            env: envVarList({ ...env, ...sdkHome })
          },
          (podSpec?.volumes ?? []).filter((volume) => volume.name === objectStoreVolumeName)
        )
      }
    }
  }
}
