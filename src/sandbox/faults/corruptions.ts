/**
 * Fault run R2: corruptions. Two real backups (A, and B taken after more writes) are stored, then A is damaged
 * in one of many ways — bit flips anywhere and at xbstream chunk boundaries, cuts anywhere and at chunk boundaries
 * (which `mbstream` alone accepts), appended bytes, a zeroed 4 KiB block, metadata.json edits (sha256, size,
 * backup id, archive key, garbage, cut short, missing), B's archive under A's metadata, and a cut whose
 * metadata.json was rewritten to match — and restored, through the catalog (`Prefix`, as `bootstrap.recovery.source`)
 * or with explicit keys (`Keys`, as a Backup's status gives them). Every restore must be rejected with the expected
 * reason before prepare, leaving the data directory empty; then the pristine A must restore and start with the
 * source's data.
 *
 * Randomness (offsets, lengths, garbage) comes from Effect's `Random`: run it under `Random.withSeed`.
 *
 * @since 0.1.0
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Logger, Random, type Scope } from "effect"
import { BackupId } from "../../api/backupId.ts"
import { mariadb } from "../../instance/flavor.ts"
import { backupKeys } from "../../objectstore/layout.ts"
import { type BackupMetadata, decodeMetadataSync, encodeMetadata } from "../../objectstore/metadata.ts"
import { ObjectStoreClient } from "../../objectstore/ObjectStoreClient.ts"
import { isEmptyDataDir } from "../../recovery/dataDir.ts"
import type { RestoreSource } from "../../recovery/resolve.ts"
import { restore } from "../../recovery/restore.ts"
import { startMariadb, writeRestoredServerDefaults } from "../mariadb.ts"
import { chunkBoundaries } from "../xbstream.ts"
import { clearPrefix, direct, type FaultLab, readBytes, sha256Hex, takeBackup } from "./lab.ts"

/** Every kind of damage, applied in turn. */
export const corruptionKinds = [
  "flip-random",
  "flip-chunk-boundary",
  "flip-first-byte",
  "flip-last-byte",
  "cut-random",
  "cut-chunk-boundary",
  "append-16-bytes",
  "zero-4k-block",
  "metadata-wrong-sha256",
  "metadata-wrong-size",
  "metadata-wrong-backup-id",
  "metadata-wrong-archive-key",
  "metadata-garbage",
  "metadata-cut-short",
  "metadata-missing",
  "other-backups-archive",
  "cut-chunk-boundary-metadata-rewritten"
] as const
export type CorruptionKind = (typeof corruptionKinds)[number]

type Mode = "Prefix" | "Keys"

/** The reason a restore of each damage must fail with, by how the backup is named. */
const expectedReason = (kind: CorruptionKind, mode: Mode): string => {
  if (kind === "cut-chunk-boundary-metadata-rewritten") return "RestorePrepareFailed"
  if (kind === "metadata-missing") return mode === "Prefix" ? "NoBaseBackupsFound" : "BackupDamaged"
  if (mode === "Prefix") return "BackupDamaged"
  return kind === "metadata-garbage" || kind === "metadata-cut-short" ? "BackupDamaged" : "ChecksumMismatch"
}

/**
 * Explicit keys name a backup by archive key, sha256 and size: a metadata.json whose backup id is wrong but that
 * describes these bytes exactly does not stop a restore of verified bytes, so that edit is only a catalog case.
 */
const modesOf = (kind: CorruptionKind): ReadonlyArray<Mode> =>
  kind === "metadata-wrong-backup-id" ? ["Prefix"] : ["Prefix", "Keys"]

/** The figures of R2. */
export interface CorruptionFigures {
  readonly corruptions: number
  readonly byKind: Readonly<Record<string, number>>
  readonly byReason: Readonly<Record<string, number>>
  readonly atChunkBoundaries: number
  readonly rejected: number
  readonly rejectedWithExpectedReason: number
  readonly reachedPrepare: number
  readonly dataDirNotEmpty: number
  readonly archiveBytes: number
  readonly chunks: number
  readonly originalRestored: boolean
  readonly unexpected: ReadonlyArray<{
    readonly kind: string
    readonly mode: string
    readonly expected: string
    readonly got: string
    readonly detail: string
  }>
}

