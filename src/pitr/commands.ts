/**
 * The command lines the archiver runs against the primary, kept pure so both flavours' options are tested
 * without a server. Credentials travel in an option file (`--defaults-file`, first argument), never in argv.
 * With a CA file, TLS is required and the server certificate verified (the SAN must match the host); the
 * research note (fact 5) measured that the client otherwise tries TLS without verifying it.
 *
 * MySQL 8.4's `mysqlbinlog` spells two options differently (the dump's server id, the certificate
 * verification): the spellings are in the `Flavor` record (`src/instance/flavor.ts`). Written from MySQL's
 * documentation (research note, section 4) and unit-tested; no MySQL server runs here.
 *
 * @since 0.2.0
 */

import type { FlavorName } from "../api/common.ts"
import { flavorOf } from "../instance/flavor.ts"

/** How the archiver reaches the primary. */
export interface SourceConnection {
  readonly host: string
  readonly port: number
  /** Option file holding `[client] user=… password=…` of the archiver's own account. */
  readonly credentialsFile: string
  /** The cluster CA: when set, TLS is required and the server certificate is verified against it. */
  readonly caFile?: string
  /** Default `mariadb`. */
  readonly flavor?: FlavorName
}

const connectionArgs = (source: SourceConnection): ReadonlyArray<string> => [
  `--defaults-file=${source.credentialsFile}`,
  `--host=${source.host}`,
  `--port=${source.port}`,
  ...(source.caFile === undefined
    ? []
    : [`--ssl-ca=${source.caFile}`, flavorOf(source.flavor ?? "mariadb").verifyServerCertArg])
]

/**
 * `mariadb-binlog` as a remote archiver from `startFile` on: raw bytes into `<directory>/<file>`, following the
 * primary until the connection ends, with a dump server id of its own (the default, 1, would kick off another
 * archiver or collide with the primary's own id).
 */
export const dumpArgs = (
  source: SourceConnection,
  options: { readonly dumpServerId: number; readonly directory: string; readonly startFile: string }
): ReadonlyArray<string> => [
  ...connectionArgs(source),
  "--read-from-remote-server",
  "--raw",
  "--stop-never",
  flavorOf(source.flavor ?? "mariadb").dumpServerIdArg(options.dumpServerId),
  `--result-file=${options.directory.endsWith("/") ? options.directory : `${options.directory}/`}`,
  options.startFile
]

/** The SQL client running one statement in batch mode (tab-separated rows under a header line). */
export const sqlArgs = (source: SourceConnection, sql: string): ReadonlyArray<string> => [
  ...connectionArgs(source),
  "--batch",
  "--connect-timeout=5",
  "-e",
  sql
]
