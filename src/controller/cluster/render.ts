/**
 * Pure rendering of everything a Cluster owns: the instance Pods and their PVCs, the four Services, the
 * option-file ConfigMap and the recovery Job. Each renderer takes the Cluster (and what the reconciler decided)
 * and returns the object to create; nothing here reads the clock, a random source or the API.
 *
 * What runs where with which credentials (docs/cluster.md):
 * - database Pods: the server certificate and key, the Cluster CA certificate, the database passwords as
 *   mounted files, replicas also the client certificate they clone with; no object-store credentials and no
 *   Kubernetes API token (`automountServiceAccountToken: false`);
 * - the recovery Job: the object-store credentials (mounted files), the first instance's PVC, the option file.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import type { Cluster, ClusterSpec, OnDamagedLatest, RecoveryTarget } from "../../api/cluster.ts"
import { ApiVersion, type SecretKeySelector } from "../../api/common.ts"
import { envVarList } from "../../api/env.ts"
import { flavorOfImage } from "../../api/images.ts"
import type { RestoreEnvVars } from "../../api/jobs.ts"
import {
  annotations,
  clusterLabels,
  configMapName,
  type InstanceRole,
  instanceLabels,
  instanceName,
  labels,
  recoveryJobLabels,
  recoveryJobName,
  recoveryPlanJobLabels,
  recoveryPlanJobName,
  secretNames,
  serviceNames
} from "../../api/names.ts"
import type { ObjectStore } from "../../api/objectStore.ts"
import type { ConfigMap, Job, PersistentVolumeClaim, Pod, Service } from "../../kube/resources.ts"
import { objectStoreAccess } from "../objectStoreAccess.ts"
import { accountNames, passwordFiles, podPaths, ports, serverPaths, tlsFiles } from "./layout.ts"
import { renderOptionFile, serverIdOf } from "./optionFile.ts"

/** The identity of the Cluster being rendered. */
export interface ClusterRef {
  readonly name: string
  readonly namespace: string
  readonly uid: string
  readonly spec: ClusterSpec
}

/** The fields of a Cluster every renderer needs; `undefined` when the object lacks name, namespace or uid. */
export const clusterRef = (cluster: Cluster): ClusterRef | undefined => {
  const { name, namespace, uid } = cluster.metadata
  return name === undefined || namespace === undefined || uid === undefined
    ? undefined
    : { name, namespace, uid, spec: cluster.spec }
}

/** The controller owner reference every owned object carries (the garbage collector deletes them with it). */
export const ownerReference = (cluster: ClusterRef) => ({
  apiVersion: ApiVersion,
  kind: "Cluster",
  name: cluster.name,
  uid: cluster.uid,
  controller: true,
  blockOwnerDeletion: true
})

/** How an instance's empty data directory is filled (the instance manager's `DATA_DIR_BOOTSTRAP`). */
export type DataDirBootstrap = "initialise" | "clone" | "restored"

/** One instance, as the reconciler decided it. */
export interface InstancePlan {
  readonly serial: number
  readonly role: InstanceRole
  readonly bootstrap: DataDirBootstrap
}

/** The name a client dials for a Service or a Pod, as the cluster DNS resolves it. */
export const serviceHost = (cluster: ClusterRef, service: string): string => `${service}.${cluster.namespace}.svc`

/** The password Secrets: a referenced Secret key, or the generated `<cluster>-credentials` Secret. */
export const passwordSources = (cluster: ClusterRef): Record<keyof typeof passwordFiles, SecretKeySelector> => {
  const generated = secretNames(cluster.name).credentials
  const given = cluster.spec.credentials
  return {
    root: given?.root ?? { name: generated, key: passwordFiles.root },
    replication: given?.replication ?? { name: generated, key: passwordFiles.replication },
    backup: given?.backup ?? { name: generated, key: passwordFiles.backup },
    // always generated: only the operator's archiver Deployment and the instances use it
    archiver: { name: generated, key: passwordFiles.archiver }
  }
}

