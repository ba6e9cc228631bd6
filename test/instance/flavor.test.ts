import { assert, describe, it } from "@effect/vitest"
import {
  BinlogPositionParser,
  isCompletedOk,
  isPrepared,
  mariadb,
  mysql,
  parseBinlogInfoFile,
  parseBinlogPosition,
  parseInfoFile,
  sqlClientArgs
} from "../../src/instance/flavor.ts"
import { parseBatchOutput } from "../../src/instance/sqlBatch.ts"

// measured on this machine (docs/measurements.md, "mariabackup streaming output")
const mariabackupStderr = `[00] 2026-11-23 19:41:40 Connecting to server host: localhost, user: backup, password: set, port: not set, socket: /tmp/mdb1/mysqld.sock
[00] 2026-11-23 19:41:41 MySQL binlog position: filename 'mysql-bin.000001', position '423740544', GTID of the last change '0-1-16'
[00] 2026-11-23 19:41:41 Redo log (from LSN 404497095 to 581658747) was copied.
[00] 2026-11-23 19:41:41 completed OK!`

// Percona XtraBackup 8.4 documentation samples ("Work with binary logs", "Improved log statements", PXB-3302)
const xtrabackupVersion =
  "./bin/xtrabackup version 8.4.0-1 based on MySQL server 8.4.0 Linux (x86_64) (revision id: b0f75188ca3)"
const xtrabackupStderr = `2024-05-01T10:00:00.000000-00:00 0 [Note] [MY-011825] [Xtrabackup] Backup created in directory '/backup/'
2024-05-01T10:00:00.000000-00:00 0 [Note] [MY-011825] [Xtrabackup] MySQL binlog position: filename 'binlog.000003', position '237', GTID of the last change '3a3b1c6e-07c2-11e7-b338-005056a03e27:1-5'
2024-05-01T10:00:01.000000-00:00 0 [Note] [MY-011825] [Xtrabackup] completed OK!`
const xtrabackupMultiLine = `[Xtrabackup] MySQL binlog position: filename 'binlog.000011', position '134796', GTID of the last change 'fbcdf0a7-f280-11e6-8a0f-005056a03e27:1-4805,
203deb28-07c2-11e7-b338-005056a03e27:1-12'
[Xtrabackup] completed OK!`

