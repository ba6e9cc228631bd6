import { spawnSync } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import { ArchiverEnv } from "../../src/api/binlogArchive.ts"
import { FailureMessage } from "../../src/api/jobs.ts"
import { mariadb, mysql } from "../../src/instance/flavor.ts"
import { isSuccessor, resumeFile } from "../../src/pitr/archiver.ts"
import { summarizeBinlogFile } from "../../src/pitr/binlogFile.ts"
import { dumpArgs, sqlArgs } from "../../src/pitr/commands.ts"
import { executable, runSubcommand } from "../../src/sandbox/processes.ts"

const source = { host: "cluster-a-1.cluster-a.db.svc", port: 3306, credentialsFile: "/etc/archiver/client.cnf" }

describe("archiver command lines", () => {
  it("the dump: credentials file first, raw, following, its own server id, files named as the server's", () => {
    assert.deepStrictEqual(
      dumpArgs(
        { ...source, caFile: "/etc/cluster-ca/ca.crt" },
        { dumpServerId: 4001, directory: "/work", startFile: "mysql-bin.000007" }
      ),
      [
        "--defaults-file=/etc/archiver/client.cnf",
        "--host=cluster-a-1.cluster-a.db.svc",
        "--port=3306",
        "--ssl-ca=/etc/cluster-ca/ca.crt",
        "--ssl-verify-server-cert",
        "--read-from-remote-server",
        "--raw",
        "--stop-never",
        "--stop-never-slave-server-id=4001",
        "--result-file=/work/",
        "mysql-bin.000007"
      ]
    )
  })

  it("MySQL 8.4: mysqlbinlog's own spelling of the dump id and of certificate verification", () => {
    const args = dumpArgs(
      { ...source, caFile: "/ca", flavor: "mysql" },
      { dumpServerId: 4001, directory: "/work/", startFile: "binlog.000001" }
    )
    assert.deepStrictEqual(args, [
      `--defaults-file=${source.credentialsFile}`,
      `--host=${source.host}`,
      `--port=${source.port}`,
      "--ssl-ca=/ca",
      "--ssl-mode=VERIFY_IDENTITY",
      "--read-from-remote-server",
      "--raw",
      "--stop-never",
      "--connection-server-id=4001",
      "--result-file=/work/",
      "binlog.000001"
    ])
    assert.deepStrictEqual([mysql.binlogDecoder, mysql.sqlClient], ["mysqlbinlog", "mysql"])
    assert.deepStrictEqual([mariadb.binlogDecoder, mariadb.sqlClient], ["mariadb-binlog", "mariadb"])
  })

  it("without a CA no TLS option is rendered; the SQL client shares the connection options", () => {
    const args = sqlArgs(source, "SHOW BINARY LOGS")
    assert.isFalse(args.some((a) => a.startsWith("--ssl")))
    assert.deepStrictEqual(args.slice(-4), ["--batch", "--connect-timeout=5", "-e", "SHOW BINARY LOGS"])
    assert.include(sqlArgs({ ...source, caFile: "/ca" }, "SELECT 1"), "--ssl-verify-server-cert")
  })
})

describe("resuming", () => {
  it("the dump resumes at the first listed file after the last archived one; a skipped number is a gap", () => {
    const listed = [
      { name: "mysql-bin.000004", size: 1 },
      { name: "mysql-bin.000005", size: 1 }
    ]
    assert.deepStrictEqual(resumeFile(listed, undefined), Option.some("mysql-bin.000004"))
    assert.deepStrictEqual(resumeFile(listed, "mysql-bin.000004"), Option.some("mysql-bin.000005"))
    assert.deepStrictEqual(resumeFile(listed, "mysql-bin.000005"), Option.none())
    assert.isTrue(isSuccessor("mysql-bin.000003", "mysql-bin.000004"))
    assert.isFalse(isSuccessor("mysql-bin.000002", "mysql-bin.000004"))
    assert.isFalse(isSuccessor("other-bin.000003", "mysql-bin.000004"))
    assert.isTrue(isSuccessor("mysql-bin.999999", "mysql-bin.1000000"))
    assert.deepStrictEqual(
      resumeFile(
        [
          { name: "mysql-bin.999999", size: 1 },
          { name: "mysql-bin.1000000", size: 1 }
        ],
        "mysql-bin.999999"
      ),
      Option.some("mysql-bin.1000000")
    )
  })
})

describe("binlog file summary", () => {
  it.effect("bytes that are not a binlog, and a truncated event, are BinlogFileInvalid", () =>
    Effect.gen(function* () {
      const notBinlog = yield* Effect.flip(summarizeBinlogFile(new TextEncoder().encode("hello")))
      assert.strictEqual(notBinlog._tag, "BinlogFileInvalid")
      // magic + a header announcing a 100-byte event with only 19 bytes present
      const truncated = new Uint8Array(4 + 19)
      truncated.set([0xfe, 0x62, 0x69, 0x6e])
      new DataView(truncated.buffer).setUint32(4 + 9, 100, true)
      const error = yield* Effect.flip(summarizeBinlogFile(truncated))
      assert.include(error.message, "truncated event at 4")
    })
  )
})

describe("cloudnative-mysql archive-binlogs", () => {
  it("--help lists every variable the archiver reads", () => {
    const out = spawnSync(process.execPath, [executable, "archive-binlogs", "--help"], { encoding: "utf8" })
    assert.strictEqual(out.status, 0)
    for (const name of Object.keys(ArchiverEnv.fields)) assert.include(out.stdout, name)
  })

  it.live("without its configuration: exit 1, InvalidConfiguration naming the variable", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-archiver-cli-"))),
        (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
      )
      const run = yield* runSubcommand("archive-binlogs", { workDir: dir, env: {} })
      assert.strictEqual(run.exitCode, 1)
      const message = yield* Schema.decodeUnknownEffect(FailureMessage)(run.termination)
      assert.strictEqual(message.reason, "InvalidConfiguration")
      assert.include(message.message, "ARCHIVE_CLUSTER_NAME")
    }).pipe(Effect.scoped)
  )
})