/** A stable hash of a rendered spec, stored as an annotation so drift shows without a deep diff. */
export const specHash = (value: unknown): string =>
  createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 16)

const metadata = (cluster: ClusterRef, name: string, objectLabels: Record<string, string>) => ({
  name,
  namespace: cluster.namespace,
  labels: objectLabels,
  ownerReferences: [ownerReference(cluster)]
})

/** The option file of instance `plan` (also what the recovery Job's temporary server runs with). */
export const renderInstanceOptionFile = (cluster: ClusterRef, plan: Pick<InstancePlan, "serial" | "role">): string =>
  renderOptionFile({
    flavor: flavorOfImage(cluster.spec.imageName),
    serverId: serverIdOf(cluster.uid, plan.serial),
    role: plan.role,
    port: ports.mysql,
    paths: serverPaths
  })

/** The ConfigMap with one option file per instance, keyed `<instance>.cnf`. */
export const renderConfigMap = (
  cluster: ClusterRef,
  instances: ReadonlyArray<Pick<InstancePlan, "serial" | "role">>
): ConfigMap => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: metadata(cluster, configMapName(cluster.name), clusterLabels(cluster.name)),
  data: Object.fromEntries(
    instances.map((plan) => [`${instanceName(cluster.name, plan.serial)}.cnf`, renderInstanceOptionFile(cluster, plan)])
  )
})

/** The PVC of instance `serial`. */
export const renderPvc = (cluster: ClusterRef, serial: number): PersistentVolumeClaim => {
  const name = instanceName(cluster.name, serial)
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: metadata(cluster, name, {
      ...clusterLabels(cluster.name),
      [labels.component]: "database",
      [labels.instanceName]: name
    }),
    spec: {
      accessModes: ["ReadWriteOnce"],
      resources: { requests: { storage: cluster.spec.storage.size } },
      ...(cluster.spec.storage.storageClass === undefined
        ? {}
        : { storageClassName: cluster.spec.storage.storageClass })
    }
  }
}

const configVolume = (cluster: ClusterRef, serial: number) => ({
  name: "config",
  configMap: {
    name: configMapName(cluster.name),
    items: [{ key: `${instanceName(cluster.name, serial)}.cnf`, path: "my.cnf" }]
  }
})

const serverTlsVolume = (cluster: ClusterRef) => ({
  name: "server-tls",
  secret: { secretName: secretNames(cluster.name).serverTls, defaultMode: 0o400 }
})

/** An env var from the Pod's own fields (the kubelet fills it in). */
export const fieldEnv = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } })

