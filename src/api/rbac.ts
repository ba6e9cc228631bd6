/**
 * The operator's RBAC rules: the one source for `deploy/rbac` and `dist/install.yaml`, checked against the requests
 * the controller really makes (`test/shipping/rbacUsage.test.ts`). Least privilege: no `*`, nothing the controller
 * does not call, each rule with the reason it exists.
 *
 * Not granted on purpose: `list`/`watch` on Secrets (the controller reads the Secrets it made, and those the user
 * names, one at a time by name; it never caches every Secret of the cluster), any access to object-store
 * credentials beyond naming them in a Job's `secretKeyRef`, `delete` on our custom resources (the garbage
 * collector removes what an owner takes with it), and in `rbac.authorization.k8s.io` anything but `create` of
 * Roles and RoleBindings: the per-Backup Role the controller creates grants only what the controller itself holds
 * (`patch` on one Backup's status), so the API server's escalation check passes without `escalate`/`bind`.
 *
 * @since 0.1.0
 */
import { group } from "./names.ts"

/** One `rbac.authorization.k8s.io/v1` PolicyRule (resource rules only: the operator needs no non-resource URL). */
export interface PolicyRule {
  readonly apiGroups: ReadonlyArray<string>
  readonly resources: ReadonlyArray<string>
  readonly verbs: ReadonlyArray<string>
  readonly resourceNames?: ReadonlyArray<string>
}

/** A rule with the reason it is granted (the reason is documentation, not rendered). */
export interface GrantedRule extends PolicyRule {
  readonly why: string
}

/** What a shared cache (informer) needs: the first list and the watch that follows it. */
const cached = ["list", "watch"] as const

/**
 * The controller-manager's ClusterRole: it reconciles in every namespace (issues 10, 11, 12). Reconcilers read
 * what they watch from the shared caches, so a cached kind needs no `get`; `test/shipping/rbacUsage.test.ts` runs
 * the controller as this role and fails on a verb it lacks and on one it grants that nothing used.
 */
export const operatorRules: ReadonlyArray<GrantedRule> = [
  {
    apiGroups: [group],
    resources: ["clusters", "scheduledbackups"],
    verbs: [...cached],
    why: "the shared caches of Clusters and ScheduledBackups"
  },
  {
    apiGroups: [group],
    resources: ["backups"],
    verbs: [...cached, "get", "create"],
    why: "the shared cache of Backups; the ScheduledBackup reconciler creates them, and reads by name the one whose name its slot finds taken"
  },
  {
    apiGroups: [group],
    resources: ["clusters/status", "backups/status", "scheduledbackups/status"],
    verbs: ["patch"],
    why: "each reconciler writes its kind's status (one merge patch to /status per change)"
  },
  {
    apiGroups: [group],
    resources: ["clusters/finalizers", "backups/finalizers", "scheduledbackups/finalizers"],
    verbs: ["update"],
    why: "owner references with blockOwnerDeletion need update on the owner's finalizers (OwnerReferencesPermissionEnforcement)"
  },
  {
    apiGroups: ["batch"],
    resources: ["jobs"],
    verbs: [...cached, "create", "delete", "patch"],
    why: "backup, recovery, cleanup and retention Jobs: created, mirrored into status, deleted when their worker cannot start or (retention) once their result is in the Cluster's status; patch removes the finalizer that keeps a failed backup Job until its uploads are aborted"
  },
  {
    apiGroups: ["apps"],
    resources: ["deployments"],
    verbs: ["get", "create", "update", "delete"],
    why: "the binlog archiver of each Cluster with spec.backup.binlogArchiving.enabled (read by name, replaced when its rendering changes, deleted when disabled)"
  },
  {
    apiGroups: [""],
    resources: ["pods"],
    verbs: [...cached, "create", "delete", "patch"],
    why: "instance Pods (created, role label patched, deleted when failed or on scale-down), the Job Pods' termination state, a deleted Job's worker Pod stopped"
  },
  {
    apiGroups: [""],
    resources: ["persistentvolumeclaims"],
    verbs: ["list", "create", "delete"],
    why: "one PVC per instance (listed per Cluster, not cached), deleted with its instance on scale-down"
  },
  {
    apiGroups: [""],
    resources: ["services"],
    verbs: ["list", "create"],
    why: "the -rw/-ro/-r/-instances Services of each Cluster: listed per Cluster, the missing ones created"
  },
  {
    apiGroups: [""],
    resources: ["configmaps"],
    verbs: ["get", "create", "patch"],
    why: "each Cluster's ConfigMap of option files: read by name, created once, patched when the instances change"
  },
  {
    apiGroups: [""],
    resources: ["secrets"],
    verbs: ["get", "create"],
    why: "the Cluster's CA, certificates and generated passwords (created once, read by name); user-named password Secrets (read by name)"
  },
  {
    apiGroups: [""],
    resources: ["events"],
    verbs: ["create", "patch", "list"],
    why: "Events on Clusters, Backups and ScheduledBackups (patch: the count of a repeated Event); list: the kubelet's FailedMount Events of one Job Pod that has not started (by its uid), the only report of a missing object-store Secret"
  },
  {
    apiGroups: [""],
    resources: ["serviceaccounts"],
    verbs: ["create"],
    why: "the per-Backup ServiceAccount the backup worker reports status.progress with (owned by the Backup)"
  },
  {
    apiGroups: ["rbac.authorization.k8s.io"],
    resources: ["roles", "rolebindings"],
    verbs: ["create"],
    why: "the per-Backup Role (patch of that Backup's status only) and its RoleBinding to the worker's ServiceAccount"
  }
]

/**
 * The leader-election Role, in the operator's namespace only: the replicas compete for one Lease. (Leader
 * election records no Event, so this Role grants none.)
 */
export const leaderElectionRules: ReadonlyArray<GrantedRule> = [
  {
    apiGroups: ["coordination.k8s.io"],
    resources: ["leases"],
    verbs: ["get", "create", "update"],
    why: "read the Lease, acquire it (create), renew and release it (update)"
  }
]

/** A rule as it is rendered into a Role or ClusterRole (without the reason). */
export const policyRule = (rule: GrantedRule): PolicyRule => ({
  apiGroups: rule.apiGroups,
  resources: rule.resources,
  verbs: rule.verbs,
  ...(rule.resourceNames === undefined ? {} : { resourceNames: rule.resourceNames })
})

/** One permission as `<verb> <group>/<resource>[/<subresource>]` (`patch mysql.cloudnative-mysql.io/backups/status`). */
export const permission = (verb: string, group: string, resource: string): string => `${verb} ${group}/${resource}`

/**
 * Every permission the rules grant, one key per verb × group × resource (the rules have no `*` and no
 * `resourceNames`, so this is the whole grant). Compared with the permissions a controller run used (the sandbox's
 * `permissionsUsed`), it shows a verb the code needs and the role lacks, and one the role grants and nothing uses;
 * `<kind>/finalizers` is never a request of its own (an admission check on owner references) and must be expected.
 */
export const permissionsOf = (rules: ReadonlyArray<PolicyRule>): ReadonlySet<string> =>
  new Set(
    rules.flatMap((rule) =>
      rule.apiGroups.flatMap((group) =>
        rule.resources.flatMap((resource) => rule.verbs.map((verb) => permission(verb, group, resource)))
      )
    )
  )
