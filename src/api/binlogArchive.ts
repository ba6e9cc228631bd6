/**
 * The binlog archive contract: what `cloudnative-mysql archive-binlogs` writes next to the base backups and what
 * point-in-time recovery reads. Each completed binlog file is stored byte for byte, and a manifest per file is
 * written after the file's upload completed, so a file is visible to recovery only once its manifest exists (the
 * same rule as `metadata.json` for a backup). The key layout is `src/objectstore/binlogLayout.ts`.
 *
 * GTID states are the flavour's: MariaDB GTID lists (`domain-server-seq`, one per domain, comma-separated, ''
 * when empty) or MySQL 8.4 GTID sets (`uuid:1-5:7,uuid:tag:1-2`, canonical: lowercase, sorted, merged, as
 * `gtidSet.ts` prints them); a manifest's states are those of its `flavor`. Versioned: readers accept the versions they know and reject newer ones.
 *
 * @since 0.2.0
 */
import { Schema } from "effect"
import { DnsLabel, FlavorName } from "./common.ts"
import { decodeEnv, NonEmpty, PositiveIntFromString } from "./env.ts"
import { Sha256 } from "./jobs.ts"
import { Timestamp } from "./time.ts"

/** One MariaDB GTID, `domain-server-seq`. */
export const Gtid = Schema.String.check(Schema.isPattern(/^\d{1,10}-\d{1,10}-\d{1,20}$/u))

/** A MariaDB GTID position: at most one GTID per domain, comma-separated ('' is the empty position). */
export const GtidList = Schema.String.check(
  Schema.isPattern(/^$|^\d{1,10}-\d{1,10}-\d{1,20}(,\d{1,10}-\d{1,10}-\d{1,20})*$/u)
)

const uuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
const tag = "[a-z_][a-z0-9_]{0,31}"
const intervals = "\\d{1,19}(-\\d{1,19})?(:\\d{1,19}(-\\d{1,19})?)*"
const uuidSet = `${uuid}(:${tag})?:${intervals}`
const mysqlGtidSetPattern = new RegExp(`^$|^${uuidSet}(,${uuidSet})*$`, "u")

/** One MySQL GTID, `uuid[:tag]:gno` (lowercase). */
export const MysqlGtid = Schema.String.check(Schema.isPattern(new RegExp(`^${uuid}(:${tag})?:\\d{1,19}$`, "u")))

/** A MySQL GTID set as `gtidSet.ts` prints it ('' is the empty set). */
export const MysqlGtidSet = Schema.String.check(Schema.isPattern(mysqlGtidSetPattern))

/** A GTID state of either flavour: a MariaDB GTID list or a MySQL GTID set. */
export const GtidState = Schema.Union([GtidList, MysqlGtidSet])

/** A manifest's states and GTIDs are those of its flavour (MariaDB lists, MySQL sets). */
const statesOfItsFlavor = Schema.makeFilter<{
  readonly flavor: string
  readonly gtidStateBefore: string
  readonly gtidStateAfter: string
  readonly firstGTID?: string
  readonly lastGTID?: string
}>((m) => {
  const [state, gtid] = m.flavor === "mysql" ? [MysqlGtidSet, MysqlGtid] : [GtidList, Gtid]
  const states = [m.gtidStateBefore, m.gtidStateAfter].every(Schema.is(state))
  const gtids = [m.firstGTID, m.lastGTID].every((g) => g === undefined || Schema.is(gtid)(g))
  return (states && gtids) || `the GTID states and GTIDs of a ${m.flavor} manifest are ${m.flavor}'s`
})

/** A binlog file name as the server writes it (`mysql-bin.000003`): base name, '.', a sequence number. */
export const BinlogFileName = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9_][A-Za-z0-9_-]{0,100}\.\d{6,10}$/u)
).annotate({ description: "A binlog file name, e.g. mysql-bin.000003" })

/**
 * One series of binlog files: the files of one server's binlog index (`server-<server_id>`). A failover starts a
 * new series, because the new primary numbers its files itself; recovery chains files by GTID, not by name.
 */
export const BinlogSeries = DnsLabel

/** The identity of the cluster an archive belongs to (the archiver refuses a prefix holding another's). */
export const ArchiveIdentity = Schema.Struct({
  version: Schema.Literal(1),
  cluster: Schema.String,
  namespace: Schema.String,
  uid: Schema.optionalKey(Schema.String)
})
export type ArchiveIdentity = typeof ArchiveIdentity.Type