/** The database Pod of one instance. */
export const renderPod = (cluster: ClusterRef, plan: InstancePlan): Pod => {
  const name = instanceName(cluster.name, plan.serial)
  const services = serviceNames(cluster.name)
  const passwords = passwordSources(cluster)
  const replica = plan.role === "replica"
  const env: Record<string, string> = {
    FLAVOR: flavorOfImage(cluster.spec.imageName),
    PROBE_PORT: String(ports.probe),
    API_PORT: String(ports.api),
    MYSQL_SOCKET: podPaths.socket,
    MYSQLD_DEFAULTS_FILE: podPaths.optionFile,
    MYSQL_DATA_DIR: podPaths.dataDir,
    DATA_DIR_BOOTSTRAP: plan.bootstrap,
    BACKUP_USER: accountNames.backup,
    BACKUP_PASSWORD_FILE: `${podPaths.credentialsDir}/${passwordFiles.backup}`,
    ROOT_PASSWORD_FILE: `${podPaths.credentialsDir}/${passwordFiles.root}`,
    REPLICATION_USER: accountNames.replication,
    REPLICATION_PASSWORD_FILE: `${podPaths.credentialsDir}/${passwordFiles.replication}`,
    ARCHIVER_USER: accountNames.archiver,
    ARCHIVER_PASSWORD_FILE: `${podPaths.credentialsDir}/${passwordFiles.archiver}`,
    TLS_CA_FILE: `${podPaths.serverTlsDir}/${tlsFiles.ca}`,
    TLS_CERT_FILE: `${podPaths.serverTlsDir}/${tlsFiles.cert}`,
    TLS_KEY_FILE: `${podPaths.serverTlsDir}/${tlsFiles.key}`,
    ...(replica
      ? {
          CLONE_SOURCE_URL: `https://${serviceHost(cluster, services.readWrite)}:${ports.api}`,
          REPLICATION_SOURCE_HOST: serviceHost(cluster, services.readWrite),
          REPLICATION_SOURCE_PORT: String(ports.mysql),
          TLS_CLIENT_CERT_FILE: `${podPaths.clientTlsDir}/${tlsFiles.cert}`,
          TLS_CLIENT_KEY_FILE: `${podPaths.clientTlsDir}/${tlsFiles.key}`
        }
      : {})
  }
  const spec = {
    hostname: name,
    subdomain: services.headless,
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    restartPolicy: "Always",
    // a clean InnoDB shutdown can take a while on a busy server; the instance manager waits up to 120 s
    terminationGracePeriodSeconds: 130,
    securityContext: { runAsUser: 999, runAsGroup: 999, fsGroup: 999 },
    containers: [
      {
        name: "database",
        image: cluster.spec.imageName,
        command: ["cloudnative-mysql", "instance"],
        env: [
          // every listener binds the Pod IP (DESIGN.md §4)
          fieldEnv("LISTEN_ADDRESS", "status.podIP"),
          fieldEnv("MYSQLD_BIND_ADDRESS", "status.podIP"),
          ...envVarList(env)
        ],
        ports: [
          { name: "mysql", containerPort: ports.mysql, protocol: "TCP" },
          { name: "api", containerPort: ports.api, protocol: "TCP" },
          { name: "probe", containerPort: ports.probe, protocol: "TCP" }
        ],
        // a clone or a first start runs before the probe listener exists: give it up to an hour. Every probe
        // gets 5 s, not the kubelet's 1 s: /readyz runs a client query, and on a busy node (a clone or a backup
        // streaming next to it) a 1 s timeout flaps the primary out of the -rw Service, which breaks the very
        // clone and replication connections that made it busy
        startupProbe: {
          httpGet: { path: "/healthz", port: "probe" },
          periodSeconds: 10,
          timeoutSeconds: 5,
          failureThreshold: 360
        },
        livenessProbe: {
          httpGet: { path: "/healthz", port: "probe" },
          periodSeconds: 10,
          timeoutSeconds: 5,
          failureThreshold: 3
        },
        readinessProbe: {
          httpGet: { path: "/readyz", port: "probe" },
          periodSeconds: 5,
          timeoutSeconds: 5,
          failureThreshold: 3
        },
        volumeMounts: [
          { name: "data", mountPath: podPaths.volume },
          { name: "run", mountPath: podPaths.runDir },
          { name: "config", mountPath: podPaths.configDir, readOnly: true },
          { name: "server-tls", mountPath: podPaths.serverTlsDir, readOnly: true },
          { name: "credentials", mountPath: podPaths.credentialsDir, readOnly: true },
          ...(replica ? [{ name: "client-tls", mountPath: podPaths.clientTlsDir, readOnly: true }] : [])
        ]
      }
    ],
    volumes: [
      { name: "data", persistentVolumeClaim: { claimName: name } },
      { name: "run", emptyDir: {} },
      configVolume(cluster, plan.serial),
      serverTlsVolume(cluster),
      {
        name: "credentials",
        projected: {
          defaultMode: 0o400,
          sources: (["root", "replication", "backup", "archiver"] as const).map((account) => ({
            secret: {
              name: passwords[account].name,
              items: [{ key: passwords[account].key, path: passwordFiles[account] }],
              // generated credentials that predate the archiver lack its key: the instance then creates no account
              ...(account === "archiver" ? { optional: true } : {})
            }
          }))
        }
      },
      ...(replica
        ? [{ name: "client-tls", secret: { secretName: secretNames(cluster.name).clientTls, defaultMode: 0o400 } }]
        : [])
    ]
  }
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      ...metadata(cluster, name, instanceLabels(cluster.name, name, plan.role)),
      annotations: { [annotations.specHash]: specHash(spec) }
    },
    spec
  }
}

