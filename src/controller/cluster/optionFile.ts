/**
 * The database server's option file, rendered from the Cluster spec for one instance (pure). Binlog and GTIDs
 * are always on (replicas clone and replicate by GTID, backups record GTID positions), every instance gets a
 * server id of its own, replicas are read-only, and the server speaks TLS with the Cluster's server
 * certificate so replication runs encrypted and verified. The listen address is not in the file: it is the
 * Pod IP, known only at run time, and the instance manager passes it as `--bind-address`.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import type { FlavorName } from "../../api/common.ts"
import type { InstanceRole } from "../../api/names.ts"
import { flavorOf } from "../../instance/flavor.ts"

/** Where things are inside a database container (and in tests, inside a temp dir). */
export interface ServerPaths {
  readonly dataDir: string
  readonly socket: string
  readonly pidFile: string
  readonly tlsCa: string
  readonly tlsCert: string
  readonly tlsKey: string
}

/** One instance's option file. */
export interface OptionFileInput {
  readonly flavor: FlavorName
  readonly serverId: number
  readonly role: InstanceRole
  readonly port: number
  readonly paths: ServerPaths
}

/** Serials below this bound get distinct server ids within one Cluster. */
export const maxSerialForUniqueServerId = 1024

/**
 * The server id of instance `serial` of the Cluster with `uid`: a per-Cluster base from the uid (so a Cluster
 * recovered from another one never shares its server ids) times 1024, plus the serial. Never 1, the default id
 * of binlog dump clients.
 */
export const serverIdOf = (clusterUid: string, serial: number): number => {
  const base = (createHash("sha256").update(clusterUid).digest().readUInt32BE(0) % 4_000_000) + 1
  return base * maxSerialForUniqueServerId + (serial % maxSerialForUniqueServerId)
}

const lines = (entries: ReadonlyArray<readonly [string, string | number] | string>): string =>
  entries.map((entry) => (typeof entry === "string" ? entry : `${entry[0]}=${entry[1]}`)).join("\n")

/** Renders the `[mysqld]` option file of one instance. */
export const renderOptionFile = (input: OptionFileInput): string => {
  const { paths } = input
  const common: ReadonlyArray<readonly [string, string | number] | string> = [
    "[mysqld]",
    ["datadir", paths.dataDir],
    ["socket", paths.socket],
    ["pid-file", paths.pidFile],
    ["port", input.port],
    ["server_id", input.serverId],
    "skip-name-resolve",
    ["binlog_format", "ROW"],
    ["ssl_ca", paths.tlsCa],
    ["ssl_cert", paths.tlsCert],
    ["ssl_key", paths.tlsKey],
    ["read_only", input.role === "replica" ? "ON" : "OFF"]
  ]
  return `${lines([...common, ...flavorOf(input.flavor).serverOptions(input.role)])}\n`
}
