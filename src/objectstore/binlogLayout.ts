/**
 * The binlog archive's keys, next to the backups of the same cluster (`layout.ts`):
 *
 * ```
 * <path>/<cluster>/binlogs/identity.json                         which cluster the archive belongs to
 * <path>/<cluster>/binlogs/<series>/<file>                       a completed binlog file, byte for byte
 * <path>/<cluster>/binlogs/<series>/<file>.manifest.json         written last: the file is archived
 * ```
 *
 * The keys never parse as a backup's (`parseBackupKey` wants `<name>/<YYYYMMDDTHHMMSSZ>/backup.xbstream`, and a
 * series is a lowercase DNS label, never a backup id), so a Backup named `binlogs` cannot be misread either way.
 *
 * @since 0.2.0
 */
import { Effect, Option, Schema } from "effect"
import { BinlogFileName, BinlogSeries } from "../api/binlogArchive.ts"
import { InvalidName } from "../api/failures.ts"
import { clusterPrefix } from "./layout.ts"

/** The folder of the archive inside a cluster prefix. */
export const BinlogsFolder = "binlogs"
/** The identity object's name inside the archive prefix. */
export const IdentityFile = "identity.json"
/** The suffix of a file's manifest. */
export const ManifestSuffix = ".manifest.json"

/** The archive prefix of a cluster: `<path>/<cluster>/binlogs/`. */
export const binlogArchivePrefix = Effect.fn("binlogLayout.binlogArchivePrefix")(function* (
  path: string,
  cluster: string
) {
  return `${yield* clusterPrefix(path, cluster)}${BinlogsFolder}/`
})

/**
 * The archive prefix next to a backup, from its archive key (`<path>/<cluster>/<backup-name>/<backup-id>/backup.xbstream`
 * → `<path>/<cluster>/binlogs/`): point-in-time recovery replays the binlogs of the cluster the backup was
 * found under, whichever way it was named (a Backup object or an `externalClusters` source).
 */
export const binlogArchivePrefixOfBackup = (archiveKey: string): string => {
  const segments = archiveKey.split("/")
  return `${[...segments.slice(0, -3), ""].join("/")}${BinlogsFolder}/`
}

/** The identity key under an archive prefix. */
export const identityKey = (archivePrefix: string): string => `${archivePrefix}${IdentityFile}`

/** The keys of one archived binlog file. */
export interface BinlogFileKeys {
  readonly fileKey: string
  readonly manifestKey: string
}

/** The keys of one binlog file of a series, validating both names. */
export const binlogFileKeys = Effect.fn("binlogLayout.binlogFileKeys")(function* (
  archivePrefix: string,
  series: string,
  file: string
) {
  if (!Schema.is(BinlogSeries)(series)) {
    return yield* new InvalidName({ field: "binlog series", value: series, detail: "must be a DNS-1123 label" })
  }
  if (!Schema.is(BinlogFileName)(file)) {
    return yield* new InvalidName({ field: "binlog file", value: file, detail: "must look like mysql-bin.000001" })
  }
  const fileKey = `${archivePrefix}${series}/${file}`
  return { fileKey, manifestKey: `${fileKey}${ManifestSuffix}` } satisfies BinlogFileKeys
})

/** What a key under an archive prefix says. */
export interface ParsedBinlogKey {
  readonly series: string
  readonly file: string
  readonly kind: "file" | "manifest"
}

/** Parses a key found under an archive prefix; anything that is not exactly a file or manifest key is `None`. */
export const parseBinlogKey = (archivePrefix: string, key: string): Option.Option<ParsedBinlogKey> => {
  if (!key.startsWith(archivePrefix)) return Option.none()
  const parts = key.slice(archivePrefix.length).split("/")
  if (parts.length !== 2) return Option.none()
  const [series, name] = parts as [string, string]
  if (!Schema.is(BinlogSeries)(series)) return Option.none()
  const kind = name.endsWith(ManifestSuffix) ? "manifest" : "file"
  const file = kind === "manifest" ? name.slice(0, -ManifestSuffix.length) : name
  return Schema.is(BinlogFileName)(file) ? Option.some({ series, file, kind }) : Option.none()
}
