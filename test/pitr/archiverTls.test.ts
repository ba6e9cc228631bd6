/**
 * The archiver over TLS verified against the cluster CA, on a real MariaDB whose archiver account is
 * `REQUIRE SSL`: files are archived; a server certificate from another CA is refused.
 */
import { execFile, spawn } from "node:child_process"
import { readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { binlogArchivePrefix } from "../../src/objectstore/binlogLayout.ts"
import { ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { archivedFiles, querySource, runArchiver } from "../../src/pitr/archiver.ts"
import { waitForExit } from "../../src/platform/childProcess.ts"
import { prepareMariadb } from "../../src/sandbox/mariadb.ts"
import { writePki } from "../../src/sandbox/processes.ts"
import { tempDir } from "./support.ts"

const client = (defaultsFile: string, sql: string): Effect.Effect<string> =>
  Effect.callback((resume) => {
    execFile("mariadb", [`--defaults-file=${defaultsFile}`, "--batch", "-e", sql], (error, stdout, stderr) =>
      resume(error === null ? Effect.succeed(stdout) : Effect.die(new Error(stderr)))
    )
  })

const ping = (defaultsFile: string): Effect.Effect<boolean> =>
  Effect.callback((resume) => {
    execFile("mariadb-admin", [`--defaults-file=${defaultsFile}`, "ping"], (error) =>
      resume(Effect.succeed(error === null))
    )
  })

describe("archive-binlogs over TLS", () => {
  it.live(
    "archives over verified TLS; another CA's certificate is refused",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir("archiver-tls")
        const pki = yield* writePki(join(dir, "pki"))
        const otherPki = yield* writePki(join(dir, "other-pki"))
        const prepared = yield* prepareMariadb()
        const settings = yield* Effect.promise(() => readFile(prepared.defaultsFile, "utf8"))
        yield* Effect.promise(() =>
          writeFile(
            prepared.defaultsFile,
            settings.replace(
              "[mysqld]\n",
              `[mysqld]\nssl-ca=${pki.caFile}\nssl-cert=${pki.serverCertFile}\nssl-key=${pki.serverKeyFile}\n`
            )
          )
        )
        yield* Effect.acquireRelease(
          Effect.sync(() => spawn("mariadbd", [`--defaults-file=${prepared.defaultsFile}`], { stdio: "ignore" })),
          (server) =>
            Effect.gen(function* () {
              server.kill("SIGTERM")
              yield* waitForExit(server, "20 seconds")
            })
        )
        for (let i = 0; !(yield* ping(prepared.defaultsFile)); i++) {
          if (i > 150) return yield* Effect.die(new Error("mariadbd did not start"))
          yield* Effect.sleep("200 millis")
        }
        yield* client(
          prepared.defaultsFile,
          "SET SESSION sql_log_bin=0; CREATE USER 'archiver'@'127.0.0.1' IDENTIFIED BY 'arch-pw-1' REQUIRE SSL; GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'archiver'@'127.0.0.1'"
        )
        const credentialsFile = join(dir, "archiver.cnf")
        yield* Effect.promise(() =>
          writeFile(credentialsFile, "[client]\nuser=archiver\npassword=arch-pw-1\n", { mode: 0o600 })
        )
        const source = { host: "127.0.0.1", port: prepared.port, credentialsFile, caFile: pki.caFile }

        const wrongCa = yield* Effect.flip(querySource({ ...source, caFile: otherPki.caFile }, "SELECT 1"))
        assert.match(wrongCa.detail, /certificate|SSL/iu)
        const ssl = yield* querySource(source, "SHOW SESSION STATUS LIKE 'Ssl_version'")
        assert.match(ssl[0]?.Value ?? "", /^TLS/u)

        const prefix = yield* binlogArchivePrefix("", "cluster-tls")
        const archiver = yield* Effect.forkScoped(
          runArchiver({
            source,
            dumpServerId: 4003,
            workDir: join(dir, "work"),
            archivePrefix: prefix,
            identity: { version: 1, cluster: "cluster-tls", namespace: "db" },
            pollInterval: "200 millis"
          })
        )
        yield* client(prepared.defaultsFile, "CREATE DATABASE app; FLUSH BINARY LOGS")
        for (let i = 0; (yield* archivedFiles(prefix, "server-1")).length === 0; i++) {
          if (i > 300) return yield* Effect.die(new Error("nothing archived over TLS"))
          yield* Effect.sleep("200 millis")
        }
        yield* Fiber.interrupt(archiver)
        assert.deepStrictEqual(yield* archivedFiles(prefix, "server-1"), ["mysql-bin.000001"])
      }).pipe(Effect.provide(ObjectStoreClient.layerMemory()), Effect.scoped),
    240_000
  )
})