const ServerId = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 4294967295 }))

/** Version 1 of a binlog file's manifest. */
export const BinlogManifest = Schema.Struct({
  version: Schema.Literal(1),
  cluster: Schema.String,
  flavor: FlavorName,
  series: BinlogSeries,
  file: BinlogFileName,
  /** The file before this one in the same series, when it was archived. */
  previousFile: Schema.optionalKey(BinlogFileName),
  size: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  sha256: Sha256,
  serverId: ServerId,
  serverUuid: Schema.optionalKey(Schema.String),
  /** The GTID state before the file's first transaction (MariaDB's `Gtid_list`, MySQL's `Previous_gtids`). */
  gtidStateBefore: GtidState,
  /** The GTID state after the file's last transaction. */
  gtidStateAfter: GtidState,
  firstGTID: Schema.optionalKey(Schema.Union([Gtid, MysqlGtid])),
  lastGTID: Schema.optionalKey(Schema.Union([Gtid, MysqlGtid])),
  /** Times of the file's first and last event (UTC, whole seconds, as the binlog records them). */
  firstEventTime: Timestamp,
  lastEventTime: Timestamp,
  archivedAt: Timestamp
}).check(statesOfItsFlavor)
export type BinlogManifest = typeof BinlogManifest.Type

const ManifestJson = Schema.fromJsonString(BinlogManifest)
const IdentityJson = Schema.fromJsonString(ArchiveIdentity)

/** Serialises a manifest as pretty-printed JSON. */
export const encodeBinlogManifest = (manifest: BinlogManifest): string =>
  `${JSON.stringify(Schema.encodeSync(BinlogManifest)(manifest), null, 2)}\n`

/** Parses and validates a manifest; fails with a `SchemaError` naming the offending field. */
export const decodeBinlogManifest = Schema.decodeUnknownEffect(ManifestJson)

/** Serialises an archive identity. */
export const encodeArchiveIdentity = (identity: ArchiveIdentity): string =>
  `${JSON.stringify(Schema.encodeSync(ArchiveIdentity)(identity), null, 2)}\n`

/** Parses and validates an archive identity. */
export const decodeArchiveIdentity = Schema.decodeUnknownEffect(IdentityJson)

/** The environment of `cloudnative-mysql archive-binlogs` (docs/pitr.md), next to `OBJECT_STORE_SPEC`. */
export const ArchiverEnv = Schema.Struct({
  ARCHIVE_CLUSTER_NAME: NonEmpty,
  ARCHIVE_CLUSTER_NAMESPACE: NonEmpty,
  ARCHIVE_CLUSTER_UID: Schema.optionalKey(NonEmpty),
  ARCHIVE_SOURCE_HOST: NonEmpty,
  ARCHIVE_SOURCE_PORT: Schema.optionalKey(PositiveIntFromString),
  /** An option file `[client] user=… password=…`; or ARCHIVE_USER with ARCHIVE_PASSWORD_FILE (a mounted Secret key). */
  ARCHIVE_CREDENTIALS_FILE: Schema.optionalKey(NonEmpty),
  ARCHIVE_USER: Schema.optionalKey(NonEmpty),
  ARCHIVE_PASSWORD_FILE: Schema.optionalKey(NonEmpty),
  ARCHIVE_TLS_CA_FILE: Schema.optionalKey(NonEmpty),
  ARCHIVE_DUMP_SERVER_ID: PositiveIntFromString,
  ARCHIVE_WORK_DIR: NonEmpty,
  ARCHIVE_POLL_INTERVAL_MS: Schema.optionalKey(PositiveIntFromString),
  /**
   * The primary's instance manager (`https://<cluster>-rw.<ns>.svc:8443`): every ARCHIVE_FLUSH_INTERVAL_SECONDS
   * the archiver asks it to rotate the open binlog (`POST /cluster/flush-binary-logs`, mTLS with the client
   * certificate below and ARCHIVE_TLS_CA_FILE), which bounds the recovery point. Absent: no rotation.
   */
  ARCHIVE_FLUSH_URL: Schema.optionalKey(Schema.String.check(Schema.isPattern(/^https:\/\/[^\s/]+\/?$/u))),
  ARCHIVE_FLUSH_INTERVAL_SECONDS: Schema.optionalKey(PositiveIntFromString),
  ARCHIVE_TLS_CERT_FILE: Schema.optionalKey(NonEmpty),
  ARCHIVE_TLS_KEY_FILE: Schema.optionalKey(NonEmpty),
  /** The port of `/healthz`, `/status` and `/metrics` (plain HTTP; default `archiverStatusPort`). */
  ARCHIVE_STATUS_PORT: Schema.optionalKey(PositiveIntFromString),
  /** The address it listens on: the Pod IP (default: every address). */
  ARCHIVE_LISTEN_ADDRESS: Schema.optionalKey(NonEmpty),
  /** The server's flavour (default `mariadb`): the decoder, the SQL client and how binlog files are read. */
  ARCHIVE_FLAVOR: Schema.optionalKey(FlavorName)
})
export type ArchiverEnv = typeof ArchiverEnv.Type
/** The archiver's environment as a renderer writes it. */
export type ArchiverEnvVars = typeof ArchiverEnv.Encoded

