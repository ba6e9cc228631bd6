/**
 * Everything that differs between the two server flavours we back up: MariaDB + mariabackup and
 * MySQL 8.4 + Percona XtraBackup. The rest of the code (instance manager, worker, restore) is flavour-blind and
 * asks a `Flavor` for binaries, argv, info-file names, output parsing and SQL.
 *
 * Sources for the texts parsed here: the measured mariabackup 10.11 output in docs/measurements.md ("mariabackup streaming output") and
 * Percona XtraBackup 8.x documentation ("Work with binary logs", "Improved log statements").
 *
 * @since 0.1.0
 */
import type { FlavorName } from "../api/common.ts"
import type { BinlogPosition } from "../api/jobs.ts"
import { type GtidStates, mariadbGtidStates, mysqlGtidStates } from "../pitr/gtidStates.ts"

/** How the backup tool and the SQL client reach the server: a unix socket or TCP. */
export type ServerAddress =
  | { readonly _tag: "Socket"; readonly path: string }
  | { readonly _tag: "Tcp"; readonly host: string; readonly port: number }

/** Binlog coordinates plus the GTID state at that point (GTID absent when the server logged none). */
export interface BinlogInfo extends BinlogPosition {
  readonly gtid?: string
}

/** Candidate names of one info file, the current name first; the first that exists wins. */
export type InfoFileNames = readonly [string, ...Array<string>]

/** The info files a backup contains (mariabackup 10.x writes `xtrabackup_*`, 11.x writes `mariadb_backup_*`). */
export interface InfoFiles {
  /** `backup_type = full-backuped` before prepare, `log-applied` after. */
  readonly checkpoints: InfoFileNames
  /** `file<TAB>position[<TAB>gtid]` */
  readonly binlogInfo: InfoFileNames
  /** Written last into the stream: its presence after extraction means the stream was complete. */
  readonly info: InfoFileNames
}

/** One row of a query result, keyed by column name; SQL NULL is `null`. */
export type SqlRow = Readonly<Record<string, string | null>>

/** The results of the three status queries, in the order of `Flavor.statusQueries`. */
export interface StatusRows {
  readonly variables: SqlRow
  readonly binlog: SqlRow | undefined
  readonly replicas: ReadonlyArray<SqlRow>
}

/** Replication state of one channel / connection. */
export interface ReplicationChannel {
  readonly name: string
  readonly sourceHost: string | null
  readonly ioRunning: boolean
  readonly sqlRunning: boolean
  readonly lagSeconds: number | null
  readonly lastError: string | null
}

/** What the server says about itself, flavour-independent. */
export interface ServerStatus {
  readonly role: "primary" | "replica"
  readonly serverVersion: string
  readonly readOnly: boolean
  readonly executedGtid: string
  readonly binlog: { readonly file: string; readonly position: number } | null
  readonly replication: ReadonlyArray<ReplicationChannel>
}

/** Options for a streamed backup. */
export interface BackupOptions {
  /** Option file holding the backup user's credentials; passed as `--defaults-file`, so it must come first. */
  readonly defaultsFile: string
  readonly address: ServerAddress
  /** Unused by the tools in stream mode but required by XtraBackup's argument check; never created. */
  readonly targetDir: string
  readonly parallel?: number
}

/** Options for `--copy-back`. */
export interface CopyBackOptions {
  readonly targetDir: string
  readonly dataDir: string
  /** A fresh volume may contain `lost+found`; the tools refuse a non-empty data dir without this. */
  readonly forceNonEmptyDirectories: boolean
}