describe("mariadb flavour", () => {
  it("renders the streamed backup command with credentials file first", () => {
    assert.deepStrictEqual(
      mariadb.backupArgs({
        defaultsFile: "/run/creds.cnf",
        address: { _tag: "Socket", path: "/run/mysqld.sock" },
        targetDir: "/tmp/x"
      }),
      [
        "--defaults-file=/run/creds.cnf",
        "--backup",
        "--stream=xbstream",
        "--target-dir=/tmp/x",
        "--socket=/run/mysqld.sock"
      ]
    )
    assert.deepStrictEqual(
      mariadb
        .backupArgs({
          defaultsFile: "/c",
          address: { _tag: "Tcp", host: "127.0.0.1", port: 3306 },
          targetDir: "/t",
          parallel: 2
        })
        .slice(4),
      ["--host=127.0.0.1", "--port=3306", "--parallel=2"]
    )
    assert.strictEqual(mariadb.backupTool, "mariadb-backup")
    assert.strictEqual(mariadb.extractTool, "mbstream")
  })

  it("renders extract, prepare and copy-back", () => {
    assert.deepStrictEqual(mariadb.extractArgs("/restore"), ["-x", "-C", "/restore"])
    assert.deepStrictEqual(mariadb.prepareArgs("/restore"), ["--prepare", "--target-dir=/restore"])
    assert.deepStrictEqual(
      mariadb.copyBackArgs({ targetDir: "/restore", dataDir: "/var/lib/mysql", forceNonEmptyDirectories: true }),
      ["--copy-back", "--target-dir=/restore", "--datadir=/var/lib/mysql", "--force-non-empty-directories"]
    )
  })

  it("knows both the 10.x and 11.x info file names", () => {
    assert.deepStrictEqual(mariadb.infoFiles.info, ["mariadb_backup_info", "xtrabackup_info"])
    assert.deepStrictEqual(mariadb.infoFiles.checkpoints, ["mariadb_backup_checkpoints", "xtrabackup_checkpoints"])
    assert.deepStrictEqual(mariadb.infoFiles.binlogInfo, ["mariadb_backup_binlog_info", "xtrabackup_binlog_info"])
  })

  it("parses the version line and the binlog position line", () => {
    assert.strictEqual(
      mariadb.parseToolVersion("mariabackup based on MariaDB server 10.11.19-MariaDB debian-linux-gnu (x86_64)"),
      "10.11.19-MariaDB"
    )
    assert.strictEqual(mariadb.parseToolVersion("something else"), undefined)
    assert.deepStrictEqual(parseBinlogPosition(mariadb, mariabackupStderr), {
      file: "mysql-bin.000001",
      position: 423740544,
      gtid: "0-1-16"
    })
    assert.isTrue(isCompletedOk(mariabackupStderr.split("\n").at(-1) ?? ""))
    assert.isFalse(isCompletedOk("[00] FATAL ERROR: failed to copy datafile."))
  })

  it("parses a binlog position without GTID and ignores a malformed GTID", () => {
    assert.deepStrictEqual(parseBinlogPosition(mariadb, "MySQL binlog position: filename 'b.000002', position '4'"), {
      file: "b.000002",
      position: 4
    })
    assert.deepStrictEqual(
      parseBinlogPosition(mariadb, "MySQL binlog position: filename 'b.1', position '4', GTID of the last change 'x'"),
      { file: "b.1", position: 4 }
    )
    assert.strictEqual(parseBinlogPosition(mariadb, "completed OK!"), undefined)
  })

  it("parses the binlog info file and the checkpoints file", () => {
    assert.deepStrictEqual(parseBinlogInfoFile(mariadb, "mysql-bin.000001\t423740544\t0-1-16\n"), {
      file: "mysql-bin.000001",
      position: 423740544,
      gtid: "0-1-16"
    })
    assert.deepStrictEqual(parseBinlogInfoFile(mariadb, "mysql-bin.000001\t4\t\n"), {
      file: "mysql-bin.000001",
      position: 4
    })
    assert.strictEqual(parseBinlogInfoFile(mariadb, "garbage"), undefined)
    const checkpoints = "backup_type = full-backuped\nfrom_lsn = 0\nto_lsn = 42\n"
    assert.isFalse(isPrepared(checkpoints))
    assert.isTrue(isPrepared(checkpoints.replace("full-backuped", "log-applied")))
    assert.strictEqual(
      parseInfoFile("tool_name = mariabackup\nbinlog_pos = filename 'a'\n").get("binlog_pos"),
      "filename 'a'"
    )
  })

  it("interprets status rows", () => {
    const primary = mariadb.interpretStatus({
      variables: {
        version: "10.11.19-MariaDB-0+deb12u1",
        read_only: "0",
        gtid_binlog_pos: "0-1-99",
        gtid_current_pos: "0-1-99",
        gtid_slave_pos: ""
      },
      binlog: { File: "mysql-bin.000002", Position: "342", Binlog_Do_DB: "", Binlog_Ignore_DB: "" },
      replicas: []
    })
    assert.deepStrictEqual(primary, {
      role: "primary",
      serverVersion: "10.11.19-MariaDB-0+deb12u1",
      readOnly: false,
      executedGtid: "0-1-99",
      binlog: { file: "mysql-bin.000002", position: 342 },
      replication: []
    })
    const replica = mariadb.interpretStatus({
      variables: {
        version: "10.11",
        read_only: "1",
        gtid_binlog_pos: "",
        gtid_current_pos: "0-1-5",
        gtid_slave_pos: "0-1-5"
      },
      binlog: undefined,
      replicas: [
        {
          Connection_name: "",
          Master_Host: "10.0.0.1",
          Slave_IO_Running: "Yes",
          Slave_SQL_Running: "No",
          Seconds_Behind_Master: null,
          Last_IO_Error: "",
          Last_SQL_Error: "Error 'Duplicate entry'"
        }
      ]
    })
    assert.strictEqual(replica.role, "replica")
    assert.strictEqual(replica.executedGtid, "0-1-5")
    assert.isTrue(replica.readOnly)
    assert.isNull(replica.binlog)
    assert.deepStrictEqual(replica.replication, [
      {
        name: "",
        sourceHost: "10.0.0.1",
        ioRunning: true,
        sqlRunning: false,
        lagSeconds: null,
        lastError: "Error 'Duplicate entry'"
      }
    ])
  })

  it("renders the GTID state SQL for a restored primary and refuses a malformed GTID", () => {
    assert.deepStrictEqual(mariadb.restoreGtidSql("0-1-17,1-2-3"), [
      "RESET MASTER",
      "SET GLOBAL gtid_binlog_state = '0-1-17,1-2-3'",
      "SET GLOBAL gtid_slave_pos = '0-1-17,1-2-3'"
    ])
    assert.strictEqual(mariadb.restoreGtidSql("0-1-17'; DROP TABLE x; --"), undefined)
    assert.strictEqual(mariadb.restoreGtidSql(""), undefined)
    assert.include(mariadb.statusQueries.variables, "@@gtid_binlog_pos")
    assert.strictEqual(mariadb.statusQueries.replicas, "SHOW ALL REPLICAS STATUS")
  })
})

