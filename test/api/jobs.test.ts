/**
 * The process contracts of `src/api/jobs.ts`: every environment the tests, benchmarks and demo write by hand
 * (through the shared harness) decodes with the process's own Schema, and every termination message
 * `src/cli/run.ts` writes decodes with the process's `TerminationMessage` union.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import { backupIdFromDate } from "../../src/api/backupId.ts"
import { DnsLabel, DnsSubdomain } from "../../src/api/common.ts"
import {
  ChecksumMismatch,
  type Failure,
  FailureReason,
  InvalidConfiguration,
  RestorePrepareFailed,
  XtraBackupFailed
} from "../../src/api/failures.ts"
import {
  decodeRestoreEnv,
  decodeRestoreTerminationMessage,
  decodeWorkerEnv,
  decodeWorkerTerminationMessage,
  FailureMessage,
  isFailureMessage,
  RestoreResult,
  Sha256,
  WorkerResult
} from "../../src/api/jobs.ts"
import { runCommand } from "../../src/cli/run.ts"
import { restoreSource } from "../../src/recovery/main.ts"
import { restoreEnv, workerEnv } from "../../src/sandbox/processes.ts"

// 1970-01-01 .. 9999-12-31, whole seconds: a backup id's range
const Seconds = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 253402300799 }))
const Path = Schema.NonEmptyString
const ByteCount = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

const WorkerInput = Schema.Struct({
  port: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65535 })),
  cluster: DnsLabel,
  backupName: DnsSubdomain,
  seconds: Seconds,
  namespace: Schema.optionalKey(DnsLabel),
  files: Schema.Tuple([Path, Path, Path])
})

const RestoreInput = Schema.Struct({
  dataDir: Path,
  defaultsFile: Path,
  keys: Schema.Struct({ archiveKey: Path, metadataKey: Path, sha256: Sha256, size: ByteCount }),
  prefix: Schema.Struct({ sourceCluster: Path, backupId: Schema.optionalKey(Path) }),
  explicit: Schema.Boolean
})

const pkiFiles = (files: readonly [string, string, string]) => ({
  caFile: files[0],
  serverCertFile: "unused",
  serverKeyFile: "unused",
  clientCertFile: files[1],
  clientKeyFile: files[2]
})

/** Runs `program` as a process's one job would run, and returns the exit code and the termination file's text. */
const runToFile = <A extends object, E extends Failure>(program: Effect.Effect<A, E>) =>
  Effect.acquireUseRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-jobs-"))),
    (dir) =>
      Effect.promise(async () => {
        const path = join(dir, "termination")
        const exitCode = await runCommand(program, path)
        return { exitCode, text: await readFile(path, "utf8") }
      }),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  )

// the results' fields with a time in place of the branded backup id (a random 15-character string is almost
// never a valid calendar time)
const WorkerResultInput = Schema.Struct({ ...WorkerResult.fields, backupId: Seconds })
const RestoreResultInput = Schema.Struct({ ...RestoreResult.fields, backupId: Seconds })

const failures: ReadonlyArray<Failure> = [
  new XtraBackupFailed({ tool: "mariabackup", exitCode: 1, detail: "Access denied" }),
  new InvalidConfiguration({ detail: "BACKUP_ID: Expected a string matching the RegExp" }),
  new ChecksumMismatch({ key: "k", expectedSha256: "a", actualSha256: "b", expectedSize: 1, actualSize: 2 }),
  new RestorePrepareFailed({ step: "prepare", exitCode: 1, detail: "log sequence mismatch" })
]