/** The flavour-specific knowledge, as plain data and pure functions. */
export interface Flavor {
  readonly name: FlavorName
  /** The backup tool binary (`mariadb-backup` / `xtrabackup`). */
  readonly backupTool: string
  /** The stream extractor binary (`mbstream` / `xbstream`). */
  readonly extractTool: string
  /** The SQL command-line client (`mariadb` / `mysql`). */
  readonly sqlClient: string
  /** Section names the tool reads from an option file, for writing a credentials file it will accept. */
  readonly optionGroups: ReadonlyArray<string>
  readonly versionArgs: ReadonlyArray<string>
  readonly backupArgs: (options: BackupOptions) => ReadonlyArray<string>
  readonly extractArgs: (dir: string) => ReadonlyArray<string>
  readonly prepareArgs: (targetDir: string) => ReadonlyArray<string>
  readonly copyBackArgs: (options: CopyBackOptions) => ReadonlyArray<string>
  readonly infoFiles: InfoFiles
  /** Parses the tool's `--version` output (stderr) into a version string. */
  readonly parseToolVersion: (output: string) => string | undefined
  /** Parses a GTID state as printed by this flavour; `undefined` when malformed. Normalises whitespace. */
  readonly parseGtid: (text: string) => string | undefined
  /** SQL statements (one result set each) whose rows `interpretStatus` turns into a `ServerStatus`. */
  readonly statusQueries: { readonly variables: string; readonly binlog: string; readonly replicas: string }
  readonly interpretStatus: (rows: StatusRows) => ServerStatus
  /**
   * A query whose `start` column is the GTID state at the start of binlog `file` (to tell whether the open file
   * holds transactions); `undefined` when the flavour cannot say cheaply, and the file is then always rotated.
   */
  readonly binlogStartStateSql: (file: string) => string | undefined
  /** Statements that make a freshly restored server a primary continuing `gtid`; `undefined` for a malformed GTID. */
  readonly restoreGtidSql: (gtid: string) => ReadonlyArray<string> | undefined
  /** The server binary (`mariadbd` / `mysqld`). */
  readonly serverBinary: string
  /** The administration client (`mariadb-admin` / `mysqladmin`): ping, shutdown. */
  readonly adminClient: string
  /** The binlog decoder (`mariadb-binlog` / `mysqlbinlog`): the archiver's remote dump, the replay's decoding. */
  readonly binlogDecoder: string
  /** Command and argv that initialise an empty data directory with the given option file. */
  readonly initialiseCommand: (defaultsFile: string) => {
    readonly command: string
    readonly args: ReadonlyArray<string>
  }
  /**
   * Idempotent statements that create or update the operator's accounts with the least privileges each needs
   * (docs/cluster.md), without writing to the binlog (no GTIDs of their own: a replica must not diverge, a
   * restored primary must continue exactly at the backup's GTID).
   */
  readonly accountsSql: (accounts: OperatorAccounts) => ReadonlyArray<string>
  /**
   * Statements that make a freshly cloned server replicate from `source` starting after `gtid` (the clone's
   * binlog info; "" when the primary never logged a transaction), over TLS with the server certificate
   * verified; `undefined` for a malformed GTID.
   */
  readonly replicaJoinSql: (gtid: string, source: ReplicationSource) => ReadonlyArray<string> | undefined
  /**
   * The `[mysqld]` options of the binary log, replication and GTIDs: the flavoured part of an instance's option
   * file (`src/controller/cluster/optionFile.ts`), by the instance's role.
   */
  readonly serverOptions: (role: "primary" | "replica") => ReadonlyArray<readonly [string, string | number]>
  /** The client option that makes a TLS connection verify the server certificate (SQL client and binlog decoder). */
  readonly verifyServerCertArg: string
  /** The binlog decoder's option giving a remote dump a server id of its own. */
  readonly dumpServerIdArg: (serverId: number) => string
  /** The GTID-state arithmetic of point-in-time recovery: MariaDB positions, MySQL sets (`pitr/gtidStates.ts`). */
  readonly gtidStates: GtidStates<unknown>
  /** How messages name this flavour's form of a GTID target. */
  readonly gtidTargetForm: string
  /**
   * An SQL expression of the server's executed GTID state on one line (the archiver's lag, the replay's checks).
   */
  readonly executedGtidExpression: string
}

/** The passwords of the accounts the operator manages (user names are fixed per deployment). */
export interface OperatorAccounts {
  readonly rootPassword: string
  readonly backupUser: string
  readonly backupPassword: string
  readonly replicationUser: string
  readonly replicationPassword: string
  /**
   * The binlog archiver's account (docs/pitr.md): a replication client over TLS that can list binlogs and
   * nothing else. Absent for a Cluster whose credentials predate it.
   */
  readonly archiver?: { readonly user: string; readonly password: string }
}

