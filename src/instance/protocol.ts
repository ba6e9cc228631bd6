/**
 * The wire contract of the instance manager's mTLS API (docs/instance-manager.md), shared by the server (`server.ts`) and
 * its clients (`client.ts`, the controller): paths, the `/cluster/status` body, the backup response's headers
 * and trailers, and the error body.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { FlavorName } from "../api/common.ts"

/** Paths served on the mTLS listener. */
export const paths = {
  status: "/cluster/status",
  backup: "/cluster/backup",
  flushBinaryLogs: "/cluster/flush-binary-logs"
} as const

/** Paths served on the plain-HTTP probe listener. */
export const probePaths = { healthz: "/healthz", readyz: "/readyz", metrics: "/metrics" } as const

const BinlogCoordinates = Schema.Struct({ file: Schema.String, position: Schema.Int })

/** Replication state of one channel (MariaDB connection name / MySQL channel name). */
export const ReplicationChannelStatus = Schema.Struct({
  name: Schema.String,
  sourceHost: Schema.NullOr(Schema.String),
  ioRunning: Schema.Boolean,
  sqlRunning: Schema.Boolean,
  lagSeconds: Schema.NullOr(Schema.Int),
  lastError: Schema.NullOr(Schema.String)
})

/** Body of `GET /cluster/status`. */
export const InstanceStatus = Schema.Struct({
  role: Schema.Literals(["primary", "replica"]),
  /** The server answers queries. */
  ready: Schema.Boolean,
  flavor: FlavorName,
  serverVersion: Schema.String,
  readOnly: Schema.Boolean,
  /** `0-1-99` (MariaDB `gtid_binlog_pos`) or `uuid:1-99` (MySQL `gtid_executed`); "" when none. */
  executedGtid: Schema.String,
  binlog: Schema.NullOr(BinlogCoordinates),
  replication: Schema.Array(ReplicationChannelStatus),
  backupRunning: Schema.Boolean
})
export type InstanceStatus = typeof InstanceStatus.Type

/**
 * Body of `POST /cluster/flush-binary-logs`: the binlog archiver's rotation (it has no admin privilege). The open
 * file is closed only when it holds transactions, so an idle primary does not fill the archive with empty files.
 */
export const FlushResult = Schema.Struct({
  rotated: Schema.Boolean,
  /** The file that was open when the request came (closed now when `rotated`). */
  file: Schema.String,
  /** The server's GTID state at the request. */
  gtid: Schema.String
})
export type FlushResult = typeof FlushResult.Type

/** A Kubernetes-style error body (409 when a backup already runs, 503 when the server is not reachable). */
export const ErrorBody = Schema.Struct({
  kind: Schema.Literal("Status"),
  status: Schema.Literal("Failure"),
  reason: Schema.String,
  message: Schema.String,
  code: Schema.Int
})
export type ErrorBody = typeof ErrorBody.Type

/** Builds an error body. */
export const apiFailure = (code: number, reason: string, message: string): ErrorBody => ({
  kind: "Status",
  status: "Failure",
  reason,
  message,
  code
})

/** Response headers of `GET /cluster/backup`: what is known when the stream starts. */
export const backupHeaders = {
  flavor: "x-backup-flavor",
  tool: "x-backup-tool",
  toolVersion: "x-backup-tool-version",
  beginGtid: "x-backup-begin-gtid",
  beginBinlogFile: "x-backup-begin-binlog-file",
  beginBinlogPosition: "x-backup-begin-binlog-position",
  startedAt: "x-backup-started-at"
} as const

/** Trailers of `GET /cluster/backup`: the outcome, known only after the tool exited. */
export const backupTrailers = {
  exitCode: "x-backup-exit-code",
  completedOk: "x-backup-completed-ok",
  endGtid: "x-backup-end-gtid",
  endBinlogFile: "x-backup-end-binlog-file",
  endBinlogPosition: "x-backup-end-binlog-position",
  /** Percent-encoded (header values cannot carry newlines or arbitrary UTF-8). */
  error: "x-backup-error"
} as const

