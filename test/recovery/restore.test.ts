/**
 * Restore against real tools and a real store: a local `mariabackup --stream` of a throwaway MariaDB, stored
 * in the test RGW, restored with `restore()` (extract → prepare → copy-back → GTID state), and every refusal
 * provoked for real. The data directory is checked after each failure: nothing a server could start on.
 */
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdir, mkdtemp, readdir, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { RestoreTerminationMessage } from "../../src/api/jobs.ts"
import { mariadb } from "../../src/instance/flavor.ts"
import { ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { resolveBackup } from "../../src/recovery/resolve.ts"
import { restore, restoreResolved } from "../../src/recovery/restore.ts"
import { startMariadb, writeRestoredServerDefaults } from "../../src/sandbox/mariadb.ts"
import { objectStoreEnv, restoreEnv, runSubcommand, terminationFailure } from "../../src/sandbox/processes.ts"
import { chunkBoundaries } from "../../src/sandbox/xbstream.ts"
import { emptyBucket } from "../e2e/support.ts"
import { createBucket, rgw, rgwConnection, startRgw, uniqueBucketName } from "../support/rgw.ts"
import { type LocalBackup, localBackup, sha256, storeBackup } from "./support.ts"

interface SourceState {
  readonly backup: LocalBackup
  /** CHECKSUM TABLE of every table at the backup point. */
  readonly checksums: Record<string, string>
}

class Source extends Context.Service<Source, SourceState>()("test/recovery/Source") {}

const SourceLive = Layer.effect(
  Source,
  Effect.gen(function* () {
    const mdb = yield* startMariadb()
    yield* mdb.loadSampleData({ tables: 3, bytes: 12 * 1024 * 1024 })
    const checksums = yield* mdb.checksums
    const backup = yield* localBackup(mdb)
    // written after the backup point: must not appear in a restore
    yield* mdb.exec("CREATE TABLE after_backup (id INT PRIMARY KEY); INSERT INTO after_backup VALUES (1);", "shop")
    return { backup, checksums }
  }).pipe(Effect.orDie)
)

const bucket = uniqueBucketName("restore")
const StoreLive = Layer.unwrap(
  Effect.acquireRelease(
    Effect.promise(async () => {
      await startRgw()
      await createBucket(bucket)
      return ObjectStoreClient.layer(rgwConnection(bucket))
    }),
    () => emptyBucket(bucket)
  )
)

/** A fresh parent directory holding `data/` (created with `lost+found` when asked) and the server's option file. */
const target = (options: { readonly lostAndFound?: boolean } = {}) =>
  Effect.gen(function* () {
    const parent = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-restore-")))
    yield* Effect.addFinalizer(() => Effect.sync(() => spawnSync("rm", ["-rf", parent])))
    const dataDir = join(parent, "data")
    if (options.lostAndFound === true)
      yield* Effect.promise(() => mkdir(join(dataDir, "lost+found"), { recursive: true }))
    const serverDefaultsFile = yield* writeRestoredServerDefaults(parent, dataDir, 2)
    return { parent, dataDir, serverDefaultsFile }
  })

/** What is left next to the data directory and in it: scratch and staging directories must be gone. */
const leftovers = (parent: string) =>
  Effect.promise(async () => {
    const top = (await readdir(parent)).filter((e) => e !== "restored.cnf").sort()
    const data = existsSync(join(parent, "data")) ? (await readdir(join(parent, "data"))).sort() : undefined
    return { top, data }
  })

let clusterCounter = 0
const nextCluster = () => `c${process.pid}-${clusterCounter++}`

describe("restore", () => {
  layer(Layer.mergeAll(SourceLive, StoreLive), { timeout: "5 minutes", excludeTestServices: true })((it) => {
    it.effect(
      "restores the latest completed backup into a volume with lost+found; the server starts with the backup's tables and GTID",
      () =>
        Effect.gen(function* () {
          const { backup, checksums } = yield* Source
          const cluster = nextCluster()
          yield* storeBackup({
            path: "restore",
            cluster,
            backupId: "20261123T100000Z",
            archive: backup.bytes,
            endGtid: backup.endGtid
          })
          // an older backup and an incomplete newer one (archive without metadata.json) must not be chosen
          yield* storeBackup({
            path: "restore",
            cluster,
            backupId: "20261122T100000Z",
            archive: backup.bytes,
            endGtid: backup.endGtid
          })
          yield* storeBackup({
            path: "restore",
            cluster,
            backupId: "20261124T100000Z",
            archive: backup.bytes.subarray(0, 1000),
            endGtid: backup.endGtid,
            withMetadata: false
          })
          const t = yield* target({ lostAndFound: true })
          const result = yield* restore({
            flavor: mariadb,
            source: { _tag: "Prefix", path: "restore", cluster },
            dataDir: t.dataDir,
            serverDefaultsFile: t.serverDefaultsFile
          })
          assert.strictEqual(result.backupId, "20261123T100000Z")
          assert.strictEqual(result.sha256, backup.sha256)
          assert.strictEqual(result.gtid, backup.endGtid)
          assert.deepStrictEqual((yield* leftovers(t.parent)).top, ["data"])

          const restored = yield* startMariadb({ dataDir: t.dataDir, serverId: 2 })
          assert.deepStrictEqual(yield* restored.checksums, checksums)
          assert.strictEqual(yield* restored.gtidPosition, backup.endGtid)
          const after = yield* restored.query(
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_name = 'after_backup'"
          )
          assert.strictEqual(after[0]?.n, "0")
          // the restored server is a primary continuing the sequence with its own server id
          yield* restored.exec("CREATE DATABASE continued")
          const [domain, , seq] = backup.endGtid.split("-")
          assert.strictEqual(yield* restored.gtidPosition, `${domain}-2-${Number(seq) + 1}`)
        })
    )

    it.effect(
      "issue 15: the newer of two backups lost its last 1000 bytes: latest fails with BackupDamaged naming it; usePrevious restores the older and says so",
      () =>
        Effect.gen(function* () {
          const { backup } = yield* Source
          const cluster = nextCluster()
          const older = yield* storeBackup({
            path: "restore",
            cluster,
            backupName: "b",
            backupId: "20261201T000000Z",
            archive: backup.bytes,
            endGtid: backup.endGtid
          })
          // metadata.json describes the whole archive, the bucket holds it cut short
          yield* storeBackup({
            path: "restore",
            cluster,
            backupName: "b2",
            backupId: "20261201T010000Z",
            archive: backup.bytes.subarray(0, backup.bytes.length - 1000),
            described: { size: backup.bytes.length, sha256: backup.sha256 },
            endGtid: backup.endGtid
          })
          const t = yield* target({ lostAndFound: true })
          const options = {
            flavor: mariadb,
            source: { _tag: "Prefix", path: "restore", cluster } as const,
            dataDir: t.dataDir,
            serverDefaultsFile: t.serverDefaultsFile
          }
          const error = yield* restore(options).pipe(Effect.flip)
          assert.strictEqual(error._tag, "BackupDamaged")
          assert.include(error.message, "20261201T010000Z")
          assert.include(error.message, `promises ${backup.bytes.length} bytes`)
          assert.deepStrictEqual(yield* leftovers(t.parent), { top: ["data"], data: ["lost+found"] })

          // pinned: the same reason, not BackupIDNotFound
          const pinned = yield* restore({
            ...options,
            source: { ...options.source, backupId: "20261201T010000Z" }
          }).pipe(Effect.flip)
          assert.strictEqual(pinned._tag, "BackupDamaged")

          const result = yield* restore({ ...options, onDamagedLatest: "usePrevious" })
          assert.strictEqual(result.backupId, "20261201T000000Z")
          assert.strictEqual(result.archiveKey, older.keys.archiveKey)
          assert.strictEqual(result.sha256, backup.sha256)
          assert.deepStrictEqual(
            result.skippedBackups?.map((s) => [s.backupId, s.backupName, s.reason]),
            [["20261201T010000Z", "b2", "BackupDamaged"]]
          )
          assert.include(result.skippedBackups?.[0]?.message ?? "", `promises ${backup.bytes.length} bytes`)
        })
    )

    it.effect("a single backup cut short is BackupDamaged, not NoBaseBackupsFound, even with usePrevious", () =>
      Effect.gen(function* () {
        const { backup } = yield* Source
        const cluster = nextCluster()
        yield* storeBackup({
          path: "restore",
          cluster,
          backupId: "20261201T010000Z",
          archive: backup.bytes.subarray(0, backup.bytes.length - 1000),
          described: { size: backup.bytes.length, sha256: backup.sha256 },
          endGtid: backup.endGtid
        })
        const t = yield* target()
        const options = {
          flavor: mariadb,
          source: { _tag: "Prefix", path: "restore", cluster } as const,
          dataDir: t.dataDir,
          serverDefaultsFile: t.serverDefaultsFile
        }
        assert.strictEqual((yield* restore(options).pipe(Effect.flip))._tag, "BackupDamaged")
        const fallback = yield* restore({ ...options, onDamagedLatest: "usePrevious" }).pipe(Effect.flip)
        assert.strictEqual(fallback._tag, "BackupDamaged")
        assert.include(fallback.message, "20261201T010000Z")
        assert.deepStrictEqual(yield* leftovers(t.parent), { top: [], data: undefined })
      })
    )

    it.effect(
      "a latest backup whose bytes fail the sha256 check on download: BackupDamaged; usePrevious falls back after the discarded download",
      () =>
        Effect.gen(function* () {
          const { backup } = yield* Source
          const cluster = nextCluster()
          yield* storeBackup({
            path: "restore",
            cluster,
            backupId: "20261201T000000Z",
            archive: backup.bytes,
            endGtid: backup.endGtid
          })
          const flipped = Buffer.from(backup.bytes)
          const at = flipped.length - 10
          flipped[at] = (flipped[at] ?? 0) ^ 0x80
          yield* storeBackup({
            path: "restore",
            cluster,
            backupId: "20261201T010000Z",
            archive: flipped,
            described: { size: backup.bytes.length, sha256: backup.sha256 },
            endGtid: backup.endGtid
          })
          const t = yield* target({ lostAndFound: true })
          const options = {
            flavor: mariadb,
            source: { _tag: "Prefix", path: "restore", cluster } as const,
            dataDir: t.dataDir,
            serverDefaultsFile: t.serverDefaultsFile
          }
          const error = yield* restore(options).pipe(Effect.flip)
          assert.strictEqual(error._tag, "BackupDamaged")
          assert.include(error.message, "sha256")
          assert.deepStrictEqual(yield* leftovers(t.parent), { top: ["data"], data: ["lost+found"] })
          const result = yield* restore({ ...options, onDamagedLatest: "usePrevious" })
          assert.strictEqual(result.backupId, "20261201T000000Z")
          assert.deepStrictEqual(
            result.skippedBackups?.map((s) => s.backupId),
            ["20261201T010000Z"]
          )
          assert.include(result.skippedBackups?.[0]?.message ?? "", "sha256")
        })
    )

    it.effect("a pinned backup id restores that backup; an unknown one fails with BackupIDNotFound", () =>
      Effect.gen(function* () {
        const { backup } = yield* Source
        const cluster = nextCluster()
        yield* storeBackup({
          path: "restore",
          cluster,
          backupId: "20261123T100000Z",
          archive: backup.bytes,
          endGtid: backup.endGtid
        })
        yield* storeBackup({
          path: "restore",
          cluster,
          backupId: "20261124T100000Z",
          archive: backup.bytes,
          endGtid: backup.endGtid
        })
        const pinned = yield* resolveBackup({ _tag: "Prefix", path: "restore", cluster, backupId: "20261123T100000Z" })
        assert.strictEqual(pinned.metadata.backupId, "20261123T100000Z")
        const latest = yield* resolveBackup({ _tag: "Prefix", path: "restore", cluster })
        assert.strictEqual(latest.metadata.backupId, "20261124T100000Z")

        const t = yield* target()
        const error = yield* restore({
          flavor: mariadb,
          source: { _tag: "Prefix", path: "restore", cluster, backupId: "20261125T100000Z" },
          dataDir: t.dataDir,
          serverDefaultsFile: t.serverDefaultsFile
        }).pipe(Effect.flip)
        assert.strictEqual(error._tag, "BackupIDNotFound")
        assert.deepStrictEqual(yield* leftovers(t.parent), { top: [], data: undefined })
      })
    )

    it.effect("no completed backup under the prefix fails with NoBaseBackupsFound", () =>
      Effect.gen(function* () {
        const { backup } = yield* Source
        const cluster = nextCluster()
        const t = yield* target()
        const options = {
          flavor: mariadb,
          source: { _tag: "Prefix", path: "restore", cluster } as const,
          dataDir: t.dataDir,
          serverDefaultsFile: t.serverDefaultsFile
        }
        assert.strictEqual((yield* restore(options).pipe(Effect.flip))._tag, "NoBaseBackupsFound")
        // an archive whose metadata.json was never written is not a completed backup
        yield* storeBackup({
          path: "restore",
          cluster,
          backupId: "20261123T100000Z",
          archive: backup.bytes,
          endGtid: backup.endGtid,
          withMetadata: false
        })
        assert.strictEqual((yield* restore(options).pipe(Effect.flip))._tag, "NoBaseBackupsFound")
        assert.deepStrictEqual(yield* leftovers(t.parent), { top: [], data: undefined })
      })
    )

    it.effect(
      "a flipped byte fails the sha256 check before prepare: the backup is damaged; the data directory stays untouched",
      () =>
        Effect.gen(function* () {
          const { backup } = yield* Source
          const cluster = nextCluster()
          const flipped = Buffer.from(backup.bytes)
          const at = Math.floor(flipped.length / 2)
          flipped[at] = (flipped[at] ?? 0) ^ 0x01
          yield* storeBackup({
            path: "restore",
            cluster,
            backupId: "20261123T100000Z",
            archive: flipped,
            described: { size: backup.bytes.length, sha256: backup.sha256 },
            endGtid: backup.endGtid
          })
          const t = yield* target({ lostAndFound: true })
          const error = yield* restore({
            flavor: mariadb,
            source: { _tag: "Prefix", path: "restore", cluster },
            dataDir: t.dataDir,
            serverDefaultsFile: t.serverDefaultsFile
          }).pipe(Effect.flip)
          assert.strictEqual(error._tag, "BackupDamaged")
          assert.include(error.message, "20261123T100000Z")
          assert.include(error.message, "checksum mismatch")
          assert.deepStrictEqual(yield* leftovers(t.parent), { top: ["data"], data: ["lost+found"] })
        })
    )

    it.effect("a stream cut at an xbstream chunk boundary (mbstream exits 0 on it) fails with ChecksumMismatch", () =>
      Effect.gen(function* () {
        const { backup } = yield* Source
        const boundaries = chunkBoundaries(backup.bytes)
        const cut = boundaries[Math.floor(boundaries.length / 2)] ?? 0
        const truncated = backup.bytes.subarray(0, cut)
        // the premise: the extractor alone accepts this truncated stream
        const scratch = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-mbstream-")))
        const alone = spawnSync("mbstream", ["-x", "-C", scratch], { input: truncated })
        spawnSync("rm", ["-rf", scratch])
        assert.strictEqual(alone.status, 0)

        const cluster = nextCluster()
        const { keys } = yield* storeBackup({
          path: "restore",
          cluster,
          backupId: "20261123T100000Z",
          archive: truncated,
          described: { size: backup.bytes.length, sha256: backup.sha256 },
          endGtid: backup.endGtid
        })
        const t = yield* target()
        const error = yield* restore({
          flavor: mariadb,
          // explicit keys (as from a Backup's status): the catalog's listing-size check does not apply
          source: {
            _tag: "Keys",
            archiveKey: keys.archiveKey,
            metadataKey: keys.metadataKey,
            expectedSha256: backup.sha256,
            expectedSize: backup.bytes.length
          },
          dataDir: t.dataDir,
          serverDefaultsFile: t.serverDefaultsFile
        }).pipe(Effect.flip)
        assert.strictEqual(error._tag, "ChecksumMismatch")
        assert.deepStrictEqual(yield* leftovers(t.parent), { top: [], data: undefined })
      })
    )

    it.effect("a truncated stream whose checksum matches still fails: the final info file is missing", () =>
      Effect.gen(function* () {
        const { backup } = yield* Source
        const boundaries = chunkBoundaries(backup.bytes)
        const truncated = backup.bytes.subarray(0, boundaries[Math.floor(boundaries.length / 2)] ?? 0)
        const cluster = nextCluster()
        yield* storeBackup({
          path: "restore",
          cluster,
          backupId: "20261123T100000Z",
          archive: truncated,
          endGtid: backup.endGtid
        })
        const t = yield* target()
        const error = yield* restore({
          flavor: mariadb,
          source: { _tag: "Prefix", path: "restore", cluster },
          dataDir: t.dataDir,
          serverDefaultsFile: t.serverDefaultsFile
        }).pipe(Effect.flip)
        assert.strictEqual(error._tag, "RestorePrepareFailed")
        assert.include(error.message, "xtrabackup_info")
        assert.deepStrictEqual(yield* leftovers(t.parent), { top: [], data: undefined })
      })
    )

    it.effect("a wrong expected size fails with ChecksumMismatch after the download, before prepare", () =>
      Effect.gen(function* () {
        const { backup } = yield* Source
        const cluster = nextCluster()
        const { keys, metadata } = yield* storeBackup({
          path: "restore",
          cluster,
          backupId: "20261123T100000Z",
          archive: backup.bytes,
          endGtid: backup.endGtid
        })
        const t = yield* target({ lostAndFound: true })
        const error = yield* restoreResolved(
          {
            archiveKey: keys.archiveKey,
            expectedSha256: backup.sha256,
            expectedSize: backup.bytes.length + 1,
            metadata,
            skipped: []
          },
          { flavor: mariadb, dataDir: t.dataDir, serverDefaultsFile: t.serverDefaultsFile }
        ).pipe(Effect.flip)
        assert.strictEqual(error._tag, "ChecksumMismatch")
        assert.strictEqual(error._tag === "ChecksumMismatch" && error.actualSize, backup.bytes.length)
        assert.deepStrictEqual(yield* leftovers(t.parent), { top: ["data"], data: ["lost+found"] })

        // explicit keys whose expectation contradicts metadata.json are refused before any download
        const contradicted = yield* restore({
          flavor: mariadb,
          source: {
            _tag: "Keys",
            archiveKey: keys.archiveKey,
            metadataKey: keys.metadataKey,
            expectedSha256: sha256(Buffer.from("other")),
            expectedSize: backup.bytes.length
          },
          dataDir: t.dataDir,
          serverDefaultsFile: t.serverDefaultsFile
        }).pipe(Effect.flip)
        assert.strictEqual(contradicted._tag, "ChecksumMismatch")
      })
    )

    it.effect("a data directory with anything but lost+found is refused before downloading", () =>
      Effect.gen(function* () {
        const { backup } = yield* Source
        const cluster = nextCluster()
        yield* storeBackup({
          path: "restore",
          cluster,
          backupId: "20261123T100000Z",
          archive: backup.bytes,
          endGtid: backup.endGtid
        })
        const t = yield* target({ lostAndFound: true })
        yield* Effect.promise(() => writeFile(join(t.dataDir, "ibdata1"), "existing"))
        const error = yield* restore({
          flavor: mariadb,
          source: { _tag: "Prefix", path: "restore", cluster },
          dataDir: t.dataDir,
          serverDefaultsFile: t.serverDefaultsFile
        }).pipe(Effect.flip)
        assert.strictEqual(error._tag, "RestoreCopyBackFailed")
        assert.include(error.message, "not empty")
        assert.deepStrictEqual(yield* leftovers(t.parent), { top: ["data"], data: ["ibdata1", "lost+found"] })
      })
    )

    it.effect("when setting the GTID state fails, the data directory is emptied again", () =>
      Effect.gen(function* () {
        const { backup } = yield* Source
        const cluster = nextCluster()
        yield* storeBackup({
          path: "restore",
          cluster,
          backupId: "20261123T100000Z",
          archive: backup.bytes,
          endGtid: backup.endGtid
        })
        const t = yield* target({ lostAndFound: true })
        const broken = join(t.parent, "broken.cnf")
        yield* Effect.promise(() => writeFile(broken, "[mysqld]\nno_such_server_option=1\nuser=root\n"))
        const error = yield* restore({
          flavor: mariadb,
          source: { _tag: "Prefix", path: "restore", cluster },
          dataDir: t.dataDir,
          serverDefaultsFile: broken
        }).pipe(Effect.flip)
        assert.strictEqual(error._tag, "RestoreCopyBackFailed")
        assert.include(error.message, "GTID")
        assert.deepStrictEqual(yield* leftovers(t.parent), { top: ["broken.cnf", "data"], data: ["lost+found"] })
      })
    )

    it.effect(
      "a scratch directory that cannot be created (missing parent) is RestorePrepareFailed before any download",
      () =>
        Effect.gen(function* () {
          const { backup } = yield* Source
          const cluster = nextCluster()
          yield* storeBackup({
            path: "restore",
            cluster,
            backupId: "20261123T100000Z",
            archive: backup.bytes,
            endGtid: backup.endGtid
          })
          const t = yield* target({ lostAndFound: true })
          const error = yield* restore({
            flavor: mariadb,
            source: { _tag: "Prefix", path: "restore", cluster },
            dataDir: t.dataDir,
            serverDefaultsFile: t.serverDefaultsFile,
            scratchParent: join(t.parent, "no", "such", "dir")
          }).pipe(Effect.flip)
          assert.strictEqual(error._tag, "RestorePrepareFailed")
          assert.strictEqual(error._tag === "RestorePrepareFailed" && error.step, "extract")
          assert.include(error.message, "cannot create a scratch directory")
          assert.include(error.message, "ENOENT")
          assert.deepStrictEqual(yield* leftovers(t.parent), { top: ["data"], data: ["lost+found"] })
        })
    )

    it.effect(
      "a volume the restore may not write to (immutable, so even root is refused) is RestoreCopyBackFailed after prepare; the data directory stays as it was",
      () =>
        Effect.gen(function* () {
          const { backup } = yield* Source
          const cluster = nextCluster()
          yield* storeBackup({
            path: "restore",
            cluster,
            backupId: "20261123T100000Z",
            archive: backup.bytes,
            endGtid: backup.endGtid
          })
          const t = yield* target({ lostAndFound: true })
          const scratch = yield* Effect.acquireRelease(
            Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-restore-scratch-"))),
            (dir) => Effect.sync(() => spawnSync("rm", ["-rf", dir]))
          )
          // root ignores mode bits; the immutable attribute it must respect (EPERM on every write in the directory)
          yield* Effect.acquireRelease(
            Effect.sync(() => spawnSync("chattr", ["+i", t.parent])),
            () => Effect.sync(() => spawnSync("chattr", ["-i", t.parent]))
          )
          const error = yield* restore({
            flavor: mariadb,
            source: { _tag: "Prefix", path: "restore", cluster },
            dataDir: t.dataDir,
            serverDefaultsFile: t.serverDefaultsFile,
            scratchParent: scratch
          }).pipe(Effect.flip)
          assert.strictEqual(error._tag, "RestoreCopyBackFailed")
          assert.include(error.message, "cannot create the staging directory")
          assert.include(error.message, "EPERM")
          spawnSync("chattr", ["-i", t.parent])
          assert.deepStrictEqual(yield* leftovers(t.parent), { top: ["data"], data: ["lost+found"] })
          assert.deepStrictEqual(yield* Effect.promise(() => readdir(scratch)), [])
        })
    )

    it.effect(
      "a data volume too small for the backup (a 4 MiB tmpfs in a private mount namespace): extraction on it is RestorePrepareFailed, copy-back onto it RestoreCopyBackFailed, both naming the full disk",
      () =>
        Effect.gen(function* () {
          const { backup } = yield* Source
          const cluster = nextCluster()
          yield* storeBackup({
            path: "restore",
            cluster,
            backupId: "20261123T100000Z",
            archive: backup.bytes,
            endGtid: backup.endGtid
          })
          const t = yield* target()
          const volume = join(t.parent, "volume")
          const scratch = join(t.parent, "scratch")
          yield* Effect.promise(async () => {
            await mkdir(volume)
            await mkdir(scratch)
          })
          const r = rgw()
          const storeEnv = yield* objectStoreEnv(
            {
              endpoint: r.endpoint,
              region: r.region,
              accessKey: r.accessKey,
              secretKey: r.secretKey,
              bucket,
              path: "restore"
            },
            t.parent
          )
          // the mount exists only for the restore process: it goes away with it, nothing to unmount
          const onSmallVolume = [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            'mount -t tmpfs -o size=4m tmpfs "$0" && exec "$@"',
            volume
          ] as const
          const run = (extra: Record<string, string>) =>
            Effect.gen(function* () {
              const outcome = yield* runSubcommand("restore", {
                workDir: t.parent,
                wrapper: onSmallVolume,
                env: {
                  ...storeEnv,
                  ...restoreEnv({
                    dataDir: join(volume, "data"),
                    defaultsFile: t.serverDefaultsFile,
                    from: { sourceCluster: cluster }
                  }),
                  ...extra
                }
              })
              assert.strictEqual(outcome.exitCode, 1, outcome.stderr.slice(-2000))
              return yield* terminationFailure(RestoreTerminationMessage, outcome)
            })
          const extracting = yield* run({})
          assert.strictEqual(extracting.reason, "RestorePrepareFailed")
          assert.match(extracting.message, /extract failed/u)
          assert.match(extracting.message, /No space left on device|errno 28|ENOSPC/iu)

          const copying = yield* run({ RESTORE_SCRATCH_DIR: scratch })
          assert.strictEqual(copying.reason, "RestoreCopyBackFailed")
          assert.match(copying.message, /No space left on device|errno 28|ENOSPC/iu)
          assert.deepStrictEqual(yield* Effect.promise(() => readdir(scratch)), [])
          assert.deepStrictEqual(
            yield* Effect.promise(() => readdir(volume)),
            [],
            "the host never saw the volume's files"
          )
        })
    )
  })
})
