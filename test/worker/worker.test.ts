/**
 * The backup worker's failure surfaces, provoked for real with real processes: each ends with a non-zero exit,
 * a `{ reason, message }` termination message with the right reason, and no completed backup in the store
 * (no archive object, no metadata.json, no multipart upload left behind when the worker could clean up).
 */
import { join } from "node:path"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { WorkerTerminationMessage } from "../../src/api/jobs.ts"
import { findBackup, listBackups } from "../../src/objectstore/catalog.ts"
import { backupUser } from "../../src/sandbox/mariadb.ts"
import { freePort } from "../../src/sandbox/ports.ts"
import {
  objectStoreEnv,
  parseLogLines,
  runSubcommand,
  spawnSubcommand,
  startInstanceManager,
  terminationFailure,
  workerEnv,
  writePki
} from "../../src/sandbox/processes.ts"
import { E2eFixture, fixtureLayer, storeContents, storeLayer } from "../e2e/support.ts"

const path = "worker"
const Fixture = fixtureLayer({ bytes: 240 * 1024 * 1024, path })

const instanceManager = (name: string, user: string, password: string) =>
  Effect.gen(function* () {
    const f = yield* E2eFixture
    return yield* startInstanceManager({
      socket: f.mdb.socket,
      backupUser: user,
      backupPassword: password,
      pki: f.pki,
      apiPort: yield* freePort,
      probePort: yield* freePort,
      workDir: join(f.dir, name)
    })
  })

/** The most bytes any progress line reported. */
const streamedBytes = (stdout: string): number =>
  Math.max(
    0,
    ...parseLogLines(stdout)
      .filter((l) => (Array.isArray(l.message) ? l.message[0] : l.message) === "backup progress")
      .map((l) => Number(l.annotations?.bytes ?? 0))
  )

const noCredentials = (text: string, secrets: ReadonlyArray<string>) => {
  for (const secret of secrets) assert.notInclude(text, secret)
}

