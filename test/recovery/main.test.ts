/**
 * `cloudnative-mysql restore` as a process: `RESTORE_ON_DAMAGED_LATEST` reaches the catalog. A damaged latest
 * backup over an older one (whose archive is not a real backup, so what the restore did is visible without a
 * server): `fail` (the default) stops with `BackupDamaged` before any download; `usePrevious` goes on to the older
 * one (and fails extracting it); an unknown value is a configuration error.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { decodeRestoreTerminationMessage } from "../../src/api/jobs.ts"
import { ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { objectStoreEnv, restoreEnv, runSubcommand } from "../../src/sandbox/processes.ts"
import { emptyBucket } from "../e2e/support.ts"
import { createBucket, rgw, rgwConnection, startRgw, uniqueBucketName } from "../support/rgw.ts"
import { storeBackup } from "./support.ts"

const bucket = uniqueBucketName("restore-main")
const StoreLive = Layer.unwrap(
  Effect.acquireRelease(
    Effect.promise(async () => {
      await startRgw()
      await createBucket(bucket)
      return ObjectStoreClient.layer(rgwConnection(bucket))
    }),
    () => emptyBucket(bucket)
  )
)

describe("restore process", () => {
  layer(StoreLive, { timeout: "2 minutes", excludeTestServices: true })((it) => {
    it.effect("RESTORE_ON_DAMAGED_LATEST: fail by default, usePrevious falls back, anything else is refused", () =>
      Effect.gen(function* () {
        const dir = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-restore-main-"))),
          (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
        )
        const archive = new TextEncoder().encode("not an xbstream")
        yield* storeBackup({ path: "main", cluster: "src", backupId: "20261201T000000Z", archive, endGtid: "" })
        yield* storeBackup({
          path: "main",
          cluster: "src",
          backupId: "20261201T010000Z",
          archive,
          described: { size: archive.length + 1000, sha256: "0".repeat(64) },
          endGtid: ""
        })
        const r = rgw()
        const storeEnv = yield* objectStoreEnv(
          {
            endpoint: r.endpoint,
            region: r.region,
            accessKey: r.accessKey,
            secretKey: r.secretKey,
            bucket,
            path: "main"
          },
          dir
        )
        const env = {
          ...storeEnv,
          ...restoreEnv({
            dataDir: join(dir, "data"),
            defaultsFile: join(dir, "my.cnf"),
            from: { sourceCluster: "src" }
          })
        }
        const run = (extra: Record<string, string>) =>
          Effect.gen(function* () {
            const outcome = yield* runSubcommand("restore", { workDir: dir, env: { ...env, ...extra } })
            const message = yield* decodeRestoreTerminationMessage(JSON.stringify(outcome.termination))
            return { exitCode: outcome.exitCode, message }
          })
        const byDefault = yield* run({})
        assert.strictEqual(byDefault.exitCode, 1)
        assert.strictEqual("reason" in byDefault.message && byDefault.message.reason, "BackupDamaged")
        assert.include("message" in byDefault.message ? byDefault.message.message : "", "20261201T010000Z")

        const fallback = yield* run({ RESTORE_ON_DAMAGED_LATEST: "usePrevious" })
        assert.strictEqual(fallback.exitCode, 1)
        assert.strictEqual("reason" in fallback.message && fallback.message.reason, "RestorePrepareFailed")

        const unknown = yield* run({ RESTORE_ON_DAMAGED_LATEST: "skip" })
        assert.strictEqual("reason" in unknown.message && unknown.message.reason, "InvalidConfiguration")
        assert.include("message" in unknown.message ? unknown.message.message : "", "RESTORE_ON_DAMAGED_LATEST")
      })
    )
  })
})
