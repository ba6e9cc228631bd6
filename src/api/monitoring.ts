/**
 * The sample monitoring of `deploy/monitoring` (Prometheus Operator kinds, optional to apply): how Prometheus
 * scrapes the controller-manager and the instance managers, and the alerts on what they export. The metric names
 * are those of `src/controller/backupMetrics.ts` and `src/instance/metrics.ts`; docs/operations.md ("Alerts") says
 * what each alert means and what to do.
 *
 * @since 0.1.0
 */
import { operatorLabels, operatorNames } from "./install.ts"
import { labels } from "./names.ts"

/** One alerting rule. */
export interface AlertRule {
  readonly alert: string
  readonly expr: string
  /** How long `expr` must hold before the alert fires. */
  readonly for: string
  readonly severity: "warning" | "critical"
  readonly summary: string
  readonly description: string
}

/** Hours without a successful backup before `CloudNativeMySQLBackupStale` fires (a daily schedule plus slack). */
export const staleBackupHours = 26

/** Replication lag, in seconds, that `CloudNativeMySQLReplicationLag` alerts on. */
export const replicationLagSeconds = 300

export const alertRules: ReadonlyArray<AlertRule> = [
  {
    alert: "CloudNativeMySQLBackupFailed",
    // the latest finished Backup of the Cluster failed: no success since (or ever). `max by`: a standby replica of
    // the controller exports the same series from its warm caches
    expr:
      "max by (namespace, cluster) (cnmysql_backup_last_failure_timestamp_seconds) > " +
      "(max by (namespace, cluster) (cnmysql_backup_last_success_timestamp_seconds) or " +
      "max by (namespace, cluster) (cnmysql_backup_last_failure_timestamp_seconds) * 0)",
    for: "0m",
    severity: "warning",
    summary: "The latest Backup of Cluster {{ $labels.namespace }}/{{ $labels.cluster }} failed",
    description:
      "No Backup of the Cluster completed since the one that failed at {{ $value | humanizeTimestamp }}. `kubectl get backups -n {{ $labels.namespace }}` shows its reason and error."
  },
  {
    alert: "CloudNativeMySQLBackupStale",
    expr: `time() - max by (namespace, cluster) (cnmysql_backup_last_success_timestamp_seconds) > ${staleBackupHours} * 3600`,
    for: "10m",
    severity: "warning",
    summary: `No successful Backup of Cluster {{ $labels.namespace }}/{{ $labels.cluster }} in ${staleBackupHours} hours`,
    description:
      "The latest completed Backup finished {{ $value | humanizeDuration }} ago. Check the ScheduledBackup (suspended? skipped slots?) and the latest Backups' status."
  },
  {
    alert: "CloudNativeMySQLNoHealthyInstance",
    expr: "max by (namespace, cluster) (cnmysql_instance_up) == 0",
    for: "5m",
    severity: "critical",
    summary: "No instance of Cluster {{ $labels.namespace }}/{{ $labels.cluster }} answers queries",
    description: `Every instance manager of the Cluster reports its database server down. \`kubectl get pods -n {{ $labels.namespace }} -l ${labels.cluster}={{ $labels.cluster }}\` and the Pods' logs.`
  },
  {
    alert: "CloudNativeMySQLReplicationLag",
    expr: `cnmysql_instance_replication_lag_seconds > ${replicationLagSeconds}`,
    for: "5m",
    severity: "warning",
    summary: "Replica {{ $labels.pod }} of Cluster {{ $labels.namespace }}/{{ $labels.cluster }} lags",
    description: "The replica's applier is {{ $value | humanizeDuration }} behind its source."
  },
  {
    alert: "CloudNativeMySQLReplicationStopped",
    expr: "cnmysql_instance_replication_running == 0",
    for: "5m",
    severity: "warning",
    summary: "Replication of {{ $labels.pod }} (Cluster {{ $labels.namespace }}/{{ $labels.cluster }}) is stopped",
    description:
      "A replication thread of channel '{{ $labels.channel }}' is not running; the instance manager's status (`/cluster/status`) names the last error."
  }
]

type Manifest = Record<string, unknown>

/** The PrometheusRule with every alert. */
export const prometheusRule = (namespace: string): Manifest => ({
  apiVersion: "monitoring.coreos.com/v1",
  kind: "PrometheusRule",
  metadata: { name: "cloudnative-mysql", namespace, labels: { ...operatorLabels } },
  spec: {
    groups: [
      {
        name: "cloudnative-mysql",
        rules: alertRules.map((rule) => ({
          alert: rule.alert,
          expr: rule.expr,
          for: rule.for,
          labels: { severity: rule.severity },
          annotations: {
            summary: rule.summary,
            description: rule.description,
            runbook_url: `https://github.com/cloudnative-mysql/cloudnative-mysql/blob/main/docs/operations.md#${rule.alert.toLowerCase()}`
          }
        }))
      }
    ]
  }
})

/**
 * The controller-manager's metrics Service. `honorLabels`: its backup series carry the Cluster's `namespace`,
 * which must win over the target's own (the operator's namespace).
 */
export const controllerServiceMonitor = (namespace: string): Manifest => ({
  apiVersion: "monitoring.coreos.com/v1",
  kind: "ServiceMonitor",
  metadata: { name: operatorNames.metricsService, namespace, labels: { ...operatorLabels } },
  spec: {
    selector: { matchLabels: { ...operatorLabels } },
    endpoints: [{ port: "metrics", path: "/metrics", honorLabels: true }]
  }
})

/** Every instance Pod in any namespace, on its probe port; the Cluster's name becomes the `cluster` label. */
export const instancePodMonitor = (namespace: string): Manifest => ({
  apiVersion: "monitoring.coreos.com/v1",
  kind: "PodMonitor",
  metadata: { name: "cloudnative-mysql-instances", namespace, labels: { ...operatorLabels } },
  spec: {
    namespaceSelector: { any: true },
    selector: { matchLabels: { [labels.managedBy]: "cloudnative-mysql", [labels.component]: "database" } },
    podMetricsEndpoints: [
      {
        port: "probe",
        path: "/metrics",
        relabelings: [
          {
            sourceLabels: [`__meta_kubernetes_pod_label_${labels.cluster.replace(/[^a-zA-Z0-9_]/gu, "_")}`],
            targetLabel: "cluster"
          }
        ]
      }
    ]
  }
})