describe("process contracts", () => {
  it.effect.prop(
    "every worker environment the harness renders decodes with WorkerEnv",
    { input: WorkerInput },
    ({ input }) =>
      Effect.gen(function* () {
        const backupId = backupIdFromDate(new Date(input.seconds * 1000))
        const rendered = workerEnv({
          url: `https://127.0.0.1:${input.port}`,
          pki: pkiFiles(input.files),
          cluster: input.cluster,
          backupName: input.backupName,
          backupId,
          ...(input.namespace === undefined ? {} : { namespace: input.namespace })
        })
        const env = yield* decodeWorkerEnv(rendered)
        assert.strictEqual(env.BACKUP_ID, backupId)
        assert.strictEqual(env.BACKUP_CLUSTER_NAME, input.cluster)
        assert.strictEqual(env.BACKUP_NAME, input.backupName)
        assert.strictEqual(env.BACKUP_NAMESPACE, input.namespace ?? "default")
        assert.strictEqual(env.BACKUP_TLS_CERT_FILE, input.files[1])
      })
  )

  it.effect.prop(
    "every restore environment the harness renders decodes with RestoreEnv and names the same backup",
    { input: RestoreInput },
    ({ input }) =>
      Effect.gen(function* () {
        const from = input.explicit ? input.keys : input.prefix
        const env = yield* decodeRestoreEnv(
          restoreEnv({ dataDir: input.dataDir, defaultsFile: input.defaultsFile, from })
        )
        assert.strictEqual(env.RESTORE_DATA_DIR, input.dataDir)
        assert.strictEqual(env.RESTORE_SERVER_DEFAULTS_FILE, input.defaultsFile)
        const source = yield* restoreSource(env, "some/path")
        if (input.explicit) {
          assert.deepStrictEqual(source, {
            _tag: "Keys",
            archiveKey: input.keys.archiveKey,
            metadataKey: input.keys.metadataKey,
            expectedSha256: input.keys.sha256,
            expectedSize: input.keys.size
          })
        } else {
          assert.deepStrictEqual(source, {
            _tag: "Prefix",
            path: "some/path",
            cluster: input.prefix.sourceCluster,
            ...(input.prefix.backupId === undefined ? {} : { backupId: input.prefix.backupId })
          })
        }
      })
  )

  it.live.prop(
    "a worker result written by runCommand decodes with WorkerTerminationMessage as that result",
    { input: WorkerResultInput },
    ({ input }) =>
      Effect.gen(function* () {
        const result: WorkerResult = { ...input, backupId: backupIdFromDate(new Date(input.backupId * 1000)) }
        const { exitCode, text } = yield* runToFile(Effect.succeed(result))
        assert.strictEqual(exitCode, 0)
        assert.deepStrictEqual(yield* decodeWorkerTerminationMessage(text), result)
      }),
    { arbitrary: { runs: 25 } }
  )

  it.live.prop(
    "a restore result written by runCommand decodes with RestoreTerminationMessage as that result",
    { input: RestoreResultInput },
    ({ input }) =>
      Effect.gen(function* () {
        const result: RestoreResult = { ...input, backupId: backupIdFromDate(new Date(input.backupId * 1000)) }
        const { exitCode, text } = yield* runToFile(Effect.succeed(result))
        assert.strictEqual(exitCode, 0)
        assert.deepStrictEqual(yield* decodeRestoreTerminationMessage(text), result)
      }),
    { arbitrary: { runs: 25 } }
  )

  it.live("a taxonomy failure is written as { reason, message } and decodes with both unions", () =>
    Effect.gen(function* () {
      for (const failure of failures) {
        const { exitCode, text } = yield* runToFile(Effect.fail(failure))
        assert.strictEqual(exitCode, 1)
        for (const decoded of [
          yield* decodeWorkerTerminationMessage(text),
          yield* decodeRestoreTerminationMessage(text)
        ]) {
          assert.deepStrictEqual(decoded, { reason: failure._tag, message: failure.message })
        }
      }
    })
  )

  it.live("a defect is written as InternalError and an interruption as Interrupted; both decode", () =>
    Effect.gen(function* () {
      const defect = yield* runToFile(Effect.die(new Error("boom")))
      assert.strictEqual(defect.exitCode, 1)
      const died = yield* decodeWorkerTerminationMessage(defect.text)
      assert.strictEqual(isFailureMessage(died) ? died.reason : "a result", "InternalError")
      const interrupted = yield* runToFile(Effect.interrupt)
      assert.strictEqual(interrupted.exitCode, 130)
      const stopped = yield* decodeRestoreTerminationMessage(interrupted.text)
      assert.strictEqual(isFailureMessage(stopped) ? stopped.reason : "a result", "Interrupted")
    })
  )

  it.prop("every failure reason is a valid termination reason", { reason: FailureReason }, ({ reason }) => {
    assert.isTrue(Schema.is(FailureMessage)({ reason, message: "m" }))
  })

  it.effect("a reason outside the taxonomy does not decode", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(decodeWorkerTerminationMessage(JSON.stringify({ reason: "Oops", message: "m" })))
      assert.isTrue(Exit.isFailure(exit))
    })
  )
})