/** The archiver's statements: created over TLS only, with the privileges of a binlog dump and a listing. */
const archiverSql = (archiver: OperatorAccounts["archiver"], privileges: string): ReadonlyArray<string> =>
  archiver === undefined
    ? []
    : [
        `CREATE USER IF NOT EXISTS ${sqlString(archiver.user)}@'%'`,
        `ALTER USER ${sqlString(archiver.user)}@'%' IDENTIFIED BY ${sqlString(archiver.password)} REQUIRE SSL`,
        `GRANT ${privileges} ON *.* TO ${sqlString(archiver.user)}@'%'`
      ]

/** What differs between the flavours' account statements: root's authentication and the privileges granted. */
interface AccountPrivileges {
  /** How root@localhost authenticates, after `ALTER USER 'root'@'localhost'`. */
  readonly rootAuthentication: (rootPassword: string) => string
  /** One `GRANT <privileges> ON <object>` clause per statement for the backup user. */
  readonly backupGrants: ReadonlyArray<string>
  /** The archiver's privileges on `*.*`. */
  readonly archiverPrivileges: string
}

/**
 * The account statements both flavours run (`Flavor.accountsSql`), outside the binlog: root's password, the
 * backup user (local), the replication user (TLS only) and the archiver.
 */
const accountsSqlWith =
  (privileges: AccountPrivileges) =>
  (a: OperatorAccounts): ReadonlyArray<string> => [
    "SET SESSION sql_log_bin = 0",
    `ALTER USER 'root'@'localhost' ${privileges.rootAuthentication(a.rootPassword)}`,
    `CREATE USER IF NOT EXISTS ${sqlString(a.backupUser)}@'localhost'`,
    `ALTER USER ${sqlString(a.backupUser)}@'localhost' IDENTIFIED BY ${sqlString(a.backupPassword)}`,
    ...privileges.backupGrants.map((grant) => `GRANT ${grant} TO ${sqlString(a.backupUser)}@'localhost'`),
    `CREATE USER IF NOT EXISTS ${sqlString(a.replicationUser)}@'%'`,
    `ALTER USER ${sqlString(a.replicationUser)}@'%' IDENTIFIED BY ${sqlString(a.replicationPassword)} REQUIRE SSL`,
    `GRANT REPLICATION SLAVE ON *.* TO ${sqlString(a.replicationUser)}@'%'`,
    ...archiverSql(a.archiver, privileges.archiverPrivileges),
    "SET SESSION sql_log_bin = 1"
  ]

/** Where a replica replicates from. */
export interface ReplicationSource {
  /** The name the replica dials (the `-rw` Service); also the name verified in the server certificate. */
  readonly host: string
  readonly port: number
  readonly user: string
  readonly password: string
  /** CA file that signed the source's server certificate. */
  readonly caFile: string
}

/** A single-quoted SQL string literal (backslash and quote escaped, as both servers read them by default). */
export const sqlString = (value: string): string => `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`

/** The success marker both tools print as their last stderr line. */
export const isCompletedOk = (line: string): boolean => /completed OK!\s*$/u.test(line)

const binlogPositionPattern =
  /MySQL binlog position: filename '([^']+)', position '(\d+)'(?:, GTID of the last change '([^']*)'?)?/u

/**
 * Incremental parser of the tool's "MySQL binlog position" stderr line. XtraBackup 8 prints multi-UUID GTID sets
 * over several lines (`uuid1:1-5,\nuuid2:1-3'`), so a line with an unterminated GTID quote keeps collecting the
 * following lines until the closing quote.
 */
export class BinlogPositionParser {
  #pending: { file: string; position: number; gtid: string } | undefined
  #result: BinlogInfo | undefined
  readonly #parseGtid: (text: string) => string | undefined

  constructor(parseGtid: (text: string) => string | undefined) {
    this.#parseGtid = parseGtid
  }

  /** The last complete position seen, if any. */
  get result(): BinlogInfo | undefined {
    return this.#result
  }

  /** Feeds one stderr line (without its newline). */
  push(line: string): void {
    if (this.#pending !== undefined) {
      const end = line.indexOf("'")
      const pending = this.#pending
      pending.gtid += `\n${end === -1 ? line : line.slice(0, end)}`
      if (end !== -1) this.#finish(pending)
      return
    }
    const match = binlogPositionPattern.exec(line)
    if (match === null) return
    const [whole, file = "", position = "0", gtid] = match
    const base = { file, position: Number(position) }
    if (gtid === undefined) {
      this.#result = base
    } else if (whole.endsWith("'")) {
      this.#finish({ ...base, gtid })
    } else {
      this.#pending = { ...base, gtid }
    }
  }

  #finish(position: { file: string; position: number; gtid: string }): void {
    this.#pending = undefined
    const gtid = this.#parseGtid(position.gtid)
    this.#result =
      gtid === undefined || gtid === ""
        ? { file: position.file, position: position.position }
        : { file: position.file, position: position.position, gtid }
  }
}