const between = (min: number, max: number) => Random.nextIntBetween(min, max)

const flip = (bytes: Buffer, at: number, bit: number): Buffer => {
  const out = Buffer.from(bytes)
  out[at] = (out[at] ?? 0) ^ (1 << bit)
  return out
}

interface Damaged {
  readonly archive: Buffer | undefined
  /** metadata.json text; `undefined`: not stored. */
  readonly metadata: string | undefined
}

/** Applies one damage to A (`aBytes` at `metadata.archive.key`). */
const damage = (
  kind: CorruptionKind,
  a: { readonly bytes: Buffer; readonly metadata: BackupMetadata; readonly boundaries: ReadonlyArray<number> },
  b: Buffer
): Effect.Effect<Damaged> =>
  Effect.gen(function* () {
    const size = a.bytes.length
    const meta = (m: BackupMetadata) => encodeMetadata(m)
    const pristine = meta(a.metadata)
    const inner = a.boundaries.slice(1, -1)
    const boundary = inner[yield* between(0, inner.length - 1)] ?? 1
    switch (kind) {
      case "flip-random":
        return { archive: flip(a.bytes, yield* between(0, size - 1), yield* between(0, 7)), metadata: pristine }
      case "flip-chunk-boundary": {
        // the chunk header: magic, flags, type, path length, …
        const at = Math.min(size - 1, boundary + (yield* between(0, 13)))
        return { archive: flip(a.bytes, at, yield* between(0, 7)), metadata: pristine }
      }
      case "flip-first-byte":
        return { archive: flip(a.bytes, 0, yield* between(0, 7)), metadata: pristine }
      case "flip-last-byte":
        return { archive: flip(a.bytes, size - 1, yield* between(0, 7)), metadata: pristine }
      case "cut-random":
        return { archive: a.bytes.subarray(0, yield* between(1, size - 1)), metadata: pristine }
      case "cut-chunk-boundary":
        return { archive: a.bytes.subarray(0, boundary), metadata: pristine }
      case "append-16-bytes": {
        const extra = Buffer.alloc(16)
        for (let i = 0; i < 16; i++) extra[i] = yield* between(0, 255)
        return { archive: Buffer.concat([a.bytes, extra]), metadata: pristine }
      }
      case "zero-4k-block": {
        // a block that is not already zero, or nothing would change
        for (;;) {
          const at = yield* between(0, size - 4096)
          if (a.bytes.subarray(at, at + 4096).some((x) => x !== 0)) {
            const out = Buffer.from(a.bytes)
            out.fill(0, at, at + 4096)
            return { archive: out, metadata: pristine }
          }
        }
      }
      case "metadata-wrong-sha256": {
        const digits = "0123456789abcdef"
        let sha = ""
        for (let i = 0; i < 64; i++) sha += digits[yield* between(0, 15)]
        return { archive: a.bytes, metadata: meta({ ...a.metadata, archive: { ...a.metadata.archive, sha256: sha } }) }
      }
      case "metadata-wrong-size": {
        const delta = (yield* Random.nextBoolean) ? yield* between(1, 4096) : -(yield* between(1, 4096))
        return {
          archive: a.bytes,
          metadata: meta({ ...a.metadata, archive: { ...a.metadata.archive, size: size + delta } })
        }
      }
      case "metadata-wrong-backup-id":
        return { archive: a.bytes, metadata: meta({ ...a.metadata, backupId: BackupId.make("20250101T000000Z") }) }
      case "metadata-wrong-archive-key":
        return {
          archive: a.bytes,
          metadata: meta({
            ...a.metadata,
            archive: { ...a.metadata.archive, key: a.metadata.archive.key.replace("backup.xbstream", "other.xbstream") }
          })
        }
      case "metadata-garbage": {
        const length = yield* between(1, 200)
        let text = ""
        for (let i = 0; i < length; i++) text += String.fromCharCode(yield* between(32, 126))
        return { archive: a.bytes, metadata: text }
      }
      case "metadata-cut-short":
        return { archive: a.bytes, metadata: pristine.slice(0, yield* between(0, pristine.length - 2)) }
      case "metadata-missing":
        return { archive: a.bytes, metadata: undefined }
      case "other-backups-archive":
        return { archive: b, metadata: pristine }
      case "cut-chunk-boundary-metadata-rewritten": {
        // well before the end: a cut that only drops the last end-of-file chunks still holds the final info file
        const early = inner.slice(0, Math.max(1, Math.floor(inner.length * 0.9)))
        const cut = a.bytes.subarray(0, early[yield* between(0, early.length - 1)] ?? 1)
        return {
          archive: cut,
          metadata: meta({
            ...a.metadata,
            archive: { ...a.metadata.archive, size: cut.length, sha256: sha256Hex(cut) }
          })
        }
      }
    }
  })

