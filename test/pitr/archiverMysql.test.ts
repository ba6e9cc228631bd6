/**
 * The archiver for MySQL 8.4 (`ARCHIVE_FLAVOR=mysql`) with stand-ins for `mysql` and `mysqlbinlog` on PATH: this
 * machine has no MySQL server, so what is tested is what the archiver asks and what it makes of the answers. The
 * client stand-in records each statement and answers only the statements it knows, as a server would: the
 * series and server uuid query, and `SHOW BINARY LOGS` over the files the test built (`binlogEvents.ts`). The
 * decoder stand-in copies those files into its `--result-file` directory and then follows "forever", as
 * `--stop-never` does, until the archiver stops it.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { type BinlogManifest, decodeBinlogManifest } from "../../src/api/binlogArchive.ts"
import { flavorOf } from "../../src/instance/flavor.ts"
import { binlogArchivePrefix, binlogFileKeys } from "../../src/objectstore/binlogLayout.ts"
import { runArchiver } from "../../src/pitr/archiver.ts"
import { parseGtidSet } from "../../src/pitr/gtidSet.ts"
import { binlogFile, formatDescription, previousGtids, rotate, transaction } from "./binlogEvents.ts"
import { readObject, s3rverStoreLayer } from "./support.ts"

const uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562"

const clientStub = `#!/bin/sh
for a in "$@"; do sql="$a"; done
printf '%s\\n' "$sql" >> "$STUB_DIR/client.sql"
case "$sql" in
  "SELECT @@server_id AS id, @@server_uuid AS uuid") printf 'id\\tuuid\\n7\\t%s\\n' "$STUB_UUID" ;;
  "SHOW BINARY LOGS")
    printf 'Log_name\\tFile_size\\n'
    for f in "$STUB_DIR"/binlogs/*; do printf '%s\\t%s\\n' "$(basename "$f")" "$(wc -c < "$f")"; done ;;
  *) echo "ERROR 1064 (42000): unexpected statement: $sql" >&2; exit 1 ;;
esac
`
const decoderStub = `#!/bin/sh
for a in "$@"; do case "$a" in --result-file=*) out="\${a#--result-file=}" ;; esac; done
cp "$STUB_DIR"/binlogs/* "$out"
exec sleep 60
`

/** Stand-ins for MySQL's client and decoder first on PATH, over a closed `binlog.000001` and the open `.000002`. */
const stubs = Effect.acquireRelease(
  Effect.promise(async () => {
    const dir = await mkdtemp(join(tmpdir(), "cnm-archiver-mysql-"))
    const { binlogDecoder, sqlClient } = flavorOf("mysql")
    await writeFile(join(dir, sqlClient), clientStub)
    await writeFile(join(dir, binlogDecoder), decoderStub)
    await chmod(join(dir, sqlClient), 0o755)
    await chmod(join(dir, binlogDecoder), 0o755)
    await mkdir(join(dir, "binlogs"))
    const closed = binlogFile([
      formatDescription(1_700_000_000, "8.4.3"),
      previousGtids(1_700_000_000, parseGtidSet(`${uuid}:1-5`) ?? new Map()),
      ...transaction(1_700_000_004, uuid, 6n),
      rotate(1_700_000_008, "binlog.000002")
    ])
    await writeFile(join(dir, "binlogs", "binlog.000001"), closed)
    await writeFile(join(dir, "binlogs", "binlog.000002"), binlogFile([formatDescription(1_700_000_008, "8.4.3")]))
    await writeFile(join(dir, "client.cnf"), "[client]\n")
    const saved = process.env.PATH
    process.env.PATH = `${dir}:${saved ?? ""}`
    process.env.STUB_DIR = dir
    process.env.STUB_UUID = uuid
    return { dir, saved, closed }
  }),
  ({ dir, saved }) =>
    Effect.promise(async () => {
      process.env.PATH = saved
      delete process.env.STUB_DIR
      delete process.env.STUB_UUID
      await rm(dir, { recursive: true, force: true })
    })
)

describe("archive-binlogs for MySQL (stand-in client and decoder)", () => {
  it.live("a manifest names the server's uuid from @@server_uuid, next to its series and GTID sets", () =>
    Effect.gen(function* () {
      const { dir, closed } = yield* stubs
      const prefix = yield* binlogArchivePrefix("pitr", "cluster-m")
      const archived = yield* Deferred.make<BinlogManifest>()
      const archiver = yield* Effect.forkScoped(
        runArchiver({
          source: { host: "127.0.0.1", port: 3306, credentialsFile: join(dir, "client.cnf"), flavor: "mysql" },
          dumpServerId: 4001,
          workDir: join(dir, "work"),
          archivePrefix: prefix,
          identity: { version: 1, cluster: "cluster-m", namespace: "db" },
          pollInterval: "100 millis",
          onArchived: (manifest) => Effect.asVoid(Deferred.succeed(archived, manifest))
        })
      )
      // an archiver that fails (a statement the stand-in does not know) fails the test with its error
      const reported = yield* Effect.raceFirst(Deferred.await(archived), Fiber.join(archiver)).pipe(
        Effect.timeout("20 seconds")
      )
      yield* Fiber.interrupt(archiver)
      const keys = yield* binlogFileKeys(prefix, "server-7", "binlog.000001")
      const stored = yield* decodeBinlogManifest((yield* readObject(keys.manifestKey)).toString("utf8"))
      assert.deepStrictEqual(stored, reported)
      assert.strictEqual(stored.serverUuid, uuid)
      assert.strictEqual(stored.flavor, "mysql")
      assert.strictEqual(stored.series, "server-7")
      assert.strictEqual(stored.serverId, 7)
      assert.strictEqual(stored.size, closed.length)
      assert.strictEqual(stored.gtidStateBefore, `${uuid}:1-5`)
      assert.strictEqual(stored.gtidStateAfter, `${uuid}:1-6`)
      const statements = (yield* Effect.promise(() => readFile(join(dir, "client.sql"), "utf8"))).split("\n")
      assert.include(statements, "SELECT @@server_id AS id, @@server_uuid AS uuid")
    }).pipe(Effect.provide(s3rverStoreLayer("archiver-mysql")), Effect.scoped)
  )
})
