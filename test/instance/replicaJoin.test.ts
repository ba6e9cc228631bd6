// Replica join by cloning, for real: two instance-manager processes on loopback, each supervising its own
// mariadbd exactly as in a database Pod. The primary initialises an empty data dir and creates the operator's
// accounts; the replica clones it over mTLS (`/cluster/backup`), prepares the copy, and replicates over TLS
// from the clone's GTID position. Then the replica is restarted on its data dir (a recreated Pod on its PVC),
// and re-clones after its data dir is lost.
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { renderOptionFile, serverIdOf } from "../../src/controller/cluster/optionFile.ts"
import { getStatus } from "../../src/instance/client.ts"
import type { InstanceStatus } from "../../src/instance/protocol.ts"
import { joinRecordPath } from "../../src/instance/replicaJoin.ts"
import { requireBinaries } from "../../src/sandbox/mariadb.ts"
import { freePort } from "../../src/sandbox/ports.ts"
import { makePki } from "./support.ts"

interface Running {
  readonly child: ChildProcess
  readonly lines: Array<string>
  readonly exit: Promise<number | null>
}

const runManager = (env: Record<string, string>): Running => {
  const child = spawn(process.execPath, [join(import.meta.dirname, "fixtures", "instanceMain.ts")], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const lines: Array<string> = []
  child.stdout.on("data", (chunk: Buffer) => lines.push(...chunk.toString("utf8").split("\n")))
  child.stderr.on("data", (chunk: Buffer) => lines.push(chunk.toString("utf8")))
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  return { child, lines, exit }
}

const sql = (socket: string, password: string, statement: string) =>
  Effect.callback<string, Error>((resume) => {
    execFile(
      "mariadb",
      [
        "--no-defaults",
        `--socket=${socket}`,
        "--user=root",
        `--password=${password}`,
        "--batch",
        // vertical output needs its column names
        ...(statement.endsWith("\\G") ? [] : ["-N"]),
        "-e",
        statement
      ],
      (error, stdout, stderr) =>
        resume(error === null ? Effect.succeed(stdout.trim()) : Effect.fail(new Error(stderr || error.message)))
    )
  })

const stop = (running: Running) =>
  Effect.promise(async () => {
    if (running.child.exitCode !== null) return
    running.child.kill("SIGTERM")
    await running.exit
  })

describe("replica join by cloning (real MariaDB, two instance managers)", () => {
  it.live(
    "a replica clones the primary over mTLS, replicates over TLS, resumes after its own and the primary's restart, and re-clones a lost data dir",
    () =>
      Effect.gen(function* () {
        yield* requireBinaries("mariadbd", "mariadb-install-db", "mariadb-backup", "mbstream")
        const pki = yield* makePki
        const dir = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-join-"))),
          (path) => Effect.promise(() => rm(path, { recursive: true, force: true }))
        )
        const file = (name: string) => join(dir, name)
        const secrets = { root: "root-pw-1", backup: "backup-pw-'q\\1", replication: "repl-pw-2" }
        yield* Effect.promise(() =>
          Promise.all([
            writeFile(file("ca.crt"), pki.ca.certificate),
            writeFile(file("tls.crt"), pki.server.certificate),
            writeFile(file("tls.key"), pki.server.privateKey),
            writeFile(file("client.crt"), pki.client.cert),
            writeFile(file("client.key"), pki.client.key),
            writeFile(file("root"), `${secrets.root}\n`),
            writeFile(file("backup"), `${secrets.backup}\n`),
            writeFile(file("replication"), secrets.replication)
          ])
        )
        const instance = (name: string, serial: number, role: "primary" | "replica") =>
          Effect.gen(function* () {
            const home = file(name)
            yield* Effect.promise(() => mkdir(join(home, "run"), { recursive: true }))
            const port = yield* freePort
            const paths = {
              dataDir: join(home, "volume", "data"),
              socket: join(home, "run", "mysqld.sock"),
              pidFile: join(home, "run", "mysqld.pid"),
              tlsCa: file("ca.crt"),
              tlsCert: file("tls.crt"),
              tlsKey: file("tls.key")
            }
            const defaultsFile = join(home, "my.cnf")
            const serverId = serverIdOf("uid-of-the-test-cluster", serial)
            yield* Effect.promise(() =>
              writeFile(defaultsFile, renderOptionFile({ flavor: "mariadb", serverId, role, port, paths }))
            )
            const apiPort = yield* freePort
            const env: Record<string, string> = {
              LISTEN_ADDRESS: "127.0.0.1",
              MYSQLD_BIND_ADDRESS: "127.0.0.1",
              API_PORT: String(apiPort),
              PROBE_PORT: String(yield* freePort),
              MYSQL_SOCKET: paths.socket,
              MYSQLD_DEFAULTS_FILE: defaultsFile,
              MYSQL_DATA_DIR: paths.dataDir,
              DATA_DIR_BOOTSTRAP: role === "primary" ? "initialise" : "clone",
              BACKUP_USER: "cnmysql_backup",
              BACKUP_PASSWORD_FILE: file("backup"),
              ROOT_PASSWORD_FILE: file("root"),
              REPLICATION_USER: "cnmysql_replication",
              REPLICATION_PASSWORD_FILE: file("replication"),
              TLS_CA_FILE: file("ca.crt"),
              TLS_CERT_FILE: file("tls.crt"),
              TLS_KEY_FILE: file("tls.key"),
              TLS_CLIENT_CERT_FILE: file("client.crt"),
              TLS_CLIENT_KEY_FILE: file("client.key")
            }
            return { env, paths, port, serverId, url: `https://127.0.0.1:${apiPort}` }
          })

        const waitStatus = (url: string, what: string, ok: (s: InstanceStatus) => boolean, lines: Array<string>) =>
          Effect.gen(function* () {
            const deadline = Date.now() + 90_000
            let last: unknown
            for (;;) {
              const status = yield* Effect.result(getStatus(url, pki.client))
              if (status._tag === "Success" && ok(status.success)) return status.success
              last = status._tag === "Success" ? status.success : status.failure.message
              if (Date.now() > deadline) {
                return yield* Effect.die(
                  new Error(`timed out waiting for ${what}: ${JSON.stringify(last)}\n${lines.slice(-30).join("\n")}`)
                )
              }
              yield* Effect.sleep("250 millis")
            }
          })
        const replicating = (s: InstanceStatus) =>
          s.role === "replica" && s.replication.every((c) => c.ioRunning && c.sqlRunning) && s.replication.length === 1

        const primary = yield* instance("c-1", 1, "primary")
        const p = runManager(primary.env)
        yield* Effect.addFinalizer(() => stop(p))
        const pStatus = yield* waitStatus(primary.url, "the primary", (s) => s.ready, p.lines)
        assert.strictEqual(pStatus.role, "primary")
        assert.isFalse(pStatus.readOnly)
        // the accounts were created without GTIDs of their own
        assert.strictEqual(pStatus.executedGtid, "")
        const rootSql = (statement: string) => sql(primary.paths.socket, secrets.root, statement)
        yield* rootSql(
          "CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(64)); INSERT INTO app.t SELECT seq, MD5(seq) FROM app.seq_1_to_5000"
        )
        const accounts = yield* rootSql("SELECT CONCAT(user, '@', host) FROM mysql.user ORDER BY 1")
        assert.include(accounts, "cnmysql_backup@localhost")
        assert.include(accounts, "cnmysql_replication@%")
        const grants = yield* rootSql("SHOW GRANTS FOR 'cnmysql_replication'@'%'")
        assert.match(grants, /GRANT REPLICATION SLAVE ON \*\.\*/u)
        assert.match(grants, /REQUIRE SSL/u)

        const replica = yield* instance("c-2", 2, "replica")
        replica.env.CLONE_SOURCE_URL = primary.url
        replica.env.REPLICATION_SOURCE_HOST = "127.0.0.1"
        replica.env.REPLICATION_SOURCE_PORT = String(primary.port)
        let r = runManager(replica.env)
        yield* Effect.addFinalizer(() => stop(r))
        const joined = yield* waitStatus(replica.url, "the replica to replicate", replicating, r.lines)
        assert.isTrue(joined.readOnly)
        // before it replicated anything, the replica's own binlog state is its clone's (a backup taken from the
        // replica records it as the end GTID)
        const primaryGtid = yield* rootSql("SELECT @@gtid_binlog_pos")
        assert.strictEqual(joined.executedGtid, primaryGtid)
        assert.strictEqual(yield* sql(replica.paths.socket, secrets.root, "SELECT @@gtid_binlog_pos"), primaryGtid)
        const deadline = Date.now() + 10_000
        while (!r.lines.some((l) => l.includes("replication configured")) && Date.now() < deadline) {
          yield* Effect.sleep("100 millis")
        }
        assert.isFalse(existsSync(joinRecordPath(replica.paths.dataDir)), "the join record is removed once joined")
        assert.isFalse(r.lines.some((l) => l.includes(secrets.replication) || l.includes(secrets.backup)))

        const replicaSql = (statement: string) => sql(replica.paths.socket, secrets.root, statement)
        const caughtUp = (label: string) =>
          Effect.gen(function* () {
            const target = yield* rootSql("SELECT @@gtid_binlog_pos")
            yield* waitStatus(replica.url, label, (s) => replicating(s) && s.executedGtid === target, r.lines)
            assert.strictEqual(
              yield* replicaSql("CHECKSUM TABLE app.t"),
              yield* rootSql("CHECKSUM TABLE app.t"),
              `${label}: same data`
            )
          })
        yield* rootSql("INSERT INTO app.t VALUES (100001, 'after the clone')")
        yield* caughtUp("a write after the clone")
        const channel = yield* replicaSql("SHOW SLAVE STATUS\\G")
        assert.match(channel, new RegExp(`Master_Server_Id: ${primary.serverId}\\b`, "u"))
        assert.match(channel, /Master_SSL_Allowed: Yes/u)
        assert.match(channel, /Master_SSL_Verify_Server_Cert: Yes/u)
        assert.match(channel, /Using_Gtid: Slave_Pos/u)

        // a recreated Pod on its PVC: no second clone, replication resumes where it was
        yield* stop(r)
        yield* rootSql("INSERT INTO app.t VALUES (100002, 'while the replica was down')")
        r = runManager(replica.env)
        yield* caughtUp("after a restart on the same data dir")
        assert.isFalse(
          r.lines.some((l) => l.includes("cloning the primary")),
          "no re-clone on an existing data dir"
        )

        // the primary's Pod is recreated on its volume: the replica reconnects by itself
        yield* stop(p)
        const p2 = runManager(primary.env)
        yield* Effect.addFinalizer(() => stop(p2))
        yield* waitStatus(primary.url, "the restarted primary", (s) => s.ready, p2.lines)
        yield* rootSql("INSERT INTO app.t VALUES (100004, 'after the primary restarted')")
        yield* caughtUp("after the primary restarted")

        // the PVC is lost: the replica clones again
        yield* stop(r)
        yield* Effect.promise(() => rm(join(replica.paths.dataDir, ".."), { recursive: true, force: true }))
        yield* rootSql("INSERT INTO app.t VALUES (100003, 'before the re-clone')")
        r = runManager(replica.env)
        yield* caughtUp("after a re-clone")
        assert.isTrue(r.lines.some((l) => l.includes("cloning the primary")))
      }),
    240_000
  )
})