/** Decodes the archiver environment (only the variables `ArchiverEnv` names are looked at). */
export const decodeArchiverEnv = decodeEnv(ArchiverEnv)

/**
 * The archiver's own port: `/healthz`, `/status` (an `ArchiverStatus`) and `/metrics` over plain HTTP on the Pod
 * IP. It carries no secret (GTIDs, file names, times), and the controller, which has no object-store
 * credentials, learns the archive's state only from it.
 */
export const archiverStatusPort = 9187

/** The paths the archiver serves on `archiverStatusPort`. */
export const archiverStatusPaths = { healthz: "/healthz", status: "/status", metrics: "/metrics" } as const

/**
 * What the archiver is doing: `starting` (before the prefix is claimed and the first listing is read), `ok`
 * (following the primary), `ownedByOtherCluster` (the prefix's `identity.json` names another cluster: nothing is
 * archived, the process stays up so the reason is visible), `serverUnreachable` (the primary does not answer;
 * retried), `failed` (the work directory or a binlog file is unusable; the process exits after reporting it).
 */
export const ArchiverState = Schema.Literals(["starting", "ok", "ownedByOtherCluster", "serverUnreachable", "failed"])
export type ArchiverState = typeof ArchiverState.Type

/** The newest archived file. */
export const ArchivedFile = Schema.Struct({
  /** `<series>/<file>` */
  file: Schema.String,
  /** The GTID state after the file (its manifest's `gtidStateAfter`). */
  gtidState: GtidState,
  lastGTID: Schema.optionalKey(Schema.Union([Gtid, MysqlGtid])),
  /** The file's last event (UTC, whole seconds). */
  eventTime: Timestamp,
  archivedAt: Timestamp
})
export type ArchivedFile = typeof ArchivedFile.Type

/**
 * A gap-free run of the archive: from `startState` (the first file's `gtidStateBefore`) every transaction up to
 * `endState` is archived. Recovery from a base backup whose end state lies in the run reaches any point up to
 * `endState` / `lastEventTime`. Two runs mean a gap between them (a file purged before it was archived).
 */
export const ArchiveSegment = Schema.Struct({
  startState: GtidState,
  endState: GtidState,
  firstEventTime: Timestamp,
  lastEventTime: Timestamp,
  /** `<series>/<file>` of the first and last file of the run. */
  firstFile: Schema.String,
  lastFile: Schema.String,
  files: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
})
export type ArchiveSegment = typeof ArchiveSegment.Type

/** `GET /status` of the archiver (version 1). */
export const ArchiverStatus = Schema.Struct({
  version: Schema.Literal(1),
  state: ArchiverState,
  /** Why, for every state but `ok`. */
  message: Schema.optionalKey(Schema.String),
  /** The series the dump follows (`server-<id>`). */
  series: Schema.optionalKey(BinlogSeries),
  lastArchived: Schema.optionalKey(ArchivedFile),
  /** The archive's gap-free runs, oldest first (every manifest under the prefix, not only this process's). */
  segments: Schema.Array(ArchiveSegment),
  /** Whether the primary had no transaction beyond the last archived file when asked (absent: not known). */
  caughtUp: Schema.optionalKey(Schema.Boolean),
  /** Seconds since the last archived transaction when the primary is ahead of the archive, 0 when caught up. */
  lagSeconds: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
  /** Files and bytes this process archived since it started. */
  filesArchived: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  bytesArchived: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  lastUploadTime: Schema.optionalKey(Timestamp)
})
export type ArchiverStatus = typeof ArchiverStatus.Type

/** Parses and validates a `/status` answer. */
export const decodeArchiverStatus = Schema.decodeUnknownEffect(Schema.fromJsonString(ArchiverStatus))
