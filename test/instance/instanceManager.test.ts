import { existsSync } from "node:fs"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { get } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it, layer } from "@effect/vitest"
import { Context, Effect, Layer, Stream } from "effect"
import { getStatus, InstanceManagerClient, startBackup } from "../../src/instance/client.ts"
import { isPrepared, mariadb } from "../../src/instance/flavor.ts"
import { backupUser, type MariadbInstance, startMariadb } from "../../src/sandbox/mariadb.ts"
import { parseExposition, sampleOf } from "../support/prometheus.ts"
import {
  extractInto,
  makePki,
  partitionableProxy,
  processExists,
  startInstanceManager,
  type TestPki
} from "./support.ts"

const marker = `STREAM-MARKER-${Math.random().toString(36).slice(2)}`

class Fixture extends Context.Service<
  Fixture,
  {
    readonly db: MariadbInstance
    readonly pki: TestPki
    readonly url: string
    readonly probePort: number
    readonly backupPid: () => number | undefined
    readonly logs: Array<string>
  }
>()("test/instance/Fixture") {
  static readonly layer = Layer.effect(
    Fixture,
    Effect.gen(function* () {
      const db = yield* startMariadb()
      yield* db.createUser(backupUser.user, backupUser.password, backupUser.grants)
      // enough data that a backup cannot fit into socket and pipe buffers (the disconnect test relies on it)
      yield* db.loadSampleData({ tables: 3, bytes: 48 * 1024 * 1024 })
      yield* db.exec(
        `CREATE TABLE notes (id INT PRIMARY KEY, body VARCHAR(100)); INSERT INTO notes VALUES (1, '${marker}')`,
        "shop"
      )
      const pki = yield* makePki
      const logs: Array<string> = []
      const manager = yield* startInstanceManager(db, pki, backupUser, logs)
      return Fixture.of({ db, pki, url: manager.url, probePort: manager.probePort, backupPid: manager.backupPid, logs })
    }).pipe(Effect.orDie)
  )
}

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-extract-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

const httpGet = (port: number, path: string) =>
  Effect.callback<number>((resume) => {
    get({ host: "127.0.0.1", port, path }, (res) => {
      res.resume()
      resume(Effect.succeed(res.statusCode ?? 0))
    }).on("error", () => resume(Effect.succeed(0)))
  })

const waitUntil = (condition: () => boolean, millis: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + millis
    while (!condition() && Date.now() < deadline) yield* Effect.sleep("50 millis")
    return condition()
  })

/** A backup tool that ignores SIGINT and SIGTERM and, unlike mariabackup, survives EPIPE: only SIGKILL stops it. */
const stubbornTool = Effect.gen(function* () {
  const dir = yield* tempDir
  const tool = join(dir, "stubborn-backup")
  yield* Effect.promise(() =>
    writeFile(
      tool,
      `#!/bin/bash
if [ "$1" = "--version" ]; then echo "mariabackup based on MariaDB server 10.11.19-MariaDB stub" >&2; exit 0; fi
trap '' INT TERM
echo "[00] stub started" >&2
while true; do head -c 1048576 /dev/zero 2>/dev/null; sleep 0.05; done
`,
      { mode: 0o755 }
    )
  )
  return tool
})

/** An instance manager whose backup tool is `stubbornTool`, with a 3 s kill grace. */
const stubbornManager = Effect.gen(function* () {
  const { db, pki } = yield* Fixture
  const tool = yield* stubbornTool
  const logs: Array<string> = []
  const manager = yield* startInstanceManager(db, pki, backupUser, logs, {
    flavor: { ...mariadb, backupTool: tool },
    killGraceMillis: 3000
  })
  return { tool, manager, logs }
})

