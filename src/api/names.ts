/**
 * Names and labels: the one place where the operator's objects get their names and labels, so the controller,
 * the plugin, the sandbox and the tests agree on them. Every function here is pure.
 *
 * Names (Cluster `c`): instance Pods `c-1`, `c-2`, … (a serial never reused), one PVC per instance named like its
 * Pod, Services `c-rw` (primary), `c-ro` (ready replicas), `c-r` (any ready instance) and the headless
 * `c-instances`, the recovery Job `c-1-recovery`, Secrets `c-ca` (operator only), `c-server-tls`, `c-client-tls`
 * and `c-credentials`. Job names are at most 63 characters: a longer name is cut and suffixed with a short hash of
 * the whole name, so it stays deterministic and unique.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"

/** The API group of our custom resources. */
export const group = "mysql.cloudnative-mysql.io"

/** The prefix of our own labels and annotations. */
export const labelPrefix = "cloudnative-mysql.io"

/** Label keys. */
export const labels = {
  name: "app.kubernetes.io/name",
  instance: "app.kubernetes.io/instance",
  component: "app.kubernetes.io/component",
  managedBy: "app.kubernetes.io/managed-by",
  cluster: `${labelPrefix}/cluster`,
  instanceName: `${labelPrefix}/instance`,
  role: `${labelPrefix}/role`,
  backup: `${labelPrefix}/backup`,
  scheduledBackup: `${labelPrefix}/scheduled-backup`,
  immediate: `${labelPrefix}/immediate`
} as const

/** Annotation keys. */
export const annotations = {
  backupId: `${labelPrefix}/backup-id`,
  specHash: `${labelPrefix}/spec-hash`,
  /** On a backup Job: the key prefix its worker writes under (what the cleanup Job aborts uploads under). */
  backupPrefix: `${labelPrefix}/backup-prefix`,
  /** On a ScheduledBackup's Backup: the schedule slot (RFC 3339) it was created for. */
  scheduledAt: `${labelPrefix}/scheduled-at`,
  /**
   * On a ScheduledBackup's Backup: the ScheduledBackup's name, whole. The `scheduled-backup` label (what the
   * index selects by) is truncated past 63 characters, so it cannot name the object to reconcile.
   */
  scheduledBackup: `${labelPrefix}/scheduled-backup`,
  /** On a recovery plan Job: the target it plans (`targetGTID …`); another target in the spec plans again. */
  recoveryTarget: `${labelPrefix}/recovery-target`
} as const

/** Finalizer keys. */
export const finalizers = {
  /**
   * On a backup Job: held until the controller made sure no incomplete multipart upload of a worker killed
   * mid-run survives (the cleanup Job), so even a Job deleted with its Backup is cleaned up after.
   */
  abortUploads: `${labelPrefix}/abort-uploads`
} as const

/** The instance manager's mutual-TLS API port on every database Pod. */
export const instanceManagerApiPort = 8443

/** The DNS name of an instance through the headless Service: the name its server certificate carries. */
export const instanceDnsName = (cluster: string, instance: string, namespace: string): string =>
  `${instance}.${serviceNames(cluster).headless}.${namespace}.svc`

/** The role of an instance, as the role label says it. */
export type InstanceRole = "primary" | "replica"

/** What the Kubernetes API allows for a label value or a DNS label. */
export const maxDnsLabelLength = 63

const shortHash = (text: string): string => createHash("sha256").update(text).digest("hex").slice(0, 8)

/**
 * `name` if it fits in `max` characters, else its first characters, `-` and an 8-hex hash of the whole name, never
 * ending in `-` (a DNS label may not).
 */
export const truncatedName = (name: string, max: number = maxDnsLabelLength): string => {
  if (name.length <= max) return name
  const head = name.slice(0, max - 9).replace(/-+$/u, "")
  return `${head}-${shortHash(name)}`
}

/** The Pod (and PVC) of instance `serial` of a Cluster. */
export const instanceName = (cluster: string, serial: number): string => `${cluster}-${serial}`

