/**
 * The operator's installation: the namespace, the ServiceAccount, the role and binding names, the Deployment, its
 * ports and its leader-election Lease. `deploy/rbac`, `deploy/manager`, `deploy/default` and `dist/install.yaml` are
 * rendered from these (src/api/deployFiles.ts), and the controller reads the same values, so the manifests and the
 * process cannot disagree on a name or a port.
 *
 * @since 0.1.0
 */

/** The namespace `kubectl apply -k deploy/default` installs into. */
export const operatorNamespace = "cloudnative-mysql-system"

/** Every installed object carries these. */
export const operatorLabels = {
  "app.kubernetes.io/name": "cloudnative-mysql",
  "app.kubernetes.io/component": "controller-manager",
  "app.kubernetes.io/part-of": "cloudnative-mysql"
} as const

/** Object names of the installation. */
export const operatorNames = {
  serviceAccount: "cloudnative-mysql-controller",
  clusterRole: "cloudnative-mysql-manager",
  clusterRoleBinding: "cloudnative-mysql-manager",
  leaderElectionRole: "cloudnative-mysql-leader-election",
  leaderElectionRoleBinding: "cloudnative-mysql-leader-election",
  deployment: "cloudnative-mysql-controller",
  metricsService: "cloudnative-mysql-controller-metrics",
  /** The Lease the replicas compete for, in the operator's namespace. */
  leaderElectionLease: "cloudnative-mysql-controller"
} as const

/** Container ports of the controller-manager. */
export const operatorPorts = {
  /** Prometheus `/metrics`. */
  metrics: 8080,
  /** `/healthz` and `/readyz`. */
  probes: 8081
} as const

/**
 * The controller-manager's command line in its Deployment (the flags of `cloudnative-mysql controller`; the Lease's
 * namespace comes from `POD_NAMESPACE`, set by the downward API). The listeners bind the Pod IP (`POD_IP`, expanded
 * by the kubelet), not every interface: the kubelet's probes and Prometheus dial the Pod IP, and a Pod on the host
 * network (or the sandbox's node, where Pods share the host's loopback) then listens on nothing else.
 */
export const controllerArgs: ReadonlyArray<string> = [
  "controller",
  "--leader-elect",
  `--metrics-address=$(POD_IP):${operatorPorts.metrics}`,
  `--probe-address=$(POD_IP):${operatorPorts.probes}`,
  `--leader-election-id=${operatorNames.leaderElectionLease}`
]

/** The uid/gid the images and the Deployment run as (not root, not a uid any base image assigns a name to). */
export const nonRootUid = 65532
