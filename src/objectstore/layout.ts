/**
 * The object layout (a contract with every backup already stored, so it never changes):
 *
 * ```
 * <path>/<cluster>/<backup-name>/<backup-id>/backup.xbstream
 * <path>/<cluster>/<backup-name>/<backup-id>/metadata.json
 * ```
 *
 * `path` may be empty (then keys start at `<cluster>/`). Every component is validated so that a key is
 * canonical (no `//`, no `.` or `..` segment) and cannot escape its prefix.
 *
 * @since 0.1.0
 */
import { Effect, Option, Schema } from "effect"
import { type BackupId, parseBackupId } from "../api/backupId.ts"
import { DnsLabel, DnsSubdomain } from "../api/common.ts"
import { InvalidName } from "../api/failures.ts"
import { ObjectPath } from "../api/objectStore.ts"

/** File name of the archive inside a backup's prefix. */
export const ArchiveFile = "backup.xbstream"
/** File name of the metadata document inside a backup's prefix. */
export const MetadataFile = "metadata.json"

/** Where one backup lives. */
export interface BackupLocation {
  readonly path: string
  readonly cluster: string
  readonly backupName: string
  readonly backupId: BackupId
}

/** The keys of one backup. */
export interface BackupKeys {
  /** `<path>/<cluster>/<backup-name>/<backup-id>/` */
  readonly prefix: string
  readonly archiveKey: string
  readonly metadataKey: string
}

const check = <S extends Schema.Top & { readonly DecodingServices: never }>(
  field: string,
  schema: S,
  value: string,
  detail: string
): Effect.Effect<void, InvalidName> =>
  Schema.is(schema)(value) ? Effect.void : Effect.fail(new InvalidName({ field, value, detail }))

const join = (path: string, rest: string): string => (path === "" ? rest : `${path}/${rest}`)

/**
 * The prefix under which all backups of a cluster live: `<path>/<cluster>/`. For raw object-store recovery
 * the cluster is the `externalClusters` entry's name.
 */
export const clusterPrefix = Effect.fn("layout.clusterPrefix")(function* (path: string, cluster: string) {
  yield* check("path", ObjectPath, path, "segments separated by single '/', none empty or starting with '.'")
  yield* check("cluster name", DnsLabel, cluster, "must be a DNS-1123 label")
  return join(path, `${cluster}/`)
})

/** The keys of one backup, validating every component. */
export const backupKeys = Effect.fn("layout.backupKeys")(function* (location: BackupLocation) {
  const prefix = yield* clusterPrefix(location.path, location.cluster)
  yield* check("backup name", DnsSubdomain, location.backupName, "must be a DNS-1123 subdomain")
  if (Option.isNone(parseBackupId(location.backupId))) {
    return yield* new InvalidName({
      field: "backup id",
      value: location.backupId,
      detail: "must be a UTC time as YYYYMMDDTHHMMSSZ"
    })
  }
  const backupPrefix = `${prefix}${location.backupName}/${location.backupId}/`
  return {
    prefix: backupPrefix,
    archiveKey: `${backupPrefix}${ArchiveFile}`,
    metadataKey: `${backupPrefix}${MetadataFile}`
  } satisfies BackupKeys
})

/** What a key under a cluster prefix says about the backup it belongs to. */
export interface ParsedBackupKey {
  readonly backupName: string
  readonly backupId: BackupId
  readonly file: "archive" | "metadata"
}

/**
 * Parses a key found under `clusterPrefix(path, cluster)`. Keys that are not exactly an archive or metadata
 * key of the layout give `None` (foreign objects in the bucket are ignored, never misread).
 */
export const parseBackupKey = (prefix: string, key: string): Option.Option<ParsedBackupKey> => {
  if (!key.startsWith(prefix)) return Option.none()
  const parts = key.slice(prefix.length).split("/")
  if (parts.length !== 3) return Option.none()
  const [backupName, id, fileName] = parts as [string, string, string]
  if (!Schema.is(DnsSubdomain)(backupName)) return Option.none()
  const file = fileName === ArchiveFile ? "archive" : fileName === MetadataFile ? "metadata" : undefined
  if (file === undefined) return Option.none()
  return Option.map(parseBackupId(id), (backupId) => ({ backupName, backupId, file }))
}