/** Parses one whole stderr text (e.g. a fixture) and returns the last binlog position in it. */
export const parseBinlogPosition = (flavor: Flavor, stderr: string): BinlogInfo | undefined => {
  const parser = new BinlogPositionParser(flavor.parseGtid)
  for (const line of stderr.split("\n")) parser.push(line)
  return parser.result
}

/** Parses the content of `xtrabackup_binlog_info` / `mariadb_backup_binlog_info`. */
export const parseBinlogInfoFile = (flavor: Flavor, content: string): BinlogInfo | undefined => {
  const [first = "", ...rest] = content.split("\n")
  const [file, position, ...gtidStart] = first.split("\t")
  if (file === undefined || file === "" || position === undefined || !/^\d+$/u.test(position.trim())) return undefined
  const rawGtid = [gtidStart.join("\t"), ...rest].join("\n").trim()
  const gtid = rawGtid === "" ? undefined : flavor.parseGtid(rawGtid)
  if (rawGtid !== "" && gtid === undefined) return undefined
  return gtid === undefined || gtid === ""
    ? { file, position: Number(position.trim()) }
    : { file, position: Number(position.trim()), gtid }
}

/** Parses `key = value` info files (`xtrabackup_checkpoints`, `xtrabackup_info`). */
export const parseInfoFile = (content: string): ReadonlyMap<string, string> => {
  const entries = new Map<string, string>()
  for (const line of content.split("\n")) {
    const at = line.indexOf("=")
    if (at > 0) entries.set(line.slice(0, at).trim(), line.slice(at + 1).trim())
  }
  return entries
}

/** True when a checkpoints file says the backup was prepared (`backup_type = log-applied`). */
export const isPrepared = (checkpoints: string): boolean =>
  parseInfoFile(checkpoints).get("backup_type") === "log-applied"

const connectionArgs = (address: ServerAddress): Array<string> =>
  address._tag === "Socket" ? [`--socket=${address.path}`] : [`--host=${address.host}`, `--port=${address.port}`]

/** Client argv for the flavour's SQL CLI: tab-separated, escaped batch output with a header row. */
export const sqlClientArgs = (defaultsFile: string, address: ServerAddress, sql: string): ReadonlyArray<string> => [
  `--defaults-file=${defaultsFile}`,
  ...connectionArgs(address),
  "--batch",
  "--connect-timeout=5",
  "-e",
  sql
]

const truthy = (value: string | null | undefined): boolean =>
  value !== null && value !== undefined && ["1", "ON", "YES", "TRUE"].includes(value.toUpperCase())

const column = (row: SqlRow, ...names: ReadonlyArray<string>): string | null => {
  for (const name of names) {
    const value = row[name]
    if (value !== undefined) return value
  }
  return null
}

const toNumberOrNull = (value: string | null): number | null =>
  value === null || value === "" || !/^\d+$/u.test(value) ? null : Number(value)

const binlogOf = (row: SqlRow | undefined): ServerStatus["binlog"] => {
  if (row === undefined) return null
  const file = column(row, "File")
  const position = toNumberOrNull(column(row, "Position"))
  return file === null || file === "" || position === null ? null : { file, position }
}

/** Replica-status columns carry `Slave_*`/`Master_*` names on MariaDB and `Replica_*`/`Source_*` on MySQL 8.4. */
const channelOf = (row: SqlRow): ReplicationChannel => {
  const lastIoError = column(row, "Last_IO_Error")
  const lastSqlError = column(row, "Last_SQL_Error")
  const lastError = [lastIoError, lastSqlError].filter((e): e is string => e !== null && e !== "").join("; ")
  return {
    name: column(row, "Connection_name", "Channel_Name") ?? "",
    sourceHost: column(row, "Source_Host", "Master_Host"),
    ioRunning: column(row, "Replica_IO_Running", "Slave_IO_Running") === "Yes",
    sqlRunning: column(row, "Replica_SQL_Running", "Slave_SQL_Running") === "Yes",
    lagSeconds: toNumberOrNull(column(row, "Seconds_Behind_Source", "Seconds_Behind_Master")),
    lastError: lastError === "" ? null : lastError
  }
}