/** The four Services; the reconciler keeps the role labels their selectors use. */
export const renderServices = (cluster: ClusterRef): ReadonlyArray<Service> => {
  const names = serviceNames(cluster.name)
  const database = { [labels.cluster]: cluster.name, [labels.component]: "database" }
  const mysqlPort = { name: "mysql", port: ports.mysql, targetPort: "mysql", protocol: "TCP" }
  const apiPort = { name: "api", port: ports.api, targetPort: "api", protocol: "TCP" }
  const service = (name: string, selector: Record<string, string>, extra: Record<string, unknown> = {}) => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: metadata(cluster, name, clusterLabels(cluster.name)),
    spec: { selector, ports: [mysqlPort, apiPort], ...extra }
  })
  return [
    service(names.readWrite, { ...database, [labels.role]: "primary" }),
    service(names.readOnly, { ...database, [labels.role]: "replica" }),
    service(names.read, database),
    // per-Pod DNS for every instance, ready or not: a starting replica must be reachable by name
    service(names.headless, database, { clusterIP: "None", publishNotReadyAddresses: true })
  ]
}

/** Which backup the recovery Job restores (recovery.ts resolves it). */
export type RestoreTarget =
  | {
      readonly _tag: "Keys"
      readonly backupName: string
      readonly archiveKey: string
      readonly metadataKey: string
      readonly sha256: string
      readonly size: number
    }
  | {
      readonly _tag: "Prefix"
      readonly source: string
      readonly backupId?: string
      readonly onDamagedLatest?: OnDamagedLatest
    }

/** What the recovery Job needs: the object store, the backup in it and, for point-in-time recovery, the target. */
export interface RecoveryPlan {
  readonly objectStore: ObjectStore
  readonly target: RestoreTarget
  /** `bootstrap.recovery.recoveryTarget`: the restore replays the archived binlogs up to it (docs/pitr.md). */
  readonly recoveryTarget?: RecoveryTarget
}

/** The restore environment of a plan (RestoreEnv in src/api/jobs.ts). */
export const restoreEnv = (cluster: ClusterRef, plan: RecoveryPlan): RestoreEnvVars => ({
  RESTORE_DATA_DIR: podPaths.dataDir,
  RESTORE_SERVER_DEFAULTS_FILE: podPaths.optionFile,
  RESTORE_FLAVOR: flavorOfImage(cluster.spec.imageName),
  TERMINATION_MESSAGE_PATH: podPaths.terminationMessage,
  ...(plan.target._tag === "Keys"
    ? {
        RESTORE_ARCHIVE_KEY: plan.target.archiveKey,
        RESTORE_METADATA_KEY: plan.target.metadataKey,
        RESTORE_EXPECTED_SHA256: plan.target.sha256,
        RESTORE_EXPECTED_SIZE: String(plan.target.size)
      }
    : {
        RESTORE_SOURCE_CLUSTER: plan.target.source,
        ...(plan.target.backupId === undefined ? {} : { RESTORE_BACKUP_ID: plan.target.backupId }),
        ...(plan.target.onDamagedLatest === undefined ? {} : { RESTORE_ON_DAMAGED_LATEST: plan.target.onDamagedLatest })
      }),
  ...(plan.recoveryTarget?.targetGTID === undefined
    ? {}
    : { RESTORE_RECOVERY_TARGET_GTID: plan.recoveryTarget.targetGTID }),
  ...(plan.recoveryTarget?.targetTime === undefined
    ? {}
    : { RESTORE_RECOVERY_TARGET_TIME: plan.recoveryTarget.targetTime })
})