/** The serial of an instance name of `cluster`, when it is one. */
export const instanceSerial = (cluster: string, name: string): number | undefined => {
  const prefix = `${cluster}-`
  if (!name.startsWith(prefix)) return undefined
  const rest = name.slice(prefix.length)
  return /^[1-9][0-9]*$/u.test(rest) ? Number(rest) : undefined
}

/** The Services of a Cluster. */
export const serviceNames = (cluster: string) =>
  ({
    readWrite: `${cluster}-rw`,
    readOnly: `${cluster}-ro`,
    read: `${cluster}-r`,
    headless: `${cluster}-instances`
  }) as const

/** The Secrets of a Cluster. */
export const secretNames = (cluster: string) =>
  ({
    ca: `${cluster}-ca`,
    serverTls: `${cluster}-server-tls`,
    clientTls: `${cluster}-client-tls`,
    credentials: `${cluster}-credentials`
  }) as const

/** The ConfigMap holding each instance's server option file (key `<instance>.cnf`). */
export const configMapName = (cluster: string): string => `${cluster}-config`

/** The recovery Job of a Cluster: it restores into the first instance's PVC. */
export const recoveryJobName = (cluster: string): string => truncatedName(`${instanceName(cluster, 1)}-recovery`)

/** The recovery plan Job of a Cluster with a recovery target: it plans before the recovery Job exists (docs/pitr.md). */
export const recoveryPlanJobName = (cluster: string): string =>
  truncatedName(`${instanceName(cluster, 1)}-recovery-plan`)

/** The binlog archiver Deployment of a Cluster (docs/pitr.md). */
export const binlogArchiverName = (cluster: string): string => truncatedName(`${cluster}-binlog-archiver`)

/** The labels of a Cluster's binlog archiver Deployment and its Pod (never a database Pod's: no Service selects it). */
export const binlogArchiverLabels = (cluster: string): Record<string, string> => ({
  ...clusterLabels(cluster),
  [labels.component]: "binlog-archiver"
})

/** The retention Job of a Cluster (docs/pitr.md, "Retention"): one at a time, named after the Cluster. */
export const retentionJobName = (cluster: string): string => truncatedName(`${cluster}-retention`)

/** The labels of a Cluster's retention Job and its Pod. */
export const retentionJobLabels = (cluster: string): Record<string, string> => ({
  ...clusterLabels(cluster),
  [labels.component]: "retention"
})

/** The worker Job of a Backup. */
export const backupJobName = (backup: string): string => truncatedName(`${backup}-backup`)

/** The Job that aborts the multipart uploads a failed backup left behind. */
export const cleanupJobName = (backup: string): string => truncatedName(`${backup}-cleanup`)

/** The labels every object of a Cluster carries. */
export const clusterLabels = (cluster: string): Record<string, string> => ({
  [labels.name]: "cloudnative-mysql",
  [labels.instance]: cluster,
  [labels.managedBy]: "cloudnative-mysql",
  [labels.cluster]: cluster
})

/** The labels of an instance Pod and its PVC. */
export const instanceLabels = (cluster: string, instance: string, role: InstanceRole): Record<string, string> => ({
  ...clusterLabels(cluster),
  [labels.component]: "database",
  [labels.instanceName]: instance,
  [labels.role]: role
})

/** The labels of a Cluster's recovery Job and its Pod. */
export const recoveryJobLabels = (cluster: string): Record<string, string> => ({
  ...clusterLabels(cluster),
  [labels.component]: "recovery"
})

/** The labels of a Cluster's recovery plan Job and its Pod. */
export const recoveryPlanJobLabels = (cluster: string): Record<string, string> => ({
  ...clusterLabels(cluster),
  [labels.component]: "recovery-plan"
})

/** The labels of a Backup's Jobs. */
export const backupJobLabels = (cluster: string, backup: string): Record<string, string> => ({
  ...clusterLabels(cluster),
  [labels.component]: "backup",
  [labels.backup]: truncatedName(backup)
})