describe("mysql flavour", () => {
  it("renders xtrabackup and xbstream commands", () => {
    assert.deepStrictEqual(
      mysql.backupArgs({ defaultsFile: "/c.cnf", address: { _tag: "Socket", path: "/s.sock" }, targetDir: "/tmp/t" }),
      ["--defaults-file=/c.cnf", "--backup", "--stream=xbstream", "--target-dir=/tmp/t", "--socket=/s.sock"]
    )
    assert.strictEqual(mysql.backupTool, "xtrabackup")
    assert.strictEqual(mysql.extractTool, "xbstream")
    assert.deepStrictEqual(mysql.extractArgs("/r"), ["-x", "-C", "/r"])
    assert.deepStrictEqual(mysql.prepareArgs("/r"), ["--prepare", "--target-dir=/r"])
    assert.deepStrictEqual(
      mysql.copyBackArgs({ targetDir: "/r", dataDir: "/var/lib/mysql", forceNonEmptyDirectories: false }),
      ["--copy-back", "--target-dir=/r", "--datadir=/var/lib/mysql"]
    )
    assert.deepStrictEqual(mysql.infoFiles.info, ["xtrabackup_info"])
  })

  it("parses XtraBackup's version and binlog position lines, including multi-line GTID sets", () => {
    assert.strictEqual(mysql.parseToolVersion(xtrabackupVersion), "8.4.0-1")
    assert.deepStrictEqual(parseBinlogPosition(mysql, xtrabackupStderr), {
      file: "binlog.000003",
      position: 237,
      gtid: "3a3b1c6e-07c2-11e7-b338-005056a03e27:1-5"
    })
    assert.deepStrictEqual(parseBinlogPosition(mysql, xtrabackupMultiLine), {
      file: "binlog.000011",
      position: 134796,
      gtid: "fbcdf0a7-f280-11e6-8a0f-005056a03e27:1-4805,203deb28-07c2-11e7-b338-005056a03e27:1-12"
    })
    assert.deepStrictEqual(
      parseBinlogPosition(mysql, "210715 14:14:59 MySQL binlog position: filename 'binlog.000002', position '156'"),
      { file: "binlog.000002", position: 156 }
    )
    assert.isTrue(isCompletedOk(xtrabackupStderr.split("\n").at(-1) ?? ""))
  })

  it("keeps the last position when lines arrive one by one", () => {
    const parser = new BinlogPositionParser(mysql.parseGtid)
    for (const line of xtrabackupMultiLine.split("\n")) parser.push(line)
    assert.strictEqual(parser.result?.file, "binlog.000011")
  })

  it("parses MySQL GTID sets, including tagged GTIDs (8.3+), and rejects MariaDB ones", () => {
    assert.strictEqual(
      mysql.parseGtid("3a3b1c6e-07c2-11e7-b338-005056a03e27:1-5:7-9,\n 203deb28-07c2-11e7-b338-005056a03e27:tag1:1-3"),
      "3a3b1c6e-07c2-11e7-b338-005056a03e27:1-5:7-9,203deb28-07c2-11e7-b338-005056a03e27:tag1:1-3"
    )
    assert.strictEqual(mysql.parseGtid("0-1-99"), undefined)
    assert.strictEqual(mariadb.parseGtid("3a3b1c6e-07c2-11e7-b338-005056a03e27:1-5"), undefined)
    assert.deepStrictEqual(
      parseBinlogInfoFile(
        mysql,
        "binlog.000002\t156\t3a3b1c6e-07c2-11e7-b338-005056a03e27:1-5,\n203deb28-07c2-11e7-b338-005056a03e27:1-2\n"
      ),
      {
        file: "binlog.000002",
        position: 156,
        gtid: "3a3b1c6e-07c2-11e7-b338-005056a03e27:1-5,203deb28-07c2-11e7-b338-005056a03e27:1-2"
      }
    )
  })

  it("uses the 8.4 status statements and interprets Replica_/Source_ columns", () => {
    assert.strictEqual(mysql.statusQueries.binlog, "SHOW BINARY LOG STATUS")
    assert.strictEqual(mysql.statusQueries.replicas, "SHOW REPLICA STATUS")
    assert.include(mysql.statusQueries.variables, "@@gtid_executed")
    const status = mysql.interpretStatus({
      variables: {
        version: "8.4.3",
        read_only: "1",
        super_read_only: "1",
        gtid_executed: "3a3b1c6e-07c2-11e7-b338-005056a03e27:1-99"
      },
      binlog: {
        File: "binlog.000003",
        Position: "237",
        Executed_Gtid_Set: "3a3b1c6e-07c2-11e7-b338-005056a03e27:1-99"
      },
      replicas: [
        {
          Channel_Name: "",
          Source_Host: "db-1",
          Replica_IO_Running: "Yes",
          Replica_SQL_Running: "Yes",
          Seconds_Behind_Source: "3",
          Last_IO_Error: "",
          Last_SQL_Error: ""
        }
      ]
    })
    assert.strictEqual(status.role, "replica")
    assert.strictEqual(status.executedGtid, "3a3b1c6e-07c2-11e7-b338-005056a03e27:1-99")
    assert.deepStrictEqual(status.binlog, { file: "binlog.000003", position: 237 })
    assert.deepStrictEqual(status.replication[0], {
      name: "",
      sourceHost: "db-1",
      ioRunning: true,
      sqlRunning: true,
      lagSeconds: 3,
      lastError: null
    })
  })

  it("renders the GTID state SQL for a restored MySQL primary", () => {
    assert.deepStrictEqual(mysql.restoreGtidSql("3a3b1c6e-07c2-11e7-b338-005056a03e27:1-99"), [
      "RESET BINARY LOGS AND GTIDS",
      "SET GLOBAL gtid_purged = '3a3b1c6e-07c2-11e7-b338-005056a03e27:1-99'"
    ])
    assert.strictEqual(mysql.restoreGtidSql("x' OR 1=1"), undefined)
  })
})

describe("SQL client batch output", () => {
  it("renders the client command and parses escaped batch output with NULLs", () => {
    assert.deepStrictEqual(sqlClientArgs("/c.cnf", { _tag: "Socket", path: "/s" }, "SELECT 1"), [
      "--defaults-file=/c.cnf",
      "--socket=/s",
      "--batch",
      "--connect-timeout=5",
      "-e",
      "SELECT 1"
    ])
    assert.deepStrictEqual(parseBatchOutput("a\tb\tc\nx\\ty\tNULL\tl1\\nl2\\\\\n"), [
      { a: "x\ty", b: null, c: "l1\nl2\\" }
    ])
    assert.deepStrictEqual(parseBatchOutput(""), [])
    assert.deepStrictEqual(parseBatchOutput("File\tPosition\n"), [])
  })
})