/** How a plan's target is named in conditions, Events and the plan (as the restore's `describeTarget`). */
export const describeRecoveryTarget = (plan: RecoveryPlan): string =>
  plan.recoveryTarget?.targetGTID !== undefined
    ? `targetGTID ${plan.recoveryTarget.targetGTID}`
    : `targetTime ${plan.recoveryTarget?.targetTime ?? ""}`

/** A run-once Job of the instance image over the restore environment of `plan`. */
const restoreEnvJob = (
  cluster: ClusterRef,
  plan: RecoveryPlan,
  job: {
    readonly name: string
    readonly labels: Record<string, string>
    readonly annotations?: Record<string, string>
    readonly container: string
    readonly command: ReadonlyArray<string>
    readonly mounts: ReadonlyArray<object>
    readonly volumes: ReadonlyArray<object>
  }
): Job => {
  const store = objectStoreAccess(plan.objectStore, podPaths.objectStoreSecretsDir)
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      ...metadata(cluster, job.name, job.labels),
      ...(job.annotations === undefined ? {} : { annotations: job.annotations })
    },
    spec: {
      // a failed restore is reported, not retried blindly: deleting the Job retries (docs/recovery.md)
      backoffLimit: 0,
      template: {
        metadata: { labels: job.labels },
        spec: {
          restartPolicy: "Never",
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: { runAsUser: 999, runAsGroup: 999, fsGroup: 999 },
          containers: [
            {
              name: job.container,
              // the instance image: its backup tool matches the server that will run on the data
              image: cluster.spec.imageName,
              command: [...job.command],
              env: envVarList({ ...restoreEnv(cluster, plan), ...store.env }),
              terminationMessagePath: podPaths.terminationMessage,
              terminationMessagePolicy: "File",
              volumeMounts: [...job.mounts, ...store.volumeMounts]
            }
          ],
          volumes: [...job.volumes, ...store.volumes]
        }
      }
    }
  }
}

/** The recovery Job `<cluster>-1-recovery`: restores the plan into the first instance's PVC, once. */
export const renderRecoveryJob = (cluster: ClusterRef, plan: RecoveryPlan): Job =>
  restoreEnvJob(cluster, plan, {
    name: recoveryJobName(cluster.name),
    labels: recoveryJobLabels(cluster.name),
    container: "restore",
    command: ["cloudnative-mysql", "restore"],
    mounts: [
      { name: "data", mountPath: podPaths.volume },
      { name: "config", mountPath: podPaths.configDir, readOnly: true },
      { name: "server-tls", mountPath: podPaths.serverTlsDir, readOnly: true }
    ],
    volumes: [
      { name: "data", persistentVolumeClaim: { claimName: instanceName(cluster.name, 1) } },
      configVolume(cluster, 1),
      serverTlsVolume(cluster)
    ]
  })

/**
 * The recovery plan Job `<cluster>-1-recovery-plan` of a point-in-time recovery: the restore's environment and
 * credentials, but no data volume (it only reads the object store), so it runs before instance 1's PVC exists.
 */
export const renderRecoveryPlanJob = (cluster: ClusterRef, plan: RecoveryPlan): Job =>
  restoreEnvJob(cluster, plan, {
    name: recoveryPlanJobName(cluster.name),
    labels: recoveryPlanJobLabels(cluster.name),
    annotations: { [annotations.recoveryTarget]: describeRecoveryTarget(plan) },
    container: "recovery-plan",
    command: ["cloudnative-mysql", "recovery-plan"],
    mounts: [],
    volumes: []
  })
