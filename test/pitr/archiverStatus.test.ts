/**
 * The archiver's status endpoint, from the real `cloudnative-mysql archive-binlogs` process against a real
 * MariaDB and s3rver: `/status` decodes as `ArchiverStatus` and follows the archive (runs, last file, caught up or
 * lagging), `/metrics` carries the lag and the counters, and a prefix owned by another cluster keeps the process
 * up and reports why, with `/healthz` failing so the Deployment is not ready.
 */
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import {
  type ArchiverEnvVars,
  type ArchiverStatus,
  decodeArchiverStatus,
  encodeArchiveIdentity
} from "../../src/api/binlogArchive.ts"
import { binlogArchivePrefix, identityKey } from "../../src/objectstore/binlogLayout.ts"
import { ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { startMariadb } from "../../src/sandbox/mariadb.ts"
import { freePort } from "../../src/sandbox/ports.ts"
import { objectStoreEnv, spawnSubcommand } from "../../src/sandbox/processes.ts"
import { s3rver, s3rverConnection } from "../../src/sandbox/s3rver.ts"
import { tempDir, until } from "./support.ts"

const get = (url: string) =>
  Effect.promise(() =>
    fetch(url).then(
      async (r) => ({ status: r.status, text: await r.text() }),
      (error: unknown) => ({ status: 0, text: String(error) })
    )
  )

/** s3rver, the env the process reads it from, and the test's own client on it. */
const store = Effect.gen(function* () {
  const s3 = yield* s3rver({ bucket: "archive" })
  const dir = yield* tempDir("archiver-status")
  const env = yield* objectStoreEnv(
    {
      endpoint: s3.endpoint,
      region: "us-east-1",
      bucket: s3.bucket,
      path: "pitr",
      accessKey: s3.accessKey,
      secretKey: s3.secretKey
    },
    dir
  )
  const client = ObjectStoreClient.layer(s3rverConnection(s3))
  return { env, client, dir }
})

const archiverEnv = (port: number, statusPort: number, credentialsFile: string, workDir: string): ArchiverEnvVars => ({
  ARCHIVE_CLUSTER_NAME: "c",
  ARCHIVE_CLUSTER_NAMESPACE: "db",
  ARCHIVE_CLUSTER_UID: "00000000-0000-4000-8000-00000000000c",
  ARCHIVE_SOURCE_HOST: "127.0.0.1",
  ARCHIVE_SOURCE_PORT: String(port),
  ARCHIVE_CREDENTIALS_FILE: credentialsFile,
  ARCHIVE_DUMP_SERVER_ID: "4001",
  ARCHIVE_WORK_DIR: workDir,
  ARCHIVE_POLL_INTERVAL_MS: "200",
  ARCHIVE_STATUS_PORT: String(statusPort),
  ARCHIVE_LISTEN_ADDRESS: "127.0.0.1"
})

const statusOf = (base: string) =>
  Effect.flatMap(get(`${base}/status`), (r) =>
    r.status === 200 ? Effect.orDie(decodeArchiverStatus(r.text)) : Effect.succeed(undefined)
  )

describe("archive-binlogs status endpoint (real process, MariaDB, s3rver)", () => {
  it.live(
    "reports the archive's run, the last archived file, caught up or lagging, and the metrics",
    () =>
      Effect.gen(function* () {
        const server = yield* startMariadb()
        yield* server.createUser("archiver", "arch-pw-1", "REPLICATION SLAVE, BINLOG MONITOR")
        const credentialsFile = yield* server.credentialsFile("archiver", "arch-pw-1")
        const { env, dir } = yield* store
        const statusPort = yield* freePort
        const base = `http://127.0.0.1:${statusPort}`
        const archiver = yield* spawnSubcommand("archive-binlogs", {
          workDir: dir,
          env: { ...env, ...archiverEnv(server.port, statusPort, credentialsFile, join(dir, "work")) }
        })
        yield* until("the archiver to follow the primary", statusOf(base), (s) => s?.state === "ok")
        assert.strictEqual((yield* get(`${base}/healthz`)).status, 200)

        yield* server.exec("CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY)")
        yield* server.exec("INSERT INTO app.t VALUES (1); INSERT INTO app.t VALUES (2)")
        yield* server.exec("FLUSH BINARY LOGS")
        const position = (yield* server.query("SELECT @@gtid_binlog_pos AS pos"))[0]?.pos ?? ""
        const caught = (yield* until(
          "the flushed file archived",
          statusOf(base),
          (s) => s?.lastArchived?.gtidState === position && s.caughtUp === true
        )) as ArchiverStatus
        assert.strictEqual(caught.series, "server-1")
        assert.strictEqual(caught.lagSeconds, 0)
        assert.strictEqual(caught.filesArchived, 1)
        assert.isAbove(caught.bytesArchived, 0)
        assert.strictEqual(caught.segments.length, 1, "no gap")
        assert.strictEqual(caught.segments[0]?.endState, position)
        assert.strictEqual(caught.segments[0]?.lastFile, caught.lastArchived?.file)

        // a transaction in the open file: the primary is ahead until the next rotation
        yield* server.exec("INSERT INTO app.t VALUES (3)")
        const lagging = (yield* until(
          "the primary ahead",
          statusOf(base),
          (s) => s?.caughtUp === false
        )) as ArchiverStatus
        assert.isAtLeast(lagging.lagSeconds ?? -1, 0)
        assert.strictEqual(lagging.lastArchived?.gtidState, position)
        const metrics = yield* get(`${base}/metrics`)
        assert.strictEqual(metrics.status, 200)
        assert.include(metrics.text, 'cnmysql_binlog_archive_state{state="ok"} 1')
        assert.include(metrics.text, "cnmysql_binlog_archive_files_total 1")
        assert.match(metrics.text, /^cnmysql_binlog_archive_lag_seconds \d+$/mu)
        assert.match(metrics.text, /^cnmysql_binlog_archive_last_upload_timestamp_seconds \d+(\.\d+)?$/mu)

        // the primary goes away: the archiver says so and stays up
        yield* server.stop
        const down = (yield* until(
          "the source unreachable",
          statusOf(base),
          (s) => s?.state === "serverUnreachable"
        )) as ArchiverStatus
        assert.isDefined(down.message)
        assert.strictEqual((yield* get(`${base}/healthz`)).status, 503)
        assert.isNull(archiver.child.exitCode)
      }).pipe(Effect.scoped),
    180_000
  )

  it.live(
    "a prefix owned by another cluster: the process stays up, /status says why, /healthz fails",
    () =>
      Effect.gen(function* () {
        const { env, client, dir } = yield* store
        const prefix = yield* binlogArchivePrefix("pitr", "c")
        yield* ObjectStoreClient.use((s3) =>
          s3.putObject(
            identityKey(prefix),
            new TextEncoder().encode(encodeArchiveIdentity({ version: 1, cluster: "other", namespace: "db" }))
          )
        ).pipe(Effect.provide(client))
        const statusPort = yield* freePort
        const base = `http://127.0.0.1:${statusPort}`
        const archiver = yield* spawnSubcommand("archive-binlogs", {
          workDir: dir,
          // no server at all: the identity is checked before the source is contacted
          env: { ...env, ...archiverEnv(1, statusPort, join(dir, "none.cnf"), join(dir, "work")) }
        })
        const owned = (yield* until(
          "ownedByOtherCluster",
          statusOf(base),
          (s) => s?.state === "ownedByOtherCluster"
        )) as ArchiverStatus
        assert.include(owned.message, "belongs to cluster db/other, not db/c")
        assert.deepStrictEqual(owned.segments, [])
        assert.isUndefined(owned.lastArchived)
        const health = yield* get(`${base}/healthz`)
        assert.strictEqual(health.status, 503)
        assert.include(health.text, "ownedByOtherCluster")
        // still up well after a crash-looping process would have exited
        yield* Effect.sleep("2 seconds")
        assert.isNull(archiver.child.exitCode)
        const keys = yield* ObjectStoreClient.use((s3) => Stream.runCollect(s3.listObjects(prefix))).pipe(
          Effect.map((entries) => entries.flatMap((e) => ("key" in e ? [e.key] : []))),
          Effect.provide(client)
        )
        assert.deepStrictEqual(keys, [identityKey(prefix)], "nothing written into another cluster's archive")
      }).pipe(Effect.scoped),
    120_000
  )
})
