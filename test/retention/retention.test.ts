/**
 * `cloudnative-mysql retention` for real: the process the controller's retention Job runs, against s3rver, with
 * a fault proxy that denies a delete halfway through a run. A dry run deletes nothing; a denied delete after a
 * backup's metadata.json went leaves that backup incomplete (never completed with its archive missing) and every
 * binlog in place; the next run finishes the job.
 */
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted, Schema, Stream } from "effect"
import { backupIdFromDate } from "../../src/api/backupId.ts"
import { type BinlogManifest, encodeBinlogManifest } from "../../src/api/binlogArchive.ts"
import { RetentionEnv, RetentionTerminationMessage } from "../../src/api/retentionJob.ts"
import { nowMillis } from "../../src/api/time.ts"
import { listBackups } from "../../src/objectstore/catalog.ts"
import { encodeMetadata } from "../../src/objectstore/metadata.ts"
import { MemoryObjectStore, ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { runRetention } from "../../src/retention/retention.ts"
import { faultProxy } from "../../src/sandbox/faultProxy.ts"
import { executable, objectStoreEnv, runSubcommand } from "../../src/sandbox/processes.ts"
import { s3rver } from "../../src/sandbox/s3rver.ts"

const day = 24 * 60 * 60 * 1000
const hour = 60 * 60 * 1000
const path = "ret"
const cluster = "c"
const iso = (millis: number): string => new Date(millis).toISOString()

/** A completed backup that ends after transaction `seq`, stopped at `stoppedAt`. */
const putBackup = (name: string, stoppedAt: number, seq: number) =>
  Effect.gen(function* () {
    const client = yield* ObjectStoreClient
    const backupId = backupIdFromDate(new Date(stoppedAt - 60_000))
    const prefix = `${path}/${cluster}/${name}/${backupId}/`
    const archive = new TextEncoder().encode(`archive of ${name}`.repeat(10))
    yield* client.putObject(`${prefix}backup.xbstream`, archive)
    const metadata = encodeMetadata({
      version: 1,
      cluster: { name: cluster, namespace: "default" },
      backup: { name, namespace: "default" },
      backupId,
      sourceInstance: `${cluster}-1`,
      method: "xtrabackup",
      flavor: "mariadb",
      tool: { name: "mariabackup", version: "10.11" },
      archive: {
        key: `${prefix}backup.xbstream`,
        size: archive.length,
        sha256: createHash("sha256").update(archive).digest("hex"),
        partSize: 5 * 1024 * 1024,
        parts: 1
      },
      startedAt: iso(stoppedAt - 60_000),
      stoppedAt: iso(stoppedAt),
      endGTID: `0-1-${seq}`
    })
    yield* client.putObject(`${prefix}metadata.json`, new TextEncoder().encode(metadata))
    return { name, backupId, prefix }
  })

/** An archived binlog file holding transactions `first`+1 … `last`, its last event at `lastEvent`. */
const putBinlog = (index: number, first: number, last: number, lastEvent: number) =>
  Effect.gen(function* () {
    const client = yield* ObjectStoreClient
    const file = `mysql-bin.${String(index).padStart(6, "0")}`
    const bytes = new TextEncoder().encode(`binlog ${index}`)
    const manifest: BinlogManifest = {
      version: 1,
      cluster,
      flavor: "mariadb",
      series: "server-1",
      file,
      size: bytes.length,
      sha256: createHash("sha256").update(bytes).digest("hex"),
      serverId: 1,
      gtidStateBefore: first === 0 ? "" : `0-1-${first}`,
      gtidStateAfter: `0-1-${last}`,
      firstGTID: `0-1-${first + 1}`,
      lastGTID: `0-1-${last}`,
      firstEventTime: iso(lastEvent - 60_000).replace(/\.\d{3}Z$/u, "Z"),
      lastEventTime: iso(lastEvent).replace(/\.\d{3}Z$/u, "Z"),
      archivedAt: iso(lastEvent + 1000).replace(/\.\d{3}Z$/u, "Z")
    }
    const key = `${path}/${cluster}/binlogs/server-1/${file}`
    yield* client.putObject(key, bytes)
    yield* client.putObject(`${key}.manifest.json`, new TextEncoder().encode(encodeBinlogManifest(manifest)))
    return `server-1/${file}`
  })

const keysUnder = (prefix: string) =>
  ObjectStoreClient.use((client) =>
    Effect.map(Stream.runCollect(client.listObjects(prefix)), (entries) =>
      entries.flatMap((e) => ("key" in e ? [e.key] : [])).sort()
    )
  )

/**
 * Four backups a day apart and five binlog files: with a 1-day window the backup of two days ago is the one
 * the window's start depends on; the two older ones and the three files that end at or before it go.
 */
const seed = (now: number) =>
  Effect.gen(function* () {
    const b0 = yield* putBackup("b0", now - 4 * day, 10)
    const b1 = yield* putBackup("b1", now - 3 * day, 20)
    const b2 = yield* putBackup("b2", now - 2 * day, 30)
    const b3 = yield* putBackup("b3", now - hour, 40)
    const files = [
      yield* putBinlog(1, 0, 10, now - 4 * day - hour),
      yield* putBinlog(2, 10, 20, now - 3 * day - hour),
      yield* putBinlog(3, 20, 30, now - 2 * day - hour),
      yield* putBinlog(4, 30, 40, now - 2 * hour),
      yield* putBinlog(5, 40, 45, now - 30 * 60_000)
    ]
    return { b0, b1, b2, b3, files }
  })

describe("retention against s3rver", () => {
  it.live(
    "a dry run deletes nothing; a delete denied halfway leaves no backup completed with missing data; the next run finishes",
    () =>
      Effect.gen(function* () {
        const store = yield* s3rver({ bucket: "retention" })
        const proxy = yield* faultProxy(store.endpoint)
        const dir = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-retention-"))),
          (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
        )
        const client = ObjectStoreClient.layer({
          spec: {
            bucket: store.bucket,
            endpoint: store.endpoint,
            forcePathStyle: true,
            path,
            credentials: { accessKeyId: { name: "s", key: "a" }, secretAccessKey: { name: "s", key: "b" } }
          },
          credentials: { accessKeyId: Redacted.make(store.accessKey), secretAccessKey: Redacted.make(store.secretKey) }
        })
        const now = yield* nowMillis
        const { b0, b1, b2, b3, files } = yield* seed(now).pipe(Effect.provide(client))
        const everything = yield* keysUnder(`${path}/`).pipe(Effect.provide(client))
        assert.strictEqual(everything.length, 4 * 2 + 5 * 2)

        const storeEnv = yield* objectStoreEnv(
          {
            endpoint: proxy.endpoint,
            region: "us-east-1",
            bucket: store.bucket,
            path,
            accessKey: store.accessKey,
            secretKey: store.secretKey
          },
          dir
        )
        const env = (dryRun: boolean) =>
          Schema.encodeSync(RetentionEnv)({
            RETENTION_CLUSTER_NAME: cluster,
            RETENTION_POLICY: "1d",
            RETENTION_DRY_RUN: dryRun ? "true" : "false",
            OBJECT_STORE_SPEC: JSON.parse(storeEnv.OBJECT_STORE_SPEC ?? "{}"),
            OBJECT_STORE_SECRETS_DIR: storeEnv.OBJECT_STORE_SECRETS_DIR ?? ""
          })
        const run = (dryRun: boolean) => runSubcommand("retention", { workDir: join(dir, "run"), env: env(dryRun) })

        // dry run: the plan, and not one object less
        const dry = yield* run(true)
        assert.strictEqual(dry.exitCode, 0, dry.stdout + dry.stderr)
        const plan = Schema.decodeUnknownSync(RetentionTerminationMessage)(dry.termination)
        assert.isTrue("dryRun" in plan)
        if (!("dryRun" in plan)) return
        assert.strictEqual(plan.dryRun, true)
        assert.strictEqual(plan.anchorBackupId, b2.backupId)
        assert.deepStrictEqual(plan.backups, [
          { backupName: "b0", backupId: b0.backupId, status: "completed" },
          { backupName: "b1", backupId: b1.backupId, status: "completed" }
        ])
        assert.deepStrictEqual(plan.binlogFiles, files.slice(0, 3))
        assert.strictEqual(plan.binlogFilesTotal, 3)
        assert.deepStrictEqual(yield* keysUnder(`${path}/`).pipe(Effect.provide(client)), everything)

        // the first backup's archive cannot be deleted: its metadata.json already went, nothing after it did
        proxy.setRules([
          {
            method: "DELETE",
            path: new RegExp(`${b0.backupId}/backup\\.xbstream$`, "u"),
            action: { _tag: "Error", status: 403, code: "AccessDenied" }
          }
        ])
        const denied = yield* run(false)
        assert.strictEqual(denied.exitCode, 1, denied.stdout + denied.stderr)
        const failure = Schema.decodeUnknownSync(RetentionTerminationMessage)(denied.termination)
        assert.strictEqual("reason" in failure && failure.reason, "ObjectStoreUploadFailed")
        const catalog = yield* listBackups(path, cluster).pipe(Effect.provide(client))
        assert.deepStrictEqual(
          catalog.map((e) => `${e.backupName} ${e.status}`),
          ["b0 incomplete", "b1 completed", "b2 completed", "b3 completed"]
        )
        assert.deepStrictEqual(
          yield* keysUnder(`${path}/${cluster}/binlogs/`).pipe(Effect.provide(client)),
          everything.filter((k) => k.includes("/binlogs/"))
        )

        // the next run removes the half-deleted backup as the leftover it now is, then the rest
        proxy.setRules([])
        const done = yield* run(false)
        assert.strictEqual(done.exitCode, 0, done.stdout + done.stderr)
        const result = Schema.decodeUnknownSync(RetentionTerminationMessage)(done.termination)
        assert.isTrue("dryRun" in result && !result.dryRun)
        if (!("dryRun" in result)) return
        assert.deepStrictEqual(result.backups, [
          { backupName: "b0", backupId: b0.backupId, status: "incomplete" },
          { backupName: "b1", backupId: b1.backupId, status: "completed" }
        ])
        assert.deepStrictEqual(result.binlogFiles, files.slice(0, 3))
        const left = yield* keysUnder(`${path}/`).pipe(Effect.provide(client))
        assert.deepStrictEqual(
          left,
          everything.filter(
            (k) =>
              !k.startsWith(b0.prefix) &&
              !k.startsWith(b1.prefix) &&
              !files.slice(0, 3).some((f) => k.includes(`/binlogs/${f}`))
          )
        )
        assert.isTrue(left.some((k) => k.startsWith(b2.prefix)) && left.some((k) => k.startsWith(b3.prefix)))
        // the deletes that were sent: metadata.json of each backup before its archive, each manifest before its file
        const deletes = proxy.requests
          .filter((r) => r.method === "DELETE" && r.fault === undefined)
          .map((r) => r.url.split("?")[0] ?? "")
        for (const b of [b0, b1]) {
          const meta = deletes.findIndex((u) => u.endsWith(`${b.backupId}/metadata.json`))
          const data = deletes.findIndex((u) => u.endsWith(`${b.backupId}/backup.xbstream`))
          assert.isTrue(meta >= 0 && data > meta, `${b.name}: metadata.json first`)
        }
        for (const f of files.slice(0, 3)) {
          const manifest = deletes.findIndex((u) => u.endsWith(`${f}.manifest.json`))
          const file = deletes.findIndex((u) => u.endsWith(f))
          assert.isTrue(manifest >= 0 && file > manifest, `${f}: manifest first`)
        }

        // a run with nothing left to delete
        const again = yield* run(false)
        const quiet = Schema.decodeUnknownSync(RetentionTerminationMessage)(again.termination)
        assert.isTrue("dryRun" in quiet && quiet.backups.length === 0 && quiet.binlogFilesTotal === 0)
      }).pipe(Effect.scoped),
    { timeout: 120_000 }
  )
})

const catalogIdOf = (
  entries: ReadonlyArray<{ readonly backupName: string; readonly backupId: string }>,
  name: string
) => entries.find((e) => e.backupName === name)?.backupId

describe("retention run", () => {
  it.live("retries retryable delete failures; caps a run at 20 backups and reports the rest", () =>
    Effect.gen(function* () {
      const now = yield* nowMillis
      for (let i = 0; i < 23; i++) yield* putBackup(`old-${i}`, now - (30 - i) * day, i + 1)
      yield* putBackup("latest", now - hour, 100)
      const control = yield* MemoryObjectStore
      const failed = new Set<string>()
      yield* control.setFaults((request) => {
        if (request.operation !== "DeleteObject" || failed.has(request.key ?? "")) return undefined
        failed.add(request.key ?? "")
        return { _tag: "Fail", status: 503, code: "SlowDown" }
      })
      const fast = { retries: 3, baseDelay: "1 millis", maxDelay: "5 millis" } as const
      const result = yield* runRetention({ path, cluster, policy: "1d", dryRun: false }, fast)
      assert.strictEqual(result.backups.length, 20)
      assert.strictEqual(result.moreBackups, 2)
      // the window starts a day ago: old-22 (8 days ago) is the last that ends before it
      const anchor = catalogIdOf(yield* listBackups(path, cluster), "old-22")
      assert.strictEqual(result.anchorBackupId, anchor)
      yield* control.setFaults(undefined)
      const catalog = yield* listBackups(path, cluster)
      assert.deepStrictEqual(
        catalog.map((e) => e.backupName),
        ["old-20", "old-21", "old-22", "latest"]
      )
      assert.isTrue(catalog.every((e) => e.status === "completed"))
      assert.isAbove(failed.size, 20)
      const second = yield* runRetention({ path, cluster, policy: "1d", dryRun: false }, fast)
      assert.deepStrictEqual(
        second.backups.map((b) => b.backupName),
        ["old-20", "old-21"]
      )
      assert.strictEqual(second.moreBackups, 0)
      assert.strictEqual(second.anchorBackupId, anchor)
    }).pipe(Effect.provide(ObjectStoreClient.layerMemory()))
  )

  it.live("long names: a run deletes fewer backups, so that its termination message names every one it deleted", () =>
    Effect.gen(function* () {
      const now = yield* nowMillis
      const long = (i: number) => `${"x".repeat(240)}-${String(i).padStart(2, "0")}`
      for (let i = 0; i < 20; i++) yield* putBackup(long(i), now - (30 - i) * day, i + 1)
      yield* putBackup("latest", now - 2 * day, 100)
      const result = yield* runRetention({ path, cluster, policy: "1d", dryRun: false })
      const message = JSON.stringify(result)
      assert.isAtMost(Buffer.byteLength(message), 4096)
      assert.isBelow(result.backups.length, 20)
      assert.isAbove(result.backups.length, 0)
      assert.strictEqual(result.backups.length + result.moreBackups, 20)
      const left = (yield* listBackups(path, cluster)).map((e) => e.backupName)
      assert.deepStrictEqual(left, [
        ...Array.from({ length: result.moreBackups }, (_, i) => long(i + result.backups.length)),
        "latest"
      ])
    }).pipe(Effect.provide(ObjectStoreClient.layerMemory()))
  )

  it("--help lists every variable retention reads", () => {
    const out = spawnSync(process.execPath, [executable, "retention", "--help"], { encoding: "utf8" })
    assert.strictEqual(out.status, 0)
    for (const name of Object.keys(RetentionEnv.fields)) assert.include(out.stdout, name)
  })

  it("the environment contract: a policy is <n>d, <n>w or <n>m", () => {
    const decode = Schema.decodeUnknownExit(RetentionEnv)
    const spec = JSON.stringify({ bucket: "backups", credentials: { inheritFromIAMRole: true } })
    const base = { RETENTION_CLUSTER_NAME: "c", RETENTION_DRY_RUN: "true", OBJECT_STORE_SPEC: spec }
    for (const policy of ["1d", "30d", "4w", "12m", "9999d"]) {
      assert.strictEqual(decode({ ...base, RETENTION_POLICY: policy })._tag, "Success", policy)
    }
    for (const policy of ["", "0d", "30", "d", "1y", "30D", "1.5d", "10000d", "-1d"]) {
      assert.strictEqual(decode({ ...base, RETENTION_POLICY: policy })._tag, "Failure", policy)
    }
  })
})
