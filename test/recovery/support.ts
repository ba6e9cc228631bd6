/** Helpers for the restore tests: local streamed backups, storing them in the test RGW, xbstream chunk walking. */
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { join } from "node:path"
import { Effect } from "effect"
import { BackupId } from "../../src/api/backupId.ts"
import { type BackupKeys, backupKeys } from "../../src/objectstore/layout.ts"
import { type BackupMetadata, encodeMetadata } from "../../src/objectstore/metadata.ts"
import { ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import type { MariadbInstance } from "../../src/sandbox/mariadb.ts"
import { backupUser } from "../../src/sandbox/mariadb.ts"

/** A backup stream taken locally with `mariabackup --backup --stream=xbstream`. */
export interface LocalBackup {
  readonly bytes: Buffer
  readonly sha256: string
  readonly endGtid: string
  readonly endBinlog: { readonly file: string; readonly position: number }
}

export const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

/** Streams a backup of `mdb` into memory (tests keep these to a few tens of MB). */
export const localBackup = (mdb: MariadbInstance): Effect.Effect<LocalBackup, Error> =>
  Effect.gen(function* () {
    yield* mdb.createUser(backupUser.user, backupUser.password, backupUser.grants).pipe(Effect.ignore)
    return yield* Effect.callback<LocalBackup, Error>((resume) => {
      const child = spawn("mariadb-backup", [
        `--defaults-file=${mdb.defaultsFile}`,
        "--backup",
        "--stream=xbstream",
        `--user=${backupUser.user}`,
        `--password=${backupUser.password}`,
        `--target-dir=${join(mdb.dir, "unused")}`
      ])
      const out: Array<Buffer> = []
      let err = ""
      child.stdout.on("data", (b: Buffer) => out.push(b))
      child.stderr.on("data", (b: Buffer) => {
        err += b.toString()
      })
      child.on("close", (code) => {
        const m =
          /MySQL binlog position: filename '([^']+)', position '(\d+)'(?:, GTID of the last change '([^']*)')?/u.exec(
            err
          )
        if (code !== 0 || m === null)
          return resume(Effect.fail(new Error(`mariabackup exited ${code}: ${err.slice(-500)}`)))
        const bytes = Buffer.concat(out)
        resume(
          Effect.succeed({
            bytes,
            sha256: sha256(bytes),
            endGtid: m[3] ?? "",
            endBinlog: { file: m[1] ?? "", position: Number(m[2]) }
          })
        )
      })
    })
  })

/** metadata.json for an archive stored at `keys`. */
export const metadataFor = (
  keys: BackupKeys,
  backupId: string,
  archive: { readonly size: number; readonly sha256: string },
  endGtid: string
): BackupMetadata => ({
  version: 1,
  cluster: { name: "source", namespace: "db" },
  backup: { name: "nightly", namespace: "db" },
  backupId: BackupId.make(backupId),
  sourceInstance: "source-1",
  method: "xtrabackup",
  flavor: "mariadb",
  tool: { name: "mariabackup", version: "10.11" },
  archive: { key: keys.archiveKey, size: archive.size, sha256: archive.sha256, partSize: archive.size || 1, parts: 1 },
  startedAt: "2026-11-23T20:46:44Z",
  stoppedAt: "2026-11-23T20:47:59Z",
  ...(endGtid === "" ? {} : { endGTID: endGtid })
})

/**
 * Stores `archive` and a metadata.json under `<path>/<cluster>/<backupName>/<backupId>/`. The metadata describes
 * `described` (default: the archive itself), so tests can store bytes that differ from what metadata promises.
 */
export const storeBackup = (options: {
  readonly path: string
  readonly cluster: string
  /** Default `nightly`. */
  readonly backupName?: string
  readonly backupId: string
  readonly archive: Uint8Array
  readonly described?: { readonly size: number; readonly sha256: string }
  readonly endGtid: string
  readonly withMetadata?: boolean
}) =>
  Effect.gen(function* () {
    const client = yield* ObjectStoreClient
    const keys = yield* backupKeys({
      path: options.path,
      cluster: options.cluster,
      backupName: options.backupName ?? "nightly",
      backupId: BackupId.make(options.backupId)
    })
    yield* client.putObject(keys.archiveKey, options.archive)
    const described = options.described ?? { size: options.archive.length, sha256: sha256(options.archive) }
    const metadata = metadataFor(keys, options.backupId, described, options.endGtid)
    if (options.withMetadata !== false) {
      yield* client.putObject(keys.metadataKey, new TextEncoder().encode(encodeMetadata(metadata)))
    }
    return { keys, metadata }
  })