/**
 * `Flavor.interpretStatus` from the two readings that differ by flavour (read-only-ness and the executed GTID
 * state, from the variables row); role, version, binlog and channels read alike.
 */
const interpretStatusWith =
  (read: { readonly readOnly: (variables: SqlRow) => boolean; readonly executedGtid: (variables: SqlRow) => string }) =>
  ({ variables, binlog, replicas }: StatusRows): ServerStatus => ({
    role: replicas.length > 0 ? "replica" : "primary",
    serverVersion: variables.version ?? "",
    readOnly: read.readOnly(variables),
    executedGtid: read.executedGtid(variables),
    binlog: binlogOf(binlog),
    replication: replicas.map(channelOf)
  })

const mariadbGtidPattern = /^\d+-\d+-\d+(,\d+-\d+-\d+)*$/u
const uuid = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
const tag = "(:[a-zA-Z_][a-zA-Z0-9_]{0,31})?"
const interval = "\\d+(-\\d+)?"
const mysqlUuidSet = `${uuid}(${tag}:${interval}(:${interval})*)+`
const mysqlGtidPattern = new RegExp(`^${mysqlUuidSet}(,${mysqlUuidSet})*$`, "u")

const parseMariadbGtid = (text: string): string | undefined => {
  const compact = text.replace(/\s+/gu, "")
  return compact === "" || mariadbGtidPattern.test(compact) ? compact : undefined
}

const parseMysqlGtid = (text: string): string | undefined => {
  const compact = text.replace(/\s+/gu, "")
  return compact === "" || mysqlGtidPattern.test(compact) ? compact : undefined
}

/** Only a GTID that passed the flavour's pattern is ever interpolated into SQL. */
const validGtid = (parse: (text: string) => string | undefined, gtid: string): string | undefined => {
  const parsed = parse(gtid)
  return parsed === "" ? undefined : parsed
}

/**
 * mariabackup forked from XtraBackup and kept its command line: both flavours run their tools with the same
 * arguments and differ in binaries, info-file names, GTID formats and SQL.
 */
const xtrabackupFamilyArgs = {
  versionArgs: ["--version"],
  backupArgs: (options) => [
    `--defaults-file=${options.defaultsFile}`,
    "--backup",
    "--stream=xbstream",
    `--target-dir=${options.targetDir}`,
    ...connectionArgs(options.address),
    ...(options.parallel === undefined ? [] : [`--parallel=${options.parallel}`])
  ],
  extractArgs: (dir) => ["-x", "-C", dir],
  prepareArgs: (targetDir) => ["--prepare", `--target-dir=${targetDir}`],
  copyBackArgs: (options) => [
    "--copy-back",
    `--target-dir=${options.targetDir}`,
    `--datadir=${options.dataDir}`,
    ...(options.forceNonEmptyDirectories ? ["--force-non-empty-directories"] : [])
  ]
} satisfies Pick<Flavor, "versionArgs" | "backupArgs" | "extractArgs" | "prepareArgs" | "copyBackArgs">

