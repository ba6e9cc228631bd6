/**
 * End to end with real processes, loopback only: MariaDB with a few hundred MB → `cloudnative-mysql instance`
 * → mTLS → `cloudnative-mysql backup` → RGW → `cloudnative-mysql restore` → a second MariaDB on the restored
 * data directory. Checked: every table's CHECKSUM TABLE, the GTID position, rows written after the backup are
 * absent; the same through the raw object-store path (latest and pinned backup id); no credentials in logs or
 * metadata.json.
 */
import { mkdtemp } from "node:fs/promises"
import { join } from "node:path"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { RestoreTerminationMessage, WorkerTerminationMessage } from "../../src/api/jobs.ts"
import { decodeMetadata } from "../../src/objectstore/metadata.ts"
import { backupUser, startMariadb, writeRestoredServerDefaults } from "../../src/sandbox/mariadb.ts"
import { freePort } from "../../src/sandbox/ports.ts"
import {
  restoreEnv,
  runSubcommand,
  startInstanceManager,
  terminationResult,
  workerEnv
} from "../../src/sandbox/processes.ts"
import { E2eFixture, fixtureLayer, readObject, storeContents, storeLayer } from "./support.ts"

const path = "e2e"
const cluster = "source"
const Fixture = fixtureLayer({ bytes: 240 * 1024 * 1024, path })

/** A fresh target directory for a restore, with the option file the restored server will use. */
const restoreTarget = (dir: string, name: string) =>
  Effect.gen(function* () {
    const parent = yield* Effect.promise(() => mkdtemp(join(dir, `${name}-`)))
    const dataDir = join(parent, "data")
    return { parent, dataDir, defaults: yield* writeRestoredServerDefaults(parent, dataDir, 2) }
  })

const noCredentials = (text: string, secrets: ReadonlyArray<string>) => {
  for (const secret of secrets) assert.notInclude(text, secret)
}

describe("backup and restore end to end", () => {
  layer(Layer.provideMerge(storeLayer, Fixture), { timeout: "10 minutes", excludeTestServices: true })((it) => {
    it.effect(
      "instance manager → worker → RGW → restore: checksums and GTID of the backup point; later rows absent",
      () =>
        Effect.gen(function* () {
          const f = yield* E2eFixture
          const im = yield* startInstanceManager({
            socket: f.mdb.socket,
            backupUser: backupUser.user,
            backupPassword: backupUser.password,
            pki: f.pki,
            apiPort: yield* freePort,
            probePort: yield* freePort,
            workDir: join(f.dir, "im-roundtrip")
          })
          const atBackup = yield* f.mdb.checksums
          const gtidAtBackup = yield* f.mdb.gtidPosition

          const first = yield* runSubcommand("backup", {
            workDir: join(f.dir, "worker-1"),
            env: {
              ...workerEnv({ url: im.url, pki: f.pki, cluster, backupName: "nightly", backupId: "20261123T010000Z" }),
              ...f.storeEnv
            }
          })
          assert.strictEqual(first.exitCode, 0, `${first.stdout.slice(-3000)}\n${first.stderr.slice(-2000)}`)
          const result = yield* terminationResult(WorkerTerminationMessage, first)
          assert.strictEqual(result.endGTID, gtidAtBackup)
          assert.isAbove(result.size, 200 * 1024 * 1024)
          assert.match(result.sha256, /^[0-9a-f]{64}$/u)

          const metadataText = yield* readObject(result.metadataKey)
          const metadata = yield* decodeMetadata(metadataText)
          assert.strictEqual(metadata.archive.sha256, result.sha256)
          assert.strictEqual(metadata.archive.size, result.size)
          assert.strictEqual(metadata.endGTID, gtidAtBackup)
          assert.strictEqual(metadata.sourceInstance, `${cluster}-1`)
          assert.strictEqual(metadata.cluster.uid, "00000000-0000-4000-8000-000000000001")
          assert.isDefined(metadata.endBinlog)
          noCredentials(`${metadataText}${first.stdout}${first.stderr}`, [f.target.secretKey, f.target.accessKey])

          // written after the backup point
          yield* f.mdb.exec(
            "CREATE TABLE after_backup (id INT PRIMARY KEY); INSERT INTO after_backup VALUES (1);",
            "shop"
          )
          const atSecond = yield* f.mdb.checksums
          const gtidAtSecond = yield* f.mdb.gtidPosition

          const t = yield* restoreTarget(f.dir, "restore-keys")
          const restored = yield* runSubcommand("restore", {
            workDir: join(f.dir, "restore-keys"),
            env: {
              ...f.storeEnv,
              ...restoreEnv({ dataDir: t.dataDir, defaultsFile: t.defaults, from: result })
            }
          })
          assert.strictEqual(restored.exitCode, 0, `${restored.stdout.slice(-3000)}\n${restored.stderr.slice(-2000)}`)
          yield* terminationResult(RestoreTerminationMessage, restored)
          noCredentials(`${restored.stdout}${restored.stderr}`, [f.target.secretKey, f.target.accessKey])
          const server = yield* startMariadb({ dataDir: t.dataDir, serverId: 2 })
          assert.deepStrictEqual(yield* server.checksums, atBackup)
          assert.strictEqual(yield* server.gtidPosition, gtidAtBackup)
          const later = yield* server.query(
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_name = 'after_backup'"
          )
          assert.strictEqual(later[0]?.n, "0")
          yield* server.stop

          // a second backup; then the raw object-store path: latest, and the first one pinned by id
          const second = yield* runSubcommand("backup", {
            workDir: join(f.dir, "worker-2"),
            env: {
              ...workerEnv({ url: im.url, pki: f.pki, cluster, backupName: "nightly", backupId: "20261123T020000Z" }),
              ...f.storeEnv
            }
          })
          assert.strictEqual(second.exitCode, 0, second.stdout.slice(-3000))

          const fromPrefix = (name: string, backupId?: string) =>
            Effect.gen(function* () {
              const target = yield* restoreTarget(f.dir, name)
              const run = yield* runSubcommand("restore", {
                workDir: join(f.dir, name),
                env: {
                  ...f.storeEnv,
                  ...restoreEnv({
                    dataDir: target.dataDir,
                    defaultsFile: target.defaults,
                    from: { sourceCluster: cluster, ...(backupId === undefined ? {} : { backupId }) }
                  })
                }
              })
              assert.strictEqual(run.exitCode, 0, run.stdout.slice(-3000))
              const termination = yield* terminationResult(RestoreTerminationMessage, run)
              const db = yield* startMariadb({ dataDir: target.dataDir, serverId: 3 })
              const checksums = yield* db.checksums
              const gtid = yield* db.gtidPosition
              yield* db.stop
              return { termination, checksums, gtid }
            }).pipe(Effect.scoped)

          const latest = yield* fromPrefix("restore-latest")
          assert.strictEqual(latest.termination.backupId, "20261123T020000Z")
          assert.deepStrictEqual(latest.checksums, atSecond)
          assert.strictEqual(latest.gtid, gtidAtSecond)

          const pinned = yield* fromPrefix("restore-pinned", "20261123T010000Z")
          assert.strictEqual(pinned.termination.backupId, "20261123T010000Z")
          assert.deepStrictEqual(pinned.checksums, atBackup)
          assert.strictEqual(pinned.gtid, gtidAtBackup)

          const contents = yield* storeContents(`${path}/${cluster}/`)
          assert.deepStrictEqual(contents.uploads, [])
          assert.strictEqual(contents.keys.length, 4)
        }),
      { timeout: 600_000 }
    )
  })
})