describe("backup worker failures", () => {
  layer(Layer.provideMerge(storeLayer, Fixture), { timeout: "10 minutes", excludeTestServices: true })((it) => {
    it.effect(
      "wrong database credentials: XtraBackupFailed, nothing stored",
      () =>
        Effect.gen(function* () {
          const f = yield* E2eFixture
          const im = yield* instanceManager("im-badpw", backupUser.user, "not-the-password")
          const run = yield* runSubcommand("backup", {
            workDir: join(f.dir, "w-badpw"),
            env: {
              ...workerEnv({
                url: im.url,
                pki: f.pki,
                cluster: "badpw",
                backupName: "b",
                backupId: "20261123T010000Z"
              }),
              ...f.storeEnv
            }
          })
          assert.strictEqual(run.exitCode, 1)
          const failure = yield* terminationFailure(WorkerTerminationMessage, run)
          assert.strictEqual(failure.reason, "XtraBackupFailed")
          assert.include(failure.message, "Access denied")
          noCredentials(`${run.stdout}${run.stderr}${failure.message}`, [f.target.secretKey, f.target.accessKey])
          assert.deepStrictEqual(yield* storeContents(`${path}/badpw/`), { keys: [], uploads: [] })
        }),
      { timeout: 300_000 }
    )

    it.effect(
      "a privilege missing only at the end (BINLOG MONITOR) fails after hundreds of MB: XtraBackupFailed, upload aborted",
      () =>
        Effect.gen(function* () {
          const f = yield* E2eFixture
          yield* f.mdb.createUser("nobinlog", "nobinlog-pw", "RELOAD, PROCESS, SLAVE MONITOR")
          const im = yield* instanceManager("im-nobinlog", "nobinlog", "nobinlog-pw")
          const run = yield* runSubcommand("backup", {
            workDir: join(f.dir, "w-nobinlog"),
            env: {
              ...workerEnv({
                url: im.url,
                pki: f.pki,
                cluster: "nobinlog",
                backupName: "b",
                backupId: "20261123T010000Z"
              }),
              ...f.storeEnv,
              BACKUP_PROGRESS_INTERVAL_MS: "200"
            }
          })
          assert.strictEqual(run.exitCode, 1, run.stdout.slice(-2000))
          const failure = yield* terminationFailure(WorkerTerminationMessage, run)
          assert.strictEqual(failure.reason, "XtraBackupFailed")
          assert.match(failure.message, /BINLOG MONITOR|SHOW MASTER STATUS/u)
          assert.isAbove(streamedBytes(run.stdout), 150 * 1024 * 1024)
          assert.deepStrictEqual(yield* storeContents(`${path}/nobinlog/`), { keys: [], uploads: [] })
        }),
      { timeout: 300_000 }
    )

    it.effect(
      "a client certificate from another CA: InstanceManagerTLSFailed",
      () =>
        Effect.gen(function* () {
          const f = yield* E2eFixture
          const im = yield* instanceManager("im-tls", backupUser.user, backupUser.password)
          const other = yield* writePki(join(f.dir, "other-pki"))
          const run = yield* runSubcommand("backup", {
            workDir: join(f.dir, "w-tls"),
            env: {
              ...workerEnv({ url: im.url, pki: f.pki, cluster: "tls", backupName: "b", backupId: "20261123T010000Z" }),
              BACKUP_TLS_CERT_FILE: other.clientCertFile,
              BACKUP_TLS_KEY_FILE: other.clientKeyFile,
              ...f.storeEnv
            }
          })
          assert.strictEqual(run.exitCode, 1)
          assert.strictEqual(
            (yield* terminationFailure(WorkerTerminationMessage, run)).reason,
            "InstanceManagerTLSFailed"
          )
          assert.deepStrictEqual(yield* storeContents(`${path}/tls/`), { keys: [], uploads: [] })
        }),
      { timeout: 120_000 }
    )

    it.effect(
      "an object store that refuses the upload: ObjectStoreUploadFailed, no credentials in the logs",
      () =>
        Effect.gen(function* () {
          const f = yield* E2eFixture
          const im = yield* instanceManager("im-nobucket", backupUser.user, backupUser.password)
          const missingBucket = yield* objectStoreEnv(
            { ...f.target, bucket: `${f.target.bucket}-missing`.slice(0, 63) },
            join(f.dir, "nobucket")
          )
          const run = yield* runSubcommand("backup", {
            workDir: join(f.dir, "w-nobucket"),
            env: {
              ...workerEnv({
                url: im.url,
                pki: f.pki,
                cluster: "nobucket",
                backupName: "b",
                backupId: "20261123T010000Z"
              }),
              ...missingBucket
            }
          })
          assert.strictEqual(run.exitCode, 1)
          const failure = yield* terminationFailure(WorkerTerminationMessage, run)
          assert.strictEqual(failure.reason, "ObjectStoreUploadFailed")
          noCredentials(`${run.stdout}${run.stderr}${failure.message}`, [f.target.secretKey, f.target.accessKey])
        }),
      { timeout: 120_000 }
    )

    it.effect(
      "SIGTERM mid-stream: the worker aborts the multipart upload and reports Interrupted",
      () =>
        Effect.gen(function* () {
          const f = yield* E2eFixture
          const im = yield* instanceManager("im-term", backupUser.user, backupUser.password)
          let signalled = false
          const worker = yield* spawnSubcommand("backup", {
            workDir: join(f.dir, "w-term"),
            env: {
              ...workerEnv({
                url: im.url,
                pki: f.pki,
                cluster: "terminated",
                backupName: "b",
                backupId: "20261123T010000Z"
              }),
              ...f.storeEnv,
              BACKUP_PROGRESS_INTERVAL_MS: "100"
            },
            onLine: (line) => {
              if (!signalled && streamedBytes(line) > 48 * 1024 * 1024) {
                signalled = true
                worker.child.kill("SIGTERM")
              }
            }
          })
          const outcome = yield* worker.outcome
          assert.isTrue(signalled)
          assert.strictEqual(outcome.exitCode, 130, outcome.stdout.slice(-2000))
          assert.strictEqual((yield* terminationFailure(WorkerTerminationMessage, outcome)).reason, "Interrupted")
          assert.deepStrictEqual(yield* storeContents(`${path}/terminated/`), { keys: [], uploads: [] })
        }),
      { timeout: 300_000 }
    )

    it.effect(
      "the worker SIGKILLed mid-stream leaves no completed backup",
      () =>
        Effect.gen(function* () {
          const f = yield* E2eFixture
          const im = yield* instanceManager("im-kill", backupUser.user, backupUser.password)
          let progressed = 0
          const worker = yield* spawnSubcommand("backup", {
            workDir: join(f.dir, "w-kill"),
            env: {
              ...workerEnv({
                url: im.url,
                pki: f.pki,
                cluster: "killed",
                backupName: "b",
                backupId: "20261123T010000Z"
              }),
              ...f.storeEnv,
              BACKUP_PROGRESS_INTERVAL_MS: "100"
            },
            onLine: (line) => {
              progressed = Math.max(progressed, streamedBytes(line))
              if (progressed > 64 * 1024 * 1024 && worker.child.exitCode === null) worker.child.kill("SIGKILL")
            }
          })
          const outcome = yield* worker.outcome.pipe(
            Effect.timeoutOrElse({
              duration: "120 seconds",
              orElse: () =>
                Effect.sync(() => {
                  throw new Error(`no kill: progressed ${progressed}`)
                })
            })
          )
          assert.strictEqual(outcome.exitCode, 137, outcome.stdout.slice(-3000))
          assert.isAbove(progressed, 64 * 1024 * 1024)
          const contents = yield* storeContents(`${path}/killed/`)
          assert.notInclude(contents.keys.join(" "), "metadata.json")
          const entries = yield* listBackups(path, "killed")
          assert.isTrue(entries.every((e) => e.status !== "completed"))
          const found = yield* findBackup(path, "killed").pipe(Effect.flip)
          assert.strictEqual(found._tag, "NoBaseBackupsFound")
        }),
      { timeout: 300_000 }
    )
  })
})
