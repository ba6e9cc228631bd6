/**
 * The binlog archiver of a Cluster, rendered purely (docs/pitr.md): one Deployment `<cluster>-binlog-archiver`
 * with one replica and the `Recreate` strategy (two archivers would share the dump server id and kick each
 * other off, and upload every file twice), running `cloudnative-mysql archive-binlogs` from the instance image
 * (its `mariadb-binlog` or `mysqlbinlog` matches the server; `ARCHIVE_FLAVOR` names a MySQL one).
 *
 * What runs where with which credentials: the object-store credentials are Secret references mounted as files
 * here only, never in a database Pod; the archiver account's password (`<cluster>-credentials`, key
 * `archiver`) and the Cluster's client certificate (for `POST /cluster/flush-binary-logs`) are mounted as files;
 * no ServiceAccount token. The archiver follows the primary through the `-rw` Service, verified against the
 * cluster CA (the server certificate names it), and its dump uses a server id no instance of this Cluster has.
 *
 * @since 0.2.0
 */
import { type ArchiverEnvVars, archiverStatusPaths, archiverStatusPort } from "../../api/binlogArchive.ts"
import { intervalSeconds } from "../../api/cluster.ts"
import { envVarList } from "../../api/env.ts"
import { flavorOfImage } from "../../api/images.ts"
import { binlogArchiverLabels, binlogArchiverName, secretNames, serviceNames } from "../../api/names.ts"
import type { Deployment } from "../../kube/resources.ts"
import { accountNames, passwordFiles, podPaths, ports, tlsFiles } from "../cluster/layout.ts"
import { serverIdOf } from "../cluster/optionFile.ts"
import { type ClusterRef, fieldEnv, ownerReference, serviceHost, specHash } from "../cluster/render.ts"
import { objectStoreAccess } from "../objectStoreAccess.ts"

/** Where things are inside the archiver's container. */
export const archiverPaths = {
  workDir: "/var/lib/cloudnative-mysql/archive",
  tmpDir: "/tmp",
  credentialsDir: podPaths.credentialsDir,
  clientTlsDir: podPaths.clientTlsDir,
  objectStoreSecretsDir: podPaths.objectStoreSecretsDir,
  terminationMessage: podPaths.terminationMessage
} as const

/**
 * The archiver's dump server id: serial 0 of the Cluster's server id range, which no instance uses (serials
 * start at 1), and never 1, the default id of a binlog dump.
 */
export const archiverServerId = (cluster: ClusterRef): number => serverIdOf(cluster.uid, 0)

/** Whether the Cluster asks for an archiver (it also needs an object store to archive into). */
export const archivingEnabled = (cluster: ClusterRef): boolean => cluster.spec.backup?.binlogArchiving?.enabled === true

/** The archiver's environment (the `ArchiverEnv` contract, encoded). */
export const archiverEnv = (cluster: ClusterRef): ArchiverEnvVars => {
  const primary = serviceHost(cluster, serviceNames(cluster.name).readWrite)
  const flushInterval = cluster.spec.backup?.binlogArchiving?.flushInterval ?? "5m"
  return {
    ARCHIVE_CLUSTER_NAME: cluster.name,
    ARCHIVE_CLUSTER_NAMESPACE: cluster.namespace,
    ARCHIVE_CLUSTER_UID: cluster.uid,
    ARCHIVE_SOURCE_HOST: primary,
    ARCHIVE_SOURCE_PORT: String(ports.mysql),
    ARCHIVE_USER: accountNames.archiver,
    ARCHIVE_PASSWORD_FILE: `${archiverPaths.credentialsDir}/${passwordFiles.archiver}`,
    ARCHIVE_TLS_CA_FILE: `${archiverPaths.clientTlsDir}/${tlsFiles.ca}`,
    ARCHIVE_TLS_CERT_FILE: `${archiverPaths.clientTlsDir}/${tlsFiles.cert}`,
    ARCHIVE_TLS_KEY_FILE: `${archiverPaths.clientTlsDir}/${tlsFiles.key}`,
    ARCHIVE_DUMP_SERVER_ID: String(archiverServerId(cluster)),
    ARCHIVE_WORK_DIR: archiverPaths.workDir,
    ARCHIVE_FLUSH_URL: `https://${primary}:${ports.api}`,
    ARCHIVE_FLUSH_INTERVAL_SECONDS: String(Math.max(1, intervalSeconds(flushInterval))),
    // absent is MariaDB: a MariaDB Cluster's rendering (and its spec hash) stays what it was
    ...(flavorOfImage(cluster.spec.imageName) === "mysql" ? { ARCHIVE_FLAVOR: "mysql" as const } : {})
  }
}

