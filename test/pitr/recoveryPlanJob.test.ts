/**
 * The recovery plan Job's program (`cloudnative-mysql recovery-plan`) on a real archive: a real MariaDB whose
 * binlogs the archiver stored in s3rver, base backups' metadata next to them (the plan never downloads an
 * archive, so its bytes are not a real backup). A reachable GTID target lists the same files the restore would
 * replay, bounded to the first `recoveryPlanFileLimit`, with the full count; a target after the last archived
 * transaction, before every base backup, and across a deleted manifest are each reported unreachable with their
 * `why`; as a process, the plan is the termination message (exit 0) and a missing target is a configuration error.
 */
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import type { BinlogManifest } from "../../src/api/binlogArchive.ts"
import { recoveryPlanFileLimit } from "../../src/api/cluster.ts"
import { decodeRecoveryPlanTerminationMessage } from "../../src/api/jobs.ts"
import { binlogArchivePrefix, binlogFileKeys } from "../../src/objectstore/binlogLayout.ts"
import { ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { runArchiver } from "../../src/pitr/archiver.ts"
import { planPointInTime } from "../../src/pitr/pointInTimeRecovery.ts"
import { fileListBytes, listedFiles, recoveryPlanOf } from "../../src/recovery/plan.ts"
import { startMariadb } from "../../src/sandbox/mariadb.ts"
import { objectStoreEnv, restoreEnv, runSubcommand } from "../../src/sandbox/processes.ts"
import { type S3rver, s3rver, s3rverConnection } from "../../src/sandbox/s3rver.ts"
import { storeBackup } from "../recovery/support.ts"
import { tempDir, untilArchived } from "./support.ts"

describe("recovery plan program", () => {
  it("lists at most the file limit, and fewer when long names would overflow a termination message", () => {
    const manifest = (series: string, n: number) =>
      ({ series, file: `mysql-bin.${String(n).padStart(6, "0")}`, size: 1_000_000_000 }) as BinlogManifest
    const short = Array.from({ length: 30 }, (_, i) => manifest("server-1", i + 1))
    assert.deepStrictEqual(
      listedFiles(short),
      short.slice(0, recoveryPlanFileLimit).map((f) => ({ series: f.series, file: f.file, size: f.size }))
    )
    const long = Array.from({ length: 30 }, (_, i) => manifest(`s${"x".repeat(62)}`, i + 1))
    const listed = listedFiles(long)
    assert.isBelow(listed.length, recoveryPlanFileLimit)
    assert.isAbove(listed.length, 0)
    assert.isAtMost(Buffer.byteLength(JSON.stringify(listed)), fileListBytes)
    const next = long[listed.length]
    const withNext = [...listed, { series: next?.series, file: next?.file, size: next?.size }]
    assert.isAbove(Buffer.byteLength(JSON.stringify(withNext)), fileListBytes, "one more would not fit")
  })

  it.live(
    "plans what the restore would replay, bounded; reports each unreachable target with its why; as a process too",
    () =>
      Effect.gen(function* () {
        const store = yield* s3rver({ bucket: "recovery-plan" })
        yield* planScenario(store).pipe(Effect.provide(ObjectStoreClient.layer(s3rverConnection(store))))
      }).pipe(Effect.scoped),
    240_000
  )
})

const planScenario = (store: S3rver) =>
  Effect.gen(function* () {
    const cluster = "shop"
    const path = "plan"
    const primary = yield* startMariadb()
    yield* primary.createUser("archiver", "arch-pw-1", "REPLICATION SLAVE, BINLOG MONITOR")
    const credentialsFile = yield* primary.credentialsFile("archiver", "arch-pw-1")
    const prefix = yield* binlogArchivePrefix(path, cluster)
    const work = yield* tempDir("recovery-plan")
    const archiver = yield* Effect.forkScoped(
      runArchiver({
        source: { host: "127.0.0.1", port: primary.port, credentialsFile },
        dumpServerId: 4004,
        workDir: join(work, "work"),
        archivePrefix: prefix,
        identity: { version: 1, cluster, namespace: "db" },
        pollInterval: "200 millis"
      })
    )
    yield* primary.exec("CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY)")
    const backupEnd = yield* primary.gtidPosition
    // more files after the base backup than a plan lists
    const switches = recoveryPlanFileLimit + 3
    for (let i = 1; i <= switches; i++) {
      yield* primary.exec(`INSERT INTO app.t VALUES (${i}); FLUSH BINARY LOGS`)
    }
    const target = yield* primary.gtidPosition
    yield* primary.exec("INSERT INTO app.t VALUES (1000); FLUSH BINARY LOGS")
    const _listed = yield* untilArchived(primary, prefix)
    yield* Fiber.interrupt(archiver)
    const archive = new TextEncoder().encode("the plan never downloads this")
    const stored = yield* storeBackup({ path, cluster, backupId: "20261123T100000Z", archive, endGtid: backupEnd })
    const source = { _tag: "Prefix", path, cluster } as const

    const plan = yield* recoveryPlanOf(source, { _tag: "Gtid", gtid: target })
    const restores = yield* planPointInTime({
      archivePrefix: prefix,
      backup: { backupId: "20261123T100000Z", endGTID: backupEnd, stoppedAt: stored.metadata.stoppedAt },
      target: { _tag: "Gtid", gtid: target }
    })
    assert.isTrue(plan.reachable)
    assert.strictEqual(plan.backupId, "20261123T100000Z")
    assert.strictEqual(plan.archiveKey, stored.keys.archiveKey)
    assert.strictEqual(plan.startGTID, backupEnd)
    assert.isAtLeast(plan.fileCount ?? 0, switches)
    assert.strictEqual(plan.fileCount, restores.files.length)
    assert.strictEqual(plan.files?.length, recoveryPlanFileLimit)
    assert.deepStrictEqual(
      plan.files,
      restores.files.slice(0, recoveryPlanFileLimit).map((f) => ({ series: f.series, file: f.file, size: f.size }))
    )
    assert.strictEqual(
      plan.byteCount,
      restores.files.reduce((sum, f) => sum + f.size, 0)
    )
    assert.isAbove(plan.byteCount ?? 0, 0)

    // the same plan through the Keys of a Backup's status
    const byKeys = yield* recoveryPlanOf(
      {
        _tag: "Keys",
        archiveKey: stored.keys.archiveKey,
        metadataKey: stored.keys.metadataKey,
        expectedSha256: stored.metadata.archive.sha256,
        expectedSize: stored.metadata.archive.size
      },
      { _tag: "Gtid", gtid: target }
    )
    assert.deepStrictEqual(byKeys, plan)

    const after = yield* recoveryPlanOf(source, { _tag: "Gtid", gtid: "0-1-99999" })
    assert.isFalse(after.reachable)
    assert.strictEqual(after.why, "AfterLastArchivedTransaction")
    assert.strictEqual(after.backupId, "20261123T100000Z")
    assert.isUndefined(after.files)

    const before = yield* recoveryPlanOf(source, { _tag: "Time", time: "2026-11-23T20:00:00Z" })
    assert.isFalse(before.reachable)
    assert.strictEqual(before.why, "BeforeFirstRecoverablePoint")
    assert.isUndefined(before.backupId)

    // as a process: the plan is the termination message; no target is a configuration error
    const env = {
      ...(yield* objectStoreEnv(
        {
          endpoint: store.endpoint,
          region: "us-east-1",
          accessKey: store.accessKey,
          secretKey: store.secretKey,
          bucket: store.bucket,
          path
        },
        work
      )),
      ...restoreEnv({
        dataDir: join(work, "data"),
        defaultsFile: join(work, "my.cnf"),
        from: { sourceCluster: cluster }
      })
    }
    const run = (extra: Record<string, string>) =>
      Effect.gen(function* () {
        const outcome = yield* runSubcommand("recovery-plan", { workDir: work, env: { ...env, ...extra } })
        const text = JSON.stringify(outcome.termination)
        return {
          exitCode: outcome.exitCode,
          bytes: Buffer.byteLength(text),
          message: yield* decodeRecoveryPlanTerminationMessage(text)
        }
      })
    const asProcess = yield* run({ RESTORE_RECOVERY_TARGET_GTID: target })
    assert.strictEqual(asProcess.exitCode, 0)
    assert.deepStrictEqual(asProcess.message, plan)
    assert.isBelow(asProcess.bytes, 4096, "fits a termination message")
    const noTarget = yield* run({})
    assert.strictEqual(noTarget.exitCode, 1)
    assert.strictEqual("reason" in noTarget.message && noTarget.message.reason, "InvalidConfiguration")

    // a gap: the manifest of a planned file in the middle is gone
    const middle = restores.files[Math.floor(restores.files.length / 2)]
    const keys = yield* binlogFileKeys(prefix, middle?.series ?? "", middle?.file ?? "")
    yield* ObjectStoreClient.use((s3) => s3.deleteObject(keys.manifestKey))
    const gap = yield* recoveryPlanOf(source, { _tag: "Gtid", gtid: target })
    assert.isFalse(gap.reachable)
    assert.strictEqual(gap.why, "ArchiveGap")
    assert.include(gap.message ?? "", "ArchiveGap")
  }).pipe(Effect.scoped)
