/**
 * R1 and R3 of the fault run, deterministic subsets (the benchmark runs ≥ 50 kills, ≥ 20 backups and restores
 * under 10 % faults): the worker process SIGKILLed at the first byte, at CompleteMultipartUpload, right before
 * metadata.json and at the last byte, plus random offsets; then backups and restores through a proxy that
 * damages a third of all requests.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, layer } from "@effect/vitest"
import { Context, Effect, Layer, Random } from "effect"
import { runKillFaults } from "../../src/sandbox/faults/kills.ts"
import { type FaultLab, makeFaultLab } from "../../src/sandbox/faults/lab.ts"
import { runS3Faults } from "../../src/sandbox/faults/s3Faults.ts"
import { emptyBucket } from "../e2e/support.ts"
import { startRgw, uniqueBucketName } from "../support/rgw.ts"

class Lab extends Context.Service<Lab, FaultLab>()("test/faults/KillLab") {}

const bucket = uniqueBucketName("r1")
const LabLive = Layer.effect(
  Lab,
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-r1-"))),
      (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
    )
    const s3 = yield* Effect.promise(() => startRgw())
    yield* Effect.addFinalizer(() => emptyBucket(bucket))
    return yield* makeFaultLab({ dir, s3, bucket, sampleBytes: 2 * 1024 * 1024 })
  }).pipe(Effect.orDie)
)

describe("fault runs R1 and R3", () => {
  layer(LabLive, { timeout: "5 minutes", excludeTestServices: true })((it) => {
    it.effect(
      "R1: a SIGKILLed worker never leaves a completed-looking backup without valid metadata; the janitor leaves no upload",
      () =>
        Effect.gen(function* () {
          const lab = yield* Lab
          const figures = yield* runKillFaults(lab, { count: 5 }).pipe(Random.withSeed(15))
          assert.deepStrictEqual(figures.unexpected, [])
          assert.strictEqual(figures.offsets, 5)
          assert.strictEqual(figures.killed, 5)
          assert.strictEqual(figures.completedLookingWithoutValidMetadata, 0)
          // the kill at CompleteMultipartUpload leaves the parts; the janitor aborts them
          assert.isAtLeast(figures.uploadsLeftBeforeJanitor, 1)
          assert.strictEqual(figures.janitorAborted, figures.uploadsLeftBeforeJanitor)
          assert.strictEqual(figures.uploadsLeftAfterJanitor, 0)
          // killed right before metadata.json: the archive exists, and is not a backup
          assert.isAtLeast(figures.archivesWithoutMetadata, 1)
        }),
      { timeout: 240_000 }
    )

    it.effect(
      "R3: under S3 faults every backup and restore ends verified or with a clean typed failure, no upload left",
      () =>
        Effect.gen(function* () {
          const lab = yield* Lab
          const figures = yield* runS3Faults(lab, { backups: 2, restores: 2, faultRate: 0.3 }).pipe(Random.withSeed(15))
          assert.deepStrictEqual(figures.unexpected, [])
          assert.isAbove(figures.faultsInjected, 0)
          assert.strictEqual(figures.backupsVerified + figures.backupsFailedCleanly, 2)
          assert.strictEqual(figures.restoresVerified + figures.restoresFailedCleanly, figures.restores)
          assert.strictEqual(figures.orphanedUploadsAfterJanitor, 0)
        }),
      { timeout: 240_000 }
    )
  })
})