/** The annotation holding the hash of the rendered spec: a changed rendering replaces the Deployment. */
export const archiverSpecHashAnnotation = "cloudnative-mysql.io/spec-hash"

/** The archiver Deployment, or `undefined` when the Cluster does not archive (or has no object store). */
export const renderArchiverDeployment = (cluster: ClusterRef): Deployment | undefined => {
  const objectStore = cluster.spec.backup?.objectStore
  if (!archivingEnabled(cluster) || objectStore === undefined) return undefined
  const objectLabels = binlogArchiverLabels(cluster.name)
  const access = objectStoreAccess(objectStore, archiverPaths.objectStoreSecretsDir)
  const spec = {
    replicas: 1,
    // never two archivers at once, not even during a rollout
    strategy: { type: "Recreate" },
    selector: { matchLabels: objectLabels },
    template: {
      metadata: { labels: objectLabels },
      spec: {
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        restartPolicy: "Always",
        securityContext: { runAsUser: 999, runAsGroup: 999, fsGroup: 999, runAsNonRoot: true },
        containers: [
          {
            name: "archiver",
            image: cluster.spec.imageName,
            command: ["cloudnative-mysql", "archive-binlogs"],
            env: [
              ...envVarList({ ...archiverEnv(cluster), ...access.env }),
              // its own address only, as the instance manager does: Pods sharing a node's network do not collide
              fieldEnv("ARCHIVE_LISTEN_ADDRESS", "status.podIP")
            ],
            ports: [{ name: "status", containerPort: archiverStatusPort, protocol: "TCP" }],
            // not ready while the prefix belongs to another cluster or the primary does not answer
            readinessProbe: {
              httpGet: { path: archiverStatusPaths.healthz, port: archiverStatusPort },
              periodSeconds: 10,
              failureThreshold: 3
            },
            terminationMessagePath: archiverPaths.terminationMessage,
            terminationMessagePolicy: "File",
            securityContext: {
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ["ALL"] }
            },
            volumeMounts: [
              { name: "work", mountPath: archiverPaths.workDir },
              { name: "tmp", mountPath: archiverPaths.tmpDir },
              { name: "credentials", mountPath: archiverPaths.credentialsDir, readOnly: true },
              { name: "client-tls", mountPath: archiverPaths.clientTlsDir, readOnly: true },
              ...access.volumeMounts
            ]
          }
        ],
        volumes: [
          { name: "work", emptyDir: {} },
          { name: "tmp", emptyDir: {} },
          {
            name: "credentials",
            secret: {
              secretName: secretNames(cluster.name).credentials,
              defaultMode: 0o400,
              items: [{ key: passwordFiles.archiver, path: passwordFiles.archiver }]
            }
          },
          { name: "client-tls", secret: { secretName: secretNames(cluster.name).clientTls, defaultMode: 0o400 } },
          ...access.volumes
        ]
      }
    }
  }
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: binlogArchiverName(cluster.name),
      namespace: cluster.namespace,
      labels: objectLabels,
      ownerReferences: [ownerReference(cluster)],
      annotations: { [archiverSpecHashAnnotation]: specHash(spec) }
    },
    spec
  } as Deployment
}
