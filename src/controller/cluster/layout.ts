/**
 * Where things live inside a Cluster's containers, the ports they listen on, and the account names: the one
 * contract between the Pods and Jobs the Cluster reconciler renders and the processes that run in them.
 *
 * @since 0.1.0
 */
import { instanceManagerApiPort } from "../../api/names.ts"
import { DefaultSecretsDir } from "../../objectstore/connection.ts"
import type { ServerPaths } from "./optionFile.ts"

/** The instance volume (the PVC) and the directories inside a database container. */
export const podPaths = {
  volume: "/var/lib/mysql",
  /** A directory below the mount point, so the volume's own `lost+found` never sits in the data directory. */
  dataDir: "/var/lib/mysql/data",
  runDir: "/run/cloudnative-mysql",
  socket: "/run/cloudnative-mysql/mysqld.sock",
  pidFile: "/run/cloudnative-mysql/mysqld.pid",
  configDir: "/etc/cloudnative-mysql/config",
  optionFile: "/etc/cloudnative-mysql/config/my.cnf",
  serverTlsDir: "/etc/cloudnative-mysql/tls/server",
  clientTlsDir: "/etc/cloudnative-mysql/tls/client",
  credentialsDir: "/etc/cloudnative-mysql/credentials",
  objectStoreSecretsDir: DefaultSecretsDir,
  terminationMessage: "/dev/termination-log"
} as const

/** The file names inside the TLS Secrets (the `kubernetes.io/tls` convention plus the CA). */
export const tlsFiles = { ca: "ca.crt", cert: "tls.crt", key: "tls.key", caKey: "ca.key" } as const

/** The file names of the passwords, in the generated Secret and as mounted. */
export const passwordFiles = {
  root: "root",
  replication: "replication",
  backup: "backup",
  archiver: "archiver"
} as const

/** The option file's paths inside a database container. */
export const serverPaths: ServerPaths = {
  dataDir: podPaths.dataDir,
  socket: podPaths.socket,
  pidFile: podPaths.pidFile,
  tlsCa: `${podPaths.serverTlsDir}/${tlsFiles.ca}`,
  tlsCert: `${podPaths.serverTlsDir}/${tlsFiles.cert}`,
  tlsKey: `${podPaths.serverTlsDir}/${tlsFiles.key}`
}

/** Ports of a database Pod. */
export const ports = { mysql: 3306, api: instanceManagerApiPort, probe: 8000 } as const

/** The operator's database accounts (docs/cluster.md lists their privileges). */
export const accountNames = {
  backup: "cnmysql_backup",
  replication: "cnmysql_replication",
  archiver: "cnmysql_archiver"
} as const