/** MariaDB 10.11+ with mariabackup / mbstream. */
export const mariadb: Flavor = {
  name: "mariadb",
  backupTool: "mariadb-backup",
  extractTool: "mbstream",
  sqlClient: "mariadb",
  optionGroups: ["client", "mariabackup", "mariadb-backup"],
  ...xtrabackupFamilyArgs,
  infoFiles: {
    checkpoints: ["mariadb_backup_checkpoints", "xtrabackup_checkpoints"],
    binlogInfo: ["mariadb_backup_binlog_info", "xtrabackup_binlog_info"],
    info: ["mariadb_backup_info", "xtrabackup_info"]
  },
  parseToolVersion: (output) => /based on MariaDB server (\S+)/u.exec(output)?.[1],
  parseGtid: parseMariadbGtid,
  statusQueries: {
    variables:
      "SELECT @@version AS version, @@read_only AS read_only, @@gtid_binlog_pos AS gtid_binlog_pos, @@gtid_current_pos AS gtid_current_pos, @@gtid_slave_pos AS gtid_slave_pos",
    binlog: "SHOW MASTER STATUS",
    replicas: "SHOW ALL REPLICAS STATUS"
  },
  interpretStatus: interpretStatusWith({
    readOnly: (variables) => truthy(variables.read_only),
    // with log_slave_updates the binlog state includes replicated transactions; without a binlog, current_pos
    executedGtid: (variables) => parseMariadbGtid(variables.gtid_binlog_pos || variables.gtid_current_pos || "") ?? ""
  }),
  // RESET MASTER first: gtid_binlog_state can only be set on an empty binlog (ERROR 1956 otherwise).
  binlogStartStateSql: (file) => `SELECT BINLOG_GTID_POS(${sqlString(file)}, 4) AS start`,
  restoreGtidSql: (gtid) => {
    const state = validGtid(parseMariadbGtid, gtid)
    if (state === undefined) return undefined
    return ["RESET MASTER", `SET GLOBAL gtid_binlog_state = '${state}'`, `SET GLOBAL gtid_slave_pos = '${state}'`]
  },
  serverBinary: "mariadbd",
  adminClient: "mariadb-admin",
  binlogDecoder: "mariadb-binlog",
  initialiseCommand: (defaultsFile) => ({
    command: "mariadb-install-db",
    // root keeps unix_socket only until accountsSql gives it a password too
    args: [`--defaults-file=${defaultsFile}`, "--skip-test-db", "--auth-root-authentication-method=socket"]
  }),
  accountsSql: accountsSqlWith({
    rootAuthentication: (password) =>
      `IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD(${sqlString(password)})`,
    // RELOAD, PROCESS, BINLOG MONITOR: mariabackup --backup; SLAVE MONITOR: SHOW ALL REPLICAS STATUS
    backupGrants: ["RELOAD, PROCESS, BINLOG MONITOR, SLAVE MONITOR ON *.*"],
    // REPLICATION SLAVE: the binlog dump; BINLOG MONITOR: SHOW BINARY LOGS (research note 1.1)
    archiverPrivileges: "REPLICATION SLAVE, BINLOG MONITOR"
  }),
  replicaJoinSql: (gtid, source) => {
    // "" = the primary never logged a transaction: replicate from its first binlog
    const state = gtid === "" ? "" : validGtid(parseMariadbGtid, gtid)
    if (state === undefined) return undefined
    return [
      "STOP SLAVE",
      // the clone has no binlogs: seed its own binlog state too, so that the replica reports (and a backup
      // taken from it records) the GTID it holds before it replicated anything (log_slave_updates continues it)
      ...(state === "" ? [] : ["RESET MASTER", `SET GLOBAL gtid_binlog_state = '${state}'`]),
      `SET GLOBAL gtid_slave_pos = '${state}'`,
      `CHANGE MASTER TO MASTER_HOST = ${sqlString(source.host)}, MASTER_PORT = ${source.port}, MASTER_USER = ${sqlString(source.user)}, MASTER_PASSWORD = ${sqlString(source.password)}, MASTER_SSL = 1, MASTER_SSL_CA = ${sqlString(source.caFile)}, MASTER_SSL_VERIFY_SERVER_CERT = 1, MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1`,
      "START SLAVE"
    ]
  },
  serverOptions: () => [
    ["log_bin", "mysql-bin"],
    ["relay_log", "relay-bin"],
    ["log_slave_updates", "ON"],
    ["gtid_domain_id", 0],
    ["gtid_strict_mode", "ON"]
  ],
  verifyServerCertArg: "--ssl-verify-server-cert",
  dumpServerIdArg: (serverId) => `--stop-never-slave-server-id=${serverId}`,
  gtidStates: mariadbGtidStates,
  gtidTargetForm: "a MariaDB GTID list (domain-server-seq, comma-separated)",
  // gtid_current_pos stays empty on a restored server with another server_id (research note 2.6)
  executedGtidExpression: "@@gtid_binlog_pos"
}

