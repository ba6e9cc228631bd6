/**
 * The janitor (`abort-uploads`): aborts every incomplete multipart upload under its prefix and nothing else,
 * through retryable faults; and, for real, cleans what a SIGKILLed backup worker left in RGW, run as the
 * process the controller's cleanup Job runs.
 */
import { join } from "node:path"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { CleanupEnv, CleanupTerminationMessage } from "../../src/api/cleanupJob.ts"
import { abortUploads } from "../../src/janitor/abortUploads.ts"
import { MemoryObjectStore, ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { backupUser } from "../../src/sandbox/mariadb.ts"
import { freePort } from "../../src/sandbox/ports.ts"
import { runSubcommand, spawnSubcommand, startInstanceManager, workerEnv } from "../../src/sandbox/processes.ts"
import { E2eFixture, fixtureLayer, storeContents, storeLayer } from "../e2e/support.ts"

const fast = { retries: 3, baseDelay: "1 millis", maxDelay: "5 millis" } as const

const openUploads = (keys: ReadonlyArray<string>) =>
  ObjectStoreClient.use((client) => Effect.forEach(keys, (key) => client.createMultipartUpload(key)))

describe("abortUploads", () => {
  it.live("aborts every upload under the prefix, nothing outside it, through retryable faults", () =>
    Effect.gen(function* () {
      yield* openUploads([
        "p/c/b/20261201T000000Z/backup.xbstream",
        "p/c/b/20261201T000000Z/backup.xbstream",
        "p/c/b/20261201T000000Z/other",
        "p/c/b/20261201T010000Z/backup.xbstream",
        "p/c/bb/20261201T000000Z/backup.xbstream"
      ])
      const control = yield* MemoryObjectStore
      // every first attempt of each abort and of the first listing fails with a retryable error
      const failed = new Set<string>()
      yield* control.setFaults((request) => {
        const id = `${request.operation} ${request.uploadId ?? ""}`
        if (request.operation === "DeleteObject" || failed.has(id)) return undefined
        failed.add(id)
        return request.operation === "ListMultipartUploads"
          ? { _tag: "Fail", status: 503, code: "SlowDown" }
          : { _tag: "Fail", status: 500, code: "InternalError" }
      })
      const result = yield* abortUploads("p/c/b/20261201T000000Z/", fast)
      assert.deepStrictEqual(result, { prefix: "p/c/b/20261201T000000Z/", aborted: 3, alreadyGone: 0 })
      yield* control.setFaults(undefined)
      const left = (yield* control.uploads).map((u) => u.key).sort()
      assert.deepStrictEqual(left, [
        "p/c/b/20261201T010000Z/backup.xbstream",
        "p/c/bb/20261201T000000Z/backup.xbstream"
      ])
      assert.deepStrictEqual(yield* abortUploads("p/c/b/20261201T000000Z/", fast), {
        prefix: "p/c/b/20261201T000000Z/",
        aborted: 0,
        alreadyGone: 0
      })
    }).pipe(Effect.provide(ObjectStoreClient.layerMemory()))
  )

  it.live("an upload someone else aborted first counts as gone; a non-retryable failure fails the run", () =>
    Effect.gen(function* () {
      yield* openUploads(["p/c/b/20261201T000000Z/backup.xbstream", "p/c/b/20261201T000000Z/x"])
      const control = yield* MemoryObjectStore
      yield* control.setFaults((r) =>
        r.operation === "AbortMultipartUpload" && r.call === 1
          ? { _tag: "Fail", status: 404, code: "NoSuchUpload" }
          : undefined
      )
      // the first abort is answered NoSuchUpload: not an error; the upload still listed afterwards is aborted
      // by the next pass (a run ends only with an empty listing)
      const result = yield* abortUploads("p/c/b/", fast)
      assert.deepStrictEqual(result, { prefix: "p/c/b/", aborted: 2, alreadyGone: 1 })
      assert.deepStrictEqual(yield* (yield* MemoryObjectStore).uploads, [])

      yield* openUploads(["p/c/b/20261201T000000Z/backup.xbstream"])
      yield* control.setFaults((r) =>
        r.operation === "AbortMultipartUpload" ? { _tag: "Fail", status: 403, code: "AccessDenied" } : undefined
      )
      const denied = yield* abortUploads("p/c/b/", fast).pipe(Effect.flip)
      assert.strictEqual(denied._tag, "ObjectStoreUploadFailed")
      assert.strictEqual(denied.code, "AccessDenied")
    }).pipe(Effect.provide(ObjectStoreClient.layerMemory()))
  )

  it("the environment contract: a prefix ending in '/', never the whole bucket", () => {
    const decode = Schema.decodeUnknownExit(CleanupEnv)
    const spec = JSON.stringify({ bucket: "backups", credentials: { inheritFromIAMRole: true } })
    assert.isTrue(decode({ CLEANUP_PREFIX: "p/c/b/20261201T000000Z/", OBJECT_STORE_SPEC: spec })._tag === "Success")
    for (const prefix of ["", "/", "p/c", "p//c/", "p/../", "./p/"]) {
      assert.isTrue(decode({ CLEANUP_PREFIX: prefix, OBJECT_STORE_SPEC: spec })._tag === "Failure", prefix)
    }
  })
})

const path = "janitor"
describe("abort-uploads against RGW", () => {
  layer(Layer.provideMerge(storeLayer, fixtureLayer({ bytes: 48 * 1024 * 1024, path })), {
    timeout: "5 minutes",
    excludeTestServices: true
  })((it) => {
    it.effect(
      "cleans the parts a SIGKILLed worker left behind, and only under its prefix",
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
            workDir: join(f.dir, "im")
          })
          // an unrelated open upload of another backup must survive the cleanup
          yield* ObjectStoreClient.use((c) =>
            c.createMultipartUpload(`${path}/killed/b/20261201T020000Z/backup.xbstream`)
          )
          let uploaded = 0
          const worker = yield* spawnSubcommand("backup", {
            workDir: join(f.dir, "worker"),
            env: {
              ...workerEnv({
                url: im.url,
                pki: f.pki,
                cluster: "killed",
                backupName: "b",
                backupId: "20261201T010000Z"
              }),
              ...f.storeEnv,
              BACKUP_PROGRESS_INTERVAL_MS: "50"
            },
            onLine: (line) => {
              const m = /"bytesUploaded":(\d+)/u.exec(line)
              uploaded = Math.max(uploaded, Number(m?.[1] ?? 0))
              if (uploaded > 0 && worker.child.exitCode === null) worker.child.kill("SIGKILL")
            }
          })
          assert.strictEqual((yield* worker.outcome).exitCode, 137)
          const prefix = `${path}/killed/b/20261201T010000Z/`
          const before = yield* storeContents(prefix)
          assert.deepStrictEqual(before.uploads, [`${prefix}backup.xbstream`])
          assert.deepStrictEqual(before.keys, [])

          const env = Schema.encodeSync(CleanupEnv)({
            CLEANUP_PREFIX: prefix,
            OBJECT_STORE_SPEC: JSON.parse(f.storeEnv.OBJECT_STORE_SPEC ?? "{}"),
            OBJECT_STORE_SECRETS_DIR: f.storeEnv.OBJECT_STORE_SECRETS_DIR ?? ""
          })
          const janitor = yield* runSubcommand("abort-uploads", { workDir: join(f.dir, "janitor"), env })
          assert.strictEqual(janitor.exitCode, 0, janitor.stdout + janitor.stderr)
          const message = Schema.decodeUnknownSync(CleanupTerminationMessage)(janitor.termination)
          assert.deepStrictEqual(message, { prefix, aborted: 1, alreadyGone: 0 })
          assert.deepStrictEqual((yield* storeContents(prefix)).uploads, [])
          assert.deepStrictEqual((yield* storeContents(`${path}/killed/`)).uploads, [
            `${path}/killed/b/20261201T020000Z/backup.xbstream`
          ])

          // a bad prefix is a configuration error with the common failure shape
          const refused = yield* runSubcommand("abort-uploads", {
            workDir: join(f.dir, "janitor"),
            env: { ...env, CLEANUP_PREFIX: "" }
          })
          assert.strictEqual(refused.exitCode, 1)
          const failure = Schema.decodeUnknownSync(CleanupTerminationMessage)(refused.termination)
          assert.strictEqual("reason" in failure && failure.reason, "InvalidConfiguration")
        }),
      { timeout: 180_000 }
    )
  })
})