/** Runs `count` corruptions (kinds in turn, modes alternating) and the final pristine restore. */
export const runCorruptionFaults = (
  lab: FaultLab,
  options: { readonly count: number; readonly startServer?: boolean }
): Effect.Effect<CorruptionFigures, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const work = join(lab.dir, "r2")
    yield* Effect.promise(() => mkdir(work, { recursive: true }))
    const checksums = yield* lab.mdb.checksums
    const a = yield* takeBackup(lab, { cluster: "r2-source", backupName: "a", backupId: "20261201T000000Z" })
    yield* lab.mdb.exec(
      "CREATE TABLE r2_more (id INT PRIMARY KEY, v TEXT); INSERT INTO r2_more VALUES (1, 'b');",
      "shop"
    )
    const b = yield* takeBackup(lab, { cluster: "r2-source", backupName: "b", backupId: "20261201T010000Z" })
    const storeLayer = direct(lab)
    const aBytes = yield* readBytes(a.archiveKey).pipe(Effect.provide(storeLayer))
    const bBytes = yield* readBytes(b.archiveKey).pipe(Effect.provide(storeLayer))
    const aMetadata = decodeMetadataSync((yield* readBytes(a.metadataKey).pipe(Effect.provide(storeLayer))).toString())
    const boundaries = chunkBoundaries(aBytes)

    const byKind: Record<string, number> = {}
    const byReason: Record<string, number> = {}
    const unexpected: Array<CorruptionFigures["unexpected"][number]> = []
    let rejected = 0
    let expectedCount = 0
    let reachedPrepare = 0
    let notEmpty = 0
    let atBoundaries = 0
    const plan: Array<{ kind: CorruptionKind; mode: Mode }> = []
    while (plan.length < options.count) {
      for (const kind of corruptionKinds) {
        const modes = modesOf(kind)
        if (plan.length < options.count) plan.push({ kind, mode: modes[plan.length % modes.length] ?? "Prefix" })
      }
    }

    for (const [i, { kind, mode }] of plan.entries()) {
      const cluster = `r2-${i}`
      const keys = yield* backupKeys({ path: "", cluster, backupName: "a", backupId: aMetadata.backupId })
      const relocated: BackupMetadata = { ...aMetadata, archive: { ...aMetadata.archive, key: keys.archiveKey } }
      const damaged = yield* damage(kind, { bytes: aBytes, metadata: relocated, boundaries }, bBytes)
      if (kind.includes("chunk-boundary")) atBoundaries++
      yield* Effect.gen(function* () {
        const client = yield* ObjectStoreClient
        if (damaged.archive !== undefined) yield* client.putObject(keys.archiveKey, damaged.archive)
        if (damaged.metadata !== undefined) {
          yield* client.putObject(keys.metadataKey, new TextEncoder().encode(damaged.metadata))
        }
      }).pipe(Effect.provide(storeLayer))
      const source: RestoreSource =
        mode === "Prefix"
          ? { _tag: "Prefix", path: "", cluster }
          : {
              _tag: "Keys",
              archiveKey: keys.archiveKey,
              metadataKey: keys.metadataKey,
              // what the Backup's status says: the metadata as the worker wrote it
              expectedSha256:
                kind === "cut-chunk-boundary-metadata-rewritten" && damaged.metadata !== undefined
                  ? decodeMetadataSync(damaged.metadata).archive.sha256
                  : relocated.archive.sha256,
              expectedSize:
                kind === "cut-chunk-boundary-metadata-rewritten" && damaged.metadata !== undefined
                  ? decodeMetadataSync(damaged.metadata).archive.size
                  : relocated.archive.size
            }
      const parent = yield* Effect.promise(() => mkdtemp(join(work, `case-${i}-`)))
      const dataDir = join(parent, "data")
      if (i % 2 === 0) yield* Effect.promise(() => mkdir(join(dataDir, "lost+found"), { recursive: true }))
      const serverDefaultsFile = yield* writeRestoredServerDefaults(parent, dataDir, 2)
      const lines: Array<string> = []
      const outcome = yield* restore({ flavor: mariadb, source, dataDir, serverDefaultsFile }).pipe(
        Effect.provide(storeLayer),
        Effect.provide(Logger.layer([Logger.map(Logger.formatJson, (line) => void lines.push(line))])),
        Effect.result
      )
      const expected = expectedReason(kind, mode)
      const got = outcome._tag === "Failure" ? outcome.failure._tag : "restored"
      const detail = outcome._tag === "Failure" ? outcome.failure.message : "restored a damaged backup"
      byKind[kind] = (byKind[kind] ?? 0) + 1
      byReason[got] = (byReason[got] ?? 0) + 1
      if (outcome._tag === "Failure") rejected++
      if (got === expected) expectedCount++
      else unexpected.push({ kind, mode, expected, got, detail: detail.slice(0, 300) })
      if (lines.some((l) => l.includes("backup prepared") || l.includes("backup downloaded, verified and extracted")))
        reachedPrepare++
      if (!(yield* isEmptyDataDir(dataDir))) notEmpty++
      yield* clearPrefix(`${cluster}/`).pipe(Effect.provide(storeLayer))
      yield* Effect.promise(() => rm(parent, { recursive: true, force: true }))
    }

    // the pristine backup still restores, and a server starts on it with the source's data
    const parent = yield* Effect.promise(() => mkdtemp(join(work, "original-")))
    const dataDir = join(parent, "data")
    const serverDefaultsFile = yield* writeRestoredServerDefaults(parent, dataDir, 2)
    const restored = yield* restore({
      flavor: mariadb,
      source: { _tag: "Prefix", path: "", cluster: "r2-source", backupId: "20261201T000000Z" },
      dataDir,
      serverDefaultsFile
    }).pipe(Effect.provide(storeLayer), Effect.result)
    let originalRestored = restored._tag === "Success" && restored.success.sha256 === aMetadata.archive.sha256
    if (originalRestored && options.startServer !== false) {
      const server = yield* startMariadb({ dataDir, serverId: 2 })
      originalRestored = JSON.stringify(yield* server.checksums) === JSON.stringify(checksums)
      yield* server.stop
    }
    return {
      corruptions: plan.length,
      byKind,
      byReason,
      atChunkBoundaries: atBoundaries,
      rejected,
      rejectedWithExpectedReason: expectedCount,
      reachedPrepare,
      dataDirNotEmpty: notEmpty,
      archiveBytes: aBytes.length,
      chunks: boundaries.length - 1,
      originalRestored,
      unexpected: unexpected.slice(0, 20)
    } satisfies CorruptionFigures
  })