/** MySQL 8.4 with Percona XtraBackup 8.4 / xbstream. */
export const mysql: Flavor = {
  name: "mysql",
  backupTool: "xtrabackup",
  extractTool: "xbstream",
  sqlClient: "mysql",
  optionGroups: ["client", "xtrabackup"],
  ...xtrabackupFamilyArgs,
  infoFiles: {
    checkpoints: ["xtrabackup_checkpoints"],
    binlogInfo: ["xtrabackup_binlog_info"],
    info: ["xtrabackup_info"]
  },
  parseToolVersion: (output) => /xtrabackup version (\S+)/u.exec(output)?.[1],
  parseGtid: parseMysqlGtid,
  statusQueries: {
    variables:
      "SELECT @@version AS version, @@read_only AS read_only, @@super_read_only AS super_read_only, @@gtid_executed AS gtid_executed",
    // SHOW MASTER STATUS was removed in 8.4
    binlog: "SHOW BINARY LOG STATUS",
    replicas: "SHOW REPLICA STATUS"
  },
  interpretStatus: interpretStatusWith({
    readOnly: (variables) => truthy(variables.read_only) || truthy(variables.super_read_only),
    executedGtid: (variables) => parseMysqlGtid(variables.gtid_executed ?? "") ?? ""
  }),
  // gtid_purged can only be set when gtid_executed is empty, hence the reset first.
  // MySQL has no BINLOG_GTID_POS; the Previous_gtids event would need SHOW BINLOG EVENTS and parsing
  binlogStartStateSql: () => undefined,
  restoreGtidSql: (gtid) => {
    const set = validGtid(parseMysqlGtid, gtid)
    if (set === undefined) return undefined
    return ["RESET BINARY LOGS AND GTIDS", `SET GLOBAL gtid_purged = '${set}'`]
  },
  serverBinary: "mysqld",
  adminClient: "mysqladmin",
  binlogDecoder: "mysqlbinlog",
  initialiseCommand: (defaultsFile) => ({
    command: "mysqld",
    args: [`--defaults-file=${defaultsFile}`, "--initialize-insecure"]
  }),
  accountsSql: accountsSqlWith({
    rootAuthentication: (password) => `IDENTIFIED BY ${sqlString(password)}`,
    // Percona XtraBackup 8.4's documented minimum, plus REPLICATION CLIENT for SHOW REPLICA STATUS
    backupGrants: [
      "BACKUP_ADMIN, PROCESS, RELOAD, LOCK TABLES, REPLICATION CLIENT ON *.*",
      "SELECT ON performance_schema.log_status"
    ],
    // REPLICATION CLIENT is MySQL's privilege for SHOW BINARY LOGS
    archiverPrivileges: "REPLICATION SLAVE, REPLICATION CLIENT"
  }),
  replicaJoinSql: (gtid, source) => {
    const set = gtid === "" ? "" : validGtid(parseMysqlGtid, gtid)
    if (set === undefined) return undefined
    return [
      "STOP REPLICA",
      "RESET BINARY LOGS AND GTIDS",
      ...(set === "" ? [] : [`SET GLOBAL gtid_purged = '${set}'`]),
      `CHANGE REPLICATION SOURCE TO SOURCE_HOST = ${sqlString(source.host)}, SOURCE_PORT = ${source.port}, SOURCE_USER = ${sqlString(source.user)}, SOURCE_PASSWORD = ${sqlString(source.password)}, SOURCE_SSL = 1, SOURCE_SSL_CA = ${sqlString(source.caFile)}, SOURCE_SSL_VERIFY_SERVER_CERT = 1, SOURCE_AUTO_POSITION = 1, SOURCE_CONNECT_RETRY = 1`,
      "START REPLICA"
    ]
  },
  serverOptions: (role) => [
    ["log_bin", "binlog"],
    ["relay_log", "relay-bin"],
    ["log_replica_updates", "ON"],
    ["gtid_mode", "ON"],
    ["enforce_gtid_consistency", "ON"],
    ["super_read_only", role === "replica" ? "ON" : "OFF"]
  ],
  // documented for MySQL 8.4's mysqlbinlog and client (research note, section 4), not run here
  verifyServerCertArg: "--ssl-mode=VERIFY_IDENTITY",
  dumpServerIdArg: (serverId) => `--connection-server-id=${serverId}`,
  gtidStates: mysqlGtidStates,
  gtidTargetForm: "a MySQL GTID set (uuid:1-99, comma-separated)",
  // the server prints a set of several uuids over several lines
  executedGtidExpression: "REPLACE(@@GLOBAL.gtid_executed, '\\n', '')"
}

/** The flavour by name. */
export const flavorOf = (name: FlavorName): Flavor => (name === "mariadb" ? mariadb : mysql)