/** Starts a backup, reads a little and disconnects mid-stream; the tool's PID. */
const abandonedBackup = (manager: { readonly url: string; readonly backupPid: () => number | undefined }) =>
  Effect.gen(function* () {
    const { pki } = yield* Fixture
    const backup = yield* startBackup(manager.url, pki.client)
    yield* Stream.runDrain(Stream.take(backup.body, 4))
    return manager.backupPid() ?? -1
  }).pipe(Effect.scoped)

// excludeTestServices: real clock, these tests drive real processes
layer(Fixture.layer, { timeout: 180_000, excludeTestServices: true })(
  "instance manager against a real MariaDB",
  (it) => {
    it.effect("serves /cluster/status over mTLS", () =>
      Effect.gen(function* () {
        const { db, pki, url } = yield* Fixture
        const status = yield* getStatus(url, pki.client)
        assert.strictEqual(status.role, "primary")
        assert.isTrue(status.ready)
        assert.strictEqual(status.flavor, "mariadb")
        assert.match(status.serverVersion, /^10\.11\./u)
        assert.strictEqual(status.executedGtid, yield* db.gtidPosition)
        assert.match(status.binlog?.file ?? "", /^mysql-bin\.\d+$/u)
        assert.deepStrictEqual(status.replication, [])
        assert.isFalse(status.backupRunning)
      })
    )

    it.effect("serves status through the InstanceManagerClient service", () =>
      Effect.gen(function* () {
        const { pki, url } = yield* Fixture
        const status = yield* InstanceManagerClient.use((client) => client.getStatus(url)).pipe(
          Effect.provide(InstanceManagerClient.layer(pki.client))
        )
        assert.strictEqual(status.flavor, "mariadb")
      })
    )

    it.effect("answers the probes on plain HTTP", () =>
      Effect.gen(function* () {
        const { probePort } = yield* Fixture
        assert.strictEqual(yield* httpGet(probePort, "/healthz"), 200)
        assert.strictEqual(yield* httpGet(probePort, "/readyz"), 200)
        assert.strictEqual(yield* httpGet(probePort, "/nope"), 404)
      })
    )

    it.effect("streams a backup that mbstream extracts, with the outcome in trailers and no stream in the logs", () =>
      Effect.gen(function* () {
        const { db, pki, url, logs } = yield* Fixture
        const gtid = yield* db.gtidPosition
        const dir = yield* tempDir
        const backup = yield* startBackup(url, pki.client)
        assert.strictEqual(backup.start.tool, "mariadb-backup")
        assert.match(backup.start.toolVersion, /^10\.11\./u)
        assert.strictEqual(backup.start.beginGtid, gtid)
        assert.isNotNull(backup.start.beginBinlog)
        const extracted = yield* extractInto(backup.body, dir, marker)
        const outcome = yield* backup.outcome
        assert.strictEqual(extracted.code, 0, extracted.stderr)
        assert.isAbove(extracted.bytes, 40 * 1024 * 1024)
        assert.isTrue(extracted.markerSeen, "the marker row is inside the backup stream")
        assert.strictEqual(outcome.exitCode, 0)
        assert.isTrue(outcome.completedOk)
        assert.strictEqual(outcome.endGtid, gtid)
        assert.strictEqual(outcome.endBinlog?.file, backup.start.beginBinlog?.file)
        assert.strictEqual(outcome.error, "")
        assert.isTrue(existsSync(join(dir, "xtrabackup_info")))
        assert.isFalse(isPrepared(yield* Effect.promise(() => readFile(join(dir, "xtrabackup_checkpoints"), "utf8"))))
        const binlogInfo = yield* Effect.promise(() => readFile(join(dir, "xtrabackup_binlog_info"), "utf8"))
        assert.include(binlogInfo, gtid)
        // stderr is logged line by line as JSON; the stream never is
        const stderrLines = logs.filter((l) => l.includes('"stream":"stderr"'))
        assert.isTrue(stderrLines.some((l) => l.includes("completed OK!")))
        assert.isTrue(logs.every((l) => JSON.parse(l) !== null))
        assert.isFalse(
          logs.some((l) => l.includes(marker)),
          "backup data appeared in the logs"
        )
        assert.isFalse(
          logs.some((l) => l.includes(backupUser.password)),
          "the password appeared in the logs"
        )
      }).pipe(Effect.scoped)
    )

    it.effect("serves /metrics on the probe port: up, role, and the backup session just streamed", () =>
      Effect.gen(function* () {
        const { probePort } = yield* Fixture
        const response = yield* Effect.promise(() => fetch(`http://127.0.0.1:${probePort}/metrics`))
        assert.strictEqual(response.status, 200)
        assert.include(response.headers.get("content-type") ?? "", "text/plain; version=0.0.4")
        const families = parseExposition(yield* Effect.promise(() => response.text()))
        assert.strictEqual(sampleOf(families, "cnmysql_instance_up", { flavor: "mariadb" }), 1)
        assert.strictEqual(sampleOf(families, "cnmysql_instance_role", { role: "primary" }), 1)
        assert.strictEqual(sampleOf(families, "cnmysql_instance_read_only"), 0)
        assert.deepStrictEqual(families.get("cnmysql_instance_replication_lag_seconds")?.samples, [])
        assert.strictEqual(sampleOf(families, "cnmysql_instance_backup_running"), 0)
        assert.strictEqual(sampleOf(families, "cnmysql_instance_backup_sessions_total", { result: "completed" }), 1)
        assert.strictEqual(families.get("cnmysql_instance_backup_sessions_total")?.type, "COUNTER")
        const bytes = sampleOf(families, "cnmysql_instance_last_backup_session_bytes", { result: "completed" }) ?? 0
        assert.isAbove(bytes, 40 * 1024 * 1024, "the 48 MiB sample data went through")
        assert.strictEqual(sampleOf(families, "cnmysql_instance_backup_streamed_bytes_total"), bytes)
        assert.isAbove(sampleOf(families, "cnmysql_instance_last_backup_session_duration_seconds") ?? 0, 0)
      })
    )

    it.effect("refuses clients without a certificate, with a foreign CA's certificate, or with an expired one", () =>
      Effect.gen(function* () {
        const { pki, url } = yield* Fixture
        const noCert = { ca: pki.client.ca, cert: "", key: "" }
        for (const tls of [noCert, pki.foreignClient, pki.expiredClient]) {
          const error = yield* Effect.flip(getStatus(url, tls))
          assert.strictEqual(error._tag, "InstanceManagerTLSFailed")
          const backupError = yield* Effect.flip(Effect.scoped(startBackup(url, tls)))
          assert.strictEqual(backupError._tag, "InstanceManagerTLSFailed")
        }
        // the client also refuses a server whose certificate does not chain to the CA it trusts
        const wrongTrust = { ...pki.client, ca: pki.foreignCa.certificate }
        const error = yield* Effect.flip(getStatus(url, wrongTrust))
        assert.strictEqual(error._tag, "InstanceManagerTLSFailed")
        assert.match(error.detail, /certificate/iu)
      })
    )

    it.effect("allows one backup at a time (409), and a client disconnect stops the tool", () =>
      Effect.gen(function* () {
        const { pki, url, backupPid } = yield* Fixture
        const pid = yield* Effect.scoped(
          Effect.gen(function* () {
            const first = yield* startBackup(url, pki.client)
            // read a little, then stall: backpressure keeps the tool blocked on its pipe
            yield* Stream.runDrain(Stream.take(first.body, 4))
            const second = yield* Effect.flip(Effect.scoped(startBackup(url, pki.client)))
            assert.strictEqual(second._tag, "XtraBackupFailed")
            assert.include(second.message, "409")
            const status = yield* getStatus(url, pki.client)
            assert.isTrue(status.backupRunning)
            const running = backupPid()
            assert.isDefined(running)
            assert.isTrue(processExists(running ?? -1))
            return running ?? -1
          })
        )
        // scope closed = client disconnected mid-stream
        assert.isTrue(yield* waitUntil(() => !processExists(pid), 15_000), `backup tool ${pid} still running`)
        assert.isTrue(yield* waitUntil(() => backupPid() === undefined, 5_000))
        const status = yield* getStatus(url, pki.client)
        assert.isFalse(status.backupRunning)
      })
    )

    it.effect("holds the tool back while the client stalls, then completes when it reads on", () =>
      Effect.gen(function* () {
        const { pki, url, backupPid } = yield* Fixture
        const backup = yield* startBackup(url, pki.client)
        const head = yield* Stream.runFold(
          Stream.take(backup.body, 4),
          () => 0,
          (n, c) => n + c.length
        )
        const pid = backupPid() ?? -1
        const rssBefore = process.memoryUsage().rss
        // unthrottled, the tool writes this whole backup in well under a second
        yield* Effect.sleep("3 seconds")
        assert.isTrue(processExists(pid), "the tool finished although nobody read its output: no backpressure")
        const grownMiB = (process.memoryUsage().rss - rssBefore) / 1024 / 1024
        assert.isBelow(grownMiB, 32, `memory grew by ${grownMiB.toFixed(1)} MiB while the client stalled`)
        const rest = yield* Stream.runFold(
          backup.body,
          () => 0,
          (n, c) => n + c.length
        )
        assert.isAbove(head + rest, 40 * 1024 * 1024)
        assert.strictEqual((yield* backup.outcome).exitCode, 0)
      }).pipe(Effect.scoped)
    )

    it.effect("kills a tool that ignores SIGINT after the grace period, and answers 500 when the tool is gone", () =>
      Effect.gen(function* () {
        const { pki } = yield* Fixture
        const { tool, manager, logs } = yield* stubbornManager
        const pid = yield* abandonedBackup(manager)
        yield* Effect.sleep("700 millis")
        assert.isTrue(processExists(pid), "the stub ignores SIGINT, so it must still run inside the grace period")
        assert.isTrue(yield* waitUntil(() => !processExists(pid), 10_000), "SIGKILL after the grace period")
        assert.isTrue(logs.some((l) => l.includes("backup tool ignored SIGINT")))

        yield* Effect.promise(() => rm(tool))
        const error = yield* Effect.flip(Effect.scoped(startBackup(manager.url, pki.client)))
        assert.strictEqual(error._tag, "XtraBackupFailed")
        assert.include(error.message, "HTTP 500")
      }).pipe(Effect.scoped)
    )

    it.effect("a request made while a gone client's tool is in its SIGINT grace waits for it to stop, then runs", () =>
      Effect.gen(function* () {
        const { pki } = yield* Fixture
        const { tool, manager } = yield* stubbornManager
        const first = yield* abandonedBackup(manager)
        // the killed worker's Job retry, at once: the first tool ignores SIGINT and lives for the grace period
        const askedAt = Date.now()
        const second = yield* startBackup(manager.url, pki.client)
        const waitedMillis = Date.now() - askedAt
        assert.isFalse(processExists(first), "the second backup started while the first tool still ran")
        assert.isAtLeast(waitedMillis, 1500, "answered before the first tool's grace period was over")
        assert.strictEqual(second.start.tool, tool)
        yield* Stream.runDrain(Stream.take(second.body, 4))
        assert.notStrictEqual(manager.backupPid(), first)
      }).pipe(Effect.scoped)
    )

    it.effect("a running backup whose client went silent (a partition) is ended, and the next backup runs", () =>
      Effect.gen(function* () {
        const { db, pki } = yield* Fixture
        const logs: Array<string> = []
        const manager = yield* startInstanceManager(db, pki, backupUser, logs, { pingTimeoutMillis: 1000 })
        const proxy = yield* partitionableProxy(manager.apiPort)
        const silent = yield* startBackup(`https://127.0.0.1:${proxy.port}`, pki.client)
        yield* Stream.runDrain(Stream.take(silent.body, 4))
        const pid = manager.backupPid() ?? -1
        proxy.partition()
        const next = yield* startBackup(manager.url, pki.client)
        assert.isFalse(processExists(pid), `the silent client's tool ${pid} still runs`)
        assert.isTrue(logs.some((line) => line.includes("did not answer a ping")))
        const bytes = yield* Stream.runFold(
          next.body,
          () => 0,
          (n, chunk) => n + chunk.length
        )
        assert.isAbove(bytes, 40 * 1024 * 1024)
        assert.strictEqual((yield* next.outcome).exitCode, 0)
      }).pipe(Effect.scoped)
    )

    it.effect("the worker's stream fails with the reason when the instance manager goes silent (a partition)", () =>
      Effect.gen(function* () {
        const { db, pki } = yield* Fixture
        const manager = yield* startInstanceManager(db, pki, backupUser, [])
        const proxy = yield* partitionableProxy(manager.apiPort)
        const backup = yield* startBackup(`https://127.0.0.1:${proxy.port}`, pki.client, {
          intervalMillis: 300,
          timeoutMillis: 700
        })
        yield* Stream.runDrain(Stream.take(backup.body, 4))
        proxy.partition()
        const error = yield* Effect.flip(Stream.runDrain(backup.body))
        assert.strictEqual(error._tag, "XtraBackupFailed")
        assert.include(error.message, "did not answer a PING within 0.7 s")
      }).pipe(Effect.scoped)
    )

    it.effect("reports a tool that fails at start (bad password) in the trailers, without the password", () =>
      Effect.gen(function* () {
        const { db, pki } = yield* Fixture
        const logs: Array<string> = []
        const manager = yield* startInstanceManager(db, pki, { user: backupUser.user, password: "wrong-pw-42" }, logs)
        const backup = yield* startBackup(manager.url, pki.client)
        assert.strictEqual(backup.start.beginGtid, "")
        const chunks = yield* Stream.runCollect(backup.body)
        assert.strictEqual(chunks.length, 0)
        const error = yield* Effect.flip(backup.outcome)
        assert.strictEqual(error._tag, "XtraBackupFailed")
        assert.strictEqual(error.exitCode, 1)
        assert.include(error.detail, "Access denied")
        assert.notInclude(error.detail, "wrong-pw-42")
        assert.isFalse(logs.some((l) => l.includes("wrong-pw-42")))
      }).pipe(Effect.scoped)
    )

    it.effect("reports a tool that fails at the very end (no BINLOG MONITOR) after streaming everything", () =>
      Effect.gen(function* () {
        const { db, pki } = yield* Fixture
        yield* db.createUser("nobinlog", "nobinlog-pw", "RELOAD, PROCESS")
        const logs: Array<string> = []
        const manager = yield* startInstanceManager(db, pki, { user: "nobinlog", password: "nobinlog-pw" }, logs)
        const backup = yield* startBackup(manager.url, pki.client)
        const bytes = yield* Stream.runFold(
          backup.body,
          () => 0,
          (n, chunk) => n + chunk.length
        )
        assert.isAbove(bytes, 40 * 1024 * 1024)
        const error = yield* Effect.flip(backup.outcome)
        assert.strictEqual(error._tag, "XtraBackupFailed")
        assert.notStrictEqual(error.exitCode, 0)
        assert.match(error.detail, /BINLOG MONITOR/u)
      }).pipe(Effect.scoped)
    )
  }
)

describe("instance manager client without a server", () => {
  it.live("fails startBackup with InstanceManagerTLSFailed when nothing listens", () =>
    Effect.gen(function* () {
      const pki = yield* makePki
      const error = yield* Effect.flip(Effect.scoped(startBackup("https://127.0.0.1:1", pki.client)))
      assert.strictEqual(error._tag, "InstanceManagerTLSFailed")
      assert.include(error.detail, "ECONNREFUSED")
    })
  )
})