/** What the backup response's headers say, decoded. */
export const BackupStart = Schema.Struct({
  flavor: FlavorName,
  tool: Schema.String,
  toolVersion: Schema.String,
  beginGtid: Schema.String,
  beginBinlog: Schema.NullOr(BinlogCoordinates),
  startedAt: Schema.String
})
export type BackupStart = typeof BackupStart.Type

/** What the backup response's trailers say, decoded. */
export const BackupOutcome = Schema.Struct({
  /** 128 + signal number when the tool was killed. */
  exitCode: Schema.Int,
  /** The tool's last stderr line was `completed OK!`. */
  completedOk: Schema.Boolean,
  endGtid: Schema.String,
  endBinlog: Schema.NullOr(BinlogCoordinates),
  /** stderr tail of a failed run, secrets removed; "" on success. */
  error: Schema.String
})
export type BackupOutcome = typeof BackupOutcome.Type

type HeaderBag = Readonly<Record<string, string | ReadonlyArray<string> | undefined>>

const single = (bag: HeaderBag, name: string): string | undefined => {
  const value = bag[name]
  return typeof value === "string" ? value : value?.[0]
}

const binlogFrom = (file: string | undefined, position: string | undefined) =>
  file === undefined || file === "" || position === undefined || !/^\d+$/u.test(position)
    ? null
    : { file, position: Number(position) }

/** Encodes a backup start as response headers. */
export const encodeBackupStart = (start: BackupStart): Record<string, string> => ({
  [backupHeaders.flavor]: start.flavor,
  [backupHeaders.tool]: start.tool,
  [backupHeaders.toolVersion]: start.toolVersion,
  [backupHeaders.beginGtid]: start.beginGtid,
  [backupHeaders.beginBinlogFile]: start.beginBinlog?.file ?? "",
  [backupHeaders.beginBinlogPosition]: start.beginBinlog === null ? "" : String(start.beginBinlog.position),
  [backupHeaders.startedAt]: start.startedAt
})

/** Decodes response headers (lower-case names, as Node gives them). */
export const decodeBackupStart = (headers: HeaderBag) =>
  Schema.decodeUnknownEffect(BackupStart)({
    flavor: single(headers, backupHeaders.flavor),
    tool: single(headers, backupHeaders.tool),
    toolVersion: single(headers, backupHeaders.toolVersion) ?? "",
    beginGtid: single(headers, backupHeaders.beginGtid) ?? "",
    beginBinlog: binlogFrom(
      single(headers, backupHeaders.beginBinlogFile),
      single(headers, backupHeaders.beginBinlogPosition)
    ),
    startedAt: single(headers, backupHeaders.startedAt) ?? ""
  })

/** Encodes a backup outcome as trailers. */
export const encodeBackupOutcome = (outcome: BackupOutcome): Record<string, string> => ({
  [backupTrailers.exitCode]: String(outcome.exitCode),
  [backupTrailers.completedOk]: String(outcome.completedOk),
  [backupTrailers.endGtid]: outcome.endGtid,
  [backupTrailers.endBinlogFile]: outcome.endBinlog?.file ?? "",
  [backupTrailers.endBinlogPosition]: outcome.endBinlog === null ? "" : String(outcome.endBinlog.position),
  [backupTrailers.error]: encodeURIComponent(outcome.error)
})

/** Decodes trailers; fails when the exit code is missing (the stream was cut before the outcome). */
export const decodeBackupOutcome = (trailers: HeaderBag) => {
  const exitCode = single(trailers, backupTrailers.exitCode)
  const error = single(trailers, backupTrailers.error) ?? ""
  return Schema.decodeUnknownEffect(BackupOutcome)({
    exitCode: exitCode !== undefined && /^-?\d+$/u.test(exitCode) ? Number(exitCode) : exitCode,
    completedOk: single(trailers, backupTrailers.completedOk) === "true",
    endGtid: single(trailers, backupTrailers.endGtid) ?? "",
    endBinlog: binlogFrom(
      single(trailers, backupTrailers.endBinlogFile),
      single(trailers, backupTrailers.endBinlogPosition)
    ),
    error: safeDecodeURIComponent(error)
  })
}

const safeDecodeURIComponent = (text: string): string => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}
