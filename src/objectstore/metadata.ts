/**
 * `metadata.json`: written next to the archive only after the archive upload completed and the backup tool
 * exited 0, so its presence marks a completed backup. Recovery trusts its `sha256` and `size`, never the S3
 * ETag. It never holds credentials.
 *
 * Versioned: readers accept the versions they know and reject newer ones with a clear error instead of
 * guessing.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { BackupId } from "../api/backupId.ts"
import { FlavorName } from "../api/common.ts"
import { BinlogPosition, Sha256 } from "../api/jobs.ts"
import { Timestamp } from "../api/time.ts"

const Identity = Schema.Struct({
  name: Schema.String,
  namespace: Schema.String,
  uid: Schema.optionalKey(Schema.String)
})

/** Version 1 of metadata.json. */
export const BackupMetadata = Schema.Struct({
  version: Schema.Literal(1),
  cluster: Identity,
  backup: Identity,
  backupId: BackupId,
  sourceInstance: Schema.String,
  method: Schema.Literal("xtrabackup"),
  flavor: FlavorName,
  tool: Schema.Struct({ name: Schema.String, version: Schema.String }),
  serverVersion: Schema.optionalKey(Schema.String),
  archive: Schema.Struct({
    key: Schema.String,
    size: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
    sha256: Sha256,
    partSize: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
    parts: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
  }),
  startedAt: Timestamp,
  stoppedAt: Timestamp,
  beginGTID: Schema.optionalKey(Schema.String),
  endGTID: Schema.optionalKey(Schema.String),
  beginBinlog: Schema.optionalKey(BinlogPosition),
  endBinlog: Schema.optionalKey(BinlogPosition)
})
export type BackupMetadata = typeof BackupMetadata.Type

const MetadataJson = Schema.fromJsonString(BackupMetadata)

/** Serialises metadata as pretty-printed JSON (it is meant to be read by people too). */
export const encodeMetadata = (metadata: BackupMetadata): string =>
  `${JSON.stringify(Schema.encodeSync(BackupMetadata)(metadata), null, 2)}\n`

/** Parses and validates metadata.json text; fails with a `SchemaError` that names the offending field. */
export const decodeMetadata = (text: string) => Schema.decodeUnknownEffect(MetadataJson)(text)

/** Synchronous variant of {@link decodeMetadata} for callers outside Effect. */
export const decodeMetadataSync = (text: string): BackupMetadata => Schema.decodeUnknownSync(MetadataJson)(text)
